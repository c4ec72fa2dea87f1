"""BGP-4 wire format (RFC 4271) with 4-octet AS (RFC 6793), multiprotocol (RFC 4760), communities
(RFC 1997), large communities (RFC 8092), route refresh (RFC 2918), ADD-PATH (RFC 7911) and the
revised UPDATE error handling of RFC 7606.

Decoding an UPDATE never raises anything but ``BgpError`` (which the session turns into a
NOTIFICATION); attribute errors that RFC 7606 allows to be contained are reported as
``treat_as_withdraw`` on the parsed update instead.
"""

from __future__ import annotations

import socket
import struct
import sys

MARKER = b"\xff" * 16
HEADER = struct.Struct(">16sHB")
MAX_MESSAGE = 4096

OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE_REFRESH = 1, 2, 3, 4, 5

AFI_IPV4, AFI_IPV6 = 1, 2
SAFI_UNICAST, SAFI_FLOWSPEC = 1, 133

AS_TRANS = 23456

# path attribute type codes
ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR = 1, 2, 3, 4, 5, 6, 7
COMMUNITIES, ORIGINATOR_ID, CLUSTER_LIST, MP_REACH, MP_UNREACH, EXT_COMMUNITIES = (
    8,
    9,
    10,
    14,
    15,
    16,
)
AS4_PATH, AS4_AGGREGATOR, LARGE_COMMUNITIES = 17, 18, 32

F_OPTIONAL, F_TRANSITIVE, F_PARTIAL, F_EXTENDED = 0x80, 0x40, 0x20, 0x10
WELL_KNOWN = {ORIGIN, AS_PATH, NEXT_HOP, LOCAL_PREF, ATOMIC_AGGREGATE}

ORIGINS = ("IGP", "EGP", "INCOMPLETE")

# NOTIFICATION codes (RFC 4271 section 4.5)
ERR_HEADER, ERR_OPEN, ERR_UPDATE, ERR_HOLD, ERR_FSM, ERR_CEASE = 1, 2, 3, 4, 5, 6
# message header subcodes
HDR_SYNC, HDR_LENGTH, HDR_TYPE = 1, 2, 3
# OPEN subcodes
OPEN_VERSION, OPEN_PEER_AS, OPEN_BGP_ID, OPEN_OPTIONAL, OPEN_HOLD, OPEN_CAPABILITY = (
    1,
    2,
    3,
    4,
    6,
    7,
)
# Cease subcodes (RFC 4486)
CEASE_ADMIN_SHUTDOWN, CEASE_REJECTED, CEASE_COLLISION = 2, 5, 7
# UPDATE subcodes
UPD_ATTR_LIST, UPD_UNRECOGNIZED_WK, UPD_MISSING_WK, UPD_FLAGS, UPD_LENGTH = 1, 2, 3, 4, 5
UPD_ORIGIN, UPD_NEXT_HOP, UPD_OPTIONAL, UPD_NETWORK, UPD_AS_PATH = 6, 8, 9, 10, 11

CAP_MP, CAP_ROUTE_REFRESH, CAP_AS4, CAP_ADD_PATH, CAP_ROUTE_REFRESH_OLD = 1, 2, 65, 69, 128
# ADD-PATH (RFC 7911) Send/Receive field: what the sender of the capability will do
ADD_PATH_RECEIVE, ADD_PATH_SEND, ADD_PATH_BOTH = 1, 2, 3


class BgpError(Exception):
    """A protocol error that ends the session with a NOTIFICATION (code, subcode, data)."""

    def __init__(self, code: int, subcode: int, reason: str, data: bytes = b""):
        super().__init__(reason)
        self.code, self.subcode, self.data = code, subcode, data


# -- framing --------------------------------------------------------------------------------
def frame(kind: int, body: bytes = b"") -> bytes:
    return HEADER.pack(MARKER, 19 + len(body), kind) + body


KEEPALIVE_MSG = frame(KEEPALIVE)


def notification(code: int, subcode: int, data: bytes = b"") -> bytes:
    return frame(NOTIFICATION, bytes((code, subcode)) + data)


def route_refresh(afi: int, safi: int) -> bytes:
    return frame(ROUTE_REFRESH, struct.pack(">HBB", afi, 0, safi))


def check_header(buf, off: int) -> tuple[int, int]:
    """(length, type) of the message starting at off; raises BgpError on a bad header."""
    marker, length, kind = HEADER.unpack_from(buf, off)
    if marker != MARKER:
        raise BgpError(ERR_HEADER, HDR_SYNC, "connection not synchronized")
    if length < 19 or length > MAX_MESSAGE:
        raise BgpError(
            ERR_HEADER, HDR_LENGTH, f"bad message length {length}", struct.pack(">H", length)
        )
    minimum = {OPEN: 29, UPDATE: 23, NOTIFICATION: 21, KEEPALIVE: 19, ROUTE_REFRESH: 23}.get(kind)
    if minimum is None:
        raise BgpError(ERR_HEADER, HDR_TYPE, f"bad message type {kind}", bytes((kind,)))
    if length < minimum or (kind == KEEPALIVE and length != 19):
        raise BgpError(
            ERR_HEADER,
            HDR_LENGTH,
            f"bad length {length} for message type {kind}",
            struct.pack(">H", length),
        )
    return length, kind


