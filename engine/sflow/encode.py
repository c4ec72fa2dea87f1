"""sFlow encoder: the inverse of the decoder, for the generator, tests and benchmarks.

Two levels:

- bytes level (fast, used by the generator's hot loop): ``record(tag, body)``,
  ``flow_sample(...)``, ``counter_sample(...)``, ``discard_sample(...)``, ``datagram(...)``.
- dict level: ``encode_flow_record(d)`` / ``encode_counter_record(d)`` take the record dicts the
  decoder's ``records()`` returns (sflowtool field names, Python values) and
  ``encode_datagram(d)`` takes a whole datagram as a dict (see ``datagram_to_dict``, which
  turns a decoded Datagram into that form, so decode -> encode -> decode round-trips).

Missing numeric fields encode as 0 and missing strings as "" (sflowtool omits empty strings,
so that is the value they had). Values may be given the way sflowtool prints them (numbers as
decimal strings, MACs as hex, headerBytes as "0A-1B-..") or as Python values.
"""
from __future__ import annotations

import ipaddress
import struct
import uuid as _uuid

from .enums import APP_STATUS_SFLOWTOOL, TCP_DIRECTION

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")
_TL = struct.Struct(">II")
_FLOW_COMPACT = struct.Struct(">8I")
_FLOW_EXPANDED = struct.Struct(">11I")
_DISCARD = struct.Struct(">8I")
_CNT_COMPACT = struct.Struct(">3I")
_CNT_EXPANDED = struct.Struct(">4I")
_DG_V4 = struct.Struct(">II4sIIII")
_DG_V6 = struct.Struct(">II16sIIII")


class EncodeError(ValueError):
    pass


# -- primitives -------------------------------------------------------------------------------
def tag_number(tag) -> int:
    """'e:f' or (e, f) or an int -> the 32-bit enterprise<<12|format tag."""
    if isinstance(tag, int):
        return tag
    if isinstance(tag, tuple):
        return tag[0] << 12 | tag[1]
    enterprise, _, fmt = str(tag).partition(":")
    return int(enterprise) << 12 | int(fmt)


def pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) & 3)


def u32(v) -> bytes:
    return _U32.pack(_int(v) & 0xFFFFFFFF)


def u64(v) -> bytes:
    return _U64.pack(_int(v) & 0xFFFFFFFFFFFFFFFF)


def opaque(b: bytes) -> bytes:
    return _U32.pack(len(b)) + pad(b)


def string(s) -> bytes:
    if s is None:
        s = ""
    return opaque(s.encode("utf-8", "surrogateescape") if isinstance(s, str) else bytes(s))


def address(a) -> bytes:
    """sFlow address: type 1 (IPv4) / 2 (IPv6) then the address; None/"" is 0.0.0.0."""
    if a in (None, ""):
        return _U32.pack(1) + b"\0\0\0\0"
    ip = ipaddress.ip_address(a)
    return _U32.pack(1 if ip.version == 4 else 2) + ip.packed


def ip4(a) -> bytes:
    return ipaddress.IPv4Address(a or "0.0.0.0").packed


def ip6(a) -> bytes:
    return ipaddress.IPv6Address(a or "::").packed


def mac(m) -> bytes:
    """A MAC as XDR opaque[6]: 6 bytes padded to 8."""
    return pad(mac6(m))


def mac6(m) -> bytes:
    if m in (None, ""):
        return b"\0" * 6
    if isinstance(m, (bytes, bytearray)):
        return bytes(m)
    return bytes.fromhex(str(m).replace(":", "").replace("-", "").rjust(12, "0"))


def _int(v) -> int:
    if v is None or v == "":
        return 0
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    s = str(v)
    return int(s, 16) if s[:2].lower() == "0x" else int(s)


def _float(v) -> float:
    return 0.0 if v in (None, "") else float(v)


def hexbytes(v) -> bytes:
    if v is None:
        return b""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    return bytes.fromhex(str(v).replace("-", "").replace(":", "").replace(" ", ""))


def percentage(v) -> bytes:
    """sFlow percentage: hundredths of a percent in 32 bits, -1 (all ones) = unknown."""
    if v in (None, "unknown") or (isinstance(v, int) and v < 0):
        return _U32.pack(0xFFFFFFFF)
    return _U32.pack(int(round(float(v) * 100)) & 0xFFFFFFFF)


def record(tag, body: bytes) -> bytes:
    """A flow or counter record: tag, length, body (padded to a multiple of 4)."""
    body = pad(body)
    return _TL.pack(tag_number(tag), len(body)) + body


# -- samples and datagrams (bytes level) ------------------------------------------------------
def flow_sample(seq: int, ds_class: int, ds_index: int, sampling_rate: int, sample_pool: int,
                drops: int, input: int, output: int, records: list[bytes],
                input_format: int = 0, output_format: int = 0, expanded: bool = False) -> bytes:
    """Flow sample 0:1 (compact) or 0:3 (expanded) holding already-encoded records."""
    body = b"".join(records)
    if expanded:
        head = _FLOW_EXPANDED.pack(seq & 0xFFFFFFFF, ds_class, ds_index, sampling_rate,
                                   sample_pool & 0xFFFFFFFF, drops & 0xFFFFFFFF, input_format,
                                   input, output_format, output, len(records))
        tag = 3
    else:
        if ds_class > 0xFF or ds_index > 0xFFFFFF or input > 0x3FFFFFFF or output > 0x3FFFFFFF:
            raise EncodeError("value too large for a compact flow sample; use expanded")
        head = _FLOW_COMPACT.pack(seq & 0xFFFFFFFF, ds_class << 24 | ds_index, sampling_rate,
                                  sample_pool & 0xFFFFFFFF, drops & 0xFFFFFFFF,
                                  input_format << 30 | input, output_format << 30 | output,
                                  len(records))
        tag = 1
    return _TL.pack(tag, len(head) + len(body)) + head + body


