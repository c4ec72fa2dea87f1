"""Counter records (sflowtool field names) -> sFlow-RT metric names and values.

Each record type has a RecordMap compiled once from a field table: gauges are copied, counters
become per-second rates from the delta with the previous record of the same data source, enums
become strings, and a derive function adds computed metrics (utilizations, percentages, sums).
Formulas and units are documented in docs/metrics.md.

Values equal to all-ones (0xFFFFFFFF / 0xFFFFFFFFFFFFFFFF) are sFlow's "unknown" and produce
no metric. A counter that went backwards is taken as a wrap only when the wrapped delta is
below half the counter's range; otherwise it was reset and that interval gives no rate.
"""

from __future__ import annotations

from ..sflow.flow_keys import APP_STATUS

U32 = 0xFFFFFFFF
U64 = 0xFFFFFFFFFFFFFFFF
_M32 = 1 << 32
_M64 = 1 << 64
_HALF32 = 1 << 31

IFTYPE = {
    1: "other",
    6: "ethernetCsmacd",
    23: "ppp",
    24: "softwareLoopback",
    32: "frameRelay",
    37: "atm",
    53: "propVirtual",
    62: "fastEther",
    69: "fastEtherFX",
    71: "ieee80211",
    117: "gigabitEthernet",
    131: "tunnel",
    135: "l2vlan",
    136: "l3ipvlan",
    150: "mplsTunnel",
    161: "ieee8023adLag",
    166: "mpls",
    209: "bridge",
}
IFDIRECTION = {0: "unknown", 1: "full-duplex", 2: "half-duplex", 3: "in", 4: "out"}
MACHINE_TYPE = {
    0: "unknown",
    1: "other",
    2: "x86",
    3: "x86_64",
    4: "ia64",
    5: "sparc",
    6: "alpha",
    7: "powerpc",
    8: "m68k",
    9: "mips",
    10: "arm",
    11: "hppa",
    12: "s390",
}
OS_NAME = {
    0: "unknown",
    1: "other",
    2: "linux",
    3: "windows",
    4: "darwin",
    5: "hpux",
    6: "aix",
    7: "dragonfly",
    8: "freebsd",
    9: "netbsd",
    10: "openbsd",
    11: "osf",
    12: "solaris",
    13: "java",
}
VIR_STATE = {
    0: "nostate",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutdown",
    5: "shutoff",
    6: "crashed",
    7: "pmsuspended",
}


def delta(cur, prev, mod: int = _M32):
    """Counter increase from prev to cur, allowing one wrap; None if unknown or reset."""
    if cur is None or prev is None or cur == mod - 1 or prev == mod - 1:
        return None
    d = cur - prev
    if d < 0:
        d += mod
        if d >= mod >> 1:
            return None
    return d


def _round_float(v: float) -> float:
    # agents send float32: 0.24 arrives as 0.23999999463558197
    return float(f"{v:.6g}")


class RecordMap:
    """How one counter record type becomes metrics."""

    __slots__ = (
        "gauges",
        "floats",
        "counters",
        "strings",
        "enums",
        "derive",
        "needs_prev",
        "v_gauges",
        "v_floats",
        "v_counters",
        "v_strings",
        "v_enums",
    )

    def __init__(
        self, fields, derive=None, vir_prefix: bool = False, needs_prev: bool | None = None
    ):
        gauges, floats, counters, strings, enums = [], [], [], [], []
        for spec in fields:
            src, dst, kind = spec[0], spec[1], spec[2]
            if kind == "g32":
                gauges.append((src, dst, U32))
            elif kind == "g64":
                gauges.append((src, dst, U64))
            elif kind == "gf":
                floats.append((src, dst))
            elif kind == "c32":
                counters.append((src, dst, _M32, U32, _HALF32))
            elif kind == "c64":
                counters.append((src, dst, _M64, U64, 1 << 63))
            elif kind == "s":
                strings.append((src, dst))
            elif kind == "e":
                enums.append((src, dst, spec[3]))
            else:
                raise ValueError(f"field kind {kind!r}")
        self.gauges, self.floats, self.counters = tuple(gauges), tuple(floats), tuple(counters)
        self.strings, self.enums, self.derive = tuple(strings), tuple(enums), derive
        # only records with counters (or derived rates) keep the previous record for deltas
        self.needs_prev = bool(counters) if needs_prev is None else needs_prev

        def vir(items):
            if not vir_prefix:
                return items
            return tuple((t[0], _vir(t[1])) + tuple(t[2:]) for t in items)

        self.v_gauges, self.v_floats, self.v_counters = (
            vir(self.gauges),
            vir(self.floats),
            vir(self.counters),
        )
        self.v_strings, self.v_enums = vir(self.strings), vir(self.enums)

    def apply(self, rec: dict, prev: dict | None, dt: float, out: dict, virtual: bool) -> None:
        get = rec.get
        if virtual:
            gauges, floats, counters, strings, enums = (
                self.v_gauges,
                self.v_floats,
                self.v_counters,
                self.v_strings,
                self.v_enums,
            )
        else:
            gauges, floats, counters, strings, enums = (
                self.gauges,
                self.floats,
                self.counters,
                self.strings,
                self.enums,
            )
        for src, dst, unknown in gauges:
            v = get(src)
            if v is not None and v != unknown:
                out[dst] = v
        for src, dst in floats:
            v = get(src)
            if v is not None and v >= 0:
                out[dst] = _round_float(v)
        for src, dst in strings:
            v = get(src)
            if v:
                out[dst] = v
        for src, dst, table in enums:
            v = get(src)
            if v is not None:
                out[dst] = v if isinstance(v, str) else table.get(v) or str(v)
        if prev is not None and dt > 0:
            pget = prev.get
            for src, dst, mod, unknown, half in counters:
                c = get(src)
                p = pget(src)
                if c is None or p is None or c == unknown or p == unknown:
                    continue
                d = c - p
                if d < 0:
                    d += mod
                    if d >= half:
                        continue
                out[dst] = d / dt
        if self.derive is not None:
            self.derive(rec, prev, dt, out, virtual)


