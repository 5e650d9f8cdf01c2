"""RPKI-to-Router (RFC 8210 version 1, RFC 6810 version 0) server fed by our validator's VRPs."""

from __future__ import annotations

from onereg.rtr.server import Limits, Timings, close_rtr, run_rtr, serve_rtr, start_rtr
from onereg.rtr.state import RtrCache

__all__ = ["Limits", "RtrCache", "Timings", "close_rtr", "run_rtr", "serve_rtr", "start_rtr"]
