"""A detector started settled (``CrampDetector.reset(settled=True)``): how a kept snippet replays when the service's
detector was settled at its first sample (docs/learning.md).  It still learns the noise floor first, and otherwise
behaves as a detector that settled by itself."""

from __future__ import annotations

import numpy as np
import pytest

from service.pipeline.detect import BLOCK_WINDOWS, SETTLE_S, WINDOW_S, CrampDetector
from support.synth import Scene, run, starts

WARM_UP_S = BLOCK_WINDOWS * WINDOW_S


def settled() -> CrampDetector:
    d = CrampDetector()
    d.reset(settled=True)
    return d


def kinds(events, kind):
    return [e for e in events if e.kind == kind]


def test_a_detector_started_settled_alerts_a_cramp_whose_lead_in_moves_early():
    # the lead-in of a kept snippet: a leg movement 40 s in keeps a fresh detector from its quiet start
    sc = Scene(300.0, seed=22)
    sc.limb_movement(40.0, 6.0)
    sc.cramp(120.0, 60.0)
    t, a = sc.sample(50)
    assert starts(run(CrampDetector(), t, a)) == []  # fresh: not settled by 120 s (the guard gap)
    d = settled()
    assert d.settled and d.unsettle_reason is None
    ev = run(d, t, a)
    (s,) = starts(ev)
    assert s.onset == pytest.approx(120.0, abs=2.0) and 130.0 <= s.t <= 135.0
    assert kinds(ev, "settled") == [] and kinds(ev, "unsettled") == []
    assert d.unsettled_spans == [] and d.settled


@pytest.mark.parametrize("sensor,rate", [("mpu6050", 50), ("adxl345", 25), ("lis3dh", 100)])
def test_a_settled_start_alerts_on_nothing_during_or_after_the_warm_up(sensor, rate):
    # a still leg, on the noisiest chips too: the floor is not known for 20 s (it starts at the clamp's top), and
    # then it is measured; nothing is ever active
    sc = Scene(200.0, seed=31)
    t, a = sc.sample(rate, sensor=sensor)
    d = settled()
    assert run(d, t, a) == []
    assert d.settled and d.noise_floor_g < 0.02


def test_a_settled_start_does_not_alert_on_movement_in_the_warm_up():
    # a cramp-like movement over the whole warm-up (1-19 s): nothing counts as active before the first 20 s
    # block has closed, so no candidate starts there and nothing alerts
    sc = Scene(120.0, seed=32)
    sc.cramp(1.0, 18.0)
    t, a = sc.sample(50)
    d = settled()
    ev = run(d, t, a)
    assert starts(ev) == [] and d.settled


def test_a_settled_start_on_a_cramp_under_way_counts_it_from_the_end_of_the_warm_up():
    # the snippet begins inside a movement: it is seen from 20 s on, so an alert can only follow a full
    # confirmation after the warm-up, never come out of the warm-up itself
    sc = Scene(200.0, seed=33)
    sc.cramp(2.0, 90.0)
    t, a = sc.sample(50)
    ev = run(settled(), t, a)
    assert all(s.onset >= WARM_UP_S and s.t >= WARM_UP_S + 11.0 for s in starts(ev))


def test_a_settled_start_behaves_as_a_detector_that_settled_by_itself():
    # the same night from 100 s on: a fresh detector settles on its quiet start (at 80 s), the other starts
    # settled.  Walking unsettles both, the cramp 60 s after it is not alerted, settle_s of stillness later both
    # settle again and alert the next cramp: the same events, spans and stirs after the first 100 s
    sc = Scene(1000.0, seed=34)
    sc.limb_movement(130.0, 5.0)  # a stir while settled (the sleeper's baseline)
    walked = sc.walk(200.0, 20.0)
    sc.cramp(walked + 60.0, 40.0)
    sc.cramp(walked + SETTLE_S + 200.0, 60.0)
    t, a = sc.sample(50)
    fresh, ready = CrampDetector(), settled()
    ev_fresh, ev_settled = run(fresh, t, a), run(ready, t, a)
    first, *rest = kinds(ev_fresh, "settled")
    assert first.reason == "start" and first.t <= 100.0  # the fresh one settled by itself, quietly
    assert [e for e in ev_fresh if e is not first] == ev_settled
    assert fresh.unsettled_spans[1:] == ready.unsettled_spans
    (span,) = ready.unsettled_spans
    assert span[2] == "walking" and span[1] is not None  # unsettled by the walk, settled again
    assert [round(s.onset) for s in starts(ev_settled)] == pytest.approx([walked + SETTLE_S + 200.0], abs=2)
    assert fresh.unalerted == ready.unalerted and len(ready.unalerted) == 1
    assert fresh.baseline.to_dict() == ready.baseline.to_dict()


def test_settled_at_looks_the_state_up_in_the_spans():
    sc = Scene(700.0, seed=34)
    walked = sc.walk(200.0, 20.0)
    t, a = sc.sample(50)
    d = CrampDetector()
    run(d, t, a)
    (start_span, walk_span) = d.unsettled_spans
    assert start_span[0] == pytest.approx(0.0, abs=0.5) and start_span[2] == "start"
    assert walk_span[2] == "walking" and walk_span[1] is not None and walk_span[0] < walked
    assert d.settled_at(-5.0) == (False, "start")  # before the first window: not running yet, as it started
    assert d.settled_at(10.0) == (False, "start")
    assert d.settled_at(start_span[1]) == (True, None)
    assert d.settled_at(walk_span[0] - 1.0) == (True, None)
    assert d.settled_at(walk_span[0] + 1.0) == (False, "walking")
    assert d.settled_at(walk_span[1] + 1.0) == (True, None)
    s = settled()
    assert s.settled_at(0.0) == (True, None)  # nothing fed: as it started
    d.reset()
    assert d.settled_at(100.0) == (False, "start") and d.unsettled_spans == []
    assert np.isfinite(d.noise_floor_g)
