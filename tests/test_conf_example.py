"""conf.d/flowrt.conf, the commented example: it changes nothing, and it names every property
the code reads (with the default the code uses), so it stays complete as properties are added.

Three witnesses of "every property the code reads": the README's property table, a scan of
the code for property names passed to the readers (props.get_*, DEFAULTS tables), and the
names an engine actually asks for while it starts, serves, enriches and stops (names built at
run time, such as geo.country6, only show there).
"""

from __future__ import annotations

import ast
import asyncio
import re
import threading

from conftest import REPO

from engine import props

EXAMPLE = REPO / "conf.d" / "flowrt.conf"
PROPERTY = re.compile(r"^[a-z][a-z0-9]*(\.[a-zA-Z0-9_]+)+$")
FILE_NAME = re.compile(r"\.(js|json|ya?ml|html|css|py|mmdb|txt|csv|conf|md)$")
READERS = {"get_str", "get_int", "get_float", "get_bool", "get", "prop_int", "_prop"}


def example_entries() -> dict[str, str]:
    """name -> default from the '#name=value' lines."""
    entries = {}
    for line in EXAMPLE.read_text().splitlines():
        m = re.match(r"^#([a-z][\w.]*)=(.*)$", line)
        if m:
            assert m.group(1) not in entries, f"{m.group(1)} listed twice"
            entries[m.group(1)] = m.group(2)
    return entries


def test_example_changes_nothing_and_every_entry_parses():
    text = EXAMPLE.read_text()
    assert props.parse_conf_text(text, str(EXAMPLE)) == {}, (
        "an uncommented line would set a property"
    )
    entries = example_entries()
    assert len(entries) >= 40
    # uncommented, every entry is a valid property line giving back its name and default
    uncommented = "\n".join(f"{k}={v}" for k, v in entries.items())
    assert props.parse_conf_text(uncommented) == entries
    # one line each: no property line without its '#name=default' form
    for line in text.splitlines():
        assert line == "" or line.startswith("#"), line


def test_readme_table_properties_are_listed():
    readme = (REPO / "README.md").read_text()
    table = [line for line in readme.splitlines() if line.startswith("| `")]
    names = {n for line in table for n in re.findall(r"`([a-z][\w.]*)`", line.split("|")[1])}
    names = {n for n in names if PROPERTY.match(n)}
    assert {"http.port", "sflow.port", "script.file", "geo.country"} <= names
    missing = names - set(example_entries())
    assert not missing, f"README properties missing from conf.d/flowrt.conf: {sorted(missing)}"


def code_property_names() -> set[str]:
    """Property names in the code: string arguments of the property readers and the keys of
    DEFAULTS tables."""
    found = set()
    for path in sorted([*(REPO / "engine").rglob("*.py"), *(REPO / "jsapi").rglob("*.py")]):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                first = node.args[0]
                if (
                    name in READERS
                    and isinstance(first, ast.Constant)
                    and isinstance(first.value, str)
                ):
                    found.add(first.value)
            elif (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id == "DEFAULTS" for t in node.targets)
            ):
                found.update(
                    k.value
                    for k in node.value.keys
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)
                )
    return {n for n in found if PROPERTY.match(n) and not FILE_NAME.search(n)}


def test_every_property_named_in_the_code_is_listed():
    names = code_property_names()
    # the scan must see each reading style: get_*, Mapping.get, helpers, DEFAULTS tables
    assert {
        "http.port",
        "geo.cache.size",
        "flows.cache.max",
        "dns.rate",
        "script.store",
        "system.propertyFiles",
    } <= names, names
    missing = names - set(example_entries())
    assert not missing, (
        f"properties read by the code but missing from conf.d/flowrt.conf: {sorted(missing)}"
    )


class RecordingProperties(props.Properties):
    """Properties that remember every name asked for, and the default each get_* call gave."""

    def __init__(self, values):
        super().__init__(values)
        self.asked: set[str] = set()
        self.defaults: dict[str, object] = {}
        self._lock = threading.Lock()

    def _note(self, name, default=None):
        with self._lock:
            self.asked.add(name)
            if default is not None:
                self.defaults.setdefault(name, default)

    def __getitem__(self, name):
        self._note(name)
        return super().__getitem__(name)

    def __contains__(self, name):
        self._note(name)
        return super().__contains__(name)

    def get(self, name, default=None):
        self._note(name)
        return super().get(name, default)

    def get_str(self, name, default=None):
        self._note(name, default)
        return super().get_str(name, default)

    def get_int(self, name, default=0):
        self._note(name, default)
        return super().get_int(name, default)

    def get_float(self, name, default=0.0):
        self._note(name, default)
        return super().get_float(name, default)

    def get_bool(self, name, default=False):
        self._note(name, default)
        return super().get_bool(name, default)


def test_every_property_an_engine_asks_for_is_listed_with_its_default(tmp_path):
    """Start an engine the way flowrt does (engine.main.run), with BGP, a script and the
    enrichment databases in use, and compare the names it asked for with the example."""
    from engine import main
    from engine.core import Engine

    (tmp_path / "probe.js").write_text("setIntervalHandler(function () {}, 60);\n")
    values = {
        "http.hostname": "127.0.0.1",
        "http.port": "0",
        "sflow.hostname": "127.0.0.1",
        "sflow.port": "0",
        "bgp.start": "yes",
        "bgp.hostname": "127.0.0.1",
        "bgp.port": "0",
        "script.file": "probe.js",
        "dns.servers": "127.0.0.1:9",
    }
    recorded = RecordingProperties(values)
    engine = Engine(recorded, tmp_path)

    async def scenario():
        ready, stop = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(main.run(engine, ready, stop))
        await asyncio.wait_for(ready.wait(), 30)
        geo = engine.subsystems["geo"]
        # the key functions open their databases on first use: use them all
        await asyncio.to_thread(lambda: (geo.lookup("country"), geo.lookup("asn"), geo.oui()))
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    # main() itself reads log.level before the engine exists
    asked = recorded.asked | {"log.level"}
    assert {"geo.country6", "geo.asn6", "oui.names", "bgp.holdtime", "script.timeout"} <= asked, (
        asked
    )
    entries = example_entries()
    missing = asked - set(entries)
    assert not missing, (
        f"properties asked for but missing from conf.d/flowrt.conf: {sorted(missing)}"
    )
    # where the code names a default, the example shows that default
    for name, default in recorded.defaults.items():
        shown = entries[name]
        if isinstance(default, bool):
            assert (shown.lower() in ("yes", "true", "on", "1")) == default, (name, shown, default)
        elif isinstance(default, (int, float)):
            assert float(shown) == float(default), (name, shown, default)
        elif default != "":
            assert shown == default, (name, shown, default)
    for name, value in props.DEFAULTS.items():
        assert entries[name] == value, (name, entries[name], value)
