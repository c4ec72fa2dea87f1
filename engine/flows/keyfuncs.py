"""Built-in key functions: group, map, mask, prefix, suffix, first, bits, range, null, or, eq,
if, concat, uri. Each factory validates its arguments once and returns a small closure.

Enrichment (dns:, country:, asn:, oui:) and BGP keys register themselves the same way from
their own packages; nothing here knows about them.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit
import posixpath

from .registry import KeyFunctionError, key_function


_MEMO_MAX = 1 << 14


def _memoized(key, fn):
    """Extractor ``fn(key(attrs))`` with a bounded memo: string functions of a value (prefix,
    suffix, first, uri) cost more than a dict lookup, and values repeat across samples."""
    memo: dict = {}
    miss = memo

    def extract(attrs):
        v = key(attrs)
        if v is None:
            return None
        r = memo.get(v, miss)
        if r is miss:
            r = fn(v)
            if len(memo) >= _MEMO_MAX:
                memo.clear()
            memo[v] = r
        return r

    # the C pipeline answers memo hits itself (pipeline.py, "lookup_table"); memo is never
    # rebound, only cleared
    extract.lookup_table = (key, memo, None, False)
    return extract


def flows_of(engine):
    """The FlowEngine behind a core engine (or the FlowEngine itself)."""
    if engine is None:
        raise KeyFunctionError("no flow engine")
    subs = getattr(engine, "subsystems", None)
    if subs is not None and "flows" in subs:
        return subs["flows"]
    if hasattr(engine, "groups") and hasattr(engine, "maps"):
        return engine
    raise KeyFunctionError("no flow engine")


def _need(args, lo: int, hi: int | None, usage: str):
    if len(args) < lo or (hi is not None and len(args) > hi):
        raise KeyFunctionError(f"usage: {usage}")


def _int(text: str, what: str) -> int:
    try:
        return int(text, 0) if text.lower().startswith(("0x", "0b", "0o")) else int(text)
    except ValueError:
        raise KeyFunctionError(f"{what} must be an integer, not {text!r}") from None


def _num(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise KeyFunctionError(f"{what} must be a number, not {text!r}") from None


# -- groups and maps ------------------------------------------------------------------------


@key_function("group")
def _group(args, engine):
    _need(args, 2, None, "group:<key>:<group>[:<group>...]")
    key = args[0].key
    store = flows_of(engine).groups
    sets = [store.handle(a.text) for a in args[1:]]  # live handles: later set_groups apply
    if len(sets) == 1:
        lookup = sets[0].lookup

        def group1(attrs):
            v = key(attrs)
            return None if v is None else lookup(v)

        # the C pipeline answers memo hits itself (pipeline.py, "lookup_table")
        group1.lookup_table = (key, sets[0], "memo", False)
        return group1

    def group(attrs):
        v = key(attrs)
        if v is None:
            return None
        for s in sets:
            label = s.lookup(v)
            if label is not None:
                return label
        return None

    return group


@key_function("map")
def _map(args, engine):
    _need(args, 2, 2, "map:<key>:<map>")
    key = args[0].key
    handle = flows_of(engine).maps.handle(args[1].text)

    def map_(attrs):
        v = key(attrs)
        return None if v is None else handle.lookup(v)

    map_.lookup_table = (key, handle, "index", True)  # MapHandle.lookup is index.get
    return map_


# -- addresses ------------------------------------------------------------------------------

_MASK_MEMO_MAX = 1 << 16


def _masker(bits_fixed: int | None):
    """mask(addr, bits) with a memo; with bits_fixed (the only bits it is then called with)
    the memo is keyed by the address alone and published as ``mask.memo``."""
    memo: dict = {}
    inet_pton, inet_ntop, AF4, AF6 = (
        socket.inet_pton,
        socket.inet_ntop,
        socket.AF_INET,
        socket.AF_INET6,
    )

    def mask(addr, bits):
        k = addr if bits_fixed is not None else (addr, bits)
        r = memo.get(k)
        if r is not None:
            return r
        a = str(addr)
        try:
            if ":" in a:
                n, width, fam = int.from_bytes(inet_pton(AF6, a), "big"), 128, AF6
            else:
                n, width, fam = int.from_bytes(inet_pton(AF4, a), "big"), 32, AF4
        except OSError:
            return None
        b = int(bits)
        if b < 0 or b > width:
            return None
        m = ((1 << b) - 1) << (width - b) if b else 0
        r = f"{inet_ntop(fam, (n & m).to_bytes(width // 8, 'big'))}/{b}"
        if len(memo) >= _MASK_MEMO_MAX:
            memo.clear()
        memo[k] = r
        return r

    mask.memo = memo
    return mask


@key_function("mask")
def _mask(args, engine):
    """mask:<ipkey>:<bits> -> "net/bits". Without bits the routing prefix length of the sample
    is used (ipsourcemaskbits / ipdestinationmaskbits, from the sFlow extended router record or
    the BGP subsystem), which is what ddos.py relies on."""
    _need(args, 1, 2, "mask:<ipkey>[:<bits>]")
    key = args[0].key
    if len(args) == 2:
        bits = _int(args[1].text, "mask bits")
        if not 0 <= bits <= 128:
            raise KeyFunctionError("mask bits must be 0..128")
        m = _masker(bits)

        def mask_fixed(attrs):
            v = key(attrs)
            return None if v is None else m(v, bits)

        # the C pipeline answers memo hits itself (pipeline.py, "lookup_table")
        mask_fixed.lookup_table = (key, m.memo, None, False)
        return mask_fixed
    name = args[0].text
    suffix = ""
    if "." in name:
        name, _, layer = name.partition(".")
        suffix = "." + layer
    bits_key = ("ipdestinationmaskbits" if "destination" in name else "ipsourcemaskbits") + suffix
    m = _masker(None)

    def mask_route(attrs):
        v = key(attrs)
        if v is None:
            return None
        b = attrs.get(bits_key)
        return None if b is None else m(v, b)

    mask_route.uses = (bits_key,)
    return mask_route


# -- strings --------------------------------------------------------------------------------


@key_function("prefix")
def _prefix(args, engine):
    _need(args, 2, 3, "prefix:<key>:<delimiter>[:<n>]")
    key, delim = args[0].key, args[1].text
    n = _int(args[2].text, "prefix count") if len(args) > 2 else 1
    if not delim:
        raise KeyFunctionError("prefix: empty delimiter")
    if n < 1:
        raise KeyFunctionError("prefix count must be >= 1")

    return _memoized(key, lambda v: delim.join(str(v).split(delim, n)[:n]))


@key_function("suffix")
def _suffix(args, engine):
    _need(args, 2, 3, "suffix:<key>:<delimiter>[:<n>]")
    key, delim = args[0].key, args[1].text
    n = _int(args[2].text, "suffix count") if len(args) > 2 else 1
    if not delim:
        raise KeyFunctionError("suffix: empty delimiter")
    if n < 1:
        raise KeyFunctionError("suffix count must be >= 1")

    def suffix(v):
        # The empty token after a trailing delimiter counts, as in the blog's example:
        # suffix:[dns:ipsource]:.:3 turns "xenvm11.sf.inmon.com." into "inmon.com."
        return delim.join(str(v).split(delim)[-n:])

    return _memoized(key, suffix)


@key_function("first")
def _first(args, engine):
    _need(args, 3, None, "first:<key>:<delimiter>:<token>[:<token>...]")
    key, delim = args[0].key, args[1].text
    wanted = frozenset(a.text for a in args[2:])
    if not delim:
        raise KeyFunctionError("first: empty delimiter")

    def first(v):
        for tok in str(v).split(delim):
            if tok in wanted:
                return tok
        return None

    return _memoized(key, first)


@key_function("concat")
def _concat(args, engine):
    _need(args, 2, None, "concat:<separator>:<key>[:<key>...]")
    sep = args[0].text
    keys = [a.key for a in args[1:]]

    def concat(attrs):
        out = []
        for k in keys:
            v = k(attrs)
            if v is None:
                return None
            out.append(str(v))
        return sep.join(out)

    return concat


# -- numbers and logic ----------------------------------------------------------------------


@key_function("bits")
def _bits(args, engine):
    _need(args, 2, 2, "bits:<key>:<mask>")
    key = args[0].key
    mask = _int(args[1].text, "bits mask")

    def bits(attrs):
        v = key(attrs)
        if v is None:
            return None
        try:
            return int(v) & mask
        except (TypeError, ValueError):
            return None

    return bits


@key_function("range")
def _range(args, engine):
    _need(args, 2, 3, "range:<key>:<min>[:<max>]")
    key = args[0].key
    lo = _num(args[1].text, "range min")
    hi = _num(args[2].text, "range max") if len(args) > 2 and args[2].text != "" else float("inf")

    def range_(attrs):
        v = key(attrs)
        if v is None:
            return None
        try:
            x = v if v.__class__ is int or v.__class__ is float else float(v)
        except (TypeError, ValueError):
            return None
        return "true" if lo <= x <= hi else "false"

    return range_


@key_function("null")
def _null(args, engine):
    _need(args, 1, 2, "null:<key>[:<default>]")
    key = args[0].key
    default = args[1].text if len(args) > 1 else "null"

    def null(attrs):
        v = key(attrs)
        return default if v is None else v

    null.compiled = ("null", key, default)  # the C pipeline computes it (pipeline.py)
    return null


@key_function("or")
def _or(args, engine):
    _need(args, 1, None, "or:<key>:<key>[:<key>...]")
    keys = [a.key for a in args]

    def or_(attrs):
        for k in keys:
            v = k(attrs)
            if v is not None:
                return v
        return None

    or_.compiled = ("or", tuple(keys))  # the C pipeline computes it (pipeline.py)
    return or_


@key_function("eq")
def _eq(args, engine):
    _need(args, 2, 2, "eq:<key>:<key>")
    a, b = args[0].key, args[1].key

    def eq(attrs):
        x, y = a(attrs), b(attrs)
        if x is None or y is None:
            return "false"
        return "true" if x == y or str(x) == str(y) else "false"

    return eq


@key_function("if")
def _if(args, engine):
    _need(args, 4, 4, "if:<key>:<value>:<then-key>:<else-key>")
    test, value, then, other = args[0].key, args[1].text, args[2].key, args[3].key

    def if_(attrs):
        v = test(attrs)
        return then(attrs) if v is not None and str(v) == value else other(attrs)

    return if_


# -- URLs -----------------------------------------------------------------------------------

URI_PARTS = (
    "normalized",
    "scheme",
    "user",
    "authority",
    "host",
    "port",
    "path",
    "file",
    "extension",
    "query",
    "fragment",
    "isabsolute",
    "isopaque",
)


def uri_part(url: str, part: str):
    """One component of a URL, following java.net.URI's names; None when absent."""
    try:
        u = urlsplit(url)
    except ValueError:
        return None
    scheme = u.scheme or None
    opaque = bool(scheme) and not url[len(u.scheme) + 1 :].startswith("/")
    if part == "scheme":
        return scheme
    if part == "isabsolute":
        return "true" if scheme else "false"
    if part == "isopaque":
        return "true" if opaque else "false"
    if part == "authority":
        return u.netloc or None
    if part == "user":
        return u.netloc.rpartition("@")[0] or None if "@" in u.netloc else None
    if part == "host":
        try:
            return u.hostname
        except ValueError:
            return None
    if part == "port":
        try:
            p = u.port
        except ValueError:
            return None
        return None if p is None else p
    if part == "query":
        return u.query or None
    if part == "fragment":
        return u.fragment or None
    path = u.path if not opaque else ""
    if part == "path":
        return path or None
    if part == "file":
        f = path.rsplit("/", 1)[-1] if path else ""
        return f or None
    if part == "extension":
        f = path.rsplit("/", 1)[-1] if path else ""
        if "." not in f.strip("."):
            return None
        return f.rsplit(".", 1)[-1] or None
    if part == "normalized":
        if opaque:
            return url
        norm = posixpath.normpath(path) if path else ""
        if path.endswith("/") and norm != "/":
            norm += "/"
        if norm.startswith("//"):
            norm = "/" + norm.lstrip("/")
        out = (u.scheme + ":" if u.scheme else "") + ("//" + u.netloc if u.netloc else "") + norm
        if u.query:
            out += "?" + u.query
        if u.fragment:
            out += "#" + u.fragment
        return out
    return None


@key_function("uri")
def _uri(args, engine):
    _need(args, 2, 2, "uri:<key>:<part>")
    key, part = args[0].key, args[1].text.lower()
    if part not in URI_PARTS:
        raise KeyFunctionError(
            f"uri: unknown part {args[1].text!r} (one of {', '.join(URI_PARTS)})"
        )
    return _memoized(key, lambda v: uri_part(str(v), part))