# -- OPEN -----------------------------------------------------------------------------------
class Open:
    __slots__ = ("version", "asn", "hold", "bgp_id", "families", "as4", "route_refresh", "add_path")

    def __init__(self):
        self.version = 4
        self.asn = 0
        self.hold = 0
        self.bgp_id = "0.0.0.0"
        self.families: set[tuple[int, int]] = set()
        self.as4 = False
        self.route_refresh = False
        self.add_path: dict[tuple[int, int], int] = {}  # (afi, safi) -> Send/Receive field


def encode_open(
    asn: int,
    hold: int,
    bgp_id: str,
    families,
    route_refresh: bool = True,
    add_path: dict | None = None,
) -> bytes:
    """add_path: {(afi, safi): ADD_PATH_RECEIVE/SEND/BOTH} offered in one ADD-PATH capability."""
    caps = b""
    for afi, safi in sorted(families):
        caps += struct.pack(">BBHBB", CAP_MP, 4, afi, 0, safi)
    if route_refresh:
        caps += bytes((CAP_ROUTE_REFRESH, 0))
    caps += struct.pack(">BBI", CAP_AS4, 4, asn)
    if add_path:
        tuples = b"".join(
            struct.pack(">HBB", afi, safi, mode) for (afi, safi), mode in sorted(add_path.items())
        )
        caps += bytes((CAP_ADD_PATH, len(tuples))) + tuples
    params = bytes((2, len(caps))) + caps
    my_as = asn if asn <= 0xFFFF else AS_TRANS
    body = struct.pack(">BHH4sB", 4, my_as, hold, socket.inet_aton(bgp_id), len(params)) + params
    return frame(OPEN, body)


def decode_open(body: bytes) -> Open:
    if len(body) < 10:
        raise BgpError(ERR_HEADER, HDR_LENGTH, "OPEN too short")
    version, my_as, hold, bgp_id, plen = struct.unpack_from(">BHH4sB", body, 0)
    o = Open()
    o.version, o.asn, o.hold = version, my_as, hold
    if version != 4:
        raise BgpError(
            ERR_OPEN, OPEN_VERSION, f"unsupported BGP version {version}", struct.pack(">H", 4)
        )
    if hold in (1, 2):
        raise BgpError(ERR_OPEN, OPEN_HOLD, f"unacceptable hold time {hold}")
    if bgp_id == b"\0\0\0\0":
        raise BgpError(ERR_OPEN, OPEN_BGP_ID, "BGP identifier 0.0.0.0")
    o.bgp_id = socket.inet_ntoa(bgp_id)
    if 10 + plen != len(body):
        raise BgpError(ERR_OPEN, 0, "optional parameters length mismatch")
    off, end = 10, 10 + plen
    while off < end:
        if off + 2 > end:
            raise BgpError(ERR_OPEN, 0, "truncated optional parameter")
        ptype, pl = body[off], body[off + 1]
        off += 2
        if off + pl > end:
            raise BgpError(ERR_OPEN, 0, "optional parameter overruns OPEN")
        if ptype == 2:
            _decode_capabilities(o, body[off : off + pl])
        else:
            raise BgpError(ERR_OPEN, OPEN_OPTIONAL, f"unsupported optional parameter {ptype}")
        off += pl
    if not o.families:  # RFC 4760: no MP capability means IPv4 unicast only
        o.families.add((AFI_IPV4, SAFI_UNICAST))
    return o


def _decode_capabilities(o: Open, caps: bytes) -> None:
    off = 0
    while off < len(caps):
        if off + 2 > len(caps):
            raise BgpError(ERR_OPEN, 0, "truncated capability")
        code, cl = caps[off], caps[off + 1]
        value = caps[off + 2 : off + 2 + cl]
        if len(value) != cl:
            raise BgpError(ERR_OPEN, 0, "capability overruns parameter")
        if code == CAP_MP and cl == 4:
            afi, _, safi = struct.unpack(">HBB", value)
            o.families.add((afi, safi))
        elif code == CAP_AS4 and cl == 4:
            o.as4 = True
            o.asn = struct.unpack(">I", value)[0]
        elif code in (CAP_ROUTE_REFRESH, CAP_ROUTE_REFRESH_OLD):
            o.route_refresh = True
        elif code == CAP_ADD_PATH and cl and cl % 4 == 0:
            # a malformed capability (length not a multiple of 4) is ignored: no ADD-PATH
            for i in range(0, cl, 4):
                afi, safi, mode = struct.unpack_from(">HBB", value, i)
                if mode in (ADD_PATH_RECEIVE, ADD_PATH_SEND, ADD_PATH_BOTH):
                    o.add_path[(afi, safi)] = mode
        off += 2 + cl


