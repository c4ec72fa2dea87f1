"""Counter record types, each declared once: decoder and encoder (registry.py).

Decoders give sflowtool's field names (values are Python ints/floats/strings); the encoder
beside each writes the same layout from such a dict. Most counter records are fixed layouts:
declared as one "name:type" list (I = u32, Q = u64, f = float) that gives the decoder (one
precompiled struct), the encoder and the layout the C counter path (_counters.c) is handed.
"""

from __future__ import annotations

import struct
import uuid as _uuid

from .registry import COUNTER, declare
from .wire import as_int, mac, pack_fields, simple, string, u32, u64
from .wire import fields as _fields
from .xdr import Reader

_WIRE_KIND = {"I": "u32", "Q": "u64", "f": "f32"}


def counter_record(enterprise: int, fmt: int, **kw):
    """Declare the decorated decoder's record type (keywords: see registry.declare)."""

    def deco(fn):
        declare("counter", enterprise, fmt, fn, **kw)
        return fn

    return deco


def _fixed(enterprise: int, fmt: int, spec: str) -> None:
    names = []
    codes = ">"
    for item in spec.split():
        name, code = item.rsplit(":", 1)
        names.append(name)
        codes += code
    st = struct.Struct(codes)
    size = st.size
    names = tuple(names)

    def fn(r: Reader, length: int, d: dict) -> None:
        p = r._need(size)
        d.update(zip(names, st.unpack_from(r.buf, p)))

    fn.__name__ = f"counters_{enterprise}_{fmt}"
    wire = [(n, _WIRE_KIND[c]) for n, c in zip(names, codes[1:])]
    declare(
        "counter",
        enterprise,
        fmt,
        fn,
        encode=lambda d: pack_fields(wire, d),
        fixed=(names, codes[1:]),
    )


def _u32s(prefix: str, *names: str) -> str:
    return " ".join(f"{prefix}{n}:I" for n in names)


