"""Per-neighbor routing state: the Adj-RIB-In (what the router sent us) for IPv4 and IPv6, and the
routes we push to the router (bgpAddRoute / routepusher).

The RIB tables are pytricia tries keyed by (packed address, length); each prefix's value is the
interned PathAttrs it was announced with, so a full table costs one trie node per prefix plus one
object per distinct attribute set.

A table received with ADD-PATH (bgpAddNeighbor's ``multipath``, RFC 7911) keeps every path of a
prefix: the trie value is then the prefix's best path (so every reader of the trie works
unchanged) and ``paths`` records the path identifiers (see ``Rib.paths``).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import TYPE_CHECKING

import pytricia

from .message import AFI_IPV4, AFI_IPV6, PathAttrs

if TYPE_CHECKING:  # type-only: the session and flowspec modules import this one
    from .flowspec import FlowRule
    from .session import Session


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

    __slots__ = ("afi", "trie", "added", "removed", "count", "cache", "paths", "path_count")

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
        # Multipath (ADD-PATH) tables only, else None: prefix text (as the trie spells it) ->
        # the path id of its only path (an int: no dict for the common single-path prefix), or
        # {path id: PathAttrs} when it has several. The trie holds the best path either way.
        self.paths: dict | None = None
        self.path_count = 0

    def __len__(self) -> int:
        return self.count

    def set_multipath(self, on: bool) -> None:
        """Keyed by path id (the session negotiated ADD-PATH receive for this family) or not;
        set when a session opens, so the table is empty (cleared when the last one ended)."""
        if on != (self.paths is not None):
            self.clear()
            self.paths = {} if on else None

    def announce(self, nlri: list, attrs: PathAttrs) -> None:
        if self.cache:
            self.cache = {}
        if self.paths is not None:
            self._announce_paths(nlri, attrs)
            return
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
        if self.paths is not None:
            self._withdraw_paths(nlri)
            return
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
        if self.paths is not None:
            self.paths = {}
        self.path_count = 0

    # -- copies (a worker's replica, docs/ingest.md "Workers") ---------------------------------
    def snapshot(self) -> dict:
        """Everything needed to rebuild this table elsewhere (picklable: attribute sets are
        shared objects, so each is written once)."""
        trie = self.trie
        paths = None
        if self.paths is not None:
            paths = {k: (v if type(v) is int else dict(v)) for k, v in self.paths.items()}
        return {
            "entries": [(prefix, trie[prefix]) for prefix in trie],
            "paths": paths,
            "added": self.added,
            "removed": self.removed,
            "path_count": self.path_count,
        }

    def restore(self, snap: dict) -> None:
        self.clear()
        trie = self.trie
        for prefix, attrs in snap["entries"]:
            trie[prefix] = attrs
        self.paths = snap["paths"]
        self.count = len(snap["entries"])
        self.added, self.removed = snap["added"], snap["removed"]
        self.path_count = snap["path_count"]

    # -- multipath (ADD-PATH) -----------------------------------------------------------------
    def _entries(self, nlri: list):
        """(packed address, length, path id, prefix text) for each NLRI entry of a multipath
        table; an entry without a path id is path 0. The text is the trie's own spelling of
        the prefix (pytricia formats with inet_ntop too), so that match() finds the paths by
        the key get_key() returns."""
        ntoa = socket.inet_ntoa if self.afi == AFI_IPV4 else _inet6_ntoa
        for key in nlri:
            packed, plen = key[0], key[1]
            yield packed, plen, key[2] if len(key) > 2 else 0, f"{ntoa(packed)}/{plen}"

    def _announce_paths(self, nlri: list, attrs: PathAttrs) -> None:
        paths = self.paths
        assert paths is not None  # called only for an ADD-PATH table
        trie = self.trie
        insert = trie.insert
        new = new_paths = 0
        for packed, plen, path_id, name in self._entries(nlri):
            cur = paths.get(name)
            if cur is None:
                paths[name] = path_id
                insert(packed, plen, attrs)
                new += 1
                new_paths += 1
            elif type(cur) is int:
                if cur == path_id:
                    insert(packed, plen, attrs)  # the same path again: implicit withdraw
                else:
                    paths[name] = multi = {cur: trie[(packed, plen)], path_id: attrs}
                    insert(packed, plen, best_path(multi))
                    new_paths += 1
            else:
                if path_id not in cur:
                    new_paths += 1
                cur[path_id] = attrs
                insert(packed, plen, best_path(cur))
        self.added += new
        self.count += new
        self.path_count += new_paths

    def _withdraw_paths(self, nlri: list) -> None:
        paths = self.paths
        assert paths is not None  # called only for an ADD-PATH table
        trie = self.trie
        removed = gone = 0
        for packed, plen, path_id, name in self._entries(nlri):
            cur = paths.get(name)
            if cur is None:
                continue  # withdrawing an unknown prefix is harmless (RFC 4271 §9.1)
            if type(cur) is int:
                if cur != path_id:
                    continue  # another path: the prefix's own path stays
                del paths[name]
                trie.delete((packed, plen))
                removed += 1
                gone += 1
            elif cur.pop(path_id, None) is not None:
                gone += 1
                if len(cur) == 1:
                    ((only, a),) = cur.items()
                    paths[name] = only
                    trie.insert(packed, plen, a)
                else:
                    trie.insert(packed, plen, best_path(cur))
        self.removed += removed
        self.count -= removed
        self.path_count -= gone

    def all_paths(self, prefix: str) -> list[tuple[int, PathAttrs]]:
        """[(path id, PathAttrs)] of a prefix (the trie's spelling), best first; [] if absent.
        A table without ADD-PATH has one path, id 0."""
        trie = self.trie
        if not trie.has_key(prefix):
            return []
        best = trie[prefix]
        cur = 0 if self.paths is None else self.paths.get(prefix, 0)
        if isinstance(cur, int):
            return [(cur, best)]
        return sorted(cur.items(), key=lambda e: (e[1] is not best, _rank(e[1]), e[0]))

    def match(self, address: str):
        """Cached longest-prefix match for the sample path: (prefix, length, best PathAttrs,
        {next hop: PathAttrs} if the prefix has several paths else None), or None."""
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
        if key is None:
            hit = None
        else:
            hops = None
            if self.paths is not None:
                multi = self.paths.get(key)
                if type(multi) is dict:
                    # the prefix's paths by next hop (bgpSetNextHops picks one with a single
                    # dict lookup per sample), built once per prefix and shared by its
                    # addresses: kept in this cache under the prefix ('/': never an address),
                    # so it goes whenever the table changes
                    hops = cache.get(key)
                    if hops is None:
                        hops = cache[key] = by_nexthop(multi)
            hit = (key, int(key[key.rindex("/") + 1 :]), trie[key], hops)
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


def _inet6_ntoa(packed: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, packed)


def _rank(a: PathAttrs) -> tuple:
    """BGP decision process (RFC 4271 §9.1.2.2) as far as one neighbor's paths allow: highest
    LOCAL_PREF, shortest AS_PATH (an AS_SET counts one), lowest ORIGIN, lowest MED."""
    return (
        -(100 if a.localpref is None else a.localpref),
        len(a.aspath),
        a.origin,
        0 if a.med is None else a.med,
    )


def best_path(paths: dict) -> PathAttrs:
    """The best of {path id: PathAttrs}; ties go to the lowest path id (deterministic)."""
    best_id = min(paths, key=lambda pid: (_rank(paths[pid]), pid))
    return paths[best_id]


def by_nexthop(paths: dict) -> dict:
    """{next hop: PathAttrs} of {path id: PathAttrs}, IPv6 link-local next hops included; where
    paths share a next hop, the better one."""
    out: dict = {}
    ranked = sorted(paths.items(), key=lambda e: (_rank(e[1]), e[0]))
    for _, a in ranked:
        if a.nexthop is not None:
            out.setdefault(a.nexthop, a)
    for _, a in ranked:
        if a.nexthop_ll is not None:
            out.setdefault(a.nexthop_ll, a)
    return out


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

    def __init__(
        self,
        address: str,
        local_as: int,
        router_id: str | None,
        options: dict,
        on_open=None,
        on_close=None,
    ):
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
        self.flows: dict[str, FlowRule] = {}  # FlowSpec rules pushed, by canonical key
        self.session: Session | None = None
        self.peer_as = 0
        self.peer_id = None
        self.start_time = int(time.time() * 1000)
        self.established_count = 0
        self.malformed_updates = 0

    @property
    def state(self) -> str:
        s = self.session
        return s.state if s is not None else "idle"
