"""engine/native.py: one loader for the C extensions, reporting which paths run natively.

A stale or broken build must not make the engine fall back silently: it is logged at start
and shown in /analyzer/json. The stale builds here are real module objects put where the
extension would load from (sys.modules, in a fresh flowrt process), exactly what an import of
an old build hands the loader; the report is read over real HTTP from a running flowrt.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from engine import native, native_headers
from engine.flows import pipeline

from conftest import REPO

NO_ACCEL = os.environ.get("FLOWRT_NO_ACCEL", "") not in ("", "0")
C_ONLY = pytest.mark.skipif(NO_ACCEL, reason="FLOWRT_NO_ACCEL is set: C paths only")


def test_generated_headers_match_the_python_declarations():
    """_fastpath_ops.h and _layouts.h are what engine/native_headers.py writes from the
    Python side today (after changing OPCODES, the limits or a sample layout, regenerate)."""
    for path, text in native_headers.render().items():
        assert path.read_text() == text, f"{path} is stale: run python -m engine.native_headers"


def test_opcode_header_carries_every_python_opcode():
    text = (REPO / "engine" / "flows" / "_fastpath_ops.h").read_text()
    for name, value in pipeline.OPCODES.items():
        assert f"#define {name} ({value})" in text or f"#define {name} {value}" in text
    # and the C source no longer numbers them itself
    src = (REPO / "engine" / "flows" / "_fastpath.c").read_text()
    assert "enum { SLOT_ATTR" not in src and "enum { F_AND" not in src
    assert "#define FP_ID_" not in (REPO / "engine" / "flows" / "_fastpath_api.h").read_text()


def test_layout_header_sizes_agree_with_the_walker():
    from engine.sflow.sample_layouts import SAMPLE_LAYOUTS

    text = (REPO / "engine" / "sflow" / "_layouts.h").read_text()
    assert "#define SFLOW_FLOW_SAMPLE_SIZE 32" in text
    assert "#define SFLOW_FLOW_SAMPLE_EXPANDED_SIZE 44" in text
    assert "#define SFLOW_MAX_RECORDS 1024" in text
    assert {x.size for x in SAMPLE_LAYOUTS.values()} == {12, 16, 32, 44}
    for c in ("_accel.c", "_ingest.c"):
        assert "1024" not in (REPO / "engine" / "sflow" / c).read_text().replace(
            "#define DS_SLOTS 1024", ""
        ), c


def test_status_lists_every_path():
    st = native.status()
    assert set(st) == {p.name for p in native.PATHS}
    assert {p.module for p in native.PATHS} == {
        "engine.sflow._accel",
        "engine.flows._fastpath",
        "engine._net",
    }
    for entry in st.values():
        assert entry["native"] or entry["reason"]
    if NO_ACCEL:
        assert all(e["reason"] == "FLOWRT_NO_ACCEL is set" for e in st.values())
    else:  # this machine builds them (tests/accel_support.py)
        assert all(e["native"] for e in st.values()), st


# -- a real flowrt process with a stale or broken extension ----------------------------------
_PRELUDE = """
import sys, types, importlib.abc
kind = sys.argv.pop(1)
if kind == "lacks":
    # an old build: the decoder functions, but nothing newer (no setup_walk, Ingest...)
    m = types.ModuleType("engine.sflow._accel")
    m.setup = m.flow_attributes = m.flow_attributes_subset = lambda *a: None
    sys.modules["engine.sflow._accel"] = m
elif kind == "refuses":
    # every name there, but setup() rejects this version's tables
    m = types.ModuleType("engine.sflow._accel")
    for n in ("setup_walk", "decode_datagram", "flow_attributes", "flow_attributes_subset",
              "fast_attributes", "track_samples", "KEY_IDS", "AgentRecord", "Ingest"):
        setattr(m, n, None)
    def setup(config):
        raise TypeError("setup: 'bin3' has the wrong size")
    m.setup = setup
    sys.modules["engine.sflow._accel"] = m
