"""Flow record types, each declared once: decoder, encoder and flow keys (registry.py).

Each decoder reads one record with the Reader `r` (bounded by the record) and fills `d` with
sflowtool's field names (values are Python ints/floats/strings); field order and names follow
sflowtool 6.11 (readFlowSampleElements). Where sflowtool logs a string only when it is
non-empty, so do we (`_opt`). The encoder beside it writes the same layout from such a dict;
``attributes=`` names the hot path's key extraction (flow_keys.py).
"""

from __future__ import annotations

from . import flow_keys as fk
from .errors import MAX_HEADER, DecodeError
from .header import decode_header, wifi_addresses
from .registry import V2V4_ENTERPRISE, declare
from .wire import (
    EncodeError,
    address,
    as_int,
    hexbytes,
    ip4,
    ip6,
    mac,
    pack_fields,
    pad,
    simple,
    string,
    u32,
    u64,
)
from .wire import fields as _fields
from .xdr import Reader


def flow_record(enterprise: int, fmt: int, **kw):
    """Declare the decorated decoder's record type (keywords: see registry.declare)."""

    def deco(fn):
        declare("flow", enterprise, fmt, fn, **kw)
        return fn

    return deco


def _opt(r: Reader, d: dict, name: str) -> None:
    s = r.string()
    if s:
        d[name] = s


# ------------------------------------------------------------------ sampled header (0:1)


def _header_fields(d: dict, proto: int, size: int, stripped: int, hb: bytes) -> None:
    """sflowtool's derived header fields, mapped from our sFlow-RT header attributes."""
    a: dict = {}
    decode_header(hb, proto, a)
    if proto == 15:
        addrs = wifi_addresses(hb)
        if addrs is not None:
            src, dst, tx, rx = addrs
            d["srcMAC"] = src.hex()
            d["dstMAC"] = dst.hex()
            d["txMAC"] = tx.hex()
            d["rxMAC"] = rx.hex()
        return
    sflowtool_header_view(a, size, stripped, d)


def sflowtool_header_view(a: dict, size: int, stripped: int, d: dict) -> None:
    """Map sFlow-RT header attributes (outer layer only) to sflowtool's field names."""
    if "macdestination" in a:
        d["dstMAC"] = a["macdestination"].lower()
        d["srcMAC"] = a["macsource"].lower()
    if "vlan" in a:
        d["decodedVLAN"] = a["vlan"]
        d["decodedPriority"] = a["priority"]
        n = 1
        while f"vlan.{n}" in a:
            d[f"decodedVLAN.{n}"] = a[f"vlan.{n}"]
            d[f"decodedPriority.{n}"] = a[f"priority.{n}"]
            n += 1
    if "ethernetprotocol" in a:
        d["ethernet_type"] = a["ethernetprotocol"]
    stack = a.get("stack", "").split(".")
    if stack[0] == "eth":
        del stack[0]
    l3 = stack[0] if stack else ""
    l4 = stack[1] if len(stack) > 1 else ""
    if l3 == "ip":
        d["IPSize"] = size - stripped - a["ip_offset"]
        d["ip.tot_len"] = a["ipbytes"]
        d["srcIP"] = a["ipsource"]
        d["dstIP"] = a["ipdestination"]
        d["IPProtocol"] = a["ipprotocol"]
        d["IPTOS"] = int(a["iptos"], 2)
        d["IPTTL"] = a["ipttl"]
        ipid = a["ipid"]
        d["IPID"] = ((ipid & 0xFF) << 8) | (ipid >> 8)  # sflowtool prints it unswapped
        if a.get("ipfragoffset"):
            d["IPFragmentOffset"] = a["ipfragoffset"]
    elif l3 == "ip6":
        d["IPSize"] = size - stripped - a["ip6_offset"]
        d["IPTOS"] = int(a["ip6tos"], 2)
        d["IP6_label"] = "0x%x" % a["ip6flowlabel"]
        d["IPV6_payloadLen"] = a["ip6bytes"] or "<jumbo>"
        d["IPTTL"] = a["ip6ttl"]
        d["srcIP6"] = a["ip6source"]
        d["dstIP6"] = a["ip6destination"]
        if "ip6extensions" in a:
            d["IP6HeaderExtension"] = int(a["ip6extensions"].split(".")[-1])
        if "ip6nexthdr" in a:
            d["IPProtocol"] = a["ip6nexthdr"]
    else:
        return
    if l4 == "tcp":
        d["TCPSrcPort"] = a["tcpsourceport"]
        d["TCPDstPort"] = a["tcpdestinationport"]
        if "tcpflags" in a:
            d["TCPFlags"] = int(a["tcpflags"], 2) & 0xFF
    elif l4 == "udp":
        d["UDPSrcPort"] = a["udpsourceport"]
        d["UDPDstPort"] = a["udpdestinationport"]
        d["UDPBytes"] = a["udpbytes"]
    elif l4 == "icmp":
        d["ICMPType"] = a["icmptype"]
        d["ICMPCode"] = a["icmpcode"]


