"""Bounds-checked XDR reader used by the full record decoders (records()).

The hot path (attributes()) does not use it: it unpacks the few records it needs directly.
"""

from __future__ import annotations

import socket
import struct

from .errors import MAX_ARRAY, MAX_STRING, DecodeError

_U32 = struct.Struct(">I").unpack_from
_U64 = struct.Struct(">Q").unpack_from
_F32 = struct.Struct(">f").unpack_from
_F64 = struct.Struct(">d").unpack_from
_inet_ntoa = socket.inet_ntoa
_inet_ntop = socket.inet_ntop
_AF_INET6 = socket.AF_INET6


def ip6_str(b) -> str:
    return _inet_ntop(_AF_INET6, bytes(b))


class Reader:
    """A cursor over buf[pos:end]; every read checks the end so nothing escapes but DecodeError."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf, pos: int, end: int):
        self.buf = buf
        self.pos = pos
        self.end = end

    def _need(self, n: int) -> int:
        p = self.pos
        q = p + n
        if q > self.end:
            raise DecodeError(
                f"record truncated: need {n} bytes at offset {p}, record ends at {self.end}"
            )
        self.pos = q
        return p

    def u32(self) -> int:
        return _U32(self.buf, self._need(4))[0]

    def u64(self) -> int:
        return _U64(self.buf, self._need(8))[0]

    def f32(self) -> float:
        return _F32(self.buf, self._need(4))[0]

    def f64(self) -> float:
        return _F64(self.buf, self._need(8))[0]

    def opaque(self, n: int) -> bytes:
        """n bytes, then skip the XDR padding to a multiple of 4."""
        if n < 0 or n > MAX_STRING:
            raise DecodeError(f"implausible opaque length {n}")
        p = self._need((n + 3) & ~3)
        return bytes(self.buf[p : p + n])

    def string(self) -> str:
        n = self.u32()
        if n > MAX_STRING:
            raise DecodeError(f"implausible string length {n}")
        return self.opaque(n).decode("utf-8", "replace")

    def count(self, what: str, limit: int = MAX_ARRAY) -> int:
        n = self.u32()
        if n > limit:
            raise DecodeError(f"{what} count {n} seems quite large")
        return n

    def mac(self) -> str:
        """6-byte MAC (padded to 8), sflowtool style: 12 lower-case hex digits."""
        return self.opaque(6).hex()

    def ip4(self) -> str:
        p = self._need(4)
        return _inet_ntoa(bytes(self.buf[p : p + 4]))

    def ip6(self) -> str:
        p = self._need(16)
        return _inet_ntop(_AF_INET6, bytes(self.buf[p : p + 16]))

    def address(self) -> str:
        t = self.u32()
        if t == 1:
            return self.ip4()
        if t == 2:
            return self.ip6()
        raise DecodeError(f"unknown address type {t}")

    def left(self) -> int:
        return self.end - self.pos
