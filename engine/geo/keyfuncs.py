"""``country:<ipkey>[:code|name|both]``, ``asn:<ipkey>[:number|descr|both]`` and
``oui:<mackey>[:name|number]``. Each answer is cached, so a repeated address costs one dict
lookup; an address without an answer gives nothing (None), for ``null:``/``or:`` to handle."""

from __future__ import annotations

from ..flows.registry import KeyFunctionError, register
from .mmdb import GeoError
from .oui import OuiError, oui_of

COUNTRY_ATTRS = {"code": 0, "iso": 0, "name": 1, "both": 2}
ASN_ATTRS = {"number": 0, "descr": 1, "both": 2}
OUI_ATTRS = ("name", "number")


def service_of(engine, fn: str):
    subsystems = getattr(engine, "subsystems", None)
    if subsystems is None and engine is not None:
        subsystems = getattr(getattr(engine, "engine", None), "subsystems", None)
    service = (subsystems or {}).get("geo")
    if service is None:
        raise KeyFunctionError(f"{fn}: the geo subsystem is not running")
    return service


def _attr(fn: str, args, choices, default: str) -> str:
    if not 1 <= len(args) <= 2:
        raise KeyFunctionError(f"{fn}: expects {fn}:<key>[:{'|'.join(choices)}]")
    attr = args[1].text.strip().lower() if len(args) == 2 else default
    if attr not in choices:
        raise KeyFunctionError(f"{fn}: unknown attribute {attr!r}, expected {'|'.join(choices)}")
    return attr


def plain_name(arg) -> str | None:
    """The attribute name when the argument is a plain key (not a nested function), so the
    extractor can read ``attrs.get(name)`` itself and save a call per sample."""
    text = arg.text
    return text if text and ":" not in text and "[" not in text else None


def _address_extractor(fn: str, kind: str, args, engine, attrs_table, default: str):
    index = attrs_table[_attr(fn, args, attrs_table, default)]
    try:
        lookup = service_of(engine, fn).lookup(kind)
    except GeoError as exc:
        raise KeyFunctionError(f"{fn}: {exc}") from None
    key, name = args[0].key, plain_name(args[0])
    cache, miss, absent = lookup.cache, lookup.miss, object()

    if name is not None:

        def extract_named(attrs):
            ip = attrs.get(name)
            if ip is None:
                return None
            answer = cache.get(ip, absent)
            if answer is absent:
                answer = miss(ip)
            return None if answer is None else answer[index]

        return extract_named

    def extract(attrs):
        ip = key(attrs)
        if ip is None:
            return None
        answer = cache.get(ip, absent)
        if answer is absent:
            answer = miss(ip)
        return None if answer is None else answer[index]

    return extract


def country_factory(args, engine):
    return _address_extractor("country", "country", args, engine, COUNTRY_ATTRS, "code")


def asn_factory(args, engine):
    return _address_extractor("asn", "asn", args, engine, ASN_ATTRS, "number")


def oui_factory(args, engine):
    attr = _attr("oui", args, OUI_ATTRS, "name")
    try:
        names = service_of(engine, "oui").oui().names
    except OuiError as exc:
        raise KeyFunctionError(f"oui: {exc}") from None
    key = args[0].key
    name = plain_name(args[0])
    if name is not None:
        key = None

    if attr == "name" and key is None:

        def extract(attrs):
            mac = attrs.get(name)
            if mac is None:
                return None
            vendor = names.get(mac[:6]) if mac.__class__ is str else None
            if vendor is None:
                oui = oui_of(mac)  # lower case or separators: the slow way
                vendor = names.get(oui) if oui else None
            return vendor
    elif attr == "name" and key is not None:

        def extract(attrs):
            mac = key(attrs)
            if mac is None:
                return None
            vendor = names.get(mac[:6]) if mac.__class__ is str else None
            if vendor is None:
                oui = oui_of(mac)
                vendor = names.get(oui) if oui else None
            return vendor
    else:
        get = key if key is not None else (lambda attrs: attrs.get(name))

        def extract(attrs):
            mac = get(attrs)
            if mac is None:
                return None
            oui = mac[:6] if mac.__class__ is str and len(mac) == 12 else None
            if oui is None or oui not in names:
                oui = oui_of(mac)
                if oui not in names:
                    return None
            return oui

    return extract


register("country", country_factory)
register("asn", asn_factory)
register("oui", oui_factory)
