"""Encoder <-> decoder round trips: every record type, every sample type, every real pcap.

For each record type an example dict (sflowtool field names, Python values) is encoded, put
in a datagram, decoded, and must come back with the same values; re-encoding the decoded
dict must give the same bytes. Real captures are decoded, re-encoded and compared.
"""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

from engine.sflow import decode_datagram
from engine.sflow import encode as enc
from engine.sflow import packets
from engine.sflow.pcap import read_pcap
from paths import SFLOW_DATA

TESTDATA = SFLOW_DATA

_FRAME = packets.frame(
    "0242ac110002",
    "0242ac110003",
    "10.0.0.1",
    "10.0.0.2",
    6,
    1518,
    443,
    51000,
    vlans=[(100, 3)],
    tcp_flags=packets.TCP_ACK | packets.TCP_PSH,
)
_HDR = _FRAME[:128].hex("-").upper()

FLOW_EXAMPLES = {
    "0:1": {
        "headerProtocol": 1,
        "sampledPacketSize": 1518,
        "strippedBytes": 4,
        "headerLen": 128,
        "headerBytes": _HDR,
        "srcIP": "10.0.0.1",
        "dstIP": "10.0.0.2",
        "IPProtocol": 6,
        "TCPSrcPort": 443,
        "TCPDstPort": 51000,
        "decodedVLAN": 100,
    },
    "0:2": {
        "ethernet_len": 1522,
        "ethernet_src": "0242ac110002",
        "ethernet_dst": "0242ac110003",
        "ethernet_type": 2048,
    },
    "0:3": {
        "sampledPacketSize": 1344,
        "srcIP": "50.50.50.50",
        "dstIP": "51.51.51.51",
        "IPProtocol": 17,
        "IPTOS": 8,
        "UDPSrcPort": 46622,
        "UDPDstPort": 58631,
    },
    "0:4": {
        "sampledPacketSize": 1500,
        "srcIP6": "2001:db8::1",
        "dstIP6": "2001:db8::2",
        "IPProtocol": 6,
        "priority": 3,
        "TCPSrcPort": 22,
        "TCPDstPort": 40000,
        "TCPFlags": 24,
    },
    "0:1001": {"in_vlan": 10, "in_priority": 1, "out_vlan": 20, "out_priority": 2},
    "0:1002": {"nextHop": "192.0.2.254", "srcSubnetMask": 24, "dstSubnetMask": 16},
    "0:1003": {
        "bgp_nexthop": "2001:db8::fe",
        "my_as": 65000,
        "src_as": 13335,
        "src_peer_as": 203698,
        "dst_as_path": "203698-6762-26615(64512-64513)",
        "dst_as": 64513,
        "dst_peer_as": 203698,
        "BGP_communities": "65000-4259840100",
        "BGP_localpref": 100,
    },
    "0:1004": {
        "src_user_charset": 106,
        "src_user": "alice",
        "dst_user_charset": 106,
        "dst_user": "bob",
    },
    "0:1005": {"url_direction": 1, "url": "/index.html", "host": "example.com"},
    "0:1006": {
        "mpls_nexthop": "192.0.2.1",
        "mpls_input_stack": "16.0.1.64-17.5.0.63",
        "mpls_output_stack": "1000.7.1.255",
    },
    "0:1007": {"nat_src": "203.0.113.1", "nat_dst": "2001:db8::9"},
    "0:1008": {"mpls_tunnel_lsp_name": "lsp-east", "mpls_tunnel_id": 7, "mpls_tunnel_cos": 2},
    "0:1009": {"mpls_vc_name": "vc1", "mpls_vll_vc_id": 99, "mpls_vc_cos": 5},
    "0:1010": {"mpls_ftn_descr": "ftn", "mpls_ftn_mask": 24},
    "0:1011": {"mpls_fec_addr_prefix_len": 32},
    "0:1012": {"vlan_tunnel": "0x81005.0.100-0x88a80.1.200"},
    "0:1013": {
        "cipher_suite": 4,
        "headerProtocol": 1,
        "sampledPacketSize": 1518,
        "strippedBytes": 4,
        "headerLen": 128,
        "headerBytes": _HDR,
    },
    "0:1014": {
        "rx_SSID": "lab",
        "rx_BSSID": "0a0b0c0d0e0f",
        "rx_version": 4,
        "rx_channel": 36,
        "rx_speed": 866700000,
        "rx_rsni": 40,
        "rx_rcpi": 180,
        "rx_packet_uS": 120,
    },
    "0:1015": {
        "tx_SSID": "lab",
        "tx_BSSID": "0a0b0c0d0e0f",
        "tx_version": 4,
        "tx_transmissions": 2,
        "tx_packet_uS": 100,
        "tx_retrans_uS": 30,
        "tx_channel": 36,
        "tx_speed": 866700000,
        "tx_power_mW": 50,
    },
    "0:1020": {"nat_src_port": 1024, "nat_dst_port": 80},
    "0:1021": {
        "tunnel_l2_out_ethernet_len": 100,
        "tunnel_l2_out_ethernet_src": "020000000001",
        "tunnel_l2_out_ethernet_dst": "020000000002",
        "tunnel_l2_out_ethernet_type": 2048,
    },
    "0:1022": {
        "tunnel_l2_in_ethernet_len": 100,
        "tunnel_l2_in_ethernet_src": "020000000001",
        "tunnel_l2_in_ethernet_dst": "020000000002",
        "tunnel_l2_in_ethernet_type": 34525,
    },
    "0:1023": {
        "tunnel_ipv4_out_sampledPacketSize": 90,
        "tunnel_ipv4_out_srcIP": "10.9.0.1",
        "tunnel_ipv4_out_dstIP": "10.9.0.2",
        "tunnel_ipv4_out_IPProtocol": 17,
        "tunnel_ipv4_out_IPTOS": 0,
        "tunnel_ipv4_out_UDPSrcPort": 49152,
        "tunnel_ipv4_out_UDPDstPort": 4789,
    },
    "0:1024": {
        "tunnel_ipv4_in_sampledPacketSize": 90,
        "tunnel_ipv4_in_srcIP": "10.9.0.1",
        "tunnel_ipv4_in_dstIP": "10.9.0.2",
        "tunnel_ipv4_in_IPProtocol": 1,
        "tunnel_ipv4_in_IPTOS": 0,
        "tunnel_ipv4_in_ICMPType": 8,
    },
    "0:1025": {
        "tunnel_ipv6_out_sampledPacketSize": 90,
        "tunnel_ipv6_out_srcIP6": "fd00::1",
        "tunnel_ipv6_out_dstIP6": "fd00::2",
        "tunnel_ipv6_out_IPProtocol": 6,
        "tunnel_ipv6_out_priority": 0,
        "tunnel_ipv6_out_TCPSrcPort": 1,
        "tunnel_ipv6_out_TCPDstPort": 2,
        "tunnel_ipv6_out_TCPFlags": 2,
    },
    "0:1026": {
        "tunnel_ipv6_in_sampledPacketSize": 90,
        "tunnel_ipv6_in_srcIP6": "fd00::1",
        "tunnel_ipv6_in_dstIP6": "fd00::2",
        "tunnel_ipv6_in_IPProtocol": 47,
        "tunnel_ipv6_in_priority": 1,
    },
    "0:1027": {"out_decap_inner_header_offset": 50},
    "0:1028": {"in_decap_inner_header_offset": 54},
    "0:1029": {"out_VNI": 5000},
    "0:1030": {"in_VNI": 16777215},
    "0:1036": {"egress_queue_id": 3},
    "0:1038": {"symbol": "ip_rcv_finish"},
    "0:1039": {"transit_delay_nS": 1200},
    "0:1040": {"queue_depth_bytes": 65536},
    "0:1041": {"hw_trap_group": "l3_drops", "hw_trap_name": "blackhole_route"},
    "0:1042": {"linux_drop_reason": "NETFILTER_DROP"},
    "0:1043": {"timestamp_nS": 1795694605159647000},
    "0:2100": {
        "socket4_ip_protocol": 6,
        "socket4_local_ip": "10.0.0.1",
        "socket4_remote_ip": "10.0.0.2",
        "socket4_local_port": 80,
        "socket4_remote_port": 50000,
    },
    "0:2101": {
        "socket6_ip_protocol": 17,
        "socket6_local_ip": "2001:db8::1",
        "socket6_remote_ip": "2001:db8::2",
        "socket6_local_port": 53,
        "socket6_remote_port": 40000,
    },
    "0:2102": {
        "proxy_socket4_ip_protocol": 6,
        "proxy_socket4_local_ip": "10.0.0.3",
        "proxy_socket4_remote_ip": "10.0.0.4",
        "proxy_socket4_local_port": 8080,
        "proxy_socket4_remote_port": 80,
    },
    "0:2103": {
        "proxy_socket6_ip_protocol": 6,
        "proxy_socket6_local_ip": "fd00::3",
        "proxy_socket6_remote_ip": "fd00::4",
        "proxy_socket6_local_port": 8080,
        "proxy_socket6_remote_port": 80,
    },
    "0:2200": {
        "memcache_op_protocol": 1,
        "memcache_op_cmd": 2,
        "memcache_op_key": "user:42",
        "memcache_op_nkeys": 1,
        "memcache_op_value_bytes": 300,
        "memcache_op_duration_uS": 15,
        "memcache_op_status": 1,
    },
    "0:2201": {
        "http_method": 2,
        "http_protocol": 1001,
        "http_uri": "/a",
        "http_host": "h",
        "http_referrer": "r",
        "http_useragent": "ua",
        "http_authuser": "u",
        "http_mimetype": "text/html",
        "http_bytes": 1234,
        "http_duration_uS": 500,
        "http_status": 200,
    },
    "0:2202": {
        "application": "payments",
        "operation": "charge",
        "attributes": "card=visa",
        "status_descr": "ok",
        "request_bytes": 100,
        "response_bytes": 2000,
        "duration_uS": 3000,
        "status": "TIMEOUT",
    },
    "0:2203": {
        "server_context_application": "web",
        "server_context_operation": "GET",
        "server_context_attributes": "x=1",
    },
    "0:2204": {"actor_initiator": "client-1"},
    "0:2205": {"actor_target": "server-9"},
    "0:2206": {
        "http_method": 4,
        "http_protocol": 2000,
        "http_uri": "/api",
        "http_host": "api",
        "http_referrer": "ref",
        "http_useragent": "curl",
        "http_xff": "10.1.1.1",
        "http_authuser": "bob",
        "http_mimetype": "application/json",
        "http_request_bytes": 512,
        "http_bytes": 4096,
        "http_duration_uS": 800,
        "http_status": 201,
    },
    "0:2209": {
        "tcpinfo_direction": "sent",
        "tcpinfo_send_mss": 1448,
        "tcpinfo_receive_mss": 1448,
        "tcpinfo_unacked_pkts": 3,
        "tcpinfo_lost_pkts": 1,
        "tcpinfo_retrans_pkts": 2,
        "tcpinfo_path_mtu": 1500,
        "tcpinfo_rtt_uS": 2500,
        "tcpinfo_rtt_uS_var": 300,
        "tcpinfo_send_congestion_win": 10,
        "tcpinfo_reordering": 3,
        "tcpinfo_rtt_uS_min": 2000,
    },
    "0:2210": {
        "entities_src_class": 3,
        "entities_src_index": 7,
        "entities_dst_class": 3,
        "entities_dst_index": 8,
    },
}


