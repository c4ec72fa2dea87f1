"""Full decode of the records inside a sample, and the non-standard sample types.

One small decoder function per record type, registered by (enterprise, format) in FLOW_RECORDS
and COUNTER_RECORDS (see flow_records.py and counter_records.py). A decoder receives a Reader
bounded by the record's declared length and the output dict (already holding the
"flowBlock_tag"/"counterBlock_tag"); it adds sflowtool's field names with Python values.

Unknown records are skipped by their declared length (rounded up to 4) and counted in
UNKNOWN_RECORDS. A decoder that reads past its record's end raises DecodeError; one that reads
less is accepted (newer agents append fields) and the rest of the record is skipped.
"""
from __future__ import annotations

import struct
from collections import Counter

from .datagram import DecodeError, OtherSample
from .xdr import Reader

_REC_HDR = struct.Struct(">II").unpack_from

FLOW_RECORDS: dict[tuple[int, int], object] = {}
COUNTER_RECORDS: dict[tuple[int, int], object] = {}
# int-keyed views of the two tables (tag = enterprise << 12 | format), for the walker
_FLOW_BY_TAG: dict[int, object] = {}
_COUNTER_BY_TAG: dict[int, object] = {}

UNKNOWN_RECORDS: Counter = Counter()   # ("flow"|"counter"|"sample", "e:f") -> times skipped

# tags for v2/v4 element layouts that differ from v5 (see v2v4.py); enterprise 0xFFFFF is
# never assigned, and the decoders print the v5 tag sflowtool would show
V2V4_ENTERPRISE = 0xFFFFF


def _register(table, bytag, enterprise, fmt, fn, shown=None):
    table[(enterprise, fmt)] = fn
    bytag[(enterprise << 12) | fmt] = (fn, shown or f"{enterprise}:{fmt}")


def flow_record(enterprise: int, fmt: int, shown: str | None = None):
    def deco(fn):
        _register(FLOW_RECORDS, _FLOW_BY_TAG, enterprise, fmt, fn, shown)
        return fn
    return deco


def counter_record(enterprise: int, fmt: int, shown: str | None = None):
    def deco(fn):
        _register(COUNTER_RECORDS, _COUNTER_BY_TAG, enterprise, fmt, fn, shown)
        return fn
    return deco


def decode_records(sample) -> list[dict]:
    """Every record of a flow/discard/counter sample as a dict with sflowtool's field names."""
    if sample.kind == "counter":
        table, tagkey, what = _COUNTER_BY_TAG, "counterBlock_tag", "counter"
    else:
        table, tagkey, what = _FLOW_BY_TAG, "flowBlock_tag", "flow"
    buf, off, end = sample.buf, sample.rec_off, sample.rec_end
    out = []
    try:
        for _ in range(sample.nrec):
            if off + 8 > end:
                raise DecodeError(f"{what} record header past end of sample")
            tag, length = _REC_HDR(buf, off)
            off += 8
            rend = off + length
            nxt = off + ((length + 3) & ~3)
            if nxt > end:
                raise DecodeError(f"{what} record {tag >> 12}:{tag & 0xFFF} length {length} past end of sample")
            entry = table.get(tag)
            if entry is None:
                UNKNOWN_RECORDS[(what, f"{tag >> 12}:{tag & 0xFFF}")] += 1
            else:
                fn, shown = entry
                d = {tagkey: shown}
                fn(Reader(buf, off, rend), length, d)
                out.append(d)
            off = nxt
    except DecodeError:
        raise
    except (struct.error, IndexError, ValueError, OverflowError, KeyError, TypeError) as exc:
        raise DecodeError(f"malformed {what} record: {exc}") from None
    return out


# ---------------------------------------------------------------- sFlow-RT custom samples

class RTMetricSample(OtherSample):
    """4300:1002: named metrics pushed by an agent (sFlow-RT custom metrics)."""
    __slots__ = ("datasource", "metrics", "metrics_typed")

    def values(self) -> dict:
        return self.metrics

    def records(self) -> list[dict]:
        if self._records is None:
            d = {"rtmetric_datasource_name": self.datasource}
            for name, (mtype, value) in self.metrics_typed.items():
                d[_RTMETRIC_PREFIX[mtype] + name] = value
            self._records = [d]
        return self._records