def counter_sample(seq: int, ds_class: int, ds_index: int, records: list[bytes],
                   expanded: bool = False) -> bytes:
    body = b"".join(records)
    if expanded:
        head = _CNT_EXPANDED.pack(seq & 0xFFFFFFFF, ds_class, ds_index, len(records))
        tag = 4
    else:
        if ds_class > 0xFF or ds_index > 0xFFFFFF:
            raise EncodeError("data source too large for a compact counter sample")
        head = _CNT_COMPACT.pack(seq & 0xFFFFFFFF, ds_class << 24 | ds_index, len(records))
        tag = 2
    return _TL.pack(tag, len(head) + len(body)) + head + body


def discard_sample(seq: int, ds_class: int, ds_index: int, drops: int, input: int, output: int,
                   reason: int, records: list[bytes]) -> bytes:
    body = b"".join(records)
    head = _DISCARD.pack(seq & 0xFFFFFFFF, ds_class, ds_index, drops & 0xFFFFFFFF, input, output,
                         reason, len(records))
    return _TL.pack(5, len(head) + len(body)) + head + body


def datagram(agent: str, seq: int, uptime: int, samples: list[bytes], sub_agent: int = 0) -> bytes:
    """sFlow v5 datagram from already-encoded samples."""
    ip = ipaddress.ip_address(agent)
    if ip.version == 4:
        head = _DG_V4.pack(5, 1, ip.packed, sub_agent, seq & 0xFFFFFFFF, uptime & 0xFFFFFFFF,
                           len(samples))
    else:
        head = _DG_V6.pack(5, 2, ip.packed, sub_agent, seq & 0xFFFFFFFF, uptime & 0xFFFFFFFF,
                           len(samples))
    return head + b"".join(samples)


# -- record bodies from dicts -----------------------------------------------------------------
# A field list is a sequence of (name, kind). Kinds: u32 u64 f32 f64 str addr mac ip4 ip6 pct.
_KIND = {
    "u32": lambda v: u32(v),
    "u64": lambda v: u64(v),
    "f32": lambda v: _F32.pack(_float(v)),
    "f64": lambda v: _F64.pack(_float(v)),
    "str": string,
    "addr": address,
    "mac": mac,
    "ip4": ip4,
    "ip6": ip6,
    "pct": percentage,
}


def _fields(spec: str) -> list[tuple[str, str]]:
    """'a b:u64 c:str' -> [(a,u32),(b,u64),(c,str)]."""
    out = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        out.append((name, kind or "u32"))
    return out


def _pack_fields(fields, d: dict, prefix: str = "") -> bytes:
    return b"".join(_KIND[kind](d.get(prefix + name)) for name, kind in fields)


def _simple(spec: str, prefix: str = ""):
    fields = _fields(spec)
    return lambda d: _pack_fields(fields, d, prefix)


def _header(d: dict, prefix: str = "") -> bytes:
    data = hexbytes(d.get(prefix + "headerBytes"))
    header_len = d.get(prefix + "headerLen")
    header_len = len(data) if header_len in (None, "") else _int(header_len)
    return (u32(d.get(prefix + "headerProtocol")) + u32(d.get(prefix + "sampledPacketSize"))
            + u32(d.get(prefix + "strippedBytes")) + u32(header_len) + pad(data))


def _ports(d: dict, prefix: str) -> tuple[int, int, int]:
    proto = _int(d.get(prefix + "IPProtocol"))
    if proto == 6:
        return (_int(d.get(prefix + "TCPSrcPort")), _int(d.get(prefix + "TCPDstPort")),
                _int(d.get(prefix + "TCPFlags")))
    if proto == 17:
        return _int(d.get(prefix + "UDPSrcPort")), _int(d.get(prefix + "UDPDstPort")), 0
    if proto == 1:
        return _int(d.get(prefix + "ICMPCode")), _int(d.get(prefix + "ICMPType")), 0
    return _int(d.get(prefix + "src_port")), _int(d.get(prefix + "dst_port")), \
        _int(d.get(prefix + "tcp_flags"))


def _sampled_ipv4(prefix: str = ""):
    def enc(d: dict) -> bytes:
        sport, dport, flags = _ports(d, prefix)
        return (u32(d.get(prefix + "sampledPacketSize")) + u32(d.get(prefix + "IPProtocol"))
                + ip4(d.get(prefix + "srcIP")) + ip4(d.get(prefix + "dstIP"))
                + u32(sport) + u32(dport) + u32(flags) + u32(d.get(prefix + "IPTOS")))
    return enc


def _sampled_ipv6(prefix: str = ""):
    def enc(d: dict) -> bytes:
        sport, dport, flags = _ports(d, prefix)
        return (u32(d.get(prefix + "sampledPacketSize")) + u32(d.get(prefix + "IPProtocol"))
                + ip6(d.get(prefix + "srcIP6")) + ip6(d.get(prefix + "dstIP6"))
                + u32(sport) + u32(dport) + u32(flags) + u32(d.get(prefix + "priority")))
    return enc


def _sampled_ethernet(prefix: str = ""):
    def enc(d: dict) -> bytes:
        return (u32(d.get(prefix + "ethernet_len")) + mac(d.get(prefix + "ethernet_src"))
                + mac(d.get(prefix + "ethernet_dst")) + u32(d.get(prefix + "ethernet_type")))
    return enc


def _int_list(v) -> list[int]:
    """A list of numbers given as a list or as sflowtool's 'a-b-c' string."""
    if v in (None, ""):
        return []
    if isinstance(v, (list, tuple)):
        return [_int(x) for x in v]
    return [int(x) for x in str(v).split("-") if x != ""]


def _as_path_segments(d: dict) -> list[tuple[int, list[int]]]:
    """dst_as_path as a list of (type, [asn..]) segments. Accepts a 'dst_as_path_segments'
    list, a list of ints, or sflowtool's string where '(a-b)' marks an AS_SET."""
    segs = d.get("dst_as_path_segments")
    if segs is not None:
        out = []
        for seg in segs:
            if isinstance(seg, dict):
                out.append((_int(seg.get("type", 2)), _int_list(seg.get("asns", seg.get("path")))))
            else:
                out.append((_int(seg[0]), _int_list(seg[1])))
        return out
    path = d.get("dst_as_path")
    if path in (None, ""):
        return []
    if isinstance(path, (list, tuple)):
        return [(2, _int_list(path))]
    text = str(path)
    out: list[tuple[int, list[int]]] = []
    while text:
        if text[0] == "(":
            end = text.index(")")
            out.append((1, _int_list(text[1:end])))
            text = text[end + 1:]
        else:
            end = text.find("(")
            part, text = (text, "") if end < 0 else (text[:end], text[end:])
            out.append((2, _int_list(part)))
    return out


