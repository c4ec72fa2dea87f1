"""Item 3 of issue 14: SIGTERM ends ./start.sh within seconds whatever is open: a long-poll,
BGP sessions (an established one that stopped reading, half-open ones, a burst of connects),
script HTTP calls to a server that never answers (http() and httpAsync()), IPFIX export."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
import urllib.request

from conftest import free_port
from bgp_peer import RawPeer
from test_start import start_engine

STOP_SECONDS = 5.0

SCRIPT = """
var silent = 'http://127.0.0.1:%(silent)d/never';
bgpAddNeighbor('127.0.0.1', 65162, '10.0.0.162');
for (var i = 0; i < 5000; i++) {    // routes pushed to a peer that will stop reading
  bgpAddRoute('127.0.0.1', {prefix: '10.' + (i >> 8) + '.' + (i & 255) + '.0/24', nexthop: '192.0.2.1'});
}
setFlow('export', {keys: 'ipsource,ipdestination', value: 'bytes',
                   ipfixCollectors: ['127.0.0.1:%(ipfix)d']});
var started = false;
setIntervalHandler(function () {
  if (started) return;
  started = true;
  httpAsync({url: silent, success: function () {}, error: function () {}});
  try { http(silent); } catch (e) { logInfo('http ended: ' + e); }
}, 1);
"""


class SilentServer:
    """Accepts connections and never answers (a hung backend)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for c in self.accepted:
            c.close()


def test_sigterm_stops_within_seconds_whatever_is_open(tmp_path):
    silent = SilentServer()
    ipfix = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ipfix.bind(("127.0.0.1", 0))
    (tmp_path / "hold.js").write_text(
        SCRIPT % {"silent": silent.port, "ipfix": ipfix.getsockname()[1]}
    )
    http, bgp = free_port("tcp"), free_port("tcp")
    proc, lines = start_engine(
        tmp_path,
        [
            f"-Dhttp.port={http}",
            f"-Dsflow.port={free_port('udp')}",
            "-Dhttp.hostname=127.0.0.1",
            "-Dbgp.start=yes",
            f"-Dbgp.port={bgp}",
            "-Dbgp.hostname=127.0.0.1",
            "-Dscript.file=hold.js",
            "-Dscript.http.timeout=300",
        ],
    )
    peers, sockets = [], []
    try:
        deadline = time.monotonic() + 60
        while len(silent.accepted) < 2:  # http() and httpAsync() are both waiting
            assert time.monotonic() < deadline and proc.poll() is None, "script never called out"
            time.sleep(0.1)
        # an established session whose router stopped reading: the routes fill its buffers
        stuck = RawPeer("127.0.0.1", bgp, 65254, "10.0.0.254", hold=0)
        stuck.handshake()
        stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        peers.append(stuck)
        # a burst of connects: configured and unknown peers, some left half-open
        for i in range(200):
            s = socket.create_connection(("127.0.0.1", bgp), timeout=5)
            if i % 2:
                s.close()
            else:
                sockets.append(s)
        # a long-poll that would wait a minute
        poll_result = {}

        def long_poll():
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{http}/flows/json?timeout=60", timeout=120
                ) as reply:
                    poll_result["body"] = json.loads(reply.read())
            except Exception as exc:
                poll_result["error"] = exc

        poller = threading.Thread(target=long_poll, daemon=True)
        poller.start()
        time.sleep(1.0)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        took = time.monotonic() - t0
        print(f"stopped in {took:.2f}s")
        assert took < STOP_SECONDS, f"stop took {took:.1f}s:\n{out[-3000:]}"
        assert proc.returncode == 0, out[-3000:]
        assert "Stopping" in out
        poller.join(5)
        assert poll_result.get("body") == [], poll_result  # answered, not cut off
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in peers:
            p.close()
        for s in sockets:
            s.close()
        silent.close()
        ipfix.close()