def _u32s(names: str, start: int = 1) -> dict:
    return {n: start + i for i, n in enumerate(names.split())}


COUNTER_EXAMPLES = {
    "0:1": {
        "ifIndex": 3,
        "networkType": 6,
        "ifSpeed": 10_000_000_000,
        "ifDirection": 1,
        "ifStatus": 3,
        "ifInOctets": 2**40 + 5,
        "ifInUcastPkts": 1000,
        "ifInMulticastPkts": 2,
        "ifInBroadcastPkts": 3,
        "ifInDiscards": 4,
        "ifInErrors": 5,
        "ifInUnknownProtos": 6,
        "ifOutOctets": 2**33,
        "ifOutUcastPkts": 7,
        "ifOutMulticastPkts": 8,
        "ifOutBroadcastPkts": 9,
        "ifOutDiscards": 10,
        "ifOutErrors": 11,
        "ifPromiscuousMode": 2,
    },
    "0:2": _u32s(
        "dot3StatsAlignmentErrors dot3StatsFCSErrors dot3StatsSingleCollisionFrames "
        "dot3StatsMultipleCollisionFrames dot3StatsSQETestErrors "
        "dot3StatsDeferredTransmissions dot3StatsLateCollisions "
        "dot3StatsExcessiveCollisions dot3StatsInternalMacTransmitErrors "
        "dot3StatsCarrierSenseErrors dot3StatsFrameTooLongs "
        "dot3StatsInternalMacReceiveErrors dot3StatsSymbolErrors"
    ),
    "0:3": _u32s(
        "dot5StatsLineErrors dot5StatsBurstErrors dot5StatsACErrors "
        "dot5StatsAbortTransErrors dot5StatsInternalErrors dot5StatsLostFrameErrors "
        "dot5StatsReceiveCongestions dot5StatsFrameCopiedErrors dot5StatsTokenErrors "
        "dot5StatsSoftErrors dot5StatsHardErrors dot5StatsSignalLoss "
        "dot5StatsTransmitBeacons dot5StatsRecoverys dot5StatsLobeWires "
        "dot5StatsRemoves dot5StatsSingles dot5StatsFreqErrors"
    ),
    "0:4": {
        "dot12InHighPriorityFrames": 1,
        "dot12InHighPriorityOctets": 2**35,
        "dot12InNormPriorityFrames": 3,
        "dot12InNormPriorityOctets": 4,
        "dot12InIPMErrors": 5,
        "dot12InOversizeFrameErrors": 6,
        "dot12InDataErrors": 7,
        "dot12InNullAddressedFrames": 8,
        "dot12OutHighPriorityFrames": 9,
        "dot12OutHighPriorityOctets": 10,
        "dot12TransitionIntoTrainings": 11,
        "dot12HCInHighPriorityOctets": 12,
        "dot12HCInNormPriorityOctets": 13,
        "dot12HCOutHighPriorityOctets": 2**50,
    },
    "0:5": {
        "in_vlan": 100,
        "octets": 2**36,
        "ucastPkts": 5,
        "multicastPkts": 6,
        "broadcastPkts": 7,
        "discards": 8,
    },
    "0:6": _u32s(
        "dot11TransmittedFragmentCount dot11MulticastTransmittedFrameCount "
        "dot11FailedCount dot11RetryCount dot11MultipleRetryCount "
        "dot11FrameDuplicateCount dot11RTSSuccessCount dot11RTSFailureCount "
        "dot11ACKFailureCount dot11ReceivedFragmentCount "
        "dot11MulticastReceivedFrameCount dot11FCSErrorCount "
        "dot11TransmittedFrameCount dot11WEPUndecryptableCount "
        "dot11QoSDiscardedFragmentCount dot11AssociatedStationCount "
        "dot11QoSCFPollsReceivedCount dot11QoSCFPollsUnusedCount "
        "dot11QoSCFPollsUnusableCount dot11QoSCFPollsLostCount"
    ),
    "0:7": {
        "actorSystemID": "0a0000000001",
        "partnerSystemID": "0a0000000002",
        "attachedAggID": 501,
        "actorAdminPortState": 61,
        "actorOperPortState": 63,
        "partnerAdminPortState": 1,
        "partnerOperPortState": 62,
        "LACPDUsRx": 10,
        "markerPDUsRx": 0,
        "markerResponsePDUsRx": 0,
        "unknownRx": 1,
        "illegalRx": 2,
        "LACPDUsTx": 11,
        "markerPDUsTx": 0,
        "markerResponsePDUsTx": 0,
    },
    "0:10": {
        "sfp_module_id": 1,
        "sfp_module_total_lanes": 4,
        "sfp_module_supply_voltage": 3300,
        "sfp_module_temperature": 35000,
        "sfp_module_active_lanes": 2,
        "sfp_lanes": [
            {
                "index": i,
                "tx_bias_current_uA": 6000,
                "tx_power_uW": 800,
                "tx_power_min_uW": 100,
                "tx_power_max_uW": 1500,
                "tx_wavelength_nM": 1310,
                "rx_power_uW": 700,
                "rx_power_min_uW": 50,
                "rx_power_max_uW": 1400,
                "rx_wavelength_nM": 1310,
            }
            for i in (1, 2)
        ],
    },
    "0:11": {
        "PFC_requests": 1,
        "PFC_indications": 2,
        "PFC_pause_duration": 3,
        "PFC_storm_detected": 4,
        "PFC_storm_restored": 5,
    },
    "0:1001": {
        "5s_cpu": 12.34,
        "1m_cpu": 5.0,
        "5m_cpu": "unknown",
        "total_memory_bytes": 8 << 30,
        "free_memory_bytes": 3 << 30,
    },
    "0:1002": {
        "radio_elapsed_time": 1000,
        "radio_on_channel_time": 900,
        "radio_on_channel_busy_time": 300,
    },
    "0:1004": {"openflow_datapath_id": "00000242ac110002", "openflow_port": 7},
    "0:1005": {"ifName": "eth0"},
    "0:2000": {
        "hostname": "vx1host",
        "UUID": "6571e19b-6571-519b-a571-e19b6571e19b",
        "machine_type": 3,
        "os_name": 2,
        "os_release": "6.1.0",
    },
    "0:2001": {
        "adaptor_list": [
            {"ifIndex": 2, "MACs": 1, "mac_list": ["02fc00000001"]},
            {"ifIndex": 3, "MACs": 2, "mac_list": ["02fc00000002", "02fc00000003"]},
        ]
    },
    "0:2002": {"parent_dsClass": 2, "parent_dsIndex": 1},
    "0:2003": {
        "cpu_load_one": 0.25,
        "cpu_load_five": 1.5,
        "cpu_load_fifteen": 2.0,
        **_u32s(
            "cpu_proc_run cpu_proc_total cpu_num cpu_speed cpu_uptime cpu_user "
            "cpu_nice cpu_system cpu_idle cpu_wio cpuintr cpu_sintr cpuinterrupts "
            "cpu_contexts cpu_steal cpu_guest cpu_guest_nice"
        ),
    },
    "0:2004": {
        "mem_total": 16 << 30,
        "mem_free": 8 << 30,
        "mem_shared": 1,
        "mem_buffers": 2,
        "mem_cached": 3,
        "swap_total": 4,
        "swap_free": 5,
        "page_in": 6,
        "page_out": 7,
        "swap_in": 8,
        "swap_out": 9,
    },
    "0:2005": {
        "disk_total": 500 << 30,
        "disk_free": 200 << 30,
        "disk_partition_max_used": 68.56,
        "disk_reads": 1,
        "disk_bytes_read": 2,
        "disk_read_time": 3,
        "disk_writes": 4,
        "disk_bytes_written": 5,
        "disk_write_time": 6,
    },
    "0:2006": {
        "nio_bytes_in": 2**40,
        "nio_pkts_in": 1,
        "nio_errs_in": 2,
        "nio_drops_in": 3,
        "nio_bytes_out": 4,
        "nio_pkts_out": 5,
        "nio_errs_out": 6,
        "nio_drops_out": 7,
    },
    "0:2007": _u32s(
        "ipForwarding ipDefaultTTL ipInReceives ipInHdrErrors ipInAddrErrors "
        "ipForwDatagrams ipInUnknownProtos ipInDiscards ipInDelivers ipOutRequests "
        "ipOutDiscards ipOutNoRoutes ipReasmTimeout ipReasmReqds ipReasmOKs "
        "ipReasmFails ipFragOKs ipFragFails ipFragCreates"
    ),
    "0:2008": _u32s(
        "icmpInMsgs icmpInErrors icmpInDestUnreachs icmpInTimeExcds "
        "icmpInParamProbs icmpInSrcQuenchs icmpInRedirects icmpInEchos "
        "icmpInEchoReps icmpInTimestamps icmpInAddrMasks icmpInAddrMaskReps "
        "icmpOutMsgs icmpOutErrors icmpOutDestUnreachs icmpOutTimeExcds "
        "icmpOutParamProbs icmpOutSrcQuenchs icmpOutRedirects icmpOutEchos "
        "icmpOutEchoReps icmpOutTimestamps icmpOutTimestampReps icmpOutAddrMasks "
        "icmpOutAddrMaskReps"
    ),
    "0:2009": _u32s(
        "tcpRtoAlgorithm tcpRtoMin tcpRtoMax tcpMaxConn tcpActiveOpens "
        "tcpPassiveOpens tcpAttemptFails tcpEstabResets tcpCurrEstab tcpInSegs "
        "tcpOutSegs tcpRetransSegs tcpInErrs tcpOutRsts tcpInCsumErrors"
    ),
    "0:2010": _u32s(
        "udpInDatagrams udpNoPorts udpInErrors udpOutDatagrams udpRcvbufErrors "
        "udpSndbufErrors udpInCsumErrors"
    ),
    "0:2100": {
        "vnode_mhz": 2400,
        "vnode_cpus": 8,
        "vnode_memory": 32 << 30,
        "vnode_memory_free": 16 << 30,
        "vnode_num_domains": 5,
    },
    "0:2101": {"vcpu_state": 1, "vcpu_cpu_mS": 123456, "vcpu_cpuCount": 2},
    "0:2102": {"vmem_memory": 1 << 30, "vmem_maxMemory": 2 << 30},
    "0:2103": {
        "vdsk_capacity": 1,
        "vdsk_allocation": 2,
        "vdsk_available": 3,
        "vdsk_rd_req": 4,
        "vdsk_rd_bytes": 5,
        "vdsk_wr_req": 6,
        "vdsk_wr_bytes": 7,
        "vdsk_errs": 8,
    },
    "0:2104": {
        "vnio_bytes_in": 2**33,
        "vnio_pkts_in": 1,
        "vnio_errs_in": 2,
        "vnio_drops_in": 3,
        "vnio_bytes_out": 4,
        "vnio_pkts_out": 5,
        "vnio_errs_out": 6,
        "vnio_drops_out": 7,
    },
    "0:2105": {
        "jvm_name": "OpenJDK 64-Bit Server VM",
        "jvm_vendor": "Eclipse",
        "jvm_version": "17.0.2",
    },
    "0:2106": {
        "heap_mem_initial": 1,
        "heap_mem_used": 2,
        "heap_mem_committed": 3,
        "heap_mem_max": 4,
        "non_heap_mem_initial": 5,
        "non_heap_mem_used": 6,
        "non_heap_mem_committed": 7,
        "non_heap_mem_max": 8,
        "gc_count": 9,
        "gc_mS": 10,
        "classes_loaded": 11,
        "classes_total": 12,
        "classes_unloaded": 13,
        "compilation_mS": 14,
        "threads_live": 15,
        "threads_daemon": 16,
        "threads_started": 17,
        "fds_open": 18,
        "fds_max": 19,
    },
    "0:2200": {
        **_u32s(
            "memcache_uptime memcache_rusage_user memcache_rusage_system "
            "memcache_curr_connections memcache_total_connections "
            "memcache_connection_structures memcache_cmd_get memcache_cmd_set "
            "memcache_cmd_flush memcache_get_hits memcache_get_misses "
            "memcache_delete_misses memcache_delete_hits memcache_incr_misses "
            "memcache_incr_hits memcache_decr_misses memcache_decr_hits "
            "memcache_cas_misses memcache_cas_hits memcache_cas_badval "
            "memcache_auth_cmds memcache_auth_errors memcache_limit_maxbytes "
            "memcache_accepting_conns memcache_listen_disabled_num memcache_threads "
            "memcache_conn_yields memcache_curr_items memcache_total_items "
            "memcache_evictions"
        ),
        "memcache_bytes_read": 2**33,
        "memcache_bytes_written": 2**34,
        "memcache_bytes": 2**35,
    },
    "0:2201": _u32s(
        "http_method_option_count http_method_get_count http_method_head_count "
        "http_method_post_count http_method_put_count http_method_delete_count "
        "http_method_trace_count http_methd_connect_count http_method_other_count "
        "http_status_1XX_count http_status_2XX_count http_status_3XX_count "
        "http_status_4XX_count http_status_5XX_count http_status_other_count"
    ),
    "0:2202": {
        "application": "payments",
        **_u32s(
            "status_OK errors_OTHER errors_TIMEOUT errors_INTERNAL_ERROR errors_BAD_REQUEST "
            "errors_FORBIDDEN errors_TOO_LARGE errors_NOT_IMPLEMENTED errors_NOT_FOUND "
            "errors_UNAVAILABLE errors_UNAUTHORIZED"
        ),
    },
    "0:2203": {
        "user_time": 1,
        "system_time": 2,
        "memory_used": 2**33,
        "memory_max": 2**34,
        "files_open": 5,
        "files_max": 6,
        "connections_open": 7,
        "connections_max": 8,
    },
    "0:2204": {
        **_u32s(
            "memcache_cmd_set memcache_cmd_touch memcache_cmd_flush "
            "memcache_get_hits memcache_get_misses memcache_delete_hits "
            "memcache_delete_misses memcache_incr_hits memcache_incr_misses "
            "memcache_decr_hits memcache_decr_misses memcache_cas_hits "
            "memcache_cas_misses memcache_cas_badval memcache_auth_cmds "
            "memcache_auth_errors memcache_threads memcache_conn_yields "
            "memcache_listen_disabled_num memcache_curr_connections "
            "memcache_rejected_connections memcache_total_connections "
            "memcache_connection_structures memcache_evictions memcache_reclaimed "
            "memcache_curr_items memcache_total_items"
        ),
        "memcache_bytes_read": 2**33,
        "memcache_bytes_written": 2**34,
        "memcache_bytes": 2**35,
        "memcache_limit_maxbytes": 2**36,
    },
    "0:2205": _u32s(
        "vdi_sessions_current vdi_sessions_total vdi_sessions_duration vdi_rx_bytes "
        "vdi_tx_bytes vdi_rx_packets vdi_tx_packets vdi_rx_packets_lost "
        "vdi_tx_packets_lost vdi_rtt_min_ms vdi_rtt_max_ms vdi_rtt_avg_ms "
        "vdi_audio_rx_bytes vdi_audio_tx_bytes vdi_audio_tx_limit "
        "vdi_img_rx_bytes vdi_img_tx_bytes vdi_img_frames vdi_img_qual_min "
        "vdi_img_qual_max vdi_img_qual_avg vdi_usb_rx_bytes vdi_usb_tx_bytes"
    ),
    "0:2206": _u32s("workers_active workers_idle workers_max requests_delayed requests_dropped"),
    "0:2207": _u32s(
        "OVS_dp_hits OVS_dp_misses OVS_dp_lost OVS_dp_mask_hits OVS_dp_flows OVS_dp_masks"
    ),
    "5703:1": {
        "nvml_device_count": 2,
        "nvml_processes": 3,
        "nvml_gpu_mS": 4,
        "nvml_mem_mS": 5,
        "nvml_mem_bytes_total": 80 << 30,
        "nvml_mem_bytes_free": 40 << 30,
        "nvml_ecc_errors": 0,
        "nvml_energy_mJ": 1000,
        "nvml_temperature_C": 60,
        "nvml_fan_speed_pc": 30,
    },
    "4413:3": _u32s(
        " ".join(
            "bcm_" + n
            for n in (
                "asic_host_entries host_entries_max ipv4_entries ipv4_entries_max ipv6_entries "
                "ipv6_entries_max ipv4_ipv6_entries ipv4_ipv6_entries_max long_ipv6_entries "
                "long_ipv6_entries_max total_routes total_routes_max ecmp_nexthops ecmp_nexthops_max "
                "mac_entries mac_entries_max ipv4_neighbors ipv6_neighbors ipv4_routes ipv6_routes "
                "acl_ingress_entries acl_ingress_entries_max acl_ingress_counters "
                "acl_ingress_counters_max acl_ingress_meters acl_ingress_meters_max "
                "acl_ingress_slices acl_ingress_slices_max acl_egress_entries acl_egress_entries_max "
                "acl_egress_counters acl_egress_counters_max acl_egress_meters acl_egress_meters_max "
                "acl_egress_slices acl_egress_slices_max"
            ).split()
        )
    ),
}


