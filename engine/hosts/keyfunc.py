"""``host:<key>:<attribute>``: an attribute of the host or virtual machine / container whose MAC
or IP address is the key's value, learned from host sFlow (engine/hosts): ``host_name``,
``uuid``, ``machine_type``, ``os_name``, ``os_release`` and, for virtual machines and
containers, ``vir_host_name``, ``vir_uuid``, ``vir_machine_type``, ``vir_os_name``,
``vir_os_release``. Nothing (None) while the address is not a known host's, so ``null:`` /
``or:`` can supply a default."""

from __future__ import annotations

import re

from ..flows.registry import KeyFunctionError, register

_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]*$")


def table_of(engine):
    subsystems = getattr(engine, "subsystems", None)
    if subsystems is None and engine is not None:
        subsystems = getattr(getattr(engine, "engine", None), "subsystems", None)
    learner = (subsystems or {}).get("hosts")
    if learner is None:
        raise KeyFunctionError("host: the hosts subsystem is not running")
    return learner.table


def host_factory(args, engine):
    if len(args) != 2:
        raise KeyFunctionError(
            "host: expects host:<key>:<attribute> (e.g. host:macsource:host_name)"
        )
    name = args[1].text.strip().lower()
    if not _ATTRIBUTE.match(name):
        raise KeyFunctionError(
            f"host: {args[1].text!r} is not an attribute name (e.g. host_name, vir_host_name)"
        )
    table = table_of(engine)
    index, attribute = table.index, table.attribute
    key, text = args[0].key, args[0].text
    plain = text if text and ":" not in text and "[" not in text else None

    def extract(attrs):
        v = attrs.get(plain) if plain is not None else key(attrs)
        if v is None:
            return None
        r = index.get(v)
        if r is not None and r.parent is None:  # a host: its own attribute, one lookup
            return r.attributes.get(name)
        return attribute(v, name)

    return extract


register("host", host_factory)
