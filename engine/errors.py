"""The engine's domain errors: what went wrong, by type, for REST and scripts to answer.

Engine functions raise these (never a bare KeyError) when the caller is at fault or a
subsystem cannot answer; anything else escaping an engine function is a bug. They are
rendered in one place each (docs/rest.md, "Errors"):

================  ===========================================  ==========  =====================
exception         meaning                                      REST        JavaScript
================  ===========================================  ==========  =====================
UnknownName       no flow/threshold/neighbor/... of that name  404         the global's declared
                                                                           answer (``[]``,
                                                                           ``null``), else Error
InvalidDefinition a definition or argument the engine refuses  400         Error (``false`` for
                  (also any ``ValueError``: the engine's                   the setters sFlow-RT
                  documented "bad argument")                               answers so)
NotRunning        the subsystem is off, absent or unreachable  503         Error
================  ===========================================  ==========  =====================

REST: ``engine.rest.error_middleware``; JavaScript: ``jsapi.script.Script._host`` with the
``unknown=`` answer of ``jsapi.registry.js_global``. They pickle as themselves (one ``reason``
argument), so an error raised in a worker process reaches the front with its type
(engine/workers/cluster.py ``gather``).
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of the domain errors; ``reason`` is the text REST and scripts show."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class UnknownName(EngineError):
    """A name (flow, threshold, BGP neighbor, baseline ...) the engine does not know.

    Deliberately not a KeyError: a KeyError from a bug must not read as "not found"."""


class InvalidDefinition(EngineError, ValueError):
    """A definition or argument the engine refuses. A ValueError, so the engine's many
    ``raise ValueError(...)`` checks and this named form are answered alike."""


class NotRunning(EngineError):
    """The subsystem asked is not running here (not attached, switched off, or its store is
    unreachable)."""


def not_running(name: str) -> NotRunning:
    """The one wording of "subsystem absent", REST and scripts alike."""
    return NotRunning(f"the {name} subsystem is not running")
