"""flow_attributes_subset(sample, wanted): the full attribute dict restricted to `wanted`, on the
C and the pure-Python path; and the flow engine that uses it for the definitions' names.

The broad fuzzing of the C subset rides along every C-vs-Python comparison of the accelerator
tests (accel_support.Tally.compare_subset); here: every capture sample with many wanted sets on
both paths, the cases with their own code (cached full dict, handlers that read the dict,
fallback samples, an earlier key changing the decision), reference counts, and end to end.
"""

from __future__ import annotations

import random
import struct
import sys
import time

import pytest

from accel_support import require_accel
from engine import props
from engine.core import Engine
from engine.sflow import DecodeError, decode_datagram
from engine.sflow import attributes as at
from engine.sflow import encode as enc
from engine.sflow import packets
from engine.sflow.pcap import read_pcap
from paths import SFLOW_DATA

PCAPS = sorted(p for p in SFLOW_DATA.glob("*/*.pcap") if p.name != "sflow_print-segv.pcap")
EXTRA_NAMES = (
    "agent",
    "dns:",
    "group:",
    "nets",
    "24",
    "ipsource.1",
    "vni",
    "bgpas",
    "no-such-key",
    "",
)


def capture_samples() -> list:
    out = []
    for pcap in PCAPS:
        for packet in read_pcap(pcap):
            try:
                dg = decode_datagram(packet.payload)
            except DecodeError:
                continue
            out.extend(s for s in dg.samples if s.kind in ("flow", "discard"))
    return out


def full_outcome(sample):
    try:
        return "ok", list(at.python_flow_attributes(sample).items())
    except DecodeError as exc:
        return "error", str(exc)


def subset_outcome(fn, sample, wanted):
    try:
        return "ok", list(fn(sample, wanted).items())
    except DecodeError as exc:
        return "error", str(exc)


def restricted(full, wanted):
    return full if full[0] == "error" else ("ok", [kv for kv in full[1] if kv[0] in wanted])


def paths():
    out = [pytest.param(at.python_flow_attributes_subset, id="python")]
    if at.accel is not None:
        out.append(pytest.param(at.accel.flow_attributes_subset, id="C"))
    return out


@pytest.mark.parametrize("fn", paths())
def test_every_capture_sample_with_many_wanted_sets(fn):
    samples = capture_samples()
    assert len(samples) > 5000
    rng = random.Random(11)
    fulls = [full_outcome(s) for s in samples]
    every = sorted({k for f in fulls if f[0] == "ok" for k, _ in f[1]} | set(EXTRA_NAMES))
    fixed = [
        frozenset(),
        frozenset(every),
        frozenset(EXTRA_NAMES),
        frozenset(
            {
                "ipsource",
                "ipdestination",
                "bytes",
                "frames",
                "ipprotocol",
                "tcpsourceport",
                "tcpdestinationport",
                "group:",
                "nets",
                "mask:",
                "24",
            }
        ),
        frozenset({"macsource", "macdestination", "vlan", "stack", "bgpdestinationaspath"}),
    ]
    native = compared = 0
    for s, full in zip(samples, fulls):
        sets = fixed + [frozenset(rng.sample(every, rng.randint(1, len(every)))) for _ in range(3)]
        for wanted in sets:
            s._attrs = None
            got = subset_outcome(fn, s, wanted)
            assert got == restricted(full, wanted), (s.tag, sorted(wanted))
            native += got[0] == "ok" and s._attrs is None
            compared += 1
        s._attrs = None
    if fn is not at.python_flow_attributes_subset:
        # the C code answered most of them without building the full dict
        assert native > compared * 0.8, (native, compared)


