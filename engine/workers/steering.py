"""One UDP port, N sockets, one worker each: the SO_REUSEPORT group of the sFlow port and the
classic BPF program the kernel runs per datagram to pick a socket by the sFlow agent address
(docs/ingest.md, "Workers").

The program (SO_ATTACH_REUSEPORT_CBPF) sees the UDP payload, i.e. the sFlow datagram: version,
address type (1 IPv4, 2 IPv6) and agent address from offset 8, the same in v2, v4 and v5. It
returns ``worker_of`` below: the address as one 32-bit word (IPv6: its four words XORed),
multiplied by 0x9E3779B1 modulo 2**32, the high 16 bits, modulo N. A datagram shorter than
the words it reads makes the program return 0 (worker 0). Python computes the same function
for datagrams handed to ``Engine.ingest`` on the front.
"""

from __future__ import annotations

import ctypes
import socket
import struct

SO_ATTACH_REUSEPORT_CBPF = getattr(socket, "SO_ATTACH_REUSEPORT_CBPF", 51)
MIX = 0x9E3779B1

# classic BPF opcodes (linux/filter.h)
_LD_W_ABS = 0x00 | 0x00 | 0x20
_JEQ_K = 0x05 | 0x10 | 0x00
_JA = 0x05 | 0x00
_ALU_XOR_X = 0x04 | 0xA0 | 0x08
_ALU_MUL_K = 0x04 | 0x20 | 0x00
_ALU_RSH_K = 0x04 | 0x70 | 0x00
_ALU_MOD_K = 0x04 | 0x90 | 0x00
_TAX = 0x07 | 0x00
_RET_A = 0x06 | 0x10
_INSN = struct.Struct("HBBI")


def program(n: int) -> list[tuple[int, int, int, int]]:
    """The steering program for n sockets, as (code, jt, jf, k) instructions."""
    return [
        (_LD_W_ABS, 0, 0, 4),  # A = address type
        (_JEQ_K, 2, 0, 2),  # IPv6: skip to the XOR of its four words
        (_LD_W_ABS, 0, 0, 8),  # IPv4: A = the address
        (_JA, 0, 0, 10),  # to the mix
        (_LD_W_ABS, 0, 0, 8),
        (_TAX, 0, 0, 0),
        (_LD_W_ABS, 0, 0, 12),
        (_ALU_XOR_X, 0, 0, 0),
        (_TAX, 0, 0, 0),
        (_LD_W_ABS, 0, 0, 16),
        (_ALU_XOR_X, 0, 0, 0),
        (_TAX, 0, 0, 0),
        (_LD_W_ABS, 0, 0, 20),
        (_ALU_XOR_X, 0, 0, 0),
        (_ALU_MUL_K, 0, 0, MIX),  # mix: high bits depend on every bit of the address
        (_ALU_RSH_K, 0, 0, 16),
        (_ALU_MOD_K, 0, 0, n),
        (_RET_A, 0, 0, 0),
    ]


def worker_of(data: bytes, n: int) -> int:
    """The worker the steering program picks for datagram ``data`` (0 when too short)."""
    if n <= 1 or len(data) < 12:
        return 0
    if data[4:8] == b"\0\0\0\2":
        if len(data) < 24:
            return 0
        w = struct.unpack_from("!4I", data, 8)
        word = w[0] ^ w[1] ^ w[2] ^ w[3]
    else:
        word = struct.unpack_from("!I", data, 8)[0]
    return (((word * MIX) & 0xFFFFFFFF) >> 16) % n


def attach(sock: socket.socket, n: int) -> None:
    """Install the steering program on the reuseport group ``sock`` belongs to."""
    insns = program(n)
    code = ctypes.create_string_buffer(b"".join(_INSN.pack(*i) for i in insns))
    fprog = struct.pack("HL", len(insns), ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)


def open_group(host: str, port: int, rcvbuf: int, n: int) -> list[socket.socket]:
    """N sockets bound to one port (port 0: the first picks a free one) with the steering
    program attached; worker i reads socket i. OSError when the port is taken."""
    from ..collector import open_socket

    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            sock = open_socket(host, port, rcvbuf, reuse_port=True)
            socks.append(sock)
            port = sock.getsockname()[1]
        attach(socks[0], n)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks
