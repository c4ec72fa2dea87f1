"""bgp* flow keys in flow definitions: sFlow from a bgpAddSource agent, matched to the router's
table (fed by a raw BGP peer), through the flow engine's enricher hook and the REST API; the
seed's ddos.py and elephant.py flow definitions."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from bgp_support import sflow_datagram
from bgp_peer import RawPeer, attrs_bytes, pack_updates


def put(running, path, body):
    req = urllib.request.Request(
        running.http_url + path,
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as reply:
        return reply.status


@pytest.fixture
def routed(make_engine):
    running = make_engine({"bgp.start": "yes", "bgp.port": "0"})
    bgp = running.engine.subsystems["bgp"]
    running.call(bgp.add_neighbor, "127.0.0.1", 65162, "10.0.0.162")
    peer = RawPeer("127.0.0.1", bgp.listen_port, 65254, "10.0.0.254")
    peer.handshake()
    for msg in pack_updates(
        [(socket.inet_aton("192.0.2.0"), 24)],
        attrs_bytes(aspath=(65254, 174, 3356), communities=(65000 << 16 | 666,)),
    ):
        peer.send(msg)
    for msg in pack_updates(
        [(socket.inet_aton("10.1.0.0"), 16)], attrs_bytes(aspath=(65254, 64512))
    ):
        peer.send(msg)
    running.wait_for(lambda: len(bgp.neighbors["127.0.0.1"].rib4) == 2)
    running.call(bgp.add_source, "10.0.0.253", "127.0.0.1", 60, "bytes")
    yield running, bgp
    peer.close()


def test_seed_flow_definitions_get_bgp_keys(routed):
    running, bgp = routed
    # ddos.py: keys mask:ipsource,bgpsourceas, filter udpsourceport=53, value frames
    assert (
        put(
            running,
            "/flow/ddos/json",
            {"keys": "mask:ipsource,bgpsourceas", "filter": "udpsourceport=53", "value": "frames"},
        )
        == 204
    )
    # elephant.py: a 5-tuple with the destination AS path
    assert (
        put(
            running,
            "/flow/elephant/json",
            {
                "keys": "ipsource,ipdestination,tcpsourceport,tcpdestinationport,bgpdestinationaspath",
                "value": "bytes",
            },
        )
        == 204
    )
    assert (
        put(
            running,
            "/flow/bgp/json",
            {
                "keys": "bgpas,bgpnexthop,bgpdestinationas,bgpdestinationpeeras,bgpcommunities,"
                "bgplocalpref,ipdestinationmaskbits",
                "value": "bytes",
            },
        )
        == 204
    )
    flows = [("10.1.7.7", "192.0.2.10", 17, 53, 33000)] * 5 + [
        ("10.1.7.7", "192.0.2.10", 6, 40000, 443)
    ] * 3
    running.send(sflow_datagram("10.0.0.253", flows))

    def active(name):
        return running.get_json(f"/activeflows/ALL/{name}/json")

    ddos = running.wait_for(lambda: active("ddos"))
    assert ddos[0]["key"] == "10.1.0.0/16,64512"
    eleph = running.wait_for(lambda: active("elephant"))
    assert eleph[0]["key"] == "10.1.7.7,192.0.2.10,40000,443,65254-174-3356"
    keys = running.wait_for(lambda: active("bgp"))[0]["key"]
    assert keys == "65254,192.0.2.254,3356,65254,65000:666,100,24"


def test_no_bgp_keys_for_agents_without_a_source(routed):
    running, bgp = routed
    assert (
        put(running, "/flow/aspath/json", {"keys": "bgpdestinationaspath", "value": "bytes"}) == 204
    )
    assert put(running, "/flow/all/json", {"keys": "ipdestination", "value": "bytes"}) == 204
    running.send(sflow_datagram("10.0.0.99", [("10.1.7.7", "192.0.2.10")] * 3))
    running.wait_for(lambda: running.get_json("/activeflows/ALL/all/json"))
    assert running.get_json("/activeflows/ALL/aspath/json") == []


def test_agent_extended_gateway_wins_over_table(routed):
    """An agent that sends extended_gateway records reports its own forwarding decision: those
    bgp* keys are kept; the table only fills keys the agent did not send."""
    from engine.sflow import encode as e

    running, bgp = routed
    assert (
        put(
            running,
            "/flow/gw/json",
            {"keys": "bgpdestinationaspath,bgpas,ipdestinationmaskbits", "value": "bytes"},
        )
        == 204
    )
    assert (
        put(running, "/flow/gw2/json", {"keys": "bgpdestinationaspath,bgpas", "value": "bytes"})
        == 204
    )
    ip = e.encode_flow_record(
        {
            "flowBlock_tag": "0:3",
            "sampledPacketSize": 500,
            "IPProtocol": 6,
            "srcIP": "10.1.7.7",
            "dstIP": "192.0.2.10",
        }
    )
    gw = e.encode_flow_record(
        {
            "flowBlock_tag": "0:1003",
            "bgp_nexthop": "192.0.2.99",
            "my_as": 65999,
            "src_as": 64512,
            "src_peer_as": 64512,
            "dst_as_path": "65999-1-2",
            "BGP_communities": "",
            "BGP_localpref": 100,
        }
    )
    sample = e.flow_sample(1, 0, 3, 10, 10, 0, 1, 2, [ip, gw])
    running.send(e.datagram("10.0.0.253", 1, 1, [sample]))  # has a bgpAddSource
    running.send(e.datagram("10.0.0.77", 1, 1, [sample]))  # has none
    # from the source agent: path and AS as the agent sent them, mask bits from the table
    gw_flows = running.wait_for(lambda: running.get_json("/activeflows/ALL/gw/json"))
    assert [f["key"] for f in gw_flows] == ["65999-1-2,65999,24"]
    assert gw_flows[0]["agent"] == "10.0.0.253"
    # the agent without a source still has its own gateway keys
    other = running.wait_for(lambda: running.get_json("/activeflows/10.0.0.77/gw2/json"))
    assert [f["key"] for f in other] == ["65999-1-2,65999"]