def _one_sample_datagram(kind: str, record: bytes, expanded: bool = False) -> bytes:
    if kind == "flow":
        sample = enc.flow_sample(7, 0, 3, 512, 7 * 512, 0, 3, 5, [record], expanded=expanded)
    else:
        sample = enc.counter_sample(9, 0, 3, [record], expanded=expanded)
    return enc.datagram("192.0.2.10", 1, 1000, [sample])


def _decoded_record(kind: str, example: dict, tag: str) -> tuple[bytes, dict]:
    key = "flowBlock_tag" if kind == "flow" else "counterBlock_tag"
    d = {key: tag, **example}
    raw = (enc.encode_flow_record if kind == "flow" else enc.encode_counter_record)(d)
    dg = decode_datagram(_one_sample_datagram(kind, raw))
    records = dg.samples[0].records()
    assert len(records) == 1, f"decoder produced no record for {kind} {tag} (not decoded?)"
    assert records[0][key] == tag
    return raw, records[0]


def test_every_encoder_has_an_example():
    assert set(FLOW_EXAMPLES) == set(enc.FLOW_RECORDS)
    assert set(COUNTER_EXAMPLES) == set(enc.COUNTER_RECORDS)


def test_encoder_covers_every_decoded_record_type():
    """sflowtool decodes 50 flow and 41 counter record formats; so do decoder and encoder."""
    from engine.sflow import records

    decoded_flow = {f"{e}:{f}" for e, f in records.FLOW_RECORDS if e != records.V2V4_ENTERPRISE}
    decoded_counter = {f"{e}:{f}" for e, f in records.COUNTER_RECORDS}
    assert decoded_flow == set(enc.FLOW_RECORDS)
    assert decoded_counter == set(enc.COUNTER_RECORDS)
    assert (len(decoded_flow), len(decoded_counter)) == (50, 41)


