"""``link:<ifindexkey>``: the name of the topology link on the sample's agent and that ifIndex
(``link:inputifindex``), absent for edge ports, so ``link:inputifindex=null`` selects samples
entering the fabric (ixp-metrics' edge filter)."""

from __future__ import annotations

from ..flows.registry import KeyFunctionError, register


def link_factory(args, engine):
    if len(args) != 1:
        raise KeyFunctionError("link: expects link:<ifindexkey>")
    subsystems = getattr(engine, "subsystems", None)
    if subsystems is None and engine is not None:
        subsystems = getattr(getattr(engine, "engine", None), "subsystems", None)
    topo = (subsystems or {}).get("topology")
    if topo is None:
        raise KeyFunctionError("link: the topology subsystem is not running")
    key = args[0].key
    lookup = topo.link_name_of

    def extract(attrs):
        ifindex = key(attrs)
        if ifindex is None:
            return None
        return lookup(attrs.get("agent"), ifindex)

    extract.uses = ("agent",)  # the agent enricher puts the sample's agent in attrs
    return extract


register("link", link_factory)
