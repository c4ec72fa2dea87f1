"""Sampled packet header -> sFlow-RT flow attributes.

decode_header(h, protocol, attrs) adds sFlow-RT key names straight into `attrs` (no
intermediate objects): Ethernet with 802.1Q/QinQ tags, ARP, IPv4, IPv6 and its extension
headers, TCP, UDP, ICMP, ICMPv6, DNS questions on UDP/53, and the inner layers of VXLAN,
Geneve, GRE (incl. transparent Ethernet bridging / NVGRE), MPLS and IP-in-IP.

Keys of an encapsulated packet carry the layer suffix ".1" (".2" one tunnel deeper): the
payloads of VXLAN, Geneve, GRE, MPLS and IP-in-IP give macsource.1, ipsource.1, ip6source.1,
tcpsourceport.1, ... QinQ's second 802.1Q tag is vlan.1/priority.1 (as sflowtool's
decodedVLAN.1). `stack` lists the layers, e.g. "eth.ip.udp.vxlan.eth.ip6.icmp6".

Truncated headers decode as far as the bytes go; nothing here raises.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

_inet_ntoa = socket.inet_ntoa
_inet_ntop = socket.inet_ntop
_AF6 = socket.AF_INET6
_H = struct.Struct(">H").unpack_from
_HH = struct.Struct(">HH").unpack_from
_I = struct.Struct(">I").unpack_from
_IP4 = struct.Struct(">BHHHBB").unpack_from  # tos, total length, id, frag, ttl, protocol
_IP6 = struct.Struct(">IHBB").unpack_from  # ver/tc/flow, payload length, next header, hops
_UDP = struct.Struct(">HHH").unpack_from
_DNS = struct.Struct(">HHH").unpack_from  # id, flags, qdcount

MAX_LAYERS = 4  # encapsulation depth (and 802.1Q tags) decoded per packet
TPIDS = frozenset((0x8100, 0x88A8, 0x9100, 0x9200, 0x9300))
BROADCAST = b"\xff\xff\xff\xff\xff\xff"

TCP_FLAGS = tuple(format(i, "09b") for i in range(512))
BIN2 = ("00", "01", "10", "11")
BIN3 = tuple(format(i, "03b") for i in range(8))
_DSCP_NAMES = {
    0: "be",
    1: "le",
    8: "cs1",
    10: "af11",
    12: "af12",
    14: "af13",
    16: "cs2",
    18: "af21",
    20: "af22",
    22: "af23",
    24: "cs3",
    26: "af31",
    28: "af32",
    30: "af33",
    32: "cs4",
    34: "af41",
    36: "af42",
    38: "af43",
    40: "cs5",
    44: "va",
    46: "ef",
    48: "cs6",
    56: "cs7",
}
# sFlow-RT writes the name with the value: "be(0)", "ef(46)"; unnamed code points as the number
DSCP_NAMES = tuple(f"{_DSCP_NAMES[i]}({i})" if i in _DSCP_NAMES else str(i) for i in range(64))
BIN8 = tuple(format(i, "08b") for i in range(256))
DNS_TYPES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    13: "HINFO",
    15: "MX",
    16: "TXT",
    17: "RP",
    18: "AFSDB",
    24: "SIG",
    25: "KEY",
    28: "AAAA",
    29: "LOC",
    33: "SRV",
    35: "NAPTR",
    36: "KX",
    37: "CERT",
    39: "DNAME",
    41: "OPT",
    42: "APL",
    43: "DS",
    44: "SSHFP",
    45: "IPSECKEY",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    49: "DHCID",
    50: "NSEC3",
    51: "NSEC3PARAM",
    52: "TLSA",
    53: "SMIMEA",
    55: "HIP",
    59: "CDS",
    60: "CDNSKEY",
    61: "OPENPGPKEY",
    62: "CSYNC",
    63: "ZONEMD",
    64: "SVCB",
    65: "HTTPS",
    99: "SPF",
    108: "EUI48",
    109: "EUI64",
    249: "TKEY",
    250: "TSIG",
    251: "IXFR",
    252: "AXFR",
    255: "ANY",
    256: "URI",
    257: "CAA",
}

VXLAN_PORT = 4789
GENEVE_PORT = 6081
MPLS_UDP_PORT = 6635
DNS_PORT = 53


# Address -> string caches: the same hosts and MACs recur in nearly every sample, and a dict
# hit costs a third of inet_ntoa/inet_ntop/hex(). Cleared when full to bound memory.
CACHE_MAX = 1 << 16  # address/MAC strings (~100 bytes an entry)
PAIR_CACHE_MAX = 1 << 14  # MAC/address pairs -> small dicts (~300 bytes an entry)
_A4: dict = {}
_A6: dict = {}
_MAC: dict = {}
_a4 = _A4.get
_a6 = _A6.get
_mac = _MAC.get


def _ip4s(b: bytes) -> str:
    if len(_A4) >= CACHE_MAX:
        _A4.clear()
    s = _A4[b] = _inet_ntoa(b)
    return s


def _ip6s(b: bytes) -> str:
    if len(_A6) >= CACHE_MAX:
        _A6.clear()
    s = _A6[b] = _inet_ntop(_AF6, b)
    return s


def _macs(b: bytes) -> str:
    if len(_MAC) >= CACHE_MAX:
        _MAC.clear()
    s = _MAC[b] = b.hex().upper()
    return s


def _eth_pair(n: int, pair: bytes) -> dict:
    """The 5 keys given by a destination+source MAC pair (cached per layer)."""
    kd, ks, kb, km, ku, _ = _ETH[n]
    dst = pair[:6]
    src = pair[6:]
    d = {kd: _mac(dst) or _macs(dst), ks: _mac(src) or _macs(src)}
    if dst[0] & 1:
        d[kb] = "true" if dst == BROADCAST else "false"
        d[km] = "false" if dst == BROADCAST else "true"
        d[ku] = "false"
    else:
        d[kb] = d[km] = "false"
        d[ku] = "true"
    c = _ETHC[n]
    if len(c) >= PAIR_CACHE_MAX:
        c.clear()
    c[pair] = d
    return d


def _ip_pair(n: int, pair: bytes) -> dict:
    """ipsource/ipdestination for a source+destination address pair (cached per layer)."""
    ks, kd = _IP[n][0], _IP[n][1]
    src = pair[:4]
    dst = pair[4:]
    d = {ks: _a4(src) or _ip4s(src), kd: _a4(dst) or _ip4s(dst)}
    c = _IPC[n]
    if len(c) >= PAIR_CACHE_MAX:
        c.clear()
    c[pair] = d
    return d


def _keys(*names):
    """names[n] for layer occurrence n: ("ipsource", "ipsource.1", ...)."""
    return tuple(tuple(nm if i == 0 else f"{nm}.{i}" for nm in names) for i in range(MAX_LAYERS))


_ETH = _keys(
    "macdestination", "macsource", "isbroadcast", "ismulticast", "isunicast", "ethernetprotocol"
)
_VLAN = _keys("vlan", "priority")
_ARP = _keys("arpoperation", "arpmacsender", "arpipsender", "arpmactarget", "arpiptarget")
_IP = _keys(
    "ipsource",
    "ipdestination",
    "ipprotocol",
    "iptos",
    "ipdscp",
    "ipdscpname",
    "ipecn",
    "ipttl",
    "ipflags",
    "ipfragoffset",
    "ipbytes",
    "ipid",
    "ip_offset",
)
_IP6K = _keys(
    "ip6source",
    "ip6destination",
    "ip6nexthdr",
    "ip6tos",
    "ip6dscp",
    "ip6dscpname",
    "ip6ecn",
    "ip6flowlabel",
    "ip6ttl",
    "ip6bytes",
    "ip6_offset",
    "ip6extensions",
    "ip6fragoffset",
    "ip6fragm",
)
_TCP = _keys("tcpsourceport", "tcpdestinationport", "tcpflags")
_UDP_K = _keys("udpsourceport", "udpdestinationport", "udpbytes")
_ICMP = _keys(
    "icmptype",
    "icmpcode",
    "icmpseqno",
    "icmpunreachablenet",
    "icmpunreachablehost",
    "icmpunreachableprotocol",
    "icmpunreachableport",
)
_ICMP6 = _keys("icmp6type", "icmp6code")
_VXLAN = _keys("vxlanvni")
_GENEVE = _keys("genevevni")
_GRE = _keys("greprotocol", "grevsid")
_MPLS = _keys("mplslabels")
_DNSK = _keys("dnsqr", "dnsrcode", "dnsqname", "dnsqtype", "dnsqtypename")

_EXT_HEADERS = frozenset((0, 43, 44, 51, 60))
_ETHC: tuple[dict, ...] = tuple({} for _ in range(MAX_LAYERS))
_ETHC_GET = tuple(c.get for c in _ETHC)
_IPC: tuple[dict, ...] = tuple({} for _ in range(MAX_LAYERS))
_IPC_GET = tuple(c.get for c in _IPC)


def _tos_table(keys):
    """Per layer, per TOS/traffic-class byte: the 4 keys derived from it, as one dict."""
    return tuple(
        tuple(
            {k[0]: BIN8[tos], k[1]: tos >> 2, k[2]: DSCP_NAMES[tos >> 2], k[3]: BIN2[tos & 3]}
            for tos in range(256)
        )
        for k in keys
    )


_IP_TOS = _tos_table(_keys("iptos", "ipdscp", "ipdscpname", "ipecn"))
_IP6_TOS = _tos_table(_keys("ip6tos", "ip6dscp", "ip6dscpname", "ip6ecn"))
# flags (3 bits) of an unfragmented or first-fragment packet: ipflags and ipfragoffset = 0
_IP_FLAGS0 = tuple(
    tuple({k[0]: BIN3[f], k[1]: 0} for f in range(8)) for k in _keys("ipflags", "ipfragoffset")
)


# Fast path: untagged or single-tagged Ethernet + IPv4 (no options) or IPv6 (no extension
# headers) + TCP/UDP, first fragment or unfragmented, decoded with one unpack and no calls.
# It writes exactly the keys the general path writes (tests/test_decode_records.py checks).
_F4 = struct.Struct(">HBBHHHBB2x8sHHH6xBB").unpack_from  # from the ethertype: 36 bytes
_F6 = struct.Struct(">HIHBB32sHHH6xBB").unpack_from  # from the ethertype: 56 bytes
_UDP_SPECIAL = frozenset((VXLAN_PORT, GENEVE_PORT, MPLS_UDP_PORT, DNS_PORT))
_IP6C: dict = {}
_IP6C_GET = _IP6C.get
_ETHC0_GET: Any = None  # bound below, after the caches exist
_IPC0_GET: Any = None


def _ip6_pair(pair: bytes) -> dict:
    src = pair[:16]
    dst = pair[16:]
    d = {"ip6source": _a6(src) or _ip6s(src), "ip6destination": _a6(dst) or _ip6s(dst)}
    if len(_IP6C) >= PAIR_CACHE_MAX:
        _IP6C.clear()
    _IP6C[pair] = d
    return d


def decode_header_bytes(h: bytes, protocol: int, a: dict) -> None:
    """decode_header for `h` known to be bytes (the attributes hot path)."""
    if protocol == 1 and len(h) >= 48:
        o = 12
        et = (h[12] << 8) | h[13]
        tci = -1
        if et == 0x8100:
            tci = (h[14] << 8) | h[15]
            o = 16
            et = (h[16] << 8) | h[17]
        if et == 0x0800:
            if len(h) >= o + 36 and h[o + 2] == 0x45:
                (
                    _,
                    _,
                    tos,
                    totlen,
                    ipid,
                    frag,
                    ttl,
                    proto,
                    addrs,
                    sport,
                    dport,
                    ulen,
                    offres,
                    flags,
                ) = _F4(h, o)
                if not frag & 0x1FFF and (
                    proto == 6 or (proto == 17 and dport not in _UDP_SPECIAL and sport != DNS_PORT)
                ):
                    pair = h[:12]
                    a.update(_ETHC0_GET(pair) or _eth_pair(0, pair))
                    if tci >= 0:
                        a["vlan"] = tci & 0x0FFF
                        a["priority"] = tci >> 13
                    a["ethernetprotocol"] = 0x0800
                    a.update(_IPC0_GET(addrs) or _ip_pair(0, addrs))
                    a["ipprotocol"] = proto
                    a.update(_IP_TOS0[tos])
                    a["ipttl"] = ttl
                    a["ipbytes"] = totlen
                    a["ipid"] = ipid
                    a["ip_offset"] = o + 2
                    a.update(_IP_FLAGS00[frag >> 13])
                    if proto == 6:
                        a["tcpsourceport"] = sport
                        a["tcpdestinationport"] = dport
                        a["tcpflags"] = TCP_FLAGS[((offres & 1) << 8) | flags]
                        a["stack"] = "eth.ip.tcp"
                    else:
                        a["udpsourceport"] = sport
                        a["udpdestinationport"] = dport
                        a["udpbytes"] = ulen
                        a["stack"] = "eth.ip.udp"
                    return
        elif et == 0x86DD:
            if len(h) >= o + 56 and h[o + 2] >> 4 == 6:
                _, w, plen, nh, hops, addrs, sport, dport, ulen, offres, flags = _F6(h, o)
                if nh == 6 or (nh == 17 and dport not in _UDP_SPECIAL and sport != DNS_PORT):
                    pair = h[:12]
                    a.update(_ETHC0_GET(pair) or _eth_pair(0, pair))
                    if tci >= 0:
                        a["vlan"] = tci & 0x0FFF
                        a["priority"] = tci >> 13
                    a["ethernetprotocol"] = 0x86DD
                    a.update(_IP6C_GET(addrs) or _ip6_pair(addrs))
                    a.update(_IP6_TOS0[(w >> 20) & 0xFF])
                    a["ip6flowlabel"] = w & 0xFFFFF
                    a["ip6ttl"] = hops
                    a["ip6bytes"] = plen
                    a["ip6_offset"] = o + 2
                    a["ip6nexthdr"] = nh
                    if nh == 6:
                        a["tcpsourceport"] = sport
                        a["tcpdestinationport"] = dport
                        a["tcpflags"] = TCP_FLAGS[((offres & 1) << 8) | flags]
                        a["stack"] = "eth.ip6.tcp"
                    else:
                        a["udpsourceport"] = sport
                        a["udpdestinationport"] = dport
                        a["udpbytes"] = ulen
                        a["stack"] = "eth.ip6.udp"
                    return
    decode_general(h, protocol, a)


def decode_general(h: bytes, protocol: int, a: dict) -> None:
    """The layer-by-layer decoder (every case the fast path does not take)."""
    st: list = []
    if protocol == 1:
        _eth(h, 0, len(h), a, st, 0)
    elif protocol == 11:
        _ip4(h, 0, len(h), a, st, 0)
    elif protocol == 12:
        _ip6(h, 0, len(h), a, st, 0)
    elif protocol == 15:
        _wifi(h, a)
    if st:
        a["stack"] = ".".join(st)


def wifi_addresses(h: bytes):
    """802.11 data frame -> (source, destination, transmitter, receiver) MAC bytes, or None."""
    if len(h) < 24:
        return None
    fc = h[0] | (h[1] << 8)
    if (fc >> 2) & 3 != 2:  # only data frames carry a payload's addresses
        return None
    to_ds = (fc >> 8) & 1
    from_ds = (fc >> 9) & 1
    a1, a2, a3 = h[4:10], h[10:16], h[16:22]
    if to_ds:
        dst = a3
        if from_ds:
            if len(h) < 30:
                return None
            src = h[24:30]  # 4-address (wireless bridge) frame
        else:
            src = a2
    else:
        dst = a1
        src = a3 if from_ds else a2
    return src, dst, a2, a1


def _wifi(h, a):
    addrs = wifi_addresses(h)
    if addrs is not None:
        a["macsource"] = addrs[0].hex().upper()
        a["macdestination"] = addrs[1].hex().upper()


def decode_header(h: bytes, protocol: int, a: dict) -> None:
    if h.__class__ is not bytes:
        h = bytes(h)  # memoryview/bytearray input: slices must be bytes
    decode_header_bytes(h, protocol, a)


def _eth(h, off, end, a, st, n):
    if end - off < 14 or n >= MAX_LAYERS:
        return
    st.append("eth")
    pair = h[off : off + 12]
    a.update(_ETHC_GET[n](pair) or _eth_pair(n, pair))
    ke = _ETH[n][5]
    et = (h[off + 12] << 8) | h[off + 13]
    off += 14
    if et in TPIDS:
        nvl = 0  # QinQ and inner-frame tags number on: vlan, vlan.1, ...
        while nvl < MAX_LAYERS and _VLAN[nvl][0] in a:
            nvl += 1
        for _ in range(16):
            if et not in TPIDS or end - off < 4:
                break
            tci = (h[off] << 8) | h[off + 1]
            if nvl < MAX_LAYERS:
                kv, kp = _VLAN[nvl]
                a[kv] = tci & 0x0FFF
                a[kp] = tci >> 13
                nvl += 1
            et = (h[off + 2] << 8) | h[off + 3]
            off += 4
    if et <= 1500:
        # 802.3 length: only LLC/SNAP with OUI 000000 carries an ethertype
        if (
            end - off >= 8
            and h[off] == 0xAA
            and h[off + 1] == 0xAA
            and h[off + 2] == 0x03
            and h[off + 3] == 0
            and h[off + 4] == 0
            and h[off + 5] == 0
        ):
            et = (h[off + 6] << 8) | h[off + 7]
            off += 8
        else:
            return
    a[ke] = et
    if et == 0x0800:
        _ip4(h, off, end, a, st, n)
    elif et == 0x86DD:
        _ip6(h, off, end, a, st, n)
    elif et == 0x0806:
        _arp(h, off, end, a, st, n)
    elif et == 0x8847 or et == 0x8848:
        _mpls(h, off, end, a, st, n)


def _arp(h, off, end, a, st, n):
    if end - off < 28 or n >= MAX_LAYERS:
        return
    st.append("arp")
    htype, ptype = _HH(h, off)
    if htype != 1 or ptype != 0x0800 or h[off + 4] != 6 or h[off + 5] != 4:
        return
    ko, kms, kis, kmt, kit = _ARP[n]
    a[ko] = _H(h, off + 6)[0]
    a[kms] = h[off + 8 : off + 14].hex().upper()
    a[kis] = _inet_ntoa(h[off + 14 : off + 18])
    a[kmt] = h[off + 18 : off + 24].hex().upper()
    a[kit] = _inet_ntoa(h[off + 24 : off + 28])


def _ip4(h, off, end, a, st, n):
    if end - off < 20 or n >= MAX_LAYERS:
        return
    vi = h[off]
    ihl = (vi & 15) << 2
    if vi >> 4 != 4 or ihl < 20:
        return
    st.append("ip")
    tos, totlen, ipid, frag, ttl, proto = _IP4(h, off + 1)
    ks, kd, kp, kt, kds, kdn, ke, kttl, kf, kfo, kb, kid, ko = _IP[n]
    pair = h[off + 12 : off + 20]
    a.update(_IPC_GET[n](pair) or _ip_pair(n, pair))
    a[kp] = proto
    a.update(_IP_TOS[n][tos])
    a[kttl] = ttl
    a[kb] = totlen
    a[kid] = ipid
    a[ko] = off
    fo = frag & 0x1FFF
    if fo:
        a[kf] = BIN3[frag >> 13]
        a[kfo] = fo
        return  # not the first fragment: no L4 header here
    a.update(_IP_FLAGS0[n][frag >> 13])
    off += ihl
    if proto == 6 and end - off >= 14:
        # inline TCP: the most common case by far
        st.append("tcp")
        ks, kd, kf = _TCP[n]
        a[ks], a[kd] = _HH(h, off)
        a[kf] = TCP_FLAGS[((h[off + 12] & 1) << 8) | h[off + 13]]
    elif off <= end:
        _l4(h, off, end, a, st, proto, n)


def _ip6(h, off, end, a, st, n):
    if end - off < 40 or n >= MAX_LAYERS or h[off] >> 4 != 6:
        return
    st.append("ip6")
    w, plen, nh, hops = _IP6(h, off)
    ks, kd, knh, kt, kds, kdn, ke, kfl, kttl, kb, ko, kx, kfo, kfm = _IP6K[n]
    x = h[off + 8 : off + 24]
    a[ks] = _a6(x) or _ip6s(x)
    x = h[off + 24 : off + 40]
    a[kd] = _a6(x) or _ip6s(x)
    a.update(_IP6_TOS[n][(w >> 20) & 0xFF])
    a[kfl] = w & 0xFFFFF
    a[kttl] = hops
    a[kb] = plen
    a[ko] = off
    off += 40
    if nh in _EXT_HEADERS:
        exts: list[str] = []
        while nh in _EXT_HEADERS and end - off >= 8 and len(exts) < 16:
            exts.append(str(nh))
            if nh == 44:
                fw = _H(h, off + 2)[0]
                a[kfo] = fw >> 3
                a[kfm] = "yes" if fw & 1 else "no"
                nh = h[off]
                off += 8
                if fw >> 3:
                    a[kx] = ".".join(exts)
                    a[knh] = nh
                    return
            elif nh == 51:
                nh, hl = h[off], h[off + 1]
                off += (hl + 2) << 2
            else:
                nh, hl = h[off], h[off + 1]
                off += (hl + 1) << 3
        a[kx] = ".".join(exts)
        if nh in _EXT_HEADERS or off > end:
            return
    a[knh] = nh
    if nh == 6 and end - off >= 14:
        st.append("tcp")
        ks, kd, kf = _TCP[n]
        a[ks], a[kd] = _HH(h, off)
        a[kf] = TCP_FLAGS[((h[off + 12] & 1) << 8) | h[off + 13]]
    else:
        _l4(h, off, end, a, st, nh, n)


def _l4(h, off, end, a, st, proto, n):
    left = end - off
    if proto == 6:
        if left < 8:
            return
        st.append("tcp")
        ks, kd, kf = _TCP[n]
        a[ks], a[kd] = _HH(h, off)
        if left >= 14:
            a[kf] = TCP_FLAGS[((h[off + 12] & 1) << 8) | h[off + 13]]
    elif proto == 17:
        if left < 8:
            return
        st.append("udp")
        sport, dport, ulen = _UDP(h, off)
        ks, kd, kb = _UDP_K[n]
        a[ks] = sport
        a[kd] = dport
        a[kb] = ulen
        off += 8
        if dport == VXLAN_PORT:
            _vxlan(h, off, end, a, st, n)
        elif dport == GENEVE_PORT:
            _geneve(h, off, end, a, st, n)
        elif dport == MPLS_UDP_PORT:
            _mpls(h, off, end, a, st, n)
        elif dport == DNS_PORT or sport == DNS_PORT:
            _dns(h, off, end, a, st, n)
    elif proto == 1:
        if left < 8:
            return
        st.append("icmp")
        k = _ICMP[n]
        t = h[off]
        code = h[off + 1]
        a[k[0]] = t
        a[k[1]] = code
        if t == 0 or t == 8:
            a[k[2]] = _H(h, off + 6)[0]
        elif t == 3 and left >= 28 and h[off + 8] >> 4 == 4:
            # the quoted datagram says what could not be reached
            q = off + 8
            if code == 0:
                a[k[3]] = _inet_ntoa(h[q + 16 : q + 20])
            elif code == 1:
                a[k[4]] = _inet_ntoa(h[q + 16 : q + 20])
            elif code == 2:
                a[k[5]] = h[q + 9]
            elif code == 3:
                qp = q + ((h[q] & 15) << 2)
                if end - qp >= 4 and h[q + 9] in (6, 17):
                    a[k[6]] = _H(h, qp + 2)[0]
    elif proto == 58:
        if left < 8:
            return
        st.append("icmp6")
        kt, kc = _ICMP6[n]
        a[kt] = h[off]
        a[kc] = h[off + 1]
    elif proto == 47:
        _gre(h, off, end, a, st, n)
    elif proto == 4:
        _ip4(h, off, end, a, st, n + 1)
    elif proto == 41:
        _ip6(h, off, end, a, st, n + 1)


def _vxlan(h, off, end, a, st, n):
    if end - off < 8 or not h[off] & 0x08:
        return
    if n + 1 >= MAX_LAYERS:
        return
    st.append("vxlan")
    a[_VXLAN[n][0]] = _I(h, off + 4)[0] >> 8
    _eth(h, off + 8, end, a, st, n + 1)


def _geneve(h, off, end, a, st, n):
    if end - off < 8 or h[off] >> 6 != 0:
        return
    if n + 1 >= MAX_LAYERS:
        return
    st.append("geneve")
    a[_GENEVE[n][0]] = _I(h, off + 4)[0] >> 8
    ptype = _H(h, off + 2)[0]
    off += 8 + ((h[off] & 0x3F) << 2)
    _inner(h, off, end, a, st, ptype, n + 1)


def _gre(h, off, end, a, st, n):
    if end - off < 4:
        return
    flags, ptype = _HH(h, off)
    if flags & 7:  # version 1 (PPTP) and others carry no plain payload
        return
    if n + 1 >= MAX_LAYERS:
        return
    st.append("gre")
    kp, kv = _GRE[n]
    a[kp] = ptype
    off += 4
    if flags & 0x8000:
        off += 4
    if flags & 0x2000:
        if end - off < 4:
            return
        if ptype == 0x6558:
            a[kv] = _I(h, off)[0] >> 8  # NVGRE virtual subnet id
        off += 4
    if flags & 0x1000:
        off += 4
    _inner(h, off, end, a, st, ptype, n + 1)


def _inner(h, off, end, a, st, ptype, n):
    if off >= end:
        return
    if ptype == 0x6558:
        _eth(h, off, end, a, st, n)
    elif ptype == 0x0800:
        _ip4(h, off, end, a, st, n)
    elif ptype == 0x86DD:
        _ip6(h, off, end, a, st, n)
    elif ptype == 0x8847 or ptype == 0x8848:
        _mpls(h, off, end, a, st, n)


def _mpls(h, off, end, a, st, n):
    if end - off < 4:
        return
    if n + 1 >= MAX_LAYERS:
        return
    st.append("mpls")
    labels: list[str] = []
    while end - off >= 4 and len(labels) < 16:
        w = _I(h, off)[0]
        off += 4
        labels.append(str(w >> 12))
        if w & 0x100:
            break
    a[_MPLS[n][0]] = ".".join(labels)
    if off < end:
        v = h[off] >> 4
        if v == 4:
            _ip4(h, off, end, a, st, n + 1)
        elif v == 6:
            _ip6(h, off, end, a, st, n + 1)


def _dns(h, off, end, a, st, n):
    if end - off < 12:
        return
    _id, flags, qd = _DNS(h, off)
    if flags & 0x7800:  # opcode other than QUERY
        return
    kqr, krc, kqn, kqt, kqtn = _DNSK[n]
    a[kqr] = "true" if flags & 0x8000 else "false"
    a[krc] = flags & 15
    if qd < 1:
        return
    p = off + 12
    labels: list[str] = []
    total = 0
    while p < end:
        ln = h[p]
        if ln == 0:
            p += 1
            break
        if ln & 0xC0 or total + ln > 253:
            return  # compression pointers do not belong in a question; give up
        p += 1
        if p + ln > end:
            return
        labels.append(h[p : p + ln].decode("ascii", "replace"))
        total += ln + 1
        p += ln
    else:
        return
    if end - p < 2:
        return
    a[kqn] = ".".join(labels)
    qt = _H(h, p)[0]
    a[kqt] = qt
    a[kqtn] = DNS_TYPES.get(qt) or str(qt)


_ETHC0_GET = _ETHC_GET[0]
_IPC0_GET = _IPC_GET[0]
_IP_TOS0 = _IP_TOS[0]
_IP6_TOS0 = _IP6_TOS[0]
_IP_FLAGS00 = _IP_FLAGS0[0]
