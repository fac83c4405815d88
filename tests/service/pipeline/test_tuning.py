"""The [detection] knobs laid over a preset, and the detector built from them."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.errors import ConfigError
from service import config as cfg
from service.pipeline import detect
from service.pipeline.detect import PRESETS, TURNED_EXTRA_S
from service.pipeline.leg import LegPipeline
from service.pipeline.tuning import is_tuned, knob_values, make_detector, preset_for
from service.sim.scenarios import scenario
from support.synth import Scene, run, starts


def test_unset_knobs_are_the_presets():
    for name, preset in PRESETS.items():
        d = cfg.DetectionConfig(sensitivity=name)
        assert preset_for(d) is preset and not is_tuned(d)
        assert knob_values(d) == {"confirm_s": preset.alert_after_s, "turn_confirm_s": TURNED_EXTRA_S, "turn_deg": 45.0,
                                  "active_share": preset.min_active_frac}


def test_set_knobs_override_only_their_thresholds():
    d = cfg.parse("[detection]\nsensitivity = \"high\"\nconfirm_s = 15.0\nturn_confirm_s = 30\nactive_share = 0.9\n").detection
    p = preset_for(d)
    assert (p.alert_after_s, p.turned_extra_s, p.min_active_frac) == (15.0, 30.0, 0.9)
    assert p.on_abs_g == PRESETS["high"].on_abs_g and is_tuned(d)
    assert LegPipeline("leg", d, cfg.PromptsConfig()).detector.preset == p


@pytest.mark.parametrize("text", ["confirm_s = 5.0", "turn_confirm_s = -1", "active_share = 1.0", 'confirm_s = "x"'])
def test_knobs_out_of_range_are_refused(text):
    with pytest.raises(ConfigError):
        cfg.parse(f"[detection]\n{text}\n")


def test_more_time_for_a_turning_leg_stops_a_slow_turn_alarming(monkeypatch):
    sc = Scene(500.0, seed=0)
    sc.rollover(430.0, 18.0)  # after the five minutes of stillness that settle the sleeper
    t, a = sc.sample(50, seed=0)
    # the held-tilt check already stops this slow rollover (its tilt wanders); without it the knob must
    assert starts(run(make_detector(cfg.DetectionConfig()), t, a)) == []
    monkeypatch.setattr(detect, "HELD_TILT_RMS_DEG", 1e9)
    default = make_detector(cfg.DetectionConfig())
    tuned = make_detector(cfg.DetectionConfig(turn_confirm_s=35.0))
    assert len(starts(run(default, t, a))) == 1
    assert starts(run(tuned, t, a)) == []


def test_confirm_s_delays_the_alert_by_the_difference():
    sc = Scene(520.0, seed=2)
    sc.cramp(420.0, 60.0)
    t, a = sc.sample(50, seed=2)
    (d,) = starts(run(make_detector(cfg.DetectionConfig()), t, a))
    (late,) = starts(run(make_detector(cfg.DetectionConfig(confirm_s=15.0)), t, a))
    assert late.t - d.t == pytest.approx(4.0, abs=1.0) and np.isclose(late.onset, d.onset)


# ------------------------------------------------------------------ turn_deg: what counts as rolling over

ROLLS_FAR = cfg.DetectionConfig(turn_confirm_s=35.0, turn_deg=75.0)
"""A sleeper whose rollovers turn the leg further than 75 degrees: the extra time only for those."""


def _roll_and_shuffle(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    sc = Scene(detect.SETTLE_S + 200.0, seed=seed)
    sc.roll_and_shuffle(detect.SETTLE_S + 60.0, 25.0)  # a 90 degree roll, then 25 s of shuffling
    return sc.sample(50, seed=seed)


def _turning_cramp() -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """A 23 s cramp of the project's simulator that draws the leg up by more than 45 degrees (about 70 at 11 s)."""
    t, a, (episode,) = scenario("cramp", seed=1009, rate_hz=50, lead_s=90.0, tail_s=30.0)
    return t, a, episode


def test_turn_deg_keeps_the_extra_time_for_the_big_turns_only():
    t, a = _roll_and_shuffle()
    (alarm,) = starts(run(make_detector(cfg.DetectionConfig()), t, a))  # the defaults alarm on the shuffle
    assert alarm.tilt_deg > 75.0
    assert starts(run(make_detector(ROLLS_FAR), t, a)) == []
    # the same extra time for every turn over 45 degrees would stop the shuffle too, and lose a cramp that
    # draws the leg up; keeping it for turns over 75 degrees catches the cramp, no later than the defaults do
    ct, ca, (onset, end) = _turning_cramp()
    (plain,) = starts(run(make_detector(cfg.DetectionConfig()), ct, ca))
    assert onset - 2.0 <= plain.t <= end and plain.t - plain.onset > 11.5  # turned: the defaults' 4 s more
    assert starts(run(make_detector(cfg.DetectionConfig(turn_confirm_s=35.0)), ct, ca)) == []
    (tuned,) = starts(run(make_detector(ROLLS_FAR), ct, ca))
    assert onset - 2.0 <= tuned.t <= plain.t


def test_turn_deg_is_a_knob_with_a_range():
    d = cfg.parse("[detection]\nturn_deg = 80\n").detection
    assert preset_for(d).turned_deg == 80.0 and is_tuned(d)
    assert knob_values(cfg.DetectionConfig())["turn_deg"] == detect.TURNED_DEG
    for bad in ("20", "120", '"far"'):
        with pytest.raises(ConfigError):
            cfg.parse(f"[detection]\nturn_deg = {bad}\n")


def test_a_rollover_held_only_by_its_turn_does_not_lengthen_every_confirmation():
    """Shuffles after big rolls that the tuned turn rule kept from alarming are not this sleeper's stirs: a cramp that
    hardly turns the leg still alerts after the plain confirmation, not up to baseline_max_extra_s later."""
    sc = Scene(detect.SETTLE_S + 900.0, seed=0)  # rolls of 75-120 degrees: the tuned turn rule holds all six
    for k in range(6):
        sc.roll_and_shuffle(detect.SETTLE_S + 30.0 + 100.0 * k, 25.0)
    sc.cramp(detect.SETTLE_S + 700.0, 60.0)
    t, a = sc.sample(50, seed=0)
    d = make_detector(ROLLS_FAR)
    (cramp,) = starts(run(d, t, a))
    assert cramp.onset == pytest.approx(detect.SETTLE_S + 700.0, abs=1.0)
    assert cramp.t - cramp.onset == pytest.approx(11.0, abs=0.6)
    assert all(x <= 11.5 for x in d.baseline.to_dict()["stirs_s"])
