"""UDP sFlow listener: one asyncio datagram endpoint feeding Engine.ingest."""
from __future__ import annotations

import asyncio
import socket
import sys
import time

from . import log


class SflowProtocol(asyncio.DatagramProtocol):
    def __init__(self, engine):
        self.ingest = engine.ingest
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        src = addr[0]
        if src.startswith("::ffff:"):
            src = src[7:]
        self.ingest(data, src, time.time())

    def error_received(self, exc: Exception) -> None:
        log.fine(f"sFlow socket error: {exc}")


def open_socket(host: str, port: int, rcvbuf: int) -> socket.socket:
    """Bind the sFlow socket. With no host, listen on every IPv4 and IPv6 address."""
    if host:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)
        family, addr = infos[0][0], infos[0][4]
    else:
        family, addr = (socket.AF_INET6, ("::", port)) if socket.has_ipv6 else (socket.AF_INET, ("0.0.0.0", port))
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6 and not host:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        set_receive_buffer(sock, rcvbuf)
        sock.bind(addr)
    except OSError:
        if family == socket.AF_INET6 and not host:
            # no IPv6 on this machine: fall back to IPv4 only
            sock.close()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            set_receive_buffer(sock, rcvbuf)
            sock.bind(("0.0.0.0", port))
        else:
            sock.close()
            raise
    sock.setblocking(False)
    return sock


# Python's socket module does not export SO_RCVBUFFORCE; its Linux value is 33.
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform.startswith("linux") else None)


def set_receive_buffer(sock: socket.socket, wanted: int) -> int:
    """Ask for `wanted` bytes of receive buffer; warn when the kernel grants less.

    Linux reports double the granted size (it adds bookkeeping space), so compare halves.
    As root SO_RCVBUFFORCE can pass net.core.rmem_max; try it before giving up."""
    if wanted <= 0:
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    request = min(wanted, 2**31 - 1)   # setsockopt takes a C int; the kernel caps it anyway
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, request)
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
    if granted < wanted and SO_RCVBUFFORCE is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, request)
            granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        except OSError:
            pass
    if granted < wanted:
        log.warning(f"sFlow receive buffer {granted} bytes, less than sflow.rcvpktsbuffer={wanted}; "
                    f"raise net.core.rmem_max")
    return granted


async def start(engine, loop: asyncio.AbstractEventLoop | None = None):
    loop = loop or asyncio.get_running_loop()
    props = engine.props
    sock = open_socket(props.get_str("sflow.hostname", "") or "", props.get_int("sflow.port", 6343),
                       props.get_int("sflow.rcvpktsbuffer", 2048000))
    transport, protocol = await loop.create_datagram_endpoint(lambda: SflowProtocol(engine), sock=sock)
    port = sock.getsockname()[1]
    log.info(f"Listening, sFlow port {port}")
    return transport, port