@pytest.mark.parametrize("tag", sorted(FLOW_EXAMPLES, key=enc.tag_number))
def test_flow_record_roundtrip(tag):
    raw, decoded = _decoded_record("flow", FLOW_EXAMPLES[tag], tag)
    for name, value in FLOW_EXAMPLES[tag].items():
        assert decoded.get(name) == value, f"{tag} {name}: {decoded.get(name)!r} != {value!r}"
    assert enc.encode_flow_record(decoded) == raw


@pytest.mark.parametrize("tag", sorted(COUNTER_EXAMPLES, key=enc.tag_number))
def test_counter_record_roundtrip(tag):
    raw, decoded = _decoded_record("counter", COUNTER_EXAMPLES[tag], tag)
    for name, value in COUNTER_EXAMPLES[tag].items():
        assert decoded.get(name) == value, f"{tag} {name}: {decoded.get(name)!r} != {value!r}"
    assert enc.encode_counter_record(decoded) == raw


def test_host_cpu_short_form_roundtrips():
    """Agents from before 2014 send 0:2003 without steal/guest (68 bytes)."""
    short = {
        k: v
        for k, v in COUNTER_EXAMPLES["0:2003"].items()
        if k not in ("cpu_steal", "cpu_guest", "cpu_guest_nice")
    }
    raw, decoded = _decoded_record("counter", short, "0:2003")
    assert len(raw) == 8 + 68
    assert "cpu_steal" not in decoded
    assert enc.encode_counter_record(decoded) == raw