def _vir(name: str) -> str:
    return name if name.startswith("vir_") else "vir_" + name


# -- derived metrics ------------------------------------------------------------------------
def _derive_if(rec, prev, dt, out, virtual):
    status = rec.get("ifStatus")
    if status is not None:
        out["ifadminstatus"] = "up" if status & 1 else "down"
        out["ifoperstatus"] = "up" if status & 2 else "down"
    speed = rec.get("ifSpeed")
    if speed and speed != U64:
        octets = out.get("ifinoctets")
        if octets is not None and prev is not None:
            out["ifinutilization"] = octets * 800.0 / speed
        octets = out.get("ifoutoctets")
        if octets is not None and prev is not None:
            out["ifoututilization"] = octets * 800.0 / speed
    if prev is not None and dt > 0:
        for direction in ("in", "out"):
            parts = [
                out[n]
                for n in (
                    f"if{direction}ucastpkts",
                    f"if{direction}multicastpkts",
                    f"if{direction}broadcastpkts",
                )
                if n in out
            ]
            if parts:
                out[f"if{direction}pkts"] = sum(parts)


_CPU_TIMES = (
    "cpu_user",
    "cpu_nice",
    "cpu_system",
    "cpu_idle",
    "cpu_wio",
    "cpuintr",
    "cpu_sintr",
    "cpu_steal",
)
_CPU_PCT = (
    ("cpu_user", "cpu_user"),
    ("cpu_nice", "cpu_nice"),
    ("cpu_system", "cpu_system"),
    ("cpu_idle", "cpu_idle"),
    ("cpu_wio", "cpu_wio"),
    ("cpuintr", "cpu_intr"),
    ("cpu_sintr", "cpu_sintr"),
    ("cpu_steal", "cpu_steal"),
    ("cpu_guest", "cpu_guest"),
    ("cpu_guest_nice", "cpu_guest_nice"),
)


def _derive_cpu(rec, prev, dt, out, virtual):
    load, ncpu = out.get("load_one"), rec.get("cpu_num")
    if load is not None and ncpu and ncpu != U32:
        out["load_one_per_cpu"] = load / ncpu
    if prev is None:
        return
    deltas = {}
    for name in _CPU_TIMES:
        d = delta(rec.get(name), prev.get(name))
        if d is not None:
            deltas[name] = d
    total = sum(deltas.values())
    if total <= 0 or "cpu_idle" not in deltas:
        return
    for src, dst in _CPU_PCT:
        d = deltas.get(src)
        if d is None and src in ("cpu_guest", "cpu_guest_nice"):
            d = delta(rec.get(src), prev.get(src))
        if d is not None:
            out[dst] = 100.0 * d / total
    out["cpu_utilization"] = 100.0 * (total - deltas["cpu_idle"] - deltas.get("cpu_wio", 0)) / total


def _derive_mem(rec, prev, dt, out, virtual):
    total = out.get("mem_total")
    if total:
        free = out.get("mem_free", 0) + out.get("mem_buffers", 0) + out.get("mem_cached", 0)
        out["mem_utilization"] = 100.0 * (total - free) / total
    swap = out.get("swap_total")
    if swap and "swap_free" in out:
        out["swap_utilization"] = 100.0 * (swap - out["swap_free"]) / swap


def _derive_disk(rec, prev, dt, out, virtual):
    total = out.get("disk_total")
    if total and "disk_free" in out:
        out["disk_utilization"] = 100.0 * (total - out["disk_free"]) / total


def _derive_processor(rec, prev, dt, out, virtual):
    total = out.get("mem_total")
    if total and "mem_free" in out:
        out["mem_utilization"] = 100.0 * (total - out["mem_free"]) / total


def _derive_radio(rec, prev, dt, out, virtual):
    if prev is None:
        return
    on = delta(rec.get("radio_on_channel_time"), prev.get("radio_on_channel_time"))
    busy = delta(rec.get("radio_on_channel_busy_time"), prev.get("radio_on_channel_busy_time"))
    if on and busy is not None:
        out["radio_utilization"] = 100.0 * busy / on


def _derive_vcpu(rec, prev, dt, out, virtual):
    if prev is None or dt <= 0:
        return
    d = delta(rec.get("vcpu_cpu_mS"), prev.get("vcpu_cpu_mS"))
    if d is None:
        return
    n = rec.get("vcpu_cpuCount")
    n = n if n and n != U32 else 1
    out["vir_cpu_utilization"] = 100.0 * d / (dt * 1000.0 * n)


