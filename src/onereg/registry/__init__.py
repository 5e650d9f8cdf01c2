"""One registry node: its log, the projections derived from it, import and export."""