def _gateway(d: dict, version: int = 5) -> bytes:
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


def _mpls_labels(v) -> list[int]:
    """Label stack as ints, or sflowtool's 'label.exp.bos.ttl-...' text."""
    if v in (None, ""):
        return []
    if isinstance(v, (list, tuple)):
        return [_int(x) for x in v]
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
        return [_int(x) for x in v]
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


def _mpls(d: dict) -> bytes:
    return (address(d.get("mpls_nexthop")) + _stack(_mpls_labels(d.get("mpls_input_stack")))
            + _stack(_mpls_labels(d.get("mpls_output_stack"))))




def _enum(v, names: tuple[str, ...]) -> int:
    if isinstance(v, str) and not v.isdigit():
        if v in names:
            return names.index(v)
        if v == "UNAUTHORIZED" and "UNATHORIZED" in names:
            return names.index("UNATHORIZED")
        if v.startswith("<out-of-range="):
            return int(v[14:-1])
        raise EncodeError(f"unknown value {v!r}")
    return _int(v)


def _app_operation(d: dict) -> bytes:
    return (_pack_fields(_fields("application:str operation:str attributes:str status_descr:str "
                                 "request_bytes:u64 response_bytes:u64 duration_uS"), d)
            + u32(_enum(d.get("status", 0), APP_STATUS_SFLOWTOOL)))


def _http(xff: bool):
    head = _fields("http_method http_protocol http_uri:str http_host:str http_referrer:str "
                   "http_useragent:str")
    mid = _fields("http_authuser:str http_mimetype:str")

    def enc(d: dict) -> bytes:
        out = _pack_fields(head, d)
        if xff:
            out += string(d.get("http_xff"))
        out += _pack_fields(mid, d)
        if xff:
            out += u64(d.get("http_request_bytes"))
        return out + u64(d.get("http_bytes")) + u32(d.get("http_duration_uS")) + \
            u32(d.get("http_status"))
    return enc


def _tcp_info(d: dict) -> bytes:
    return u32(_enum(d.get("tcpinfo_direction", 0), TCP_DIRECTION)) + _pack_fields(_fields(
        "tcpinfo_send_mss tcpinfo_receive_mss tcpinfo_unacked_pkts tcpinfo_lost_pkts "
        "tcpinfo_retrans_pkts tcpinfo_path_mtu tcpinfo_rtt_uS tcpinfo_rtt_uS_var "
        "tcpinfo_send_congestion_win tcpinfo_reordering tcpinfo_rtt_uS_min"), d)


def _wifi_payload(d: dict) -> bytes:
    return u32(d.get("cipher_suite")) + _header(d)


def _socket(v: int, proxy: bool):
    p = ("proxy_" if proxy else "") + f"socket{v}_"
    kind = "ip4" if v == 4 else "ip6"
    return _simple(f"ip_protocol local_ip:{kind} remote_ip:{kind} local_port remote_port", p)


FLOW_RECORDS = {
    "0:1": _header,
    "0:2": _sampled_ethernet(),
    "0:3": _sampled_ipv4(),
    "0:4": _sampled_ipv6(),
    "0:1001": _simple("in_vlan in_priority out_vlan out_priority"),
    "0:1002": _simple("nextHop:addr srcSubnetMask dstSubnetMask"),
    "0:1003": _gateway,
    "0:1004": _simple("src_user_charset src_user:str dst_user_charset dst_user:str"),
    "0:1005": _simple("url_direction url:str host:str"),
    "0:1006": _mpls,
    "0:1007": _simple("nat_src:addr nat_dst:addr"),
    "0:1008": _simple("mpls_tunnel_lsp_name:str mpls_tunnel_id mpls_tunnel_cos"),
    "0:1009": _simple("mpls_vc_name:str mpls_vll_vc_id mpls_vc_cos"),
    "0:1010": _simple("mpls_ftn_descr:str mpls_ftn_mask"),
    "0:1011": _simple("mpls_fec_addr_prefix_len"),
    "0:1012": lambda d: _stack(_vlan_stack(d.get("vlan_tunnel"))),
    "0:1013": _wifi_payload,
    "0:1014": _simple("rx_SSID:str rx_BSSID:mac rx_version rx_channel rx_speed:u64 rx_rsni "
                      "rx_rcpi rx_packet_uS"),
    "0:1015": _simple("tx_SSID:str tx_BSSID:mac tx_version tx_transmissions tx_packet_uS "
                      "tx_retrans_uS tx_channel tx_speed:u64 tx_power_mW"),
    "0:1020": _simple("nat_src_port nat_dst_port"),
    "0:1021": _sampled_ethernet("tunnel_l2_out_"),
    "0:1022": _sampled_ethernet("tunnel_l2_in_"),
    "0:1023": _sampled_ipv4("tunnel_ipv4_out_"),
    "0:1024": _sampled_ipv4("tunnel_ipv4_in_"),
    "0:1025": _sampled_ipv6("tunnel_ipv6_out_"),
    "0:1026": _sampled_ipv6("tunnel_ipv6_in_"),
    "0:1027": _simple("out_decap_inner_header_offset"),
    "0:1028": _simple("in_decap_inner_header_offset"),
    "0:1029": _simple("out_VNI"),
    "0:1030": _simple("in_VNI"),
    "0:1036": _simple("egress_queue_id"),
    "0:1038": _simple("symbol:str"),
    "0:1039": _simple("transit_delay_nS"),
    "0:1040": _simple("queue_depth_bytes"),
    "0:1041": _simple("hw_trap_group:str hw_trap_name:str"),
    "0:1042": _simple("linux_drop_reason:str"),
    "0:1043": _simple("timestamp_nS:u64"),
    "0:2100": _socket(4, False),
    "0:2101": _socket(6, False),
    "0:2102": _socket(4, True),
    "0:2103": _socket(6, True),
    "0:2200": _simple("memcache_op_protocol memcache_op_cmd memcache_op_key:str "
                      "memcache_op_nkeys memcache_op_value_bytes memcache_op_duration_uS "
                      "memcache_op_status"),
    "0:2201": _http(False),
    "0:2202": _app_operation,
    "0:2203": _simple("server_context_application:str server_context_operation:str "
                      "server_context_attributes:str"),
    "0:2204": _simple("actor_initiator:str"),
    "0:2205": _simple("actor_target:str"),
    "0:2206": _http(True),
    "0:2209": _tcp_info,
    "0:2210": _simple("entities_src_class entities_src_index entities_dst_class "
                      "entities_dst_index"),
}