def add_path_receive(offered, peer: Open) -> frozenset:
    """Families whose NLRI the peer will send with path identifiers (RFC 7911 §4): we offered
    to receive (`offered`: the families we sent Receive for) and the peer offered to send."""
    return frozenset(f for f in offered if peer.add_path.get(f, 0) & ADD_PATH_SEND)


# -- path attributes ------------------------------------------------------------------------
class PathAttrs:
    """The attributes a set of prefixes shares. Interned, so a full table holds one object per
    distinct attribute set, and each prefix in the RIB just points at one."""

    __slots__ = (
        "origin",
        "aspath",
        "nexthop",
        "nexthop_ll",
        "med",
        "localpref",
        "communities",
        "large_communities",
        "ext_communities",
        "_json",
        "flow_keys",
    )

    def __init__(
        self,
        origin=0,
        aspath=(),
        nexthop=None,
        nexthop_ll=None,
        med=None,
        localpref=None,
        communities=(),
        large_communities=(),
        ext_communities=(),
    ):
        self.origin = origin
        self.aspath = aspath  # tuple of segments: int AS (sequence element) or frozenset (AS_SET)
        self.nexthop = nexthop
        self.nexthop_ll = nexthop_ll
        self.med = med
        self.localpref = localpref
        self.communities = communities  # tuple of 32-bit ints
        self.large_communities = large_communities  # tuple of (a, b, c)
        self.ext_communities = ext_communities  # tuple of 8-byte values
        self._json: dict[str, object] | None = None
        self.flow_keys = None  # bgp* destination keys, built once (engine/bgp/flowkeys.py)

    def key(self):
        return (
            self.origin,
            self.aspath,
            self.nexthop,
            self.nexthop_ll,
            self.med,
            self.localpref,
            self.communities,
            self.large_communities,
            self.ext_communities,
        )

    # equal attribute sets are one set: the interner keys its pool by the objects themselves
    def __hash__(self) -> int:
        return hash(self.key())

    def __eq__(self, other) -> bool:
        return isinstance(other, PathAttrs) and self.key() == other.key()

    # -- presentation (sFlow-RT style, as the sFlow decoder writes them: "1-2-3", "65000:1-65000:2")
    def aspath_str(self) -> str:
        return "-".join(
            str(a) if isinstance(a, int) else "{" + ",".join(map(str, sorted(a))) + "}"
            for a in self.aspath
        )

    def communities_str(self) -> str:
        parts = [f"{c >> 16}:{c & 0xFFFF}" for c in self.communities]
        parts += [f"{a}:{b}:{c}" for a, b, c in self.large_communities]
        return "-".join(parts)

    def first_as(self) -> int:
        for a in self.aspath:
            return a if isinstance(a, int) else min(a)
        return 0

    def origin_as(self) -> int:
        for a in reversed(self.aspath):
            return a if isinstance(a, int) else min(a)
        return 0

    def json(self) -> dict:
        """Route attributes as sFlow-RT reports them (a fresh dict each call)."""
        j: dict[str, object] | None = self._json
        if j is None:  # keys in alphabetical order, as sFlow-RT prints them
            j = {"aspath": self.aspath_str()}
            if self.communities or self.large_communities:
                j["communities"] = self.communities_str()
            j["localpref"] = 100 if self.localpref is None else self.localpref
            j["med"] = 0 if self.med is None else self.med
            j["nexthop"] = self.nexthop
            if self.nexthop_ll:
                j["nexthoplinklocal"] = self.nexthop_ll
            j["origin"] = ORIGINS[self.origin] if self.origin < 3 else str(self.origin)
            self._json = j
        return dict(j)


