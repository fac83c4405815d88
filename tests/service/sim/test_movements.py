"""The movement models rendered: a still leg, walking, cramp phases and tremor, a bump through the chip's filter."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.chipdata import CHIPS
from service.sim.movements import Tones, random_rotation, up_vector
from service.sim.render import NightSource
from service.sim.scenarios import scenario, scenario_timeline


def _peak_hz(x: np.ndarray, rate: float, lo: float, hi: float) -> float:
    """Frequency of the largest spectral peak (summed over axes) between lo and hi."""
    x = x - x.mean(axis=0)
    f = np.fft.rfftfreq(x.shape[0], 1.0 / rate)
    p = (np.abs(np.fft.rfft(x, axis=0)) ** 2).sum(axis=1)
    band = (f >= lo) & (f <= hi)
    return float(f[band][np.argmax(p[band])])


@pytest.mark.parametrize("seed", range(6))
def test_still_leg_reads_one_g_along_up_at_any_mount(seed):
    mount = random_rotation(np.random.default_rng(100 + seed)) if seed else np.eye(3)
    tl = scenario_timeline("quiet", seed, mount, lead_s=30, tail_s=0)
    src = NightSource(tl, "mpu6050", noise=True)
    accel = CHIPS["mpu6050"].quantise(src(0.0, 1500, 50.0), 2)
    mean = accel.mean(axis=0)
    assert np.linalg.norm(mean) == pytest.approx(1.0, abs=0.005)
    pitch, roll = src.pose(np.array([10.0]))
    expected = up_vector(pitch, roll)[0] @ mount.T
    np.testing.assert_allclose(mean, expected, atol=0.005)


@pytest.mark.parametrize("seed", range(4))
def test_walking_has_a_stride_of_about_one_hertz_and_big_peaks(seed):
    tl = scenario_timeline("walk", seed)
    src = NightSource(tl, "lis3dh")
    stride = next(c for c in tl.events[0].components if isinstance(c, Tones) and c.target == "ang")
    n = int((stride.t1 - stride.t0) * 50)
    accel = src(stride.t0, n, 50.0)
    assert 0.8 <= _peak_hz(accel, 50.0, 0.3, 5.0) <= 1.15
    assert np.linalg.norm(accel, axis=1).max() > 1.8
    # standing: gravity along the shin
    assert abs(up_vector(np.array([90.0]), np.array([0.0]))[0, 2]) == pytest.approx(1.0)


def test_cramp_tremor_shows_at_its_frequency_when_the_rate_allows():
    for seed in range(4):
        tl = scenario_timeline("cramp", seed)
        ev = tl.events[0]
        accel = NightSource(tl, "mpu6050")(ev.start + 3, int((ev.info["sustained_s"] - 4) * 200), 200.0)
        assert _peak_hz(accel, 200.0, 5.0, 30.0) == pytest.approx(ev.info["tremor_hz"], rel=0.15)


def test_cramp_phases_and_mild_cramps_are_small_but_above_the_noise():
    def activity(kind, seed):
        tl = scenario_timeline(kind, seed, duration_s=60.0)
        ev = tl.events[0]
        src = NightSource(tl, "mpu6050", noise=False)
        before = src(ev.start - 21, 1000, 50.0)
        onset = src(ev.start, 50, 50.0)
        during = src(ev.start + 5, 2000, 50.0)
        after = src(ev.end + 2, 500, 50.0)
        hp = lambda x: np.sqrt(np.mean(np.sum(np.diff(x, axis=0) ** 2, axis=1)))  # noqa: E731
        tilt = np.degrees(np.arccos(np.clip(before.mean(0) @ during.mean(0), -1, 1)))
        jerk = np.abs(onset - before.mean(0)).max()
        return hp(before), hp(during), hp(after), tilt, jerk

    for seed in range(3):
        q0, typ, q1, tilt, jerk = activity("cramp", seed)
        assert typ > 10 * max(q0, q1) and jerk > 0.1 and tilt > 8.0
        m0, mild, m1, mtilt, mjerk = activity("mild_cramp", seed)
        noise = CHIPS["mpu6050"].noise_std_g(50.0).max()
        assert noise < mild < typ
        assert mild > 3 * max(m0, m1)


def test_a_bump_is_smaller_and_wider_at_a_low_rate():
    """The chip's filter scales with its data rate: a knock seen at 25 Hz is a smaller, wider blip."""
    def peak_and_width(rate):
        t, accel, _ = scenario("bump", seed=4, rate_hz=rate, noise=False, lead_s=5, tail_s=5)
        dev = np.linalg.norm(accel - accel[: int(2 * rate)].mean(axis=0), axis=1)
        return dev.max(), np.count_nonzero(dev > 0.5 * dev.max()) / rate

    p200, w200 = peak_and_width(200.0)
    p25, w25 = peak_and_width(25.0)
    assert p200 > 0.2 and p25 < 0.7 * p200
    assert w25 >= w200
