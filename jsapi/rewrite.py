"""Rhino dialect -> ES source rewrite, keeping every line where it was (error lines stay right).

sFlow-RT ran scripts in Mozilla Rhino, and published apps use two JavaScript 1.8 extensions
that V8 rejects:

* ``for each (var v in obj) ...``  ->  ``for (var v of __forEachValues(obj)) ...``
  (the prelude defines ``__forEachValues``: the values a for-in over ``obj`` visits);
* expression closures ``function(a, b) a.x - b.x``  ->  ``function(a, b) {return (a.x - b.x);}``.

Both are syntax errors in standard JavaScript, so rewriting them cannot change a valid script.
For ``include()``d files (``toplevel_var=True``) top-level ``let``/``const`` become ``var`` and
``class X`` becomes ``var X = class X``, because an included file is evaluated with an
indirect eval, where lexical declarations would otherwise stay private to the file (Rhino's
include/load made them visible to the including script).

A small tokenizer (strings, template literals, comments, regular-expression literals) keeps
the rewrite away from text inside literals. Only newlines are preserved exactly; columns of
rewritten lines shift by the inserted text.
"""

from __future__ import annotations

import re

_IDENT = re.compile(r"[A-Za-z_$\u0080-\uffff][\w$\u0080-\uffff]*")
_NUMBER = re.compile(
    r"(?:0[xXoObB][0-9a-fA-F_]+n?|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?n?)"
)
_PUNCT = [
    "...",
    ">>>=",
    "===",
    "!==",
    "**=",
    "<<=",
    ">>=",
    ">>>",
    "&&=",
    "||=",
    "??=",
    "=>",
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "??",
    "?.",
    "++",
    "--",
    "+=",
    "-=",
    "*=",
    "/=",
    "%=",
    "&=",
    "|=",
    "^=",
    "<<",
    ">>",
    "**",
]
_REGEX_AFTER_WORDS = {
    "return",
    "typeof",
    "case",
    "do",
    "else",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "instanceof",
    "yield",
    "await",
}


class Token:
    __slots__ = ("kind", "start", "end", "text")

    def __init__(self, kind: str, start: int, end: int, text: str):
        self.kind, self.start, self.end, self.text = kind, start, end, text

    def __repr__(self):
        return f"{self.kind}:{self.text!r}"


def tokenize(src: str) -> list[Token]:
    """Significant tokens (no whitespace/comments); kind is 'id', 'num', 'str', 'tmpl',
    're' or 'p' (punctuator). Newlines are recorded as kind 'nl' tokens."""
    out: list[Token] = []
    i, n = 0, len(src)
    brace_stack: list[str] = []  # "{" or "${" so a "}" knows whether it resumes a template

    def prev_sig():
        for t in reversed(out):
            if t.kind != "nl":
                return t
        return None

    def scan_template(i: int) -> int:
        # i is just after ` or after the } closing a ${...}; returns index after the piece
        while i < n:
            c = src[i]
            if c == "\\":
                i += 2
                continue
            if c == "`":
                return i + 1
            if c == "$" and i + 1 < n and src[i + 1] == "{":
                brace_stack.append("${")
                return i + 2
            i += 1
        return n

    while i < n:
        c = src[i]
        if c == "\n":
            out.append(Token("nl", i, i + 1, c))
            i += 1
        elif c in " \t\r\f\v\ufeff\u00a0\u2028\u2029":
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            end = n if j < 0 else j + 2
            for _ in range(src.count("\n", i, end)):
                out.append(Token("nl", i, i, "\n"))
            i = end
        elif c in "'\"":
            j = i + 1
            while j < n and src[j] != c and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            out.append(Token("str", i, min(j + 1, n), src[i : j + 1]))
            i = j + 1
        elif c == "`":
            j = scan_template(i + 1)
            out.append(Token("tmpl", i, j, src[i:j]))
            i = j
        elif c == "}" and brace_stack and brace_stack[-1] == "${":
            brace_stack.pop()
            j = scan_template(i + 1)
            out.append(Token("tmpl", i, j, src[i:j]))
            i = j
        elif c == "/":
            p = prev_sig()
            is_regex = (
                p is None
                or (p.kind == "p" and p.text not in (")", "]"))
                or (p.kind == "id" and p.text in _REGEX_AFTER_WORDS)
            )
            if p is not None and p.kind == "p" and p.text == "}":
                is_regex = True
            if is_regex:
                j, in_class = i + 1, False
                while j < n and src[j] != "\n":
                    ch = src[j]
                    if ch == "\\":
                        j += 2
                        continue
                    if ch == "[":
                        in_class = True
                    elif ch == "]":
                        in_class = False
                    elif ch == "/" and not in_class:
                        break
                    j += 1
                j += 1
                m = _IDENT.match(src, j)
                if m:
                    j = m.end()
                out.append(Token("re", i, j, src[i:j]))
                i = j
            else:
                op = "/=" if src.startswith("/=", i) else "/"
                out.append(Token("p", i, i + len(op), op))
                i += len(op)
        else:
            m = _IDENT.match(src, i)
            if m:
                out.append(Token("id", i, m.end(), m.group()))
                i = m.end()
                continue
            if c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit()):
                m = _NUMBER.match(src, i)
                if m and m.end() > i:
                    out.append(Token("num", i, m.end(), m.group()))
                    i = m.end()
                    continue
            for op in _PUNCT:
                if src.startswith(op, i):
                    out.append(Token("p", i, i + len(op), op))
                    i += len(op)
                    break
            else:
                if c == "{":
                    brace_stack.append("{")
                elif c == "}" and brace_stack:
                    brace_stack.pop()
                out.append(Token("p", i, i + 1, c))
                i += 1
    return out


