"""The C accelerator (engine/sflow/_accel.c) gives exactly the Python attributes() dicts, key
order included: on every flow sample of the real captures, on generator traffic, and on
hypothesis-built samples around the cases it decodes itself (Ethernet, one VLAN tag, IPv4
with options/fragments, IPv6, TCP/UDP/ICMP/ICMPv6, DNS, extended_switch) and the ones it must
hand to Python (QinQ, tunnels, ARP, MPLS, IPv6 extension headers, 802.11, discard samples,
other records, malformed lengths).
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accel_support import Tally, require_accel
from engine.sflow.gen import Scenario, TrafficGenerator
from engine.sflow.pcap import read_pcap
from paths import SFLOW_DATA as DATA


def test_every_capture_sample_matches():
    require_accel()
    t = Tally()
    for f in sorted(DATA.glob("*/*.pcap")):
        for p in read_pcap(f):
            t.datagram(p.payload)
    print(f"\ncapture flow samples: {t.samples}, decoded natively {t.native}")
    assert t.samples > 7000
    # the captures are plain Ethernet/IP traffic apart from one VXLAN and one QinQ sample
    assert t.native >= t.samples - 5


SCENARIOS = [
    dict(agents=2, flows=300, seed=11),
    dict(agents=2, flows=200, ipv6_fraction=0.5, tagged=True, vlans=(1, 20, 4094), seed=12),
    dict(agents=1, flows=200, vxlan_fraction=0.3, expanded=True, seed=13),
    dict(agents=1, flows=100, discards_per_second=200.0, hosts=True, containers=2, seed=14),
    dict(
        agents=1,
        flows=100,
        header_len=40,
        protocols=(("tcp", 0.4), ("udp", 0.4), ("icmp", 0.2)),
        ipv6_fraction=0.3,
        seed=15,
    ),
]


def test_generator_traffic_matches():
    require_accel()
    t = Tally()
    for sc in SCENARIOS:
        gen = TrafficGenerator(Scenario(samples_per_second=1000, **sc))
        for dg in gen.step(1.0):
            assert t.datagram(dg)
    print(f"\ngenerator flow/discard samples: {t.samples}, decoded natively {t.native}")
    assert t.samples > 4000
    assert t.native > t.samples // 2


# ------------------------------------------------------------------ hypothesis-built samples

TPIDS = (0x8100, 0x88A8, 0x9100, 0x9200, 0x9300)
MACS = (
    b"\x02\x00\x00\x00\x00\x01",
    b"\xff" * 6,
    b"\x01\x00\x5e\x00\x00\x01",
    b"\x33\x33\x00\x00\x00\x01",
    b"\x00\x1b\x21\xaa\xbb\xcc",
)
ADDR4 = (b"\x0a\x01\x02\x03", b"\xc0\xa8\x00\x01", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff")
ADDR6 = (
    bytes(15) + b"\x01",
    bytes(16),
    bytes.fromhex("20010db8000000000000000000000001"),
    bytes(10) + b"\xff\xff\x0a\x00\x00\x01",
    bytes.fromhex("fe800000000000000000000000000001"),
    bytes.fromhex("20010db8000100000000000100000000"),
)
PORTS = (53, 4789, 6081, 6635, 80, 443, 0, 65535)

u8 = st.integers(0, 255)
u16 = st.integers(0, 0xFFFF)
port = st.one_of(st.sampled_from(PORTS), u16)


@st.composite
def dns_payload(draw):
    flags = (
        draw(st.sampled_from((0x0100, 0x8180, 0x8183, 0x2800, 0)))
        if draw(st.booleans())
        else draw(u16)
    )
    labels = draw(st.lists(st.binary(min_size=0, max_size=70), max_size=6))
    name = b"".join(bytes([len(x) if draw(st.integers(0, 9)) else draw(u8)]) + x for x in labels)
    name += b"\0" if draw(st.integers(0, 5)) else b""
    return (
        struct.pack(">HHHHHH", draw(u16), flags, draw(st.sampled_from((0, 1, 2))), 0, 0, 0)
        + name
        + struct.pack(">H", draw(st.sampled_from((1, 28, 255, 65, 999, 0))))
    )


@st.composite
def l4(draw, proto):
    if proto == 6:
        return struct.pack(">HHIIBBHHH", draw(port), draw(port), 1, 2, draw(u8), draw(u8), 1, 0, 0)
    if proto == 17:
        sport, dport = draw(port), draw(port)
        body = (
            draw(dns_payload())
            if 53 in (sport, dport) and draw(st.booleans())
            else draw(st.binary(max_size=16))
        )
        return struct.pack(">HHHH", sport, dport, draw(u16), 0) + body
    if proto == 1:
        t = draw(st.sampled_from((0, 8, 3, 11, 5)))
        quoted = b""
        if t == 3:
            ihl = draw(st.sampled_from((5, 6, 15)))
            quoted = (
                bytes([0x40 | ihl, 0])
                + bytes(7)
                + bytes([draw(st.sampled_from((6, 17, 1)))])
                + bytes(6)
                + draw(st.sampled_from(ADDR4))
                + bytes((ihl - 5) * 4)
                + struct.pack(">HH", draw(port), draw(port))[
                    : draw(st.sampled_from((4, 4, 3, 2, 0)))
                ]
            )
        return struct.pack(">BBHHH", t, draw(st.integers(0, 4)), 0, 1, draw(u16)) + quoted
    if proto == 58:
        return struct.pack(">BBHI", draw(u8), draw(u8), 0, 0) + draw(st.binary(max_size=8))
    if proto == 47:
        return struct.pack(
            ">HH",
            draw(st.sampled_from((0, 0x2000, 0xB000))),
            draw(st.sampled_from((0x0800, 0x6558, 0x86DD))),
        ) + draw(st.binary(max_size=40))
    return draw(st.binary(max_size=24))


@st.composite
def ipv4(draw):
    ihl = draw(st.sampled_from((5, 5, 5, 6, 15, 4)))
    proto = (
        draw(st.sampled_from((6, 6, 17, 17, 1, 58, 47, 4, 41, 50)))
        if draw(st.integers(0, 9))
        else draw(u8)
    )
    frag = draw(st.sampled_from((0, 0x4000, 0x2000, 0x2010, 0x0001, 0xE000)))
    vi = (4 << 4 | ihl) if draw(st.integers(0, 15)) else draw(u8)
    head = struct.pack(
        ">BBHHHBBH4s4s",
        vi,
        draw(u8),
        draw(u16),
        draw(u16),
        frag,
        draw(u8),
        proto,
        0,
        draw(st.sampled_from(ADDR4)),
        draw(st.sampled_from(ADDR4)),
    )
    return head + bytes(max(0, ihl - 5) * 4) + draw(l4(proto))


@st.composite
def ipv6(draw):
    nh = (
        draw(st.sampled_from((6, 6, 17, 17, 58, 1, 0, 43, 44, 60, 51, 4, 41)))
        if draw(st.integers(0, 9))
        else draw(u8)
    )
    first = (6 << 28) | (draw(u8) << 20) | draw(st.integers(0, 0xFFFFF))
    if not draw(st.integers(0, 15)):
        first = draw(st.integers(0, 0xFFFFFFFF))
    head = struct.pack(
        ">IHBB16s16s",
        first,
        draw(u16),
        nh,
        draw(u8),
        draw(st.sampled_from(ADDR6)),
        draw(st.sampled_from(ADDR6)),
    )
    if nh in (0, 43, 44, 60, 51):
        return (
            head
            + struct.pack(">BBHI", draw(st.sampled_from((6, 17, 44))), 0, draw(u16), 0)
            + draw(l4(6))
        )
    return head + draw(l4(nh))


@st.composite
def ethernet(draw):
    h = draw(st.sampled_from(MACS)) + draw(st.sampled_from(MACS))
    for _ in range(draw(st.sampled_from((0, 0, 0, 1, 1, 2)))):
        h += struct.pack(">HH", draw(st.sampled_from(TPIDS)), draw(u16))
    kind = draw(
        st.sampled_from(("ip4", "ip4", "ip6", "ip6", "arp", "mpls", "snap", "len", "other"))
    )
    if kind == "ip4":
        return h + b"\x08\x00" + draw(ipv4())
    if kind == "ip6":
        return h + b"\x86\xdd" + draw(ipv6())
    if kind == "arp":
        return h + b"\x08\x06" + bytes.fromhex("0001080006040001") + bytes(20)
    if kind == "mpls":
        return h + b"\x88\x47" + struct.pack(">I", 100 << 12 | 0x100) + draw(ipv4())
    if kind == "snap":
        return (
            h
            + struct.pack(">H", 100)
            + b"\xaa\xaa\x03\0\0\0"
            + draw(st.sampled_from((b"\x08\x00", b"\x86\xdd", b"\x81\x00")))
            + draw(ipv4())
        )
    if kind == "len":
        return h + struct.pack(">H", draw(st.integers(0, 1500))) + draw(st.binary(max_size=20))
    return h + struct.pack(">H", draw(u16)) + draw(st.binary(max_size=20))


@st.composite
def header_record(draw):
    proto = draw(st.sampled_from((1, 1, 1, 1, 11, 12, 15, 2)))
    h = draw(ipv4()) if proto == 11 else draw(ipv6()) if proto == 12 else draw(ethernet())
    if draw(st.integers(0, 3)) == 0:
        h = h[: draw(st.integers(0, len(h)))]  # truncated capture
    hlen = len(h)
    if not draw(st.integers(0, 19)):
        hlen = draw(st.sampled_from((hlen + 1, hlen + 4, 0xFFFFFFFF)))  # a lie
    body = struct.pack(">4I", proto, draw(st.integers(0, 9000)), draw(st.integers(0, 8)), hlen) + h
    return 1, body


@st.composite
def switch_record(draw):
    vl = st.one_of(st.just(0xFFFFFFFF), st.integers(0, 4095))
    return 1001, struct.pack(
        ">4I", draw(vl), draw(st.integers(0, 7)), draw(vl), draw(st.integers(0, 7))
    )


@st.composite
def other_record(draw):
    """Records the C code passes to the Python handlers (or skips) as the Python loop does."""
    tag = draw(st.sampled_from((1002, 1002, 1003, 1004, 1005, 1036, 2, 3, 4, 1043, 9999)))
    if tag == 1002:
        kind = draw(st.sampled_from((1, 1, 2, 2, 3, 0)))
        addr = draw(st.sampled_from(ADDR6)) if kind == 2 else draw(st.sampled_from(ADDR4))
        body = (
            struct.pack(">I", kind)
            + addr
            + struct.pack(">II", draw(st.integers(0, 32)), draw(st.integers(0, 128)))
        )
    elif tag == 1003:
        body = (
            struct.pack(">I4sIIII", 1, ADDR4[0], 65001, 65002, 65003, 1)
            + struct.pack(">II", 2, 2)
            + struct.pack(">II", 65010, 65020)
            + struct.pack(">II", 1, 0xFDE80064)
            + struct.pack(">I", 100)
        )
    elif tag == 3:
        body = struct.pack(">II4s4sIIII", 100, 6, ADDR4[0], ADDR4[1], 1, 2, 0x12, 0)
    else:
        body = draw(st.binary(max_size=40))
    if draw(st.integers(0, 5)) == 0:
        body = body[: draw(st.integers(0, len(body)))]  # short: the handler raises
    return tag, body


@st.composite
def flow_sample(draw):
    recs = draw(
        st.lists(
            st.one_of(header_record(), header_record(), switch_record(), other_record()),
            min_size=0,
            max_size=4,
        )
    )
    raw = b""
    for tag, body in recs:
        body += b"\0" * (-len(body) & 3)
        length = (
            len(body)
            if draw(st.integers(0, 19))
            else draw(st.sampled_from((len(body) + 4, 3, 0xFFFF)))
        )
        raw += struct.pack(">II", tag, length) + body
    nrec = len(recs) if draw(st.integers(0, 19)) else len(recs) + 1
    kind = draw(st.sampled_from(("compact", "compact", "expanded", "discard")))
    ifv = st.one_of(st.sampled_from((0, 1, 3, 0x3FFFFFFF, 0x3FFFFFFE)), st.integers(0, 0x3FFFFFFF))
    ds_index = draw(st.sampled_from((1, 3, 7)))
    inp, out = draw(ifv), draw(ifv)
    if draw(st.booleans()):
        inp = ds_index
    fin, fout = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    rate = draw(st.sampled_from((1, 1000, 0xFFFFFFFF)))
    if kind == "compact":
        head = struct.pack(
            ">8I",
            1,
            draw(st.sampled_from((0, 2))) << 24 | ds_index,
            rate,
            10,
            0,
            fin << 30 | inp,
            fout << 30 | out,
            nrec,
        )
        tag = 1
    elif kind == "expanded":
        big = st.sampled_from((inp, 0x40000000, 0xFFFFFFFF))
        head = struct.pack(
            ">11I",
            1,
            draw(st.sampled_from((0, 2))),
            ds_index,
            rate,
            10,
            0,
            fin,
            draw(big),
            fout,
            draw(big),
            nrec,
        )
        tag = 3
    else:
        head = struct.pack(
            ">8I", 1, 0, ds_index, 5, inp, out, draw(st.sampled_from((258, 1, 77))), nrec
        )
        tag = 5
    return struct.pack(">II", tag, len(head) + len(raw)) + head + raw


@st.composite
def datagrams(draw):
    samples = draw(st.lists(flow_sample(), min_size=1, max_size=3))
    return struct.pack(">II4sIIII", 5, 1, b"\x0a\0\0\x01", 0, 1, 2, len(samples)) + b"".join(
        samples
    )


HYPO = Tally()


@settings(max_examples=2500, deadline=None, suppress_health_check=list(HealthCheck))
@given(datagrams())
def test_hypothesis_samples_match(buf):
    require_accel()
    HYPO.datagram(buf)


def test_hypothesis_samples_exercised_both_paths():
    """Runs after the property test (file order): both the native and the fallback path ran."""
    require_accel()
    if HYPO.samples == 0:
        test_hypothesis_samples_match()
    print(f"\nhypothesis samples: {HYPO.samples}, native {HYPO.native}, DecodeError {HYPO.errors}")
    assert HYPO.native > HYPO.samples // 5
    assert HYPO.samples - HYPO.native > HYPO.samples // 10
    assert HYPO.errors > 0


# ------------------------------------------------------------------ every truncation of edge cases


def _edge_headers():
    """(protocol, header) pairs built around the C decoder's length checks."""
    p = struct.pack
    macs = MACS[0] + MACS[4]
    out = []

    def ip4(proto, payload, ihl=5, frag=0):
        return (
            p(
                ">BBHHHBBH4s4s",
                0x40 | ihl,
                0xB8,
                20 + len(payload),
                7,
                frag,
                64,
                proto,
                0,
                ADDR4[0],
                ADDR4[1],
            )
            + bytes((ihl - 5) * 4)
            + payload
        )

    def ip6(nh, payload):
        return p(">IHBB16s16s", 0x6B812345, len(payload), nh, 9, ADDR6[2], ADDR6[3]) + payload

    def dns(labels):
        name = b"".join(bytes([len(x)]) + x for x in labels) + b"\0"
        return p(">HHHHHH", 1, 0x0100, 1, 0, 0, 0) + name + p(">H", 28)

    l4s = [
        (6, p(">HHIIBBHHH", 1234, 80, 1, 2, 0x51, 0x12, 1, 0, 0)),
        (17, p(">HHHH", 5000, 53, 40, 0) + dns([b"www", b"ex\xe9mple", b"com"])),
        (17, p(">HHHH", 53, 5000, 40, 0) + dns([b"a" * 63] * 3 + [b"b" * 61])),
        (17, p(">HHHH", 53, 5000, 40, 0) + dns([b"a" * 63] * 3 + [b"b" * 62])),
        (17, p(">HHHH", 53, 5000, 40, 0) + dns([b"a" * 63] * 3 + [b"b" * 60])),
        (17, p(">HHHH", 4789, 4789, 40, 0) + bytes(8)),
        (58, p(">BBHI", 128, 0, 0, 1)),
    ]
    for code in range(4):
        for ihl in (5, 6):
            quoted = ip4(17, p(">HHHH", 1, 33434, 8, 0), ihl=ihl)
            l4s.append((1, p(">BBHI", 3, code, 0, 0) + quoted))
    l4s.append((1, p(">BBHHH", 8, 0, 0, 1, 77)))
    for proto, payload in l4s:
        if proto != 58:
            out.append((1, macs + b"\x08\x00" + ip4(proto, payload)))
            out.append((11, ip4(proto, payload, ihl=6)))
            out.append((1, macs + b"\x81\x00\x20\x05\x08\x00" + ip4(proto, payload)))
        out.append((1, macs + b"\x86\xdd" + ip6(58 if proto == 1 else proto, payload)))
        out.append((12, ip6(58 if proto == 1 else proto, payload)))
    out.append((1, macs + b"\x81\x00\x20\x05\x88\xa8\x00\x07\x08\x00" + ip4(*l4s[0])))
    out.append((1, macs + b"\x00\x40\xaa\xaa\x03\x00\x00\x00\x08\x00" + ip4(*l4s[0])))
    out.append((1, macs + b"\x08\x00" + ip4(6, l4s[0][1], frag=0x2010)))
    out.append((1, MACS[1] + MACS[0] + b"\x08\x06" + bytes.fromhex("0001080006040001") + bytes(20)))
    return out