def test_sample_headers_compact_and_expanded():
    rec = enc.encode_flow_record({"flowBlock_tag": "0:1001", **FLOW_EXAMPLES["0:1001"]})
    big = enc.flow_sample(
        2**32 - 1,
        2,
        1 << 30,
        4096,
        2**32 - 2,
        17,
        1285816721,
        0x3FFFFFFF,
        [rec],
        input_format=0,
        output_format=2,
        expanded=True,
    )
    small = enc.flow_sample(5, 0, 7, 256, 1280, 3, 7, 9, [rec], output_format=1)
    dg = decode_datagram(enc.datagram("2001:db8::5", 77, 123456, [big, small], sub_agent=3))
    assert (dg.version, dg.agent, dg.sub_agent, dg.seq, dg.uptime) == (
        5,
        "2001:db8::5",
        3,
        77,
        123456,
    )
    a, b = dg.samples
    assert (a.tag, a.seq, a.ds_class, a.ds_index, a.data_source) == (
        "0:3",
        2**32 - 1,
        2,
        1 << 30,
        f"2.{1 << 30}",
    )
    assert (a.sampling_rate, a.sample_pool, a.drops, a.input, a.output, a.output_format) == (
        4096,
        2**32 - 2,
        17,
        1285816721,
        0x3FFFFFFF,
        2,
    )
    assert (b.tag, b.data_source, b.sampling_rate, b.sample_pool, b.drops) == (
        "0:1",
        "7",
        256,
        1280,
        3,
    )
    assert (b.input, b.output, b.output_format) == (7, 9, 1)
    with pytest.raises(enc.EncodeError):
        enc.flow_sample(1, 0, 1, 1, 1, 0, 1 << 30, 1, [rec])  # does not fit compact
    again = enc.encode_datagram(enc.datagram_to_dict(dg))
    assert again == enc.datagram("2001:db8::5", 77, 123456, [big, small], sub_agent=3)


