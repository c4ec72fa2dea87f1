"""Accuracy: known traffic from the generator, sampled 1:N, sent as real sFlow over UDP in real
time; activeflows must converge to the true rates, rank them right, and decay when traffic
stops."""

import math
import threading
import time

import pytest

from engine.sflow.gen import Scenario, TrafficGenerator

# real-time sending against the wall clock: not while other tests load the machine
pytestmark = pytest.mark.alone


def send_generated(eng, gen, stop, dt=0.02):
    start = time.monotonic()
    i = 0
    while not stop.is_set():
        eng.send(gen.step(dt))
        i += 1
        delay = start + (i + 1) * dt - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def test_activeflows_converge_to_true_rates_rank_and_decay(make_engine):
    eng = make_engine()
    t = 1.0
    gen = TrafficGenerator(
        Scenario(
            agents=1,
            flows=10,
            samples_per_second=1500,
            sampling_rate=50,
            sizes=((1000, 1.0),),
            seed=11,
        )
    )
    eng.call(
        eng.engine.subsystems["flows"].set_flow,
        "pair",
        {"keys": "ipsource,ipdestination", "value": "bytes", "t": t, "n": 10},
    )
    eng.call(eng.engine.subsystems["flows"].set_flow, "total", {"value": "frames", "t": t})
    stop = threading.Event()
    sender = threading.Thread(target=send_generated, args=(eng, gen, stop))
    sender.start()
    try:
        time.sleep(6.0)  # 6 t: the smoothing has converged to 99.75%
        # read while traffic flows (reading after it stops would see it already decaying)
        flows = eng.get_json("/activeflows/ALL/pair/json?maxFlows=10")
        [total] = eng.get_json("/activeflows/ALL/total/json?aggMode=sum")
    finally:
        stop.set()
        sender.join(5)
    truth = {f"{f.src},{f.dst}": f.bytes_per_second for f in gen.flows}
    errors = {r["key"]: (r["value"] - truth[r["key"]]) / truth[r["key"]] for r in flows}
    true_frames = sum(f.frames_per_second for f in gen.flows)
    total_error = (total["value"] - true_frames) / true_frames
    print(
        f"\nflow rate errors (sampling 1:50, t={t}s): "
        + ", ".join(f"{e:+.2%}" for e in errors.values())
        + f"; total frames {total_error:+.2%}"
    )
    assert len(flows) == 10
    # the five heaviest carry 34%..7% of the traffic (>= 100 samples/s each): within 5%
    ranked = sorted(truth, key=truth.get, reverse=True)
    assert [r["key"] for r in flows[:5]] == ranked[:5]
    for key in ranked[:5]:
        assert abs(errors[key]) < 0.05, (key, errors[key])
    assert all(abs(e) < 0.15 for e in errors.values())
    assert abs(total_error) < 0.03
    # traffic stops: the flows decay with time constant t
    before = total["value"]
    time.sleep(2 * t)
    [after] = eng.get_json("/activeflows/ALL/total/json?aggMode=sum")
    assert 0.5 * math.exp(-2) * before < after["value"] < 2 * math.exp(-2) * before
