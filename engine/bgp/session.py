"""One BGP session over an accepted TCP connection (passive: the router connects to us).

Finite state machine from RFC 4271 §8 reduced to the passive side: on accept we send OPEN
(OpenSent), a valid OPEN from the peer moves to OpenConfirm (we answer KEEPALIVE), the peer's
KEEPALIVE moves to Established. Any protocol error sends a NOTIFICATION and closes; the
router's reconnect brings the session back.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time

from .. import log
from . import message as m

DEFAULT_HOLD = 180
CLOSE_GRACE = 5.0  # seconds a closed session's buffered messages get before an abort


def close_soon(transport, grace: float = CLOSE_GRACE) -> None:
    """Close after what is buffered is sent, but abort if the peer has not taken it within
    ``grace`` seconds: a peer that stopped reading must not keep a connection (and megabytes of
    buffered UPDATEs) alive until TCP gives up."""
    transport.close()
    try:
        asyncio.get_running_loop().call_later(grace, transport.abort)
    except RuntimeError:  # no loop (tests driving a session by hand)
        pass


class Session(asyncio.Protocol):
    def __init__(self, speaker, neighbor, peer_port: int = 0):
        self.speaker = speaker
        self.neighbor = neighbor
        self.peer_port = peer_port
        self.transport: asyncio.Transport | None = None
        self.state = "connect"
        self.buf = bytearray()
        self.as4 = False
        self.families: set = set()
        self.route_refresh = False
        # families whose NLRI the peer sends with ADD-PATH path identifiers (RFC 7911); None
        # when there are none, which keeps decode_update on its plain path
        self.add_path_rx: frozenset | None = None
        self.hold = 0
        self.hold_timer: asyncio.TimerHandle | None = None
        self.hold_limit = 0.0  # seconds the peer may stay silent (0: no hold timer)
        self.last_rx = 0.0
        self.keepalive_timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.ibgp = False
        self.messages_in = 0
        self.updates_in = 0

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        n = self.neighbor
        local_id = n.router_id or self._local_id(transport)
        self.transport.write(
            m.encode_open(
                n.local_as,
                self.speaker.hold_time,
                local_id,
                self.speaker.families_for(n),
                add_path={f: m.ADD_PATH_RECEIVE for f in self.speaker.add_path_families(n)},
            )
        )
        self.state = "opensent"
        self._arm_hold(240)  # RFC 4271: large hold time until the OPEN arrives

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        off, n = 0, len(buf)
        unpack, marker, check = m.HEADER.unpack_from, m.MARKER, m.check_header
        handle_update = self.speaker.handle_update
        try:
            while n - off >= 19 and not self.closed:
                mark, length, kind = unpack(buf, off)
                if n - off < length and mark == marker and 19 <= length <= m.MAX_MESSAGE:
                    break  # a well-formed header whose message has not fully arrived yet
                if (
                    kind != m.UPDATE
                    or mark != marker
                    or length < 23
                    or length > m.MAX_MESSAGE
                    or self.state != "established"
                ):
                    length, kind = check(buf, off)  # raises on a bad header
                    body = bytes(buf[off + 19 : off + length])
                    off += length
                    self._dispatch(kind, body)
                    continue
                # UPDATEs of an established session: the bulk of a table load
                body = bytes(buf[off + 19 : off + length])
                off += length
                self.messages_in += 1
                self.updates_in += 1
                self.last_rx = self._loop_time()
                handle_update(self, body)
        except m.BgpError as exc:
            self.fail(exc)
        except Exception as exc:  # a decoder bug must cost this session, never the engine
            log.log.error("BGP %s: unexpected error: %r", self.neighbor.address, exc, exc_info=exc)
            self.fail(m.BgpError(m.ERR_CEASE, 0, f"internal error: {exc}"))
        if off:
            del buf[:off]

    def connection_lost(self, exc) -> None:
        self._down(f"connection lost{': ' + str(exc) if exc else ''}")

    # -- messages -----------------------------------------------------------------------------
    def _dispatch(self, kind: int, body: bytes) -> None:
        self.messages_in += 1
        self.last_rx = self._loop_time()
        if kind == m.UPDATE:
            if self.state != "established":
                raise m.BgpError(m.ERR_FSM, 0, "UPDATE before session established")
            self.updates_in += 1
            self.speaker.handle_update(self, body)
        elif kind == m.KEEPALIVE:
            if self.state == "openconfirm":
                self._established()
            elif self.state != "established":
                raise m.BgpError(m.ERR_FSM, 0, f"KEEPALIVE in state {self.state}")
        elif kind == m.OPEN:
            if self.state != "opensent":
                raise m.BgpError(m.ERR_FSM, 0, f"OPEN in state {self.state}")
            self._open(m.decode_open(body))
        elif kind == m.NOTIFICATION:
            code, sub = body[0], body[1]
            (log.info if code == m.ERR_CEASE else log.warning)(
                f"BGP notification from {self.neighbor.address}: code {code} subcode {sub}"
            )
            self.close(f"notification {code}/{sub} received", send=None)
        elif kind == m.ROUTE_REFRESH:
            if self.state != "established":
                raise m.BgpError(m.ERR_FSM, 0, "ROUTE-REFRESH before session established")
            afi, subtype, safi = struct.unpack_from(">HBB", body, 0)
            # subtype 1/2 are enhanced route refresh markers (RFC 7313), not requests
            if subtype == 0 and (afi, safi) in self.families:
                self.speaker.send_pushed(self, afi, safi)

    def _open(self, o: m.Open) -> None:
        n = self.neighbor
        expected = n.options.get("peer_as")
        if expected and o.asn != expected:
            raise m.BgpError(m.ERR_OPEN, m.OPEN_PEER_AS, f"peer AS {o.asn}, expected {expected}")
        self.as4 = o.as4
        self.route_refresh = o.route_refresh
        self.families = o.families & self.speaker.families_for(n)
        # a peer that does not offer to send paths (or not for a family) falls back to one
        # path per prefix for it: that family's table replaces instead of adding
        rx = m.add_path_receive(self.speaker.add_path_families(n) & self.families, o)
        self.add_path_rx = rx or None
        self.speaker.opened(
            n,
            (m.AFI_IPV4, m.SAFI_UNICAST) in rx,
            (m.AFI_IPV6, m.SAFI_UNICAST) in rx,
            o.asn,
            o.bgp_id,
        )
        self.hold = min(o.hold, self.speaker.hold_time)
        self.ibgp = o.asn == n.local_as
        assert self.transport is not None  # an OPEN came in over it
        self.transport.write(m.KEEPALIVE_MSG)
        self.state = "openconfirm"
        if self.hold:
            self._arm_hold(self.hold)
            self._schedule_keepalive()
        else:
            self._cancel_hold()

    def _established(self) -> None:
        self.state = "established"
        n = self.neighbor
        n.start_time = int(time.time() * 1000)
        n.established_count += 1
        log.info(f"BGP open {n.address} {self.peer_port}")
        for afi, safi in sorted(self.families):
            self.speaker.send_pushed(self, afi, safi)
        self.speaker.session_up(self)

    # -- sending ------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def _schedule_keepalive(self) -> None:
        loop = asyncio.get_running_loop()
        interval = max(self.hold / 3.0, 1.0)

        def tick():
            if self.closed:
                return
            self.send(m.KEEPALIVE_MSG)
            self.keepalive_timer = loop.call_later(interval, tick)

        self.keepalive_timer = loop.call_later(interval, tick)

    def _arm_hold(self, seconds: float) -> None:
        """Expire when the peer is silent for `seconds`. Messages only stamp last_rx (re-arming
        a timer per message would cost more than decoding a small UPDATE); a check runs every
        quarter of the hold time."""
        self.hold_limit = seconds
        self.last_rx = self._loop_time()
        if self.hold_timer is not None:
            self.hold_timer.cancel()
        self.hold_timer = asyncio.get_running_loop().call_later(seconds / 4, self._hold_check)

    def _hold_check(self) -> None:
        self.hold_timer = None
        if self.closed or not self.hold_limit:
            return
        silent = self._loop_time() - self.last_rx
        if silent >= self.hold_limit:
            self.fail(m.BgpError(m.ERR_HOLD, 0, "hold timer expired"))
            return
        wait = min(self.hold_limit / 4, self.hold_limit - silent)
        self.hold_timer = asyncio.get_running_loop().call_later(max(wait, 0.05), self._hold_check)

    def _cancel_hold(self) -> None:
        self.hold_limit = 0.0
        if self.hold_timer is not None:
            self.hold_timer.cancel()
            self.hold_timer = None

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()

    # -- teardown -----------------------------------------------------------------------------
    def fail(self, exc: m.BgpError) -> None:
        # one line per peer a minute: a router retrying a bad OPEN must not flood the log
        self.speaker.refusals(
            ("error", self.neighbor.address),
            log.warning,
            f"BGP error {self.neighbor.address}: {exc} (notification {exc.code}/{exc.subcode})",
        )
        self.close(str(exc), send=m.notification(exc.code, exc.subcode, exc.data[:4000]))

    def close(self, reason: str, send: bytes | None = m.notification(m.ERR_CEASE, 0)) -> None:
        if self.closed:
            return
        if send is not None and self.transport is not None:
            try:
                self.transport.write(send)
            except Exception:
                pass
        self._down(reason)
        if self.transport is not None:
            close_soon(self.transport)

    def _down(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        was_established = self.state == "established"
        self.state = "idle"
        self._cancel_hold()
        if self.keepalive_timer is not None:
            self.keepalive_timer.cancel()
        self.speaker.session_down(self, reason, was_established)

    @staticmethod
    def _local_id(transport) -> str:
        """Without a configured id, use our IPv4 address on this connection (or 0.0.0.1)."""
        name = transport.get_extra_info("sockname")
        if name:
            addr = name[0]
            if addr.startswith("::ffff:"):
                addr = addr[7:]
            try:
                socket.inet_aton(addr)
                if addr.count(".") == 3:
                    return addr
            except OSError:
                pass
        return "0.0.0.1"
