"""The table of JavaScript globals backed by Python functions. Other subsystems add their own,
all the same way: the ``js_global`` decorator.

    from jsapi.registry import js_global

    @js_global("bgpAddNeighbor", requires=("bgp",), loop=True, callbacks=True)
    def _add_neighbor(script, peer, local_as, router_id=None, options=None,
                      on_open=None, on_close=None):
        ...                               # on_open is a JSCallback (see below) or None
        return True

A module whose globals share options binds them once:
``bgp_global = functools.partial(js_global, requires=("bgp",), loop=True)``.
``register_global(name, fn, ...)`` is what the decorator calls (tests use it, with
``unregister_global``, for globals that exist during one test).

* ``fn(script, *args)``: ``script`` is the calling ``jsapi.script.Script`` (``script.engine``,
  ``script.id``, ``script.log_error`` ...); ``args`` are the JS arguments converted through JSON
  (numbers, strings, bools, None, lists, dicts; trailing ``undefined`` arguments are dropped).
* The return value goes back through JSON (None -> ``undefined``, ``NULL`` -> ``null``). Return
  ``RawJSON(text)`` to hand back text that already is JSON.
* Raising an exception throws a JS ``Error`` with ``str(exc)`` as message (``JSThrow(value)``
  throws ``value`` itself, e.g. a string; ``exc.js_name = "TypeError"`` picks the class).
* ``unknown``: what the global answers when the engine raises ``engine.errors.UnknownName``
  (e.g. ``[]`` for activeFlows of an unknown flow, ``NULL`` for null), as sFlow-RT answers;
  without it UnknownName throws like any error. Only UnknownName: a KeyError from a bug
  still throws.
* ``requires``: subsystem names (keys of ``engine.subsystems``) that must be present, else the
  global does not exist in scripts (calling it is a ReferenceError, as in sFlow-RT).
* ``loop=True``: run on the engine's event-loop thread (the script thread waits for it). Use it
  for anything touching engine state that the sample path mutates (flows, metrics, BGP tables).
  Without it the function runs on the script's own thread (good for blocking I/O, never for
  touching loop-owned state).
* ``callbacks=True``: JS functions among the arguments (also nested in objects) arrive as
  ``JSCallback`` objects: ``cb(*args)`` queues a call on the script's thread (never blocks,
  may be called from any thread); ``cb.release()`` forgets it when it will not be called again.

Register at import time of your subsystem module (jsapi.runtime is attached last, so every
registration made during other subsystems' import/attach is seen when scripts start).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


RAISE = object()  # ``unknown`` default: UnknownName throws


@dataclass(frozen=True)
class GlobalSpec:
    name: str
    fn: Callable[..., Any]
    requires: tuple[str, ...] = ()
    loop: bool = False
    callbacks: bool = False
    available: Callable[[Any], bool] | None = None
    unknown: Any = RAISE


GLOBALS: dict[str, GlobalSpec] = {}


def register_global(
    name: str,
    fn: Callable[..., Any],
    *,
    requires: tuple[str, ...] | list = (),
    loop: bool = False,
    callbacks: bool = False,
    available: Callable[[Any], bool] | None = None,
    unknown: Any = RAISE,
) -> Callable[..., Any]:
    """Expose ``fn`` to scripts as the global ``name`` (see module docstring)."""
    GLOBALS[name] = GlobalSpec(name, fn, tuple(requires), loop, callbacks, available, unknown)
    return fn


def js_global(name: str, **kw) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: ``@js_global("name", requires=..., loop=..., ...)`` registers the function
    it decorates (the keywords of register_global) and returns it unchanged."""

    def wrap(fn):
        return register_global(name, fn, **kw)

    return wrap


def unregister_global(name: str) -> None:
    GLOBALS.pop(name, None)


def available_globals(engine) -> list[GlobalSpec]:
    out = []
    for spec in GLOBALS.values():
        subsystems = getattr(engine, "subsystems", {}) if engine is not None else {}
        if any(req not in subsystems for req in spec.requires):
            continue
        if spec.available is not None:
            try:
                if not spec.available(engine):
                    continue
            except Exception:
                continue
        out.append(spec)
    return out


class RawJSON:
    """A host function result that is already JSON text."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


NULL = RawJSON("null")  # return this for JS null (None gives undefined)


class JSThrow(Exception):
    """Throw ``value`` (any JSON value, typically a string) in the calling script."""

    def __init__(self, value):
        super().__init__(str(value))
        self.value = value
