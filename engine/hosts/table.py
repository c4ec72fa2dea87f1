"""The learned host table: which host or virtual machine / container owns a MAC or IP address,
and its identity (host_name, os_name, vir_host_name, ...), for the ``host:`` key function.

A table of plain records with explicit calls, so that state learned in one process can be
replayed in another (ingest workers receive each ``HostRecord.to_dict()`` and call
``update(HostRecord.from_dict(d))``, and the data source's removal as ``expire(agent, ds)``):

- ``update(record)``: the record of (agent, data source) is replaced by this one;
- ``expire(agent, data_source)``: that record goes;
- ``sweep(now)``: every record whose ``expires`` has passed goes;
- ``attribute(address, name)``: the lookup (per flow sample, so a few dict reads).

Nothing here knows about sFlow: engine/hosts/__init__.py builds the records from counter samples.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


def normal_mac(mac: str) -> str | None:
    """12 upper-case hex digits (the form of the macsource/macdestination flow keys)."""
    text = "".join(c for c in str(mac) if c not in ":-. ").upper()
    if len(text) != 12 or any(c not in "0123456789ABCDEF" for c in text):
        return None
    return text


def normal_ip(ip: str) -> str | None:
    """An address as the flow keys write it (IPv4 dotted quad, IPv6 compressed lower case)."""
    try:
        return str(ipaddress.ip_address(str(ip).strip()))
    except ValueError:
        return None


@dataclass(frozen=True)
class HostRecord:
    """What one data source (a host, ``2.1``, or a virtual machine / container, ``3.N``) of
    one agent says about itself. ``attributes`` hold its identity strings under their metric
    names: ``host_name uuid machine_type os_name os_release`` for a host, the same with a
    ``vir_`` prefix for a virtual machine, whose ``parent`` is its host's data source (so the
    host's attributes answer for it too). ``expires`` is on the engine's clock (seconds)."""

    agent: str
    data_source: str
    attributes: Mapping[str, str]
    macs: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    parent: str | None = None
    expires: float = float("inf")
    key: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))
        macs = tuple(m for m in (normal_mac(x) for x in self.macs) if m)
        ips = tuple(a for a in (normal_ip(x) for x in self.addresses) if a)
        object.__setattr__(self, "macs", macs)
        object.__setattr__(self, "addresses", ips)
        object.__setattr__(self, "key", (self.agent, self.data_source))

    @property
    def virtual(self) -> bool:
        return self.parent is not None

    def to_dict(self) -> dict:
        return {
            "agent": self.agent,
            "dataSource": self.data_source,
            "attributes": dict(self.attributes),
            "macs": list(self.macs),
            "addresses": list(self.addresses),
            "parent": self.parent,
            "expires": self.expires,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "HostRecord":
        return cls(
            agent=d["agent"],
            data_source=d["dataSource"],
            attributes=d.get("attributes") or {},
            macs=tuple(d.get("macs") or ()),
            addresses=tuple(d.get("addresses") or ()),
            parent=d.get("parent"),
            expires=float(d.get("expires", float("inf"))),
        )


class HostTable:
    def __init__(self):
        self.records: dict[tuple, HostRecord] = {}
        # address -> every record claiming it; index: address -> the one that answers (a
        # virtual machine over its host, then the newest)
        self._claims: dict[str, dict[tuple, None]] = {}
        self.index: dict[str, HostRecord] = {}

    def __len__(self) -> int:
        return len(self.records)

    # -- changes -----------------------------------------------------------------------------
    def update(self, record: HostRecord) -> None:
        old = self.records.get(record.key)
        self.records[record.key] = record
        addresses = set(record.macs) | set(record.addresses)
        if old is not None:
            for a in (set(old.macs) | set(old.addresses)) - addresses:
                self._unclaim(a, old.key)
        for a in addresses:
            claims = self._claims.setdefault(a, {})
            claims.pop(record.key, None)
            claims[record.key] = None  # newest last
            self._choose(a)

    def expire(self, agent: str, data_source: str) -> bool:
        """Forget one record; True when there was one."""
        record = self.records.pop((agent, data_source), None)
        if record is None:
            return False
        for a in set(record.macs) | set(record.addresses):
            self._unclaim(a, record.key)
        return True

    def sweep(self, now: float) -> int:
        stale = [r for r in self.records.values() if r.expires < now]
        for r in stale:
            self.expire(r.agent, r.data_source)
        return len(stale)

    def _unclaim(self, address: str, key: tuple) -> None:
        claims = self._claims.get(address)
        if claims is None:
            return
        claims.pop(key, None)
        if claims:
            self._choose(address)
        else:
            del self._claims[address]
            self.index.pop(address, None)

    def _choose(self, address: str) -> None:
        best: HostRecord | None = None
        for key in self._claims[address]:
            r = self.records[key]
            if best is None or r.virtual or not best.virtual:
                best = r
        assert best is not None  # an address without claims was removed, not chosen for
        self.index[address] = best

    # -- lookups -----------------------------------------------------------------------------
    def find(self, address) -> HostRecord | None:
        """The record owning a MAC (any common spelling) or IP address."""
        r = self.index.get(address)
        if r is None and address is not None:
            text = str(address)
            norm = normal_mac(text) if len(text) >= 12 and "." not in text else None
            r = self.index.get(norm or normal_ip(text) or "")
        return r

    def attribute(self, address, name: str):
        """`name` of the host or virtual machine owning `address`; a virtual machine's host
        answers for names the virtual machine lacks (``host_name`` of a container's MAC is
        its host's name). None when unknown."""
        r = self.index.get(address)
        if r is None:
            r = self.find(address)
            if r is None:
                return None
        v = r.attributes.get(name)
        if v is None and r.parent is not None:
            p = self.records.get((r.agent, r.parent))
            if p is not None:
                v = p.attributes.get(name)
        return v