def _read_header(r: Reader, d: dict, with_stripped: bool) -> None:
    d["flowSampleType"] = "HEADER"
    proto = d["headerProtocol"] = r.u32()
    size = d["sampledPacketSize"] = r.u32()
    stripped = 0
    if with_stripped:
        stripped = d["strippedBytes"] = r.u32()
    n = d["headerLen"] = r.u32()
    if n > MAX_HEADER:
        raise DecodeError(f"sampled header length {n} too large")
    hb = r.opaque(n)
    d["headerBytes"] = hb.hex("-").upper() if hb else ""
    _header_fields(d, proto, size, stripped, hb)


def _header(d: dict, prefix: str = "") -> bytes:
    data = hexbytes(d.get(prefix + "headerBytes"))
    header_len = d.get(prefix + "headerLen")
    header_len = len(data) if header_len in (None, "") else as_int(header_len)
    return (
        u32(d.get(prefix + "headerProtocol"))
        + u32(d.get(prefix + "sampledPacketSize"))
        + u32(d.get(prefix + "strippedBytes"))
        + u32(header_len)
        + pad(data)
    )


# (its flow keys are inlined in attributes.python_flow_attributes and in the C decoder)
@flow_record(0, 1, encode=_header)
def sampled_header(r, length, d):
    _read_header(r, d, True)


@flow_record(V2V4_ENTERPRISE, 1, shown="0:1", attributes=fk.header_v2v4)
def sampled_header_v2v4(r, length, d):
    _read_header(r, d, False)


# ------------------------------------------------------------------ sampled ethernet/ipv4/ipv6


def _ethernet(r, d, prefix=""):
    d["flowSampleType"] = prefix + "ETHERNET"
    eth_len = r.u32()
    src = r.mac()
    dst = r.mac()
    d[prefix + "ethernet_type"] = r.u32()
    d[prefix + "ethernet_len"] = eth_len
    d[prefix + "ethernet_src"] = src
    d[prefix + "ethernet_dst"] = dst


def _ports(d, prefix, proto, sport, dport, flags):
    if proto == 1:
        d[prefix + "ICMPType"] = dport
    elif proto == 6:
        d[prefix + "TCPSrcPort"] = sport
        d[prefix + "TCPDstPort"] = dport
        d[prefix + "TCPFlags"] = flags
    elif proto == 17:
        d[prefix + "UDPSrcPort"] = sport
        d[prefix + "UDPDstPort"] = dport


def _ipv4(r, d, prefix=""):
    d["flowSampleType"] = prefix + "IPV4"
    length = r.u32()
    proto = r.u32()
    src = r.ip4()
    dst = r.ip4()
    sport, dport, flags, tos = r.u32(), r.u32(), r.u32(), r.u32()
    d[prefix + "sampledPacketSize"] = length
    d[prefix + "IPSize"] = length
    d[prefix + "srcIP"] = src
    d[prefix + "dstIP"] = dst
    d[prefix + "IPProtocol"] = proto
    d[prefix + "IPTOS"] = tos
    _ports(d, prefix, proto, sport, dport, flags)


def _ipv6(r, d, prefix=""):
    d["flowSampleType"] = prefix + "IPV6"
    length = r.u32()
    proto = r.u32()
    src = r.ip6()
    dst = r.ip6()
    sport, dport, flags, prio = r.u32(), r.u32(), r.u32(), r.u32()
    d[prefix + "sampledPacketSize"] = length
    d[prefix + "IPSize"] = length
    d[prefix + "srcIP6"] = src
    d[prefix + "dstIP6"] = dst
    d[prefix + "IPProtocol"] = proto
    d[prefix + "priority"] = prio
    _ports(d, prefix, proto, sport, dport, flags)