class RTFlowSample(OtherSample):
    """4300:1003: a flow described by named attributes (sFlow-RT custom flows)."""
    __slots__ = ("datasource", "sampling_rate", "sample_pool", "_attrs", "typed")

    def attributes(self) -> dict:
        return self._attrs

    def records(self) -> list[dict]:
        if self._records is None:
            d = {"rtflow_datasource_name": self.datasource,
                 "rtflow_sampling_rate": self.sampling_rate,
                 "rtflow_sample_pool": self.sample_pool}
            for name, ftype in self.typed.items():
                d[_RTFLOW_PREFIX[ftype] + name] = self._attrs[name]
            self._records = [d]
        return self._records


_RTMETRIC_PREFIX = ("rtmetric_string_", "rtmetric_counter32_", "rtmetric_counter64_",
                    "rtmetric_gauge32_", "rtmetric_gauge64_", "rtmetric_gaugeFloat_",
                    "rtmetric_gaugeDouble_")
_RTFLOW_PREFIX = ("rtflow_string_", "rtflow_mac_", "rtflow_ip_", "rtflow_ip6_", "rtflow_int32_",
                  "rtflow_int64_", "rtflow_float_", "rtflow_double_")
MAX_RT_FIELDS = 1024


def _base(s, tag: str, name: str):
    s.tag = tag
    s.seq = 0
    s.ds_class = 0
    s.ds_index = 0
    s.data_source = name
    s.buf = None
    s.rec_off = s.rec_end = s.nrec = 0
    s._records = None


def _rtmetric(r: Reader):
    s = RTMetricSample()
    s.kind = "rtmetric"
    s.datasource = r.string()
    n = r.count("rtmetric field", MAX_RT_FIELDS)
    metrics, typed = {}, {}
    for _ in range(n):
        name = r.string()
        t = r.u32()
        if t == 0:
            v = r.string()
        elif t in (1, 3):
            v = r.u32()
        elif t in (2, 4):
            v = r.u64()
        elif t == 5:
            v = r.f32()
        elif t == 6:
            v = r.f64()
        else:
            raise DecodeError(f"rtmetric unknown type {t}")
        metrics[name] = v
        typed[name] = (t, v)
    s.metrics = metrics
    s.metrics_typed = typed
    _base(s, "4300:1002", s.datasource)
    return s


def _rtflow(r: Reader):
    s = RTFlowSample()
    s.kind = "rtflow"
    s.datasource = r.string()
    s.sampling_rate = r.u32()
    s.sample_pool = r.u32()
    n = r.count("rtflow field", MAX_RT_FIELDS)
    attrs, typed = {}, {}
    for _ in range(n):
        name = r.string()
        t = r.u32()
        if t == 0:
            v = r.string()
        elif t == 1:
            v = r.opaque(6).hex().upper()
        elif t == 2:
            v = r.ip4()
        elif t == 3:
            v = r.ip6()
        elif t == 4:
            v = r.u32()
        elif t == 5:
            v = r.u64()
        elif t == 6:
            v = r.f32()
        elif t == 7:
            v = r.f64()
        else:
            raise DecodeError(f"rtflow unknown type {t}")
        attrs[name] = v
        typed[name] = t
    s._attrs = attrs
    s.typed = typed
    _base(s, "4300:1003", s.datasource)
    return s


def other_sample(buf, tag: int, off: int, end: int):
    """Non-standard sample types: RTMETRIC/RTFLOW objects, or None to skip (counted)."""
    try:
        if tag == (4300 << 12) | 1002:
            return _rtmetric(Reader(buf, off, end))
        if tag == (4300 << 12) | 1003:
            return _rtflow(Reader(buf, off, end))
    except DecodeError:
        raise
    except (struct.error, IndexError, ValueError, OverflowError) as exc:
        raise DecodeError(f"malformed sFlow-RT sample: {exc}") from None
    UNKNOWN_RECORDS[("sample", f"{tag >> 12}:{tag & 0xFFF}")] += 1
    return None


# ---------------------------------------------------------------- discard reasons (sflow_drops)

