"""``dns:<ipkey>``: the cached reverse name of an address, or nothing while it is unknown.

Nothing (None) rather than the address lets ``or:[dns:ipsource]:ipsource`` choose the
fallback and ``null:[dns:ipsource]:`` a default. Names keep the trailing dot of the PTR
record (``host.example.com.``), as sFlow-RT shows them.
"""

from __future__ import annotations

from ..flows.registry import KeyFunctionError, register


def service_of(engine, fn: str):
    subsystems = getattr(engine, "subsystems", None)
    if subsystems is None and engine is not None:
        subsystems = getattr(getattr(engine, "engine", None), "subsystems", None)
    service = (subsystems or {}).get("dns")
    if service is None:
        raise KeyFunctionError(f"{fn}: the dns subsystem is not running")
    return service


def dns_factory(args, engine):
    if len(args) != 1:
        raise KeyFunctionError("dns: expects dns:<ipkey>")
    service = service_of(engine, "dns")
    key = args[0].key
    names = service.cache.names
    request = service.request
    miss = object()
    text = args[0].text
    if text and ":" not in text and "[" not in text:
        name_key = text

        def extract_plain(attrs):
            ip = attrs.get(name_key)  # a plain attribute: read it here, one call less
            if ip is None:
                return None
            name = names.get(ip, miss)
            if name is miss:
                request(ip)
                return None
            return name

        return extract_plain

    def extract(attrs):
        ip = key(attrs)
        if ip is None:
            return None
        name = names.get(ip, miss)
        if name is miss:
            request(ip)
            return None
        return name

    return extract


register("dns", dns_factory)