def _adaptors(d: dict) -> bytes:
    adaptors = d.get("adaptor_list") or []
    out = [u32(len(adaptors))]
    for a in adaptors:
        macs = a.get("mac_list") or []
        out.append(u32(a.get("ifIndex")) + u32(len(macs)) + b"".join(mac(m) for m in macs))
    return b"".join(out)


def _uuid_bytes(v) -> bytes:
    if v in (None, ""):
        return b"\0" * 16
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    return _uuid.UUID(str(v)).bytes


def _host_descr(d: dict) -> bytes:
    return (string(d.get("hostname")) + _uuid_bytes(d.get("UUID")) + u32(d.get("machine_type"))
            + u32(d.get("os_name")) + string(d.get("os_release")))


_CPU = _fields("cpu_load_one:f32 cpu_load_five:f32 cpu_load_fifteen:f32 cpu_proc_run "
               "cpu_proc_total cpu_num cpu_speed cpu_uptime cpu_user cpu_nice cpu_system "
               "cpu_idle cpu_wio cpuintr cpu_sintr cpuinterrupts cpu_contexts")
_CPU_2014 = _fields("cpu_steal cpu_guest cpu_guest_nice")


def _host_cpu(d: dict) -> bytes:
    out = _pack_fields(_CPU, d)
    # The three 2014 fields make the record 80 bytes; agents that predate them send 68.
    if any(k in d for k in ("cpu_steal", "cpu_guest", "cpu_guest_nice")):
        out += _pack_fields(_CPU_2014, d)
    return out


_JMX = _fields("heap_mem_initial:u64 heap_mem_used:u64 heap_mem_committed:u64 heap_mem_max:u64 "
               "non_heap_mem_initial:u64 non_heap_mem_used:u64 non_heap_mem_committed:u64 "
               "non_heap_mem_max:u64 gc_count gc_mS classes_loaded classes_total "
               "classes_unloaded compilation_mS threads_live threads_daemon threads_started")


def _jmx(d: dict) -> bytes:
    out = _pack_fields(_JMX, d)
    if "fds_open" in d or "fds_max" in d:
        out += u32(d.get("fds_open")) + u32(d.get("fds_max"))
    return out


def _lacp(d: dict) -> bytes:
    states = bytes(_int(d.get(k)) & 0xFF for k in ("actorAdminPortState", "actorOperPortState",
                                                   "partnerAdminPortState", "partnerOperPortState"))
    return (mac(d.get("actorSystemID")) + mac(d.get("partnerSystemID")) + u32(d.get("attachedAggID"))
            + states + _pack_fields(_fields(
                "LACPDUsRx markerPDUsRx markerResponsePDUsRx unknownRx illegalRx LACPDUsTx "
                "markerPDUsTx markerResponsePDUsTx"), d))


_SFP_LANE = ["index", "tx_bias_current_uA", "tx_power_uW", "tx_power_min_uW", "tx_power_max_uW",
             "tx_wavelength_nM", "rx_power_uW", "rx_power_min_uW", "rx_power_max_uW",
             "rx_wavelength_nM"]


def _lane_value(lane: dict, name: str):
    if name in lane:
        return lane[name]
    for key, value in lane.items():  # sflowtool's JSON names some lane fields "x.%u"
        if key.split(".")[0] == name:
            return value
    return 0


def _sfp(d: dict) -> bytes:
    lanes = d.get("sfp_lanes") or []
    out = _pack_fields(_fields("sfp_module_id sfp_module_total_lanes sfp_module_supply_voltage "
                               "sfp_module_temperature"), d) + u32(len(lanes))
    for lane in lanes:
        out += b"".join(u32(_lane_value(lane, n)) for n in _SFP_LANE)
    return out


def _of_port(d: dict) -> bytes:
    dpid = d.get("openflow_datapath_id")
    dpid = int(dpid, 16) if isinstance(dpid, str) else _int(dpid)
    return u64(dpid) + u32(d.get("openflow_port"))


