"""What crosses between nodes: the data directory of a federation, authority, fetching sources."""
