"""Per-neighbor routing state: the Adj-RIB-In (what the router sent us) for IPv4 and IPv6, and the
routes we push to the router (bgpAddRoute / routepusher).

The RIB tables are pytricia tries keyed by (packed address, length); each prefix's value is the
interned PathAttrs it was announced with, so a full table costs one trie node per prefix plus one
object per distinct attribute set.
"""
from __future__ import annotations

import ipaddress
import time

import pytricia

from .message import AFI_IPV4, AFI_IPV6, PathAttrs


CACHE_MAX = 100_000  # addresses remembered per table (~200 bytes each)


def parse_prefix(text: str) -> tuple[int, bytes, int, str]:
    """'10.1.0.0/16' -> (afi, packed, length, canonical text). Host bits must be clear... or are
    cleared (sFlow-RT accepts 10.1.2.3/16 as 10.1.0.0/16). Raises ValueError."""
    net = ipaddress.ip_network(str(text).strip(), strict=False)
    afi = AFI_IPV4 if net.version == 4 else AFI_IPV6
    return afi, net.network_address.packed, net.prefixlen, str(net)


def normalize_address(addr) -> str:
    """Canonical text for a peer/router address (IPv4-mapped IPv6 becomes IPv4). ValueError if bad."""
    ip = ipaddress.ip_address(str(addr).strip())
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


class Rib:
    """Adj-RIB-In for one neighbor and one address family."""

    __slots__ = ("afi", "trie", "added", "removed", "count", "cache")

    def __init__(self, afi: int):
        self.afi = afi
        self.trie = pytricia.PyTricia(32 if afi == AFI_IPV4 else 128)
        self.added = 0
        self.removed = 0
        self.count = 0  # len(PyTricia) walks the whole trie, so the size is tracked here
        # Longest-prefix matches by address. A PyTricia match on a full table costs ~10 us
        # (cache misses down the trie); sampled traffic repeats addresses a lot, so the sample
        # path asks here first. Any change to the table empties it (once per batch of UPDATEs
        # handled together), so a cached answer is never stale.
        self.cache: dict = {}

    def __len__(self) -> int:
        return self.count

    def announce(self, nlri: list, attrs: PathAttrs) -> None:
        if self.cache:
            self.cache = {}
        trie = self.trie
        has = trie.has_key
        insert = trie.insert
        new = 0
        for key in nlri:
            if not has(key):
                new += 1
            insert(key[0], key[1], attrs)  # replaces an earlier announcement (implicit withdraw)
        self.added += new
        self.count += new

    def withdraw(self, nlri: list) -> None:
        if self.cache:
            self.cache = {}
        delete = self.trie.delete
        removed = 0
        for key in nlri:
            try:
                delete(key)
                removed += 1
            except KeyError:
                pass  # withdrawing an unknown prefix is harmless (RFC 4271 §9.1)
        self.removed += removed
        self.count -= removed

    def clear(self) -> None:
        """Session went down: its routes are gone (a fresh trie is much faster than deletes)."""
        self.removed += self.count
        self.count = 0
        self.cache = {}
        self.trie = pytricia.PyTricia(32 if self.afi == AFI_IPV4 else 128)

    def match(self, address: str):
        """Cached longest-prefix match for the sample path: (prefix, length, PathAttrs) or None."""
        cache = self.cache
        try:
            return cache[address]
        except KeyError:
            pass
        trie = self.trie
        try:
            key = trie.get_key(address)
        except ValueError:
            key = None
        hit = None if key is None else (key, int(key[key.rindex("/") + 1:]), trie[key])
        if len(cache) >= CACHE_MAX:
            cache.clear()
        cache[address] = hit
        return hit

    def lookup(self, address: str):
        """Longest-prefix match: (prefix text, PathAttrs) or None."""
        trie = self.trie
        try:
            key = trie.get_key(address)
        except ValueError:
            return None
        if key is None:
            return None
        return key, trie[key]


class PushedRoute:
    __slots__ = ("afi", "packed", "plen", "prefix", "attrs")

    def __init__(self, afi, packed, plen, prefix, attrs):
        self.afi, self.packed, self.plen, self.prefix, self.attrs = afi, packed, plen, prefix, attrs

    def json(self) -> dict:
        j = self.attrs.json()
        j["prefix"] = self.prefix
        return j


class NeighborState:
    """Everything kept for one configured neighbor, whether or not a session is up."""

    def __init__(self, address: str, local_as: int, router_id: str | None, options: dict,
                 on_open=None, on_close=None):
        self.address = address
        self.local_as = local_as
        self.router_id = router_id
        self.options = options
        self.on_open = on_open
        self.on_close = on_close
        self.rib4 = Rib(AFI_IPV4)
        self.rib6 = Rib(AFI_IPV6)
        self.pushed: dict[str, PushedRoute] = {}
        self.pushed_added = 0
        self.pushed_removed = 0
        self.flows: dict[str, object] = {}  # FlowSpec rules pushed, by canonical key
        self.session = None
        self.peer_as = 0
        self.peer_id = None
        self.start_time = int(time.time() * 1000)
        self.established_count = 0
        self.malformed_updates = 0

    @property
    def state(self) -> str:
        s = self.session
        return s.state if s is not None else "idle"