def _derive_vmem(rec, prev, dt, out, virtual):
    used, total = out.get("vir_mem_used"), out.get("vir_mem_total")
    if used is not None and total:
        out["vir_mem_utilization"] = 100.0 * used / total


def _derive_vdsk(rec, prev, dt, out, virtual):
    cap, avail = out.get("vir_disk_capacity"), out.get("vir_disk_available")
    if cap and avail is not None:
        out["vir_disk_utilization"] = 100.0 * (cap - avail) / cap


_HTTP_METHODS = (
    "http_method_option",
    "http_method_get",
    "http_method_head",
    "http_method_post",
    "http_method_put",
    "http_method_delete",
    "http_method_trace",
    "http_method_connect",
    "http_method_other",
)


def _derive_http(rec, prev, dt, out, virtual):
    parts = [out[n] for n in _HTTP_METHODS if n in out]
    if parts:
        out["http_requests"] = sum(parts)


def _derive_workers(rec, prev, dt, out, virtual):
    active, most = out.get("workers_active"), out.get("workers_max")
    if active is not None and most:
        out["workers_utilization"] = 100.0 * active / most


def _derive_nvml(rec, prev, dt, out, virtual):
    p = "vir_" if virtual else ""
    total, free = out.get(p + "nvml_mem_total"), out.get(p + "nvml_mem_free")
    if total and free is not None:
        out[p + "nvml_mem_utilization"] = 100.0 * (total - free) / total
    n = rec.get("nvml_device_count")
    gputime = out.get(p + "nvml_gputime")
    if gputime is not None and n and n != U32:
        out[p + "nvml_gpu_utilization"] = gputime / (10.0 * n)  # ms per s per device -> %


def _derive_sfp(rec, prev, dt, out, virtual):
    lanes = rec.get("sfp_lanes")
    if not lanes:
        return

    def lane_values(name):
        vals = []
        for lane in lanes:
            v = lane.get(name)
            if v is None:
                for key, value in lane.items():
                    if key.split(".")[0] == name:
                        v = value
                        break
            if v is not None and v != U32:
                vals.append(v)
        return vals

    rx = lane_values("rx_power_uW")
    tx = lane_values("tx_power_uW")
    bias = lane_values("tx_bias_current_uA")
    if rx:
        out["opt_rx_power_min"] = min(rx) / 1000.0  # mW
    if tx:
        out["opt_tx_power_min"] = min(tx) / 1000.0
    if bias:
        out["opt_tx_bias_current_max"] = max(bias) / 1000.0  # mA


_BCM_UTIL = (
    ("bcm_host_utilization", "bcm_asic_host_entries", "bcm_host_entries_max"),
    ("bcm_mac_utilization", "bcm_mac_entries", "bcm_mac_entries_max"),
    ("bcm_ipv4_utilization", "bcm_ipv4_entries", "bcm_ipv4_entries_max"),
    ("bcm_ipv6_utilization", "bcm_ipv6_entries", "bcm_ipv6_entries_max"),
    ("bcm_ipv4_ipv6_utilization", "bcm_ipv4_ipv6_entries", "bcm_ipv4_ipv6_entries_max"),
    # sic: the name sFlow-RT apps use
    ("bcm_long_ipv6_utilizaton", "bcm_long_ipv6_entries", "bcm_long_ipv6_entries_max"),
    ("bcm_total_routes_utilization", "bcm_total_routes", "bcm_total_routes_max"),
    ("bcm_ecmp_nexthops_utilization", "bcm_ecmp_nexthops", "bcm_ecmp_nexthops_max"),
    ("bcm_acl_ingress_utilization", "bcm_acl_ingress_entries", "bcm_acl_ingress_entries_max"),
    ("bcm_acl_ingress_meters_utilization", "bcm_acl_ingress_meters", "bcm_acl_ingress_meters_max"),
    (
        "bcm_acl_ingress_counters_utilization",
        "bcm_acl_ingress_counters",
        "bcm_acl_ingress_counters_max",
    ),
    ("bcm_acl_egress_utilization", "bcm_acl_egress_entries", "bcm_acl_egress_entries_max"),
    ("bcm_acl_egress_meters_utilization", "bcm_acl_egress_meters", "bcm_acl_egress_meters_max"),
    (
        "bcm_acl_egress_counters_utilization",
        "bcm_acl_egress_counters",
        "bcm_acl_egress_counters_max",
    ),
)


def _derive_bcm(rec, prev, dt, out, virtual):
    get = rec.get
    for name, used, most in _BCM_UTIL:
        u, m = get(used), get(most)
        if u is not None and m and m != U32 and u != U32:
            out[name] = 100.0 * u / m


# -- field tables ---------------------------------------------------------------------------
def _lower(prefix: str, strip: str, names: str, kind: str, gauges: str = "", kinds64: str = ""):
    """Fields named prefix + name-without-strip, lower-cased; `gauges`/`kinds64` list exceptions."""
    g, w = set(gauges.split()), set(kinds64.split())
    out = []
    for src in names.split():
        dst = prefix + (src[len(strip) :] if src.startswith(strip) else src).lower()
        if src in g:
            k = "g64" if src in w else "g32"
        else:
            k = kind.replace("32", "64") if src in w else kind
        out.append((src, dst, k))
    return out


