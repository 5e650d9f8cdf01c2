"""The global view rebuilt from every node: uniqueness, authority, unclaimed/overclaimed space."""
