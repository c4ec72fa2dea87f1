"""One line of text per metric name: what it is and where it comes from, for the HELP lines of
the Prometheus exposition (engine/rest/prometheus.py). Built once from the record tables of
engine.metrics.counters, so a metric added there is described without further work."""

from __future__ import annotations

from functools import lru_cache

from .counters import RECORD_MAPS

# counter record tags by the structure names of the sFlow specifications
RECORD_NAMES = {
    "0:1": "generic interface",
    "0:2": "ethernet interface",
    "0:3": "token ring",
    "0:4": "100BaseVG",
    "0:5": "vlan",
    "0:6": "802.11",
    "0:7": "LAG port",
    "0:10": "SFP/optics",
    "0:11": "PFC",
    "0:1001": "processor",
    "0:1002": "radio",
    "0:1004": "OpenFlow port",
    "0:1005": "port name",
    "0:2000": "host description",
    "0:2003": "host cpu",
    "0:2004": "host memory",
    "0:2005": "host disk I/O",
    "0:2006": "host network I/O",
    "0:2007": "MIB-2 IP",
    "0:2008": "MIB-2 ICMP",
    "0:2009": "MIB-2 TCP",
    "0:2010": "MIB-2 UDP",
    "0:2100": "hypervisor",
    "0:2101": "virtual cpu",
    "0:2102": "virtual memory",
    "0:2103": "virtual disk I/O",
    "0:2104": "virtual network I/O",
    "0:2105": "JVM runtime",
    "0:2106": "JVM statistics",
    "0:2200": "memcache",
    "0:2201": "HTTP",
    "0:2202": "application operations",
    "0:2203": "application resources",
    "0:2204": "memcache",
    "0:2205": "VDI",
    "0:2206": "application workers",
    "0:2207": "Open vSwitch datapath",
    "5703:1": "NVIDIA GPU",
    "4413:3": "Broadcom ASIC tables",
}

# metrics computed from several fields (docs/metrics.md gives the formulas)
DERIVED = {
    "ifinutilization": "input utilization, percent of ifspeed",
    "ifoututilization": "output utilization, percent of ifspeed",
    "ifinpkts": "input packets per second (unicast + multicast + broadcast)",
    "ifoutpkts": "output packets per second (unicast + multicast + broadcast)",
    "ifadminstatus": "administrative status (up|down)",
    "ifoperstatus": "operational status (up|down)",
    "cpu_utilization": "host CPU utilization, percent (I/O wait counts as idle)",
    "mem_utilization": "memory utilization, percent",
    "swap_utilization": "swap utilization, percent",
    "disk_utilization": "disk utilization, percent",
    "load_one_per_cpu": "1 minute load average per CPU",
    "http_requests": "HTTP requests per second (all methods)",
    "vir_cpu_utilization": "virtual machine / container CPU utilization, percent of its CPUs",
    "vir_mem_utilization": "virtual machine / container memory utilization, percent",
    "vir_disk_utilization": "virtual machine / container disk utilization, percent",
    "workers_utilization": "active workers, percent of the maximum",
    "radio_utilization": "radio busy time, percent of on-channel time",
}


@lru_cache(maxsize=1)
def _fields() -> dict[str, str]:
    out: dict[str, str] = {}
    for tag, m in RECORD_MAPS.items():
        where = f"sFlow {RECORD_NAMES.get(tag, 'counter')} record {tag}"
        for items, rate in (
            (m.counters, True),
            (m.v_counters, True),
            (m.gauges, False),
            (m.v_gauges, False),
            (m.floats, False),
            (m.v_floats, False),
            (m.strings, False),
            (m.v_strings, False),
            (m.enums, False),
            (m.v_enums, False),
        ):
            for spec in items:
                src, name = spec[0], spec[1]
                text = f"{src} per second" if rate else src
                out.setdefault(name, f"{text} ({where})")
    return out


def describe(name: str, engine=None) -> str:
    """A one-line description of metric `name`: a counter record field (per second for
    counters), a derived metric, a flow definition (from the flows subsystem of `engine`) or
    an agent's custom metric."""
    text = _fields().get(name) or DERIVED.get(name)
    if text:
        return text
    flows = (getattr(engine, "subsystems", None) or {}).get("flows")
    table = getattr(flows, "tables", {}).get(name) if flows is not None else None
    if table is not None:
        return f"flow {name}: {table.spec.value.text} per second, largest flow of each data source"
    if name.endswith("_utilization"):
        return f"{name[:-12].replace('_', ' ')} utilization, percent"
    return f"sFlow metric {name}"