_IF = [
    ("ifIndex", "ifindex", "g32"),
    ("networkType", "iftype", "e", IFTYPE),
    ("ifSpeed", "ifspeed", "g64"),
    ("ifDirection", "ifdirection", "e", IFDIRECTION),
    ("ifInOctets", "ifinoctets", "c64"),
    ("ifInUcastPkts", "ifinucastpkts", "c32"),
    ("ifInMulticastPkts", "ifinmulticastpkts", "c32"),
    ("ifInBroadcastPkts", "ifinbroadcastpkts", "c32"),
    ("ifInDiscards", "ifindiscards", "c32"),
    ("ifInErrors", "ifinerrors", "c32"),
    ("ifInUnknownProtos", "ifinunknownprotos", "c32"),
    ("ifOutOctets", "ifoutoctets", "c64"),
    ("ifOutUcastPkts", "ifoutucastpkts", "c32"),
    ("ifOutMulticastPkts", "ifoutmulticastpkts", "c32"),
    ("ifOutBroadcastPkts", "ifoutbroadcastpkts", "c32"),
    ("ifOutDiscards", "ifoutdiscards", "c32"),
    ("ifOutErrors", "ifouterrors", "c32"),
    ("ifPromiscuousMode", "ifpromiscuousmode", "g32"),
]

_ETH = [
    ("dot3StatsAlignmentErrors", "eth_alignmenterrors", "c32"),
    ("dot3StatsFCSErrors", "eth_fcserrors", "c32"),
    ("dot3StatsSingleCollisionFrames", "eth_singlecollisions", "c32"),
    ("dot3StatsMultipleCollisionFrames", "eth_multiplecollisions", "c32"),
    ("dot3StatsSQETestErrors", "eth_sqetesterrors", "c32"),
    ("dot3StatsDeferredTransmissions", "eth_deferredtx", "c32"),
    ("dot3StatsLateCollisions", "eth_latecollision", "c32"),
    ("dot3StatsExcessiveCollisions", "eth_excessivecollisions", "c32"),
    ("dot3StatsInternalMacTransmitErrors", "eth_internalmactxerrors", "c32"),
    ("dot3StatsCarrierSenseErrors", "eth_carriersenseerrors", "c32"),
    ("dot3StatsFrameTooLongs", "eth_frametoolongs", "c32"),
    ("dot3StatsInternalMacReceiveErrors", "eth_internalmacrxerrors", "c32"),
    ("dot3StatsSymbolErrors", "eth_symbolerrors", "c32"),
]

_TOKENRING = _lower(
    "tr_",
    "dot5Stats",
    "dot5StatsLineErrors dot5StatsBurstErrors dot5StatsACErrors "
    "dot5StatsAbortTransErrors dot5StatsInternalErrors dot5StatsLostFrameErrors "
    "dot5StatsReceiveCongestions dot5StatsFrameCopiedErrors dot5StatsTokenErrors "
    "dot5StatsSoftErrors dot5StatsHardErrors dot5StatsSignalLoss "
    "dot5StatsTransmitBeacons dot5StatsRecoverys dot5StatsLobeWires "
    "dot5StatsRemoves dot5StatsSingles dot5StatsFreqErrors",
    "c32",
)

_VG_NAMES = (
    "dot12InHighPriorityFrames dot12InHighPriorityOctets dot12InNormPriorityFrames "
    "dot12InNormPriorityOctets dot12InIPMErrors dot12InOversizeFrameErrors "
    "dot12InDataErrors dot12InNullAddressedFrames dot12OutHighPriorityFrames "
    "dot12OutHighPriorityOctets dot12TransitionIntoTrainings "
    "dot12HCInHighPriorityOctets dot12HCInNormPriorityOctets "
    "dot12HCOutHighPriorityOctets"
)
_VG = _lower(
    "vg_",
    "dot12",
    _VG_NAMES,
    "c32",
    kinds64=" ".join(n for n in _VG_NAMES.split() if n.endswith("Octets")),
)

_VLAN = [
    ("in_vlan", "vlan", "g32"),
    ("octets", "vlan_octets", "c64"),
    ("ucastPkts", "vlan_ucastpkts", "c32"),
    ("multicastPkts", "vlan_multicastpkts", "c32"),
    ("broadcastPkts", "vlan_broadcastpkts", "c32"),
    ("discards", "vlan_discards", "c32"),
]

_WIFI = _lower(
    "dot11_",
    "dot11",
    "dot11TransmittedFragmentCount dot11MulticastTransmittedFrameCount "
    "dot11FailedCount dot11RetryCount dot11MultipleRetryCount "
    "dot11FrameDuplicateCount dot11RTSSuccessCount dot11RTSFailureCount "
    "dot11ACKFailureCount dot11ReceivedFragmentCount "
    "dot11MulticastReceivedFrameCount dot11FCSErrorCount dot11TransmittedFrameCount "
    "dot11WEPUndecryptableCount dot11QoSDiscardedFragmentCount "
    "dot11AssociatedStationCount dot11QoSCFPollsReceivedCount "
    "dot11QoSCFPollsUnusedCount dot11QoSCFPollsUnusableCount dot11QoSCFPollsLostCount",
    "c32",
    gauges="dot11AssociatedStationCount",
)