class Interner:
    """Maps equal PathAttrs to one shared instance. Sets nobody uses any more (their prefixes
    were withdrawn) are swept when the pool has doubled since the last sweep, which keeps the
    per-UPDATE cost to one dict lookup (a WeakValueDictionary costs several times more)."""

    def __init__(self):
        self._pool: dict = {}
        self._sweep_at = 1024
        # parts many sets share: AS paths (same path, other communities/MED), the AS numbers in
        # them (each int above 256 is its own 32-byte object) and next-hop strings
        self._parts: dict = {}

    def __call__(self, attrs: PathAttrs) -> PathAttrs:
        pool = self._pool
        found = pool.get(attrs)
        if found is not None:
            return found
        parts = self._parts
        path = attrs.aspath
        shared = parts.get(path)
        if shared is None:
            shared = tuple(parts.setdefault(a, a) for a in path)
            parts[shared] = shared
        attrs.aspath = shared
        if attrs.nexthop is not None:
            attrs.nexthop = parts.setdefault(attrs.nexthop, attrs.nexthop)
        pool[attrs] = attrs  # keyed by itself: no separate key tuple kept per set
        if len(pool) >= self._sweep_at:
            self.sweep()
        return attrs

    def sweep(self) -> None:
        pool = self._pool
        refs = sys.getrefcount
        # held by nobody else: the pool's key and value, the loop variable, getrefcount's arg
        for a in [a for a in pool if refs(a) <= 4]:
            del pool[a]
        self._sweep_at = max(1024, 2 * len(pool))
        if len(self._parts) > 2 * len(pool) + 100_000:  # forget parts only dead sets used
            parts: dict = {}
            for a in pool:
                parts[a.aspath] = a.aspath
                for asn in a.aspath:
                    parts[asn] = asn
                if a.nexthop is not None:
                    parts[a.nexthop] = a.nexthop
            self._parts = parts

    def __len__(self) -> int:
        return len(self._pool)


class Update:
    """A decoded UPDATE: NLRI as (packed_address, length) per family, each with its attribute
    set. For a family received with ADD-PATH the tuples are (packed_address, length, path_id).

    The attribute sets differ only in the next hop: IPv4 NLRI of the UPDATE's own field use
    NEXT_HOP, routes in MP_REACH_NLRI that attribute's next hop (RFC 4760 §3), so an UPDATE
    carrying both has two sets. ``nlri4`` holds the IPv4 prefixes of the NLRI field, or of
    MP_REACH_NLRI when the field is empty; in the rare UPDATE with IPv4 in both, the MP ones
    are ``nlri4_mp`` / ``attrs4_mp``. The attrs are None when there is nothing to announce
    (or the UPDATE is treat-as-withdraw)."""

    __slots__ = (
        "withdrawn4",
        "nlri4",
        "withdrawn6",
        "nlri6",
        "nlri4_mp",
        "attrs4",
        "attrs6",
        "attrs4_mp",
        "treat_as_withdraw",
        "errors",
        "eor",
        "other_families",
    )

    def __init__(self):
        self.withdrawn4: list = []
        self.nlri4: list = []
        self.withdrawn6: list = []
        self.nlri6: list = []
        self.nlri4_mp: list = []
        self.attrs4: PathAttrs | None = None
        self.attrs6: PathAttrs | None = None
        self.attrs4_mp: PathAttrs | None = None
        self.treat_as_withdraw = False
        self.errors: list[str] = []
        self.eor: tuple[int, int] | None = None
        self.other_families: list = []  # (afi, safi) whose NLRI we do not keep (e.g. flowspec)

    @property
    def attrs(self) -> PathAttrs | None:
        """The attribute set of a single-family UPDATE (the IPv4 one when it has both)."""
        return self.attrs4 if self.attrs4 is not None else self.attrs6


_MASKS = bytes((0xFF << (8 - i)) & 0xFF for i in range(8))
_HOST_BITS = bytes(~mask & 0xFF for mask in _MASKS)  # of the last octet, by length % 8
_PADS4 = [bytes(4 - n) for n in range(5)]
_PADS16 = [bytes(16 - n) for n in range(17)]
_PATH_ID = struct.Struct(">I")


def parse_prefixes(buf, off: int, end: int, width: int, out: list, path_ids: bool = False) -> None:
    """Append (packed address padded to width bytes, length) for each prefix in buf[off:end];
    host bits beyond the length are cleared. path_ids: ADD-PATH NLRI (RFC 7911 §3), each
    prefix preceded by a 4-octet path identifier; appends (packed address, length, path id).
    Raises BgpError on a malformed field."""
    maxbits = width * 8
    append = out.append
    pads = _PADS4 if width == 4 else _PADS16
    masks, hosts = _MASKS, _HOST_BITS
    unpack = _PATH_ID.unpack_from
    while off < end:
        if path_ids:
            if off + 5 > end:
                raise BgpError(ERR_UPDATE, UPD_NETWORK, "path identifier overruns its field")
            path_id = unpack(buf, off)[0]
            off += 4
        plen = buf[off]
        if plen > maxbits:
            raise BgpError(ERR_UPDATE, UPD_NETWORK, f"prefix length {plen} > {maxbits}")
        n = (plen + 7) >> 3
        start = off + 1
        off = start + n
        if off > end:
            raise BgpError(ERR_UPDATE, UPD_NETWORK, "prefix overruns its field")
        raw = buf[start:off]
        rem = plen & 7
        if rem and raw[-1] & hosts[rem]:
            raw = raw[:-1] + bytes((raw[-1] & masks[rem],))
        if path_ids:
            append((raw + pads[n], plen, path_id))
        else:
            append((raw + pads[n], plen))


