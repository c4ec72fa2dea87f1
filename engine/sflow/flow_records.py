"""Flow record decoders (sflowtool field names; values are Python ints/floats/strings).

Each function reads one record with the Reader `r` (bounded by the record) and fills `d`.
Field order and names follow sflowtool 6.11 (readFlowSampleElements). Where sflowtool logs a
string only when it is non-empty, so do we (`_opt`).
"""
from __future__ import annotations

from .datagram import DecodeError
from .enums import APP_STATUS_SFLOWTOOL, TCP_DIRECTION
from .header import decode_header, wifi_addresses
from .records import V2V4_ENTERPRISE, flow_record
from .xdr import Reader


def _opt(r: Reader, d: dict, name: str) -> None:
    s = r.string()
    if s:
        d[name] = s


# ------------------------------------------------------------------ sampled header (0:1)

MAX_HEADER = 65535


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
        d["IPID"] = ((ipid & 0xFF) << 8) | (ipid >> 8)   # sflowtool prints it unswapped
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


@flow_record(0, 1)
def sampled_header(r, length, d):
    _read_header(r, d, True)


@flow_record(V2V4_ENTERPRISE, 1, "0:1")
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


flow_record(0, 2)(lambda r, length, d: _ethernet(r, d))
flow_record(0, 3)(lambda r, length, d: _ipv4(r, d))
flow_record(0, 4)(lambda r, length, d: _ipv6(r, d))
flow_record(0, 1021)(lambda r, length, d: _ethernet(r, d, "tunnel_l2_out_"))
flow_record(0, 1022)(lambda r, length, d: _ethernet(r, d, "tunnel_l2_in_"))
flow_record(0, 1023)(lambda r, length, d: _ipv4(r, d, "tunnel_ipv4_out_"))
flow_record(0, 1024)(lambda r, length, d: _ipv4(r, d, "tunnel_ipv4_in_"))
flow_record(0, 1025)(lambda r, length, d: _ipv6(r, d, "tunnel_ipv6_out_"))
flow_record(0, 1026)(lambda r, length, d: _ipv6(r, d, "tunnel_ipv6_in_"))


# ------------------------------------------------------------------ extended switch/router/gateway

@flow_record(0, 1001)
def extended_switch(r, length, d):
    d["extendedType"] = "SWITCH"
    d["in_vlan"] = r.u32()
    d["in_priority"] = r.u32()
    d["out_vlan"] = r.u32()
    d["out_priority"] = r.u32()


@flow_record(0, 1002)
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


@flow_record(0, 1003)
def extended_gateway(r, length, d):
    d["extendedType"] = "GATEWAY"
    d["bgp_nexthop"] = r.address()
    _gateway_tail(r, d)


@flow_record(V2V4_ENTERPRISE, 1003, "0:1003")
def extended_gateway_v4(r, length, d):
    d["extendedType"] = "GATEWAY"
    _gateway_tail(r, d)


@flow_record(V2V4_ENTERPRISE, 2003, "0:1003")
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


@flow_record(0, 1004)
def extended_user(r, length, d):
    d["extendedType"] = "USER"
    d["src_user_charset"] = r.u32()
    d["src_user"] = r.string()
    d["dst_user_charset"] = r.u32()
    d["dst_user"] = r.string()


@flow_record(V2V4_ENTERPRISE, 1004, "0:1004")
def extended_user_v4(r, length, d):
    d["extendedType"] = "USER"
    d["src_user"] = r.string()
    d["dst_user"] = r.string()


@flow_record(0, 1005)
def extended_url(r, length, d):
    d["extendedType"] = "URL"
    d["url_direction"] = r.u32()
    d["url"] = r.string()
    d["host"] = r.string()


@flow_record(V2V4_ENTERPRISE, 1005, "0:1005")
def extended_url_v4(r, length, d):
    d["extendedType"] = "URL"
    d["url_direction"] = r.u32()
    d["url"] = r.string()


def _label_stack(r, d, name):
    n = r.count("MPLS label")
    if n:
        parts = []
        for _ in range(n):
            lab = r.u32()
            parts.append(f"{lab >> 12}.{(lab >> 9) & 7}.{(lab >> 8) & 1}.{lab & 255}")
        d[name] = "-".join(parts)


@flow_record(0, 1006)
def extended_mpls(r, length, d):
    d["extendedType"] = "MPLS"
    d["mpls_nexthop"] = r.address()
    _label_stack(r, d, "mpls_input_stack")
    _label_stack(r, d, "mpls_output_stack")


@flow_record(0, 1007)
def extended_nat(r, length, d):
    d["extendedType"] = "NAT"
    d["nat_src"] = r.address()
    d["nat_dst"] = r.address()


@flow_record(0, 1008)
def extended_mpls_tunnel(r, length, d):
    _opt(r, d, "mpls_tunnel_lsp_name")
    d["mpls_tunnel_id"] = r.u32()
    d["mpls_tunnel_cos"] = r.u32()