COUNTER_RECORDS = {
    "0:1": _simple("ifIndex networkType ifSpeed:u64 ifDirection ifStatus ifInOctets:u64 "
                   "ifInUcastPkts ifInMulticastPkts ifInBroadcastPkts ifInDiscards ifInErrors "
                   "ifInUnknownProtos ifOutOctets:u64 ifOutUcastPkts ifOutMulticastPkts "
                   "ifOutBroadcastPkts ifOutDiscards ifOutErrors ifPromiscuousMode"),
    "0:2": _simple("dot3StatsAlignmentErrors dot3StatsFCSErrors dot3StatsSingleCollisionFrames "
                   "dot3StatsMultipleCollisionFrames dot3StatsSQETestErrors "
                   "dot3StatsDeferredTransmissions dot3StatsLateCollisions "
                   "dot3StatsExcessiveCollisions dot3StatsInternalMacTransmitErrors "
                   "dot3StatsCarrierSenseErrors dot3StatsFrameTooLongs "
                   "dot3StatsInternalMacReceiveErrors dot3StatsSymbolErrors"),
    "0:3": _simple("dot5StatsLineErrors dot5StatsBurstErrors dot5StatsACErrors "
                   "dot5StatsAbortTransErrors dot5StatsInternalErrors dot5StatsLostFrameErrors "
                   "dot5StatsReceiveCongestions dot5StatsFrameCopiedErrors dot5StatsTokenErrors "
                   "dot5StatsSoftErrors dot5StatsHardErrors dot5StatsSignalLoss "
                   "dot5StatsTransmitBeacons dot5StatsRecoverys dot5StatsLobeWires "
                   "dot5StatsRemoves dot5StatsSingles dot5StatsFreqErrors"),
    "0:4": _simple("dot12InHighPriorityFrames dot12InHighPriorityOctets:u64 "
                   "dot12InNormPriorityFrames dot12InNormPriorityOctets:u64 dot12InIPMErrors "
                   "dot12InOversizeFrameErrors dot12InDataErrors dot12InNullAddressedFrames "
                   "dot12OutHighPriorityFrames dot12OutHighPriorityOctets:u64 "
                   "dot12TransitionIntoTrainings dot12HCInHighPriorityOctets:u64 "
                   "dot12HCInNormPriorityOctets:u64 dot12HCOutHighPriorityOctets:u64"),
    "0:5": _simple("in_vlan octets:u64 ucastPkts multicastPkts broadcastPkts discards"),
    "0:6": _simple("dot11TransmittedFragmentCount dot11MulticastTransmittedFrameCount "
                   "dot11FailedCount dot11RetryCount dot11MultipleRetryCount "
                   "dot11FrameDuplicateCount dot11RTSSuccessCount dot11RTSFailureCount "
                   "dot11ACKFailureCount dot11ReceivedFragmentCount "
                   "dot11MulticastReceivedFrameCount dot11FCSErrorCount "
                   "dot11TransmittedFrameCount dot11WEPUndecryptableCount "
                   "dot11QoSDiscardedFragmentCount dot11AssociatedStationCount "
                   "dot11QoSCFPollsReceivedCount dot11QoSCFPollsUnusedCount "
                   "dot11QoSCFPollsUnusableCount dot11QoSCFPollsLostCount"),
    "0:7": _lacp,
    "0:10": _sfp,
    "0:11": _simple("PFC_requests PFC_indications PFC_pause_duration PFC_storm_detected "
                    "PFC_storm_restored"),
    "0:1001": _simple("5s_cpu:pct 1m_cpu:pct 5m_cpu:pct total_memory_bytes:u64 "
                      "free_memory_bytes:u64"),
    "0:1002": _simple("radio_elapsed_time radio_on_channel_time radio_on_channel_busy_time"),
    "0:1004": _of_port,
    "0:1005": _simple("ifName:str"),
    "0:2000": _host_descr,
    "0:2001": _adaptors,
    "0:2002": _simple("parent_dsClass parent_dsIndex"),
    "0:2003": _host_cpu,
    "0:2004": _simple("mem_total:u64 mem_free:u64 mem_shared:u64 mem_buffers:u64 mem_cached:u64 "
                      "swap_total:u64 swap_free:u64 page_in page_out swap_in swap_out"),
    "0:2005": _simple("disk_total:u64 disk_free:u64 disk_partition_max_used:pct disk_reads "
                      "disk_bytes_read:u64 disk_read_time disk_writes disk_bytes_written:u64 "
                      "disk_write_time"),
    "0:2006": _simple("nio_bytes_in:u64 nio_pkts_in nio_errs_in nio_drops_in nio_bytes_out:u64 "
                      "nio_pkts_out nio_errs_out nio_drops_out"),
    "0:2007": _simple("ipForwarding ipDefaultTTL ipInReceives ipInHdrErrors ipInAddrErrors "
                      "ipForwDatagrams ipInUnknownProtos ipInDiscards ipInDelivers "
                      "ipOutRequests ipOutDiscards ipOutNoRoutes ipReasmTimeout ipReasmReqds "
                      "ipReasmOKs ipReasmFails ipFragOKs ipFragFails ipFragCreates"),
    "0:2008": _simple("icmpInMsgs icmpInErrors icmpInDestUnreachs icmpInTimeExcds "
                      "icmpInParamProbs icmpInSrcQuenchs icmpInRedirects icmpInEchos "
                      "icmpInEchoReps icmpInTimestamps icmpInAddrMasks icmpInAddrMaskReps "
                      "icmpOutMsgs icmpOutErrors icmpOutDestUnreachs icmpOutTimeExcds "
                      "icmpOutParamProbs icmpOutSrcQuenchs icmpOutRedirects icmpOutEchos "
                      "icmpOutEchoReps icmpOutTimestamps icmpOutTimestampReps "
                      "icmpOutAddrMasks icmpOutAddrMaskReps"),
    "0:2009": _simple("tcpRtoAlgorithm tcpRtoMin tcpRtoMax tcpMaxConn tcpActiveOpens "
                      "tcpPassiveOpens tcpAttemptFails tcpEstabResets tcpCurrEstab tcpInSegs "
                      "tcpOutSegs tcpRetransSegs tcpInErrs tcpOutRsts tcpInCsumErrors"),
    "0:2010": _simple("udpInDatagrams udpNoPorts udpInErrors udpOutDatagrams udpRcvbufErrors "
                      "udpSndbufErrors udpInCsumErrors"),
    "0:2100": _simple("vnode_mhz vnode_cpus vnode_memory:u64 vnode_memory_free:u64 "
                      "vnode_num_domains"),
    "0:2101": _simple("vcpu_state vcpu_cpu_mS vcpu_cpuCount"),
    "0:2102": _simple("vmem_memory:u64 vmem_maxMemory:u64"),
    "0:2103": _simple("vdsk_capacity:u64 vdsk_allocation:u64 vdsk_available:u64 vdsk_rd_req "
                      "vdsk_rd_bytes:u64 vdsk_wr_req vdsk_wr_bytes:u64 vdsk_errs"),
    "0:2104": _simple("vnio_bytes_in:u64 vnio_pkts_in vnio_errs_in vnio_drops_in "
                      "vnio_bytes_out:u64 vnio_pkts_out vnio_errs_out vnio_drops_out"),
    "0:2105": _simple("jvm_name:str jvm_vendor:str jvm_version:str"),
    "0:2106": _jmx,
    "0:2200": _simple("memcache_uptime memcache_rusage_user memcache_rusage_system "
                      "memcache_curr_connections memcache_total_connections "
                      "memcache_connection_structures memcache_cmd_get memcache_cmd_set "
                      "memcache_cmd_flush memcache_get_hits memcache_get_misses "
                      "memcache_delete_misses memcache_delete_hits memcache_incr_misses "
                      "memcache_incr_hits memcache_decr_misses memcache_decr_hits "
                      "memcache_cas_misses memcache_cas_hits memcache_cas_badval "
                      "memcache_auth_cmds memcache_auth_errors memcache_bytes_read:u64 "
                      "memcache_bytes_written:u64 memcache_limit_maxbytes "
                      "memcache_accepting_conns memcache_listen_disabled_num memcache_threads "
                      "memcache_conn_yields memcache_bytes:u64 memcache_curr_items "
                      "memcache_total_items memcache_evictions"),
    "0:2201": _simple("http_method_option_count http_method_get_count http_method_head_count "
                      "http_method_post_count http_method_put_count http_method_delete_count "
                      "http_method_trace_count http_methd_connect_count "
                      "http_method_other_count http_status_1XX_count http_status_2XX_count "
                      "http_status_3XX_count http_status_4XX_count http_status_5XX_count "
                      "http_status_other_count"),
    "0:2202": _simple("application:str status_OK errors_OTHER errors_TIMEOUT "
                      "errors_INTERNAL_ERROR errors_BAD_REQUEST errors_FORBIDDEN "
                      "errors_TOO_LARGE errors_NOT_IMPLEMENTED errors_NOT_FOUND "
                      "errors_UNAVAILABLE errors_UNAUTHORIZED"),
    "0:2203": _simple("user_time system_time memory_used:u64 memory_max:u64 files_open "
                      "files_max connections_open connections_max"),
    "0:2204": _simple("memcache_cmd_set memcache_cmd_touch memcache_cmd_flush memcache_get_hits "
                      "memcache_get_misses memcache_delete_hits memcache_delete_misses "
                      "memcache_incr_hits memcache_incr_misses memcache_decr_hits "
                      "memcache_decr_misses memcache_cas_hits memcache_cas_misses "
                      "memcache_cas_badval memcache_auth_cmds memcache_auth_errors "
                      "memcache_threads memcache_conn_yields memcache_listen_disabled_num "
                      "memcache_curr_connections memcache_rejected_connections "
                      "memcache_total_connections memcache_connection_structures "
                      "memcache_evictions memcache_reclaimed memcache_curr_items "
                      "memcache_total_items memcache_bytes_read:u64 "
                      "memcache_bytes_written:u64 memcache_bytes:u64 "
                      "memcache_limit_maxbytes:u64"),
    "0:2205": _simple("vdi_sessions_current vdi_sessions_total vdi_sessions_duration "
                      "vdi_rx_bytes vdi_tx_bytes vdi_rx_packets vdi_tx_packets "
                      "vdi_rx_packets_lost vdi_tx_packets_lost vdi_rtt_min_ms vdi_rtt_max_ms "
                      "vdi_rtt_avg_ms vdi_audio_rx_bytes vdi_audio_tx_bytes "
                      "vdi_audio_tx_limit vdi_img_rx_bytes vdi_img_tx_bytes vdi_img_frames "
                      "vdi_img_qual_min vdi_img_qual_max vdi_img_qual_avg vdi_usb_rx_bytes "
                      "vdi_usb_tx_bytes"),
    "0:2206": _simple("workers_active workers_idle workers_max requests_delayed "
                      "requests_dropped"),
    "0:2207": _simple("OVS_dp_hits OVS_dp_misses OVS_dp_lost OVS_dp_mask_hits OVS_dp_flows "
                      "OVS_dp_masks"),
    "5703:1": _simple("nvml_device_count nvml_processes nvml_gpu_mS nvml_mem_mS "
                      "nvml_mem_bytes_total:u64 nvml_mem_bytes_free:u64 nvml_ecc_errors "
                      "nvml_energy_mJ nvml_temperature_C nvml_fan_speed_pc"),
    "4413:3": _simple(" ".join("bcm_" + n for n in (
        "asic_host_entries host_entries_max ipv4_entries ipv4_entries_max ipv6_entries "
        "ipv6_entries_max ipv4_ipv6_entries ipv4_ipv6_entries_max long_ipv6_entries "
        "long_ipv6_entries_max total_routes total_routes_max ecmp_nexthops ecmp_nexthops_max "
        "mac_entries mac_entries_max ipv4_neighbors ipv6_neighbors ipv4_routes ipv6_routes "
        "acl_ingress_entries acl_ingress_entries_max acl_ingress_counters "
        "acl_ingress_counters_max acl_ingress_meters acl_ingress_meters_max "
        "acl_ingress_slices acl_ingress_slices_max acl_egress_entries "
        "acl_egress_entries_max acl_egress_counters acl_egress_counters_max "
        "acl_egress_meters acl_egress_meters_max acl_egress_slices "
        "acl_egress_slices_max").split())),
}