DROP_REASONS = {
    0: "net_unreachable", 1: "host_unreachable", 2: "protocol_unreachable", 3: "port_unreachable",
    4: "frag_needed", 5: "src_route_failed", 6: "dst_net_unknown", 7: "dst_host_unknown",
    8: "src_host_isolated", 9: "dst_net_prohibited", 10: "dst_host_prohibited",
    11: "dst_net_tos_unreachable", 12: "dst_host_tos_unreacheable", 13: "comm_admin_prohibited",
    14: "host_precedence_violation", 15: "precedence_cutoff", 256: "unknown", 257: "ttl_exceeded",
    258: "acl", 259: "no_buffer_space", 260: "red", 261: "traffic_shaping", 262: "pkt_too_big",
    263: "src_mac_is_multicast", 264: "vlan_tag_mismatch", 265: "ingress_vlan_filter",
    266: "ingress_spanning_tree_filter", 267: "port_list_is_empty", 268: "port_loopback_filter",
    269: "blackhole_route", 270: "non_ip", 271: "uc_dip_over_mc_dmac",
    272: "dip_is_loopback_address", 273: "sip_is_mc", 274: "sip_is_loopback_address",
    275: "ip_header_corrupted", 276: "ipv4_sip_is_limited_bc", 277: "ipv6_mc_dip_reserved_scope",
    278: "ipv6_mc_dip_interface_local_scope", 279: "unresolved_neigh",
    280: "mc_reverse_path_forwarding", 281: "non_routable_packet", 282: "decap_error",
    283: "overlay_smac_is_mc", 284: "unknown_l2", 285: "unknown_l3", 286: "unknown_l3_exception",
    287: "unknown_buffer", 288: "unknown_tunnel", 289: "unknown_l4", 290: "sip_is_unspecified",
    291: "mlag_port_isolation", 292: "blackhole_arp_neigh", 293: "src_mac_is_dmac",
    294: "dmac_is_reserved", 295: "sip_is_class_e", 296: "mc_dmac_mismatch", 297: "sip_is_dip",
    298: "dip_is_local_network", 299: "dip_is_link_local", 300: "overlay_smac_is_dmac",
    301: "egress_vlan_filter", 302: "uc_reverse_path_forwarding", 303: "split_horizon",
    304: "locked_port", 305: "dmac_filter", 306: "blackhole_nexthop", 307: "vxlan_parsing",
    308: "llc_snap_parsing", 309: "vlan_parsing", 310: "pppoe_ppp_parsing", 311: "mpls_parsing",
    312: "arp_parsing", 313: "ip_1_parsing", 314: "ip_n_parsing", 315: "gre_parsing",
    316: "udp_parsing", 317: "tcp_parsing", 318: "ipsec_parsing", 319: "sctp_parsing",
    320: "dccp_parsing", 321: "gtp_parsing", 322: "esp_parsing", 323: "unknown_parsing",
    324: "pkt_too_small", 325: "unhandled_proto", 326: "ipv6disabled", 327: "invalid_proto",
    328: "ip_noproto", 329: "skb_csum", 330: "skb_ucopy_fault", 331: "dev_ready", 332: "dev_hdr",
    333: "dup_frag", 334: "skb_gso_seg", 335: "reverse_path_forwarding", 336: "icmp_parsing",
    337: "tcp_md5notfound", 338: "tcp_md5unexpected", 339: "tcp_md5failure", 340: "tcp_flags",
    341: "tcp_zerowindow", 342: "tcp_old_data", 343: "tcp_overwindow", 344: "tcp_ofomerge",
    345: "tcp_rfc7323_paws", 346: "tcp_invalid_sequence", 347: "tcp_reset", 348: "tcp_invalid_syn",
    349: "tcp_close", 350: "tcp_fastopen", 351: "tcp_old_ack", 352: "tcp_too_old_ack",
    353: "tcp_ack_unsent_data", 354: "tcp_ofo_queue_prune", 355: "tcp_ofo_drop", 356: "tcp_minttl",
    357: "ipv6_bad_exthdr", 358: "ipv6_ndisc_frag", 359: "ipv6_ndisc_hop_limit",
    360: "ipv6_ndisc_bad_code", 361: "ipv6_ndisc_bad_options", 362: "ipv6_ndisc_ns_otherhost",
    363: "tap_filter", 364: "tap_txfilter", 365: "tc_ingress", 366: "tc_egress", 367: "xdp",
    368: "cpu_backlog", 369: "bpf_cgroup_egress", 370: "xfrm_policy", 371: "socket_filter",
}


from . import counter_records, flow_records  # noqa: E402,F401  (fill the tables)
