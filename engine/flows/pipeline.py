"""Generate the per-sample function for the current set of definitions.

Every time a definition or a flow threshold changes, one Python function is generated for
all active definitions and compiled. Per sample it:
  * computes each distinct key expression at most once, lazily, in a local variable that
    all definitions share (``k3 if k3 is not _U else (k3 := F3(attrs))``);
  * evaluates each definition's filter as an inlined Python expression (literal sets and
    precompiled regular expressions are bound constants);
  * updates the cache entry; for plain sum values the exponential-decay update is inlined.
So nothing is parsed per sample and no per-definition dispatch objects are walked.

When the optional C extension engine/flows/_fastpath.c is built (and FLOWRT_NO_ACCEL is not
set), build() returns a C object instead, made from a compact description of the same
definitions (see _build_c and docs/flows.md, "The C pipeline"); the generated Python function
is the fallback and the reference the C path is tested against.
"""

from __future__ import annotations

import math
import sys
from math import exp
from operator import methodcaller

from .. import native
from . import filters
from .keys import KeyExpr, unescape

_U = object()  # "not computed yet" for a key slot

# Values the decoder always gives as ints (engine/sflow contract), so no type check per sample.
INT_ATTRIBUTES = frozenset(
    {
        "bytes",
        "frames",
        "requests",
        "duration",
        "req_bytes",
        "resp_bytes",
        "ipbytes",
        "ip6bytes",
        "udpbytes",
        "tcpbytes",
    }
)


class _Gen:
    def __init__(self):
        self.ns: dict = {"_U": _U, "exp": exp}
        self.slots: dict[str, int] = {}
        self.slot_src: list[str] = []
        self.nconst = 0

    def const(self, obj, prefix: str = "C") -> str:
        name = f"{prefix}{self.nconst}"
        self.nconst += 1
        self.ns[name] = obj
        return name

    def slot(self, expr: KeyExpr) -> str:
        i = self.slots.get(expr.text)
        if i is None:
            i = self.slots[expr.text] = len(self.slot_src)
            if expr.fn is None:
                src = "agent" if expr.name == "agent" else f"g({expr.name!r})"
            else:
                src = f"{self.const(expr.extract, 'F')}(attrs)"
            self.slot_src.append(src)
        return f"k{i}"

    def ref(self, expr: KeyExpr) -> str:
        k = self.slot(expr)
        i = int(k[1:])
        return f"({k} if {k} is not _U else ({k} := {self.slot_src[i]}))"

    def ensure(self, expr: KeyExpr, indent: str) -> list[str]:
        k = self.slot(expr)
        i = int(k[1:])
        return [f"{indent}if {k} is _U: {k} = {self.slot_src[i]}"]


def _value_src(gen: _Gen, vf) -> str:
    key = vf.key
    if key.fn is None:
        return "agent" if key.name == "agent" else f"g({key.name!r})"
    return f"{gen.const(key.extract, 'V')}(attrs)"


def build(tables: list, on_error) -> object:
    """Return ``process(attrs, agent, ds, rate, now)`` for ``tables`` (FlowTable list), or
    None when there are none: the C pipeline when it is available and enabled, else the
    generated Python function."""
    if not tables:
        return None
    if _accel_on:
        return _build_c(tables, on_error)
    return build_python(tables, on_error)


