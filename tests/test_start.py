"""./start.sh as a user runs it: sFlow-RT log lines, REST answers, properties, clean SIGTERM."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import time
import urllib.request

from conftest import REPO, free_port

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000 (FINE|INFO|WARNING|SEVERE): ")


def start_engine(home, args, env=None, prefix=(), timeout=120.0):
    """Run ./start.sh with FLOWRT_HOME=home; return (process, log lines up to and including
    'Listening, HTTP port')."""
    full_env = dict(os.environ)
    full_env.pop("RTPROP", None)
    full_env["FLOWRT_HOME"] = str(home)
    full_env.update(env or {})
    proc = subprocess.Popen(
        [*prefix, str(REPO / "start.sh"), *args],
        cwd=REPO,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    tail = b""
    try:
        # raw reads: a readline() would leave lines that arrived together in the text
        # buffer, where select() cannot see them
        while time.monotonic() < deadline:
            if not sel.select(timeout=1):
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            *complete, tail = (tail + chunk).split(b"\n")
            for raw in complete:
                lines.append(raw.decode("utf-8", "replace"))
            if any("Listening, HTTP port" in line for line in lines):
                return proc, lines
    finally:
        sel.close()
    proc.kill()
    proc.wait()
    raise AssertionError("engine did not start:\n" + "\n".join(lines))


def stop_engine(proc, timeout=30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("engine ignored SIGTERM") from None


def _get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
        return reply.status, reply.read()


def test_start_logs_answers_and_stops_cleanly(tmp_path):
    http, sflow = free_port("tcp"), free_port("udp")
    proc, lines = start_engine(
        tmp_path, [f"-Dhttp.port={http}", f"-Dsflow.port={sflow}", "-Dhttp.hostname=127.0.0.1"]
    )
    try:
        logged = [l for l in lines if LOG_LINE.match(l)]
        assert any(l.endswith(f" INFO: Listening, sFlow port {sflow}") for l in logged), lines
        assert any(l.endswith(f" INFO: Listening, HTTP port {http}") for l in logged), lines
        status, body = _get(http, "/version")
        assert status == 200 and re.match(rb"^\d+\.\d+", body)
        status, body = _get(http, "/analyzer/json")
        analyzer = json.loads(body)
        assert status == 200 and analyzer["sFlowDatagramsReceived"] == 0
        assert "sFlowKernelDrops" in analyzer and "sFlowDecodeErrors" in analyzer
    finally:
        code = stop_engine(proc)
    rest = proc.stdout.read()
    proc.stdout.close()
    assert code == 0, rest
    assert "Traceback" not in rest


def test_conf_d_and_rtprop_take_effect(tmp_path):
    """conf.d/*.conf < RTPROP < command line, as sFlow-RT reads them."""
    http, sflow = free_port("tcp"), free_port("udp")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "10-ports.conf").write_text(
        f"# test\nsflow.port={sflow}\nhttp.port=1\nhttp.hostname=127.0.0.1\n"
    )
    # RTPROP overrides conf.d's http.port; the command line overrides RTPROP's log level
    env = {"RTPROP": f"-Dhttp.port={http} -Dlog.level=SEVERE"}
    proc, lines = start_engine(tmp_path, ["-Dlog.level=INFO"], env=env)
    try:
        assert any(l.endswith(f" INFO: Listening, sFlow port {sflow}") for l in lines), lines
        assert any(l.endswith(f" INFO: Listening, HTTP port {http}") for l in lines), lines
        assert _get(http, "/analyzer/json")[0] == 200
    finally:
        assert stop_engine(proc) == 0
        proc.stdout.close()


def test_bad_property_is_reported(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "bad.conf").write_text("this line has no separator\n")
    env = dict(os.environ, FLOWRT_HOME=str(tmp_path))
    env.pop("RTPROP", None)
    proc = subprocess.run(
        [str(REPO / "start.sh")], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "bad.conf:1" in proc.stderr