def _enc_ports(d: dict, prefix: str) -> tuple[int, int, int]:
    proto = as_int(d.get(prefix + "IPProtocol"))
    if proto == 6:
        return (
            as_int(d.get(prefix + "TCPSrcPort")),
            as_int(d.get(prefix + "TCPDstPort")),
            as_int(d.get(prefix + "TCPFlags")),
        )
    if proto == 17:
        return as_int(d.get(prefix + "UDPSrcPort")), as_int(d.get(prefix + "UDPDstPort")), 0
    if proto == 1:
        return as_int(d.get(prefix + "ICMPCode")), as_int(d.get(prefix + "ICMPType")), 0
    return (
        as_int(d.get(prefix + "src_port")),
        as_int(d.get(prefix + "dst_port")),
        as_int(d.get(prefix + "tcp_flags")),
    )


def _enc_ipv4(prefix: str = ""):
    def enc(d: dict) -> bytes:
        sport, dport, flags = _enc_ports(d, prefix)
        return (
            u32(d.get(prefix + "sampledPacketSize"))
            + u32(d.get(prefix + "IPProtocol"))
            + ip4(d.get(prefix + "srcIP"))
            + ip4(d.get(prefix + "dstIP"))
            + u32(sport)
            + u32(dport)
            + u32(flags)
            + u32(d.get(prefix + "IPTOS"))
        )

    return enc


def _enc_ipv6(prefix: str = ""):
    def enc(d: dict) -> bytes:
        sport, dport, flags = _enc_ports(d, prefix)
        return (
            u32(d.get(prefix + "sampledPacketSize"))
            + u32(d.get(prefix + "IPProtocol"))
            + ip6(d.get(prefix + "srcIP6"))
            + ip6(d.get(prefix + "dstIP6"))
            + u32(sport)
            + u32(dport)
            + u32(flags)
            + u32(d.get(prefix + "priority"))
        )

    return enc


def _enc_ethernet(prefix: str = ""):
    def enc(d: dict) -> bytes:
        return (
            u32(d.get(prefix + "ethernet_len"))
            + mac(d.get(prefix + "ethernet_src"))
            + mac(d.get(prefix + "ethernet_dst"))
            + u32(d.get(prefix + "ethernet_type"))
        )

    return enc


def _decoder(read, prefix=""):
    return lambda r, length, d: read(r, d, prefix)


declare(
    "flow",
    0,
    2,
    _decoder(_ethernet),
    encode=_enc_ethernet(),
    attributes=fk.sampled_ethernet,
    name="sampled_ethernet",
)
declare(
    "flow",
    0,
    3,
    _decoder(_ipv4),
    encode=_enc_ipv4(),
    attributes=fk.sampled_ipv4,
    name="sampled_ipv4",
)
declare(
    "flow",
    0,
    4,
    _decoder(_ipv6),
    encode=_enc_ipv6(),
    attributes=fk.sampled_ipv6,
    name="sampled_ipv6",
)
for _fmt, _read, _enc, _prefix in (
    (1021, _ethernet, _enc_ethernet, "tunnel_l2_out_"),
    (1022, _ethernet, _enc_ethernet, "tunnel_l2_in_"),
    (1023, _ipv4, _enc_ipv4, "tunnel_ipv4_out_"),
    (1024, _ipv4, _enc_ipv4, "tunnel_ipv4_in_"),
    (1025, _ipv6, _enc_ipv6, "tunnel_ipv6_out_"),
    (1026, _ipv6, _enc_ipv6, "tunnel_ipv6_in_"),
):
    declare(
        "flow", 0, _fmt, _decoder(_read, _prefix), encode=_enc(_prefix), name=_prefix.rstrip("_")
    )


# ------------------------------------------------------------------ extended switch/router/gateway


@flow_record(0, 1001, encode=simple("in_vlan in_priority out_vlan out_priority"))  # keys inlined
def extended_switch(r, length, d):
    d["extendedType"] = "SWITCH"
    d["in_vlan"] = r.u32()
    d["in_priority"] = r.u32()
    d["out_vlan"] = r.u32()
    d["out_priority"] = r.u32()


@flow_record(
    0,
    1002,
    encode=simple("nextHop:addr srcSubnetMask dstSubnetMask"),
    attributes=fk.memo(fk.router),
    write_only=True,
)
def extended_router(r, length, d):
    d["extendedType"] = "ROUTER"
    d["nextHop"] = r.address()
    d["srcSubnetMask"] = r.u32()
    d["dstSubnetMask"] = r.u32()


AS_SET = 1


def read_as_path(r: Reader) -> list[tuple[int, list[int]]]:
    """AS path segments [(type, [asn, ...]), ...] (1 = AS_SET, 2 = AS_SEQUENCE)."""
    nseg = r.count("AS path segment")
    segs = []
    total = 0
    for _ in range(nseg):
        t = r.u32()
        n = r.count("AS path")
        total += n
        if total > 1000:
            raise DecodeError(f"AS path length {total} seems quite large")
        segs.append((t, [r.u32() for _ in range(n)]))
    return segs