_fixed(
    0,
    1,
    "ifIndex:I networkType:I ifSpeed:Q ifDirection:I ifStatus:I ifInOctets:Q "
    "ifInUcastPkts:I ifInMulticastPkts:I ifInBroadcastPkts:I ifInDiscards:I ifInErrors:I "
    "ifInUnknownProtos:I ifOutOctets:Q ifOutUcastPkts:I ifOutMulticastPkts:I "
    "ifOutBroadcastPkts:I ifOutDiscards:I ifOutErrors:I ifPromiscuousMode:I",
)
_fixed(
    0,
    2,
    _u32s(
        "dot3Stats",
        "AlignmentErrors",
        "FCSErrors",
        "SingleCollisionFrames",
        "MultipleCollisionFrames",
        "SQETestErrors",
        "DeferredTransmissions",
        "LateCollisions",
        "ExcessiveCollisions",
        "InternalMacTransmitErrors",
        "CarrierSenseErrors",
        "FrameTooLongs",
        "InternalMacReceiveErrors",
        "SymbolErrors",
    ),
)
_fixed(
    0,
    3,
    _u32s(
        "dot5Stats",
        "LineErrors",
        "BurstErrors",
        "ACErrors",
        "AbortTransErrors",
        "InternalErrors",
        "LostFrameErrors",
        "ReceiveCongestions",
        "FrameCopiedErrors",
        "TokenErrors",
        "SoftErrors",
        "HardErrors",
        "SignalLoss",
        "TransmitBeacons",
        "Recoverys",
        "LobeWires",
        "Removes",
        "Singles",
        "FreqErrors",
    ),
)
_fixed(
    0,
    4,
    "dot12InHighPriorityFrames:I dot12InHighPriorityOctets:Q dot12InNormPriorityFrames:I "
    "dot12InNormPriorityOctets:Q dot12InIPMErrors:I dot12InOversizeFrameErrors:I "
    "dot12InDataErrors:I dot12InNullAddressedFrames:I dot12OutHighPriorityFrames:I "
    "dot12OutHighPriorityOctets:Q dot12TransitionIntoTrainings:I dot12HCInHighPriorityOctets:Q "
    "dot12HCInNormPriorityOctets:Q dot12HCOutHighPriorityOctets:Q",
)
_fixed(0, 5, "in_vlan:I octets:Q ucastPkts:I multicastPkts:I broadcastPkts:I discards:I")
_fixed(
    0,
    6,
    _u32s(
        "dot11",
        "TransmittedFragmentCount",
        "MulticastTransmittedFrameCount",
        "FailedCount",
        "RetryCount",
        "MultipleRetryCount",
        "FrameDuplicateCount",
        "RTSSuccessCount",
        "RTSFailureCount",
        "ACKFailureCount",
        "ReceivedFragmentCount",
        "MulticastReceivedFrameCount",
        "FCSErrorCount",
        "TransmittedFrameCount",
        "WEPUndecryptableCount",
        "QoSDiscardedFragmentCount",
        "AssociatedStationCount",
        "QoSCFPollsReceivedCount",
        "QoSCFPollsUnusedCount",
        "QoSCFPollsUnusableCount",
        "QoSCFPollsLostCount",
    ),
)
# PFC (0:11): five 32-bit counters, as sflowtool names them
_fixed(
    0,
    11,
    _u32s("PFC_", "requests", "indications", "pause_duration", "storm_detected", "storm_restored"),
)
_fixed(0, 1002, "radio_elapsed_time:I radio_on_channel_time:I radio_on_channel_busy_time:I")
_fixed(0, 2002, "parent_dsClass:I parent_dsIndex:I")
_fixed(
    0,
    2004,
    "mem_total:Q mem_free:Q mem_shared:Q mem_buffers:Q mem_cached:Q swap_total:Q "
    "swap_free:Q page_in:I page_out:I swap_in:I swap_out:I",
)
_fixed(
    0,
    2006,
    "nio_bytes_in:Q nio_pkts_in:I nio_errs_in:I nio_drops_in:I nio_bytes_out:Q "
    "nio_pkts_out:I nio_errs_out:I nio_drops_out:I",
)
_fixed(
    0,
    2007,
    _u32s(
        "ip",
        "Forwarding",
        "DefaultTTL",
        "InReceives",
        "InHdrErrors",
        "InAddrErrors",
        "ForwDatagrams",
        "InUnknownProtos",
        "InDiscards",
        "InDelivers",
        "OutRequests",
        "OutDiscards",
        "OutNoRoutes",
        "ReasmTimeout",
        "ReasmReqds",
        "ReasmOKs",
        "ReasmFails",
        "FragOKs",
        "FragFails",
        "FragCreates",
    ),
)
_fixed(
    0,
    2008,
    _u32s(
        "icmp",
        "InMsgs",
        "InErrors",
        "InDestUnreachs",
        "InTimeExcds",
        "InParamProbs",
        "InSrcQuenchs",
        "InRedirects",
        "InEchos",
        "InEchoReps",
        "InTimestamps",
        "InAddrMasks",
        "InAddrMaskReps",
        "OutMsgs",
        "OutErrors",
        "OutDestUnreachs",
        "OutTimeExcds",
        "OutParamProbs",
        "OutSrcQuenchs",
        "OutRedirects",
        "OutEchos",
        "OutEchoReps",
        "OutTimestamps",
        "OutTimestampReps",
        "OutAddrMasks",
        "OutAddrMaskReps",
    ),
)
_fixed(
    0,
    2009,
    _u32s(
        "tcp",
        "RtoAlgorithm",
        "RtoMin",
        "RtoMax",
        "MaxConn",
        "ActiveOpens",
        "PassiveOpens",
        "AttemptFails",
        "EstabResets",
        "CurrEstab",
        "InSegs",
        "OutSegs",
        "RetransSegs",
        "InErrs",
        "OutRsts",
        "InCsumErrors",
    ),
)
_fixed(
    0,
    2010,
    _u32s(
        "udp",
        "InDatagrams",
        "NoPorts",
        "InErrors",
        "OutDatagrams",
        "RcvbufErrors",
        "SndbufErrors",
        "InCsumErrors",
    ),
)
_fixed(0, 2100, "vnode_mhz:I vnode_cpus:I vnode_memory:Q vnode_memory_free:Q vnode_num_domains:I")
_fixed(0, 2101, "vcpu_state:I vcpu_cpu_mS:I vcpu_cpuCount:I")
_fixed(0, 2102, "vmem_memory:Q vmem_maxMemory:Q")
_fixed(
    0,
    2103,
    "vdsk_capacity:Q vdsk_allocation:Q vdsk_available:Q vdsk_rd_req:I "
    "vdsk_rd_bytes:Q vdsk_wr_req:I vdsk_wr_bytes:Q vdsk_errs:I",
)
_fixed(
    0,
    2104,
    "vnio_bytes_in:Q vnio_pkts_in:I vnio_errs_in:I vnio_drops_in:I "
    "vnio_bytes_out:Q vnio_pkts_out:I vnio_errs_out:I vnio_drops_out:I",
)
_fixed(
    0,
    2200,
    _u32s(
        "memcache_",
        "uptime",
        "rusage_user",
        "rusage_system",
        "curr_connections",
        "total_connections",
        "connection_structures",
        "cmd_get",
        "cmd_set",
        "cmd_flush",
        "get_hits",
        "get_misses",
        "delete_misses",
        "delete_hits",
        "incr_misses",
        "incr_hits",
        "decr_misses",
        "decr_hits",
        "cas_misses",
        "cas_hits",
        "cas_badval",
        "auth_cmds",
        "auth_errors",
    )
    + " memcache_bytes_read:Q memcache_bytes_written:Q "
    + _u32s(
        "memcache_",
        "limit_maxbytes",
        "accepting_conns",
        "listen_disabled_num",
        "threads",
        "conn_yields",
    )
    + " memcache_bytes:Q "
    + _u32s("memcache_", "curr_items", "total_items", "evictions"),
)
_fixed(
    0,
    2201,
    _u32s(
        "http_",
        "method_option_count",
        "method_get_count",
        "method_head_count",
        "method_post_count",
        "method_put_count",
        "method_delete_count",
        "method_trace_count",
        "methd_connect_count",
        "method_other_count",
        "status_1XX_count",
        "status_2XX_count",
        "status_3XX_count",
        "status_4XX_count",
        "status_5XX_count",
        "status_other_count",
    ),
)
_fixed(
    0,
    2203,
    "user_time:I system_time:I memory_used:Q memory_max:Q files_open:I files_max:I "
    "connections_open:I connections_max:I",
)
_fixed(
    0,
    2204,
    _u32s(
        "memcache_",
        "cmd_set",
        "cmd_touch",
        "cmd_flush",
        "get_hits",
        "get_misses",
        "delete_hits",
        "delete_misses",
        "incr_hits",
        "incr_misses",
        "decr_hits",
        "decr_misses",
        "cas_hits",
        "cas_misses",
        "cas_badval",
        "auth_cmds",
        "auth_errors",
        "threads",
        "conn_yields",
        "listen_disabled_num",
        "curr_connections",
        "rejected_connections",
        "total_connections",
        "connection_structures",
        "evictions",
        "reclaimed",
        "curr_items",
        "total_items",
    )
    + " memcache_bytes_read:Q memcache_bytes_written:Q memcache_bytes:Q"
    + " memcache_limit_maxbytes:Q",
)
_fixed(
    0,
    2205,
    _u32s(
        "vdi_",
        "sessions_current",
        "sessions_total",
        "sessions_duration",
        "rx_bytes",
        "tx_bytes",
        "rx_packets",
        "tx_packets",
        "rx_packets_lost",
        "tx_packets_lost",
        "rtt_min_ms",
        "rtt_max_ms",
        "rtt_avg_ms",
        "audio_rx_bytes",
        "audio_tx_bytes",
        "audio_tx_limit",
        "img_rx_bytes",
        "img_tx_bytes",
        "img_frames",
        "img_qual_min",
        "img_qual_max",
        "img_qual_avg",
        "usb_rx_bytes",
        "usb_tx_bytes",
    ),
)
_fixed(
    0, 2206, "workers_active:I workers_idle:I workers_max:I requests_delayed:I requests_dropped:I"
)
_fixed(0, 2207, _u32s("OVS_dp_", "hits", "misses", "lost", "mask_hits", "flows", "masks"))
_fixed(
    5703,
    1,
    "nvml_device_count:I nvml_processes:I nvml_gpu_mS:I nvml_mem_mS:I "
    "nvml_mem_bytes_total:Q nvml_mem_bytes_free:Q nvml_ecc_errors:I nvml_energy_mJ:I "
    "nvml_temperature_C:I nvml_fan_speed_pc:I",
)
_fixed(
    4413,
    3,
    _u32s(
        "bcm_",
        "asic_host_entries",
        "host_entries_max",
        "ipv4_entries",
        "ipv4_entries_max",
        "ipv6_entries",
        "ipv6_entries_max",
        "ipv4_ipv6_entries",
        "ipv4_ipv6_entries_max",
        "long_ipv6_entries",
        "long_ipv6_entries_max",
        "total_routes",
        "total_routes_max",
        "ecmp_nexthops",
        "ecmp_nexthops_max",
        "mac_entries",
        "mac_entries_max",
        "ipv4_neighbors",
        "ipv6_neighbors",
        "ipv4_routes",
        "ipv6_routes",
        "acl_ingress_entries",
        "acl_ingress_entries_max",
        "acl_ingress_counters",
        "acl_ingress_counters_max",
        "acl_ingress_meters",
        "acl_ingress_meters_max",
        "acl_ingress_slices",
        "acl_ingress_slices_max",
        "acl_egress_entries",
        "acl_egress_entries_max",
        "acl_egress_counters",
        "acl_egress_counters_max",
        "acl_egress_meters",
        "acl_egress_meters_max",
        "acl_egress_slices",
        "acl_egress_slices_max",
    ),
)


