"""Writing sFlow's XDR: the primitives every record declaration encodes with.

The inverse of xdr.Reader. Values may be given the way sflowtool prints them (numbers as
decimal strings, MACs as hex, headerBytes as "0A-1B-..") or as Python values; a missing number
encodes as 0 and a missing string as "".
"""

from __future__ import annotations

import ipaddress
import struct

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")
_TL = struct.Struct(">II")


class EncodeError(ValueError):
    pass


# -- primitives -------------------------------------------------------------------------------
def tag_number(tag) -> int:
    """'e:f' or (e, f) or an int -> the 32-bit enterprise<<12|format tag."""
    if isinstance(tag, int):
        return tag
    if isinstance(tag, tuple):
        return tag[0] << 12 | tag[1]
    enterprise, _, fmt = str(tag).partition(":")
    return int(enterprise) << 12 | int(fmt)


def pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) & 3)


def u32(v) -> bytes:
    return _U32.pack(as_int(v) & 0xFFFFFFFF)


def u64(v) -> bytes:
    return _U64.pack(as_int(v) & 0xFFFFFFFFFFFFFFFF)


def opaque(b: bytes) -> bytes:
    return _U32.pack(len(b)) + pad(b)


def string(s) -> bytes:
    if s is None:
        s = ""
    return opaque(s.encode("utf-8", "surrogateescape") if isinstance(s, str) else bytes(s))


def address(a) -> bytes:
    """sFlow address: type 1 (IPv4) / 2 (IPv6) then the address; None/"" is 0.0.0.0."""
    if a in (None, ""):
        return _U32.pack(1) + b"\0\0\0\0"
    ip = ipaddress.ip_address(a)
    return _U32.pack(1 if ip.version == 4 else 2) + ip.packed


def ip4(a) -> bytes:
    return ipaddress.IPv4Address(a or "0.0.0.0").packed


def ip6(a) -> bytes:
    return ipaddress.IPv6Address(a or "::").packed


def mac(m) -> bytes:
    """A MAC as XDR opaque[6]: 6 bytes padded to 8."""
    return pad(mac6(m))


def mac6(m) -> bytes:
    if m in (None, ""):
        return b"\0" * 6
    if isinstance(m, (bytes, bytearray)):
        return bytes(m)
    return bytes.fromhex(str(m).replace(":", "").replace("-", "").rjust(12, "0"))


def as_int(v) -> int:
    if v is None or v == "":
        return 0
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    s = str(v)
    return int(s, 16) if s[:2].lower() == "0x" else int(s)


def as_float(v) -> float:
    return 0.0 if v in (None, "") else float(v)


def hexbytes(v) -> bytes:
    if v is None:
        return b""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    return bytes.fromhex(str(v).replace("-", "").replace(":", "").replace(" ", ""))


def f32(v) -> bytes:
    return _F32.pack(as_float(v))


def f64(v) -> bytes:
    return _F64.pack(as_float(v))


def percentage(v) -> bytes:
    """sFlow percentage: hundredths of a percent in 32 bits, -1 (all ones) = unknown."""
    if v in (None, "unknown") or (isinstance(v, int) and v < 0):
        return _U32.pack(0xFFFFFFFF)
    return _U32.pack(int(round(float(v) * 100)) & 0xFFFFFFFF)


def record(tag, body: bytes) -> bytes:
    """A flow or counter record: tag, length, body (padded to a multiple of 4)."""
    body = pad(body)
    return _TL.pack(tag_number(tag), len(body)) + body


# -- field lists ----------------------------------------------------------------------------
# A field list is a sequence of (name, kind). Kinds: u32 u64 f32 f64 str addr mac ip4 ip6 pct.
_KIND = {
    "u32": lambda v: u32(v),
    "u64": lambda v: u64(v),
    "f32": f32,
    "f64": f64,
    "str": string,
    "addr": address,
    "mac": mac,
    "ip4": ip4,
    "ip6": ip6,
    "pct": percentage,
}


def fields(spec: str) -> list[tuple[str, str]]:
    """'a b:u64 c:str' -> [(a,u32),(b,u64),(c,str)]."""
    out = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        out.append((name, kind or "u32"))
    return out


def pack_fields(spec, d: dict, prefix: str = "") -> bytes:
    """The fields of `spec` (from fields()) taken from d, in order."""
    return b"".join(_KIND[kind](d.get(prefix + name)) for name, kind in spec)


def simple(spec: str, prefix: str = ""):
    """An encoder for a record that is a plain list of fields ('a b:u64 c:str')."""
    parsed = fields(spec)
    return lambda d: pack_fields(parsed, d, prefix)
