"""Records and layers the real captures lack, built byte by byte with struct from the specs.

Also the Akvorado expectations for the VXLAN, QinQ and ICMPv6 captures (root_test.go).
"""

from __future__ import annotations

import socket
import struct

import pytest

from engine.sflow import DecodeError, decode_datagram
from engine.sflow.header import decode_header
from engine.sflow.pcap import read_pcap
from engine.sflow.records import COUNTER_RECORDS, FLOW_RECORDS, UNKNOWN_RECORDS, V2V4_ENTERPRISE
from paths import SFLOW_DATA

DATA = SFLOW_DATA
P = struct.pack


# ------------------------------------------------------------------ tiny XDR builder


def pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) & 3)


def s(text: str) -> bytes:
    b = text.encode()
    return P(">I", len(b)) + pad(b)


def ip4(a: str) -> bytes:
    return socket.inet_aton(a)


def ip6(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, a)


def addr(a: str) -> bytes:
    return P(">I", 2) + ip6(a) if ":" in a else P(">I", 1) + ip4(a)


def mac(m: str) -> bytes:
    return pad(bytes.fromhex(m))


def rec(enterprise: int, fmt: int, body: bytes) -> bytes:
    return P(">II", (enterprise << 12) | fmt, len(body)) + pad(body)


def header_rec(frame: bytes, proto: int = 1, stripped: int = 4) -> bytes:
    return rec(0, 1, P(">4I", proto, len(frame) + stripped, stripped, len(frame)) + pad(frame))


def flow_sample(records, ds_index=3, rate=100, inp=3, out=5, seq=7) -> bytes:
    body = P(">8I", seq, ds_index, rate, 1000, 0, inp, out, len(records)) + b"".join(records)
    return P(">II", 1, len(body)) + body


def discard_sample(records, reason, ds_index=3, inp=3, out=0) -> bytes:
    body = P(">8I", 9, 0, ds_index, 2, inp, out, reason, len(records)) + b"".join(records)
    return P(">II", 5, len(body)) + body


def counter_sample(records, ds_index=3) -> bytes:
    body = P(">3I", 11, ds_index, len(records)) + b"".join(records)
    return P(">II", 2, len(body)) + body


def datagram(samples, agent="192.0.2.1") -> bytes:
    return P(">II", 5, 1) + ip4(agent) + P(">4I", 0, 1, 1000, len(samples)) + b"".join(samples)


def one_flow(*records, **kw):
    d = decode_datagram(datagram([flow_sample(list(records), **kw)]))
    (sample,) = d.samples
    return sample


# ------------------------------------------------------------------ packet builder


def eth(payload: bytes, ethertype: int, dst="0a0b0c0d0e0f", src="020000000001", tags=()) -> bytes:
    b = bytes.fromhex(dst) + bytes.fromhex(src)
    for tpid, tci in tags:
        b += P(">HH", tpid, tci)
    return b + P(">H", ethertype) + payload


def ipv4(
    payload: bytes, proto: int, src="10.0.0.1", dst="10.0.0.2", tos=0, ttl=64, ident=1, frag=0
) -> bytes:
    return (
        P(
            ">BBHHHBBH4s4s",
            0x45,
            tos,
            20 + len(payload),
            ident,
            frag,
            ttl,
            proto,
            0,
            ip4(src),
            ip4(dst),
        )
        + payload
    )


def ipv6(payload: bytes, nh: int, src="2001:db8::1", dst="2001:db8::2", tc=0, flow=0) -> bytes:
    return (
        P(">IHBB", (6 << 28) | (tc << 20) | flow, len(payload), nh, 64)
        + ip6(src)
        + ip6(dst)
        + payload
    )


def tcp(sport, dport, flags=0x02) -> bytes:
    return P(">HHIIBBHHH", sport, dport, 1, 0, 0x50, flags, 1000, 0, 0)