def _gateway_tail(r, d, with_communities=True):
    d["my_as"] = r.u32()
    d["src_as"] = r.u32()
    d["src_peer_as"] = r.u32()
    segs = read_as_path(r)
    dst_as = dst_peer_as = 0
    if segs:
        parts = []
        for i, (t, asns) in enumerate(segs):
            if i == 0 and asns:
                dst_peer_as = asns[0]
            # sflowtool joins segments without a separator and brackets AS_SETs
            s = "-".join(map(str, asns))
            parts.append(f"({s})" if t == AS_SET else s)
            if i == len(segs) - 1 and asns:
                dst_as = asns[-1]
        d["dst_as_path"] = "".join(parts)
    d["dst_as"] = dst_as
    d["dst_peer_as"] = dst_peer_as
    if with_communities:
        n = r.count("BGP community")
        if n:
            d["BGP_communities"] = "-".join(str(r.u32()) for _ in range(n))
        d["BGP_localpref"] = r.u32()


def _int_list(v) -> list[int]:
    """A list of numbers given as a list or as sflowtool's 'a-b-c' string."""
    if v in (None, ""):
        return []
    if isinstance(v, (list, tuple)):
        return [as_int(x) for x in v]
    return [int(x) for x in str(v).split("-") if x != ""]


def _as_path_segments(d: dict) -> list[tuple[int, list[int]]]:
    """dst_as_path as a list of (type, [asn..]) segments. Accepts a 'dst_as_path_segments'
    list, a list of ints, or sflowtool's string where '(a-b)' marks an AS_SET."""
    segs = d.get("dst_as_path_segments")
    if segs is not None:
        out: list[tuple[int, list[int]]] = []
        for seg in segs:
            if isinstance(seg, dict):
                out.append(
                    (as_int(seg.get("type", 2)), _int_list(seg.get("asns", seg.get("path"))))
                )
            else:
                out.append((as_int(seg[0]), _int_list(seg[1])))
        return out
    path = d.get("dst_as_path")
    if path in (None, ""):
        return []
    if isinstance(path, (list, tuple)):
        return [(2, _int_list(path))]
    text = str(path)
    out = []
    while text:
        if text[0] == "(":
            end = text.index(")")
            out.append((1, _int_list(text[1:end])))
            text = text[end + 1 :]
        else:
            end = text.find("(")
            part, text = (text, "") if end < 0 else (text[:end], text[end:])
            out.append((2, _int_list(part)))
    return out


def _enc_gateway(d: dict, version: int = 5) -> bytes:
    segs = _as_path_segments(d)
    out = [address(d.get("bgp_nexthop"))] if version >= 5 else []
    out += [u32(d.get("my_as")), u32(d.get("src_as")), u32(d.get("src_peer_as"))]
    out.append(u32(len(segs)))
    for seg_type, asns in segs:
        out.append(u32(seg_type) + u32(len(asns)) + b"".join(u32(a) for a in asns))
    comms = _int_list(d.get("BGP_communities"))
    out.append(u32(len(comms)) + b"".join(u32(c) for c in comms))
    out.append(u32(d.get("BGP_localpref")))
    return b"".join(out)


@flow_record(0, 1003, encode=_enc_gateway, attributes=fk.memo(fk.gateway), write_only=True)
def extended_gateway(r, length, d):
    d["extendedType"] = "GATEWAY"
    d["bgp_nexthop"] = r.address()
    _gateway_tail(r, d)


@flow_record(
    V2V4_ENTERPRISE, 1003, shown="0:1003", attributes=fk.memo(fk.gateway_v4), write_only=True
)
def extended_gateway_v4(r, length, d):
    d["extendedType"] = "GATEWAY"
    _gateway_tail(r, d)


@flow_record(
    V2V4_ENTERPRISE, 2003, shown="0:1003", attributes=fk.memo(fk.gateway_v2), write_only=True
)
def extended_gateway_v2(r, length, d):
    d["extendedType"] = "GATEWAY"
    d["my_as"] = r.u32()
    d["src_as"] = r.u32()
    d["src_peer_as"] = r.u32()
    n = r.count("AS path")
    path = [r.u32() for _ in range(n)]
    d["dst_as"] = path[-1] if path else 0
    d["dst_peer_as"] = path[0] if path else 0
    d["dst_as_path_len"] = n
    if path:
        d["dst_as_path"] = "-".join(map(str, path))