_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {")", "]", "}"}


def _match(sig: list[Token], k: int) -> int:
    """Index of the token closing the bracket at sig[k] (or len(sig))."""
    depth = 0
    for j in range(k, len(sig)):
        t = sig[j]
        if t.kind == "p" and t.text in _OPEN:
            depth += 1
        elif t.kind == "p" and t.text in _CLOSE:
            depth -= 1
            if depth == 0:
                return j
    return len(sig)


def rewrite(src: str, toplevel_var: bool = False) -> str:
    """Rewrite Rhino extensions (see module docstring); returns src unchanged if none."""
    if not toplevel_var and "each" not in src and "function" not in src:
        return src
    tokens = tokenize(src)
    sig = [t for t in tokens if t.kind != "nl"]
    # index in `tokens` for newline checks
    pos_in_all = {id(t): i for i, t in enumerate(tokens)}
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement)

    for k, t in enumerate(sig):
        if t.kind != "id":
            continue
        if (
            t.text == "for"
            and k + 2 < len(sig)
            and sig[k + 1].text == "each"
            and sig[k + 1].kind == "id"
            and sig[k + 2].text == "("
        ):
            close = _match(sig, k + 2)
            depth = 0
            for j in range(k + 3, close):
                u = sig[j]
                if u.kind == "p" and u.text in _OPEN:
                    depth += 1
                elif u.kind == "p" and u.text in _CLOSE:
                    depth -= 1
                elif depth == 0 and u.kind == "id" and u.text == "in":
                    edits.append((sig[k + 1].start, sig[k + 1].end, ""))
                    edits.append((u.start, u.end, "of __forEachValues("))
                    if close < len(sig):
                        edits.append((sig[close].start, sig[close].start, ")"))
                    break
        elif t.text == "function" and not (k and sig[k - 1].text in (".", "?.")):
            j = k + 1
            if j < len(sig) and sig[j].text == "*":
                continue
            if j < len(sig) and sig[j].kind == "id":
                j += 1
            if j >= len(sig) or sig[j].text != "(":
                continue
            close = _match(sig, j)
            if close + 1 >= len(sig) or sig[close + 1].text == "{":
                continue
            end = _expression_end(sig, tokens, pos_in_all, close + 1)
            edits.append((sig[close].end, sig[close].end, " {return ("))
            edits.append((sig[end - 1].end, sig[end - 1].end, ");}"))

    if toplevel_var:
        depth = 0
        for k, t in enumerate(sig):
            if t.kind == "p" and t.text in _OPEN:
                depth += 1
            elif t.kind == "p" and t.text in _CLOSE:
                depth -= 1
            elif depth == 0 and t.kind == "id" and k + 1 < len(sig):
                prev = sig[k - 1] if k else None
                at_start = (
                    prev is None
                    or (prev.kind == "p" and prev.text in (";", "}"))
                    or _newline_between(tokens, pos_in_all, prev, t)
                )
                nxt = sig[k + 1]
                if (
                    t.text in ("let", "const")
                    and at_start
                    and (nxt.kind == "id" or nxt.text in "[{")
                ):
                    edits.append((t.start, t.end, "var"))
                elif t.text == "class" and at_start and nxt.kind == "id":
                    edits.append((t.start, t.start, f"var {nxt.text} = "))

    if not edits:
        return src
    edits.sort(key=lambda e: (e[0], e[1]))
    out, last = [], 0
    for start, end, text in edits:
        out.append(src[last:start])
        out.append(text)
        last = max(last, end)
    out.append(src[last:])
    return "".join(out)


def _newline_between(tokens, pos_in_all, a: Token, b: Token) -> bool:
    for t in tokens[pos_in_all[id(a)] + 1 : pos_in_all[id(b)]]:
        if t.kind == "nl":
            return True
    return False


def _expression_end(sig: list[Token], tokens, pos_in_all, k: int) -> int:
    """Index (exclusive) of the last token of the expression body starting at sig[k]."""
    depth = 0
    j = k
    while j < len(sig):
        t = sig[j]
        if t.kind == "p":
            if t.text in _OPEN:
                depth += 1
            elif t.text in _CLOSE:
                if depth == 0:
                    return j
                depth -= 1
            elif depth == 0 and t.text in (",", ";"):
                return j
        if depth == 0 and j > k and _newline_between(tokens, pos_in_all, sig[j - 1], t):
            prev = sig[j - 1]
            ends_value = prev.kind in ("id", "num", "str", "tmpl", "re") or prev.text in (
                ")",
                "]",
                "}",
            )
            starts_stmt = t.kind == "id" and t.text not in ("in", "instanceof", "of")
            if ends_value and starts_stmt:
                return j
        j += 1
    return j