def build_python(tables: list, on_error) -> object:
    """The generated Python ``process`` function (fallback, and reference for the C path)."""
    if not tables:
        return None
    gen = _Gen()
    body: list[str] = []
    for table in tables:
        spec = table.spec
        ind = "        "
        block: list[str] = []
        if spec.filter is not None:
            fkeys = {k.text: k for k in spec.filter_keys}
            expr = filters.compile_expr(
                spec.filter, lambda text, fkeys=fkeys: gen.ref(fkeys[text]), gen.const
            )
            block.append(f"{ind}if {expr}:")
            ind += "    "
        names = []
        for key in spec.keys:
            block.extend(gen.ensure(key, ind))
            names.append(gen.slot(key))
        if names:
            block.append(f"{ind}if {' and '.join(f'{n} is not None' for n in names)}:")
            ind += "    "
        fk_src = "(agent, ds" + "".join(f", {n}" for n in names) + ")"
        T = gen.const(table.entries, "T")
        if table.fast:
            block.append(f"{ind}x = {_value_src(gen, spec.value)}")
            if spec.value.plain_name in INT_ATTRIBUTES:
                block.append(f"{ind}if x is not None:")
            else:
                block.append(
                    f"{ind}if x is not None and (x.__class__ is int or x.__class__ is float):"
                )
            ind2 = ind + "    "
            I = gen.const(table.inv_t, "I")
            NI = gen.const(-table.inv_t, "NI")
            N = gen.const(table.new_entry, "N")
            block += [
                f"{ind2}fk = {fk_src}",
                f"{ind2}s = x * rate",
                f"{ind2}e = {T}.get(fk)",
                f"{ind2}if e is None:",
                f"{ind2}    e = {N}(fk, s, now)",
                f"{ind2}else:",
                f"{ind2}    dt = now - e[1]",
                f"{ind2}    if dt > 0.0:",
                f"{ind2}        e[0] = e[0] * exp(dt * {NI}) + s * {I}",
                f"{ind2}        e[1] = now",
                f"{ind2}    else:",
                f"{ind2}        e[0] += s * {I}",
                f"{ind2}    e[2] += s",
            ]
            if table.thresholds:
                TH = gen.const(table.th_min, "TH")
                CK = gen.const(table.check_thresholds, "CK")
                block.append(f"{ind2}if e[0] > {TH}: {CK}(fk, e, now)")
        else:
            xs = []
            for j, vf in enumerate(table.vfuncs):
                src = _value_src(gen, vf)
                if vf.kind != "count":
                    block.append(f"{ind}x{j} = {src}")
                    block.append(
                        f"{ind}if x{j} is not None and not (x{j}.__class__ is int or x{j}.__class__ is float): x{j} = None"
                    )
                else:
                    block.append(f"{ind}x{j} = {src}")
                xs.append(f"x{j}")
            UP = gen.const(table.update, "UP")
            block.append(f"{ind}if x0 is not None:")
            block.append(f"{ind}    {UP}({fk_src}, ({', '.join(xs)},), rate, now)")
        ERR = gen.const(lambda exc, _t=table: on_error(_t, exc), "ERR")
        body.append(f"    # {spec.name}")
        body.append("    try:")
        body.append("        pass")
        body.extend(block)
        body.append("    except Exception as exc:")
        body.append(f"        {ERR}(exc)")
    nslots = len(gen.slot_src)
    head = ["def process(attrs, agent, ds, rate, now):", "    g = attrs.get"]
    if nslots:
        head.append("    " + " = ".join(f"k{i}" for i in range(nslots)) + " = _U")
    src = "\n".join(head + body) + "\n"
    code = compile(src, "<flows-pipeline>", "exec")
    exec(code, gen.ns)
    process = gen.ns["process"]
    process.source = src
    return process


# ------------------------------------------------------------------ C pipeline

fastpath = native.path("pipeline")  # None: the generated Python function (engine/native.py)
_accel_on = fastpath is not None

