"""The installed `flowrt` command: --help, --version, the home directory (--home, FLOWRT_HOME,
else the current directory), `flowrt get-app`, and a clean start and stop from a home."""

from __future__ import annotations

import importlib.metadata
import os
import re
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

import engine
from conftest import free_port

FLOWRT = Path(sys.executable).parent / "flowrt"


def flowrt(*args, cwd, env=None, timeout=60):
    full_env = {k: v for k, v in os.environ.items() if k not in ("FLOWRT_HOME", "RTPROP")}
    full_env.update(env or {})
    return subprocess.run(
        [str(FLOWRT), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def app_zip(path: Path, name: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}-main/html/index.html", f"<p>{name}</p>\n")
        zf.writestr(
            f"{name}-main/scripts/{name}.js", "setHttpHandler(function () { return 1; });\n"
        )
    return path


def test_version_matches_the_package_metadata(tmp_path):
    r = flowrt("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == f"flowrt {engine.__version__}"
    assert importlib.metadata.version("flowrt") == engine.__version__


def test_help_lists_the_options_and_points_to_every_property(tmp_path):
    r = flowrt("--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for item in (
        "--home DIR",
        "--version",
        "-D name=value",
        "get-app USER PROJECT",
        "get-app url ZIP",
        "FLOWRT_HOME",
        "RTPROP",
        "conf.d/*.conf",
        "Configuration table in README.md",
    ):
        assert item in r.stdout, item
    example = Path(r.stdout.rstrip().splitlines()[-1])
    assert example.name == "flowrt.conf" and example.is_file()
    assert "#http.port=8008" in example.read_text()


@pytest.mark.parametrize("chosen", ["option", "environment", "cwd"])
def test_home_comes_from_option_then_environment_then_cwd(tmp_path, chosen):
    dirs = {k: tmp_path / k for k in ("option", "environment", "cwd")}
    for d in dirs.values():
        d.mkdir()
    args, env = [], {}
    if chosen == "option":
        args = ["--home", str(dirs["option"])]
    if chosen in ("option", "environment"):
        env = {"FLOWRT_HOME": str(dirs["environment"])}
    zipped = app_zip(tmp_path / "hello.zip", "hello")
    r = flowrt(*args, "get-app", "url", str(zipped), cwd=dirs["cwd"], env=env)
    assert r.returncode == 0, r.stderr
    assert "Installed apps/hello" in r.stdout and "Restart flowrt" in r.stdout
    installed = [
        name for name, d in dirs.items() if (d / "apps" / "hello" / "html" / "index.html").is_file()
    ]
    assert installed == [chosen]


def test_get_app_usage_and_errors(tmp_path):
    r = flowrt("get-app", cwd=tmp_path)
    assert r.returncode == 2 and "Usage   : flowrt get-app <github-user>" in r.stderr
    r = flowrt("get-app", "url", str(tmp_path / "missing.zip"), cwd=tmp_path)
    assert r.returncode == 1 and "get-app:" in r.stderr and not (tmp_path / "apps").exists()


def test_bad_arguments_and_missing_home_are_reported(tmp_path):
    r = flowrt("-Dhttp.port=0", "-Xmx2G", cwd=tmp_path)
    assert r.returncode == 2 and "-Xmx2G" in r.stderr and "Traceback" not in r.stderr
    r = flowrt("start", cwd=tmp_path)
    assert r.returncode == 2 and "properties are given as -Dname=value" in r.stderr
    r = flowrt("--home", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert not (tmp_path / "nowhere").exists()


def start(cwd: Path, *args, env=None):
    """Run flowrt; return (process, output lines up to 'Listening, HTTP port')."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("FLOWRT_HOME", "RTPROP")}
    full_env.update(env or {})
    proc = subprocess.Popen(
        [str(FLOWRT), *args],
        cwd=cwd,
        env=full_env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines = []
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sel.select(timeout=1):
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line.rstrip("\n"))
                if "Listening, HTTP port" in line:
                    return proc, lines
            elif proc.poll() is not None:
                break
    proc.kill()
    raise AssertionError("flowrt did not start:\n" + "\n".join(lines + [proc.stdout.read()]))


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_starts_in_the_current_directory_and_stops_cleanly(tmp_path, stop_signal):
    """Properties from the home's conf.d/, RTPROP and -D (which wins); apps/ and store/ are
    the home's; SIGTERM and Ctrl-C both stop it with status 0 and no traceback."""
    http, sflow = free_port("tcp"), free_port("udp")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "10-test.conf").write_text(
        f"http.hostname=127.0.0.1\nsflow.hostname=127.0.0.1\nsflow.port={sflow}\nhttp.port=1\n"
    )
    flowrt("get-app", "url", str(app_zip(tmp_path / "hi.zip", "hi")), cwd=tmp_path)
    (tmp_path / "store.js").write_text("storeSet('k', 'v');\n")
    proc, lines = start(
        tmp_path,
        "-Dscript.file=store.js",
        "-Dlog.level=INFO",
        env={"RTPROP": f"-Dhttp.port={http} -Dlog.level=SEVERE"},
    )
    try:
        assert any(
            l.endswith(f"INFO: Starting flowrt {engine.__version__}, home {tmp_path}")
            for l in lines
        ), lines
        assert any(l.endswith(f"Listening, sFlow port {sflow}") for l in lines), lines
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/app/hi/html/", timeout=10) as reply:
            assert reply.read() == b"<p>hi</p>\n"
        deadline = time.monotonic() + 20
        while not list(tmp_path.glob("store/*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(tmp_path.glob("store/*")), "script store not in the home"
    finally:
        proc.send_signal(stop_signal)
        code = proc.wait(30)
    rest = proc.stdout.read()
    proc.stdout.close()
    assert code == 0, rest
    assert "Traceback" not in rest and "Stopping" in rest
    assert not re.search(r"(WARNING|SEVERE):", "\n".join(lines) + rest), lines + [rest]
