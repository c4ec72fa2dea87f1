"""What the fuzz and abuse suite found (issue 14), one regression test each."""

from __future__ import annotations

import logging
import socket
import urllib.error
import urllib.request

import pytest

from engine.bgp import message as m
from engine.flows.engine import FlowEngine


def test_a_flow_whose_regex_does_not_compile_changes_nothing():
    """The filter parsed but its ~ value was no regular expression: the definition stayed in
    the table while the pipeline could not be built, and every definition stopped counting."""
    f = FlowEngine(None)
    f.set_flow("good", {"keys": "ipsource", "value": "frames"})
    for bad in ("ipsource~*a", "ipsource~" + "(" * 3000 + "a" + ")" * 3000):
        with pytest.raises(ValueError):
            f.set_flow("bad", {"keys": "ipsource", "filter": bad})
    assert list(f.tables) == ["good"]
    f.process({"ipsource": "10.0.0.1", "frames": 1}, "192.0.2.1", "1", 1, 1000.0)
    assert f.active_flows(None, "good", now=1000.0)[0]["key"] == "10.0.0.1"


@pytest.mark.parametrize(
    "route",
    [
        {"nexthop": "192.0.2.1", "localpref": {"a": 1}},
        {"nexthop": "192.0.2.1", "med": [1]},
        {"nexthop": "192.0.2.1", "med": 1e308},
        {"nexthop": "192.0.2.1", "localpref": -1},
        {"nexthop": "192.0.2.1", "aspath": [None]},
        {"nexthop": "192.0.2.1", "aspath": [1.5e300]},
        {"nexthop": "192.0.2.1", "communities": "65000:x"},
    ],
)
def test_routepusher_odd_numbers_are_400(make_engine, route):
    """A route whose med, localpref, AS path or communities were not numbers gave 500."""
    eng = make_engine({"bgp.start": "yes", "bgp.port": "0", "bgp.hostname": "127.0.0.1"})
    eng.call(eng.engine.subsystems["bgp"].add_neighbor, "127.0.0.1", 65000)
    status, err = eng.request("PUT", "/bgp/routepusher/127.0.0.1/10.1.0.0/16/json", route)
    assert status == 400 and err["error"], err
    good = {"nexthop": "192.0.2.1", "med": "7", "localpref": 100.0, "aspath": "65000-1"}
    assert eng.request("PUT", "/bgp/routepusher/127.0.0.1/10.1.0.0/16/json", good)[0] == 204


@pytest.mark.parametrize(
    "body", [b'{"web": Infinity}', b'{"web": [NaN]}', b'{"keys": "ipsource", "t": -Infinity}']
)
def test_nan_and_infinity_are_not_json(make_engine, body):
    """Python's parser reads NaN and Infinity; a map holding Infinity gave 500."""
    eng = make_engine()
    for path in ("/map/m/json", "/flow/f/json", "/group/g/json"):
        status, err = eng.request("PUT", path, body)
        assert status == 400 and "is not a JSON value" in err["error"], (path, err)


def test_malformed_requests_are_not_logged_with_tracebacks(make_engine, caplog):
    """aiohttp logged every over-long request line or bad header as an error with a traceback;
    now a 400 and one FINE line per client a minute."""
    caplog.set_level(logging.DEBUG)
    eng = make_engine()
    for _ in range(5):
        try:
            urllib.request.urlopen(eng.http_url + "/flows/json?x=" + "y" * 10000, timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == 400
        s = socket.create_connection(("127.0.0.1", eng.http_port))
        s.sendall(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        assert b" 400 " in s.recv(100)
        s.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    from engine.http_server import _bad_requests

    reported = _bad_requests.limited.state.get("127.0.0.1")
    assert reported is not None and reported[1] >= 9  # one line, nine held back


def test_update_shorter_than_its_length_fields():
    """decode_update promised BgpError only, but a body under 4 bytes raised struct.error (the
    session's header check kept it from happening on the wire)."""
    for body in (b"", b"\0", b"\0\0\0"):
        with pytest.raises(m.BgpError):
            m.decode_update(body, True)
