"""Robustness: whatever the bytes, only DecodeError may escape the decoder.

Mutations of the real captures (truncation, byte flips, absurd counts and lengths, 64 KB
datagrams) plus hypothesis-generated datagrams built around valid sFlow framing.
"""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.sflow import DecodeError, decode_datagram
from engine.sflow.header import decode_header
from engine.sflow.pcap import read_pcap
from paths import SFLOW_DATA

DATA = SFLOW_DATA
SEEDS = [p.payload for f in sorted(DATA.glob("*/*.pcap")) for p in read_pcap(f)]
# a few datagrams of every capture, not all 1000 overflowd ones
SEEDS = SEEDS[:40] + SEEDS[40::37]
ABSURD = (0, 1, 3, 0x3FFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1001, 65536, 1 << 20)
TAGS = (
    1,
    2,
    3,
    4,
    5,
    1001,
    1002,
    1003,
    1004,
    1005,
    1006,
    1012,
    1013,
    2001,
    2003,
    2100,
    2101,
    2200,
    2202,
    2206,
    2209,
    (4300 << 12) | 1002,
    (4300 << 12) | 1003,
    (5703 << 12) | 1,
)


def exercise(buf) -> str:
    """Decode fully; return 'ok' or 'error'. Anything but DecodeError propagates (test fails)."""
    try:
        d = decode_datagram(buf)
        for s in d.samples:
            s.records()
            if hasattr(s, "attributes"):
                s.attributes()
        return "ok"
    except DecodeError as exc:
        assert str(exc)  # a clear message, never empty
        return "error"


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    op = rng.randrange(7)
    if op == 0:
        return bytes(b[: rng.randrange(len(b) + 1)])
    if op == 1:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b)
    if op in (2, 3):
        # an absurd count/length/tag on a random aligned word
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(0, max(1, len(b) - 4), 4)
            v = rng.choice(ABSURD) if op == 2 else rng.choice(TAGS)
            b[i : i + 4] = struct.pack(">I", v)
        return bytes(b)
    if op == 4:
        # declared length pointing past the end
        i = rng.randrange(0, max(1, len(b) - 4), 4)
        b[i : i + 4] = struct.pack(">I", len(b) - i + rng.randint(1, 64))
        return bytes(b)
    if op == 5:
        # a 64 KB datagram: real start, random tail
        return bytes(b) + rng.randbytes(65536 - len(b)) if len(b) < 65536 else bytes(b)
    i = rng.randrange(len(b))
    return bytes(b[:i] + rng.randbytes(rng.randint(1, 32)) + b[i:])


def test_mutated_captures_only_raise_decode_error():
    rng = random.Random(6343)
    outcomes = {"ok": 0, "error": 0}
    n = 4000
    for k in range(n):
        outcomes[exercise(mutate(rng, SEEDS[k % len(SEEDS)]))] += 1
    print(f"\nmutation cases: {n}, decoded {outcomes['ok']}, DecodeError {outcomes['error']}")
    assert outcomes["ok"] and outcomes["error"]  # both paths were exercised


# words of a v5 sample between its (tag, length) and its record count, by sample format
_BEFORE_NREC = {1: 7, 2: 2, 3: 10, 4: 3}


def _count_fields(buf: bytes):
    """Offsets in a v5 datagram of its sample count and of each (flow or counter) sample's
    record count, with the bytes that follow each count: what those elements could fill."""
    version, atype = struct.unpack_from(">II", buf, 0)
    if version != 5:
        return None, []
    at = 8 + (4 if atype == 1 else 16) + 12  # agent, sub-agent, seq, uptime
    nsamples = struct.unpack_from(">I", buf, at)[0]
    samples = (at, len(buf) - at - 4)
    records, off = [], at + 4
    for _ in range(nsamples):
        tag, length = struct.unpack_from(">II", buf, off)
        words = _BEFORE_NREC.get(tag)
        if words is not None:
            nrec_at = off + 8 + 4 * words
            records.append((nrec_at, off + 8 + length - nrec_at - 4))
        off += 8 + length
    return samples, records


def _with_count(buf: bytes, at: int, value: int) -> bytes:
    b = bytearray(buf)
    b[at : at + 4] = struct.pack(">I", value)
    return bytes(b)


def test_absurd_sample_and_record_counts_are_decode_errors():
    """A count of samples or records that the bytes after it cannot hold (each element is
    at least its 8-byte tag and length) is rejected as a DecodeError, in every capture;
    plausible counts merely have to decode or fail cleanly."""
    rejected = 0
    for base in SEEDS:
        samples, records = _count_fields(base)
        if samples is None:
            continue
        at, room = samples
        for v in ABSURD:
            data = _with_count(base, at, v)
            if v * 8 > room:
                with pytest.raises(DecodeError):  # before any sample is handed on
                    decode_datagram(data)
                rejected += 1
            else:
                exercise(data)
        for at, room in records:
            for v in ABSURD:
                data = _with_count(base, at, v)
                if v * 8 > room:
                    assert exercise(data) == "error", (v, room)
                    rejected += 1
                else:
                    exercise(data)
    assert rejected > 1000, rejected