def test_counter_sample_expanded_and_compact():
    rec = enc.encode_counter_record({"counterBlock_tag": "0:1", **COUNTER_EXAMPLES["0:1"]})
    data = enc.datagram(
        "192.0.2.1",
        1,
        1,
        [enc.counter_sample(1, 0, 3, [rec]), enc.counter_sample(2, 3, 70000, [rec], expanded=True)],
    )
    dg = decode_datagram(data)
    assert [(s.kind, s.tag, s.data_source) for s in dg.samples] == [
        ("counter", "0:2", "3"),
        ("counter", "0:4", "3.70000"),
    ]
    assert enc.encode_datagram(enc.datagram_to_dict(dg)) == data


def test_discard_sample_roundtrip():
    recs = [
        enc.encode_flow_record({"flowBlock_tag": t, **FLOW_EXAMPLES[t]})
        for t in ("0:1", "0:1036", "0:1038", "0:1041", "0:1042")
    ]
    data = enc.datagram("192.0.2.1", 9, 10, [enc.discard_sample(4, 0, 12, 100, 12, 0, 258, recs)])
    dg = decode_datagram(data)
    (s,) = dg.samples
    assert (s.kind, s.tag, s.seq, s.data_source, s.drops, s.input, s.output, s.reason) == (
        "discard",
        "0:5",
        4,
        "12",
        100,
        12,
        0,
        258,
    )
    got = s.records()
    assert [r["flowBlock_tag"] for r in got] == ["0:1", "0:1036", "0:1038", "0:1041", "0:1042"]
    assert got[2]["symbol"] == "ip_rcv_finish"
    assert enc.encode_datagram(enc.datagram_to_dict(dg)) == data


def test_rtmetric_and_rtflow_roundtrip():
    metrics = [
        ("name", "string", "web-1"),
        ("req", "counter32", 5),
        ("bytes", "counter64", 2**40),
        ("load", "gauge32", 7),
        ("mem", "gauge64", 2**35),
        ("util", "gaugeFloat", 0.5),
        ("ratio", "gaugeDouble", 0.125),
    ]
    fields = [
        ("app", "string", "shop"),
        ("mac", "mac", "0242AC110002"),
        ("src", "ip", "10.0.0.1"),
        ("dst6", "ip6", "2001:db8::1"),
        ("n", "int32", 3),
        ("big", "int64", 2**40),
        ("f", "float", 1.5),
        ("d", "double", 2.25),
    ]
    data = enc.datagram(
        "192.0.2.1",
        1,
        1,
        [enc.rtmetric_sample("app1", metrics), enc.rtflow_sample("app1", 10, 1000, fields)],
    )
    dg = decode_datagram(data)
    m, f = dg.samples
    assert m.kind == "rtmetric" and f.kind == "rtflow"
    assert m.values() == {n: v for n, _, v in metrics}
    assert f.attributes() == {n: v for n, _, v in fields}
    assert (f.sampling_rate, f.sample_pool) == (10, 1000)
    assert enc.encode_datagram(enc.datagram_to_dict(dg)) == data


def _pcaps():
    return sorted(glob.glob(str(TESTDATA / "**" / "*.pcap"), recursive=True))


# Captures whose datagrams re-encode byte for byte. The others differ only where the encoder
# cannot know the original bytes: non-zero XDR padding (sampled-header and MAC padding holding
# packet bytes) or garbage after the last sample.
BYTE_IDENTICAL = {
    "overflowd/sflow.pcap",
    "loghub/sflow.pcap",
    "nxthdr/sflow.pcap",
    "tcpdump/sflow_multiple_counter_30_pdus.pcap",
    "tcpdump/sflow-print-v6.pcap",
    "akvorado/data-1140.pcap",
    "akvorado/data-encap-vxlan.pcap",
    "akvorado/data-icmpv4.pcap",
    "akvorado/data-qinq.pcap",
    "akvorado/data-sflow-ipv4-data.pcap",
    "akvorado/data-sflow-raw-ipv4.pcap",
}


@pytest.mark.parametrize("path", _pcaps(), ids=lambda p: str(Path(p).relative_to(TESTDATA)))
def test_real_pcap_reencodes(path):
    """Decode every datagram of every capture, re-encode it, decode again: same values."""
    from engine.sflow import DecodeError

    name = str(Path(path).relative_to(TESTDATA))
    total = identical = 0
    for pkt in read_pcap(path):
        try:
            dg = decode_datagram(pkt.payload)
            d = enc.datagram_to_dict(dg)
        except DecodeError:
            continue  # malformed input (NetFlow on 6343, the CVE packet): not for re-encoding
        total += 1
        again = enc.encode_datagram(d)
        if again == pkt.payload:
            identical += 1
            continue
        assert enc.datagram_to_dict(decode_datagram(again)) == d
        # only padding or trailing bytes may differ, unless the decoder skipped records
        assert len(again) <= len(pkt.payload) or _has_skipped_records(dg)
    if "segv" not in name:
        assert total > 0
    if name in BYTE_IDENTICAL:
        assert identical == total, f"{total - identical} of {total} datagrams differ"


