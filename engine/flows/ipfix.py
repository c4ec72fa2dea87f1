"""IPFIX (RFC 7011) export of a flow definition's cache: the ``ipfixCollectors`` attribute.

A definition with collectors gets an :class:`ExportTable` (a FlowTable) instead of a plain
one. Its flows are reported where logged flow records are (FlowTable.report: a flow ends, is
flushed every ``activeTimeout`` seconds, is evicted, or the definition is deleted or
replaced); each report becomes one IPFIX data record, packed at once (the entry's counters
restart after a flush) and queued. ``FlowEngine.tick`` calls :meth:`Exporter.flush` once a
second, which groups the queued records by observation domain (the sFlow agent) into messages
and sends them with non-blocking UDP. Nothing here runs per sample unless a definition exports
both ``bytes`` and ``frames`` (then ExportTable._update_both keeps the second total).

Choices (docs/flows.md, "IPFIX export"): one template per definition, built from its keys in
key order, then protocolIdentifier when the keys imply one, octetDeltaCount /
packetDeltaCount, flowStartMilliseconds, flowEndMilliseconds; template ids from 256, one per
exporting definition; one exporting process (:class:`Sender`, one socket per address
family) for all definitions; the observation domain id is the agent's IPv4 address as a
32-bit number (the low 32 bits of an IPv6 agent address); the template leads the first
message of a flush to a (collector, domain) whenever it was last sent there TEMPLATE_REFRESH
seconds ago or more (so always before the first records) and the message left; the sequence
number counts the data records sent to the (collector, domain) in the current transport
session (the family's socket: reopened, it restarts at 0) before the message. When the
engine stops, FlowEngine.stop exports what the caches still hold (ExportTable.close).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
import time
import zlib
from math import exp

from .. import log
from ..udp_sockets import FamilySockets
from .cache import FlowTable
from .ipfix_spec import (  # noqa: F401  (re-exported)
    _IP4,
    _IP6,
    _MAC,
    _U,
    DEFAULT_PORT,
    KEY_IES,
    VALUE_IES,
    check_definition,
    parse_collector,
)

FIRST_TEMPLATE_ID = 256
TEMPLATE_REFRESH = 30.0  # seconds between template re-sends to a domain
MAX_MESSAGE = 1400  # bytes: no IP fragmentation on Ethernet paths
MAX_PENDING = 200_000  # records queued between flushes; more are counted as dropped
MAX_DOMAINS = 65536  # agent -> domain id memo per definition (then cleared)
MAX_U64 = 0xFFFFFFFFFFFFFFFF  # octetDeltaCount / packetDeltaCount saturate here
VERSION = 10

IE_PROTOCOL = 4
IE_FLOW_START_MS, IE_FLOW_END_MS = 152, 153
_FMT = {
    (_U, 1): "B",
    (_U, 2): "H",
    (_U, 4): "I",
    (_MAC, 6): "6s",
    (_IP4, 4): "4s",
    (_IP6, 16): "16s",
}
_ZERO = {_MAC: bytes(6), _IP4: bytes(4), _IP6: bytes(16)}


# -- the template and the records -------------------------------------------------------------
class Template:
    """Fields of a definition's data records and the precompiled struct that packs them."""

    __slots__ = ("id", "fields", "getters", "struct", "set_bytes", "counters")

    def __init__(self, spec, template_id: int):
        self.id = template_id
        keys = [k.strip() for k in spec.key_texts]
        fields, fmt = [], "!"
        getters: list = []
        for i, k in enumerate(keys):
            ie, length, kind = KEY_IES[k]
            fields.append((ie, length))
            fmt += _FMT[kind, length]
            getters.append((i + 2, kind, length))
        if "ipprotocol" not in keys:
            # collectors show ports by protocol: carry the one the keys imply
            proto = None
            if "ip6nexthdr" in keys:
                proto = (keys.index("ip6nexthdr") + 2, _U, 1)
            elif any(k.startswith("tcp") for k in keys):
                proto = 6
            elif any(k.startswith("udp") for k in keys):
                proto = 17
            if proto is not None:
                fields.append((IE_PROTOCOL, 1))
                fmt += "B"
                getters.append(proto)
        names = [spec.value.text] + [v.text for v in spec.values]
        # (entry index of the total) for octetDeltaCount then packetDeltaCount
        self.counters = []
        for name in ("bytes", "frames"):
            if name in names:
                j = names.index(name)
                fields.append((VALUE_IES[name], 8))
                fmt += "Q"
                self.counters.append(2 if j == 0 else 4 + len(names))
        fields += [(IE_FLOW_START_MS, 8), (IE_FLOW_END_MS, 8)]
        fmt += "QQ"
        self.fields = fields
        self.getters = getters
        self.struct = struct.Struct(fmt)
        body = struct.pack("!HH", template_id, len(fields)) + b"".join(
            struct.pack("!HH", ie, length) for ie, length in fields
        )
        self.set_bytes = struct.pack("!HH", 2, 4 + len(body)) + body

    def pack(self, fk: tuple, e: list) -> bytes:
        vals: list = []
        for g in self.getters:
            if g.__class__ is int:
                vals.append(g)
                continue
            i, kind, length = g
            v = fk[i]
            if kind == _U:
                vals.append(v & ((1 << (8 * length)) - 1) if v.__class__ is int else 0)
            else:
                vals.append(_address(kind, v))
        for i in self.counters:
            x = e[i]
            # a delta beyond 64 bits (or an infinite one: RTFLOW doubles) saturates; NaN is 0
            vals.append((int(round(x)) if x < MAX_U64 else MAX_U64) if x > 0 else 0)
        vals.append(int(e[3] * 1000))
        vals.append(int(e[1] * 1000))
        return self.struct.pack(*vals)