elif kind == "broken":
    class Broken(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "engine.flows._fastpath":
                raise ImportError("_fastpath.so: undefined symbol: PyFoo_Bar")
    sys.meta_path.insert(0, Broken())
from engine.main import main
sys.exit(main())
"""


def _free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_flowrt(tmp_path, kind: str):
    http, sflow = _free_port(), _free_port(socket.SOCK_DGRAM)
    env = {k: v for k, v in os.environ.items() if k != "FLOWRT_NO_ACCEL"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _PRELUDE,
            kind,
            f"-Dhttp.port={http}",
            "-Dhttp.hostname=127.0.0.1",
            f"-Dsflow.port={sflow}",
        ],
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Listening, HTTP port" in line:
            break
    assert any("Listening, HTTP port" in x for x in lines), "".join(lines)
    with urllib.request.urlopen(f"http://127.0.0.1:{http}/analyzer/json", timeout=10) as r:
        analyzer = json.load(r)
    proc.terminate()
    rest, _ = proc.communicate(timeout=30)
    return "".join(lines) + rest, analyzer


@C_ONLY
@pytest.mark.parametrize(
    "kind, path, reason",
    [
        ("lacks", "decoder", "stale build: engine.sflow._accel lacks setup_walk"),
        (
            "refuses",
            "decoder",
            (
                "stale build: setup() refused this version's tables "
                "(TypeError: setup: 'bin3' has the wrong size)"
            ),
        ),
        (
            "broken",
            "pipeline",
            "import failed: ImportError: _fastpath.so: undefined symbol: PyFoo_Bar",
        ),
    ],
)
def test_stale_or_broken_extension_is_logged_and_reported(tmp_path, kind, path, reason):
    out, analyzer = _run_flowrt(tmp_path, kind)
    native_json = analyzer["native"]
    assert native_json[path]["native"] is False
    assert native_json[path]["reason"].startswith(reason), native_json[path]
    assert native_json[path]["python"]
    # logged once, as a warning naming the path and why
    warnings = [x for x in out.splitlines() if f"native path {path} falls back" in x]
    assert len(warnings) == 1 and "WARNING" in warnings[0] and reason in warnings[0], out
    # the other extension modules still run natively, and the existing fields are all there
    assert native_json["receiver"]["native"] is True
    assert "sFlowDatagramsReceived" in analyzer and "cpuLoadProcess" in analyzer
    if kind == "refuses":
        # a refused setup leaves the whole module unused: no half-configured C paths
        assert native_json["ingest"]["native"] is False
        assert native_json["agents"]["native"] is False


def test_no_accel_is_reported_as_the_deliberate_fallback(tmp_path):
    code = (
        "import json\nfrom engine import native\nnative.log_status()\n"
        "print(json.dumps(native.status()))\n"
    )
    env = dict(os.environ, FLOWRT_NO_ACCEL="1", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import logging, sys; logging.basicConfig(level=logging.INFO, "
            "stream=sys.stderr)\n" + code,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    st = json.loads(proc.stdout)
    assert all(not e["native"] and e["reason"] == "FLOWRT_NO_ACCEL is set" for e in st.values())
    assert "native paths: none" in proc.stderr
    assert "WARNING" not in proc.stderr  # deliberate: information, not a warning


@C_ONLY
def test_a_path_is_native_only_with_the_paths_it_runs_on():
    """The batch ingest runs on the C decoder, agent records and pipeline: with the pipeline
    extension broken it is not native either, and says why."""
    saved = (dict(native._modules), dict(native._reasons), dict(native._path_reasons))
    try:
        native._modules["engine.flows._fastpath"] = None
        native._reasons["engine.flows._fastpath"] = "import failed: test"
        st = native.status()
        assert st["pipeline"]["native"] is False
        assert st["ingest"]["native"] is False and st["counters"]["native"] is False
        assert st["ingest"]["reason"] == "needs the pipeline path (import failed: test)"
        assert st["counters"]["reason"].startswith("needs the ingest path (needs the pipeline")
    finally:
        for d, old in zip((native._modules, native._reasons, native._path_reasons), saved):
            d.clear()
            d.update(old)