@flow_record(
    0,
    1004,
    encode=simple("src_user_charset src_user:str dst_user_charset dst_user:str"),
    attributes=fk.user,
    write_only=True,
)
def extended_user(r, length, d):
    d["extendedType"] = "USER"
    d["src_user_charset"] = r.u32()
    d["src_user"] = r.string()
    d["dst_user_charset"] = r.u32()
    d["dst_user"] = r.string()


@flow_record(V2V4_ENTERPRISE, 1004, shown="0:1004", attributes=fk.user_v4, write_only=True)
def extended_user_v4(r, length, d):
    d["extendedType"] = "USER"
    d["src_user"] = r.string()
    d["dst_user"] = r.string()


@flow_record(
    0, 1005, encode=simple("url_direction url:str host:str"), attributes=fk.url, write_only=True
)
def extended_url(r, length, d):
    d["extendedType"] = "URL"
    d["url_direction"] = r.u32()
    d["url"] = r.string()
    d["host"] = r.string()


@flow_record(V2V4_ENTERPRISE, 1005, shown="0:1005", attributes=fk.url_v4, write_only=True)
def extended_url_v4(r, length, d):
    d["extendedType"] = "URL"
    d["url_direction"] = r.u32()
    d["url"] = r.string()


def _mpls_labels(v) -> list[int]:
    """Label stack as ints, or sflowtool's 'label.exp.bos.ttl-...' text."""
    if v in (None, ""):
        return []
    if isinstance(v, (list, tuple)):
        return [as_int(x) for x in v]
    out = []
    for item in str(v).split("-"):
        label, exp, bos, ttl = (int(x) for x in item.split("."))
        out.append(label << 12 | (exp & 7) << 9 | (bos & 1) << 8 | (ttl & 0xFF))
    return out


def _vlan_stack(v) -> list[int]:
    """VLAN tunnel stack as ints, or sflowtool's 'TTTTp.c.vid-...' text (TPID hex, then
    priority.CFI.VLAN)."""
    if v in (None, ""):
        return []
    if isinstance(v, (list, tuple)):
        return [as_int(x) for x in v]
    out = []
    for item in str(v).split("-"):
        if item[:2].lower() == "0x":
            item = item[2:]
        tpid = int(item[:4], 16)
        prio, cfi, vid = (int(x) for x in item[4:].split("."))
        out.append(tpid << 16 | (prio & 7) << 13 | (cfi & 1) << 12 | (vid & 0xFFF))
    return out


def _stack(values: list[int]) -> bytes:
    return u32(len(values)) + b"".join(u32(x) for x in values)


def _enc_mpls(d: dict) -> bytes:
    return (
        address(d.get("mpls_nexthop"))
        + _stack(_mpls_labels(d.get("mpls_input_stack")))
        + _stack(_mpls_labels(d.get("mpls_output_stack")))
    )


def _label_stack(r, d, name):
    n = r.count("MPLS label")
    if n:
        parts = []
        for _ in range(n):
            lab = r.u32()
            parts.append(f"{lab >> 12}.{(lab >> 9) & 7}.{(lab >> 8) & 1}.{lab & 255}")
        d[name] = "-".join(parts)


@flow_record(0, 1006, encode=_enc_mpls, attributes=fk.mpls_rec, write_only=True)
def extended_mpls(r, length, d):
    d["extendedType"] = "MPLS"
    d["mpls_nexthop"] = r.address()
    _label_stack(r, d, "mpls_input_stack")
    _label_stack(r, d, "mpls_output_stack")


@flow_record(
    0, 1007, encode=simple("nat_src:addr nat_dst:addr"), attributes=fk.nat, write_only=True
)
def extended_nat(r, length, d):
    d["extendedType"] = "NAT"
    d["nat_src"] = r.address()
    d["nat_dst"] = r.address()


@flow_record(0, 1008, encode=simple("mpls_tunnel_lsp_name:str mpls_tunnel_id mpls_tunnel_cos"))
def extended_mpls_tunnel(r, length, d):
    _opt(r, d, "mpls_tunnel_lsp_name")
    d["mpls_tunnel_id"] = r.u32()
    d["mpls_tunnel_cos"] = r.u32()


@flow_record(0, 1009, encode=simple("mpls_vc_name:str mpls_vll_vc_id mpls_vc_cos"))
def extended_mpls_vc(r, length, d):
    _opt(r, d, "mpls_vc_name")
    d["mpls_vll_vc_id"] = r.u32()
    d["mpls_vc_cos"] = r.u32()


@flow_record(0, 1010, encode=simple("mpls_ftn_descr:str mpls_ftn_mask"))
def extended_mpls_ftn(r, length, d):
    _opt(r, d, "mpls_ftn_descr")
    d["mpls_ftn_mask"] = r.u32()