def _percent(r: Reader):
    """Hundredths of a percent as sflowtool prints them: "unknown" for -1, else a float."""
    v = r.u32()
    return "unknown" if v == 0xFFFFFFFF else round(v / 100.0, 2)


def _lacp(d: dict) -> bytes:
    states = bytes(
        as_int(d.get(k)) & 0xFF
        for k in (
            "actorAdminPortState",
            "actorOperPortState",
            "partnerAdminPortState",
            "partnerOperPortState",
        )
    )
    return (
        mac(d.get("actorSystemID"))
        + mac(d.get("partnerSystemID"))
        + u32(d.get("attachedAggID"))
        + states
        + pack_fields(
            _fields(
                "LACPDUsRx markerPDUsRx markerResponsePDUsRx unknownRx illegalRx LACPDUsTx "
                "markerPDUsTx markerResponsePDUsTx"
            ),
            d,
        )
    )


@counter_record(0, 7, encode=_lacp)
def lag_port_stats(r, length, d):
    d["actorSystemID"] = r.mac()
    d["partnerSystemID"] = r.mac()
    d["attachedAggID"] = r.u32()
    p = r._need(4)
    b = r.buf
    d["actorAdminPortState"] = b[p]
    d["actorOperPortState"] = b[p + 1]
    d["partnerAdminPortState"] = b[p + 2]
    d["partnerOperPortState"] = b[p + 3]
    for n in (
        "LACPDUsRx",
        "markerPDUsRx",
        "markerResponsePDUsRx",
        "unknownRx",
        "illegalRx",
        "LACPDUsTx",
        "markerPDUsTx",
        "markerResponsePDUsTx",
    ):
        d[n] = r.u32()