def test_header_decoder_never_raises_on_random_bytes():
    rng = random.Random(1)
    for k in range(3000):
        h = rng.randbytes(rng.randrange(0, 160))
        if k % 3 == 0 and len(h) > 14:
            h = (
                h[:12]
                + rng.choice((b"\x08\x00\x45", b"\x86\xdd\x60", b"\x81\x00\x00", b"\x88\x47\x00"))
                + h[15:]
            )
        decode_header(h, rng.choice((1, 11, 12, 15)), {})


def _real_records():
    """(tag, body) of every distinct record in the captures: realistic material to mutate."""
    seen = {}
    for buf in SEEDS:
        try:
            d = decode_datagram(buf)
        except DecodeError:
            continue
        for smp in d.samples:
            off = smp.rec_off
            for _ in range(smp.nrec):
                tag, length = struct.unpack_from(">II", smp.buf, off)
                seen.setdefault((tag, length), (tag, bytes(smp.buf[off + 8 : off + 8 + length])))
                off += 8 + ((length + 3) & ~3)
    return list(seen.values())


REAL_RECORDS = _real_records()

_word = st.one_of(st.sampled_from(ABSURD + TAGS), st.integers(0, 0xFFFFFFFF), st.integers(0, 300))


def _honest(draw):
    return draw(st.integers(0, 9)) > 0  # lie about a length or count one time in ten


@st.composite
def datagrams(draw):
    """v5 framing with random samples and records (lengths sometimes honest, sometimes not)."""
    samples = []
    for _ in range(draw(st.integers(0, 3))):
        recs = []
        for _ in range(draw(st.integers(0, 4))):
            if draw(st.booleans()):
                tag, body = draw(st.sampled_from(REAL_RECORDS))
                if body and draw(st.booleans()):
                    i = draw(st.integers(0, len(body) - 1))
                    body = body[:i] + bytes([draw(st.integers(0, 255))]) + body[i + 1 :]
            else:
                body = draw(st.binary(max_size=64)) + b"".join(
                    struct.pack(">I", w) for w in draw(st.lists(_word, max_size=8))
                )
                tag = draw(st.sampled_from(TAGS))
            body += b"\0" * (-len(body) & 3)
            length = len(body) if _honest(draw) else draw(_word)
            recs.append(struct.pack(">II", tag, length) + body)
        stype = draw(st.sampled_from((1, 2, 3, 4, 5, (4300 << 12) | 1002, (4300 << 12) | 1003, 99)))
        head = struct.pack(">11I", *draw(st.lists(_word, min_size=11, max_size=11)))
        nrec = len(recs) if _honest(draw) else draw(_word)
        body = (
            head[: {1: 28, 2: 8, 3: 40, 4: 12, 5: 28}.get(stype, 0)]
            + struct.pack(">I", nrec)
            + b"".join(recs)
        )
        length = len(body) if _honest(draw) else draw(_word)
        samples.append(struct.pack(">II", stype, length) + body)
    version = draw(st.sampled_from((5, 5, 5, 5, 5, 5, 4, 2, 1)))
    hdr = struct.pack(
        ">II4sIIII",
        version,
        1,
        b"\x0a\0\0\x01",
        0,
        1,
        2,
        len(samples) if _honest(draw) else draw(_word),
    )
    return hdr + b"".join(samples)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(datagrams())
def test_hypothesis_datagrams_only_raise_decode_error(buf):
    exercise(buf)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=600))
def test_hypothesis_raw_bytes(buf):
    exercise(b"\0\0\0\x05\0\0\0\x01" + buf)
    exercise(buf)


def _v4_datagram() -> bytes:
    """A v4 datagram with every element type (v2/v4 have no lengths: a different walker)."""
    p = struct.pack
    frame = (
        bytes(12) + b"\x08\x00" + bytes.fromhex("450000280001400040060000") + bytes(8) + bytes(22)
    )
    flow = (
        p(">I", 1)
        + p(">7I", 3, 7, 512, 9999, 1, 4, 0x80000002)
        + p(">I", 1)
        + p(">III", 1, len(frame), len(frame))
        + frame
        + p(">I", 5)
        + p(">I", 1)
        + p(">4I", 10, 0, 20, 0)
        + p(">I", 2)
        + p(">I", 1)
        + bytes(4)
        + p(">II", 24, 24)
        + p(">I", 3)
        + p(">III", 100, 200, 300)
        + p(">I", 1)
        + p(">II", 2, 2)
        + p(">II", 300, 400)
        + p(">I", 1)
        + p(">I", 9)
        + p(">I", 50)
        + p(">I", 4)
        + p(">I", 2)
        + b"u1\0\0"
        + p(">I", 2)
        + b"u2\0\0"
        + p(">I", 5)
        + p(">I", 2)
        + p(">I", 3)
        + b"url\0"
    )
    cnt = p(">I", 2) + p(">4I", 4, 4, 30, 2) + bytes(88) + bytes(52)
    return p(">II", 4, 1) + bytes([198, 51, 100, 1]) + p(">III", 5, 6000, 2) + flow + cnt


def test_mutated_v2v4_only_raise_decode_error():
    base = _v4_datagram()
    assert exercise(base) == "ok"
    rng = random.Random(24)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(1500):
        outcomes[exercise(mutate(rng, base))] += 1
    assert outcomes["ok"] and outcomes["error"]