def _strip_discard_prefix(d: dict) -> dict:
    """Records inside discard samples carry sflowtool's 'discarded_' prefix on every field."""
    if not any(k.startswith("discarded_") for k in d):
        return d
    return {(k[10:] if k.startswith("discarded_") else k): v for k, v in d.items()}


def _record_tag(d: dict, key: str) -> str:
    tag = d.get(key)
    if tag is None:
        tag = d.get("discarded_" + key)
    if tag is None:
        raise EncodeError(f"record has no {key}")
    return tag if isinstance(tag, str) else f"{tag_number(tag) >> 12}:{tag_number(tag) & 0xFFF}"


def encode_flow_record(d: dict) -> bytes:
    """One flow record (tag + length + body) from a decoded record dict. A dict holding
    "raw" bytes (an undecoded record) is re-emitted as is."""
    tag = _record_tag(d, "flowBlock_tag")
    if "raw" in d and isinstance(d["raw"], (bytes, bytearray)):
        return record(tag, bytes(d["raw"]))
    enc = FLOW_RECORDS.get(tag)
    if enc is None:
        raise EncodeError(f"no encoder for flow record {tag}")
    return record(tag, enc(_strip_discard_prefix(d)))


def encode_counter_record(d: dict) -> bytes:
    tag = _record_tag(d, "counterBlock_tag")
    if "raw" in d and isinstance(d["raw"], (bytes, bytearray)):
        return record(tag, bytes(d["raw"]))
    enc = COUNTER_RECORDS.get(tag)
    if enc is None:
        raise EncodeError(f"no encoder for counter record {tag}")
    return record(tag, enc(d))