def encode_prefix(packed: bytes, plen: int, path_id: int | None = None) -> bytes:
    """One NLRI entry; with a path_id, the ADD-PATH form (RFC 7911 §3)."""
    if path_id is None:
        return bytes((plen,)) + packed[: (plen + 7) >> 3]
    return _PATH_ID.pack(path_id) + bytes((plen,)) + packed[: (plen + 7) >> 3]


def decode_update(
    body: bytes, as4: bool, intern: Interner | None = None, add_path: frozenset | None = None
) -> Update:
    """Decode an UPDATE body (after the 19-byte header). Session-level errors raise BgpError;
    attribute errors that RFC 7606 lets us contain set treat_as_withdraw (or drop the attribute).
    add_path: the (afi, safi) families negotiated to carry path identifiers (RFC 7911)."""
    n = len(body)
    if n < 4:  # the session's header check already refuses these
        raise BgpError(ERR_UPDATE, UPD_ATTR_LIST, "UPDATE shorter than its length fields")
    u = Update()
    ids4 = _path_ids(AFI_IPV4, SAFI_UNICAST, add_path)
    wlen = struct.unpack_from(">H", body, 0)[0]
    if 2 + wlen + 2 > n:
        raise BgpError(ERR_UPDATE, UPD_ATTR_LIST, "withdrawn routes length overruns UPDATE")
    if wlen:
        parse_prefixes(body, 2, 2 + wlen, 4, u.withdrawn4, ids4)
    off = 2 + wlen
    alen = struct.unpack_from(">H", body, off)[0]
    off += 2
    aend = off + alen
    if aend > n:
        raise BgpError(ERR_UPDATE, UPD_ATTR_LIST, "path attribute length overruns UPDATE")
    # NLRI location is known from here on, so attribute problems can be contained (RFC 7606 §4)
    if aend < n:
        parse_prefixes(body, aend, n, 4, u.nlri4, ids4)
    attrs = PathAttrs()
    seen: set[int] = set()
    as_path = as4_path = None
    next_hop = None  # NEXT_HOP: for the NLRI field's prefixes only
    mp_hop = None  # (next hop, link-local) of MP_REACH_NLRI: for its prefixes only
    mp4: list = []  # IPv4 prefixes of MP_REACH_NLRI
    while off < aend:
        if off + 3 > aend:
            u.treat_as_withdraw = True
            u.errors.append("truncated attribute header")
            break
        flags, code = body[off], body[off + 1]
        if flags & F_EXTENDED:
            if off + 4 > aend:
                u.treat_as_withdraw = True
                u.errors.append("truncated attribute header")
                break
            length = struct.unpack_from(">H", body, off + 2)[0]
            vstart = off + 4
        else:
            length = body[off + 2]
            vstart = off + 3
        vend = vstart + length
        if vend > aend:
            u.treat_as_withdraw = True
            u.errors.append(f"attribute {code} overruns the attribute list")
            if code in (MP_REACH, MP_UNREACH):
                raise BgpError(ERR_UPDATE, UPD_ATTR_LIST, "MP attribute overruns attribute list")
            break
        off = vend
        if code in seen:
            if code in (MP_REACH, MP_UNREACH):
                raise BgpError(ERR_UPDATE, UPD_ATTR_LIST, f"duplicate attribute {code}")
            u.errors.append(f"duplicate attribute {code} discarded")
            continue
        seen.add(code)
        value = body[vstart:vend]
        optional = _OPTIONAL_FLAG.get(code)
        if optional is not None and optional != flags & F_OPTIONAL:
            # RFC 7606 §3.c; attributes we do not use (aggregator & co) are just discarded
            if code not in _DISCARDABLE:
                u.treat_as_withdraw = True
            u.errors.append(f"attribute {code}: bad flags {flags:#x}")
            continue
        try:
            if code == ORIGIN:
                if length != 1 or value[0] > 2:
                    raise _Malformed("bad ORIGIN")
                attrs.origin = value[0]
            elif code == AS_PATH:
                as_path = _decode_aspath(value, 4 if as4 else 2)
            elif code == AS4_PATH:
                try:
                    as4_path = _decode_aspath(value, 4)
                except _Malformed:
                    u.errors.append("malformed AS4_PATH discarded")  # RFC 6793 §6
            elif code == NEXT_HOP:
                if length != 4:
                    raise _Malformed("bad NEXT_HOP length")
                next_hop = socket.inet_ntoa(value)
            elif code == MED:
                if length != 4:
                    raise _Malformed("bad MULTI_EXIT_DISC length")
                attrs.med = struct.unpack(">I", value)[0]
            elif code == LOCAL_PREF:
                if length != 4:
                    raise _Malformed("bad LOCAL_PREF length")
                attrs.localpref = struct.unpack(">I", value)[0]
            elif code == COMMUNITIES:
                if length % 4 or not length:
                    raise _Malformed("bad COMMUNITIES length")
                attrs.communities = struct.unpack(f">{length // 4}I", value)
            elif code == LARGE_COMMUNITIES:
                if length % 12 or not length:
                    raise _Malformed("bad LARGE_COMMUNITY length")
                vals = struct.unpack(f">{length // 4}I", value)
                attrs.large_communities = tuple(vals[i : i + 3] for i in range(0, len(vals), 3))
            elif code == EXT_COMMUNITIES:
                if length % 8 or not length:
                    raise _Malformed("bad EXTENDED_COMMUNITIES length")
                attrs.ext_communities = tuple(value[i : i + 8] for i in range(0, length, 8))
            elif code == MP_REACH:
                mp_hop = _decode_mp_reach(value, u, mp4, add_path)
            elif code == MP_UNREACH:
                _decode_mp_unreach(value, u, add_path)
            elif code in (
                ATOMIC_AGGREGATE,
                AGGREGATOR,
                AS4_AGGREGATOR,
                ORIGINATOR_ID,
                CLUSTER_LIST,
            ):
                pass  # accepted, not needed for analytics (RFC 7606: errors here = discard)
            elif not flags & F_OPTIONAL:
                raise BgpError(
                    ERR_UPDATE,
                    UPD_UNRECOGNIZED_WK,
                    f"unrecognized well-known attribute {code}",
                    body[vstart - (4 if flags & F_EXTENDED else 3) : vend],
                )
        except _Malformed as exc:
            u.treat_as_withdraw = True
            u.errors.append(str(exc))
        except (struct.error, IndexError) as exc:
            if code in (MP_REACH, MP_UNREACH):
                raise BgpError(ERR_UPDATE, UPD_OPTIONAL, f"malformed MP attribute: {exc}") from exc
            u.treat_as_withdraw = True
            u.errors.append(f"attribute {code}: {exc}")
    if as_path is not None:
        if as4_path is not None and not as4:
            as_path = _merge_as4(as_path, as4_path)
        attrs.aspath = as_path
    # NEXT_HOP is mandatory for the UPDATE's own NLRI field only, and applies to it only;
    # routes in MP_REACH_NLRI have their next hop there (RFC 4760 §3)
    classic = bool(u.nlri4)
    if mp4:
        if classic:
            u.nlri4_mp = mp4
        else:
            u.nlri4 = mp4
    has_reach = bool(u.nlri4 or u.nlri6)
    has_next_hop = next_hop is not None
    if (
        has_reach
        and not u.treat_as_withdraw
        and (ORIGIN not in seen or AS_PATH not in seen or (classic and not has_next_hop))
    ):
        missing = [
            name for code, name in ((ORIGIN, "ORIGIN"), (AS_PATH, "AS_PATH")) if code not in seen
        ]
        if classic and not has_next_hop:
            missing.append("NEXT_HOP")
        u.treat_as_withdraw = True  # RFC 7606 §3.d
        u.errors.append("missing well-known attribute " + ",".join(missing))
    if not u.treat_as_withdraw and has_reach:
        # one set per next hop; the usual single-family UPDATE builds just one
        mp_attrs = None
        if mp_hop is not None and (u.nlri6 or mp4):
            if classic:  # the classic NLRI keep NEXT_HOP: the MP routes get their own set
                mp_attrs = _with_next_hop(attrs, *mp_hop)
            else:
                mp_attrs = attrs
                mp_attrs.nexthop, mp_attrs.nexthop_ll = mp_hop
            if intern is not None:
                mp_attrs = intern(mp_attrs)
        if classic:
            attrs.nexthop = next_hop
            a4 = intern(attrs) if intern is not None else attrs
            u.attrs4 = a4
            if mp4:
                u.attrs4_mp = mp_attrs
        else:
            u.attrs4 = mp_attrs if u.nlri4 else None
        if u.nlri6:
            u.attrs6 = mp_attrs
    if not (u.withdrawn4 or u.nlri4 or alen):
        u.eor = (AFI_IPV4, SAFI_UNICAST)
    return u


