"""HTTP interfaces of a node: its log as static tiles, and its witness endpoint."""
