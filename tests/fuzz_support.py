"""Shared parts of the fuzz and abuse suite (tests/test_fuzz_*.py, docs/testing.md).

Every fuzzer draws from ``rng(name)``: a fixed seed, so a CI failure replays exactly, and a
count scaled by the environment:

    FLOWRT_FUZZ_SCALE=20 ./test.sh tests/test_fuzz_*.py      # 20 times the CI count
    FLOWRT_FUZZ_SEED=7 ./test.sh tests/test_fuzz_*.py        # another seed

A failing case prints what it sent; once understood it becomes a named regression test.
"""

from __future__ import annotations

import json
import os
import random
import struct
import zlib

SEED = int(os.environ.get("FLOWRT_FUZZ_SEED", "14"))
SCALE = max(0.01, float(os.environ.get("FLOWRT_FUZZ_SCALE", "1")))

ABSURD_INTS = (
    0,
    1,
    2,
    3,
    7,
    0x7F,
    0xFF,
    0x100,
    0xFFFF,
    0x10000,
    0x3FFFFFFF,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    1001,
    65536,
    1 << 20,
)


def rng(name: str) -> random.Random:
    """A generator of its own per fuzzer, so adding one does not shift the others."""
    return random.Random(SEED * 1_000_003 + zlib.crc32(name.encode()))


def count(ci: int) -> int:
    """The number of cases: ``ci`` (what CI runs) times FLOWRT_FUZZ_SCALE."""
    return max(1, int(ci * SCALE))


def mutate_bytes(r: random.Random, data: bytes, others: list[bytes] | None = None) -> bytes:
    """One structure-blind mutation of a binary message: truncation, bit flips, an absurd
    32-bit or 16-bit value on an aligned word, a declared length pointing past the end,
    inserted or deleted bytes, a splice with another message, a duplicated region."""
    b = bytearray(data)
    if not b:
        return r.randbytes(r.randrange(1, 64))
    op = r.randrange(9)
    if op == 0:
        return bytes(b[: r.randrange(len(b) + 1)])
    if op == 1:
        for _ in range(r.randint(1, 8)):
            i = r.randrange(len(b))
            b[i] ^= 1 << r.randrange(8)
        return bytes(b)
    if op == 2:
        for _ in range(r.randint(1, 3)):
            i = r.randrange(0, max(1, len(b) - 4), 4)
            b[i : i + 4] = struct.pack(">I", r.choice(ABSURD_INTS))
        return bytes(b)
    if op == 3:
        for _ in range(r.randint(1, 3)):
            i = r.randrange(0, max(1, len(b) - 2))
            b[i : i + 2] = struct.pack(">H", r.choice(ABSURD_INTS) & 0xFFFF)
        return bytes(b)
    if op == 4:
        i = r.randrange(0, max(1, len(b) - 4), 4)
        b[i : i + 4] = struct.pack(">I", (len(b) - i + r.randint(1, 64)) & 0xFFFFFFFF)
        return bytes(b)
    if op == 5:
        i = r.randrange(len(b) + 1)
        return bytes(b[:i] + r.randbytes(r.randint(1, 32)) + b[i:])
    if op == 6:
        i = r.randrange(len(b))
        return bytes(b[:i] + b[i + r.randint(1, 32) :])
    if op == 7 and others:
        other = r.choice(others)
        i, j = r.randrange(len(b) + 1), r.randrange(len(other) + 1)
        return bytes(b[:i] + other[j:])
    i = r.randrange(len(b))
    n = r.randint(1, min(256, len(b) - i))
    return bytes(b[: i + n] + b[i : i + n] + b[i + n :])


# -- JSON values --------------------------------------------------------------------------------
ODD_STRINGS = (
    "",
    " ",
    "x" * 5000,
    "((",
    "))",
    "[[",
    "]]",
    "\u0000",
    "\ud7ff\ue000\U0001f600",
    "a,b,c",
    "ALL",
    "null",
    "true",
    "-1",
    "1e309",
    "NaN",
    "0x10",
    "../../etc/passwd",
    "%00",
    "<script>",
    "'\"",
    "\\",
    "ipsource",
    "bytes",
    "frames",
    "10.0.0.0/8",
    "::/0",
    "mask:ipsource:24",
    "ipsource=10.0.0.1",
    "!!",
    "|",
    "&",
    "~",
    "*",
)
ODD_NUMBERS = (
    0,
    -1,
    1,
    0.5,
    -0.0,
    1e308,
    -1e308,
    1e-308,
    2**31,
    2**63,
    2**64 + 1,
    10**30,
    3.14159,
    65535,
    65536,
)


def odd_value(r: random.Random, depth: int = 0):
    """A JSON value of a random type, biased to edge cases."""
    k = r.randrange(9 if depth < 3 else 6)
    if k == 0:
        return None
    if k == 1:
        return r.choice((True, False))
    if k == 2:
        return r.choice(ODD_NUMBERS)
    if k in (3, 4):
        return r.choice(ODD_STRINGS)
    if k == 5:
        return "".join(chr(r.randrange(1, 0x3000)) for _ in range(r.randrange(1, 20)))
    if k == 6:
        return [odd_value(r, depth + 1) for _ in range(r.randrange(0, 4))]
    if k == 7:
        return {
            r.choice(ODD_STRINGS[:12]) or "k": odd_value(r, depth + 1)
            for _ in range(r.randrange(0, 3))
        }
    return r.choice((float("nan"), float("inf"))) if r.random() < 0.3 else r.choice(ODD_NUMBERS)


def mutate_json(r: random.Random, value):
    """One mutation of a JSON document: a member replaced by an odd value, deleted, added,
    a container wrapped or deeply nested, or the whole value replaced."""
    op = r.randrange(8)
    if op == 0:
        return odd_value(r)
    if op == 1:
        nest = r.choice((10, 300, 2000))
        return (
            json.loads("[" * nest + json.dumps(value) + "]" * nest)
            if nest < 900
            else {"deep": "[" * nest + "]" * nest}
        )
    if isinstance(value, dict) and value:
        out = dict(value)
        key = r.choice(list(out))
        if op in (2, 3):
            out[key] = odd_value(r)
        elif op == 4:
            del out[key]
        elif op == 5:
            out[r.choice(ODD_STRINGS) or "extra"] = odd_value(r)
        elif op == 6:
            out[key] = mutate_json(r, out[key])
        else:
            out[key] = [out[key]]
        return out
    if isinstance(value, list) and value:
        out = list(value)
        i = r.randrange(len(out))
        out[i] = mutate_json(r, out[i]) if op < 5 else odd_value(r)
        return out
    return odd_value(r)


def json_text(r: random.Random, value) -> bytes:
    """The body as sent: usually JSON (NaN allowed, as Python writes it), sometimes cut or
    corrupted text."""
    text = json.dumps(value).encode()
    roll = r.random()
    if roll < 0.08:
        return text[: r.randrange(len(text) + 1)]
    if roll < 0.12:
        return mutate_bytes(r, text)
    return text
