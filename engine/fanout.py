"""Helpers for subsystems that may run without an engine (unit tests build a MetricStore or a
FlowEngine alone): the engine's gather/replicate/sync when there is one, the local call (or
nothing) otherwise. See engine/core.py and docs/ingest.md, "Workers"."""

from __future__ import annotations


def gather(engine, target: str, obj, method: str, *args) -> list:
    """``[obj.method(*args)]`` in process; on the front, one result per worker."""
    if engine is not None and getattr(engine, "cluster", None) is not None:
        return engine.gather(target, method, *args)
    return [getattr(obj, method)(*args)]


def replicate(engine, target: str, method: str, *args, **kw) -> None:
    """On the front: make the same call in every worker (after making it here)."""
    if engine is not None and getattr(engine, "cluster", None) is not None:
        engine.replicate(target, method, *args, **kw)


def sync(engine) -> None:
    """On the front: handle every record the workers made so far (journals, shared tables)."""
    if engine is not None and getattr(engine, "cluster", None) is not None:
        engine.sync()


def fronted(engine) -> bool:
    """True on the front of an engine with workers (it holds no samples)."""
    return engine is not None and getattr(engine, "cluster", None) is not None
