"""The C extensions, loaded in one place, and which paths run natively.

Every C path has a pure-Python twin (the reference it is tested against). This module imports
the extension modules, checks that each exports what this version of the Python code expects
(a stale build from an older checkout lacks names or refuses the setup call), and keeps, per
path, whether it runs in C and if not why:

- ``FLOWRT_NO_ACCEL=1``: the deliberate fallback (the pure-Python CI lane, bisecting a C bug);
- not built: no compiler at install time, or not Linux (ImportError);
- broken or stale: the module fails to import for another reason, lacks a name, or its setup
  call raised (then the whole module is left unused: a half-configured extension is worse
  than the Python path).

``log_status()`` logs the table once per process (the engine calls it on start);
``status()`` is the ``native`` field of /analyzer/json.

Extension modules and the paths they carry (setup.py builds them; all are optional):

=========================  ==================================================================
engine.sflow._accel        decoder (walker + flow keys, _accel.c), agents (_agents.c),
                           ingest (batch ingest, _ingest.c), counters (_counters.c)
engine.flows._fastpath     pipeline (per-sample flow update), scan (flow-cache sweeps)
engine._net                receiver (the collector's receive thread and batch sender)
=========================  ==================================================================
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

from . import accel_disabled, log


class Path(NamedTuple):
    name: str
    module: str
    needs: tuple  # names the module must export for this path
    python: str  # the fallback
    requires: tuple = ()  # paths it runs on: not native without them


PATHS = (
    Path(
        "decoder",
        "engine.sflow._accel",
        (
            "setup",
            "setup_walk",
            "decode_datagram",
            "flow_attributes",
            "flow_attributes_subset",
            "fast_attributes",
            "track_samples",
            "KEY_IDS",
        ),
        "engine/sflow/datagram.py + attributes.py",
    ),
    Path(
        "agents",
        "engine.sflow._accel",
        ("AgentRecord",),
        "engine/agents.py AgentStats",
        ("decoder",),
    ),
    Path(
        "ingest",
        "engine.sflow._accel",
        ("Ingest",),
        "engine/ingest.py ingest_python",
        ("decoder", "agents", "pipeline"),
    ),
    Path(
        "counters",
        "engine.sflow._accel",
        ("Ingest",),
        "engine/metrics/store.py update",
        ("ingest",),
    ),
    Path(
        "pipeline",
        "engine.flows._fastpath",
        ("Pipeline", "_C_API"),
        "engine/flows/pipeline.py generated function",
    ),
    Path("scan", "engine.flows._fastpath", ("scan",), "engine/flows/cache.py _python_scan"),
    Path("receiver", "engine._net", ("Receiver",), "asyncio datagram endpoint"),
)

_modules: dict[str, object] = {}  # module name -> module, or None when unusable
_reasons: dict[str, str] = {}  # module name -> why it is unusable
_path_reasons: dict[str, str] = {}  # path name -> why it is not native (beyond the module)
_logged = False


def module(name: str, tool: bool = False):
    """The extension module ``name`` (e.g. "engine.sflow._accel"), or None when it is disabled,
    not built, broken, or marked unusable by ``fail``. ``tool=True``: for test tools (the
    traffic generator), which use a built module whatever FLOWRT_NO_ACCEL says."""
    if tool:
        try:
            return importlib.import_module(name)
        except Exception:
            return None
    if name in _modules:
        return _modules[name]
    mod = None
    if accel_disabled():
        _reasons[name] = "FLOWRT_NO_ACCEL is set"
    else:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            reason = "not built" if exc.name == name else f"import failed: {exc}"
            _reasons[name] = reason
        except Exception as exc:  # a build for another Python, missing symbol, ...
            _reasons[name] = f"import failed: {exc.__class__.__name__}: {exc}"
    _modules[name] = mod
    return mod


def path(name: str):
    """The module carrying the C path ``name`` (see PATHS) when that path can run natively."""
    p = _PATHS[name]
    if p.name in _path_reasons:
        return None
    mod = module(p.module)
    if mod is None:
        return None
    missing = [n for n in p.needs if not hasattr(mod, n)]
    if missing:
        _path_reasons[p.name] = f"stale build: {p.module} lacks {', '.join(missing)}"
        return None
    for dep in p.requires:
        if path(dep) is None:
            return None  # not remembered: the dependency's reason is reported
    return mod


def fail(name: str, reason: str) -> None:
    """Mark extension module ``name`` unusable (its setup call failed: a stale build whose
    tables do not fit this Python code). Logged at once if the start-up table was already."""
    _modules[name] = None
    _reasons[name] = reason
    if _logged:
        log.log.warning("native: %s unusable (%s); its paths run in Python", name, reason)


def status() -> dict:
    """{path: {"native": bool, "module": name, "reason": why not (absent when native)}}."""
    out = {}
    for p in PATHS:
        native = path(p.name) is not None
        entry = {"native": native, "module": p.module}
        if not native:
            entry["reason"] = _reason(p)
            entry["python"] = p.python
        out[p.name] = entry
    return out


def _reason(p: Path) -> str:
    why = _path_reasons.get(p.name) or _reasons.get(p.module)
    if why is None:
        for dep in p.requires:
            if path(dep) is None:
                return f"needs the {dep} path ({_reason(_PATHS[dep])})"
        return "unknown"
    return why


def log_status(force: bool = False) -> None:
    """Log once per process which paths run natively and which fall back, and why. A broken
    or stale build is a warning (the engine runs, slower than it should); FLOWRT_NO_ACCEL
    and a missing build are information."""
    global _logged
    if _logged and not force:
        return
    _logged = True
    st = status()
    on = [n for n, e in st.items() if e["native"]]
    log.log.info("native paths: %s", ", ".join(on) if on else "none")
    for name, e in st.items():
        if e["native"]:
            continue
        reason = e["reason"]
        deliberate = reason in ("FLOWRT_NO_ACCEL is set", "not built")
        (log.log.info if deliberate else log.log.warning)(
            "native path %s falls back to Python (%s): %s", name, e["python"], reason
        )


def reset() -> None:
    """Forget what was loaded (tests that load a broken build on purpose)."""
    global _logged
    _modules.clear()
    _reasons.clear()
    _path_reasons.clear()
    _logged = False


_PATHS = {p.name: p for p in PATHS}
