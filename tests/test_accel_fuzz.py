"""The C accelerator on hostile input: mutated captures and random sampled-header bytes.

Whatever the bytes, the C path must give what the Python path gives (the same dict, or the
same DecodeError) and never crash. The same cases were run once under AddressSanitizer and
valgrind (docs/decoder.md, "Accelerator").
"""

from __future__ import annotations

import random
import struct

from accel_support import Tally, require_accel
from test_decode_fuzz import SEEDS, mutate

TEMPLATES = (
    b"\x08\x00\x45",
    b"\x86\xdd\x60",
    b"\x81\x00\x00",
    b"\x88\xa8\x00",
    b"\x08\x06\x00",
    b"\x88\x47\x00",
    b"\x00\x40\xaa",
)


def _sample(headers: list[tuple[int, bytes]], rng: random.Random) -> bytes:
    recs = b""
    for proto, h in headers:
        body = struct.pack(">4I", proto, len(h) + 4, 4, len(h)) + h
        body += b"\0" * (-len(body) & 3)
        recs += struct.pack(">II", 1, len(body)) + body
    nrec = len(headers)
    if rng.random() < 0.5:
        recs += struct.pack(">II4I", 1001, 16, rng.choice((5, 0xFFFFFFFF)), 1, 7, 2)
        nrec += 1
    head = struct.pack(">8I", 1, 3, 512, 100, 0, 3, 5, nrec)
    s = struct.pack(">II", 1, len(head) + len(recs)) + head + recs
    return struct.pack(">II4sIIII", 5, 1, b"\x0a\0\0\x01", 0, 1, 2, 1) + s


def test_mutated_captures_match():
    require_accel()
    rng = random.Random(5)
    t = Tally()
    decoded = 0
    for k in range(5000):
        decoded += t.datagram(mutate(rng, SEEDS[k % len(SEEDS)]))
    print(
        f"\nmutated datagrams decoded {decoded}; flow samples {t.samples}, native {t.native}, "
        f"DecodeError {t.errors}"
    )
    assert t.native and t.errors and t.samples > t.native


def test_random_header_bytes_match():
    require_accel()
    rng = random.Random(7)
    t = Tally()
    for k in range(6000):
        h = rng.randbytes(rng.randrange(0, 160))
        if k % 2 == 0 and len(h) > 14:
            h = h[:12] + rng.choice(TEMPLATES) + h[15:]
        proto = rng.choice((1, 1, 1, 11, 12, 15, 7))
        if proto == 11 and h:
            h = bytes([0x40 | rng.randrange(16)]) + h[1:]
        if proto == 12 and h:
            h = b"\x60" + h[1:]
        headers = [(proto, h)]
        if rng.random() < 0.05:
            headers.append((1, rng.randbytes(rng.randrange(0, 80))))
        assert t.datagram(_sample(headers, rng))
    print(f"\nrandom headers: {t.samples} samples, native {t.native}")
    assert t.native > t.samples // 2