# The numbers of the compact description _build_c hands _fastpath.c: slot kinds, filter node
# ops, term tests and the attribute ids of a decoder's view. This table is their one source:
# engine/flows/_fastpath_ops.h is generated from it (engine/native_headers.py; a test
# regenerates it and compares).
OPCODES = {
    "SLOT_ATTR": 0,
    "SLOT_AGENT": 1,
    "SLOT_FN": 2,
    "SLOT_TABLE": 3,
    "SLOT_OR": 4,
    "SLOT_NULL": 5,
    "F_AND": 0,
    "F_OR": 1,
    "F_NOT": 2,
    "F_TERM": 3,
    "TEST_NONE": 0,
    "TEST_EQ": 1,
    "TEST_IN": 2,
    "TEST_RE": 3,
    "FP_ID_OTHER": -1,  # an attribute the decoder has no number for
    "FP_ID_AGENT": -2,  # "agent", set by the agent enricher
}
_ATTR, _AGENT, _FN, _TABLE, _OR_SLOT, _NULL_SLOT = (
    OPCODES[k] for k in ("SLOT_ATTR", "SLOT_AGENT", "SLOT_FN", "SLOT_TABLE", "SLOT_OR", "SLOT_NULL")
)
_AND, _OR, _NOT, _TERM = (OPCODES[k] for k in ("F_AND", "F_OR", "F_NOT", "F_TERM"))
_NONE, _EQ, _IN, _RE = (OPCODES[k] for k in ("TEST_NONE", "TEST_EQ", "TEST_IN", "TEST_RE"))


def use_accelerator(enabled: bool = True) -> bool:
    """Build later pipelines in C (if the extension was built and loaded) or in Python;
    returns whether the C pipeline is now in use. Existing pipelines are not changed: the
    FlowEngine rebuilds on the next definition change."""
    global _accel_on
    _accel_on = bool(enabled) and fastpath is not None
    return _accel_on


def accelerated() -> bool:
    return _accel_on


def is_c_pipeline(process) -> bool:
    """Whether ``process`` (what build() returned) is a C Pipeline."""
    return fastpath is not None and type(process) is fastpath.Pipeline


def _filter_tree(node, ref):
    """The filter as nested tuples for the C evaluator, with compile_expr's semantics: a term
    is ``(slot is None and has_null) or <literal test>``, negated for != and !~; the literal
    test is ``==`` for a single literal, ``in`` a match_set, or a regex fullmatch on str()."""
    if isinstance(node, filters.Node):
        if node.op == "not":
            return (_NOT, _filter_tree(node.children[0], ref))
        return (
            _AND if node.op == "and" else _OR,
            tuple(_filter_tree(c, ref) for c in node.children),
        )
    slot = ref(node.key)
    has_null = any(v is None for v in node.values)
    lits = [v for v in node.values if v is not None]
    test, obj = _NONE, None
    if lits:
        if node.op in ("=", "!="):
            ms = filters.match_set([unescape(v) for v in lits])
            if len(ms) == 1:
                (obj,) = ms
                test = _EQ
            else:
                test, obj = _IN, ms
        else:
            test, obj = _RE, filters.regex(lits).fullmatch
    return (_TERM, slot, node.op.startswith("!"), has_null, test, obj)