# -- sFlow-RT custom samples (4300:1002 RTMETRIC, 4300:1003 RTFLOW) ---------------------------
RTMETRIC_TYPES = {"string": 0, "counter32": 1, "counter64": 2, "gauge32": 3, "gauge64": 4,
                  "gaugeFloat": 5, "float": 5, "gaugeDouble": 6, "double": 6}
RTFLOW_TYPES = {"string": 0, "mac": 1, "ip": 2, "ip6": 3, "int32": 4, "int64": 5, "float": 6,
                "double": 7}
_RTMETRIC_VALUE = {0: string, 1: u32, 2: u64, 3: u32, 4: u64,
                   5: lambda v: _F32.pack(_float(v)), 6: lambda v: _F64.pack(_float(v))}
_RTFLOW_VALUE = {0: string, 1: mac, 2: ip4, 3: ip6, 4: u32, 5: u64,
                 6: lambda v: _F32.pack(_float(v)), 7: lambda v: _F64.pack(_float(v))}


def _typed_items(items, types: dict) -> list[tuple[str, int, object]]:
    out = []
    for name, kind, value in items:
        out.append((name, types[kind] if isinstance(kind, str) else int(kind), value))
    return out


def rtmetric_sample(datasource: str, metrics) -> bytes:
    """4300:1002: metrics is a list of (name, type, value); type is a name from
    RTMETRIC_TYPES or its number."""
    items = _typed_items(metrics, RTMETRIC_TYPES)
    body = string(datasource) + u32(len(items)) + b"".join(
        string(n) + u32(t) + _RTMETRIC_VALUE[t](v) for n, t, v in items)
    return _TL.pack(tag_number("4300:1002"), len(body)) + body


def rtflow_sample(datasource: str, sampling_rate: int, sample_pool: int, fields) -> bytes:
    """4300:1003: fields is a list of (name, type, value); see RTFLOW_TYPES."""
    items = _typed_items(fields, RTFLOW_TYPES)
    body = (string(datasource) + u32(sampling_rate) + u32(sample_pool) + u32(len(items))
            + b"".join(string(n) + u32(t) + _RTFLOW_VALUE[t](v) for n, t, v in items))
    return _TL.pack(tag_number("4300:1003"), len(body)) + body


def _prefixed_items(d: dict, prefix: str, types: dict) -> list:
    """sflowtool's flat form {'rtmetric_gauge32_x': 5} -> [('x', 'gauge32', 5)]."""
    out = []
    for key, value in d.items():
        if not key.startswith(prefix) or key in (prefix + "datasource_name",
                                                 prefix + "sampling_rate", prefix + "sample_pool"):
            continue
        rest = key[len(prefix):]
        for tname in sorted(types, key=len, reverse=True):
            if rest.startswith(tname + "_"):
                out.append((rest[len(tname) + 1:], tname, value))
                break
    return out


# -- whole datagrams from dicts ---------------------------------------------------------------
def encode_sample(s: dict) -> bytes:
    """One sample from a dict with kind ("flow", "counter", "discard", "rtmetric", "rtflow"),
    tag ("0:1".."0:5", decides compact vs expanded) and the fields of the decoder's sample
    objects, plus "records": a list of record dicts (or already-encoded bytes)."""
    kind = s.get("kind")
    tag = s.get("tag")
    if kind == "rtmetric" or tag == "4300:1002":
        metrics = s.get("metrics")
        if metrics is None:
            rec = (s.get("records") or [{}])[0]
            metrics = _prefixed_items(rec, "rtmetric_", RTMETRIC_TYPES)
            ds = rec.get("rtmetric_datasource_name", s.get("datasource", ""))
        else:
            ds = s.get("datasource", "")
        return rtmetric_sample(ds, metrics)
    if kind == "rtflow" or tag == "4300:1003":
        fields = s.get("fields")
        rec = (s.get("records") or [{}])[0]
        if fields is None:
            fields = _prefixed_items(rec, "rtflow_", RTFLOW_TYPES)
        return rtflow_sample(s.get("datasource", rec.get("rtflow_datasource_name", "")),
                             _int(s.get("sampling_rate", rec.get("rtflow_sampling_rate"))),
                             _int(s.get("sample_pool", rec.get("rtflow_sample_pool"))), fields)
    if kind == "other" and isinstance(s.get("raw"), (bytes, bytearray)):
        return _TL.pack(tag_number(tag), len(pad(s["raw"]))) + pad(s["raw"])
    records = s.get("records") or []
    ds_class, ds_index = _int(s.get("ds_class")), _int(s.get("ds_index"))
    if kind == "counter":
        encoded = [r if isinstance(r, bytes) else encode_counter_record(r) for r in records]
        expanded = tag == "0:4" if tag else (ds_class > 0xFF or ds_index > 0xFFFFFF)
        return counter_sample(_int(s.get("seq")), ds_class, ds_index, encoded, expanded)
    encoded = [r if isinstance(r, bytes) else encode_flow_record(r) for r in records]
    if kind == "discard":
        return discard_sample(_int(s.get("seq")), ds_class, ds_index, _int(s.get("drops")),
                              _int(s.get("input")), _int(s.get("output")), _int(s.get("reason")),
                              encoded)
    inp, out = _int(s.get("input")), _int(s.get("output"))
    expanded = tag == "0:3" if tag else (ds_class > 0xFF or ds_index > 0xFFFFFF
                                         or inp > 0x3FFFFFFF or out > 0x3FFFFFFF)
    return flow_sample(_int(s.get("seq")), ds_class, ds_index, _int(s.get("sampling_rate")),
                       _int(s.get("sample_pool")), _int(s.get("drops")), inp, out, encoded,
                       _int(s.get("input_format")), _int(s.get("output_format")), expanded)