def test_overflowd_capture_is_byte_identical_in_bulk():
    pkts = list(read_pcap(TESTDATA / "overflowd" / "sflow.pcap"))
    assert len(pkts) == 1000
    flows = counters = 0
    for pkt in pkts:
        dg = decode_datagram(pkt.payload)
        flows += sum(s.kind == "flow" for s in dg.samples)
        counters += sum(s.kind == "counter" for s in dg.samples)
        assert enc.encode_datagram(enc.datagram_to_dict(dg)) == pkt.payload
    assert (flows, counters) == (5855, 502)


def _has_skipped_records(dg) -> bool:
    """True when the decoder skipped something (unknown record or sample types), so the
    re-encoded datagram is legitimately shorter."""
    for s in dg.samples:
        if s.kind in ("flow", "counter", "discard") and s.nrec != len(s.records()):
            return True
    return False


def _v2v4_datagram(version: int) -> dict:
    gateway = dict(FLOW_EXAMPLES["0:1003"], dst_as_path="203698-6762-26615", dst_as=26615)
    if version == 2:
        gateway = {k: gateway[k] for k in ("my_as", "src_as", "src_peer_as", "dst_as_path")}
    else:
        gateway.pop("bgp_nexthop")
    header = {k: v for k, v in FLOW_EXAMPLES["0:1"].items() if k != "strippedBytes"}
    return {
        "version": version,
        "agent": "192.0.2.44",
        "seq": 12,
        "uptime": 3456,
        "samples": [
            {
                "kind": "flow",
                "seq": 1,
                "ds_class": 0,
                "ds_index": 5,
                "sampling_rate": 400,
                "sample_pool": 4000,
                "drops": 1,
                "input": 5,
                "output": 7,
                "output_format": 2,
                "records": [
                    {"flowBlock_tag": "0:1", **header},
                    {"flowBlock_tag": "0:1001", **FLOW_EXAMPLES["0:1001"]},
                    {"flowBlock_tag": "0:1002", **FLOW_EXAMPLES["0:1002"]},
                    {"flowBlock_tag": "0:1003", **gateway},
                    {"flowBlock_tag": "0:1004", "src_user": "alice", "dst_user": "bob"},
                    {"flowBlock_tag": "0:1005", "url_direction": 1, "url": "/x"},
                ],
            },
            {
                "kind": "flow",
                "seq": 2,
                "ds_class": 0,
                "ds_index": 5,
                "sampling_rate": 400,
                "sample_pool": 4400,
                "input": 5,
                "output": 6,
                "records": [{"flowBlock_tag": "0:3", **FLOW_EXAMPLES["0:3"]}],
            },
            {
                "kind": "flow",
                "seq": 3,
                "ds_class": 0,
                "ds_index": 5,
                "sampling_rate": 400,
                "sample_pool": 4800,
                "input": 5,
                "output": 6,
                "records": [{"flowBlock_tag": "0:4", **FLOW_EXAMPLES["0:4"]}],
            },
            {
                "kind": "counter",
                "seq": 4,
                "ds_class": 0,
                "ds_index": 5,
                "records": [
                    {"counterBlock_tag": "0:1", **COUNTER_EXAMPLES["0:1"]},
                    {"counterBlock_tag": "0:2", **COUNTER_EXAMPLES["0:2"]},
                ],
            },
            {
                "kind": "counter",
                "seq": 5,
                "ds_class": 0,
                "ds_index": 6,
                "records": [{"counterBlock_tag": "0:5", **COUNTER_EXAMPLES["0:5"]}],
            },
            {
                "kind": "counter",
                "seq": 6,
                "ds_class": 0,
                "ds_index": 7,
                "records": [
                    {"counterBlock_tag": "0:1", **COUNTER_EXAMPLES["0:1"]},
                    {"counterBlock_tag": "0:4", **COUNTER_EXAMPLES["0:4"]},
                ],
            },
        ],
    }


@pytest.mark.parametrize("version", [2, 4])
def test_v2v4_datagrams_roundtrip(version):
    src = _v2v4_datagram(version)
    data = enc.encode_datagram(src)
    dg = decode_datagram(data)
    assert (dg.version, dg.agent, dg.seq, dg.uptime, len(dg.samples)) == (
        version,
        "192.0.2.44",
        12,
        3456,
        6,
    )
    flow = dg.samples[0]
    assert (
        flow.kind,
        flow.sampling_rate,
        flow.sample_pool,
        flow.drops,
        flow.output,
        flow.output_format,
    ) == ("flow", 400, 4000, 1, 7, 2)
    for sample, want in zip(dg.samples, src["samples"]):
        got = sample.records()
        assert [r.get("flowBlock_tag") or r.get("counterBlock_tag") for r in got] == [
            r.get("flowBlock_tag") or r.get("counterBlock_tag") for r in want["records"]
        ]
        for g, w in zip(got, want["records"]):
            for name, value in w.items():
                assert g.get(name) == value, (version, name, g.get(name), value)
    assert flow.attributes()["ipsource"] == "10.0.0.1"
    assert enc.encode_datagram(enc.datagram_to_dict(dg)) == data


# -- property tests: arbitrary values survive encode -> decode ----------------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402

_u32 = st.integers(0, 2**32 - 1)
_u64 = st.integers(0, 2**64 - 1)


@settings(max_examples=60, deadline=None)
@given(
    values=st.fixed_dictionaries(
        {
            "ifIndex": _u32,
            "networkType": _u32,
            "ifSpeed": _u64,
            "ifDirection": _u32,
            "ifStatus": _u32,
            "ifInOctets": _u64,
            "ifInUcastPkts": _u32,
            "ifOutOctets": _u64,
            "ifOutErrors": _u32,
            "ifPromiscuousMode": _u32,
        }
    ),
    seq=_u32,
    index=st.integers(0, 2**24 - 1),
)
def test_generic_counters_any_values(values, seq, index):
    raw = enc.encode_counter_record({"counterBlock_tag": "0:1", **values})
    dg = decode_datagram(
        enc.datagram("192.0.2.1", 1, 1, [enc.counter_sample(seq, 0, index, [raw])])
    )
    (s,) = dg.samples
    assert (s.seq, s.ds_index) == (seq, index)
    (rec,) = s.records()
    assert {k: rec[k] for k in values} == values
    assert rec["ifInDiscards"] == 0