def _build_c(tables: list, on_error):
    # slots are shared by key text, and attribute reads also by attribute name
    slot_index: dict = {}
    slots: list[tuple] = []
    names: list[str] = []

    def add(key, desc: tuple, name: str) -> int:
        i = slot_index[key] = len(slots)
        slots.append(desc)
        names.append(name)
        return i

    def attr_slot(name: str) -> int:
        i = slot_index.get(("attr", name))
        return add(("attr", name), (_ATTR, sys.intern(name)), name) if i is None else i

    def arg_slot(key, text: str) -> int:
        """A key function's argument: attrs.get(name) for a literal, else an extractor."""
        red = key.__reduce__() if isinstance(key, methodcaller) else None
        if (
            red is not None
            and red[0] is methodcaller
            and len(red[1]) == 2
            and red[1][0] == "get"
            and red[1][1].__class__ is str
        ):
            return attr_slot(red[1][1])
        i = slot_index.get(("fn", id(key)))
        return extractor_slot(key, text) if i is None else i

    def extractor_slot(fn, text: str) -> int:
        """A key function: computed in C when it publishes ``compiled``, a table slot when it
        publishes ``lookup_table``, else a call."""
        compiled = getattr(fn, "compiled", None)
        if compiled is not None and compiled[0] == "or":
            inner = tuple(
                arg_slot(k, f"{text} (argument {j + 1})") for j, k in enumerate(compiled[1])
            )
            return add(
                ("fn", id(fn)),
                (_OR_SLOT, fn, inner),
                f"{text} (or of " + ", ".join(f"k{i}" for i in inner) + ")",
            )
        if compiled is not None and compiled[0] == "null":
            inner = arg_slot(compiled[1], f"{text} (argument)")
            return add(
                ("fn", id(fn)),
                (_NULL_SLOT, fn, inner, compiled[2]),
                f"{text} (k{inner} or {compiled[2]!r})",
            )
        table = getattr(fn, "lookup_table", None)
        if table is None:
            return add(("fn", id(fn)), (_FN, fn), text)
        key, holder, attr, complete = table
        inner = arg_slot(key, f"{text} (argument)")
        return add(
            ("fn", id(fn)),
            (_TABLE, fn, inner, holder, None if attr is None else sys.intern(attr), bool(complete)),
            f"{text} ("
            + ("memo" if attr is None else f"table {attr} of {type(holder).__name__}")
            + ")",
        )

    def slot(expr: KeyExpr) -> int:
        i = slot_index.get(expr.text)
        if i is None:
            if expr.fn is None:
                i = slot_index[expr.text] = (
                    add(expr.text, (_AGENT, None), expr.text)
                    if expr.name == "agent"
                    else attr_slot(expr.name)
                )
            else:
                i = slot_index[expr.text] = extractor_slot(expr.extract, expr.text)
        return i

    defs: list[tuple] = []
    listing = []
    for table in tables:
        spec = table.spec
        tree = None
        if spec.filter is not None:
            fkeys = {k.text: k for k in spec.filter_keys}
            tree = _filter_tree(spec.filter, lambda text, fkeys=fkeys: slot(fkeys[text]))
        keys = tuple(slot(k) for k in spec.keys)
        # the instance dict: table.entries is rebound by FlowTable.clear()
        tdict = vars(table)
        if table.fast:
            vslot = slot(spec.value.key)
            int_attr = spec.value.plain_name in INT_ATTRIBUTES
            th = table.th_min if table.thresholds else None
            defs.append(
                (
                    table,
                    tdict,
                    tree,
                    keys,
                    True,
                    vslot,
                    int_attr,
                    float(table.inv_t),
                    -float(table.inv_t),
                    table.new_entry,
                    th,
                    table.check_thresholds,
                )
            )
            what = f"sum k{vslot}{' (int)' if int_attr else ''}" + (
                f", thresholds > {th}" if th is not None else ""
            )
        else:
            vslots = tuple(slot(vf.key) for vf in table.vfuncs)
            checks = tuple(int(vf.kind != "count") for vf in table.vfuncs)
            defs.append((table, tdict, tree, keys, False, vslots, checks, table.update))
            what = (
                "update("
                + ", ".join(f"{vf.kind} k{i}" for vf, i in zip(table.vfuncs, vslots))
                + ")"
            )
        listing.append(
            f"# {spec.name}: keys ({', '.join(f'k{i}' for i in keys)}) {what}"
            + (f" if {spec.filter_text!r}" if tree is not None else "")
        )
    source = (
        "\n".join(
            ["# C pipeline (engine/flows/_fastpath.c); key slots:"]
            + [f"#   k{i} = {t}" for i, t in enumerate(names)]
            + listing
        )
        + "\n"
    )
    return fastpath.Pipeline(tuple(slots), tuple(defs), on_error, math.exp, source, _view_ids())


def _view_ids() -> dict | None:
    """Attribute name -> number in the batch ingest's decoder views (engine/sflow/_ingest.c),
    so that a pipeline it runs reads a sample's values without a dict; None without the C
    decoder."""
    global _VIEW_IDS
    if _VIEW_IDS is None:
        from ..sflow import attributes

        ids = getattr(attributes.accel, "KEY_IDS", None)
        if ids is not None:
            _VIEW_IDS = dict(ids, agent=OPCODES["FP_ID_AGENT"])  # set by the agent enricher
    return _VIEW_IDS


_VIEW_IDS: dict | None = None