_KNOWN_OPTIONAL = {
    MED,
    COMMUNITIES,
    MP_REACH,
    MP_UNREACH,
    EXT_COMMUNITIES,
    AS4_PATH,
    LARGE_COMMUNITIES,
    AGGREGATOR,
    AS4_AGGREGATOR,
    ORIGINATOR_ID,
    CLUSTER_LIST,
}


_DISCARDABLE = {ATOMIC_AGGREGATE, AGGREGATOR, AS4_AGGREGATOR, AS4_PATH}
# the Optional bit each known attribute must carry (RFC 7606 §3.c)
_OPTIONAL_FLAG = {**{c: 0 for c in WELL_KNOWN}, **{c: F_OPTIONAL for c in _KNOWN_OPTIONAL}}


class _Malformed(Exception):
    pass


def _decode_aspath(value: bytes, width: int) -> tuple:
    out: list = []
    off, n = 0, len(value)
    fmt = ">%d" + ("I" if width == 4 else "H")
    while off < n:
        if off + 2 > n:
            raise _Malformed("truncated AS_PATH segment")
        stype, count = value[off], value[off + 1]
        off += 2
        if stype not in (1, 2, 3, 4) or count == 0:
            raise _Malformed(f"bad AS_PATH segment type {stype} / count {count}")
        end = off + count * width
        if end > n:
            raise _Malformed("AS_PATH segment overruns attribute")
        asns = struct.unpack_from(fmt % count, value, off)
        off = end
        if stype == 2:
            out.extend(asns)
        elif stype == 1:
            out.append(frozenset(asns))
        # confederation segments (3, 4) are local to the confederation: not part of the path
    return tuple(out)


