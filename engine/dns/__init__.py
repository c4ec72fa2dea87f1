"""Reverse DNS for the ``dns:`` key function and forward lookups for ``dnsGetAllByName``.

``attach(engine)`` returns a :class:`~engine.dns.service.DnsService`
(``engine.subsystems["dns"]``): ``name(ip)`` (cache read, queues misses, never blocks),
``get_all_by_name(name)`` (blocking, for script threads), ``json()`` (counters), and
``async start()/stop()`` running the resolver task on the engine's event loop.
Properties and defaults: docs/enrichment.md.
"""

from __future__ import annotations

from . import keyfunc  # noqa: F401  registers dns:
from .service import DnsService


def attach(engine) -> DnsService:
    return DnsService(engine.props)
