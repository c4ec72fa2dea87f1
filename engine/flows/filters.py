"""Flow filters: ``ipprotocol=6&(tcpsourceport=80|tcpdestinationport=80)``.

Grammar (``&`` binds tighter than ``|``)::

    expr  := and ('|' and)*
    and   := unary ('&' unary)*
    unary := '!' unary | '(' expr ')' | term
    term  := key op values          op: = != ~ !~
    values:= value (',' value)*     value: text, 'single' or "double" quoted, or null

``key`` is any key expression (functions and [...] nesting included). Unquoted values end at
``&``, ``|`` or an unbalanced ``)``; a ``(...)`` group inside a value (a regex alternation)
is kept whole. ``~`` is a whole-value regular-expression match (Java ``String.matches``).
A missing key matches only the literal ``null``; ``!=`` and ``!~`` are the exact negations.

parse() returns a small tree; the pipeline turns it into one Python expression per definition
(compiled once, never re-parsed per sample).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn

from ..limits import FILTER_MAX_DEPTH
from .keys import unescape


class FilterError(ValueError):
    pass


@dataclass
class Term:
    key: str
    op: str  # "=", "!=", "~", "!~"
    values: list  # str, or None for the literal null


@dataclass
class Node:
    op: str  # "and", "or", "not"
    children: list


_OPS = ("!=", "!~", "=", "~")


class _Parser:
    def __init__(self, text: str):
        self.s = text
        self.i = 0
        self.depth = 0  # ( and ! levels open: bounded, the parser and compiler recurse

    def error(self, msg: str) -> NoReturn:
        raise FilterError(f"filter {self.s!r}: {msg} at offset {self.i}")

    def ws(self):
        s, i = self.s, self.i
        while i < len(s) and s[i] in " \t\r\n":
            i += 1
        self.i = i

    def peek(self) -> str:
        self.ws()
        return self.s[self.i] if self.i < len(self.s) else ""

    def parse(self):
        node = self.expr()
        if self.peek():
            self.error(f"unexpected {self.peek()!r}")
        return node

    def expr(self):
        items = [self.conj()]
        while self.peek() == "|":
            self.i += 1
            items.append(self.conj())
        return items[0] if len(items) == 1 else Node("or", items)

    def conj(self):
        items = [self.unary()]
        while self.peek() == "&":
            self.i += 1
            items.append(self.unary())
        return items[0] if len(items) == 1 else Node("and", items)

    def nest(self):
        self.depth += 1
        if self.depth > FILTER_MAX_DEPTH:
            raise FilterError(
                f"filter nested deeper than {FILTER_MAX_DEPTH} levels "
                f"of ( and ! (at offset {self.i})"
            )

    def unary(self):
        c = self.peek()
        if c == "!" and self.i + 1 < len(self.s) and self.s[self.i + 1] not in "=~":
            self.i += 1
            self.nest()
            node = Node("not", [self.unary()])
            self.depth -= 1
            return node
        if c == "(":
            self.i += 1
            self.nest()
            node = self.expr()
            if self.peek() != ")":
                self.error("missing ')'")
            self.i += 1
            self.depth -= 1
            return node
        if not c:
            self.error("expected a term")
        return self.term()

    def term(self) -> Term:
        key = self.lhs()
        s = self.s
        for op in _OPS:
            if s.startswith(op, self.i):
                self.i += len(op)
                break
        else:
            self.error("expected one of = != ~ !~")
        values = self.rhs()
        return Term(key, op, values)

    def lhs(self) -> str:
        self.ws()
        s, i = self.s, self.i
        if i < len(s) and s[i] in "'\"":
            text, self.i = _quoted(s, i, self)
            return text
        depth = 0
        start = i
        while i < len(s):
            c = s[i]
            if c == "\\":
                i += 2
                continue
            if c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
            elif depth == 0 and (c in "=~" or (c == "!" and s[i + 1 : i + 2] in ("=", "~"))):
                break
            elif depth == 0 and c in "&|()":
                self.i = i
                self.error("expected an operator")
            i += 1
        self.i = i
        key = s[start:i].strip()
        if not key:
            self.error("empty key")
        return key

    def rhs(self) -> list:
        s = self.s
        values: list[str | None] = []
        while True:
            self.ws()
            i = self.i
            if i < len(s) and s[i] in "'\"":
                text, i = _quoted(s, i, self)
                values.append(text)
                self.i = i
            else:
                buf, depth = [], 0
                while i < len(s):
                    c = s[i]
                    if c == "\\" and i + 1 < len(s):
                        buf.append(s[i : i + 2])
                        i += 2
                        continue
                    if c == "(":
                        depth += 1
                    elif c == ")":
                        if depth == 0:
                            break
                        depth -= 1
                    elif depth == 0 and c in "&|,":
                        break
                    buf.append(c)
                    i += 1
                self.i = i
                if depth:
                    self.error("unbalanced '(' in value")
                raw = "".join(buf).strip()
                if not raw:
                    self.error("missing value (quote an empty string: '')")
                values.append(None if raw == "null" else raw)
            self.ws()
            if self.i < len(s) and s[self.i] == ",":
                self.i += 1
                continue
            return values


def _quoted(s: str, i: int, parser: _Parser) -> tuple[str, int]:
    q = s[i]
    i += 1
    buf = []
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            buf.append(s[i + 1])
            i += 2
            continue
        if c == q:
            return "".join(buf), i + 1
        buf.append(c)
        i += 1
    parser.i = i
    parser.error("unterminated quote")


def parse(text: str):
    if not isinstance(text, str):
        raise FilterError("filter must be a string")
    if not text.strip():
        return None
    return _Parser(text).parse()


def check(node) -> None:
    """Raise FilterError for what parse() accepts but cannot run: a ``~`` value that is not a
    regular expression. A definition is checked whole before it replaces anything."""
    if node is None:
        return
    if isinstance(node, Term):
        if node.op in ("~", "!~"):
            regex(node.values)
        return
    for c in node.children:
        check(c)


def term_keys(node) -> list[str]:
    """Every key expression a filter uses, in order."""
    if node is None:
        return []
    if isinstance(node, Term):
        return [node.key]
    out = []
    for c in node.children:
        out.extend(term_keys(c))
    return out


def match_set(values) -> frozenset:
    """Literal alternatives as a set matching both string and numeric attribute values."""
    out = set()
    for v in values:
        if v is None:
            continue
        out.add(v)
        try:
            out.add(int(v, 10))
        except ValueError:
            try:
                f = float(v)
                if f == f:
                    out.add(f)
            except ValueError:
                pass
    return frozenset(out)


def regex(values) -> "re.Pattern":
    pats = [v for v in values if v is not None]
    try:
        return re.compile("|".join(f"(?:{p})" for p in pats), re.DOTALL)
    except re.error as exc:
        raise FilterError(f"bad regular expression {pats!r}: {exc}") from None
    except RecursionError:  # Python's regex parser recurses per group level
        raise FilterError("regular expression nested too deeply") from None


def compile_expr(node, ref, const) -> str:
    """Python source for the filter. ``ref(key_text)`` gives the source reading that key's
    value for the current sample; ``const(obj)`` gives a name bound to a constant."""
    if isinstance(node, Node):
        if node.op == "not":
            return f"(not {compile_expr(node.children[0], ref, const)})"
        joiner = " and " if node.op == "and" else " or "
        return "(" + joiner.join(compile_expr(c, ref, const) for c in node.children) + ")"
    k = ref(node.key)
    has_null = any(v is None for v in node.values)
    lits = [v for v in node.values if v is not None]
    if node.op in ("=", "!="):
        lits = [unescape(v) for v in lits]
        parts = []
        if lits:
            ms = match_set(lits)
            if len(ms) == 1:
                (only,) = ms
                parts.append(f"{k} == {const(only)}")
            else:
                parts.append(f"{k} in {const(ms)}")
        expr = _with_null(parts, k, has_null)
    else:
        parts = []
        if lits:
            fm = regex(lits).fullmatch
            parts.append(
                f"(__v := {k}) is not None and {const(fm)}(__v if __v.__class__ is str else str(__v)) is not None"
            )
        expr = _with_null(parts, k, has_null)
    return f"(not {expr})" if node.op.startswith("!") else expr


def _with_null(parts: list[str], k: str, has_null: bool) -> str:
    if has_null:
        parts = [f"{k} is None"] + parts
    if not parts:
        return "False"
    return "(" + " or ".join(f"({p})" for p in parts) + ")"


def compile_lookup(node):
    """A filter as a Python predicate over ``lookup(key_text) -> value | None`` (for queries
    that filter already-computed flow keys, e.g. activeflows?filter=; not the sample path)."""
    if node is None:
        return lambda lookup: True
    if isinstance(node, Node):
        parts = [compile_lookup(c) for c in node.children]
        if node.op == "not":
            p = parts[0]
            return lambda lookup: not p(lookup)
        if node.op == "and":
            return lambda lookup: all(p(lookup) for p in parts)
        return lambda lookup: any(p(lookup) for p in parts)
    key, neg = node.key, node.op.startswith("!")
    has_null = any(v is None for v in node.values)
    lits = [v for v in node.values if v is not None]
    if node.op in ("=", "!="):
        ms = match_set([unescape(v) for v in lits])

        def test(v):
            return v in ms or (v is not None and str(v) in ms)
    else:
        fm = regex(lits).fullmatch if lits else None

        def test(v):
            return fm is not None and v is not None and fm(str(v)) is not None

    def term(lookup):
        v = lookup(key)
        r = (has_null and v is None) or test(v)
        return not r if neg else r

    return term
