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
from support.synth import Scene, run, starts


def test_unset_knobs_are_the_presets():
    for name, preset in PRESETS.items():
        d = cfg.DetectionConfig(sensitivity=name)
        assert preset_for(d) is preset and not is_tuned(d)
        assert knob_values(d) == {"confirm_s": preset.alert_after_s, "turn_confirm_s": TURNED_EXTRA_S,
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
