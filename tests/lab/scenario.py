"""One scenario's lab: namespaces, certificates, a flowrt home holding the seed script(s), and
everything started in it, stopped in reverse order however the test ends."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from .certs import LabPKI
from .flowrt import Flowrt
from .netns import Lab

SEED = Path(__file__).resolve().parents[1] / "seed"  # tests/seed: the user's scripts, verbatim


class LabScenario:
    def __init__(self, tmp_path: Path, hosts: list[str]):
        self.tmp = Path(tmp_path)
        self.lab = Lab(hosts)
        self.home = self.tmp / "home"  # the flowrt folder a user would run from
        self.home.mkdir(parents=True, exist_ok=True)
        self._stack = contextlib.ExitStack()
        self.pki: LabPKI | None = None
        self.flowrt: Flowrt | None = None

    def __enter__(self) -> "LabScenario":
        self._stack.__enter__()
        self.lab.start()
        self._stack.callback(self.lab.stop)
        self.pki = LabPKI(self.tmp / "pki")
        return self

    def __exit__(self, *exc):
        try:
            if exc[0] is not None and self.flowrt is not None:
                print(f"--- {self.flowrt.describe()}, log tail:\n{self.flowrt.tail(80)}")
        except Exception as diag:  # a failing diagnostic must not skip the teardown
            print(f"--- flowrt could not be described: {diag!r}")
        return self._stack.__exit__(*exc)

    def started(self, obj):
        """Register something already started (has .stop()) for teardown; returns it."""
        self._stack.callback(obj.stop)
        return obj

    def copy_seed(self, name: str) -> Path:
        dest = self.home / name
        shutil.copyfile(SEED / name, dest)
        return dest

    def start_flowrt(self, scripts: list[str], props: list[str] = (), **kw) -> Flowrt:
        for s in scripts:
            self.copy_seed(s)
        argv = ["-Dscript.file=" + ",".join(scripts), *props]
        self.flowrt = Flowrt(self.lab.flowrt_ns, self.home, argv, **kw)
        self._stack.callback(self.flowrt.stop)
        self.flowrt.start()
        for s in scripts:
            self.flowrt.wait_log(rf"INFO: {s} started", 30)
        return self.flowrt
