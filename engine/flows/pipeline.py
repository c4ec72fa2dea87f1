"""Generate the per-sample function for the current set of definitions.

Every time a definition or a flow threshold changes, one Python function is generated for
all active definitions and compiled. Per sample it:
  * computes each distinct key expression at most once, lazily, in a local variable that
    all definitions share (``k3 if k3 is not _U else (k3 := F3(attrs))``);
  * evaluates each definition's filter as an inlined Python expression (literal sets and
    precompiled regular expressions are bound constants);
  * updates the cache entry; for plain sum values the exponential-decay update is inlined.
So nothing is parsed per sample and no per-definition dispatch objects are walked.
"""
from __future__ import annotations

from math import exp

from . import filters
from .keys import KeyExpr

_U = object()     # "not computed yet" for a key slot

# Values the decoder always gives as ints (engine/sflow contract), so no type check per sample.
INT_ATTRIBUTES = frozenset({"bytes", "frames", "requests", "duration", "req_bytes", "resp_bytes",
                            "ipbytes", "ip6bytes", "udpbytes", "tcpbytes"})


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
    None when there are none."""
    if not tables:
        return None
    gen = _Gen()
    body: list[str] = []
    for idx, table in enumerate(tables):
        spec = table.spec
        ind = "        "
        block: list[str] = []
        if spec.filter is not None:
            fkeys = {k.text: k for k in spec.filter_keys}
            expr = filters.compile_expr(spec.filter, lambda text: gen.ref(fkeys[text]), gen.const)
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
                block.append(f"{ind}if x is not None and (x.__class__ is int or x.__class__ is float):")
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
                    block.append(f"{ind}if x{j} is not None and not (x{j}.__class__ is int or x{j}.__class__ is float): x{j} = None")
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
        body.append(f"    except Exception as exc:")
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
