"""Ingest on several cores: worker processes fed by one SO_REUSEPORT socket group, a front
process that runs REST, scripts and BGP and merges the workers' answers.

Design, properties and merge rules: docs/ingest.md, "Workers". Modules:

- ``steering``: the UDP socket group and the BPF program that picks a worker by agent address;
- ``protocol``: framing of the control socket between front and worker;
- ``stats``: analyzer counters in shared memory;
- ``cluster``: the front's side (start, supervise, restart, fan out, merge pushes);
- ``worker``: the worker process;
- ``zygote``: the prepared process workers are forked from.
The exact distributed top N behind activeFlows is engine/flows/topn.py, the metric() partial
aggregates engine/metrics/partial.py, the shared tables engine/shared.py.
"""

from __future__ import annotations

import os

WORKERS_PROPERTY = "sflow.workers"
WORKERS_ENV = "FLOWRT_WORKERS"  # replaces the default (not a value set as a property)
TIMEOUT_PROPERTY = "sflow.workers.timeout"
DEFAULT_TIMEOUT = 10.0


def available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def worker_count(props) -> int:
    """``sflow.workers`` (default: ``FLOWRT_WORKERS`` from the environment, else the CPUs this
    process may use). 1 = the in-process engine."""
    raw = props.get_str(WORKERS_PROPERTY, "") if props is not None else ""
    if raw in (None, ""):
        raw = os.environ.get(WORKERS_ENV, "")
    if raw in (None, ""):
        return available_cpus()
    try:
        n = int(float(raw))
    except ValueError:
        from .. import log

        log.warning(f"{WORKERS_PROPERTY} / {WORKERS_ENV}={raw!r} is not a number; using 1")
        return 1
    return max(1, min(n, 256))