def _address(kind: str, v) -> bytes:
    try:
        if kind == _IP4:
            return socket.inet_pton(socket.AF_INET, v)
        if kind == _IP6:
            return socket.inet_pton(socket.AF_INET6, v)
        b = bytes.fromhex(v)
        return b if len(b) == 6 else _ZERO[kind]
    except (TypeError, ValueError, OSError):
        return _ZERO[kind]


def domain_id(agent) -> int:
    """Observation domain of an sFlow agent: its IPv4 address as a number (the low 32 bits of
    an IPv6 address; a CRC-32 of anything else)."""
    try:
        return int(ipaddress.ip_address(agent)) & 0xFFFFFFFF
    except ValueError:
        return zlib.crc32(str(agent).encode())


# -- the exporting process --------------------------------------------------------------------
class Sender:
    """The exporting process, shared by every exporting definition of the process: one
    non-blocking UDP socket per address family (so a collector sees one transport session
    and one exporter per agent, as collectors such as nfcapd identify exporters by source
    address and observation domain), a template id per definition, the sequence number per
    (collector, domain) and when each template was last sent there."""

    def __init__(self):
        self.lock = threading.Lock()  # engines of one process (tests) tick in their threads
        self.family_sockets = FamilySockets(on_open=self._new_session)
        # per transport session (the family's socket, a collector) and domain; a new socket
        # is a new session (another source port): its sequence restarts at 0 with templates
        self.seq: dict[tuple, int] = {}  # (family, addr, port, domain) -> records
        self.template_sent: dict[tuple, float] = {}  # (family, addr, port, domain, id) -> time
        self.ids: set[int] = set()
        self.next_id = FIRST_TEMPLATE_ID

    @property
    def sockets(self) -> dict[int, socket.socket]:
        return self.family_sockets.by_family

    def _new_session(self, family: int) -> None:
        """The family's socket was (re)opened: forget the state of its old sessions."""
        for d in (self.seq, self.template_sent):
            for k in [k for k in d if k[0] == family]:
                del d[k]

    def acquire(self) -> int:
        """A template id no exporting definition uses; ids are not reused at once, so that a
        collector does not apply an old template to a new definition's records."""
        with self.lock:
            if len(self.ids) >= 65536 - FIRST_TEMPLATE_ID:
                raise ValueError("ipfixCollectors: too many exporting definitions")
            while self.next_id in self.ids:
                self.next_id = self.next_id + 1 if self.next_id < 65535 else FIRST_TEMPLATE_ID
            tid = self.next_id
            self.ids.add(tid)
            self.next_id = tid + 1 if tid < 65535 else FIRST_TEMPLATE_ID
            return tid

    def release(self, tid: int) -> None:
        with self.lock:
            self.ids.discard(tid)
            for k in [k for k in self.template_sent if k[4] == tid]:
                del self.template_sent[k]
            if not self.ids:
                self.family_sockets.close_all()
                self.seq.clear()
                self.template_sent.clear()

    def send(self, exporter: "Exporter", pending: dict, now: float) -> None:
        """Messages of up to MAX_MESSAGE bytes per collector and domain; the template leads
        the first message of a domain when it was last sent there TEMPLATE_REFRESH ago."""
        tmpl = exporter.template
        size = tmpl.struct.size
        export_time = int(now) & 0xFFFFFFFF
        data_head = struct.pack("!H", tmpl.id)
        with self.lock:
            for addr, port, family in exporter.collectors:
                try:
                    self.family_sockets.get(family)  # before the session state is read
                except OSError as exc:  # EMFILE, no IPv6, ...
                    for recs in pending.values():
                        exporter.sent(exc, len(recs))
                    continue
                for dom, recs in pending.items():
                    i = 0
                    tkey = (family, addr, port, dom, tmpl.id)
                    skey = (family, addr, port, dom)
                    while i < len(recs):
                        head = b""
                        last = self.template_sent.get(tkey)
                        if last is None or now - last >= TEMPLATE_REFRESH:
                            head = tmpl.set_bytes
                        room = max(1, (MAX_MESSAGE - 20 - len(head)) // size)
                        chunk = recs[i : i + room]
                        i += len(chunk)
                        data = b"".join(chunk)
                        sets = head + data_head + struct.pack("!H", 4 + len(data)) + data
                        seq = self.seq.get(skey, 0)
                        # records of a refused message count too: the collector sees the loss
                        self.seq[skey] = (seq + len(chunk)) & 0xFFFFFFFF
                        msg = (
                            struct.pack("!HHIII", VERSION, 16 + len(sets), export_time, seq, dom)
                            + sets
                        )
                        exc = self._sendto(family, msg, addr, port)
                        if head and exc is None:
                            # only a template that left counts as sent (else the next
                            # message carries it again)
                            self.template_sent[tkey] = now
                        exporter.sent(exc, len(chunk))

    def _sendto(self, family: int, msg: bytes, addr: str, port: int):
        try:
            self.family_sockets.get(family).sendto(msg, (addr, port))
            return None
        except OSError as exc:  # full buffer (EAGAIN/ENOBUFS), unreachable, ...
            return exc


SENDER = Sender()


class Exporter:
    """Queues the records of one definition until the next flush."""

    def __init__(self, spec, sender: Sender):
        self.name = spec.name
        self.sender = sender
        self.template = Template(spec, sender.acquire())
        self.collectors = list(spec.ipfix_collectors)
        self.pending: dict[int, list[bytes]] = {}  # domain -> packed records
        self.npending = 0
        self.domains: dict[str, int] = {}  # agent -> domain id
        self.records = self.messages = self.errors = self.dropped = 0
        self.closed = False

    def add(self, table, fk: tuple, e: list) -> None:
        """FlowTable.report: one flow's counts since its last report (the table resets the
        primary total; the second one is reset here)."""
        rec = None
        if self.closed:
            pass
        elif self.npending >= MAX_PENDING:
            self.dropped += 1
        else:
            try:
                rec = self.template.pack(fk, e)
            except Exception as exc:  # never into the sample path or the tick
                self.dropped += 1
                log.fine(f"flow {self.name}: IPFIX record not encoded: {exc!r}")
        # the period ends for the second total as for the table's, sent or not: the next
        # record holds the deltas of one period for both counters
        for i in self.template.counters:
            if i != 2:
                e[i] = 0
        if rec is None:
            return
        agent = fk[0]
        domains = self.domains
        dom = domains.get(agent)
        if dom is None:
            if len(domains) >= MAX_DOMAINS:
                domains.clear()
            dom = domains[agent] = domain_id(agent)
        self.pending.setdefault(dom, []).append(rec)
        self.npending += 1

    def flush(self, now: float | None = None) -> None:
        """Send what is queued (FlowEngine.tick, once a second)."""
        if not self.npending or self.closed:
            return
        pending, self.pending, self.npending = self.pending, {}, 0
        self.sender.send(self, pending, time.time() if now is None else now)

    def sent(self, exc, records: int) -> None:
        self.messages += 1
        if exc is None:
            self.records += records
            return
        self.errors += 1
        if self.errors <= 3 or self.errors % 10000 == 0:
            log.log.warning(
                "flow %s: IPFIX send failed (%d errors): %r", self.name, self.errors, exc
            )

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sender.release(self.template.id)

    def stats(self) -> dict:
        return {
            "templateId": self.template.id,
            "records": self.records,
            "messages": self.messages,
            "errors": self.errors,
            "dropped": self.dropped,
            "pending": self.npending,
        }


class ExportTable(FlowTable):
    """The flow cache of a definition with ipfixCollectors."""

    exporter: Exporter

    def __init__(self, spec, max_entries, emit_record, now):
        super().__init__(spec, max_entries, emit_record, now)
        self.exporter = Exporter(spec, SENDER)  # looked up now: tests swap SENDER
        if len(self.vfuncs) == 2:
            # bytes and frames: the pipeline calls this instead of FlowTable.update
            self.update = self._update_both  # type: ignore[method-assign]  # per instance

    def _update_both(self, fk: tuple, xs: tuple, rate, now: float) -> list:
        """FlowTable.update for two plain sums, with the same float operations, that also
        keeps the second value's total (for the IPFIX record) after the value states:
        entry [rate, last, total, start, state0, state1, total1]."""
        x0, x1 = xs
        s0 = x0 * rate
        s1 = x1 * rate if x1 is not None else 0
        inv_t = self.inv_t
        entries = self.entries
        e = entries.get(fk)
        if e is None:
            if len(entries) >= self.max_entries:
                self.prune(now)
            r0 = s0 * inv_t
            e = [r0, now, s0, now, r0, s1 * inv_t, s1]
            entries[fk] = e
            if self.spec.log and self.spec.flow_start:
                self.emit_record(self, fk, s0, now, now)
        else:
            dt = now - e[1]
            if dt > 0.0:
                d = exp(-dt * inv_t)
                e[4] = e[4] * d + s0 * inv_t
                e[5] = e[5] * d + s1 * inv_t
            else:
                e[4] += s0 * inv_t
                e[5] += s1 * inv_t
            e[0] = e[4]
            e[1] = now
            e[2] += s0
            e[6] += s1
        if e[0] > self.th_min:
            self.check_thresholds(fk, e, now)
        return e

    def clear(self, now: float) -> None:
        super().clear(now)
        self.exporter.flush(now)
        self.exporter.close()

    def close(self, now: float) -> None:
        """The engine stops: export the counts not reported yet (as records ending at each
        flow's last sample), send them and close; the cache itself is left as it is."""
        exporter = self.exporter
        for fk, e in self.entries.items():
            if e[2] > 0:
                exporter.add(self, fk, e)
                if self.intervals is not None:
                    self.intervals.restart(fk, e)
                e[2] = 0.0
        exporter.flush(now)
        exporter.close()
