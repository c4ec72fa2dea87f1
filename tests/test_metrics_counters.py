"""Counter records -> metrics: names, rates, wrap, restart, missed polls, unknown values,
derived formulas. Records are fed to MetricStore.update() directly (the unit boundary)."""

from __future__ import annotations

import pytest

from engine.metrics import MetricStore
from engine.metrics.counters import RECORD_MAPS, delta

T0 = 1_000_000.0
AGENT = "192.0.2.10"


def ifrec(octets_in=0, octets_out=0, ucast_in=0, speed=1_000_000_000, status=3, **kw):
    rec = {
        "counterBlock_tag": "0:1",
        "ifIndex": 3,
        "networkType": 6,
        "ifSpeed": speed,
        "ifDirection": 1,
        "ifStatus": status,
        "ifInOctets": octets_in,
        "ifInUcastPkts": ucast_in,
        "ifInMulticastPkts": 0,
        "ifInBroadcastPkts": 0,
        "ifInDiscards": 0,
        "ifInErrors": 0,
        "ifInUnknownProtos": 0xFFFFFFFF,
        "ifOutOctets": octets_out,
        "ifOutUcastPkts": 0,
        "ifOutMulticastPkts": 0,
        "ifOutBroadcastPkts": 0,
        "ifOutDiscards": 0,
        "ifOutErrors": 0,
        "ifPromiscuousMode": 0,
    }
    rec.update(kw)
    return rec


def cpurec(user, idle, wio=0, steal=0, num=4, load=0.5, **kw):
    rec = {
        "counterBlock_tag": "0:2003",
        "cpu_load_one": load,
        "cpu_load_five": load,
        "cpu_load_fifteen": load,
        "cpu_proc_run": 2,
        "cpu_proc_total": 200,
        "cpu_num": num,
        "cpu_speed": 2400,
        "cpu_uptime": 100,
        "cpu_user": user,
        "cpu_nice": 0,
        "cpu_system": 0,
        "cpu_idle": idle,
        "cpu_wio": wio,
        "cpuintr": 0,
        "cpu_sintr": 0,
        "cpuinterrupts": 0,
        "cpu_contexts": 0,
        "cpu_steal": steal,
        "cpu_guest": 0,
        "cpu_guest_nice": 0,
    }
    rec.update(kw)
    return rec


def values(store, ds="3", agent=AGENT):
    return store.agents[agent].sources[ds].values


def test_interface_rates_and_utilization():
    s = MetricStore()
    s.update(
        AGENT,
        "3",
        0,
        1,
        [ifrec(1000, 500, 10), {"counterBlock_tag": "0:1005", "ifName": "eth0"}],
        T0,
        1000,
    )
    v = values(s)
    assert v["ifname"] == "eth0" and v["iftype"] == "ethernetCsmacd"
    assert v["ifspeed"] == 1_000_000_000 and v["ifdirection"] == "full-duplex"
    assert v["ifadminstatus"] == "up" and v["ifoperstatus"] == "up"
    assert "ifinoctets" not in v  # a rate needs two samples
    # 20 s later: 2,500,000 more octets in -> 125,000 B/s -> 0.1 % of 1 Gbit/s
    s.update(AGENT, "3", 0, 2, [ifrec(2_501_000, 500 + 40_000, 10 + 2000)], T0 + 20, 21000)
    v = values(s)
    assert v["ifinoctets"] == pytest.approx(125_000)
    assert v["ifoutoctets"] == pytest.approx(2000)
    assert v["ifinutilization"] == pytest.approx(125_000 * 800 / 1e9)
    assert v["ifinucastpkts"] == pytest.approx(100)
    assert v["ifinpkts"] == pytest.approx(100)
    assert "ifinunknownprotos" not in v  # 0xFFFFFFFF = unknown
    assert s.datasource_info(AGENT, "3", now=T0 + 20)["effectivePollingInterval"] == 20000