@flow_record(0, 1011, encode=simple("mpls_fec_addr_prefix_len"))
def extended_mpls_ldp_fec(r, length, d):
    d["mpls_fec_addr_prefix_len"] = r.u32()


@flow_record(0, 1012, encode=lambda d: _stack(_vlan_stack(d.get("vlan_tunnel"))))
def extended_vlantunnel(r, length, d):
    n = r.count("VLAN tunnel")
    if n:
        parts = []
        for _ in range(n):
            lab = r.u32()
            # sflowtool: TPI as 0x-hex immediately followed by priority.CFI.vlan
            parts.append(f"0x{lab >> 16:04x}{(lab >> 13) & 7}.{(lab >> 12) & 1}.{lab & 4095}")
        d["vlan_tunnel"] = "-".join(parts)


@flow_record(0, 1013, encode=lambda d: u32(d.get("cipher_suite")) + _header(d))
def extended_80211_payload(r, length, d):
    d["cipher_suite"] = r.u32()
    _read_header(r, d, True)


@flow_record(
    0,
    1014,
    encode=simple(
        "rx_SSID:str rx_BSSID:mac rx_version rx_channel rx_speed:u64 rx_rsni rx_rcpi rx_packet_uS"
    ),
)
def extended_80211_rx(r, length, d):
    _opt(r, d, "rx_SSID")
    d["rx_BSSID"] = r.mac()
    d["rx_version"] = r.u32()
    d["rx_channel"] = r.u32()
    d["rx_speed"] = r.u64()
    d["rx_rsni"] = r.u32()
    d["rx_rcpi"] = r.u32()
    d["rx_packet_uS"] = r.u32()


@flow_record(
    0,
    1015,
    encode=simple(
        "tx_SSID:str tx_BSSID:mac tx_version tx_transmissions "
        "tx_packet_uS tx_retrans_uS tx_channel tx_speed:u64 "
        "tx_power_mW"
    ),
)
def extended_80211_tx(r, length, d):
    _opt(r, d, "tx_SSID")
    d["tx_BSSID"] = r.mac()
    d["tx_version"] = r.u32()
    d["tx_transmissions"] = r.u32()
    d["tx_packet_uS"] = r.u32()
    d["tx_retrans_uS"] = r.u32()
    d["tx_channel"] = r.u32()
    d["tx_speed"] = r.u64()
    d["tx_power_mW"] = r.u32()


@flow_record(
    0, 1020, encode=simple("nat_src_port nat_dst_port"), attributes=fk.nat_port, write_only=True
)
def extended_nat_port(r, length, d):
    d["extendedType"] = "NAT PORT"
    d["nat_src_port"] = r.u32()
    d["nat_dst_port"] = r.u32()


def _decap(prefix):
    def fn(r, length, d):
        d["extendedType"] = prefix + "decap"
        d[prefix + "decap_inner_header_offset"] = r.u32()

    return fn


def _vni(prefix):
    def fn(r, length, d):
        d["extendedType"] = prefix + "VNI"
        d[prefix + "VNI"] = r.u32()

    return fn


declare(
    "flow",
    0,
    1027,
    _decap("out_"),
    encode=simple("out_decap_inner_header_offset"),
    name="extended_decapsulate_egress",
)
declare(
    "flow",
    0,
    1028,
    _decap("in_"),
    encode=simple("in_decap_inner_header_offset"),
    name="extended_decapsulate_ingress",
)
# the egress VNI only where no ingress one was seen: not write-only
declare(
    "flow",
    0,
    1029,
    _vni("out_"),
    encode=simple("out_VNI"),
    attributes=fk.vni_out,
    name="extended_vni_egress",
)
declare(
    "flow",
    0,
    1030,
    _vni("in_"),
    encode=simple("in_VNI"),
    attributes=fk.vni_in,
    write_only=True,
    name="extended_vni_ingress",
)


@flow_record(
    0, 1036, encode=simple("egress_queue_id"), attributes=fk.one_u32("queueindex"), write_only=True
)
def extended_egress_queue(r, length, d):
    d["extendedType"] = "egress_queue"
    d["egress_queue_id"] = r.u32()


@flow_record(
    0, 1038, encode=simple("symbol:str"), attributes=fk.strings("function"), write_only=True
)
def extended_function(r, length, d):
    d["extendedType"] = "function"
    _opt(r, d, "symbol")


