"""Address groups (``group:`` key function) and maps (``map:``).

A group set is ``{label: [cidr, ...]}``; lookup is longest-prefix match over all labels of the
set (IPv4 and IPv6, pytricia). A map is ``{label: [value, ...]}``; lookup is exact.
Key functions hold a *handle* per name, so redefining or deleting a group set takes effect in
flows already defined (a deleted or never-defined set matches nothing).
"""

from __future__ import annotations

import ipaddress
import math

import pytricia


class GroupHandle:
    __slots__ = ("name", "tree4", "tree6", "spec", "memo")

    def __init__(self, name: str):
        self.name = name
        self.tree4 = None
        self.tree6 = None
        self.spec = None
        self.memo: dict = {}

    def lookup(self, addr):
        memo = self.memo
        r = memo.get(addr, memo)
        if r is not memo:
            return r
        a = addr if addr.__class__ is str else str(addr)
        tree = self.tree6 if ":" in a else self.tree4
        try:
            r = tree.get(a) if tree is not None else None
        except (ValueError, TypeError, KeyError):
            r = None
        if len(memo) >= 65536:
            memo.clear()
        memo[addr] = r
        return r

    def clear(self) -> None:
        self.tree4 = self.tree6 = self.spec = None
        self.memo = {}


def build_trees(groups) -> tuple:
    if not isinstance(groups, dict):
        raise ValueError("groups must be an object {label: [cidr, ...]}")
    t4, t6 = pytricia.PyTricia(32), pytricia.PyTricia(128)
    for label, cidrs in groups.items():
        if not isinstance(label, str):
            raise ValueError("group labels must be strings")
        if isinstance(cidrs, str):
            cidrs = [cidrs]
        if not isinstance(cidrs, list):
            raise ValueError(f"group {label!r}: expected an array of CIDRs")
        for c in cidrs:
            if not isinstance(c, str):
                raise ValueError(f"group {label!r}: {c!r} is not a CIDR string")
            try:
                net = ipaddress.ip_network(c.strip(), strict=False)
            except ValueError:
                raise ValueError(f"group {label!r}: invalid CIDR {c!r}") from None
            tree = t4 if net.version == 4 else t6
            key = str(net)
            if not tree.has_key(key):  # exact; `in` would be a covering match
                tree[key] = label
    return t4, t6


class _HandleStore:
    """Named handles (created on first reference, kept when deleted so that compiled keys
    holding them see a later definition); ``spec`` None = not defined."""

    handle_type: type

    def __init__(self):
        self.handles: dict = {}

    def handle(self, name: str):
        h = self.handles.get(name)
        if h is None:
            h = self.handles[name] = self.handle_type(name)
        return h

    def get(self, name: str):
        h = self.handles.get(name)
        return None if h is None else h.spec

    def delete(self, name: str) -> bool:
        h = self.handles.get(name)
        if h is None or h.spec is None:
            return False
        h.clear()
        return True

    def all(self) -> dict:
        return {n: h.spec for n, h in self.handles.items() if h.spec is not None}


class GroupStore(_HandleStore):
    handle_type = GroupHandle

    def set(self, name: str, groups: dict) -> None:
        t4, t6 = build_trees(groups)
        h = self.handle(name)
        h.tree4, h.tree6 = t4, t6
        h.spec = {k: list(v) if isinstance(v, list) else [v] for k, v in groups.items()}
        h.memo = {}


class MapHandle:
    __slots__ = ("name", "index", "spec")

    def __init__(self, name: str):
        self.name = name
        self.index: dict = {}
        self.spec = None

    def lookup(self, value):
        return self.index.get(value)

    def clear(self) -> None:
        self.index, self.spec = {}, None


class MapStore(_HandleStore):
    handle_type = MapHandle

    def set(self, name: str, mapping: dict) -> None:
        if not isinstance(mapping, dict):
            raise ValueError("map must be an object {label: [value, ...]}")
        index: dict = {}
        spec = {}
        for label, values in mapping.items():
            if isinstance(values, (str, int, float)) and not isinstance(values, bool):
                values = [values]
            if not isinstance(values, list):
                raise ValueError(f"map {label!r}: expected an array of values")
            spec[label] = list(values)
            for v in values:
                if not isinstance(v, (str, int, float)) or isinstance(v, bool):
                    raise ValueError(f"map {label!r}: {v!r} is not a string or number")
                if isinstance(v, float) and not math.isfinite(v):
                    raise ValueError(f"map {label!r}: {v!r} is not a finite number")
                s = str(v) if not isinstance(v, float) or v != int(v) else str(int(v))
                index.setdefault(s, label)
                try:
                    index.setdefault(int(s), label)  # numeric attributes are ints
                except ValueError:
                    pass
        h = self.handle(name)
        h.index, h.spec = index, spec