def _merge_as4(as_path: tuple, as4_path: tuple) -> tuple:
    """RFC 6793 §4.2.3: keep the leading ASes of AS_PATH the AS4_PATH does not cover."""
    if len(as4_path) > len(as_path):
        return as_path
    return as_path[: len(as_path) - len(as4_path)] + as4_path


def _path_ids(afi: int, safi: int, add_path) -> bool:
    """Whether the family's NLRI carry ADD-PATH path identifiers on this session."""
    return add_path is not None and (afi, safi) in add_path


def _with_next_hop(a: PathAttrs, nexthop, nexthop_ll) -> PathAttrs:
    return PathAttrs(
        a.origin,
        a.aspath,
        nexthop,
        nexthop_ll,
        a.med,
        a.localpref,
        a.communities,
        a.large_communities,
        a.ext_communities,
    )


def _decode_mp_reach(value: bytes, u: Update, nlri4: list, add_path=None):
    """IPv6 unicast prefixes go to u.nlri6, IPv4 ones to nlri4; returns the attribute's
    (next hop, link-local next hop), None for families we do not keep."""
    afi, safi, nhlen = struct.unpack_from(">HBB", value, 0)
    off = 4 + nhlen
    if off + 1 > len(value):
        raise BgpError(ERR_UPDATE, UPD_OPTIONAL, "MP_REACH_NLRI next hop overruns attribute")
    nh = value[4:off]
    off += 1  # reserved
    ids = _path_ids(afi, safi, add_path)
    if (afi, safi) == (AFI_IPV6, SAFI_UNICAST):
        if nhlen not in (16, 32):
            raise _Malformed(f"bad IPv6 next hop length {nhlen}")
        parse_prefixes(value, off, len(value), 16, u.nlri6, ids)
        return (
            socket.inet_ntop(socket.AF_INET6, nh[:16]),
            socket.inet_ntop(socket.AF_INET6, nh[16:]) if nhlen == 32 else None,
        )
    if (afi, safi) == (AFI_IPV4, SAFI_UNICAST):
        if nhlen not in (4, 16, 32):
            raise _Malformed(f"bad next hop length {nhlen}")
        parse_prefixes(value, off, len(value), 4, nlri4, ids)
        return (
            socket.inet_ntoa(nh) if nhlen == 4 else socket.inet_ntop(socket.AF_INET6, nh[:16])
        ), None
    u.other_families.append((afi, safi))
    return None


def _decode_mp_unreach(value: bytes, u: Update, add_path=None) -> None:
    afi, safi = struct.unpack_from(">HB", value, 0)
    ids = _path_ids(afi, safi, add_path)
    if (afi, safi) == (AFI_IPV6, SAFI_UNICAST):
        parse_prefixes(value, 3, len(value), 16, u.withdrawn6, ids)
    elif (afi, safi) == (AFI_IPV4, SAFI_UNICAST):
        parse_prefixes(value, 3, len(value), 4, u.withdrawn4, ids)
    else:
        u.other_families.append((afi, safi))
    if len(value) == 3:
        u.eor = (afi, safi)


# -- encoding UPDATEs for pushed routes -----------------------------------------------------
def _attr(flags: int, code: int, value: bytes) -> bytes:
    if len(value) > 255:
        return struct.pack(">BBH", flags | F_EXTENDED, code, len(value)) + value
    return struct.pack(">BBB", flags, code, len(value)) + value


