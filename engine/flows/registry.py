"""Key-function registry: `group:`, `mask:`, `dns:`, `country:` ... are looked up here by name.

A key function is registered with a *factory*. When a flow definition is compiled, the parser
calls ``factory(args, engine)`` once, where each item of ``args`` is an ``Arg``:
  - ``arg.text``: the argument as written (escapes removed), for literals such as a group
    name, a delimiter or a bit count;
  - ``arg.key``: the argument compiled as a key (a plain attribute name or a nested
    ``[fn:...]``), a callable ``attrs -> value or None``.
The factory returns the extractor, a callable ``attrs -> value or None`` (None = the key is
missing for this sample, so the sample does not count for that flow), called once per sample.
Factories raise ``KeyFunctionError`` with a reason for bad arguments (the REST API answers
400 with it). Adding a key function is one ``register()`` call in the module that owns it.
An extractor that reads attributes other than its arguments' may list them in an optional
``uses`` attribute (e.g. ``mask:ipsource`` reads ``ipsourcemaskbits``) so that attribute
enrichers providing them run (engine/flows/__init__.py, ``add_enricher``).
An extractor ``fn(attrs) = None if key(attrs) is None else <answer for key(attrs)>`` that keeps
its answers in a dict may publish ``lookup_table = (key, holder, attr, complete)``: the table
is ``getattr(holder, attr)`` (read per sample, so it may be rebound) or ``holder`` itself when
attr is None, and the C pipeline answers ``table[value]`` without calling the extractor when
the value is there (when it is not: None if ``complete``, else it calls the extractor).
An extractor the C pipeline can compute itself publishes ``compiled``: ``("or", keys)`` (the
first of ``key(attrs)`` that is not None) or ``("null", key, default)``; the C pipeline then
never calls it, so its Python body must compute exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

Extractor = Callable[[dict], Any]
Factory = Callable[[list["Arg"], Any], Extractor]


class KeyFunctionError(ValueError):
    pass


@dataclass(frozen=True)
class Arg:
    text: str
    key: Extractor


KEY_FUNCTIONS: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> Factory:
    if name in KEY_FUNCTIONS and KEY_FUNCTIONS[name] is not factory:
        raise ValueError(f"key function {name}: already registered")
    KEY_FUNCTIONS[name] = factory
    return factory


def key_function(name: str):
    """Decorator form of register()."""

    def wrap(factory: Factory) -> Factory:
        return register(name, factory)

    return wrap