_LACP = [
    ("actorSystemID", "agg_actorsystemid", "s"),
    ("partnerSystemID", "agg_partneropersystemid", "s"),
    ("attachedAggID", "agg_attachedaggid", "g32"),
    ("actorAdminPortState", "agg_actoradminportstate", "g32"),
    ("actorOperPortState", "agg_actoroperportstate", "g32"),
    ("partnerAdminPortState", "agg_partneradminportstate", "g32"),
    ("partnerOperPortState", "agg_partneroperportstate", "g32"),
] + _lower(
    "agg_",
    "",
    "LACPDUsRx markerPDUsRx markerResponsePDUsRx unknownRx illegalRx LACPDUsTx "
    "markerPDUsTx markerResponsePDUsTx",
    "c32",
)

_SFP = [
    ("sfp_module_id", "opt_module_id", "g32"),
    ("sfp_module_total_lanes", "opt_module_lanes", "g32"),
    ("sfp_module_active_lanes", "opt_module_active_lanes", "g32"),
]

_PFC = [
    ("PFC_requests", "pfc_requests", "c64"),
    ("PFC_indications", "pfc_indications", "c64"),
    ("PFC_pause_duration", "pfc_pause_duration", "c64"),
    ("PFC_storm_detected", "pfc_storm_detected", "c32"),
    ("PFC_storm_restored", "pfc_storm_restored", "c32"),
]

_PROCESSOR = [
    ("5s_cpu", "cpu_5sec", "gf"),
    ("1m_cpu", "cpu_1min", "gf"),
    ("5m_cpu", "cpu_5min", "gf"),
    ("total_memory_bytes", "mem_total", "g64"),
    ("free_memory_bytes", "mem_free", "g64"),
]

_RADIO = [
    ("radio_elapsed_time", "radio_elapsed_time", "c32"),
    ("radio_on_channel_time", "radio_on_channel_time", "c32"),
    ("radio_on_channel_busy_time", "radio_on_channel_busy_time", "c32"),
]

_HOST_DESCR = [
    ("hostname", "host_name", "s"),
    ("UUID", "uuid", "s"),
    ("machine_type", "machine_type", "e", MACHINE_TYPE),
    ("os_name", "os_name", "e", OS_NAME),
    ("os_release", "os_release", "s"),
]

_HOST_CPU = [
    ("cpu_load_one", "load_one", "gf"),
    ("cpu_load_five", "load_five", "gf"),
    ("cpu_load_fifteen", "load_fifteen", "gf"),
    ("cpu_proc_run", "proc_run", "g32"),
    ("cpu_proc_total", "proc_total", "g32"),
    ("cpu_num", "cpu_num", "g32"),
    ("cpu_speed", "cpu_speed", "g32"),
    ("cpu_uptime", "uptime", "g32"),
    ("cpuinterrupts", "interrupts", "c32"),
    ("cpu_contexts", "contexts", "c32"),
]

_HOST_MEM = [
    ("mem_total", "mem_total", "g64"),
    ("mem_free", "mem_free", "g64"),
    ("mem_shared", "mem_shared", "g64"),
    ("mem_buffers", "mem_buffers", "g64"),
    ("mem_cached", "mem_cached", "g64"),
    ("swap_total", "swap_total", "g64"),
    ("swap_free", "swap_free", "g64"),
    ("page_in", "page_in", "c32"),
    ("page_out", "page_out", "c32"),
    ("swap_in", "swap_in", "c32"),
    ("swap_out", "swap_out", "c32"),
]

_HOST_DISK = [
    ("disk_total", "disk_total", "g64"),
    ("disk_free", "disk_free", "g64"),
    ("disk_partition_max_used", "part_max_used", "gf"),
    ("disk_reads", "reads", "c32"),
    ("disk_bytes_read", "bytes_read", "c64"),
    ("disk_read_time", "read_time", "c32"),
    ("disk_writes", "writes", "c32"),
    ("disk_bytes_written", "bytes_written", "c64"),
    ("disk_write_time", "write_time", "c32"),
]

_HOST_NIO = [
    ("nio_bytes_in", "bytes_in", "c64"),
    ("nio_pkts_in", "pkts_in", "c32"),
    ("nio_errs_in", "errs_in", "c32"),
    ("nio_drops_in", "drops_in", "c32"),
    ("nio_bytes_out", "bytes_out", "c64"),
    ("nio_pkts_out", "pkts_out", "c32"),
    ("nio_errs_out", "errs_out", "c32"),
    ("nio_drops_out", "drops_out", "c32"),
]