@flow_record(0, 1009)
def extended_mpls_vc(r, length, d):
    _opt(r, d, "mpls_vc_name")
    d["mpls_vll_vc_id"] = r.u32()
    d["mpls_vc_cos"] = r.u32()


@flow_record(0, 1010)
def extended_mpls_ftn(r, length, d):
    _opt(r, d, "mpls_ftn_descr")
    d["mpls_ftn_mask"] = r.u32()


@flow_record(0, 1011)
def extended_mpls_ldp_fec(r, length, d):
    d["mpls_fec_addr_prefix_len"] = r.u32()


@flow_record(0, 1012)
def extended_vlantunnel(r, length, d):
    n = r.count("VLAN tunnel")
    if n:
        parts = []
        for _ in range(n):
            lab = r.u32()
            # sflowtool: TPI as 0x-hex immediately followed by priority.CFI.vlan
            parts.append(f"0x{lab >> 16:04x}{(lab >> 13) & 7}.{(lab >> 12) & 1}.{lab & 4095}")
        d["vlan_tunnel"] = "-".join(parts)


@flow_record(0, 1013)
def extended_80211_payload(r, length, d):
    d["cipher_suite"] = r.u32()
    _read_header(r, d, True)


@flow_record(0, 1014)
def extended_80211_rx(r, length, d):
    _opt(r, d, "rx_SSID")
    d["rx_BSSID"] = r.mac()
    d["rx_version"] = r.u32()
    d["rx_channel"] = r.u32()
    d["rx_speed"] = r.u64()
    d["rx_rsni"] = r.u32()
    d["rx_rcpi"] = r.u32()
    d["rx_packet_uS"] = r.u32()


@flow_record(0, 1015)
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


@flow_record(0, 1020)
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


flow_record(0, 1027)(_decap("out_"))
flow_record(0, 1028)(_decap("in_"))
flow_record(0, 1029)(_vni("out_"))
flow_record(0, 1030)(_vni("in_"))


@flow_record(0, 1036)
def extended_egress_queue(r, length, d):
    d["extendedType"] = "egress_queue"
    d["egress_queue_id"] = r.u32()


@flow_record(0, 1038)
def extended_function(r, length, d):
    d["extendedType"] = "function"
    _opt(r, d, "symbol")


@flow_record(0, 1039)
def extended_transit(r, length, d):
    d["extendedType"] = "transit_delay"
    d["transit_delay_nS"] = r.u32()


@flow_record(0, 1040)
def extended_queue(r, length, d):
    d["extendedType"] = "queue_depth"
    d["queue_depth_bytes"] = r.u32()


@flow_record(0, 1041)
def extended_hw_trap(r, length, d):
    d["extendedType"] = "hw_trap"
    _opt(r, d, "hw_trap_group")
    _opt(r, d, "hw_trap_name")


@flow_record(0, 1042)
def extended_linux_drop_reason(r, length, d):
    d["extendedType"] = "linux_reason"
    _opt(r, d, "linux_drop_reason")


@flow_record(0, 1043)
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


flow_record(0, 2100)(_socket("socket4", False))
flow_record(0, 2101)(_socket("socket6", True))
flow_record(0, 2102)(_socket("proxy_socket4", False))
flow_record(0, 2103)(_socket("proxy_socket6", True))


@flow_record(0, 2200)
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


flow_record(0, 2201)(_http(False))
flow_record(0, 2206)(_http(True))



@flow_record(0, 2202)
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
    d["status"] = (APP_STATUS_SFLOWTOOL[st] if st < len(APP_STATUS_SFLOWTOOL)
                   else f"<out-of-range={st}>")


@flow_record(0, 2203)
def app_parent_context(r, length, d):
    _opt(r, d, "server_context_application")
    _opt(r, d, "server_context_operation")
    _opt(r, d, "server_context_attributes")


@flow_record(0, 2204)
def app_initiator(r, length, d):
    _opt(r, d, "actor_initiator")


@flow_record(0, 2205)
def app_target(r, length, d):
    _opt(r, d, "actor_target")




@flow_record(0, 2209)
def extended_tcp_info(r, length, d):
    dirn = r.u32()
    d["tcpinfo_direction"] = TCP_DIRECTION[dirn] if dirn < 3 else "<bad value>"
    for name in ("send_mss", "receive_mss", "unacked_pkts", "lost_pkts", "retrans_pkts",
                 "path_mtu", "rtt_uS", "rtt_uS_var", "send_congestion_win", "reordering",
                 "rtt_uS_min"):
        d["tcpinfo_" + name] = r.u32()


@flow_record(0, 2210)
def extended_entities(r, length, d):
    d["extendedType"] = "entities"
    d["entities_src_class"] = r.u32()
    d["entities_src_index"] = r.u32()
    d["entities_dst_class"] = r.u32()
    d["entities_dst_index"] = r.u32()