def encode_datagram(d: dict) -> bytes:
    """A whole datagram from a dict: version (5, or 2/4), agent, sub_agent, seq, uptime,
    samples (dicts for encode_sample, or bytes)."""
    version = _int(d.get("version", 5))
    if version in (2, 4):
        return encode_datagram_v2v4(d)
    samples = [s if isinstance(s, bytes) else encode_sample(s) for s in d.get("samples", [])]
    return datagram(d["agent"], _int(d.get("seq")), _int(d.get("uptime")), samples,
                    _int(d.get("sub_agent")))


_SAMPLE_ATTRS = ("kind", "tag", "seq", "ds_class", "ds_index", "sampling_rate", "sample_pool",
                 "drops", "input", "output", "input_format", "output_format", "reason")


def sample_to_dict(sample) -> dict:
    out = {a: getattr(sample, a) for a in _SAMPLE_ATTRS if hasattr(sample, a)}
    out["records"] = sample.records()
    return out


def datagram_to_dict(dg) -> dict:
    """A decoded Datagram as the dict encode_datagram takes."""
    return {"version": dg.version, "agent": dg.agent, "sub_agent": dg.sub_agent, "seq": dg.seq,
            "uptime": dg.uptime, "samples": [sample_to_dict(s) for s in dg.samples]}


# -- sFlow v2/v4 (no lengths on samples or records; fixed tag sets) ---------------------------
_V2V4_PACKET = {"0:1": 1, "0:3": 2, "0:4": 3}            # packet_data_tag
_V2V4_EXTENDED = {"0:1001": 1, "0:1002": 2, "0:1003": 3, "0:1004": 4, "0:1005": 5}
# counterBlockVersion from the specific block that follows the generic one
_V2V4_COUNTERS = {None: 1, "0:2": 2, "0:3": 3, "fddi": 4, "0:4": 5, "wan": 6, "0:5": 7}


def _v2v4_flow(s: dict, version: int) -> bytes:
    out = [u32(1), u32(s.get("seq")),
           u32(_int(s.get("ds_class")) << 24 | _int(s.get("ds_index"))),
           u32(s.get("sampling_rate")), u32(s.get("sample_pool")), u32(s.get("drops")),
           u32(s.get("input")),
           # v2/v4 flag "multiple outputs" (format 2) in the top bit
           u32(_int(s.get("output")) | (0x80000000 if _int(s.get("output_format")) == 2 else 0))]
    records = s.get("records") or []
    packet = [r for r in records if _record_tag(r, "flowBlock_tag") in _V2V4_PACKET]
    extended = [r for r in records if _record_tag(r, "flowBlock_tag") in _V2V4_EXTENDED]
    if len(packet) != 1 or len(packet) + len(extended) != len(records):
        raise EncodeError("a v2/v4 flow sample holds one packet record and extended 1001-1005")
    p = packet[0]
    ptag = _record_tag(p, "flowBlock_tag")
    out.append(u32(_V2V4_PACKET[ptag]))
    if ptag == "0:1":
        data = hexbytes(p.get("headerBytes"))
        hlen = p.get("headerLen")
        out.append(u32(p.get("headerProtocol")) + u32(p.get("sampledPacketSize"))
                   + u32(len(data) if hlen in (None, "") else hlen) + pad(data))
    else:
        out.append(FLOW_RECORDS[ptag](p))
    out.append(u32(len(extended)))
    for r in extended:
        etag = _record_tag(r, "flowBlock_tag")
        out.append(u32(_V2V4_EXTENDED[etag]))
        if etag == "0:1003":
            if version == 2:
                path = [a for _, seg in _as_path_segments(r) for a in seg]
                out.append(u32(r.get("my_as")) + u32(r.get("src_as")) + u32(r.get("src_peer_as"))
                           + u32(len(path)) + b"".join(u32(a) for a in path))
            else:
                out.append(_gateway(r, version))
        elif etag == "0:1004":
            out.append(string(r.get("src_user")) + string(r.get("dst_user")))
        elif etag == "0:1005":
            out.append(u32(r.get("url_direction")) + string(r.get("url")))
        else:
            out.append(FLOW_RECORDS[etag](r))
    return b"".join(out)


def _v2v4_counters(s: dict) -> bytes:
    records = s.get("records") or []
    generic = next((r for r in records if _record_tag(r, "counterBlock_tag") == "0:1"), None)
    specific = [r for r in records if _record_tag(r, "counterBlock_tag") != "0:1"]
    if len(specific) > 1:
        raise EncodeError("a v2/v4 counter sample holds at most one specific block")
    spec_tag = _record_tag(specific[0], "counterBlock_tag") if specific else None
    if spec_tag not in _V2V4_COUNTERS:
        raise EncodeError(f"counter block {spec_tag} has no v2/v4 form")
    block = s.get("counterBlockVersion") or _V2V4_COUNTERS[spec_tag]
    out = [u32(2), u32(s.get("seq")),
           u32(_int(s.get("ds_class")) << 24 | _int(s.get("ds_index"))),
           u32(s.get("statsSamplingInterval", s.get("interval", 0))), u32(block)]
    if block != 7:
        out.append(COUNTER_RECORDS["0:1"](generic or {}))
    if specific:
        out.append(COUNTER_RECORDS[spec_tag](specific[0]))
    return b"".join(out)


def encode_datagram_v2v4(d: dict) -> bytes:
    version = _int(d.get("version"))
    samples = []
    for s in d.get("samples", []):
        if isinstance(s, bytes):
            samples.append(s)
        elif s.get("kind") == "counter":
            samples.append(_v2v4_counters(s))
        else:
            samples.append(_v2v4_flow(s, version))
    return (u32(version) + address(d["agent"]) + u32(d.get("seq")) + u32(d.get("uptime"))
            + u32(len(samples)) + b"".join(samples))