_MIB_IP = _lower(
    "ip_",
    "ip",
    "ipForwarding ipDefaultTTL ipInReceives ipInHdrErrors ipInAddrErrors "
    "ipForwDatagrams ipInUnknownProtos ipInDiscards ipInDelivers ipOutRequests "
    "ipOutDiscards ipOutNoRoutes ipReasmTimeout ipReasmReqds ipReasmOKs "
    "ipReasmFails ipFragOKs ipFragFails ipFragCreates",
    "c32",
    gauges="ipForwarding ipDefaultTTL ipReasmTimeout",
)
_MIB_ICMP = _lower(
    "icmp_",
    "icmp",
    "icmpInMsgs icmpInErrors icmpInDestUnreachs icmpInTimeExcds "
    "icmpInParamProbs icmpInSrcQuenchs icmpInRedirects icmpInEchos "
    "icmpInEchoReps icmpInTimestamps icmpInAddrMasks icmpInAddrMaskReps "
    "icmpOutMsgs icmpOutErrors icmpOutDestUnreachs icmpOutTimeExcds "
    "icmpOutParamProbs icmpOutSrcQuenchs icmpOutRedirects icmpOutEchos "
    "icmpOutEchoReps icmpOutTimestamps icmpOutTimestampReps icmpOutAddrMasks "
    "icmpOutAddrMaskReps",
    "c32",
)
_MIB_TCP = _lower(
    "tcp_",
    "tcp",
    "tcpRtoAlgorithm tcpRtoMin tcpRtoMax tcpMaxConn tcpActiveOpens "
    "tcpPassiveOpens tcpAttemptFails tcpEstabResets tcpCurrEstab tcpInSegs "
    "tcpOutSegs tcpRetransSegs tcpInErrs tcpOutRsts tcpInCsumErrors",
    "c32",
    gauges="tcpRtoAlgorithm tcpRtoMin tcpRtoMax tcpMaxConn tcpCurrEstab",
)
_MIB_UDP = _lower(
    "udp_",
    "udp",
    "udpInDatagrams udpNoPorts udpInErrors udpOutDatagrams udpRcvbufErrors "
    "udpSndbufErrors udpInCsumErrors",
    "c32",
)

_VNODE = [
    ("vnode_mhz", "node_mhz", "g32"),
    ("vnode_cpus", "node_cpus", "g32"),
    ("vnode_memory", "node_memory", "g64"),
    ("vnode_memory_free", "node_memory_free", "g64"),
    ("vnode_num_domains", "node_domains", "g32"),
]
_VCPU = [("vcpu_state", "vir_cpu_state", "e", VIR_STATE), ("vcpu_cpuCount", "vir_cpu_count", "g32")]
_VMEM = [("vmem_memory", "vir_mem_used", "g64"), ("vmem_maxMemory", "vir_mem_total", "g64")]
_VDSK = [
    ("vdsk_capacity", "vir_disk_capacity", "g64"),
    ("vdsk_allocation", "vir_disk_allocation", "g64"),
    ("vdsk_available", "vir_disk_available", "g64"),
    ("vdsk_rd_req", "vir_reads", "c32"),
    ("vdsk_rd_bytes", "vir_bytes_read", "c64"),
    ("vdsk_wr_req", "vir_writes", "c32"),
    ("vdsk_wr_bytes", "vir_bytes_written", "c64"),
    ("vdsk_errs", "vir_disk_errors", "c32"),
]
_VNIO = [
    ("vnio_bytes_in", "vir_bytes_in", "c64"),
    ("vnio_pkts_in", "vir_pkts_in", "c32"),
    ("vnio_errs_in", "vir_errs_in", "c32"),
    ("vnio_drops_in", "vir_drops_in", "c32"),
    ("vnio_bytes_out", "vir_bytes_out", "c64"),
    ("vnio_pkts_out", "vir_pkts_out", "c32"),
    ("vnio_errs_out", "vir_errs_out", "c32"),
    ("vnio_drops_out", "vir_drops_out", "c32"),
]

_JVM = [
    ("jvm_name", "jvm_name", "s"),
    ("jvm_vendor", "jvm_vendor", "s"),
    ("jvm_version", "jvm_version", "s"),
]
_JMX = [
    ("heap_mem_initial", "jvm_heap_initial", "g64"),
    ("heap_mem_used", "jvm_heap_used", "g64"),
    ("heap_mem_committed", "jvm_heap_committed", "g64"),
    ("heap_mem_max", "jvm_heap_max", "g64"),
    ("non_heap_mem_initial", "jvm_non_heap_initial", "g64"),
    ("non_heap_mem_used", "jvm_non_heap_used", "g64"),
    ("non_heap_mem_committed", "jvm_non_heap_committed", "g64"),
    ("non_heap_mem_max", "jvm_non_heap_max", "g64"),
    ("gc_count", "jvm_gc_count", "c32"),
    ("gc_mS", "jvm_gc_ms", "c32"),
    ("classes_loaded", "jvm_classes_loaded", "g32"),
    ("classes_total", "jvm_classes_total", "c32"),
    ("classes_unloaded", "jvm_classes_unloaded", "c32"),
    ("compilation_mS", "jvm_compilation_ms", "c32"),
    ("threads_live", "jvm_threads_live", "g32"),
    ("threads_daemon", "jvm_threads_daemon", "g32"),
    ("threads_started", "jvm_threads_started", "c32"),
    ("fds_open", "jvm_fds_open", "g32"),
    ("fds_max", "jvm_fds_max", "g32"),
]

