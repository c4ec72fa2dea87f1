"""Flow specs (sFlow-RT's setFlow / PUT /flow/{name}/json body): validation and defaults."""

from __future__ import annotations

import math
import re

from . import filters
from .ipfix_spec import check_definition
from .keys import KeyExpr, compile_key, split_key_list, split_top
from .registry import KeyFunctionError
from .values import ValueFunc

T_DEFAULT, T_MIN, T_MAX = 2.0, 0.2, 600.0
N_DEFAULT, N_MIN, N_MAX = 5, 1, 10000
ACTIVE_TIMEOUT_DEFAULT = 60.0
AGG_MODES = ("max", "sum", "edge", "core", "agent")

_NAME = re.compile(r"^[^/\\\s?#]{1,200}$")


def check_name(name) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"invalid name {name!r}")
    return name


def _bool(spec, name, default=False) -> bool:
    v = spec.get(name, default)
    if v is None:
        return default
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false", "yes", "no"):
        return v.lower() in ("true", "yes")
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    raise ValueError(f"{name} must be a boolean")


def number(spec, name, default) -> float:
    """spec[name] as a finite float (numbers as strings too); default when absent or null."""
    return to_number(spec.get(name), name, default)


def to_number(v, name: str, default):
    """An argument as a finite float: REST passes query-string text, scripts numbers or
    strings; ValueError(reason) otherwise; default for None."""
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError(f"{name} must be a number")
    try:
        f = float(v)
    except ValueError:
        raise ValueError(f"{name} must be a number") from None
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite")
    return f


def plain(x: float):
    """A float as JSON shows it in specs and events: 60.0 -> 60, 0.5 -> 0.5."""
    return int(x) if x == int(x) else x


def _history(v) -> bool | int:
    """``history``: record the definition's keys each history interval (docs/history.md).
    false/absent: no (unless ``history.flows`` asks); true: yes, at most ``history.keys`` keys
    per interval; a positive integer: yes, at most that many keys per interval."""
    if v is None or v is False:
        return False
    if v is True:
        return True
    if isinstance(v, str) and v.lower() in ("true", "false", "yes", "no"):
        return v.lower() in ("true", "yes")
    n = to_number(v, "history", None)
    if n != int(n) or n < 0:
        raise ValueError("history must be a boolean or a positive number of keys")
    return int(n) if n else False


class FlowSpec:
    """A validated definition. ``as_json()`` is what GET /flow/{name}/json returns."""

    def __init__(self, name: str, spec: dict, engine=None):
        if not isinstance(spec, dict):
            raise ValueError("flow spec must be a JSON object")
        self.name = check_name(name)
        self.raw = dict(spec)
        try:
            self.key_texts = split_key_list(spec.get("keys"))
            self.keys: list[KeyExpr] = [compile_key(k, engine) for k in self.key_texts]
            t = number(spec, "t", T_DEFAULT)
            if t <= 0:
                raise ValueError("t must be > 0")
            self.t = min(max(t, T_MIN), T_MAX)
            value = spec.get("value", "bytes")
            if value is None:
                value = "bytes"
            if not isinstance(value, str):
                raise ValueError("value must be a string")
            self.value = ValueFunc(value, engine, self.t)
            values = spec.get("values")
            if values is None or values == "":
                vtexts = []
            elif isinstance(values, str):
                vtexts = [v.strip() for v in split_top(values, ",")]
            elif isinstance(values, (list, tuple)) and all(isinstance(v, str) for v in values):
                vtexts = list(values)
            else:
                raise ValueError("values must be a string or an array of strings")
            self.values = [ValueFunc(v, engine, self.t) for v in vtexts]
            flt = spec.get("filter")
            if flt is not None and not isinstance(flt, str):
                raise ValueError("filter must be a string")
            self.filter_text = flt or ""
            self.filter = filters.parse(self.filter_text)
            filters.check(self.filter)
            self.filter_keys = [compile_key(k, engine) for k in filters.term_keys(self.filter)]
        except KeyFunctionError as exc:
            raise ValueError(str(exc)) from None
        except filters.FilterError as exc:
            raise ValueError(str(exc)) from None
        n = number(spec, "n", N_DEFAULT)
        if n != int(n) or n < 1:
            raise ValueError("n must be a positive integer")
        self.n = int(min(max(n, N_MIN), N_MAX))
        fs = spec.get("fs", ",")
        if not isinstance(fs, str):
            raise ValueError("fs must be a string")
        self.fs = fs
        self.log = _bool(spec, "log")
        self.flow_start = _bool(spec, "flowStart")
        self.dropped = _bool(spec, "dropped")
        self.active_timeout = number(spec, "activeTimeout", ACTIVE_TIMEOUT_DEFAULT)
        if self.active_timeout < 0:
            raise ValueError("activeTimeout must be >= 0")
        self.history = _history(spec.get("history"))
        agg = spec.get("aggMode")
        if agg is not None:
            if not isinstance(agg, str) or agg.lower() not in AGG_MODES:
                raise ValueError(f"aggMode must be one of {', '.join(AGG_MODES)}")
            agg = agg.lower()
        self.agg_mode = agg
        ipfix = spec.get("ipfixCollectors")
        self.ipfix_collectors: list = []  # [(address, port, family)]: docs/flows.md
        if ipfix is not None:
            self.ipfix_collectors = check_definition(self, ipfix)

    def referenced_names(self) -> set[str]:
        names: set[str] = set()
        for k in self.keys:
            names |= k.names
        for k in self.filter_keys:
            names |= k.names
        for v in [self.value, *self.values]:
            names |= v.key.names
        return names

    def as_json(self) -> dict:
        out: dict = {
            "keys": ",".join(self.key_texts),
            "value": self.value.text,
            "filter": self.filter_text or None,
            "t": self.t,
            "n": self.n,
            "fs": self.fs,
            "log": self.log,
            "flowStart": self.flow_start,
            "activeTimeout": self.active_timeout,
            "dropped": self.dropped,
        }
        if self.values:
            out["values"] = [v.text for v in self.values]
        if self.agg_mode is not None:
            out["aggMode"] = self.raw.get("aggMode")
        if self.filter_text == "":
            del out["filter"]
        for extra in ("ipfixCollectors", "history"):
            if extra in self.raw:
                out[extra] = self.raw[extra]
        for k in ("t", "activeTimeout"):
            out[k] = plain(out[k])
        return out