def test_oper_status_down_and_zero_speed_has_no_utilization():
    s = MetricStore()
    s.update(AGENT, "3", 0, 1, [ifrec(0, speed=0, status=1)], T0, 0)
    s.update(AGENT, "3", 0, 2, [ifrec(1000, speed=0, status=1)], T0 + 10, 10000)
    v = values(s)
    assert v["ifadminstatus"] == "up" and v["ifoperstatus"] == "down"
    assert v["ifinoctets"] == pytest.approx(100)
    assert "ifinutilization" not in v


def test_32bit_wrap_and_64bit_counter():
    s = MetricStore()
    s.update(AGENT, "3", 0, 1, [ifrec(2**40, ucast_in=2**32 - 100)], T0, 0)
    s.update(AGENT, "3", 0, 2, [ifrec(2**40 + 10_000, ucast_in=900)], T0 + 10, 10000)
    v = values(s)
    assert v["ifinucastpkts"] == pytest.approx(100)  # wrapped 32-bit: 100 + 900 = 1000 / 10 s
    assert v["ifinoctets"] == pytest.approx(1000)


def test_counter_reset_gives_no_spike():
    """A counter that falls a lot (cleared) is a reset, not a wrap: no rate for that interval."""
    s = MetricStore()
    s.update(AGENT, "3", 0, 1, [ifrec(10_000, ucast_in=5_000_000)], T0, 0)
    s.update(AGENT, "3", 0, 2, [ifrec(20_000, ucast_in=5_001_000)], T0 + 10, 10000)
    assert values(s)["ifinucastpkts"] == pytest.approx(100)
    s.update(AGENT, "3", 0, 3, [ifrec(30_000, ucast_in=10)], T0 + 20, 20000)
    v = values(s)
    assert v["ifinucastpkts"] == pytest.approx(100)  # kept, not 4e8
    assert v["ifinoctets"] == pytest.approx(1000)


def test_agent_restart_by_sequence_and_uptime():
    s = MetricStore()
    s.update(AGENT, "3", 0, 500, [ifrec(1_000_000)], T0, 500_000)
    s.update(AGENT, "3", 0, 501, [ifrec(1_100_000)], T0 + 10, 510_000)
    assert values(s)["ifinoctets"] == pytest.approx(10_000)
    # restart: sequence back to 1, counters back near zero -> no rate from that pair
    s.update(AGENT, "3", 0, 1, [ifrec(50)], T0 + 20, 2_000)
    assert values(s)["ifinoctets"] == pytest.approx(10_000)
    s.update(AGENT, "3", 0, 2, [ifrec(20_050)], T0 + 30, 12_000)
    assert values(s)["ifinoctets"] == pytest.approx(2_000)
    # uptime went backwards with a plausible sequence: also a restart
    s.update(AGENT, "3", 0, 3, [ifrec(10)], T0 + 40, 1_000)
    assert values(s)["ifinoctets"] == pytest.approx(2_000)
    s.update(AGENT, "3", 0, 4, [ifrec(30_010)], T0 + 50, 11_000)
    assert values(s)["ifinoctets"] == pytest.approx(3_000)


def test_missed_polls_average_and_interval():
    s = MetricStore()
    s.update(AGENT, "3", 0, 1, [ifrec(0)], T0, 0)
    s.update(AGENT, "3", 0, 2, [ifrec(10_000)], T0 + 10, 10_000)
    # samples 3 and 4 lost: 30 s of traffic in one delta
    s.update(AGENT, "3", 0, 5, [ifrec(10_000 + 90_000)], T0 + 40, 40_000)
    assert values(s)["ifinoctets"] == pytest.approx(3000)
    info = s.datasource_info(AGENT, "3", now=T0 + 40)
    assert info["effectivePollingInterval"] == 10_000
    assert info["counterSamples"] == 3