_MEMCACHE_GAUGES = (
    "memcache_uptime memcache_curr_connections memcache_connection_structures "
    "memcache_limit_maxbytes memcache_accepting_conns memcache_threads "
    "memcache_bytes memcache_curr_items"
)
_MEMCACHE_64 = "memcache_bytes_read memcache_bytes_written memcache_bytes"
_MEMCACHE = _lower(
    "",
    "",
    "memcache_uptime memcache_rusage_user memcache_rusage_system "
    "memcache_curr_connections memcache_total_connections "
    "memcache_connection_structures memcache_cmd_get memcache_cmd_set "
    "memcache_cmd_flush memcache_get_hits memcache_get_misses "
    "memcache_delete_misses memcache_delete_hits memcache_incr_misses "
    "memcache_incr_hits memcache_decr_misses memcache_decr_hits memcache_cas_misses "
    "memcache_cas_hits memcache_cas_badval memcache_auth_cmds memcache_auth_errors "
    "memcache_bytes_read memcache_bytes_written memcache_limit_maxbytes "
    "memcache_accepting_conns memcache_listen_disabled_num memcache_threads "
    "memcache_conn_yields memcache_bytes memcache_curr_items memcache_total_items "
    "memcache_evictions",
    "c32",
    gauges=_MEMCACHE_GAUGES,
    kinds64=_MEMCACHE_64,
)
_MEMCACHE2 = _lower(
    "",
    "",
    "memcache_cmd_set memcache_cmd_touch memcache_cmd_flush memcache_get_hits "
    "memcache_get_misses memcache_delete_hits memcache_delete_misses "
    "memcache_incr_hits memcache_incr_misses memcache_decr_hits "
    "memcache_decr_misses memcache_cas_hits memcache_cas_misses "
    "memcache_cas_badval memcache_auth_cmds memcache_auth_errors memcache_threads "
    "memcache_conn_yields memcache_listen_disabled_num memcache_curr_connections "
    "memcache_rejected_connections memcache_total_connections "
    "memcache_connection_structures memcache_evictions memcache_reclaimed "
    "memcache_curr_items memcache_total_items memcache_bytes_read "
    "memcache_bytes_written memcache_bytes memcache_limit_maxbytes",
    "c32",
    gauges=_MEMCACHE_GAUGES,
    kinds64=_MEMCACHE_64 + " memcache_limit_maxbytes",
)

_HTTP = [
    (f"http_method_{m}_count", f"http_method_{m}", "c32")
    for m in ("option", "get", "head", "post", "put", "delete", "trace", "connect", "other")
]
_HTTP.append(("http_methd_connect_count", "http_method_connect", "c32"))  # sflowtool's spelling
_HTTP += [
    (f"http_status_{s}_count", f"http_status_{s.lower()}", "c32")
    for s in ("1XX", "2XX", "3XX", "4XX", "5XX", "other")
]

_APP_OPS = [("application", "app_name", "s"), ("status_OK", "app_success", "c32")] + [
    (f"errors_{e}", f"app_errors_{e.lower()}", "c32")
    for e in APP_STATUS[1:]  # every status but SUCCESS counts as an error
]
_APP_RES = [
    ("user_time", "app_user_time", "c32"),
    ("system_time", "app_system_time", "c32"),
    ("memory_used", "app_mem_used", "g64"),
    ("memory_max", "app_mem_max", "g64"),
    ("files_open", "app_fd_open", "g32"),
    ("files_max", "app_fd_max", "g32"),
    ("connections_open", "app_conn_open", "g32"),
    ("connections_max", "app_conn_max", "g32"),
]

_VDI = _lower(
    "",
    "",
    "vdi_sessions_current vdi_sessions_total vdi_sessions_duration vdi_rx_bytes "
    "vdi_tx_bytes vdi_rx_packets vdi_tx_packets vdi_rx_packets_lost "
    "vdi_tx_packets_lost vdi_rtt_min_ms vdi_rtt_max_ms vdi_rtt_avg_ms "
    "vdi_audio_rx_bytes vdi_audio_tx_bytes vdi_audio_tx_limit vdi_img_rx_bytes "
    "vdi_img_tx_bytes vdi_img_frames vdi_img_qual_min vdi_img_qual_max "
    "vdi_img_qual_avg vdi_usb_rx_bytes vdi_usb_tx_bytes",
    "c32",
    gauges="vdi_sessions_current vdi_rtt_min_ms vdi_rtt_max_ms vdi_rtt_avg_ms "
    "vdi_audio_tx_limit vdi_img_qual_min vdi_img_qual_max vdi_img_qual_avg",
)

_WORKERS = [
    ("workers_active", "workers_active", "g32"),
    ("workers_idle", "workers_idle", "g32"),
    ("workers_max", "workers_max", "g32"),
    ("requests_delayed", "workers_req_delayed", "c32"),
    ("requests_dropped", "workers_req_dropped", "c32"),
]

_OVS = _lower(
    "ovs_",
    "OVS_",
    "OVS_dp_hits OVS_dp_misses OVS_dp_lost OVS_dp_mask_hits OVS_dp_flows OVS_dp_masks",
    "c32",
    gauges="OVS_dp_flows OVS_dp_masks",
)

