"""Server and utility globals (spec §3.1): version, properties, logging, shared and persistent
stores, handlers, include, formatting, syslog, graphite, DNS, md5, baselines."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from pathlib import Path

from engine import log
from engine.agents import agents_json
from engine.errors import UnknownName
from engine.metrics.store import flatten_agents

from . import baseline, formats, rewrite, store
from .registry import NULL, RawJSON, js_global


def _num(value, name: str, default=None):
    """sFlow-RT scripts pass numbers as strings too ('10'); accept both."""
    if value is None:
        return default
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    try:
        text = str(value).strip()
        return int(text) if text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        raise TypeError(f"{name}: number expected, got {value!r}") from None


# -- server ---------------------------------------------------------------------------------
@js_global("version")
def _version(script):
    return script.engine.version


@js_global("analyzer", loop=True)
def _analyzer(script):
    return script.engine.analyzer_json()


@js_global("agents", loop=True)
def _agents(script, selected=None):
    # the same selectors as metric(): addresses, host names, ALL, TOPOLOGY/EDGE/CORE
    if isinstance(selected, (list, tuple)):
        selected = [str(a) for a in flatten_agents(selected) if a is not None]
    return agents_json(script.engine, selected or None)


@js_global("getSystemProperty")
def _get_property(script, name):
    value = script.engine.props.get_str(str(name))
    return NULL if value is None else value


@js_global("getSystemPropertyNames")
def _get_property_names(script):
    return list(script.engine.props.names())


# -- logging: the prelude converts the message to a string ----------------------------------
@js_global("_logInfo")
def _log_info(script, msg=""):
    log.info(str(msg))


@js_global("_logWarning")
def _log_warning(script, msg=""):
    log.warning(str(msg))


@js_global("_logSevere")
def _log_severe(script, msg=""):
    log.severe(str(msg))


@js_global("_logFine")
def _log_fine(script, msg=""):
    log.fine(str(msg))


# -- handlers -------------------------------------------------------------------------------
@js_global("_memoryExceeded")
def _memory_exceeded(script, wanted=0):
    """buffers.js: the script asked for ArrayBuffer memory over script.memory; end the
    running call (terminated, so the script cannot catch it) and let the script die."""
    try:
        wanted = int(float(wanted))
    except (TypeError, ValueError, OverflowError):  # Infinity arrives as null
        wanted = 0
    script.buffer_overrun = max(wanted, script.runtime.memory_limit + 1)
    iso = script.isolate
    if iso is not None:
        iso.interrupt()


@js_global("_memoryPressure")
def _memory_pressure(script):
    """buffers.js: ArrayBuffer data passed half of script.memory; collect after this call so
    that dropped buffers are credited (V8 alone waits for tens of MB more)."""
    script.collect_wanted = True


@js_global("_setInterval")
def _set_interval(script, seconds=1):
    script.set_interval(float(_num(seconds, "seconds", 1)))


@js_global("_setHttpHandler")
def _set_http(script, enabled):
    script.http_handler = bool(enabled)


def _names(names):
    if names is None:
        return None
    if isinstance(names, str):
        return [n.strip() for n in names.split(",") if n.strip()]
    return [str(n) for n in names]


def _subscribe(script, kind: str, method: str, deliver: str, enabled, names) -> None:
    old = script.subscriptions.pop(kind, None)
    if old is not None:
        old()
    if enabled:
        sub = getattr(script.engine.subsystems["flows"], method)
        script.subscriptions[kind] = sub(getattr(script, deliver), _names(names))


@js_global("_setFlowHandler", requires=("flows",), loop=True)
def _set_flow_handler(script, enabled, names=None):
    _subscribe(script, "flows", "subscribe_flows", "deliver_flow", enabled, names)


@js_global("_setEventHandler", requires=("flows",), loop=True)
def _set_event_handler(script, enabled, names=None):
    _subscribe(script, "events", "subscribe_events", "deliver_event", enabled, names)


# -- include --------------------------------------------------------------------------------
@js_global("_include")
def _include(script, path):
    rt = script.runtime
    p = Path(str(path))
    candidates = [p] if p.is_absolute() else [rt.home / p, script.dir / p]
    # scripts may include files from their own folder tree only (an app: the app's folder)
    root = (script.dir.parent if script.app else script.dir).resolve()
    for cand in candidates:
        target = cand.resolve()
        try:
            target.relative_to(root)
        except ValueError:
            continue
        if target.is_file():
            code = target.read_text(encoding="utf-8")
            return {"code": rewrite.rewrite(code, toplevel_var=True), "name": rt.relative(target)}
    raise FileNotFoundError(f"include: cannot read {path} (only files under {rt.relative(root)})")


# -- shared (in memory, between scripts) and persistent stores ------------------------------
@js_global("sharedSet")
def _shared_set(script, key, value=None):
    rt = script.runtime
    with rt.shared_lock:
        if value is None:
            rt.shared.pop(str(key), None)
        else:
            rt.shared[str(key)] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@js_global("sharedGet")
def _shared_get(script, key):
    text = script.runtime.shared.get(str(key))
    return NULL if text is None else RawJSON(text)


@js_global("sharedDelete")
def _shared_delete(script, key):
    _shared_set(script, key, None)


@js_global("sharedKeys")
def _shared_keys(script):
    return sorted(script.runtime.shared)


def _store(script) -> store.Store:
    st = getattr(script, "_store", None)
    if st is None:
        st = script._store = store.Store(script.runtime.store_dir / script.id)
    return st


@js_global("storeSet")
def _store_set(script, key, value=None):
    if value is None:
        _store(script).delete(str(key))
    else:
        _store(script).set(str(key), value)


@js_global("storeGet")
def _store_get(script, key):
    text = _store(script).get_text(str(key))
    return NULL if text is None else RawJSON(text)


@js_global("storeDelete")
def _store_delete(script, key):
    return _store(script).delete(str(key))


@js_global("storeKeys")
def _store_keys(script):
    return _store(script).keys()


# -- formatting -----------------------------------------------------------------------------
@js_global("formatNumber")
def _format_number(script, number, pattern="#,##0.###", language=None, country=None):
    return formats.format_number(_num(number, "number", 0), str(pattern))


@js_global("formatDate")
def _format_date(script, date, pattern="yyyy-MM-dd'T'HH:mm:ssZ", language=None, country=None):
    return formats.format_date(date, str(pattern))


@js_global("md5")
def _md5(script, text):
    return hashlib.md5(str(text).encode("utf-8")).hexdigest()


# -- syslog and graphite --------------------------------------------------------------------
@js_global("syslog")
def _syslog(script, host, port=None, facility=None, severity=None, message=""):
    port = int(_num(port, "port", 514) or 514)
    facility = int(_num(facility, "facility", 16))
    severity = int(_num(severity, "severity", 5))
    if not 0 <= facility <= 23 or not 0 <= severity <= 7:
        raise ValueError("syslog: facility 0-23 and severity 0-7 expected")
    text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = f"<{facility * 8 + severity}>1 {stamp} {socket.gethostname()} sFlow-RT - - - {text}"
    infos = socket.getaddrinfo(str(host), port, type=socket.SOCK_DGRAM)
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.sendto(line.encode("utf-8"), addr)


@js_global("graphite")
def _graphite(script, host, port=None, metrics=None):
    port = int(_num(port, "port", 2003) or 2003)
    now = int(time.time())
    lines = "".join(f"{k} {v} {now}\n" for k, v in (metrics or {}).items())
    with socket.create_connection((str(host), port), timeout=script.runtime.http_timeout) as sock:
        sock.sendall(lines.encode("utf-8"))


# -- DNS ------------------------------------------------------------------------------------
@js_global("dnsGetAllByName")
def _dns_get_all_by_name(script, name):
    resolver = getattr(script.engine.subsystems.get("dns"), "get_all_by_name", None)
    if resolver is not None:
        return list(resolver(str(name)))
    try:
        infos = socket.getaddrinfo(str(name), None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise OSError(f"dnsGetAllByName: cannot resolve {name}: {exc.strerror or exc}") from None
    out = []
    for info in infos:
        addr = info[4][0]
        if addr not in out:
            out.append(addr)
    return out


# -- baselines (per script) -----------------------------------------------------------------
def _baselines(script) -> dict:
    b = getattr(script, "_baselines", None)
    if b is None:
        b = script._baselines = {}
    return b


@js_global("baselineCreate")
def _baseline_create(script, name, window=None, sensitivity=None, repeat=None):
    _baselines(script)[str(name)] = baseline.Baseline(
        int(_num(window, "window", baseline.WINDOW)),
        float(_num(sensitivity, "sensitivity", baseline.SENSITIVITY)),
        int(_num(repeat, "repeat", baseline.REPEAT)),
    )
    return True


def _baseline(script, name) -> baseline.Baseline:
    b = _baselines(script).get(str(name))
    if b is None:
        raise UnknownName(f"no baseline {name}")
    return b


@js_global("baselineCheck")
def _baseline_check(script, name, value):
    return _baseline(script, name).check(float(_num(value, "value", 0)))


@js_global("baselineStatistics")
def _baseline_statistics(script, name):
    return _baseline(script, name).statistics()


@js_global("baselineReset")
def _baseline_reset(script, name):
    return _baseline(script, name).reset()


@js_global("baselineDelete")
def _baseline_delete(script, name):
    _baselines(script).pop(str(name), None)
