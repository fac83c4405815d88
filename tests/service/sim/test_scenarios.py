"""Single-scenario clips: labels, a chosen cramp length, clipping at the range."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.chipdata import CHIPS
from service.sim.scenarios import SCENARIOS, scenario


@pytest.mark.parametrize("kind", SCENARIOS)
def test_scenario_clips_label_only_cramps(kind):
    t, accel, labels = scenario(kind, seed=1, rate_hz=25, lead_s=30, tail_s=20)
    assert accel.shape == (t.shape[0], 3)
    assert np.all(np.diff(t) > 0)
    if kind in ("cramp", "mild_cramp"):
        assert len(labels) == 1 and labels[0][0] == pytest.approx(30.0)
        assert 15.0 <= labels[0][1] - labels[0][0] <= 600.0
    else:
        assert labels == []


def test_scenario_cramp_duration_can_be_chosen():
    t, accel, labels = scenario("cramp", seed=2, duration_s=45.0)
    assert labels[0][1] - labels[0][0] == pytest.approx(45.0)


@pytest.mark.parametrize("sensor", sorted(CHIPS))
def test_walking_clips_at_two_g_range(sensor):
    t, accel, _ = scenario("walk", seed=3, sensor=sensor, range_g=2, lead_s=5, tail_s=5)
    chip = CHIPS[sensor]
    lsb = chip.lsb_g(2)
    top, bottom = chip.quantise(np.array([10.0, -10.0]), 2)
    # The chip clips at its signed output word, which spans the nominal range to within a step or so.
    word = 2 ** (chip.bits[2] - 1)
    assert top == pytest.approx((word - 1) * lsb) and bottom == pytest.approx(-word * lsb)
    assert top > 2.0 - 2 * lsb and bottom < -2.0 + 2 * lsb
    assert accel.max() <= top and accel.min() >= bottom
    assert np.mean((accel == top) | (accel == bottom)) > 0.001  # a clipped stride is visible
    counts = accel / lsb
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-6)  # on the output grid
