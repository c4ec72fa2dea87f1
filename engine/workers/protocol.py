"""The control socket between the front and a worker: an AF_UNIX stream socketpair carrying
frames of a 4-byte big-endian length and a pickle (protocol 5) of one message tuple.

Front -> worker: ``("init", config)`` first, then in order ``("apply", target, method, args,
kw)`` (configuration), ``("call", qid, target, method, args)`` (a query; answered by
``("reply", qid, ok, value)``), ``("ingest", data, src, now)``, ``("ingest_batch", [(data,
src, now), ...])``, ``("shared", topic, changes)``,
``("stop",)``.
Worker -> front: ``("ready", pid)``, replies, and ``("pushes", [(kind, payload), ...])``
(flow records, events, shared-table changes, log lines) sent before any later reply.
"""

from __future__ import annotations

import pickle
import socket
import struct

HEADER = struct.Struct("!I")
BUFFER = 4 * 1024 * 1024  # socket buffers: a large answer rarely blocks the writer


def frame(msg) -> bytes:
    body = pickle.dumps(msg, protocol=5)
    return HEADER.pack(len(body)) + body


def socketpair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for s in (a, b):
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            try:
                s.setsockopt(socket.SOL_SOCKET, opt, BUFFER)
            except OSError:
                pass
    return a, b


class Decoder:
    """Reassembles frames from a byte stream."""

    __slots__ = ("buf",)

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data: bytes) -> list:
        buf = self.buf
        buf += data
        out = []
        pos = 0
        size = len(buf)
        while size - pos >= 4:
            n = HEADER.unpack_from(buf, pos)[0]
            if size - pos - 4 < n:
                break
            out.append(pickle.loads(memoryview(buf)[pos + 4 : pos + 4 + n]))
            pos += 4 + n
        if pos:
            del buf[:pos]
        return out