_NVML = [
    ("nvml_device_count", "nvml_device_count", "g32"),
    ("nvml_processes", "nvml_processes", "g32"),
    ("nvml_gpu_mS", "nvml_gputime", "c32"),
    ("nvml_mem_mS", "nvml_memtime", "c32"),
    ("nvml_mem_bytes_total", "nvml_mem_total", "g64"),
    ("nvml_mem_bytes_free", "nvml_mem_free", "g64"),
    ("nvml_ecc_errors", "nvml_ecc_errors", "c32"),
    ("nvml_energy_mJ", "nvml_energy", "c32"),
    ("nvml_temperature_C", "nvml_temperature", "g32"),
    ("nvml_fan_speed_pc", "nvml_fanspeed", "g32"),
]

_BCM = [
    (n, n, "g32")
    for n in (
        "bcm_host_entries_max bcm_ipv4_entries bcm_ipv4_entries_max bcm_ipv6_entries "
        "bcm_ipv6_entries_max bcm_ipv4_ipv6_entries bcm_ipv4_ipv6_entries_max bcm_long_ipv6_entries "
        "bcm_long_ipv6_entries_max bcm_total_routes bcm_total_routes_max bcm_ecmp_nexthops "
        "bcm_ecmp_nexthops_max bcm_mac_entries bcm_mac_entries_max bcm_ipv4_neighbors "
        "bcm_ipv6_neighbors bcm_ipv4_routes bcm_ipv6_routes bcm_acl_ingress_entries "
        "bcm_acl_ingress_entries_max bcm_acl_ingress_counters bcm_acl_ingress_counters_max "
        "bcm_acl_ingress_meters bcm_acl_ingress_meters_max bcm_acl_ingress_slices "
        "bcm_acl_ingress_slices_max bcm_acl_egress_entries bcm_acl_egress_entries_max "
        "bcm_acl_egress_counters bcm_acl_egress_counters_max bcm_acl_egress_meters "
        "bcm_acl_egress_meters_max bcm_acl_egress_slices bcm_acl_egress_slices_max"
    ).split()
]
_BCM.append(("bcm_asic_host_entries", "bcm_host_entries", "g32"))


def _sfp_module(rec, prev, dt, out, virtual):
    v = rec.get("sfp_module_supply_voltage")
    if v is not None and v != U32:
        out["opt_module_voltage"] = v / 1000.0  # mV -> V
    t = rec.get("sfp_module_temperature")
    if t is not None and t != U32:
        if t >= _HALF32:
            t -= _M32  # signed milli-degrees
        out["opt_module_temperature"] = t / 1000.0  # -> Celsius
    _derive_sfp(rec, prev, dt, out, virtual)


# tag -> RecordMap. 0:2002 (parent) is handled by the store, 0:2001 (adapter MACs) by engine.hosts.
RECORD_MAPS: dict[str, RecordMap] = {
    "0:1": RecordMap(_IF, _derive_if),
    "0:2": RecordMap(_ETH),
    "0:3": RecordMap(_TOKENRING),
    "0:4": RecordMap(_VG),
    "0:5": RecordMap(_VLAN),
    "0:6": RecordMap(_WIFI),
    "0:7": RecordMap(_LACP),
    "0:10": RecordMap(_SFP, _sfp_module),
    "0:11": RecordMap(_PFC),
    "0:1001": RecordMap(_PROCESSOR, _derive_processor),
    "0:1002": RecordMap(_RADIO, _derive_radio),
    "0:1004": RecordMap(
        [("openflow_datapath_id", "of_dpid", "s"), ("openflow_port", "of_port", "g32")]
    ),
    "0:1005": RecordMap([("ifName", "ifname", "s")]),
    "0:2000": RecordMap(_HOST_DESCR, vir_prefix=True),
    "0:2003": RecordMap(_HOST_CPU, _derive_cpu),
    "0:2004": RecordMap(_HOST_MEM, _derive_mem),
    "0:2005": RecordMap(_HOST_DISK, _derive_disk),
    "0:2006": RecordMap(_HOST_NIO),
    "0:2007": RecordMap(_MIB_IP),
    "0:2008": RecordMap(_MIB_ICMP),
    "0:2009": RecordMap(_MIB_TCP),
    "0:2010": RecordMap(_MIB_UDP),
    "0:2100": RecordMap(_VNODE),
    "0:2101": RecordMap(_VCPU, _derive_vcpu, needs_prev=True),
    "0:2102": RecordMap(_VMEM, _derive_vmem),
    "0:2103": RecordMap(_VDSK, _derive_vdsk),
    "0:2104": RecordMap(_VNIO),
    "0:2105": RecordMap(_JVM),
    "0:2106": RecordMap(_JMX),
    "0:2200": RecordMap(_MEMCACHE),
    "0:2201": RecordMap(_HTTP, _derive_http),
    "0:2202": RecordMap(_APP_OPS),
    "0:2203": RecordMap(_APP_RES),
    "0:2204": RecordMap(_MEMCACHE2),
    "0:2205": RecordMap(_VDI),
    "0:2206": RecordMap(_WORKERS, _derive_workers),
    "0:2207": RecordMap(_OVS),
    "5703:1": RecordMap(_NVML, _derive_nvml, vir_prefix=True),
    "4413:3": RecordMap(_BCM, _derive_bcm),
}

# rtmetric (4300:1002) value types: 0 string, 1/2 counter32/64, 3/4 gauge32/64, 5/6 float/double
RTMETRIC_COUNTER_MOD = {1: _M32, 2: _M64}
