"""Asynchronous reverse-DNS for the ``dns:`` key function, and forward lookups for scripts.

The sample path calls :meth:`DnsService.name` (through the key function): a cache hit is one
dict lookup; a miss queues the address (de-duplicated, bounded) and answers None at once.
A task on the engine's event loop drains the queue with dnspython, at most ``dns.rate``
queries a second and ``dns.concurrency`` at a time, and writes answers into the cache. A
server that is down or slow only delays answers; the sample path never waits for it.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import time
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.inet
import dns.nameserver
import dns.resolver
import dns.reversename

from .. import log
from .cache import NameCache

_MISS = object()

DEFAULTS = {
    "dns.cache.size": 10000,  # entries, positive and negative together
    "dns.cache.timeout": 3600.0,  # seconds a name is kept
    "dns.cache.negative.timeout": 600.0,  # seconds "no name" (NXDOMAIN, no PTR) is kept
    "dns.cache.error.timeout": 60.0,  # seconds a failed lookup (timeout, SERVFAIL) is kept
    "dns.rate": 100.0,  # queries per second, at most
    "dns.concurrency": 16,  # queries outstanding, at most
    "dns.timeout": 2.0,  # seconds one lookup may take, retries included
    "dns.queue.size": 1000,  # addresses waiting for a lookup, at most
}


class DnsStats:
    __slots__ = ("queued", "dropped", "queries", "answers", "negative", "errors")

    def __init__(self):
        self.queued = self.dropped = self.queries = self.answers = self.negative = self.errors = 0

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}


def parse_servers(text: str | None) -> list[tuple[str, int]]:
    """``dns.servers``: comma list of ``addr``, ``addr:port`` or ``[v6addr]:port``."""
    out: list[tuple[str, int]] = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        host, port = item, 53
        if item.startswith("["):
            end = item.find("]")
            if end < 0:
                raise ValueError(f"dns.servers: bad address {item!r}")
            host, rest = item[1:end], item[end + 1 :]
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"dns.servers: bad address {item!r}")
                port = int(rest[1:])
        elif item.count(":") == 1:
            host, _, p = item.partition(":")
            port = int(p)
        if not dns.inet.is_address(host):
            raise ValueError(f"dns.servers: {host!r} is not an IP address")
        if not 0 < port < 65536:
            raise ValueError(f"dns.servers: bad port in {item!r}")
        out.append((host, port))
    return out


class DnsService:
    """engine.subsystems["dns"]."""

    def __init__(self, props: Any = None):
        get = lambda name, default: _prop(props, name, default)
        self.disabled = False
        try:
            self.servers = parse_servers(props.get("dns.servers") if props is not None else None)
        except ValueError as exc:
            # never fall back to the system resolvers: names were meant for other servers
            log.severe(f"{exc}; dns: lookups are off")
            self.servers, self.disabled = [], True
        self.positive_ttl = float(get("dns.cache.timeout", DEFAULTS["dns.cache.timeout"]))
        self.negative_ttl = float(
            get("dns.cache.negative.timeout", DEFAULTS["dns.cache.negative.timeout"])
        )
        self.error_ttl = float(get("dns.cache.error.timeout", DEFAULTS["dns.cache.error.timeout"]))
        self.rate = max(0.1, float(get("dns.rate", DEFAULTS["dns.rate"])))
        self.concurrency = max(1, int(get("dns.concurrency", DEFAULTS["dns.concurrency"])))
        self.timeout = max(0.01, float(get("dns.timeout", DEFAULTS["dns.timeout"])))
        self.queue_size = max(1, int(get("dns.queue.size", DEFAULTS["dns.queue.size"])))
        self.cache = NameCache(int(get("dns.cache.size", DEFAULTS["dns.cache.size"])))
        self.stats = DnsStats()
        self.pending: set = set()  # queued or being looked up
        self.queue: collections.deque = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._sleeping = False
        self._task: asyncio.Task | None = None
        self._lookups: set[asyncio.Task] = set()
        self._resolver = None

    # -- sample path -------------------------------------------------------------------------
    def name(self, ip):
        """Cached reverse name of ``ip``, or None (unknown yet, or no name). Never blocks."""
        name = self.cache.names.get(ip, _MISS)
        if name is _MISS:
            self.request(ip)
            return None
        return name

    def request(self, ip) -> None:
        """Queue a lookup of ``ip`` unless one is queued already or the queue is full."""
        pending = self.pending
        if ip in pending:
            return
        if len(pending) >= self.queue_size:
            self.stats.dropped += 1  # asked again by a later sample once there is room
            return
        pending.add(ip)
        self.queue.append(ip)
        self.stats.queued += 1
        loop, wake = self._loop, self._wake
        if self._sleeping and loop is not None and wake is not None:
            self._sleeping = False
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # loop closed while stopping
                pass

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._resolver = self._make_resolver(dns.asyncresolver.Resolver)
        for host, port in self.servers:
            log.info(f"DNS server {host}" + ("" if port == 53 else f" port {port}"))
        self._task = asyncio.create_task(self._run(), name="dns-resolver")

    async def stop(self) -> None:
        tasks = list(self._lookups)
        if self._task is not None:
            tasks.append(self._task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    def _make_resolver(self, cls):
        if self.disabled:
            return None
        if self.servers:
            r = cls(configure=False)
            r.nameservers = [dns.nameserver.Do53Nameserver(h, p) for h, p in self.servers]
        else:
            try:
                r = cls()
            except (dns.resolver.NoResolverConfiguration, OSError) as exc:
                log.warning(f"DNS: no system resolvers ({exc}); set dns.servers for dns: keys")
                return None
        r.lifetime = self.timeout
        r.timeout = min(r.timeout, self.timeout)
        return r

    # -- worker ------------------------------------------------------------------------------
    async def _run(self) -> None:
        queue, cache, wake = self.queue, self.cache, self._wake
        assert wake is not None  # start() makes it before the task
        slots = asyncio.Semaphore(self.concurrency)
        interval = 1.0 / self.rate
        burst = max(1.0, min(self.rate, float(self.concurrency)))
        tokens, last = burst, time.monotonic()
        while True:
            now = time.monotonic()
            cache.sweep(now)
            if not queue:
                self._sleeping = True
                if not queue:  # re-check: a request may have come in meanwhile
                    try:
                        await asyncio.wait_for(wake.wait(), 1.0)
                    except asyncio.TimeoutError:
                        pass
                self._sleeping = False
                wake.clear()
                continue
            tokens = min(burst, tokens + (now - last) * self.rate)
            last = now
            if tokens < 1.0:
                await asyncio.sleep((1.0 - tokens) * interval)
                continue
            await slots.acquire()
            ip = queue.popleft()
            tokens -= 1.0
            task = asyncio.create_task(self._lookup(ip, slots))
            self._lookups.add(task)
            task.add_done_callback(self._lookups.discard)

    async def _lookup(self, ip, slots: asyncio.Semaphore) -> None:
        stats = self.stats
        try:
            name, ttl = None, self.error_ttl
            try:
                if self._resolver is None:
                    raise dns.exception.DNSException("no resolver")
                qname = dns.reversename.from_address(str(ip))
                stats.queries += 1
                answer = await self._resolver.resolve(qname, "PTR", lifetime=self.timeout)
                name, ttl = answer.rrset[0].target.to_text(), self.positive_ttl
                stats.answers += 1
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                ttl = self.negative_ttl
                stats.negative += 1
            except (ValueError, dns.exception.SyntaxError):
                ttl = self.negative_ttl  # not an address: remember so it is not retried
                stats.negative += 1
            except (dns.exception.DNSException, OSError) as exc:
                stats.errors += 1
                if stats.errors <= 3 or stats.errors % 1000 == 0:
                    log.fine(f"DNS lookup of {ip} failed: {exc!r}")
            self.cache.put(ip, name, ttl, time.monotonic())
        finally:
            self.pending.discard(ip)
            slots.release()

    # -- scripts -----------------------------------------------------------------------------
    def get_all_by_name(self, name: str) -> list[str]:
        """Addresses of ``name`` (IPv4 first), for dnsGetAllByName(). Blocks for at most
        ``dns.timeout``; call it from a script thread, not the event loop. Raises LookupError
        when the name does not resolve."""
        name = str(name).strip()
        if not name:
            raise LookupError("dnsGetAllByName: empty name")
        if dns.inet.is_address(name):
            return [name]
        addrs: list[str] = []
        if self.disabled:
            raise LookupError(f"dnsGetAllByName {name}: dns.servers is invalid")
        if self.servers:
            resolver = self._make_resolver(dns.resolver.Resolver)
            for rdtype in ("A", "AAAA"):
                try:
                    answer = resolver.resolve(name, rdtype, lifetime=self.timeout, search=False)
                except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                    continue
                except dns.exception.DNSException as exc:
                    raise LookupError(f"dnsGetAllByName {name}: {exc}") from None
                addrs.extend(rr.address for rr in answer)
        else:
            # no dns.servers: the system resolver, so /etc/hosts applies as it would in Java
            try:
                infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
            except (socket.gaierror, UnicodeError) as exc:
                raise LookupError(f"dnsGetAllByName {name}: {exc}") from None
            for family in (socket.AF_INET, socket.AF_INET6):
                for fam, *_, sockaddr in infos:
                    if fam == family and sockaddr[0] not in addrs:
                        addrs.append(str(sockaddr[0]))
        if not addrs:
            raise LookupError(f"dnsGetAllByName {name}: unknown host")
        return addrs

    def json(self) -> dict:
        return {
            "servers": [f"{h}:{p}" for h, p in self.servers],
            "cacheSize": len(self.cache),
            "queued": len(self.pending),
            **self.stats.as_dict(),
        }


def _prop(props, name: str, default):
    if props is None:
        return default
    value = props.get(name)
    if value is None or str(value).strip() == "":
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0 or number != number:
        log.severe(f"property {name}={value!r} is not a positive number; using {default}")
        return default
    return number