def test_duplicate_and_out_of_order_samples_are_ignored():
    s = MetricStore()
    s.update(AGENT, "3", 0, 10, [ifrec(0)], T0, 0)
    s.update(AGENT, "3", 0, 12, [ifrec(20_000)], T0 + 20, 20_000)
    s.update(AGENT, "3", 0, 11, [ifrec(10_000)], T0 + 21, 10_000)  # late
    s.update(AGENT, "3", 0, 12, [ifrec(20_000)], T0 + 22, 20_000)  # duplicate
    assert values(s)["ifinoctets"] == pytest.approx(1000)
    assert s.ignored_samples == 2


def test_rates_use_agent_uptime_when_available():
    """Arrival jitter does not distort rates: the agent's sysUpTime measures the interval."""
    s = MetricStore()
    s.update(AGENT, "3", 0, 1, [ifrec(0)], T0, 100_000)
    s.update(AGENT, "3", 0, 2, [ifrec(100_000)], T0 + 13.7, 110_000)  # arrived late
    assert values(s)["ifinoctets"] == pytest.approx(10_000)
    # without uptime, wall-clock arrival times are used
    s2 = MetricStore()
    s2.update(AGENT, "3", 0, 1, [ifrec(0)], T0)
    s2.update(AGENT, "3", 0, 2, [ifrec(100_000)], T0 + 20)
    assert values(s2)["ifinoctets"] == pytest.approx(5_000)


def test_host_cpu_memory_disk_formulas():
    s = MetricStore()
    mem = {
        "counterBlock_tag": "0:2004",
        "mem_total": 1000,
        "mem_free": 300,
        "mem_shared": 0,
        "mem_buffers": 100,
        "mem_cached": 200,
        "swap_total": 400,
        "swap_free": 100,
        "page_in": 0,
        "page_out": 0,
        "swap_in": 0,
        "swap_out": 0,
    }
    disk = {
        "counterBlock_tag": "0:2005",
        "disk_total": 200,
        "disk_free": 50,
        "disk_partition_max_used": 81.5,
        "disk_reads": 0,
        "disk_bytes_read": 0,
        "disk_read_time": 0,
        "disk_writes": 0,
        "disk_bytes_written": 0,
        "disk_write_time": 0,
    }
    descr = {
        "counterBlock_tag": "0:2000",
        "hostname": "web1",
        "UUID": "u",
        "machine_type": 3,
        "os_name": 2,
        "os_release": "6.1",
    }
    s.update(AGENT, "2.1", 2, 1, [descr, cpurec(0, 0), mem, disk], T0, 0)
    disk2 = dict(disk, disk_reads=50, disk_bytes_written=10_000)
    # 10 s x 4 CPUs = 40,000 ms: user 10,000, wio 2,000, steal 4,000, idle 24,000
    s.update(
        AGENT,
        "2.1",
        2,
        2,
        [descr, cpurec(10_000, 24_000, wio=2_000, steal=4_000), mem, disk2],
        T0 + 10,
        10_000,
    )
    v = values(s, "2.1")
    assert v["host_name"] == "web1" and v["os_name"] == "linux" and v["machine_type"] == "x86_64"
    assert v["load_one"] == 0.5 and v["load_one_per_cpu"] == pytest.approx(0.125)
    assert v["cpu_user"] == pytest.approx(25.0)
    assert v["cpu_steal"] == pytest.approx(10.0)
    assert v["cpu_wio"] == pytest.approx(5.0)
    assert v["cpu_idle"] == pytest.approx(60.0)
    assert v["cpu_utilization"] == pytest.approx(35.0)  # 100 - idle - wio
    assert v["mem_utilization"] == pytest.approx(40.0)  # (1000-300-100-200)/1000
    assert v["swap_utilization"] == pytest.approx(75.0)
    assert v["disk_utilization"] == pytest.approx(75.0)
    assert v["part_max_used"] == 81.5
    assert v["reads"] == pytest.approx(5.0) and v["bytes_written"] == pytest.approx(1000.0)


def test_float32_gauges_are_rounded():
    s = MetricStore()
    s.update(AGENT, "2.1", 2, 1, [cpurec(0, 0, load=0.23999999463558197)], T0, 0)
    assert values(s, "2.1")["load_one"] == 0.24


