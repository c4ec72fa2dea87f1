"""Flow-key expressions: ``ipsource``, ``mask:ipsource:24``, ``prefix:[uri:httpurl:path]:/:2``.

An expression is a plain attribute name or ``fn:arg:arg...``; an argument is literal text or a
nested expression in ``[...]``; ``\\`` escapes the next character (``\\:`` is a literal colon).
Expressions are compiled once per definition into extractors ``attrs -> value | None``.
"""

from __future__ import annotations

from operator import methodcaller
from typing import Any

from ..limits import KEY_MAX_DEPTH, bracket_depth
from . import registry
from .registry import Arg, KeyFunctionError


def split_top(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside brackets; escapes are kept (unescape() removes them)."""
    if "[" not in text and "]" not in text and "\\" not in text:
        return text.split(sep)  # nothing nested, nothing escaped: a plain split
    parts, buf, depth, i, n = [], [], 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            buf.append(text[i : i + 2])
            i += 2
            continue
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth < 0:
                raise KeyFunctionError(f"unbalanced ']' in {text!r}")
        elif c == sep and depth == 0:
            parts.append("".join(buf))
            buf = []
            i += 1
            continue
        buf.append(c)
        i += 1
    if depth != 0:
        raise KeyFunctionError(f"unbalanced '[' in {text!r}")
    parts.append("".join(buf))
    return parts


def unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def split_key_list(keys) -> list[str]:
    """``keys`` of a flow spec: comma string (commas inside [...] or escaped are kept) or list."""
    if keys is None:
        return []
    if isinstance(keys, str):
        items = split_top(keys, ",") if keys.strip() else []
    elif isinstance(keys, (list, tuple)):
        items = []
        for k in keys:
            if not isinstance(k, str):
                raise KeyFunctionError(f"key {k!r} is not a string")
            items.append(k)
    else:
        raise KeyFunctionError("keys must be a string or an array of strings")
    out = [k.strip() for k in items]
    for k in out:
        if not k:
            raise KeyFunctionError("empty key in keys")
    return out


class KeyExpr:
    """A parsed expression: plain ``name`` or function ``fn`` with ``args`` (texts)."""

    __slots__ = ("text", "name", "fn", "args", "extract", "names")
    name: Any  # str; None for a function key (callers test fn first)
    fn: str | None
    args: tuple[str, ...]
    extract: Any

    def __init__(self, text: str, engine: Any = None):
        self.text = text
        self.names: set[str] = set()  # attribute and function names referenced (enrichers)
        parts = split_top(text, ":")
        if len(parts) == 1:
            name = unescape(text).strip()
            if not name:
                raise KeyFunctionError("empty key name")
            if name.startswith("[") and name.endswith("]"):
                inner = KeyExpr(name[1:-1], engine)
                self.names |= inner.names
                self.name, self.fn, self.args = inner.name, inner.fn, inner.args
                self.extract = inner.extract
                return
            self.name, self.fn, self.args = name, None, ()
            self.names.add(name)
            self.extract = methodcaller("get", name)
            return
        fn = parts[0].strip()
        factory = registry.KEY_FUNCTIONS.get(fn)
        if factory is None:
            raise KeyFunctionError(f"unknown key function {fn!r} in {text!r}")
        self.names.add(fn + ":")
        args = []
        for raw in parts[1:]:
            args.append(self._arg(raw, engine))
        self.name, self.fn, self.args = None, fn, tuple(a.text for a in args)
        try:
            self.extract = factory(args, engine)
        except KeyFunctionError:
            raise
        except (ValueError, TypeError, IndexError) as exc:
            raise KeyFunctionError(f"{fn}: {exc}") from None
        # attributes an extractor reads besides its arguments (so their enrichers run)
        self.names |= set(getattr(self.extract, "uses", ()))

    def _arg(self, raw: str, engine) -> Arg:
        s = raw
        if s.startswith("[") and s.endswith("]") and _balanced(s[1:-1]):
            inner = KeyExpr(s[1:-1], engine)
            self.names |= inner.names
            return Arg(s[1:-1], inner.extract)
        text = unescape(s)
        if text:
            self.names.add(text)
        # literal arguments (bit counts, delimiters, group names) double as attribute keys
        return Arg(text, methodcaller("get", text))


def _balanced(s: str) -> bool:
    depth = 0
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0


def compile_key(text: str, engine: Any = None) -> KeyExpr:
    if not isinstance(text, str):
        raise KeyFunctionError(f"key {text!r} is not a string")
    if "[" in text and bracket_depth(text) > KEY_MAX_DEPTH:
        raise KeyFunctionError(f"key expression nested deeper than {KEY_MAX_DEPTH} levels of [ ]")
    return KeyExpr(text, engine)
