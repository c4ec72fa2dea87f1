"""dns: and dnsGetAllByName against a real DNS server (NSD on loopback) and a silent one."""

from __future__ import annotations

import asyncio
import time

import pytest

import engine.flows.keyfuncs  # noqa: F401  built-in or:, suffix:, null:
from engine.dns.cache import NameCache
from engine.dns.service import DnsService, parse_servers
from engine.flows.keys import compile_key
from dns_support import NSD, Nsd, SilentServer
from waiting import async_wait_until as wait_until

needs_nsd = pytest.mark.skipif(NSD is None, reason="nsd (Debian package nsd) not installed")

PTR = {
    "192.0.2.10": "host10.example.test.",
    "192.0.2.11": "second.example.test.",
    "2001:db8::10": "host6.example.test.",
}
HOSTS = {
    "www.example.test": ["192.0.2.80", "2001:db8::80", "192.0.2.81"],
    "v6only.example.test": ["2001:db8::99"],
}


class FakeEngine:
    def __init__(self, service):
        self.subsystems = {"dns": service}


@pytest.fixture
def nsd(tmp_path):
    server = Nsd(tmp_path / "nsd", ptr=PTR, hosts=HOSTS).start()
    yield server
    server.stop()


def run_service(props: dict, body, timeout: float = 20):
    """Start a DnsService on a fresh event loop, run body(service) (a coroutine), stop it."""

    async def main():
        service = DnsService(props)
        await service.start()
        try:
            return await asyncio.wait_for(body(service), timeout)
        finally:
            await service.stop()

    return asyncio.run(main())


# -- pure units --------------------------------------------------------------------------------
def test_parse_servers():
    assert parse_servers("10.0.0.1") == [("10.0.0.1", 53)]
    assert parse_servers(" 10.0.0.1:5353 , [2001:db8::1]:53000,::1") == [
        ("10.0.0.1", 5353),
        ("2001:db8::1", 53000),
        ("::1", 53),
    ]
    assert parse_servers("") == [] and parse_servers(None) == []
    for bad in ("dns.example.com", "10.0.0.1:0", "[::1", "10.0.0.1:99999"):
        with pytest.raises(ValueError):
            parse_servers(bad)


def test_name_cache_expiry_and_eviction():
    c = NameCache(3)
    c.put("a", "a.test.", 10, now=0)
    c.put("b", None, 5, now=0)
    c.put("c", "c.test.", 10, now=0)
    assert c.names == {"a": "a.test.", "b": None, "c": "c.test."}
    c.put("d", "d.test.", 10, now=1)  # full: the oldest ("a") goes
    assert "a" not in c.names and len(c) == 3
    assert c.sweep(now=4) == 0
    assert c.sweep(now=5) == 1 and "b" not in c.names
    c.put("c", "c2.test.", 100, now=6)  # refreshed: its old expiry no longer applies
    assert c.sweep(now=20) == 1  # only "d"
    assert c.names == {"c": "c2.test."}
    for i in range(100):  # heap stays bounded under churn
        c.put("c", f"n{i}", 100, now=7)
    assert len(c.heap) <= 4 * c.size + 64


def test_misses_are_queued_once_bounded_and_never_block():
    service = DnsService({"dns.queue.size": "10", "dns.servers": "127.0.0.1:9"})
    key = compile_key("dns:ipsource", FakeEngine(service)).extract
    for _ in range(3):
        for i in range(50):
            assert key({"ipsource": f"198.51.100.{i}"}) is None
    assert key({}) is None
    assert len(service.pending) == 10 and len(service.queue) == 10  # de-duplicated, bounded
    assert service.stats.queued == 10
    assert service.stats.dropped == 40 * 3
    # an answer already in the cache is returned without any lookup
    service.cache.put("198.51.100.200", "known.test.", 60, time.monotonic())
    assert key({"ipsource": "198.51.100.200"}) == "known.test."
    assert service.stats.queued == 10


def test_key_function_needs_the_subsystem():
    from engine.flows.registry import KeyFunctionError

    with pytest.raises(KeyFunctionError, match="dns"):
        compile_key("dns:ipsource", FakeEngine(None))
    with pytest.raises(KeyFunctionError, match="dns:<ipkey>"):
        compile_key("dns:ipsource:extra", FakeEngine(DnsService({})))


# -- a real server -----------------------------------------------------------------------------
@needs_nsd
def test_reverse_names_from_a_real_server(nsd):
    async def body(service):
        eng = FakeEngine(service)
        key = compile_key("dns:ipsource", eng).extract
        key6 = compile_key("dns:ip6source", eng).extract
        fallback = compile_key("or:[dns:ipsource]:ipsource", eng).extract
        domain = compile_key("suffix:[dns:ipsource]:.:3", eng).extract
        a = {"ipsource": "192.0.2.10"}
        assert key(a) is None and fallback(a) == "192.0.2.10"  # unknown yet: fall back
        for _ in range(100):  # asked again and again
            key(a)
        key6({"ip6source": "2001:db8::10"})
        key({"ipsource": "192.0.2.11"})
        key({"ipsource": "192.0.2.99"})  # in the zone, no PTR
        key({"ipsource": "not-an-address"})
        await wait_until(lambda: not service.pending)
        assert key(a) == "host10.example.test."
        assert fallback(a) == "host10.example.test."
        # the blog's example: xenvm11.sf.inmon.com. becomes inmon.com.
        assert domain(a) == "example.test."
        assert key6({"ip6source": "2001:db8::10"}) == "host6.example.test."
        assert key({"ipsource": "192.0.2.11"}) == "second.example.test."
        assert key({"ipsource": "192.0.2.99"}) is None
        assert fallback({"ipsource": "192.0.2.99"}) == "192.0.2.99"
        s = service.stats
        assert s.queued == 5 and s.queries == 4  # one lookup per address; bad one none
        assert s.answers == 3 and s.negative == 2 and s.errors == 0
        # negative answers are cached too: asking again queues nothing
        key({"ipsource": "192.0.2.99"})
        assert not service.pending and s.queued == 5

    run_service({"dns.servers": nsd.server}, body)