@pytest.mark.parametrize("fn", paths())
def test_cached_full_dict_and_none(fn):
    s = next(s for s in capture_samples() if s.kind == "flow")
    s._attrs = None
    full = s.attributes()
    assert fn(s, None) is full  # None: the sample's own cached dict
    full["agent"] = "192.0.2.1"  # enrichers add to the cached dict
    assert fn(s, frozenset({"agent", "bytes", "no-such-key"})) == {
        "bytes": full["bytes"],
        "agent": "192.0.2.1",
    }
    assert fn(s, frozenset()) == {}
    # shared (readers): the cached full dict itself where there is one
    assert fn(s, frozenset({"bytes"}), True) is full
    s._attrs = None
    shared = fn(s, frozenset({"bytes", "macsource"}), True)
    if s._attrs is None:
        assert shared == {k: full[k] for k in ("bytes", "macsource") if k in full}
    else:
        assert shared is s._attrs and shared.items() >= {"bytes": full["bytes"]}.items()
    for bad in ({"bytes"}, ["bytes"], "bytes"):
        with pytest.raises(TypeError):
            fn(s, bad)


def _sample(records, fmt=0, expanded=False):
    raw = enc.datagram(
        "192.0.2.1", 1, 1, [enc.flow_sample(7, 0, 3, 100, 700, 0, 3, 4, records, expanded=expanded)]
    )
    (s,) = decode_datagram(raw).samples
    return s


def _header(frame: bytes, proto: int = 1) -> bytes:
    return enc.record(
        "0:1", struct.pack(">4I", proto, len(frame) + 4, 4, len(frame)) + enc.pad(frame)
    )


FRAME = packets.frame(
    "020000000001", "020000000002", "192.0.2.10", "198.51.100.1", 6, 1000, 40000, 443
)
TAGGED = packets.frame(
    "020000000001", "020000000002", "192.0.2.10", "198.51.100.1", 17, 300, 5000, 53, vlans=(7,)
)
SAMPLED_IPV4 = enc.record(
    "0:3",
    struct.pack(
        ">II4s4sIIII", 1000, 6, bytes([203, 0, 113, 5]), bytes([192, 0, 2, 99]), 1234, 80, 0x12, 0
    ),
)
GATEWAY = enc.record(
    "0:1003",
    b"".join(
        enc.u32(v)
        for v in (
            1,
            0xC0000201,
            65001,
            65002,
            65003,
            1,
            2,
            2,
            65010,
            65020,
            1,
            65000 << 16 | 1,
            150,
        )
    ),
)
HTTP = enc.record(
    "0:2201",
    b"".join(
        [
            enc.u32(2),
            enc.u32(1001),
            enc.string("/index.html"),
            enc.string("example.test"),
            enc.string(""),
            enc.string("curl"),
            enc.string(""),
            enc.string("text/html"),
            enc.u64(5000),
            enc.u32(20),
            enc.u32(200),
        ]
    ),
)
CASES = {
    "header": [_header(FRAME)],
    "header+gateway (write-only handler)": [_header(FRAME), GATEWAY],
    "gateway+header": [GATEWAY, _header(FRAME)],
    "header+sampled_ipv4 (handler reads the dict)": [_header(FRAME), SAMPLED_IPV4],
    "sampled_ipv4 alone": [SAMPLED_IPV4],
    "http (setdefault bytes)": [HTTP],
    "two tagged headers (the second tag falls back)": [_header(TAGGED), _header(TAGGED)],
    "truncated gateway": [_header(FRAME), GATEWAY[:-8]],
}
WANTED = [
    frozenset(),
    frozenset({"vlan"}),
    frozenset({"ipsource", "bytes"}),
    frozenset({"bgpas", "bgpdestinationaspath", "ipsource"}),
    frozenset({"bgpcommunities", "bgplocalpref", "tcpflags", "dnsqname"}),
    frozenset({"httpurl", "bytes", "requests", "no-such-key"}),
    frozenset({"ipsource", "ipprotocol", "tcpsourceport", "udpsourceport", "priority"}),
]