@flow_record(
    0,
    1039,
    encode=simple("transit_delay_nS"),
    attributes=fk.one_u32("transitdelay"),
    write_only=True,
)
def extended_transit(r, length, d):
    d["extendedType"] = "transit_delay"
    d["transit_delay_nS"] = r.u32()


@flow_record(
    0,
    1040,
    encode=simple("queue_depth_bytes"),
    attributes=fk.one_u32("queuedepth"),
    write_only=True,
)
def extended_queue(r, length, d):
    d["extendedType"] = "queue_depth"
    d["queue_depth_bytes"] = r.u32()


@flow_record(
    0,
    1041,
    encode=simple("hw_trap_group:str hw_trap_name:str"),
    attributes=fk.strings("hwtrapgroup", "hwtrapname"),
    write_only=True,
)
def extended_hw_trap(r, length, d):
    d["extendedType"] = "hw_trap"
    _opt(r, d, "hw_trap_group")
    _opt(r, d, "hw_trap_name")


@flow_record(
    0,
    1042,
    encode=simple("linux_drop_reason:str"),
    attributes=fk.strings("linuxdropreason"),
    write_only=True,
)
def extended_linux_drop_reason(r, length, d):
    d["extendedType"] = "linux_reason"
    _opt(r, d, "linux_drop_reason")


@flow_record(0, 1043, encode=simple("timestamp_nS:u64"))
def extended_timestamp(r, length, d):
    d["extendedType"] = "timestamp"
    d["timestamp_nS"] = r.u64()


# ------------------------------------------------------------------ sockets and applications


def _socket(prefix, six):
    def fn(r, length, d):
        d["extendedType"] = prefix
        d[prefix + "_ip_protocol"] = r.u32()
        d[prefix + "_local_ip"] = r.ip6() if six else r.ip4()
        d[prefix + "_remote_ip"] = r.ip6() if six else r.ip4()
        d[prefix + "_local_port"] = r.u32()
        d[prefix + "_remote_port"] = r.u32()

    return fn


def _enc_socket(prefix, six):
    kind = "ip6" if six else "ip4"
    return simple(
        f"ip_protocol local_ip:{kind} remote_ip:{kind} local_port remote_port", prefix + "_"
    )


for _fmt, _prefix, _six, _keys in (
    (2100, "socket4", False, fk.socket4("")),
    (2101, "socket6", True, fk.socket6("")),
    (2102, "proxy_socket4", False, fk.socket4("proxy")),
    (2103, "proxy_socket6", True, fk.socket6("proxy")),
):
    declare(
        "flow",
        0,
        _fmt,
        _socket(_prefix, _six),
        encode=_enc_socket(_prefix, _six),
        attributes=_keys,
        write_only=True,
        name="extended_" + _prefix,
    )


@flow_record(
    0,
    2200,
    encode=simple(
        "memcache_op_protocol memcache_op_cmd memcache_op_key:str "
        "memcache_op_nkeys memcache_op_value_bytes "
        "memcache_op_duration_uS memcache_op_status"
    ),
    attributes=fk.memcache,
)
def memcache_operation(r, length, d):
    d["flowSampleType"] = "memcache"
    d["memcache_op_protocol"] = r.u32()
    d["memcache_op_cmd"] = r.u32()
    _opt(r, d, "memcache_op_key")
    d["memcache_op_nkeys"] = r.u32()
    d["memcache_op_value_bytes"] = r.u32()
    d["memcache_op_duration_uS"] = r.u32()
    d["memcache_op_status"] = r.u32()


def _http(new):
    def fn(r, length, d):
        d["flowSampleType"] = "http"
        d["http_method"] = r.u32()
        d["http_protocol"] = r.u32()
        _opt(r, d, "http_uri")
        _opt(r, d, "http_host")
        _opt(r, d, "http_referrer")
        _opt(r, d, "http_useragent")
        if new:
            _opt(r, d, "http_xff")
        _opt(r, d, "http_authuser")
        _opt(r, d, "http_mimetype")
        if new:
            d["http_request_bytes"] = r.u64()
        d["http_bytes"] = r.u64()
        d["http_duration_uS"] = r.u32()
        d["http_status"] = r.u32()

    return fn


def _enc_http(xff: bool):
    head = _fields(
        "http_method http_protocol http_uri:str http_host:str http_referrer:str http_useragent:str"
    )
    mid = _fields("http_authuser:str http_mimetype:str")

    def enc(d: dict) -> bytes:
        out = pack_fields(head, d)
        if xff:
            out += string(d.get("http_xff"))
        out += pack_fields(mid, d)
        if xff:
            out += u64(d.get("http_request_bytes"))
        return (
            out
            + u64(d.get("http_bytes"))
            + u32(d.get("http_duration_uS"))
            + u32(d.get("http_status"))
        )

    return enc