def encode_attrs(
    attrs: PathAttrs, as4: bool, ibgp: bool, local_as: int, mp: bytes | None = None
) -> bytes:
    """Path attributes for routes we push; for eBGP our AS is prepended (RFC 4271 §5.1.2)."""
    path = list(attrs.aspath)
    if not ibgp:
        path.insert(0, local_as)
    out = _attr(F_TRANSITIVE, ORIGIN, bytes((attrs.origin,)))
    out += _attr(F_TRANSITIVE, AS_PATH, _encode_aspath(path, 4 if as4 else 2))
    if mp is not None:
        out += _attr(F_OPTIONAL, MP_REACH, mp)
    elif attrs.nexthop:
        out += _attr(F_TRANSITIVE, NEXT_HOP, socket.inet_aton(attrs.nexthop))
    if attrs.med is not None:
        out += _attr(F_OPTIONAL, MED, struct.pack(">I", attrs.med))
    if ibgp:
        out += _attr(
            F_TRANSITIVE,
            LOCAL_PREF,
            struct.pack(">I", 100 if attrs.localpref is None else attrs.localpref),
        )
    if attrs.communities:
        out += _attr(
            F_OPTIONAL | F_TRANSITIVE,
            COMMUNITIES,
            struct.pack(f">{len(attrs.communities)}I", *attrs.communities),
        )
    if attrs.ext_communities:
        out += _attr(F_OPTIONAL | F_TRANSITIVE, EXT_COMMUNITIES, b"".join(attrs.ext_communities))
    if attrs.large_communities:
        flat = [v for lc in attrs.large_communities for v in lc]
        out += _attr(
            F_OPTIONAL | F_TRANSITIVE, LARGE_COMMUNITIES, struct.pack(f">{len(flat)}I", *flat)
        )
    return out


def _encode_aspath(path: list, width: int) -> bytes:
    fmt = "I" if width == 4 else "H"
    clip = (lambda a: a) if width == 4 else (lambda a: a if a <= 0xFFFF else AS_TRANS)
    out = b""
    seq: list[int] = []

    def flush():
        nonlocal out, seq
        for i in range(0, len(seq), 255):
            chunk = seq[i : i + 255]
            out += struct.pack(f">BB{len(chunk)}{fmt}", 2, len(chunk), *map(clip, chunk))
        seq = []

    for a in path:
        if isinstance(a, int):
            seq.append(a)
        else:
            flush()
            members = sorted(a)
            out += struct.pack(f">BB{len(members)}{fmt}", 1, len(members), *map(clip, members))
    flush()
    return out


def encode_update_v4(
    attrs_bytes: bytes, nlri: list[bytes], withdrawn: list[bytes] | tuple[bytes, ...] = ()
) -> bytes:
    w = b"".join(withdrawn)
    n = b"".join(nlri)
    body = struct.pack(">H", len(w)) + w + struct.pack(">H", len(attrs_bytes)) + attrs_bytes + n
    return frame(UPDATE, body)


def mp_reach_value(afi: int, safi: int, nexthop: bytes, nlri: bytes) -> bytes:
    return struct.pack(">HBB", afi, safi, len(nexthop)) + nexthop + b"\0" + nlri


def encode_mp_unreach(afi: int, safi: int, nlri: bytes) -> bytes:
    attr = _attr(F_OPTIONAL, MP_UNREACH, struct.pack(">HB", afi, safi) + nlri)
    return frame(UPDATE, struct.pack(">HH", 0, len(attr)) + attr)


def end_of_rib(afi: int, safi: int) -> bytes:
    if (afi, safi) == (AFI_IPV4, SAFI_UNICAST):
        return frame(UPDATE, b"\0\0\0\0")
    return encode_mp_unreach(afi, safi, b"")


def parse_communities(text) -> tuple[tuple, tuple]:
    """'65000:1-65000:2', '65000:1 65000:2,1:2:3' or a list -> (standard ints, large triples).
    Raises ValueError."""
    std, large = [], []
    if isinstance(text, (list, tuple)):
        items = [str(t) for t in text]
    else:
        items = str(text or "").replace(",", " ").replace("-", " ").split()
    for item in items:
        parts = item.split(":")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"bad community {item!r}") from None
        if len(nums) == 2 and all(0 <= v <= 0xFFFF for v in nums):
            std.append(nums[0] << 16 | nums[1])
        elif len(nums) == 3 and all(0 <= v <= 0xFFFFFFFF for v in nums):
            large.append(tuple(nums))
        else:
            raise ValueError(f"bad community {item!r}")
    return tuple(std), tuple(large)


def parse_aspath(text) -> tuple:
    """'1-2-3' (or '1 2 3', or a list) -> (1, 2, 3). Raises ValueError."""
    if isinstance(text, (list, tuple)):
        items = list(text)
    else:
        items = str(text or "").replace("-", " ").replace(",", " ").split()
    return tuple(u32(a, "AS number") for a in items)


def u32(value, name: str) -> int:
    """A 32-bit unsigned field given as a number or numeric text; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    try:
        f = float(value)
        n = int(f) if not isinstance(value, int) else value
    except (ValueError, OverflowError):
        raise ValueError(f"{name} must be a number: {value!r}") from None
    if n != f or not 0 <= n <= 0xFFFFFFFF:
        raise ValueError(f"{name} must be an integer from 0 to 4294967295: {value!r}")
    return n