@needs_nsd
def test_cache_timeout_makes_names_be_looked_up_again(nsd):
    async def body(service):
        key = compile_key("dns:ipsource", FakeEngine(service)).extract
        key({"ipsource": "192.0.2.10"})
        await wait_until(lambda: key({"ipsource": "192.0.2.10"}) is not None)
        await wait_until(lambda: "192.0.2.10" not in service.cache.names, timeout=5)
        assert key({"ipsource": "192.0.2.10"}) is None  # expired: queued again
        await wait_until(lambda: key({"ipsource": "192.0.2.10"}) == "host10.example.test.")
        assert service.stats.queries == 2

    run_service({"dns.servers": nsd.server, "dns.cache.timeout": "0.3"}, body)


@needs_nsd
def test_cache_size_bounds_the_names_kept(nsd):
    async def body(service):
        key = compile_key("dns:ipsource", FakeEngine(service)).extract
        for i in range(20):
            key({"ipsource": f"192.0.2.{i + 100}"})
        await wait_until(lambda: not service.pending)
        assert len(service.cache) == 5

    run_service({"dns.servers": nsd.server, "dns.cache.size": "5"}, body)


@needs_nsd
def test_get_all_by_name(nsd):
    service = DnsService({"dns.servers": nsd.server})
    assert service.get_all_by_name("www.example.test") == [
        "192.0.2.80",
        "192.0.2.81",
        "2001:db8::80",
    ]
    assert service.get_all_by_name("v6only.example.test.") == ["2001:db8::99"]
    assert service.get_all_by_name("192.0.2.7") == ["192.0.2.7"]
    with pytest.raises(LookupError, match="nothere.example.test"):
        service.get_all_by_name("nothere.example.test")
    with pytest.raises(LookupError):
        service.get_all_by_name("")


def test_get_all_by_name_without_servers_uses_the_system_resolver():
    service = DnsService({})
    assert "127.0.0.1" in service.get_all_by_name("localhost")
    with pytest.raises(LookupError):
        service.get_all_by_name("no-such-host.invalid")


def test_get_all_by_name_against_a_silent_server_times_out():
    silent = SilentServer()
    try:
        service = DnsService({"dns.servers": silent.server, "dns.timeout": "0.3"})
        with pytest.raises(LookupError):
            service.get_all_by_name("www.example.test")
        assert silent.received() >= 1
    finally:
        silent.close()


# -- a server that is down or slow -------------------------------------------------------------
def test_silent_server_costs_nothing_on_the_sample_path():
    silent = SilentServer()

    async def body(service):
        key = compile_key("or:[dns:ipsource]:ipsource", FakeEngine(service)).extract
        # a burst of distinct addresses, many times over, while nothing answers
        for rnd in range(5):
            for i in range(2000):
                ip = f"10.{rnd}.{i // 256}.{i % 256}"
                assert key({"ipsource": ip}) == ip
            await asyncio.sleep(0)
        assert len(service.pending) <= 50  # bounded by dns.queue.size
        assert service.stats.dropped >= 10000 - 50
        # lookups in flight are capped by dns.concurrency
        await wait_until(lambda: service.stats.queries >= 4)
        assert len(service._lookups) <= 4
        # they fail after dns.timeout and are remembered as failures (no retry storm)
        await wait_until(lambda: service.stats.errors >= 4, timeout=10)
        failed = [ip for ip, name in service.cache.names.items() if name is None]
        assert failed and all(key({"ipsource": ip}) == ip for ip in failed)
        assert silent.received() >= 1

    try:
        run_service(
            {
                "dns.servers": silent.server,
                "dns.queue.size": "50",
                "dns.concurrency": "4",
                "dns.timeout": "0.3",
                "dns.rate": "1000",
            },
            body,
        )
    finally:
        silent.close()


def test_rate_limit_spaces_out_queries():
    silent = SilentServer()

    async def body(service):
        key = compile_key("dns:ipsource", FakeEngine(service)).extract
        for i in range(40):
            key({"ipsource": f"203.0.113.{i}"})
        start = time.monotonic()
        await asyncio.sleep(1.0)
        elapsed = time.monotonic() - start
        burst = min(service.rate, service.concurrency)
        assert 1 <= service.stats.queries <= burst + service.rate * elapsed + 1
        assert len(service.pending) >= 40 - (burst + service.rate * elapsed + 1)

    try:
        run_service(
            {
                "dns.servers": silent.server,
                "dns.rate": "5",
                "dns.concurrency": "40",
                "dns.timeout": "5",
            },
            body,
        )
    finally:
        silent.close()


def test_bad_properties_are_reported_and_do_not_reach_other_servers(caplog):
    service = DnsService(
        {"dns.servers": "dns.example.com", "dns.cache.size": "lots", "dns.rate": "-5"}
    )
    assert service.disabled and service.servers == []
    assert service.cache.size == 10000 and service.rate == 100.0  # the defaults
    with pytest.raises(LookupError, match="dns.servers"):
        service.get_all_by_name("www.example.test")

    async def body(service):
        key = compile_key("dns:ipsource", FakeEngine(service)).extract
        assert key({"ipsource": "192.0.2.10"}) is None
        await wait_until(lambda: not service.pending)
        assert service.stats.queries == 0 and service.stats.errors == 1
        assert key({"ipsource": "192.0.2.10"}) is None and not service.pending  # remembered

    run_service({"dns.servers": "dns.example.com"}, body)