_SFP_LANE = (
    "index",
    "tx_bias_current_uA",
    "tx_power_uW",
    "tx_power_min_uW",
    "tx_power_max_uW",
    "tx_wavelength_nM",
    "rx_power_uW",
    "rx_power_min_uW",
    "rx_power_max_uW",
    "rx_wavelength_nM",
)


def _lane_value(lane: dict, name: str):
    if name in lane:
        return lane[name]
    for key, value in lane.items():  # sflowtool's JSON names some lane fields "x.%u"
        if key.split(".")[0] == name:
            return value
    return 0


def _sfp(d: dict) -> bytes:
    lanes = d.get("sfp_lanes") or []
    out = pack_fields(
        _fields(
            "sfp_module_id sfp_module_total_lanes sfp_module_supply_voltage sfp_module_temperature"
        ),
        d,
    ) + u32(len(lanes))
    for lane in lanes:
        out += b"".join(u32(_lane_value(lane, n)) for n in _SFP_LANE)
    return out


@counter_record(0, 10, encode=_sfp)
def sfp(r, length, d):
    d["sfp_module_id"] = r.u32()
    d["sfp_module_total_lanes"] = r.u32()
    d["sfp_module_supply_voltage"] = r.u32()
    d["sfp_module_temperature"] = r.u32()
    n = d["sfp_module_active_lanes"] = r.count("SFP lane", 255)
    if n:
        d["sfp_lanes"] = [{k: r.u32() for k in _SFP_LANE} for _ in range(n)]


