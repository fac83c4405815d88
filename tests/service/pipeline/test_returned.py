"""A movement that leaves the lying posture and comes back to it is a movement made and undone, not a held
contraction: its alert waits while it is back where it lay, at most until onset + RETURN_WAIT_S
(docs/detection.md, "back in the posture it left").  The same continuous movement on a settled leg, once
returning and once holding its tilt, once ending soon after 11 s and once going on like a cramp."""

from __future__ import annotations

import numpy as np

from service.pipeline.detect import RETURN_FROM_DEG, RETURN_TO_DEG, RETURN_WAIT_S, CrampDetector
from support.synth import run, starts

RATE = 50.0
MOVE_AT = 400.0
OUT_DEG = 40.0


def leg(move_s: float, returns: bool, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Quiet (MPU-6050-like noise), then ``move_s`` s of continuous movement (0.08 g at 7 Hz and 0.05 g at
    1.3 Hz): the shin tilts OUT_DEG in the first half second and holds it for 2 s; then it comes back to where
    it lay over 1 s (``returns``) or keeps the tilt; at the end of the movement it lies back down."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, MOVE_AT + move_s + 120.0, 1.0 / RATE)
    x = t - MOVE_AT
    out = np.clip(x / 0.5, 0.0, 1.0)
    back = np.clip((x - 2.5) / 1.0, 0.0, 1.0) if returns else np.zeros_like(x)
    end = np.clip((x - move_s) / 1.0, 0.0, 1.0)
    pitch = np.radians(OUT_DEG * out * (1.0 - back) * (1.0 - end))
    g = np.stack([np.sin(pitch), np.zeros_like(pitch), np.cos(pitch)], axis=1)
    moving = ((x >= 0.0) & (x < move_s))[:, None]
    motion = (0.08 * np.sin(2 * np.pi * 7.0 * t[:, None] + np.array([0.0, 1.0, 2.0]))
              + 0.05 * np.sin(2 * np.pi * 1.3 * t[:, None] + np.array([0.5, 2.0, 4.0])))
    return t, g + moving * motion + rng.normal(0.0, 0.004, (t.size, 3))


def alert_delays(move_s: float, returns: bool) -> list[float]:
    t, a = leg(move_s, returns)
    return [round(e.t - MOVE_AT, 1) for e in starts(run(CrampDetector(), t, a))]


def test_the_rule_is_about_a_large_excursion_and_a_close_return():
    assert RETURN_TO_DEG < RETURN_FROM_DEG < OUT_DEG
    assert RETURN_WAIT_S <= 20.0  # the wait stays within the 90th-percentile latency target


def test_a_movement_that_holds_its_tilt_alerts_at_the_usual_time():
    delays = alert_delays(16.0, returns=False)
    assert len(delays) == 1 and 10.0 <= delays[0] < 13.0


def test_a_movement_made_and_undone_does_not_alert():
    # the same 16 s of movement, but back in the posture it left by 3.5 s: it ends before the wait does
    assert alert_delays(16.0, returns=True) == []


def test_a_cramp_that_goes_on_back_in_its_posture_still_alerts_after_the_wait():
    delays = alert_delays(90.0, returns=True)
    assert len(delays) == 1 and RETURN_WAIT_S <= delays[0] < RETURN_WAIT_S + 2.0
