"""BGP route analytics: a passive BGP speaker (routers connect on bgp.port), per-neighbor
Adj-RIB-In tables, traffic per prefix from sFlow (bgpAddSource), bgp* flow keys, and routes /
FlowSpec rules pushed back to routers. See docs/bgp.md."""

from __future__ import annotations

from . import jsglobals  # noqa: F401  (registers the bgp* JavaScript globals)
from .speaker import BgpSpeaker


def attach(engine) -> BgpSpeaker:
    return BgpSpeaker(engine)