def test_virtual_node_metrics():
    s = MetricStore()
    recs = lambda ms, bytes_in, state=1: [
        {
            "counterBlock_tag": "0:2000",
            "hostname": "apache.1.abc",
            "UUID": "u",
            "machine_type": 3,
            "os_name": 2,
            "os_release": "6.1",
        },
        {"counterBlock_tag": "0:2002", "parent_dsClass": 2, "parent_dsIndex": 1},
        {"counterBlock_tag": "0:2101", "vcpu_state": state, "vcpu_cpu_mS": ms, "vcpu_cpuCount": 2},
        {"counterBlock_tag": "0:2102", "vmem_memory": 256, "vmem_maxMemory": 1024},
        {
            "counterBlock_tag": "0:2103",
            "vdsk_capacity": 100,
            "vdsk_allocation": 50,
            "vdsk_available": 40,
            "vdsk_rd_req": 0,
            "vdsk_rd_bytes": 0,
            "vdsk_wr_req": 0,
            "vdsk_wr_bytes": 0,
            "vdsk_errs": 0,
        },
        {
            "counterBlock_tag": "0:2104",
            "vnio_bytes_in": bytes_in,
            "vnio_pkts_in": 0,
            "vnio_errs_in": 0,
            "vnio_drops_in": 0,
            "vnio_bytes_out": 0,
            "vnio_pkts_out": 0,
            "vnio_errs_out": 0,
            "vnio_drops_out": 0,
        },
    ]
    s.update(AGENT, "3.7", 3, 1, recs(0, 0), T0, 0)
    s.update(AGENT, "3.7", 3, 2, recs(3_000, 500_000), T0 + 10, 10_000)
    v = values(s, "3.7")
    assert v["vir_host_name"] == "apache.1.abc" and "host_name" not in v
    assert v["vir_os_name"] == "linux"
    assert v["vir_cpu_state"] == "running"
    assert v["vir_cpu_utilization"] == pytest.approx(15.0)  # 3 s of CPU in 10 s on 2 vCPUs
    assert v["vir_bytes_in"] == pytest.approx(50_000)
    assert v["vir_mem_utilization"] == pytest.approx(25.0)
    assert v["vir_disk_utilization"] == pytest.approx(60.0)
    assert s.agents[AGENT].sources["3.7"].parent == "2.1"
    s.update(AGENT, "3.7", 3, 3, recs(3_000, 500_000, state=5), T0 + 20, 20_000)
    assert values(s, "3.7")["vir_cpu_state"] == "shutoff"


def test_application_records():
    s = MetricStore()
    http = lambda get, post, s5: {
        "counterBlock_tag": "0:2201",
        "http_method_option_count": 0,
        "http_method_get_count": get,
        "http_method_head_count": 0,
        "http_method_post_count": post,
        "http_method_put_count": 0,
        "http_method_delete_count": 0,
        "http_method_trace_count": 0,
        "http_methd_connect_count": 0,
        "http_method_other_count": 0,
        "http_status_1XX_count": 0,
        "http_status_2XX_count": get + post,
        "http_status_3XX_count": 0,
        "http_status_4XX_count": 0,
        "http_status_5XX_count": s5,
        "http_status_other_count": 0,
    }
    workers = {
        "counterBlock_tag": "0:2206",
        "workers_active": 3,
        "workers_idle": 5,
        "workers_max": 12,
        "requests_delayed": 0,
        "requests_dropped": 0,
    }
    jvm = {
        "counterBlock_tag": "0:2105",
        "jvm_name": "OpenJDK",
        "jvm_vendor": "x",
        "jvm_version": "17",
    }
    s.update(AGENT, "3.80", 3, 1, [http(0, 0, 0), workers, jvm], T0, 0)
    s.update(AGENT, "3.80", 3, 2, [http(100, 50, 10), workers, jvm], T0 + 10, 10_000)
    v = values(s, "3.80")
    assert v["http_method_get"] == pytest.approx(10) and v["http_method_post"] == pytest.approx(5)
    assert v["http_requests"] == pytest.approx(15)
    assert v["http_status_5xx"] == pytest.approx(1)
    assert v["http_method_connect"] == 0
    assert v["workers_utilization"] == pytest.approx(25.0)
    assert v["jvm_name"] == "OpenJDK"


