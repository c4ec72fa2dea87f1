"""Worker processes forked from a prepared process (a "zygote"): ``python -m
engine.workers.zygote FD``.

Starting a worker as a fresh interpreter costs half a second of CPU (imports); a restart,
and an engine start in a process that starts many (the test suite), should not. The front
starts one zygote the first time it needs workers: it imports the engine and waits on a Unix
socket. Each request carries the worker's three descriptors (SCM_RIGHTS: control socket, sFlow
socket, shared counters) and its slot; the zygote forks, the child becomes the worker
(engine/workers/worker.py) and the zygote answers with its pid. The zygote reaps its children
and tells their exit status when asked. It was never threaded, so forking it is safe (forking
the front, which runs script and receive threads, would not be).

A zygote serves one environment: the front starts another when ``FLOWRT_*`` variables changed.
It exits when the front's process does (its socket closes), and its workers with it (they
die with their parent, and their control sockets close).
"""

from __future__ import annotations

import array
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
_REQ = struct.Struct("!iI")  # kind (1 spawn, 2 status), slot or pid
_REP = struct.Struct("!iq")  # ok, pid or status (-1000 unknown)
UNKNOWN = -1000


def _signature() -> tuple:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("FLOWRT_")))


class Zygote:
    """The front's handle of its zygote (one per process and environment)."""

    _current: "Zygote | None" = None
    _guard = threading.Lock()

    @classmethod
    def get(cls) -> "Zygote":
        with cls._guard:
            z = cls._current
            if z is None or not z.alive() or z.signature != _signature():
                if z is not None:
                    z.close()
                z = cls._current = Zygote()
            return z

    def __init__(self):
        self.signature = _signature()
        self.lock = threading.Lock()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine.workers.zygote", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                env=env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self.sock = mine

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _ask(self, kind: int, value: int, fds=(), timeout: float = 30.0) -> tuple[int, int]:
        with self.lock:
            self.sock.settimeout(timeout)
            msg = _REQ.pack(kind, value)
            if fds:
                self.sock.sendmsg(
                    [msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
                )
            else:
                self.sock.sendall(msg)
            data = b""
            while len(data) < _REP.size:
                chunk = self.sock.recv(_REP.size - len(data))
                if not chunk:
                    raise OSError("the worker zygote exited")
                data += chunk
            return _REP.unpack(data)

    def spawn(self, fds: tuple, slot: int) -> "ForkedWorker":
        ok, pid = self._ask(1, slot, fds)
        if not ok:
            raise OSError("the worker zygote could not fork")
        return ForkedWorker(pid, self)

    def status(self, pid: int):
        try:
            ok, status = self._ask(2, pid, timeout=2.0)
        except OSError:
            return None
        return None if not ok or status == UNKNOWN else status

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class ForkedWorker:
    """A worker forked by the zygote: the subprocess.Popen calls the cluster makes."""

    def __init__(self, pid: int, zygote: Zygote):
        self.pid = pid
        self.zygote = zygote
        self.returncode: int | None = None

    def poll(self):
        if self.returncode is not None:
            return self.returncode
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            state = "X"
        if state in ("Z", "X"):
            status = self.zygote.status(self.pid)
            self.returncode = status if status is not None else UNKNOWN
            return self.returncode
        return None

    def wait(self, timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
            time.sleep(0.01)
        return None if self.returncode == UNKNOWN else self.returncode

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# -- the zygote process ---------------------------------------------------------------------
def serve(fd: int) -> int:
    # no PR_SET_PDEATHSIG here: it fires when the *thread* that started us ends (an engine's
    # event-loop thread, in a process that runs several); the front's end closes our socket
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # what a worker imports: loaded once here, shared by every fork
    import importlib

    from engine.core import FRONT_ONLY, SUBSYSTEMS

    for name in SUBSYSTEMS:
        if name not in FRONT_ONLY:
            importlib.import_module(name)
    from engine.workers import worker

    sock = socket.socket(fileno=fd)
    statuses: dict[int, int] = {}

    def reap():
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            statuses[pid] = os.waitstatus_to_exitcode(status)
            if len(statuses) > 1000:
                statuses.pop(next(iter(statuses)))

    while True:
        r, _, _ = select.select([sock], [], [], 1.0)
        reap()
        if not r:
            continue
        try:
            data, ancdata, _, _ = sock.recvmsg(_REQ.size, socket.CMSG_SPACE(3 * 4))
        except OSError:
            return 0
        if len(data) < _REQ.size:
            return 0  # the front closed the socket
        kind, value = _REQ.unpack(data)
        if kind == 2:
            reap()
            sock.sendall(_REP.pack(1, statuses.get(value, UNKNOWN)))
            continue
        fds = array.array("i")
        for level, typ, payload in ancdata:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        if len(fds) != 3:
            for f in fds:
                os.close(f)
            sock.sendall(_REP.pack(0, 0))
            continue
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                sock.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                code = worker.main([str(fds[0]), str(fds[1]), str(fds[2]), str(value)])
            finally:
                os._exit(code)
        for f in fds:
            os.close(f)
        sock.sendall(_REP.pack(1, pid))


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1])))