declare(
    "flow",
    0,
    2201,
    _http(False),
    encode=_enc_http(False),
    attributes=fk.http(False),
    name="http_request_deprecated",
)
declare(
    "flow",
    0,
    2206,
    _http(True),
    encode=_enc_http(True),
    attributes=fk.http(True),
    name="http_request",
)

# the flow keys' status names (flow_keys.APP_STATUS), code 10 spelled as sflowtool prints it
APP_STATUS = fk.APP_STATUS[:10] + ("UNATHORIZED",)


def _enum(v, names: list[str]) -> int:
    if isinstance(v, str) and not v.isdigit():
        if v in names:
            return names.index(v)
        if v == "UNAUTHORIZED" and "UNATHORIZED" in names:
            return names.index("UNATHORIZED")
        if v.startswith("<out-of-range="):
            return int(v[14:-1])
        raise EncodeError(f"unknown value {v!r}")
    return as_int(v)


def _enc_app_operation(d: dict) -> bytes:
    return pack_fields(
        _fields(
            "application:str operation:str attributes:str status_descr:str "
            "request_bytes:u64 response_bytes:u64 duration_uS"
        ),
        d,
    ) + u32(_enum(d.get("status", 0), list(APP_STATUS)))


@flow_record(0, 2202, encode=_enc_app_operation, attributes=fk.app)
def app_operation(r, length, d):
    d["flowSampleType"] = "applicationOperation"
    _opt(r, d, "application")
    _opt(r, d, "operation")
    _opt(r, d, "attributes")
    _opt(r, d, "status_descr")
    d["request_bytes"] = r.u64()
    d["response_bytes"] = r.u64()
    d["duration_uS"] = r.u32()
    st = r.u32()
    d["status"] = APP_STATUS[st] if st < len(APP_STATUS) else f"<out-of-range={st}>"


@flow_record(
    0,
    2203,
    encode=simple(
        "server_context_application:str server_context_operation:str server_context_attributes:str"
    ),
    attributes=fk.strings("appparentapplication", "appparentoperation", "appparentattributes"),
    write_only=True,
)
def app_parent_context(r, length, d):
    _opt(r, d, "server_context_application")
    _opt(r, d, "server_context_operation")
    _opt(r, d, "server_context_attributes")


@flow_record(
    0,
    2204,
    encode=simple("actor_initiator:str"),
    attributes=fk.strings("actorinitiator"),
    write_only=True,
)
def app_initiator(r, length, d):
    _opt(r, d, "actor_initiator")


@flow_record(
    0,
    2205,
    encode=simple("actor_target:str"),
    attributes=fk.strings("actortarget"),
    write_only=True,
)
def app_target(r, length, d):
    _opt(r, d, "actor_target")


TCP_DIRECTION = fk.TCP_DIRECTION


def _enc_tcp_info(d: dict) -> bytes:
    return u32(_enum(d.get("tcpinfo_direction", 0), list(TCP_DIRECTION))) + pack_fields(
        _fields(
            "tcpinfo_send_mss tcpinfo_receive_mss tcpinfo_unacked_pkts tcpinfo_lost_pkts "
            "tcpinfo_retrans_pkts tcpinfo_path_mtu tcpinfo_rtt_uS tcpinfo_rtt_uS_var "
            "tcpinfo_send_congestion_win tcpinfo_reordering tcpinfo_rtt_uS_min"
        ),
        d,
    )


@flow_record(0, 2209, encode=_enc_tcp_info, attributes=fk.tcp_info, write_only=True)
def extended_tcp_info(r, length, d):
    dirn = r.u32()
    d["tcpinfo_direction"] = TCP_DIRECTION[dirn] if dirn < 3 else "<bad value>"
    for name in (
        "send_mss",
        "receive_mss",
        "unacked_pkts",
        "lost_pkts",
        "retrans_pkts",
        "path_mtu",
        "rtt_uS",
        "rtt_uS_var",
        "send_congestion_win",
        "reordering",
        "rtt_uS_min",
    ):
        d["tcpinfo_" + name] = r.u32()


@flow_record(
    0,
    2210,
    encode=simple("entities_src_class entities_src_index entities_dst_class entities_dst_index"),
)
def extended_entities(r, length, d):
    d["extendedType"] = "entities"
    d["entities_src_class"] = r.u32()
    d["entities_src_index"] = r.u32()
    d["entities_dst_class"] = r.u32()
    d["entities_dst_index"] = r.u32()
