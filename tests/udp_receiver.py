"""Another collector for tests that send sFlow onward (forwarding, tenants): a UDP socket on a
loopback ephemeral port, read by a thread into .got."""

from __future__ import annotations

import socket
import threading
import time

from waiting import wait_until


class Receiver:
    """Bound to (host, 0) on creation; .host and .port say where to send. close() when done."""

    def __init__(self, family=socket.AF_INET, host="127.0.0.1"):
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:  # SO_RCVBUFFORCE (33, Linux, root) passes net.core.rmem_max
            self.sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.host = host
        self.got: list[bytes] = []
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data = self.sock.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            self.got.append(data)

    def wait_count(self, n: int, timeout: float = 20.0) -> list[bytes]:
        """Everything received once there are n datagrams, or at the timeout (callers assert)."""
        deadline = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.got)

    def wait_for(self, datagram: bytes, timeout: float = 10.0) -> list[bytes]:
        """Everything received up to and including `datagram` (a marker sent last)."""
        wait_until(lambda: datagram in self.got, timeout, 0.01, "marker datagram forwarded")
        got = list(self.got)
        return got[: got.index(datagram) + 1]

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()
