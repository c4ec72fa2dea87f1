"""Rhino dialect rewriting (jsapi/rewrite.py), checked by running the result in V8."""

from __future__ import annotations

import pytest

from jsapi.bridge import Isolate, JSError
from jsapi.rewrite import rewrite, tokenize

HELPER = "globalThis.__forEachValues = function (o) { var r = []; for (var k in o) r.push(o[k]); return r; };"


@pytest.fixture(scope="module")
def iso():
    i = Isolate(lambda t: (True, t))
    i.eval(HELPER)
    yield i
    i.close()


def run(iso, src):
    return iso.eval(rewrite(src))


def test_for_each_over_objects_and_arrays(iso):
    src = """
    var total = 0, names = [];
    for each (var v in {a: 1, b: 2, c: 3}) total += v;
    for each (var s in ['x', 'y']) names.push(s);
    var m = {}; m.q = 10;
    for each (let w in m) total += w;
    total + names.join('')
    """
    assert run(iso, src) == "16xy"


def test_expression_closures(iso):
    src = """
    var a = [{i: 3}, {i: 1}, {i: 2}];
    a.sort(function(x, y) x.i - y.i);
    var sign = function(x) Math.sign(x)
    var doubled = [1, 2].map(function(v) v * 2, this);
    a.map(function(o) o.i).join(',') + '|' + sign(-5) + '|' + doubled.join(',')
    """
    assert run(iso, src) == "1,2,3|-1|2,4"


def test_literals_comments_and_regex_are_untouched(iso):
    src = r"""
    var s = "for each (q in r)"; // for each (a in b)
    /* function(x) x */
    var t = `for each (x in y) ${ "function(z) z" }`;
    var re = /for each \(/g;
    s + '|' + t + '|' + re.source
    """
    assert run(iso, src) == r"for each (q in r)|for each (x in y) function(z) z|for each \("
    assert (
        rewrite("var a = 1; function f(x) { return x }") == "var a = 1; function f(x) { return x }"
    )
    assert rewrite("var q = obj.function(1) + 2;") == "var q = obj.function(1) + 2;"


def test_line_numbers_are_preserved(iso):
    src = "var o = {a: 1};\nfor each (var v in o)\n  v++;\nvar f = function(x)\n  x + 1;\nthrow new Error('here');"
    out = rewrite(src)
    assert out.count("\n") == src.count("\n")
    with pytest.raises(JSError) as info:
        iso.eval(out)
    assert "<anonymous>:6:" in info.value.message


def test_toplevel_declarations_become_var_for_includes(iso):
    src = "let a = 1;\nconst b = {x: 2};\nclass K { v() { let z = 3; return z; } }\nfunction f() { const y = 4; return y; }"
    out = rewrite(src, toplevel_var=True)
    assert "var a" in out and "var b" in out and "var K = class K" in out and "const y" in out
    iso.eval(f"(0, eval)({out!r})")
    assert iso.eval("a + b.x + new K().v() + f()") == 10


def test_tokenizer_handles_division_and_templates():
    kinds = [t.kind for t in tokenize("a = b / c / d; x = `${y}`; r = (1) / 2") if t.kind != "nl"]
    assert "re" not in kinds
    assert any(t.kind == "re" for t in tokenize("if (x) return /ab+c/.test(s)"))
