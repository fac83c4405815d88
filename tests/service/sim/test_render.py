"""The renderer: any span renders alike, the source clock, the chip's noise, sampling (jitter, gaps), temperature."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.chipdata import CHIPS
from service.sim.night import make_night
from service.sim.render import NightSource, night_source
from service.sim.scenarios import scenario_timeline
from service.sim.simulate import simulate_night


def test_rendering_does_not_depend_on_how_the_span_is_cut():
    src = NightSource(make_night(1.0, 1, seed=2, sleeper="restless"), "adxl345", noise=False)
    rate = 50.0
    whole = src(0.0, 3600 * 50, rate)
    k, parts = 0, []
    for n in (1, 37, 4096, 999, 50_000, 3600 * 50):
        n = min(n, 3600 * 50 - k)
        parts.append(src(k / rate, n, rate))
        k += n
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-9)
    # and a repeated call with noise is repeatable
    noisy = NightSource(src.timeline, "adxl345", noise=True)
    np.testing.assert_array_equal(noisy(100.0, 500, rate), noisy(100.0, 500, rate))


def test_source_clock_origin_and_temperature():
    a = night_source(1.0, 0, seed=3, noise=False)
    b = night_source(1.0, 0, seed=3, noise=False, t_origin=1234.5)
    np.testing.assert_allclose(b(1234.5 + 600.0, 100, 50.0), a(600.0, 100, 50.0), atol=1e-12)
    assert b.temp_at(1234.5 + 600.0) == pytest.approx(a.temp_at(600.0))
    assert a.temp_at(0.0) == pytest.approx(20.0)


@pytest.mark.parametrize("sensor", sorted(CHIPS))
@pytest.mark.parametrize("rate", [25.0, 100.0, 200.0])
def test_noise_matches_the_chip_data(sensor, rate):
    tl = scenario_timeline("quiet", 1, lead_s=200, tail_s=0)
    noisy = NightSource(tl, sensor, noise=True)(0.0, 20000, rate)
    clean = NightSource(tl, sensor, noise=False)(0.0, 20000, rate)
    std = (noisy - clean).std(axis=0)
    expected = CHIPS[sensor].noise_std_g(rate)
    np.testing.assert_allclose(std, expected, rtol=0.04)
    assert 0.0007 <= expected.min() and expected.max() <= 0.01  # the 1-10 mg the datasheets give
    # After quantisation (LIS3DH and MPU fine steps) the noise floor is still the model's.
    if sensor != "adxl345":
        q = CHIPS[sensor].quantise(noisy, 2)
        rms = np.sqrt(np.sum(np.var(np.diff(q, axis=0), axis=0)) / 2)
        model = np.sqrt(np.sum(expected ** 2) + 3 * CHIPS[sensor].lsb_g(2) ** 2 / 12)
        assert rms == pytest.approx(model, rel=0.1)


@pytest.mark.parametrize("rate", [20.0, 50.0, 200.0])
def test_sample_rate_jitter_and_gaps(rate):
    rec, labels = simulate_night(0.4, 0, seed=9, rate_hz=rate, sensor="lis3dh", gap_rate_scale=8.0)
    dt = np.diff(rec.t)
    assert np.all(dt > 0)
    assert np.median(dt) == pytest.approx(1 / rate, rel=0.02)
    normal = dt[dt < 1.5 / rate]
    assert normal.std() > 0.01 / rate  # jitter is there
    holes = np.flatnonzero(dt > 1 / rate + 0.05)  # lost samples: every gap is >= 0.1 s
    gaps = labels.extra["gaps"]
    assert len(gaps) >= 1 and len(holes) == len(gaps)
    for h, (g0, g1) in zip(holes, gaps):
        assert rec.t[h] == pytest.approx(g0, abs=0.5 / rate + 0.005)
        assert rec.t[h + 1] == pytest.approx(g1, abs=0.5 / rate + 0.005)
    clean, _ = simulate_night(0.1, 0, seed=9, rate_hz=rate, jitter=False, gaps=False)
    assert np.all(np.diff(clean.t) < 1.5 / rate)
    assert np.diff(clean.t).std() < 1e-4


def test_room_temperature_a_reading_a_minute():
    rec, _ = simulate_night(2.0, 0, seed=3, rate_hz=20, gaps=False, start_temp_c=22.0)
    assert len(rec.temp_c) == pytest.approx(120, abs=1)
    assert np.all(np.abs(np.diff(rec.temp_t) - 60.0) < 0.5)
    assert rec.temp_c[0] == pytest.approx(22.0, abs=0.2)
    assert np.all((rec.temp_c > 12.0) & (rec.temp_c < 22.5))
    assert rec.temp_c[-1] < rec.temp_c[0]  # the night cools