@settings(max_examples=60, deadline=None)
@given(
    src=st.ip_addresses(v=4).map(str),
    dst=st.ip_addresses(v=4).map(str),
    proto=st.sampled_from([1, 6, 17]),
    sport=st.integers(0, 65535),
    dport=st.integers(0, 65535),
    size=st.integers(64, 9000),
    vlans=st.lists(st.integers(1, 4094), max_size=2),
    tos=st.integers(0, 255),
    header_len=st.integers(60, 256),
)
def test_sampled_header_any_packet(src, dst, proto, sport, dport, size, vlans, tos, header_len):
    frame = packets.frame(
        "020000000001", "020000000002", src, dst, proto, size, sport, dport, vlans, tos=tos
    )
    header = frame[:header_len]
    raw = enc.encode_flow_record(
        {
            "flowBlock_tag": "0:1",
            "headerProtocol": 1,
            "sampledPacketSize": size,
            "strippedBytes": 4,
            "headerBytes": header,
        }
    )
    dg = decode_datagram(
        enc.datagram("192.0.2.1", 1, 1, [enc.flow_sample(1, 0, 1, 10, 10, 0, 1, 2, [raw])])
    )
    a = dg.samples[0].attributes()
    assert (a["ipsource"], a["ipdestination"], a["ipprotocol"]) == (src, dst, proto)
    assert (a["ipdscp"], int(a["ipecn"], 2)) == (tos >> 2, tos & 3)
    assert a["bytes"] == size
    if vlans:
        assert a["vlan"] == vlans[0]
    if proto == 6:
        assert (a["tcpsourceport"], a["tcpdestinationport"]) == (sport, dport)
    elif proto == 17:
        assert (a["udpsourceport"], a["udpdestinationport"]) == (sport, dport)
    assert enc.encode_flow_record(dg.samples[0].records()[0]) == raw


@settings(max_examples=40, deadline=None)
@given(
    src=st.ip_addresses(v=6).map(str),
    dst=st.ip_addresses(v=6).map(str),
    proto=st.sampled_from([6, 17]),
    sport=st.integers(0, 65535),
    dport=st.integers(0, 65535),
)
def test_sampled_header_any_ipv6_packet(src, dst, proto, sport, dport):
    import ipaddress
    import socket

    frame = packets.frame("020000000001", "020000000002", src, dst, proto, 1000, sport, dport)
    raw = enc.encode_flow_record(
        {
            "flowBlock_tag": "0:1",
            "headerProtocol": 1,
            "sampledPacketSize": 1000,
            "strippedBytes": 4,
            "headerBytes": frame[:128],
        }
    )
    a = (
        decode_datagram(
            enc.datagram("2001:db8::1", 1, 1, [enc.flow_sample(1, 0, 1, 10, 10, 0, 1, 2, [raw])])
        )
        .samples[0]
        .attributes()
    )

    def rfc5952(addr):  # inet_ntop writes IPv4-mapped addresses as ::ffff:a.b.c.d
        return socket.inet_ntop(socket.AF_INET6, ipaddress.IPv6Address(addr).packed)

    assert a["ip6source"] == rfc5952(src)
    assert a["ip6destination"] == rfc5952(dst)
    assert a["ip6nexthdr"] == proto
    port = "tcp" if proto == 6 else "udp"
    assert (a[port + "sourceport"], a[port + "destinationport"]) == (sport, dport)


# -- sflowtool's own output as encoder input ---------------------------------------------------
def _sflowtool_datagrams(pcap: Path) -> dict:
    """(agent, packetSequenceNo, sysUpTime) -> sflowtool's JSON for that datagram."""
    import gzip
    import json

    base = str(pcap)[:-5] + ".sflowtool.jsonl"
    path = Path(base) if Path(base).exists() else Path(base + ".gz")
    opener = gzip.open if path.suffix == ".gz" else open
    out = {}
    with opener(path, "rt") as f:
        for line in f:
            try:
                d = json.loads(line)
            except ValueError:
                continue  # sflowtool's output for a datagram it gave up on
            if "agent" not in d:
                continue  # not sFlow (NetFlow on 6343)
            out[(d["agent"], int(d["packetSequenceNo"]), int(d["sysUpTime"]))] = d
    return out


def _normal_agent(a: str) -> str:
    import ipaddress

    return str(ipaddress.ip_address(a))


@pytest.mark.parametrize(
    "path",
    [p for p in _pcaps() if "segv" not in p],
    ids=lambda p: str(Path(p).relative_to(TESTDATA)),
)
def test_sflowtool_output_encodes_to_the_same_records(path):
    """Encoding sflowtool's printed fields (all strings) must give records that decode to the
    same values as the captured bytes: an oracle for the encoder independent of our decoder's
    field interpretation."""
    truth = {
        (_normal_agent(k[0]), k[1], k[2]): v for k, v in _sflowtool_datagrams(Path(path)).items()
    }
    checked = 0
    for pkt in read_pcap(path):
        try:
            dg = decode_datagram(pkt.payload)
        except Exception:
            continue
        t = truth.get((dg.agent, dg.seq, dg.uptime))
        if t is None or dg.version != 5:
            continue
        samples = [s for s in dg.samples if s.kind in ("flow", "counter", "discard")]
        tsamples = [
            s for s in t["samples"] if s["sampleType_tag"] in ("0:1", "0:2", "0:3", "0:4", "0:5")
        ]
        assert len(samples) == len(tsamples)
        for s, ts in zip(samples, tsamples):
            ours = s.records()
            elements = ts.get("elements", [])
            assert len(ours) == len(elements)
            for mine, theirs in zip(ours, elements):
                if s.kind == "counter":
                    raw = enc.encode_counter_record(theirs)
                    rebuilt = enc.counter_sample(1, 0, 1, [raw])
                else:
                    raw = enc.encode_flow_record(theirs)
                    rebuilt = enc.flow_sample(1, 0, 1, 1, 1, 0, 1, 1, [raw])
                (again,) = (
                    decode_datagram(enc.datagram("192.0.2.1", 1, 1, [rebuilt])).samples[0].records()
                )
                assert again == mine, (path, theirs)
                checked += 1
    assert checked > 0