def udp(sport, dport, payload=b"") -> bytes:
    return P(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def attrs_of(frame: bytes, proto=1) -> dict:
    a: dict = {}
    decode_header(frame, proto, a)
    return a


# ------------------------------------------------------------------ registry completeness


def test_tables_cover_sflowtool():
    v5_flow = [k for k in FLOW_RECORDS if k[0] != V2V4_ENTERPRISE]
    v5_counter = [k for k in COUNTER_RECORDS if k[0] != V2V4_ENTERPRISE]
    assert len(v5_flow) == 50
    assert len(v5_counter) == 41
    assert (
        (0, 1043) in FLOW_RECORDS and (5703, 1) in COUNTER_RECORDS and (4413, 3) in COUNTER_RECORDS
    )


# ------------------------------------------------------------------ header layers


def test_qinq_with_9100_tpid_and_vlan_priority():
    frame = eth(ipv4(tcp(1, 2), 6), 0x0800, tags=((0x9100, (5 << 13) | 100), (0x8100, 200)))
    a = attrs_of(frame)
    assert (a["vlan"], a["priority"], a["vlan.1"], a["priority.1"]) == (100, 5, 200, 0)
    assert a["ethernetprotocol"] == 2048 and a["ip_offset"] == 22
    assert a["stack"] == "eth.ip.tcp" and a["tcpflags"] == "000000010"


def test_arp():
    body = (
        P(">HHBBH", 1, 0x0800, 6, 4, 2)
        + bytes.fromhex("aabbccddeeff")
        + ip4("10.1.1.1")
        + bytes.fromhex("112233445566")
        + ip4("10.1.1.2")
    )
    a = attrs_of(eth(body, 0x0806, dst="ffffffffffff"))
    assert (
        a["arpoperation"] == 2 and a["arpipsender"] == "10.1.1.1" and a["arpiptarget"] == "10.1.1.2"
    )
    assert a["arpmacsender"] == "AABBCCDDEEFF" and a["isbroadcast"] == "true"
    assert a["stack"] == "eth.arp"


def test_ipv4_fields_and_fragment_stops_l4():
    a = attrs_of(eth(ipv4(udp(5353, 53), 17, tos=0xB9, ttl=7, ident=0x1234, frag=0x4000), 0x0800))
    assert (a["iptos"], a["ipdscp"], a["ipdscpname"], a["ipecn"]) == (
        "10111001",
        46,
        "ef(46)",
        "01",
    )
    assert (a["ipttl"], a["ipid"], a["ipflags"], a["ipbytes"]) == (7, 0x1234, "010", 28)
    a = attrs_of(eth(ipv4(udp(1, 2), 17, frag=0x2000 | 100), 0x0800))
    assert a["ipfragoffset"] == 100 and a["ipflags"] == "001"
    assert "udpsourceport" not in a and a["stack"] == "eth.ip"


def test_ipv6_extension_headers():
    hop = P(">BB6x", 60, 0)  # hop-by-hop -> destination options
    dst = P(">BB6x", 44, 0)  # destination options -> fragment
    frag = P(">BBHI", 6, 0, 0x0001, 77)  # first fragment, more fragments
    a = attrs_of(
        eth(ipv6(hop + dst + frag + tcp(443, 5555, 0x12), 0, tc=0x2E << 2, flow=0xABCDE), 0x86DD)
    )
    assert a["ip6extensions"] == "0.60.44" and a["ip6fragm"] == "yes" and a["ip6fragoffset"] == 0
    assert a["ip6nexthdr"] == 6 and a["tcpsourceport"] == 443 and a["tcpflags"] == "000010010"
    assert (
        a["ip6dscpname"] == "ef(46)" and a["ip6tos"] == "10111000" and a["ip6flowlabel"] == 0xABCDE
    )
    later = P(">BBHI", 6, 0, (10 << 3), 77)
    a = attrs_of(eth(ipv6(later + b"\0" * 20, 44), 0x86DD))
    assert a["ip6fragoffset"] == 10 and "tcpsourceport" not in a


def test_icmp_unreachable_port_and_echo():
    quoted = ipv4(udp(40000, 33434), 17, src="10.0.0.2", dst="198.51.100.7")
    icmp = P(">BBHI", 3, 3, 0, 0) + quoted
    a = attrs_of(eth(ipv4(icmp, 1), 0x0800))
    assert (a["icmptype"], a["icmpcode"], a["icmpunreachableport"]) == (3, 3, 33434)
    icmp = P(">BBHI", 3, 1, 0, 0) + quoted
    assert attrs_of(eth(ipv4(icmp, 1), 0x0800))["icmpunreachablehost"] == "198.51.100.7"
    echo = P(">BBHHH", 8, 0, 0, 99, 17) + b"x" * 8
    assert attrs_of(eth(ipv4(echo, 1), 0x0800))["icmpseqno"] == 17


def test_gre_transparent_ethernet_bridging_with_nvgre_key():
    inner = eth(
        ipv4(tcp(80, 1234), 6, src="172.16.0.1", dst="172.16.0.2"), 0x0800, dst="0000000000aa"
    )
    gre = P(">HHI", 0x2000, 0x6558, (5000 << 8) | 1) + inner
    a = attrs_of(eth(ipv4(gre, 47), 0x0800))
    assert a["greprotocol"] == 0x6558 and a["grevsid"] == 5000
    assert a["ipsource.1"] == "172.16.0.1" and a["tcpsourceport.1"] == 80
    assert a["macdestination.1"] == "0000000000AA"
    assert a["stack"] == "eth.ip.gre.eth.ip.tcp"


def test_gre_ipv6_payload_and_ip_in_ip():
    a = attrs_of(eth(ipv4(P(">HH", 0, 0x86DD) + ipv6(udp(1, 2), 17), 47), 0x0800))
    assert a["ip6source.1"] == "2001:db8::1" and a["udpdestinationport.1"] == 2
    a = attrs_of(ipv4(ipv4(tcp(1, 22), 6, src="192.0.2.9"), 4), 11)
    assert a["ipsource.1"] == "192.0.2.9" and a["tcpdestinationport.1"] == 22
    assert a["stack"] == "ip.ip.tcp"


def test_mpls_label_stack():
    labels = P(">II", (100 << 12) | 64, (200 << 12) | 0x100 | 64)
    a = attrs_of(eth(labels + ipv4(udp(1000, 2000), 17, src="10.9.9.9"), 0x8847))
    assert a["mplslabels"] == "100.200" and a["ipsource.1"] == "10.9.9.9"
    assert a["stack"] == "eth.mpls.ip.udp" and "ipsource" not in a


def test_geneve():
    inner = eth(ipv6(P(">BBH4x", 128, 0, 0), 58), 0x86DD)
    gen = P(">BBHI", 1, 0, 0x6558, 777 << 8) + P(">I", 0)  # one 4-byte option
    a = attrs_of(eth(ipv4(udp(1, 6081, gen + inner), 17), 0x0800))
    assert a["genevevni"] == 777 and a["icmp6type.1"] == 128
    assert a["stack"] == "eth.ip.udp.geneve.eth.ip6.icmp6"


def test_dns_query_and_response():
    q = P(">HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\x03www\x07example\x03com\x00" + P(">HH", 28, 1)
    a = attrs_of(eth(ipv4(udp(5353, 53, q), 17), 0x0800))
    assert (a["dnsqname"], a["dnsqtype"], a["dnsqtypename"], a["dnsqr"]) == (
        "www.example.com",
        28,
        "AAAA",
        "false",
    )
    r = P(">HHHHHH", 1, 0x8183, 1, 0, 0, 0) + b"\x02xx\x00" + P(">HH", 1, 1)
    a = attrs_of(eth(ipv4(udp(53, 5353, r), 17), 0x0800))
    assert (a["dnsqr"], a["dnsrcode"], a["dnsqname"], a["dnsqtypename"]) == ("true", 3, "xx", "A")


def test_llc_snap_and_truncation():
    snap = bytes.fromhex("aaaa03000000") + P(">H", 0x0800) + ipv4(tcp(1, 2), 6)
    frame = eth(b"", len(snap))[:-2] + P(">H", len(snap)) + snap
    a = attrs_of(frame)
    assert a["ethernetprotocol"] == 0x0800 and a["tcpsourceport"] == 1
    full = eth(ipv4(tcp(1, 2), 6), 0x0800)
    for n in range(len(full)):
        attrs_of(full[:n])  # never raises on a truncated header


# ------------------------------------------------------------------ Akvorado expectations


def _flows(name):
    return [
        s for p in read_pcap(DATA / "akvorado" / name) for s in decode_datagram(p.payload).samples
    ]


def test_akvorado_vxlan_inner_layers():
    (s,) = _flows("data-encap-vxlan.pcap")
    a = s.attributes()
    assert a["ipsource"] == "192.168.108.40" and a["ipdestination"] == "192.168.15.14"
    assert a["udpdestinationport"] == 4789 and a["vxlanvni"] == 100
    assert a["ip6source.1"] == "2001:db8:4::1" and a["ip6destination.1"] == "2001:db8:4::3"
    assert a["icmp6type.1"] == 128 and a["icmp6code.1"] == 0
    assert a["macsource.1"] == "CA6E98F8498F" and a["ethernetprotocol.1"] == 0x86DD
    assert a["stack"] == "eth.ip.udp.vxlan.eth.ip6.icmp6"
    assert a["bytes"] == 172 and a["frames"] == 1
    # root_test.go "encap VXLAN": inner 104 bytes, TTL 64, flow label 0x0a461c
    assert a["ip6bytes.1"] + 40 == 104 and a["ip6ttl.1"] == 64 and a["ip6flowlabel.1"] == 0x0A461C


def test_akvorado_qinq():
    (s,) = _flows("data-qinq.pcap")
    a = s.attributes()
    assert (a["vlan"], a["vlan.1"]) == (1062, 1493)
    assert (a["ipsource"], a["ipdestination"]) == ("49.49.49.2", "49.49.49.109")
    assert (a["tcpsourceport"], a["tcpdestinationport"]) == (32017, 443)
    assert a["samplingrate"] == 4096
    assert (a["ipttl"], a["ipid"], a["ipbytes"], int(a["tcpflags"], 2)) == (62, 56159, 80, 16)
    assert (a["inputifindex"], a["outputifindex"]) == (369098852, 369098851)


def test_akvorado_icmpv6_icmpv4_and_ports():
    (s,) = _flows("data-icmpv6.pcap")
    a = s.attributes()
    assert a["ip6source"] == "fe80::d05b:45ff:feee:5ecf" and a["ip6destination"] == "2001:db8::"
    assert a["ip6nexthdr"] == 58 and a["icmp6type"] == 135 and a["icmp6code"] == 0
    assert a["ip6ttl"] == 255 and a["ip6bytes"] + 40 == 72
    assert (a["macsource"], a["macdestination"]) == ("D25B45EE5ECF", "E2EFC68F8CD4")
    (s,) = _flows("data-icmpv4.pcap")
    a = s.attributes()
    assert (a["ipsource"], a["ipdestination"], a["icmptype"], a["icmpcode"]) == (
        "203.0.113.4",
        "203.0.113.5",
        8,
        0,
    )
    assert (a["ipbytes"], a["ipttl"], a["ipid"]) == (84, 64, 0x90C5)
    raw = [x.attributes() for x in _flows("data-sflow-raw-ipv4.pcap")]
    assert [
        (x["ipsource"], x["ipdestination"], x["ipid"], x["ipbytes"], x["iptos"]) for x in raw
    ] == [
        ("69.58.92.107", "92.222.186.1", 4329, 32, "00001000"),
        ("69.58.92.107", "92.222.184.1", 62945, 32, "00001000"),
    ]
    assert raw[0]["stack"] == "ip.icmp" and raw[0]["outputifindex"] == 2
    (s,) = _flows("data-local-interface.pcap")
    assert s.attributes()["outputifindex"] == "internal"
    (s,) = _flows("data-discard-interface.pcap")
    assert s.attributes()["outputifindex"] == "discard"
    (s,) = _flows("data-multiple-interfaces.pcap")
    assert s.attributes()["outputifindex"] == "multiple"


def test_akvorado_1140_bgp():
    samples = _flows("data-1140.pcap")
    bgp = [s.attributes() for s in samples if "bgpdestinationaspath" in s.attributes()]
    assert bgp
    a = bgp[0]
    assert a["bgpdestinationaspath"] == "203698-6762-26615"
    assert a["bgpdestinationas"] == 26615 and a["bgpdestinationpeeras"] == 203698
    assert len(a["bgpcommunities"].split("-")) == 5


# ------------------------------------------------------------------ records the captures lack


def test_discard_sample_with_egress_queue_and_reason():
    frame = eth(ipv4(tcp(1, 2), 6), 0x0800)
    d = decode_datagram(
        datagram(
            [
                discard_sample(
                    [
                        header_rec(frame),
                        rec(0, 1036, P(">I", 4)),
                        rec(0, 1038, s("ip_forward")),
                        rec(0, 1041, s("l3_drops") + s("blackhole_route")),
                        rec(0, 1042, s("NOT_SPECIFIED")),
                    ],
                    reason=258,
                )
            ]
        )
    )
    (smp,) = d.samples
    assert smp.kind == "discard" and smp.reason == 258
    a = smp.attributes()
    assert a["reason"] == "acl" and a["queueindex"] == 4 and a["ipsource"] == "10.0.0.1"
    assert a["function"] == "ip_forward" and a["hwtrapname"] == "blackhole_route"
    recs = smp.records()
    assert recs[1] == {
        "flowBlock_tag": "0:1036",
        "extendedType": "egress_queue",
        "egress_queue_id": 4,
    }
    assert recs[2]["symbol"] == "ip_forward"
    assert (
        recs[3]["hw_trap_group"] == "l3_drops" and recs[4]["linux_drop_reason"] == "NOT_SPECIFIED"
    )


def test_http_request_with_sockets():
    http = (
        P(">II", 2, 1001)
        + s("/index.html?x=1")
        + s("example.com")
        + s("http://ref/")
        + s("curl/8")
        + s("203.0.113.9")
        + s("")
        + s("text/html")
        + P(">QQII", 120, 5000, 1500, 200)
    )
    sock = P(">I", 6) + ip4("10.0.0.80") + ip4("198.51.100.3") + P(">II", 80, 51000)
    psock = P(">I", 6) + ip6("2001:db8::80") + ip6("2001:db8::3") + P(">II", 8080, 40000)
    smp = one_flow(rec(0, 2206, http), rec(0, 2100, sock), rec(0, 2103, psock))
    a = smp.attributes()
    assert a["httpmethod"] == "GET" and a["httpprotocol"] == "HTTP/1.1"
    assert a["httpurl"] == "/index.html?x=1" and a["httphost"] == "example.com"
    assert a["httpreferer"] == "http://ref/" and a["httpuseragent"] == "curl/8"
    assert (
        a["httpxff"] == "203.0.113.9"
        and "httpauthuser" not in a
        and a["httpmimetype"] == "text/html"
    )
    assert (
        a["req_bytes"],
        a["resp_bytes"],
        a["bytes"],
        a["duration"],
        a["httpstatus"],
        a["requests"],
    ) == (120, 5000, 5120, 1500, 200, 1)
    assert (
        a["serveraddress"],
        a["serverport"],
        a["clientaddress"],
        a["clientport"],
        a["protocol"],
    ) == ("10.0.0.80", 80, "198.51.100.3", 51000, 6)
    assert a["proxyserveraddress6"] == "2001:db8::80" and a["proxyclientport"] == 40000
    r = smp.records()
    assert (
        r[0]["http_uri"] == "/index.html?x=1"
        and r[0]["http_request_bytes"] == 120
        and r[0]["http_status"] == 200
    )
    assert r[1]["socket4_local_ip"] == "10.0.0.80" and r[1]["socket4_remote_port"] == 51000
    assert r[2]["proxy_socket6_remote_ip"] == "2001:db8::3"


def test_http_old_format_memcache_app_tcp_info():
    old = (
        P(">II", 4, 1000)
        + s("/x")
        + s("h")
        + s("")
        + s("")
        + s("")
        + s("")
        + P(">QII", 77, 10, 404)
    )
    smp = one_flow(rec(0, 2201, old))
    a = smp.attributes()
    assert (
        a["httpmethod"] == "POST"
        and a["resp_bytes"] == 77
        and a["req_bytes"] == 0
        and a["httpstatus"] == 404
    )
    assert smp.records()[0]["http_bytes"] == 77 and "http_request_bytes" not in smp.records()[0]

    mc = P(">II", 1, 7) + s("user:42") + P(">IIII", 1, 300, 55, 1)
    r = one_flow(rec(0, 2200, mc)).records()[0]
    assert (
        r["memcache_op_key"] == "user:42"
        and r["memcache_op_value_bytes"] == 300
        and r["memcache_op_duration_uS"] == 55
    )

    app = s("payments") + s("charge") + s("card=visa") + s("ok") + P(">QQII", 10, 20, 900, 0)
    smp = one_flow(rec(0, 2202, app), rec(0, 2204, s("alice")), rec(0, 2205, s("bank")))
    a = smp.attributes()
    assert (a["application"], a["operation"], a["appstatus"], a["duration"], a["bytes"]) == (
        "payments",
        "charge",
        "SUCCESS",
        900,
        30,
    )
    assert a["actorinitiator"] == "alice" and a["actortarget"] == "bank"
    assert smp.records()[0]["status"] == "SUCCESS" and smp.records()[0]["attributes"] == "card=visa"

    ti = P(">12I", 2, 1448, 536, 3, 1, 2, 1500, 25000, 4000, 10, 3, 20000)
    smp = one_flow(rec(0, 2209, ti))
    a = smp.attributes()
    assert (
        a["tcprtt"],
        a["tcprttsdev"],
        a["tcpunacked"],
        a["tcplost"],
        a["tcpretrans"],
        a["tcpcwndsnd"],
        a["tcpmss"],
    ) == (25000, 4000, 3, 1, 2, 10, 1448)
    r = smp.records()[0]
    assert r["tcpinfo_direction"] == "sent" and r["tcpinfo_rtt_uS_min"] == 20000


def test_extended_records_user_url_mpls_nat_vni_tunnels():
    smp = one_flow(
        rec(0, 1004, P(">I", 106) + s("alice") + P(">I", 106) + s("bob")),
        rec(0, 1005, P(">I", 1) + s("http://x/") + s("x")),
        rec(0, 1006, addr("10.0.0.254") + P(">II", 1, (16 << 12) | 0x100 | 64) + P(">I", 0)),
        rec(0, 1007, addr("192.0.2.1") + addr("198.51.100.1")),
        rec(0, 1020, P(">II", 1024, 80)),
        rec(0, 1012, P(">II", 1, (0x8100 << 16) | (3 << 13) | 10)),
        rec(0, 1030, P(">I", 5001)),
        rec(0, 1039, P(">I", 1234)),
        rec(0, 1040, P(">I", 4096)),
        rec(
            0, 1023, P(">II", 100, 17) + ip4("10.1.0.1") + ip4("10.1.0.2") + P(">4I", 1, 4789, 0, 0)
        ),
        rec(0, 1021, P(">I", 64) + mac("020000000001") + mac("020000000002") + P(">I", 0x0800)),
        rec(0, 1027, P(">I", 50)),
    )
    a = smp.attributes()
    assert a["usersource"] == "alice" and a["userdestination"] == "bob" and a["url"] == "http://x/"
    assert a["natipsource"] == "192.0.2.1" and a["natdestinationport"] == 80 and a["vni"] == 5001
    assert (
        a["transitdelay"] == 1234 and a["queuedepth"] == 4096 and a["mplsnexthop"] == "10.0.0.254"
    )
    r = {x["flowBlock_tag"]: x for x in smp.records()}
    assert r["0:1004"]["src_user"] == "alice" and r["0:1004"]["dst_user_charset"] == 106
    assert r["0:1006"]["mpls_input_stack"] == "16.0.1.64" and "mpls_output_stack" not in r["0:1006"]
    assert r["0:1012"]["vlan_tunnel"] == "0x81003.0.10"
    assert r["0:1030"] == {"flowBlock_tag": "0:1030", "extendedType": "in_VNI", "in_VNI": 5001}
    assert (
        r["0:1023"]["tunnel_ipv4_out_UDPDstPort"] == 4789
        and r["0:1023"]["flowSampleType"] == "tunnel_ipv4_out_IPV4"
    )
    assert r["0:1021"]["tunnel_l2_out_ethernet_src"] == "020000000001"
    assert r["0:1027"]["out_decap_inner_header_offset"] == 50


def test_gateway_as_sets_and_limits():
    body = (
        addr("10.0.0.1")
        + P(">III", 65000, 65001, 65002)
        + P(">I", 2)
        + P(">II", 2, 2)
        + P(">II", 1, 2)
        + P(">II", 1, 2)
        + P(">II", 3, 4)
        + P(">I", 1)
        + P(">I", (65000 << 16) | 100)
        + P(">I", 200)
    )
    smp = one_flow(rec(0, 1003, body))
    r = smp.records()[0]
    assert r["dst_as_path"] == "1-2(3-4)" and r["dst_peer_as"] == 1 and r["dst_as"] == 4
    a = smp.attributes()
    assert (
        a["bgpdestinationaspath"] == "1-2-3-4"
        and a["bgpcommunities"] == "65000:100"
        and a["bgplocalpref"] == 200
    )
    huge = (
        addr("10.0.0.1")
        + P(">III", 1, 2, 3)
        + P(">I", 1)
        + P(">II", 2, 1001)
        + P(">I", 7) * 1001
        + P(">II", 0, 0)
    )
    smp = one_flow(rec(0, 1003, huge))
    with pytest.raises(DecodeError, match="large"):
        smp.records()
    with pytest.raises(DecodeError, match="large"):
        smp.attributes()


def test_unknown_records_and_samples_are_skipped_and_counted():
    before = UNKNOWN_RECORDS[("flow", "9:99")]
    smp = one_flow(rec(9, 99, b"abc"), rec(0, 1001, P(">4I", 10, 1, 20, 2)))
    assert [r["flowBlock_tag"] for r in smp.records()] == ["0:1001"]
    assert smp.attributes()["vlansource"] == 10
    assert UNKNOWN_RECORDS[("flow", "9:99")] == before + 1
    odd = P(">II", (77 << 12) | 5, 8) + b"12345678"
    d = decode_datagram(datagram([odd, flow_sample([rec(0, 1001, P(">4I", 1, 0, 2, 0))])]))
    assert [x.kind for x in d.samples] == ["flow"]


def test_record_length_errors():
    short = rec(0, 1001, P(">3I", 1, 2, 3))  # 12 bytes where 16 are needed
    with pytest.raises(DecodeError):
        one_flow(short).records()
    with pytest.raises(DecodeError):
        one_flow(short).attributes()
    bad = P(">II", 1001, 400) + P(">4I", 1, 2, 3, 4)  # declared past the sample end
    with pytest.raises(DecodeError):
        one_flow(bad).records()


def test_counter_records_jvm_nvml_cpu_variants():
    jvm = s("OpenJDK 64-Bit") + s("Eclipse") + s("21.0.1")
    jmx = P(">8Q", *range(1, 9)) + P(">9I", *range(10, 19)) + P(">II", 100, 1024)
    nvml = P(">4I", 2, 5, 100, 200) + P(">QQ", 16 << 30, 8 << 30) + P(">4I", 0, 5000, 60, 40)
    cpu_old = P(">3f", 0.5, 0.25, 0.125) + P(">14I", *range(14))
    vlan = P(">IQ4I", 10, 123456, 1, 2, 3, 4)
    d = decode_datagram(
        datagram(
            [
                counter_sample(
                    [
                        rec(0, 2105, jvm),
                        rec(0, 2106, jmx),
                        rec(5703, 1, nvml),
                        rec(0, 2003, cpu_old),
                        rec(0, 5, vlan),
                        rec(0, 1001, P(">3I", 1234, 0xFFFFFFFF, 50) + P(">QQ", 100, 50)),
                    ]
                )
            ]
        )
    )
    (c,) = d.samples
    r = {x["counterBlock_tag"]: x for x in c.records()}
    assert r["0:2105"] == {
        "counterBlock_tag": "0:2105",
        "jvm_name": "OpenJDK 64-Bit",
        "jvm_vendor": "Eclipse",
        "jvm_version": "21.0.1",
    }
    assert (
        r["0:2106"]["heap_mem_initial"] == 1
        and r["0:2106"]["threads_started"] == 18
        and r["0:2106"]["fds_max"] == 1024
    )
    assert (
        r["5703:1"]["nvml_mem_bytes_total"] == 16 << 30 and r["5703:1"]["nvml_fan_speed_pc"] == 40
    )
    assert r["0:2003"]["cpu_load_five"] == 0.25 and "cpu_steal" not in r["0:2003"]
    assert r["0:5"]["octets"] == 123456 and r["0:5"]["discards"] == 4
    assert r["0:1001"]["5s_cpu"] == 12.34 and r["0:1001"]["1m_cpu"] == "unknown"


def test_rtmetric_and_rtflow_samples():
    metrics = (
        s("app1")
        + P(">I", 4)
        + s("name")
        + P(">I", 0)
        + s("web")
        + s("hits")
        + P(">II", 1, 42)
        + s("bytes")
        + P(">IQ", 4, 1 << 40)
        + s("load")
        + P(">Id", 6, 0.75)
    )
    flow = (
        s("app1")
        + P(">III", 10, 100, 4)
        + s("ipsource")
        + P(">I", 2)
        + ip4("10.0.0.1")
        + s("macsource")
        + P(">I", 1)
        + mac("0a0b0c0d0e0f")
        + s("bytes")
        + P(">II", 4, 1500)
        + s("ip6source")
        + P(">I", 3)
        + ip6("2001:db8::5")
    )
    samples = [
        P(">II", (4300 << 12) | 1002, len(metrics)) + metrics,
        P(">II", (4300 << 12) | 1003, len(flow)) + flow,
    ]
    m, f = decode_datagram(datagram(samples)).samples
    assert m.kind == "rtmetric" and m.datasource == "app1"
    assert m.values() == {"name": "web", "hits": 42, "bytes": 1 << 40, "load": 0.75}
    assert m.records()[0]["rtmetric_counter32_hits"] == 42
    assert f.kind == "rtflow" and f.sampling_rate == 10 and f.sample_pool == 100
    assert f.attributes() == {
        "ipsource": "10.0.0.1",
        "macsource": "0A0B0C0D0E0F",
        "bytes": 1500,
        "ip6source": "2001:db8::5",
    }
    assert f.records()[0]["rtflow_ip_ipsource"] == "10.0.0.1"
    bad = s("x") + P(">I", 1) + s("m") + P(">I", 9)
    with pytest.raises(DecodeError, match="unknown type"):
        decode_datagram(datagram([P(">II", (4300 << 12) | 1002, len(bad)) + bad]))


# ------------------------------------------------------------------ sFlow v2 / v4


def _v2v4(version, samples):
    return (
        P(">II", version, 1)
        + ip4("198.51.100.1")
        + P(">III", 5, 6000, len(samples))
        + b"".join(samples)
    )


def test_v4_flow_and_counter_samples():
    frame = eth(ipv4(udp(1111, 53), 17), 0x0800)
    flow = (
        P(">I", 1)
        + P(">7I", 3, 7, 512, 9999, 1, 4, 0x80000002)
        + P(">I", 1)
        + P(">III", 1, len(frame), len(frame))
        + pad(frame)
        + P(">I", 4)
        + P(">I", 1)
        + P(">4I", 10, 0, 20, 0)
        + P(">I", 3)
        + P(">III", 100, 200, 300)
        + P(">I", 1)
        + P(">II", 2, 2)
        + P(">II", 300, 400)
        + P(">I", 1)
        + P(">I", 9)
        + P(">I", 50)
        + P(">I", 4)
        + s("u1")
        + s("u2")
        + P(">I", 5)
        + P(">I", 2)
        + s("http://v4/")
    )
    generic = (
        P(">IIQII", 4, 6, 10**9, 1, 3)
        + P(">Q", 5000)
        + P(">6I", *range(6))
        + P(">Q", 7000)
        + P(">6I", *range(6))
    )
    ether = P(">13I", *range(13))
    cnt = P(">I", 2) + P(">4I", 4, 4, 30, 2) + generic + ether
    d = decode_datagram(_v2v4(4, [flow, cnt]))
    assert d.version == 4 and d.agent == "198.51.100.1" and d.seq == 5 and d.uptime == 6000
    f, c = d.samples
    assert f.kind == "flow" and f.sampling_rate == 512 and f.output_format == 2 and f.output == 2
    a = f.attributes()
    assert (
        a["udpdestinationport"] == 53 and a["vlansource"] == 10 and a["outputifindex"] == "multiple"
    )
    assert (
        a["bgpdestinationaspath"] == "300-400"
        and a["bgplocalpref"] == 50
        and a["usersource"] == "u1"
    )
    assert a["url"] == "http://v4/" and a["bytes"] == len(frame)
    r = f.records()
    assert [x["flowBlock_tag"] for x in r] == ["0:1", "0:1001", "0:1003", "0:1004", "0:1005"]
    assert "strippedBytes" not in r[0] and r[0]["UDPDstPort"] == 53
    assert r[2]["dst_as_path"] == "300-400" and "bgp_nexthop" not in r[2]
    assert r[3] == {
        "flowBlock_tag": "0:1004",
        "extendedType": "USER",
        "src_user": "u1",
        "dst_user": "u2",
    }
    assert "host" not in r[4]
    rc = c.records()
    assert [x["counterBlock_tag"] for x in rc] == ["0:1", "0:2"]
    assert (
        rc[0]["ifSpeed"] == 10**9
        and rc[0]["ifOutOctets"] == 7000
        and rc[1]["dot3StatsSymbolErrors"] == 12
    )


def test_v2_gateway_and_bad_v2v4():
    flow = (
        P(">I", 1)
        + P(">7I", 1, 1, 1, 1, 0, 1, 2)
        + P(">I", 2)
        + P(">II", 40, 6)
        + ip4("10.0.0.1")
        + ip4("10.0.0.2")
        + P(">4I", 1, 2, 0x12, 0)
        + P(">I", 1)
        + P(">I", 3)
        + P(">IIII", 1, 2, 3, 2)
        + P(">II", 7, 8)
    )
    (f,) = decode_datagram(_v2v4(2, [flow])).samples
    a = f.attributes()
    assert (
        a["ipsource"] == "10.0.0.1" and a["tcpflags"] == "000010010" and a["bgpdestinationas"] == 8
    )
    assert f.records()[1]["dst_as_path"] == "7-8" and f.records()[1]["dst_as_path_len"] == 2
    with pytest.raises(DecodeError):
        decode_datagram(_v2v4(4, [P(">I", 9)]))
    with pytest.raises(DecodeError):
        decode_datagram(_v2v4(4, [flow[:30]]))


# ------------------------------------------------------------------ fast path == general path


def _both(frame, proto=1):
    from engine.sflow.header import decode_general, decode_header_bytes

    fast: dict = {}
    slow: dict = {}
    decode_header_bytes(frame, proto, fast)
    decode_general(frame, proto, slow)
    return fast, slow


def test_fast_path_matches_general_decoder():
    frames = [
        eth(ipv4(tcp(443, 51000, 0x18), 6, tos=0x2E << 2, frag=0x4000), 0x0800),
        eth(ipv4(tcp(443, 51000, 0x18), 6), 0x0800, tags=((0x8100, (3 << 13) | 42),)),
        eth(ipv4(udp(5000, 6000, b"x" * 20), 17), 0x0800, dst="ffffffffffff"),
        eth(ipv4(udp(5000, 53, b"\0" * 20), 17), 0x0800),
        eth(ipv6(tcp(22, 40000, 0x10) + b"p" * 10, 6, tc=0xB8, flow=12345), 0x86DD),
        eth(ipv6(udp(1, 2, b"z" * 16), 17), 0x86DD, tags=((0x8100, 7),)),
        eth(ipv4(tcp(1, 2), 6, frag=0x0010), 0x0800),
    ]
    frames += [
        bytes.fromhex(r["headerBytes"].replace("-", ""))
        for f in (
            "akvorado/data-1140.pcap",
            "akvorado/data-encap-vxlan.pcap",
            "overflowd/sflow.pcap",
            "loghub/sflow.pcap",
        )
        for p in list(read_pcap(DATA / f))[:30]
        for s in decode_datagram(p.payload).samples
        if s.kind == "flow"
        for r in s.records()
        if r["flowBlock_tag"] == "0:1" and r["headerProtocol"] == 1
    ]
    assert len(frames) > 50
    for frame in frames:
        for n in (len(frame), 48, 60, 68):
            fast, slow = _both(frame[:n])
            assert fast == slow, frame[:n].hex()


def test_caches_are_bounded_and_results_independent(monkeypatch):
    from engine.sflow import header

    monkeypatch.setattr(header, "PAIR_CACHE_MAX", 8)
    monkeypatch.setattr(header, "CACHE_MAX", 8)
    for i in range(50):
        attrs_of(eth(ipv4(tcp(1, 2), 6, src=f"10.0.{i}.1"), 0x0800, src=f"0200000000{i:02x}"))
    assert len(header._IPC[0]) <= 8 and len(header._ETHC[0]) <= 8 and len(header._A4) <= 8
    # a consumer adding keys to one sample's dict must not leak into the next (shared caches)
    gw = rec(0, 1003, addr("10.0.0.1") + P(">IIII", 1, 2, 3, 0) + P(">II", 0, 0))
    frame = eth(ipv4(tcp(1, 2), 6), 0x0800)
    first = one_flow(header_rec(frame), gw).attributes()
    first["country"] = "XX"
    first["bgpas"] = 999
    second = one_flow(header_rec(frame), gw).attributes()
    assert "country" not in second and second["bgpas"] == 1


def test_80211_header_protocol_15():
    # data frame, FromDS: addr1 = destination, addr2 = BSSID (transmitter), addr3 = source
    fc = bytes([0x08, 0x02])
    frame = (
        fc + b"\0\0" + bytes.fromhex("aaaaaaaaaaaabbbbbbbbbbbbcccccccccccc") + b"\0\0" + b"\xaa" * 8
    )
    smp = one_flow(header_rec(frame, proto=15, stripped=0))
    r = smp.records()[0]
    assert (r["srcMAC"], r["dstMAC"], r["txMAC"], r["rxMAC"]) == (
        "cccccccccccc",
        "aaaaaaaaaaaa",
        "bbbbbbbbbbbb",
        "aaaaaaaaaaaa",
    )
    a = smp.attributes()
    assert a["macsource"] == "CCCCCCCCCCCC" and a["macdestination"] == "AAAAAAAAAAAA"
    assert attrs_of(b"\x08\x03" + b"\0" * 24, 15) == {}  # 4-address frame, truncated
