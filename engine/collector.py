"""UDP sFlow listener feeding Engine.ingest.

Two receive paths (docs/ingest.md, "Receive path"):
- thread (default when the C extension engine._net is built): a native thread empties the
  socket into a bounded queue without the GIL; the event loop drains the queue in batches;
- asyncio: a datagram endpoint, one callback per datagram (sflow.receiver=asyncio,
  FLOWRT_NO_ACCEL=1, or no C extension).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time

from . import accel_disabled, log, native

_net = native.path("receiver")  # None: not built, not Linux, FLOWRT_NO_ACCEL (engine/native.py)

DEFAULT_QUEUE_BYTES = 64 * 1024 * 1024
# Datagrams that waited longer than this in the receive queue are dropped when dequeued and
# counted (sFlowQueueExpired): under overload the engine works on what is current rather than
# a backlog that only tells about the past (docs/ingest.md, "Overload").
DEFAULT_MAX_AGE = 1.0
# One drain callback ingests at most this many datagrams / this long, then yields to the loop
# so REST requests and script timers are served while ingest is saturated. Measured
# (bench_ingest.py, docs/ingest.md): 512/10 ms, 256/4 ms and 128/2 ms sustain the same rate;
# smaller slices answer REST sooner at saturation (a request needs several loop turns).
DRAIN_BATCH = 64
DRAIN_MAX = 256
DRAIN_SECONDS = 0.002


class SflowProtocol(asyncio.DatagramProtocol):
    def __init__(self, engine, ingest=None):
        self.ingest = ingest or engine.ingest
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


def open_socket(host: str, port: int, rcvbuf: int, reuse_port: bool = False) -> socket.socket:
    """Bind the sFlow socket. With no host, listen on every IPv4 and IPv6 address.
    ``reuse_port``: a member of the workers' SO_REUSEPORT group (engine/workers/steering.py)."""
    if host:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)
        family, addr = infos[0][0], infos[0][4]
    else:
        family, addr = (
            (socket.AF_INET6, ("::", port))
            if socket.has_ipv6
            else (socket.AF_INET, ("0.0.0.0", port))
        )
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6 and not host:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        set_receive_buffer(sock, rcvbuf)
        sock.bind(addr)
    except OSError:
        if family == socket.AF_INET6 and not host:
            # no IPv6 on this machine: fall back to IPv4 only
            sock.close()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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
    request = min(wanted, 2**31 - 1)  # setsockopt takes a C int; the kernel caps it anyway
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, request)
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
    if granted < wanted and SO_RCVBUFFORCE is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, request)
            granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        except OSError:
            pass
    if granted < wanted:
        log.warning(
            f"sFlow receive buffer {granted} bytes, less than sflow.rcvpktsbuffer={wanted}; "
            f"raise net.core.rmem_max"
        )
    return granted


class ThreadReceiver:
    """Transport-like handle (close()) of the native receive thread and its loop reader.

    A worker process (engine/workers/worker.py) passes ``after_batch()`` (called after each
    batch of datagrams: it publishes the counters) and ``should_yield()`` (True when its
    control socket has a message waiting: the slice ends early so queries are answered
    within one batch, not one slice)."""

    def __init__(
        self,
        engine,
        sock: socket.socket,
        capacity: int,
        loop: asyncio.AbstractEventLoop,
        max_age: float = DEFAULT_MAX_AGE,
        after_batch=None,
        should_yield=None,
    ):
        self.ingest_batch = engine.ingest_batch
        self.max_age = max(0.0, max_age)
        self.sock = sock
        self.loop = loop
        self.receiver = _net.Receiver(sock.fileno(), capacity)
        self.closed = False
        self._again: asyncio.Handle | None = None
        self.after_batch = after_batch
        self.should_yield = should_yield
        try:
            loop.add_reader(self.receiver.fileno(), self._drain)
        except BaseException:
            self.receiver.close()  # no thread may outlive a failed start
            raise
        engine.receive_queue = self.receiver

    def _drain(self) -> None:
        self._again = None
        if self.closed:
            return
        drain, ingest_batch, clock = self.receiver.drain, self.ingest_batch, time.perf_counter
        max_age = self.max_age
        after_batch, should_yield = self.after_batch, self.should_yield
        deadline = clock() + DRAIN_SECONDS
        n = 0
        while True:
            batch = drain(DRAIN_BATCH, max_age)
            try:
                ingest_batch(batch)
            except Exception as exc:  # ingest counts bad input itself; this is a bug
                log.log.error("ingest failed: %r", exc, exc_info=exc)
            if after_batch is not None:
                after_batch()
            if len(batch) < DRAIN_BATCH:
                return  # queue empty: the eventfd wakes us for the next datagram
            n += DRAIN_BATCH
            if (
                n >= DRAIN_MAX
                or clock() >= deadline
                or (should_yield is not None and should_yield())
            ):
                break
        # more queued: continue after whatever else the loop has ready
        self._again = self.loop.call_soon(self._drain)

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default=None):
        return self.sock if name == "socket" else default

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._again is not None:
            self._again.cancel()
        try:
            self.loop.remove_reader(self.receiver.fileno())
        except (ValueError, RuntimeError):  # loop already closed
            pass
        self.receiver.close()
        self.sock.close()