@counter_record(
    0,
    1001,
    encode=simple("5s_cpu:pct 1m_cpu:pct 5m_cpu:pct total_memory_bytes:u64 free_memory_bytes:u64"),
)
def processor(r, length, d):
    d["5s_cpu"] = _percent(r)
    d["1m_cpu"] = _percent(r)
    d["5m_cpu"] = _percent(r)
    d["total_memory_bytes"] = r.u64()
    d["free_memory_bytes"] = r.u64()


def _of_port(d: dict) -> bytes:
    dpid = d.get("openflow_datapath_id")
    dpid = int(dpid, 16) if isinstance(dpid, str) else as_int(dpid)
    return u64(dpid) + u32(d.get("openflow_port"))


@counter_record(0, 1004, encode=_of_port)
def openflow_port(r, length, d):
    d["openflow_datapath_id"] = f"{r.u64():016x}"
    d["openflow_port"] = r.u32()


@counter_record(0, 1005, encode=simple("ifName:str"))
def port_name(r, length, d):
    s = r.string()
    if s:
        d["ifName"] = s


def _uuid_bytes(v) -> bytes:
    if v in (None, ""):
        return b"\0" * 16
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    return _uuid.UUID(str(v)).bytes


def _host_descr(d: dict) -> bytes:
    return (
        string(d.get("hostname"))
        + _uuid_bytes(d.get("UUID"))
        + u32(d.get("machine_type"))
        + u32(d.get("os_name"))
        + string(d.get("os_release"))
    )


@counter_record(0, 2000, encode=_host_descr)
def host_descr(r, length, d):
    s = r.string()
    if s:
        d["hostname"] = s
    u = r.opaque(16).hex()
    d["UUID"] = f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}"
    d["machine_type"] = r.u32()
    d["os_name"] = r.u32()
    s = r.string()
    if s:
        d["os_release"] = s


def _adaptors(d: dict) -> bytes:
    adaptors = d.get("adaptor_list") or []
    out = [u32(len(adaptors))]
    for a in adaptors:
        macs = a.get("mac_list") or []
        out.append(u32(a.get("ifIndex")) + u32(len(macs)) + b"".join(mac(m) for m in macs))
    return b"".join(out)


@counter_record(0, 2001, encode=_adaptors)
def host_adapters(r, length, d):
    adaptors = []
    for _ in range(r.count("adaptor")):
        ifindex = r.u32()
        n = r.count("adaptor MAC")
        adaptors.append({"ifIndex": ifindex, "MACs": n, "mac_list": [r.mac() for _ in range(n)]})
    d["adaptor_list"] = adaptors


_CPU = (
    "cpu_proc_run",
    "cpu_proc_total",
    "cpu_num",
    "cpu_speed",
    "cpu_uptime",
    "cpu_user",
    "cpu_nice",
    "cpu_system",
    "cpu_idle",
    "cpu_wio",
    "cpuintr",
    "cpu_sintr",
    "cpuinterrupts",
    "cpu_contexts",
)


_ENC_CPU = _fields(
    "cpu_load_one:f32 cpu_load_five:f32 cpu_load_fifteen:f32 cpu_proc_run "
    "cpu_proc_total cpu_num cpu_speed cpu_uptime cpu_user cpu_nice cpu_system "
    "cpu_idle cpu_wio cpuintr cpu_sintr cpuinterrupts cpu_contexts"
)
_ENC_CPU_2014 = _fields("cpu_steal cpu_guest cpu_guest_nice")


def _host_cpu(d: dict) -> bytes:
    out = pack_fields(_ENC_CPU, d)
    # The three 2014 fields make the record 80 bytes; agents that predate them send 68.
    if any(k in d for k in ("cpu_steal", "cpu_guest", "cpu_guest_nice")):
        out += pack_fields(_ENC_CPU_2014, d)
    return out


