"""No import cycles in engine/: module dependencies point one way.

The graph is built from the source with ast (nothing is imported): an edge for every import a
module runs when it is loaded, i.e. at module level, in class bodies and under module-level
if/try. Not counted, by design:

- imports inside functions: they run after every module has loaded, so they cannot see a
  half-initialised module (the few there are call upwards on purpose, e.g.
  attributes.use_accelerator -> accel);
- ``if TYPE_CHECKING:`` blocks: annotations only, never run;
- a package's own __init__ as the parent of its submodules (Python loads it first anyway).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "engine"


def _modules() -> dict[str, Path]:
    out = {}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _load_time_imports(body):
    """Import statements run when the module loads (see the module docstring)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _load_time_imports(node.body)
            yield from _load_time_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for part in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _load_time_imports(part)
        elif isinstance(node, (ast.With, ast.For, ast.While)):
            yield from _load_time_imports(node.body)
        elif isinstance(node, ast.ClassDef):
            yield from _load_time_imports(node.body)


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        for node in _load_time_imports(tree.body):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                # `from pkg import sub` imports the submodule when there is one
                targets = [
                    f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names
                ]
            for t in targets:
                while t and t not in modules:  # `import engine.x.y` -> nearest module
                    t = t.rpartition(".")[0]
                if t and t != name and not name.startswith(t + "."):  # not its own parents
                    graph[name].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (iterative DFS, white/grey/black)."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(sorted(graph[nxt]))))
                path.append(nxt)
    return None


def test_engine_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_graph_sees_the_imports_it_should():
    graph = import_graph()
    # a plain relative import, a `from . import module`, and a package __init__'s re-export
    assert "engine.sflow.errors" in graph["engine.sflow.xdr"]
    assert "engine.sflow.flow_keys" in graph["engine.sflow.flow_records"]
    assert "engine.sflow.datagram" in graph["engine.sflow"]


@pytest.mark.parametrize(
    "source, cycle",
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": set(), "c": {"a", "b"}}, None),
    ],
)
def test_find_cycle(source, cycle):
    assert find_cycle(source) == cycle


def test_type_checking_and_function_imports_are_not_edges(tmp_path):
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .x import A\n"
        "def f():\n    from .y import B\n"
        "try:\n    from .z import C\nexcept ImportError:\n    pass\n"
    )
    found = [n.module for n in _load_time_imports(tree.body) if isinstance(n, ast.ImportFrom)]
    assert found == ["typing", "z"]
