"""Release check: what a user gets from `pip install flowrt`.

Build the sdist and, from it, the wheel (`python -m build`, build requirements from PyPI or
pip's cache), install the wheel into a fresh virtual environment outside the checkout, and run
it from an empty directory: generated sFlow comes in, the status UI, /inc/ assets, /api-docs,
country: with the bundled database and an app installed from a local zip all answer, and it
stops cleanly. Nothing here may come from the checkout, so every path is checked.
About 40 s: one build, one install, one engine.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

import engine
from conftest import REPO, free_port

# the environment of a user's shell: nothing that points back into the checkout or its venv
CLEAN_ENV = {
    k: v
    for k, v in os.environ.items()
    if k not in ("PYTHONPATH", "VIRTUAL_ENV", "FLOWRT_HOME", "RTPROP", "PYTHONHOME")
}
DEPRECATION = re.compile(r"deprecat", re.I)


def run(args, *, cwd, timeout=300, env=None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env or CLEAN_ENV,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout[-4000:]}"
    return result


# what a checkout holds that is not its source: the build would walk these while other tests
# (parallel workers, docs/testing.md) write and remove files in them
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".hypothesis",
    ".pytest_cache",
    "__pycache__",
    "test-artifacts",
    "build",
    "dist",
    "*.egg-info",
    "*.so",
)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """(wheel, sdist, venv, build log, install log) for this checkout."""
    work = tmp_path_factory.mktemp("release")
    assert not work.resolve().is_relative_to(REPO.resolve())
    dist = work / "dist"
    # built from a copy of the checkout's source: setuptools walks the whole tree it builds
    # from, and a file another test removes mid-walk would fail the build
    source = work / "checkout"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE, symlinks=True)
    # sdist first, then the wheel built from the unpacked sdist (proves the sdist is complete)
    built = run([sys.executable, "-m", "build", "--outdir", dist, source], cwd=work)
    wheels, sdists = list(dist.glob("flowrt-*.whl")), list(dist.glob("flowrt-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, built.stdout[-2000:]
    venv = work / "venv"
    # a venv without pip of its own, filled by this pip: the same install, a few seconds less
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work)
    installed = run(
        [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", wheels[0]],
        cwd=work,
    )
    return {
        "wheel": wheels[0],
        "sdist": sdists[0],
        "venv": venv,
        "work": work,
        "build_log": built.stdout,
        "install_log": installed.stdout,
    }


def test_build_and_install_are_clean_and_carry_everything(release):
    assert not DEPRECATION.search(release["build_log"]), [
        l for l in release["build_log"].splitlines() if DEPRECATION.search(l)
    ]
    assert not DEPRECATION.search(release["install_log"])
    assert release["wheel"].name.startswith(f"flowrt-{engine.__version__}-")
    with zipfile.ZipFile(release["wheel"]) as whl:
        names = set(whl.namelist())
        metadata = whl.read(f"flowrt-{engine.__version__}.dist-info/METADATA").decode()
    for wanted in (
        "flowrt_resources/html/index.html",
        "flowrt_resources/inc/jquery.min.js",
        "flowrt_resources/api/api.yml",
        "flowrt_resources/geo/flowrt-country.mmdb",
        "flowrt_resources/geo/flowrt-asn.mmdb",
        "flowrt_resources/conf.d/flowrt.conf",
        "jsapi/prelude.js",
        "engine/main.py",
    ):
        assert wanted in names, wanted
    assert not [n for n in names if n.startswith(("tests/", "resources/")) or "__pycache__" in n]
    # test code (the BGP test peer was once engine/bgp/testpeer.py) lives in tests/ only
    assert not [n for n in names if re.search(r"(^|/)test[^/]*\.py$", n)]
    assert "License-Expression: Apache-2.0" in metadata
    with tarfile.open(release["sdist"]) as sdist:
        top = f"flowrt-{engine.__version__}/"
        members = set(sdist.getnames())
    for wanted in (
        "conf.d/flowrt.conf",
        "apps/README.md",
        "packaging/flowrt.service",
        "engine/sflow/_accel.c",
        "resources/geo/flowrt-country.mmdb",
        "LICENSE",
        # every source and header of the C extensions: the wheel is built from it
        "engine/sflow/_agents.c",
        "engine/sflow/_ingest.c",
        "engine/sflow/_counters.c",
        "engine/sflow/_accel.h",
        "engine/sflow/_counters.h",
        "engine/sflow/_layouts.h",
        "engine/flows/_fastpath.c",
        "engine/flows/_fastpath_api.h",
        "engine/flows/_fastpath_ops.h",
        "engine/_net.c",
    ):
        assert top + wanted in members, wanted
    # ... and they built (this machine has a compiler: tests/accel_support.py)
    for ext in ("engine/sflow/_accel.", "engine/flows/_fastpath.", "engine/_net."):
        assert any(n.startswith(ext) and n.endswith(".so") for n in names), ext


def start(venv: Path, home: Path, *args):
    """Run the installed flowrt in `home`; return (process, output lines up to 'Listening,
    HTTP port')."""
    proc = subprocess.Popen(
        [str(venv / "bin" / "flowrt"), *args],
        cwd=home,
        env=CLEAN_ENV,
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
    raise AssertionError(
        "installed flowrt did not start:\n" + "\n".join(lines + [proc.stdout.read()])
    )


def fetch(port: int, path: str, method: str = "GET", body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"} if data else {},
    )
    with urllib.request.urlopen(req, timeout=10) as reply:
        return reply.status, reply.headers.get("Content-Type", ""), reply.read()


def test_installed_wheel_runs_from_an_empty_directory(release):
    venv, work = release["venv"], release["work"]
    bin_dir = venv / "bin"
    home = work / "home"
    home.mkdir()
    # the code and its resources come from the venv, not from the checkout
    where = run(
        [
            bin_dir / "python",
            "-c",
            (
                "import engine, engine.bundled as b, jsapi.script as s; "
                "from engine.geo import oui; print(engine.__file__); print(b.RESOURCES); "
                "print(b.example_conf()); print(oui.default_registry()); "
                "assert len(oui.OuiTable()) > 10000 and 'setIntervalHandler' in s.PRELUDE"
            ),
        ],
        cwd=home,
    )
    assert len(where.stdout.split()) == 4, where.stdout
    for line in where.stdout.split():
        assert Path(line).resolve().is_relative_to(venv.resolve()) and Path(line).exists(), (
            where.stdout
        )
    assert (
        run([bin_dir / "flowrt", "--version"], cwd=home).stdout.strip()
        == f"flowrt {engine.__version__}"
    )

    # an app from a local zip, installed into the home (the current directory)
    app = work / "hello.zip"
    with zipfile.ZipFile(app, "w") as zf:
        zf.writestr("hello-master/html/index.html", "<h1>hello app</h1>\n")
        zf.writestr(
            "hello-master/scripts/hello.js",
            "setHttpHandler(function () { return {hello: 'world'}; });\n",
        )
    got = run([bin_dir / "flowrt", "get-app", "url", app], cwd=home)
    assert (
        "Installed apps/hello" in got.stdout
        and (home / "apps" / "hello" / "scripts" / "hello.js").is_file()
    )

    http, sflow = free_port("tcp"), free_port("udp")
    proc, lines = start(
        venv,
        home,
        f"-Dhttp.port={http}",
        f"-Dsflow.port={sflow}",
        "-Dhttp.hostname=127.0.0.1",
        "-Dsflow.hostname=127.0.0.1",
    )
    try:
        assert any(
            l.endswith(f"Starting flowrt {engine.__version__}, home {home}") for l in lines
        ), lines
        status, ctype, body = fetch(http, "/html/index.html")
        assert status == 200 and "html" in ctype and b"<html" in body.lower()
        status, _, body = fetch(http, "/inc/jquery.min.js")
        assert status == 200 and b"jQuery" in body[:2000]
        status, ctype, body = fetch(http, "/api-docs")
        doc = json.loads(body)
        assert status == 200 and "json" in ctype and "/analyzer/json" in doc["paths"]
        status, _, body = fetch(http, "/app/hello/html/")
        assert status == 200 and body == b"<h1>hello app</h1>\n"

        fetch(
            http,
            "/flow/geo/json",
            "PUT",
            {"keys": "country:ipsource,asn:ipsource", "value": "frames"},
        )
        # sources in 8.8.8.0/24: the bundled databases say US, AS15169
        subprocess.run(
            [
                str(bin_dir / "flowrt-gen"),
                "--port",
                str(sflow),
                "--src-net",
                "8.8.8.0/24",
                "--rate",
                "400",
                "--duration",
                "3",
            ],
            cwd=home,
            env=CLEAN_ENV,
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 20
        keys = []
        while time.monotonic() < deadline:
            keys = [f["key"] for f in json.loads(fetch(http, "/activeflows/ALL/geo/json")[2])]
            if keys:
                break
            time.sleep(0.5)
        assert keys and all(k == "US,15169" for k in keys), keys
        analyzer = json.loads(fetch(http, "/analyzer/json")[2])
        assert analyzer["sFlowDatagramsReceived"] > 0 and analyzer["sFlowDecodeErrors"] == 0
        apps = json.loads(fetch(http, "/apps/json")[2])
        assert apps["hello"]["scripts"] == ["hello~hello.js"]
        deadline = time.monotonic() + 20
        while True:
            try:
                if json.loads(fetch(http, "/app/hello/scripts/hello.js/json")[2]) == {
                    "hello": "world"
                }:
                    break
            except urllib.error.HTTPError:
                pass
            assert time.monotonic() < deadline, "app script did not answer"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    rest = proc.stdout.read()
    proc.stdout.close()
    output = "\n".join(lines) + "\n" + rest
    assert code == 0, output
    assert "Traceback" not in output and "SEVERE" not in output, output
    # the engine wrote only into its home: apps/ from get-app, store/ from scripts
    assert sorted(p.name for p in home.iterdir()) in (["apps"], ["apps", "store"])