@counter_record(0, 2003, encode=_host_cpu)
def host_cpu(r, length, d):
    # sflowtool prints loads with %.3f; keep the float rounded the same way
    d["cpu_load_one"] = round(r.f32(), 3)
    d["cpu_load_five"] = round(r.f32(), 3)
    d["cpu_load_fifteen"] = round(r.f32(), 3)
    for n in _CPU:
        d[n] = r.u32()
    if length > 68:  # steal/guest/guest_nice were added in 2014
        d["cpu_steal"] = r.u32()
        d["cpu_guest"] = r.u32()
        d["cpu_guest_nice"] = r.u32()


@counter_record(
    0,
    2005,
    encode=simple(
        "disk_total:u64 disk_free:u64 disk_partition_max_used:pct "
        "disk_reads disk_bytes_read:u64 disk_read_time disk_writes "
        "disk_bytes_written:u64 disk_write_time"
    ),
)
def host_disk_io(r, length, d):
    d["disk_total"] = r.u64()
    d["disk_free"] = r.u64()
    d["disk_partition_max_used"] = _percent(r)
    d["disk_reads"] = r.u32()
    d["disk_bytes_read"] = r.u64()
    d["disk_read_time"] = r.u32()
    d["disk_writes"] = r.u32()
    d["disk_bytes_written"] = r.u64()
    d["disk_write_time"] = r.u32()


@counter_record(0, 2105, encode=simple("jvm_name:str jvm_vendor:str jvm_version:str"))
def jvm_runtime(r, length, d):
    for n in ("jvm_name", "jvm_vendor", "jvm_version"):
        s = r.string()
        if s:
            d[n] = s


_JMX64 = (
    "heap_mem_initial",
    "heap_mem_used",
    "heap_mem_committed",
    "heap_mem_max",
    "non_heap_mem_initial",
    "non_heap_mem_used",
    "non_heap_mem_committed",
    "non_heap_mem_max",
)
_JMX32 = (
    "gc_count",
    "gc_mS",
    "classes_loaded",
    "classes_total",
    "classes_unloaded",
    "compilation_mS",
    "threads_live",
    "threads_daemon",
    "threads_started",
)


_ENC_JMX = _fields(
    "heap_mem_initial:u64 heap_mem_used:u64 heap_mem_committed:u64 heap_mem_max:u64 "
    "non_heap_mem_initial:u64 non_heap_mem_used:u64 non_heap_mem_committed:u64 "
    "non_heap_mem_max:u64 gc_count gc_mS classes_loaded classes_total "
    "classes_unloaded compilation_mS threads_live threads_daemon threads_started"
)


def _jmx(d: dict) -> bytes:
    out = pack_fields(_ENC_JMX, d)
    if "fds_open" in d or "fds_max" in d:
        out += u32(d.get("fds_open")) + u32(d.get("fds_max"))
    return out


@counter_record(0, 2106, encode=_jmx)
def jmx(r, length, d):
    for n in _JMX64:
        d[n] = r.u64()
    for n in _JMX32:
        d[n] = r.u32()
    if length > 100:
        d["fds_open"] = r.u32()
        d["fds_max"] = r.u32()


_APP_ERRORS = (
    "status_OK",
    "errors_OTHER",
    "errors_TIMEOUT",
    "errors_INTERNAL_ERROR",
    "errors_BAD_REQUEST",
    "errors_FORBIDDEN",
    "errors_TOO_LARGE",
    "errors_NOT_IMPLEMENTED",
    "errors_NOT_FOUND",
    "errors_UNAVAILABLE",
    "errors_UNAUTHORIZED",
)


@counter_record(
    0,
    2202,
    encode=simple(
        "application:str status_OK errors_OTHER errors_TIMEOUT "
        "errors_INTERNAL_ERROR errors_BAD_REQUEST errors_FORBIDDEN "
        "errors_TOO_LARGE errors_NOT_IMPLEMENTED errors_NOT_FOUND "
        "errors_UNAVAILABLE errors_UNAUTHORIZED"
    ),
)
def app_operations(r, length, d):
    s = r.string()
    if s:
        d["application"] = s
    for n in _APP_ERRORS:
        d[n] = r.u32()


# tag -> (field names, struct codes without the ">"): the fixed-layout records, which the C
# counter path (engine/sflow/_counters.c) decodes itself (plans: metrics/store.counter_plans)
FIXED_LAYOUTS: dict[int, tuple[tuple[str, ...], str]] = {
    tag: rt.fixed for tag, rt in COUNTER.items() if rt.fixed is not None
}