def max_age_property(props) -> float:
    """``sflow.receiver.maxage``: seconds a datagram may wait in the receive queue (0: no
    limit); a WARNING and the default for anything else than a number >= 0."""
    raw = props.get_str("sflow.receiver.maxage", "")
    if raw in (None, ""):
        return DEFAULT_MAX_AGE
    try:
        value = float(raw)
        if value >= 0:
            return value
    except ValueError:
        pass
    log.warning(
        f"sflow.receiver.maxage={raw!r} is not a number of seconds >= 0, using {DEFAULT_MAX_AGE:g}"
    )
    return DEFAULT_MAX_AGE


def receiver_kind(props) -> str:
    """'thread' or 'asyncio': what sflow.receiver asks for, limited to what can run here."""
    wanted = (props.get_str("sflow.receiver", "") or "thread").strip().lower()
    if wanted not in ("thread", "asyncio"):
        log.warning(f"sflow.receiver={wanted!r} is neither thread nor asyncio; using the default")
        wanted = "thread"
    if wanted == "asyncio":
        return "asyncio"
    if accel_disabled():
        return "asyncio"
    if _net is None:
        if props.get_str("sflow.receiver", ""):
            log.warning(
                "sflow.receiver=thread needs the C extension engine._net, which is not "
                "built; using asyncio"
            )
        return "asyncio"
    return "thread"


async def start(engine, loop: asyncio.AbstractEventLoop | None = None):
    """Bind the sFlow socket and start receiving. Returns (transport, port); the transport's
    close() stops reception. With ``sflow.workers`` >= 2 the engine becomes the front of that
    many worker processes, which receive instead (docs/ingest.md, "Workers")."""
    loop = loop or asyncio.get_running_loop()
    props = engine.props
    if engine.role == "single":
        from .workers import worker_count

        n = worker_count(props)
        if n >= 2:
            from .workers import cluster

            return await cluster.start(engine, n, loop)
    sock = open_socket(
        props.get_str("sflow.hostname", "") or "",
        props.get_int("sflow.port", 6343),
        props.get_int("sflow.rcvpktsbuffer", 2048000),
    )
    port = sock.getsockname()[1]
    transport = await receive(engine, sock, loop)
    log.info(f"Listening, sFlow port {port}")
    return transport, port


async def receive(
    engine,
    sock: socket.socket,
    loop: asyncio.AbstractEventLoop,
    ingest=None,
    after_batch=None,
    should_yield=None,
):
    """Start receiving on a bound socket with the receiver sflow.receiver asks for; returns
    the transport (close() stops it and closes the socket). ``ingest`` replaces
    engine.ingest on the asyncio path (a worker's, which also publishes its counters)."""
    kind = receiver_kind(engine.props)
    if kind == "thread":
        capacity = engine.props.get_int("sflow.receiver.buffer", DEFAULT_QUEUE_BYTES)
        max_age = max_age_property(engine.props)
        try:
            transport = ThreadReceiver(
                engine, sock, max(capacity, 65536), loop, max_age, after_batch, should_yield
            )
        except BaseException:
            sock.close()
            raise
        log.info(
            f"sFlow receiver: thread, {transport.receiver.stats()['capacity']} byte queue, "
            f"datagrams older than {max_age:g} s dropped"
            if max_age
            else f"sFlow receiver: thread, {transport.receiver.stats()['capacity']} byte queue"
        )
    else:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: SflowProtocol(engine, ingest), sock=sock
        )
        log.info("sFlow receiver: asyncio")
    return transport