def test_every_truncation_of_edge_headers():
    require_accel()
    t = Tally()
    for proto, h in _edge_headers():
        for n in range(len(h) + 1):
            cut = h[:n]
            body = struct.pack(">4I", proto, 1500, 4, len(cut)) + cut
            body += b"\0\xff\xff\xff"[: -len(body) & 3]  # non-zero padding: reading it shows
            rec = struct.pack(">II", 1, len(body)) + body
            head = struct.pack(">8I", 1, 3, 512, 100, 0, 3, 5, 1)
            s = struct.pack(">II", 1, len(head) + len(rec)) + head + rec
            assert t.datagram(struct.pack(">II4sIIII", 5, 1, b"\x0a\0\0\x01", 0, 1, 2, 1) + s)
    print(f"\ntruncated edge headers: {t.samples}, native {t.native}")
    assert t.native > t.samples // 2


def test_router_record_every_length():
    """extended_router (decoded in C): every truncation and address type."""
    require_accel()
    t = Tally()
    header = _edge_headers()[0][1]
    hrec = struct.pack(">4I", 1, 1500, 4, len(header)) + header
    hrec += b"\0" * (-len(hrec) & 3)
    for atype, addr in ((1, ADDR4[1]), (2, ADDR6[2]), (3, ADDR4[1]), (0, b"")):
        body = struct.pack(">I", atype) + addr + struct.pack(">II", 24, 16) + b"\xff" * 8
        for n in range(len(body) + 1):
            cut = body[:n] + b"\xee" * (-n & 3)  # non-zero padding: reading it shows
            recs = struct.pack(">II", 1, len(hrec)) + hrec + struct.pack(">II", 1002, n) + cut
            head = struct.pack(">8I", 1, 3, 512, 100, 0, 3, 5, 2)
            s = struct.pack(">II", 1, len(head) + len(recs)) + head + recs
            assert t.datagram(struct.pack(">II4sIIII", 5, 1, b"\x0a\0\0\x01", 0, 1, 2, 1) + s)
    assert t.native >= 18 and t.errors > 20
