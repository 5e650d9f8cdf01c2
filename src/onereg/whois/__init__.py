"""An RFC 3912 whois service for one registry node, speaking the RIPE Database's query language.

The node's log is the only source: objects are rendered from the projection, and the versions of
an object (`--list-versions`, `--show-version`) are the log entries that made it what it is.
"""

from __future__ import annotations

from onereg.whois.server import start_whois

__all__ = ["start_whois"]