@pytest.mark.parametrize("records", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("fn", paths())
def test_handler_and_fallback_cases(fn, records):
    full = full_outcome(_sample(records))
    for wanted in WANTED:
        s = _sample(records)
        got = subset_outcome(fn, s, wanted)
        assert got == restricted(full, wanted), sorted(wanted)
        if got[0] == "ok" and s._attrs is not None:
            # a full dict built on the way is the sample's attributes() from then on
            assert list(s._attrs.items()) == full[1]


def test_wanted_set_evicted_from_the_mask_cache_runs_python_code():
    """Freeing the wanted set the C mask cache lets go of can run Python code (an element's
    __del__) that asks for a subset with the set being cached: it gets that set's keys."""
    accel = require_accel()
    fn = accel.flow_attributes_subset
    s = _sample([_header(FRAME)])
    inner = []

    class Asks:
        def __del__(self):
            s._attrs = None
            inner.append(fn(s, wanted))

    wanted = frozenset({"ipsource"})
    fn(s, frozenset({"bytes", Asks()}))  # cached, then only the cache holds it
    for _ in range(3):
        fn(s, frozenset({"bytes"}))  # the next new set takes its place
    s._attrs = None
    assert fn(s, wanted) == {"ipsource": "192.0.2.10"}
    assert inner == [{"ipsource": "192.0.2.10"}]


def test_write_only_samples_stay_native_and_readers_build_the_full_dict():
    accel = require_accel()
    wanted = frozenset({"bgpdestinationaspath", "ipsource"})
    s = _sample([_header(FRAME), GATEWAY])
    assert accel.flow_attributes_subset(s, wanted) == {
        "ipsource": "192.0.2.10",
        "bgpdestinationaspath": "65010-65020",
    }
    assert s._attrs is None  # the handler ran on a scratch dict
    s = _sample([_header(FRAME), SAMPLED_IPV4])
    assert accel.flow_attributes_subset(s, wanted) == {"ipsource": "192.0.2.10"}
    assert s._attrs == at.python_flow_attributes(s)


class ReadTrap(dict):
    """A dict that fails on any read: what WRITE_ONLY_HANDLERS promise never to do."""

    def _read(self, *args, **kwargs):
        raise AssertionError("record handler read the attribute dict")

    __contains__ = __getitem__ = get = setdefault = pop = keys = items = values = _read
    __iter__ = __len__ = copy = _read


def _handler_inputs(rng):
    yield bytes(256)
    yield b"".join(enc.u32(1) for _ in range(64))
    yield b"".join(enc.u32(2) for _ in range(64))
    for _ in range(300):
        yield bytes(
            rng.randrange(256) if rng.random() < 0.3 else rng.choice((0, 1, 2))
            for _ in range(rng.randrange(0, 160))
        )


def test_write_only_handlers_never_read_the_dict():
    rng = random.Random(3)
    inputs = list(_handler_inputs(rng))
    for tag in sorted(at.WRITE_ONLY_HANDLERS):
        fn = at._HANDLERS[tag]
        wrote = 0
        for buf in inputs:
            trap = ReadTrap()
            try:
                fn(buf, 0, len(buf), trap)
            except AssertionError:
                raise AssertionError(f"handler for tag {tag} reads the dict") from None
            except Exception:
                continue
            wrote += dict.__len__(trap) > 0
        assert wrote, f"no input reached the stores of the handler for tag {tag}"
    # and the trap does catch the handlers that read
    for tag in (3, 2201):
        with pytest.raises(AssertionError):
            at._HANDLERS[tag](bytes(256), 0, 256, ReadTrap())


def test_reference_counts_unchanged():
    accel = require_accel()
    wanted = frozenset({"ipsource", "bgpas", "bytes", "vlan", "no-such-key"})
    other = frozenset({"macsource"})
    for records in CASES.values():
        raw = enc.datagram(
            "192.0.2.1", 1, 1, [enc.flow_sample(7, 0, 3, 100, 700, 0, 3, 4, records)]
        )
        samples = [decode_datagram(raw).samples[0] for _ in range(50)]
        buf = samples[0].buf
        # the C code keeps a reference to the last few sets it compiled: compile both first
        for w in (wanted, other):
            try:
                accel.flow_attributes_subset(decode_datagram(raw).samples[0], w)
            except DecodeError:
                pass
        del w
        before = sys.getrefcount(buf), sys.getrefcount(wanted), sys.getrefcount(other)
        for s in samples:
            for w in (wanted, other, wanted):
                try:
                    accel.flow_attributes_subset(s, w)
                except DecodeError:
                    pass
                s._attrs = None
        del w
        assert (sys.getrefcount(buf), sys.getrefcount(wanted), sys.getrefcount(other)) == before


# -- end to end ---------------------------------------------------------------------------------

DEFINITIONS = {
    "pair": {"keys": "ipsource,ipdestination", "value": "bytes"},
    "dns": {"keys": "dns:ipsource,ipprotocol", "value": "frames"},
    "geo": {"keys": "country:ipsource,asn:ipdestination", "value": "bytes"},
    "oui": {"keys": "oui:macsource,null:vlan", "value": "frames"},
    "groups": {"keys": "group:ipsource:nets,map:ipprotocol:protos", "value": "bytes"},
    "uri": {
        "keys": "uri:[concat:/:ipdestination:ipsource]:path",
        "value": "frames",
        "filter": "ipprotocol=6,17",
    },
    # agents' own extended_gateway data (data-1140) must win over the table: whether it is
    # there decides how the BGP enricher merges, so it reads those keys even if not asked for
    "bgp": {"keys": "bgpdestinationaspath,bgpsourceas", "value": "bytes"},
    "route": {"keys": "mask:ipdestination", "value": "bytes"},  # uses ipdestinationmaskbits
    "agent": {
        "keys": "agent,inputifindex,stack",
        "value": "frames",
        "filter": "macsource~^[0-9A-F]{12}$",
    },
    "values": {
        "keys": "ipprotocol",
        "value": "avg:bytes",
        "values": ["max:ipbytes", "count:ip6source", "count:tcpflags"],
    },
    "ip6": {"keys": "ip6source,ip6destination,ip6dscpname", "value": "bytes"},
}


def _bgp_table(eng):
    """A neighbor whose table covers every IPv4 address, and a source for every agent."""
    import socket

    from engine.bgp import message as m
    from bgp_peer import attrs_bytes, pack_updates

    bgp = eng.subsystems["bgp"]
    bgp.add_neighbor("127.0.0.1", 65162, "10.0.0.162")
    n = bgp.neighbors["127.0.0.1"]
    n.peer_as = 65254
    for net, path in (("0.0.0.0", (65254, 174)), ("128.0.0.0", (65254, 3356, 64500))):
        for msg in pack_updates([(socket.inet_aton(net), 1)], attrs_bytes(aspath=path)):
            u = m.decode_update(msg[19:], True, bgp.intern)
            n.rib4.announce(u.nlri4, u.attrs)
    bgp.add_source("ALL", "127.0.0.1", 60, "bytes")
    bgp._wire_enricher()


def _engine(datagrams, now, full_only: bool, monkeypatch, definitions=DEFINITIONS):
    eng = Engine(props.Properties(dict(props.DEFAULTS)))
    fe = eng.subsystems["flows"]
    fe.set_groups(
        "nets",
        {"private": ["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12"], "other": ["0.0.0.0/0"]},
    )
    fe.set_map("protos", {"tcp": ["6"], "udp": ["17"]})
    for ip in ("192.168.1.2", "10.10.10.2", "::1"):
        eng.subsystems["dns"].cache.put(ip, f"host-{ip}.example.", 3600, now)
    _bgp_table(eng)
    for name, spec in definitions.items():
        fe.set_flow(name, spec)
    with monkeypatch.context() as mp:
        if full_only:  # what the engine did before subsets: the full dict every time
            mp.setattr(at, "flow_attributes_subset", lambda s, wanted, shared=False: s.attributes())
        for dg in datagrams:
            eng.ingest(dg, "127.0.0.1", now)
    return eng


def test_agent_gateway_data_wins_over_the_table_with_subsets(monkeypatch):
    """Only the AS path is asked for, but the agent's other extended_gateway keys decide how
    the BGP enricher merges (the agent's path is kept): the enricher reads them too."""
    sample = enc.flow_sample(1, 0, 3, 100, 700, 0, 3, 4, [_header(FRAME), GATEWAY])
    datagrams = [enc.datagram("192.0.2.1", i + 1, i, [sample]) for i in range(3000)]
    definitions = {"path": {"keys": "bgpdestinationaspath", "value": "frames"}}
    now = 1_700_000_000.0
    subset = _engine(datagrams, now, False, monkeypatch, definitions)
    full = _engine(datagrams, now, True, monkeypatch, definitions)
    got = subset.subsystems["flows"].active_flows(None, "path", 10, now=now)
    assert [f["key"] for f in got] == ["65010-65020"]
    assert got == full.subsystems["flows"].active_flows(None, "path", 10, now=now)


@pytest.mark.parametrize("accel_on", [False, True], ids=["python", "C"])
def test_definitions_get_the_same_values_as_with_full_dicts(accel_on, monkeypatch):
    if accel_on:
        require_accel()
    at.use_accelerator(accel_on)
    try:
        datagrams = [p.payload for pcap in PCAPS for p in read_pcap(pcap)] * 2
        now = time.time()  # one timestamp for every sample and query of both engines
        subset = _engine(datagrams, now, False, monkeypatch)
        full = _engine(datagrams, now, True, monkeypatch)
    finally:
        at.use_accelerator(True)
    fs, ff = subset.subsystems["flows"], full.subsystems["flows"]
    # the pure-Python path keeps using the full dicts (its subset is cut from them)
    assert (fs._wanted is not None) == accel_on
    assert not accel_on or {"bgpdestinationaspath", "bgpas", "ipsource", "agent"} <= fs._wanted
    assert subset.stats.flow_samples == full.stats.flow_samples > 10000
    for name in DEFINITIONS:
        got = fs.active_flows(None, name, 100000, now=now)
        assert got, f"{name}: no flows (the test traffic must give every definition values)"
        assert got == ff.active_flows(None, name, 100000, now=now), name
    keys = {
        k
        for name in ("dns", "geo", "oui", "bgp", "agent", "groups")
        for f in fs.active_flows(None, name, 100000, now=now)
        for k in f["key"].split(",")
    }
    assert {"host-192.168.1.2.example.", "65254-174", "192.168.1.1"} <= keys, keys
    # /flowkeys/json: the same keys as with full dicts, i.e. every key of the samples it reads
    assert fs.flow_keys(now) == ff.flow_keys(now)
    assert {"ipsource", "macsource", "tcpflags", "ip6source", "bgpdestinationaspath"} <= set(
        fs.flow_keys(now)
    )
    assert subset.agents.to_json(now=now) == full.agents.to_json(now=now)
    # BGP accounting (its own subset: the addresses and the sources' value attribute)
    from engine.bgp.traffic import DST, SRC, prefix_values

    bs, bf = subset.subsystems["bgp"], full.subsystems["bgp"]
    assert (bs._reads is not None) == accel_on
    for d in (DST, SRC):
        got = prefix_values([s.acc4 for s in bs.all_sources()], d, now)
        want = prefix_values([s.acc4 for s in bf.all_sources()], d, now)
        # (each engine's accumulators started at its own time: equal up to rounding)
        assert got[1] > 0 and got[0].keys() == want[0].keys()
        assert got == (pytest.approx(want[0], rel=1e-9), pytest.approx(want[1], rel=1e-9))


def test_keys_seen_lists_keys_only_present_in_late_samples():
    """A key that first appears after the subset path took over still reaches /flowkeys/json."""
    from engine.flows.engine import KEYS_SEEN_ACTIVE

    eng = Engine(props.Properties(dict(props.DEFAULTS)))
    fe = eng.subsystems["flows"]
    fe.set_flow("pair", {"keys": "ipsource,ipdestination", "value": "bytes"})
    plain = enc.flow_sample(1, 0, 3, 100, 700, 0, 3, 4, [_header(FRAME)])
    with_gateway = enc.flow_sample(1, 0, 3, 100, 700, 0, 3, 4, [_header(FRAME), GATEWAY])
    for i in range(3000):
        eng.ingest(enc.datagram("192.0.2.1", i + 1, i, [plain]), "127.0.0.1", 1000.0)
    assert "bgpas" not in fe.flow_keys(1000.0)
    for i in range(KEYS_SEEN_ACTIVE):
        eng.ingest(enc.datagram("192.0.2.1", 5000 + i, i, [with_gateway]), "127.0.0.1", 1001.0)
    assert {"bgpas", "bgpdestinationaspath", "bgpcommunities"} <= set(fe.flow_keys(1001.0))
    assert fe.active_flows(None, "pair", 10, now=1001.0)[0]["key"] == "192.0.2.10,198.51.100.1"