def test_rtmetric_samples():
    s = MetricStore()
    rec = lambda n: {
        "counterBlock_tag": "4300:1002",
        "typed": {"queue": (3, 7), "requests": (1, n), "app": (0, "shop")},
    }
    s.update(AGENT, "app1", None, None, [rec(100)], T0, 0)
    s.update(AGENT, "app1", None, None, [rec(600)], T0 + 5, 5000)
    v = values(s, "app1")
    assert v == {"queue": 7, "requests": pytest.approx(100.0), "app": "shop"}


def test_every_sflowtool_counter_record_has_a_mapping():
    from engine.sflow.records import COUNTER_RECORDS

    decoded = {f"{e}:{f}" for e, f in COUNTER_RECORDS}
    unmapped = decoded - set(RECORD_MAPS) - {"0:2001", "0:2002"}
    assert not unmapped, f"counter records without metrics: {sorted(unmapped)}"


def test_delta_helper():
    assert delta(5, 3) == 2
    assert delta(3, 2**32 - 3) == 6
    assert delta(3, 2**31) is None  # more than half the range back: reset
    assert delta(0xFFFFFFFF, 3) is None
    assert delta(None, 1) is None


def _through_decoder(records: list[dict], seq: int, ds_class=0, ds_index=5):
    """Encode record dicts, decode them with the real decoder: what update() gets in production."""
    from engine.sflow import decode_datagram, encode

    sample = encode.counter_sample(
        seq, ds_class, ds_index, [encode.encode_counter_record(r) for r in records]
    )
    (s,) = decode_datagram(encode.datagram(AGENT, seq, seq * 10_000, [sample])).samples
    return s.records()


def test_switch_and_asic_records_through_decoder():
    lanes = [
        {
            "index": i,
            "tx_bias_current_uA": 6000 + i,
            "tx_power_uW": 800 - i * 100,
            "tx_power_min_uW": 0,
            "tx_power_max_uW": 0,
            "tx_wavelength_nM": 1310,
            "rx_power_uW": 700 - i * 50,
            "rx_power_min_uW": 0,
            "rx_power_max_uW": 0,
            "rx_wavelength_nM": 1310,
        }
        for i in range(4)
    ]

    def recs(n):
        return [
            {
                "counterBlock_tag": "0:10",
                "sfp_module_id": 1,
                "sfp_module_total_lanes": 4,
                "sfp_module_supply_voltage": 3300,
                "sfp_module_temperature": 35500,
                "sfp_lanes": lanes,
            },
            {
                "counterBlock_tag": "0:7",
                "actorSystemID": "0A0B0C0D0E0F",
                "partnerSystemID": "010203040506",
                "attachedAggID": 100,
                "actorAdminPortState": 61,
                "actorOperPortState": 61,
                "partnerAdminPortState": 0,
                "partnerOperPortState": 61,
                "LACPDUsRx": 10 * n,
                "markerPDUsRx": 0,
                "markerResponsePDUsRx": 0,
                "unknownRx": 0,
                "illegalRx": 0,
                "LACPDUsTx": 10 * n,
                "markerPDUsTx": 0,
                "markerResponsePDUsTx": 0,
            },
            {
                "counterBlock_tag": "0:1001",
                "5s_cpu": 12.5,
                "1m_cpu": 10.0,
                "5m_cpu": 9.75,
                "total_memory_bytes": 4000,
                "free_memory_bytes": 1000,
            },
            {
                "counterBlock_tag": "4413:3",
                "bcm_asic_host_entries": 50,
                "bcm_host_entries_max": 200,
                "bcm_mac_entries": 300,
                "bcm_mac_entries_max": 1200,
                "bcm_long_ipv6_entries": 1,
                "bcm_long_ipv6_entries_max": 4,
            },
            {
                "counterBlock_tag": "5703:1",
                "nvml_device_count": 2,
                "nvml_processes": 3,
                "nvml_gpu_mS": 5000 * n,
                "nvml_mem_mS": 0,
                "nvml_mem_bytes_total": 1000,
                "nvml_mem_bytes_free": 250,
                "nvml_ecc_errors": 0,
                "nvml_energy_mJ": 2000 * n,
                "nvml_temperature_C": 60,
                "nvml_fan_speed_pc": 40,
            },
            {
                "counterBlock_tag": "0:1004",
                "openflow_datapath_id": "00000000000000aa",
                "openflow_port": 7,
            },
        ]

    s = MetricStore()
    s.update(AGENT, "5", 0, 1, _through_decoder(recs(1), 1), T0, 10_000)
    s.update(AGENT, "5", 0, 2, _through_decoder(recs(2), 2), T0 + 10, 20_000)
    v = values(s, "5")
    assert v["opt_module_id"] == 1 and v["opt_module_lanes"] == 4
    assert v["opt_module_voltage"] == pytest.approx(3.3)
    assert v["opt_module_temperature"] == pytest.approx(35.5)
    assert v["opt_rx_power_min"] == pytest.approx(0.55) and v["opt_tx_power_min"] == pytest.approx(
        0.5
    )
    assert v["agg_attachedaggid"] == 100 and v["agg_lacpdusrx"] == pytest.approx(1.0)
    assert v["agg_actorsystemid"].upper() == "0A0B0C0D0E0F"
    assert v["cpu_5sec"] == 12.5 and v["mem_utilization"] == pytest.approx(75.0)
    assert v["bcm_host_utilization"] == pytest.approx(25.0)
    assert v["bcm_mac_utilization"] == pytest.approx(25.0)
    assert v["bcm_long_ipv6_utilizaton"] == pytest.approx(25.0)
    assert v["nvml_gputime"] == pytest.approx(500.0)  # ms per second
    assert v["nvml_gpu_utilization"] == pytest.approx(25.0)  # 500 ms/s over 2 GPUs
    assert v["nvml_mem_utilization"] == pytest.approx(75.0)
    assert v["nvml_energy"] == pytest.approx(200.0)
    assert v["of_dpid"] == "00000000000000aa" and v["of_port"] == 7


def test_host_records_through_decoder_in_virtual_data_source():
    def recs(n):
        return [
            {
                "counterBlock_tag": "0:2000",
                "hostname": "vm1",
                "UUID": "12345678-1234-5678-1234-567812345678",
                "machine_type": 3,
                "os_name": 2,
                "os_release": "6.1",
            },
            {"counterBlock_tag": "0:2002", "parent_dsClass": 2, "parent_dsIndex": 1},
            {
                "counterBlock_tag": "5703:1",
                "nvml_device_count": 1,
                "nvml_processes": 1,
                "nvml_gpu_mS": 100 * n,
                "nvml_mem_mS": 0,
                "nvml_mem_bytes_total": 10,
                "nvml_mem_bytes_free": 5,
                "nvml_ecc_errors": 0,
                "nvml_energy_mJ": 0,
                "nvml_temperature_C": 50,
                "nvml_fan_speed_pc": 0,
            },
        ]

    s = MetricStore()
    s.update(AGENT, "3.9", 3, 1, _through_decoder(recs(1), 1, 3, 9), T0, 10_000)
    s.update(AGENT, "3.9", 3, 2, _through_decoder(recs(2), 2, 3, 9), T0 + 10, 20_000)
    v = values(s, "3.9")
    assert v["vir_host_name"] == "vm1" and v["vir_uuid"] == "12345678-1234-5678-1234-567812345678"
    assert v["vir_nvml_gputime"] == pytest.approx(10.0)
    assert v["vir_nvml_gpu_utilization"] == pytest.approx(1.0)
    assert "nvml_gputime" not in v and "host_name" not in v
