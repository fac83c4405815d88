"""Per-minute movement summary: orientation independence, postures, gaps, batching."""

from __future__ import annotations

import numpy as np
import pytest

from service.pipeline.movement import MovementSummarizer

RATE = 50.0


def rotation(rng) -> np.ndarray:
    """A uniformly random rotation matrix (QR of a Gaussian matrix)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def still(seconds: float, direction, rng, t0: float = 0.0, noise_g: float = 0.005):
    n = int(seconds * RATE)
    t = t0 + np.arange(n) / RATE
    g = np.asarray(direction, float) / np.linalg.norm(direction)
    return t, g + rng.normal(0.0, noise_g, size=(n, 3))


def test_still_leg_shows_only_sensor_noise_in_any_orientation():
    rng = np.random.default_rng(1)
    for _ in range(5):
        direction = rotation(rng) @ np.array([0.0, 0.0, 1.0])
        t, a = still(120.0, direction, rng)
        s = MovementSummarizer("left")
        minutes = s.feed(t, a) + s.close()
        assert len(minutes) == 2
        for m in minutes:
            assert m.leg == "left"
            assert m.moving_fraction == 0.0
            assert m.posture_changes == 0
            assert m.seconds_covered == 60
            # 5 mg per axis: the vector RMS is about sqrt(3) * 5 mg.
            assert 7.0 < m.activity_mg < 10.0


def test_activity_does_not_depend_on_how_the_sensor_is_strapped():
    rng = np.random.default_rng(2)
    t = np.arange(int(60 * RATE)) / RATE
    base = np.c_[0.3 * np.sin(2 * np.pi * 1.3 * t), 0.1 * np.sin(2 * np.pi * 7 * t), 1.0 + 0.05 * np.cos(2 * np.pi * 0.7 * t)]
    results = []
    for _ in range(4):
        r = rotation(rng)
        s = MovementSummarizer()
        results.append(s.feed(t, base @ r.T) + s.close())
    for other in results[1:]:
        assert other[0].activity_mg == pytest.approx(results[0][0].activity_mg, rel=1e-9)
        assert other[0].moving_fraction == results[0][0].moving_fraction


def test_rollover_is_one_posture_change_and_a_few_moving_seconds():
    rng = np.random.default_rng(3)
    t1, a1 = still(70.0, [0, 0, 1], rng)
    # 3 s roll through 90 degrees about x, then still on the side.
    n = int(3 * RATE)
    angle = np.linspace(0, np.pi / 2, n)
    t2 = 70.0 + np.arange(n) / RATE
    a2 = np.c_[np.zeros(n), np.sin(angle), np.cos(angle)] + rng.normal(0, 0.005, (n, 3))
    t3, a3 = still(67.0, [0, 1, 0], rng, t0=73.0)
    s = MovementSummarizer()
    minutes = s.feed(np.r_[t1, t2, t3], np.r_[a1, a2, a3]) + s.close()
    assert [m.posture_changes for m in minutes] == [0, 1, 0]
    assert minutes[0].moving_fraction == 0.0
    assert 2 / 60 <= minutes[1].moving_fraction <= 5 / 60


def test_writhing_minute_is_moving_throughout():
    rng = np.random.default_rng(4)
    t, a = still(60.0, [0.2, 0.3, 0.93], rng)
    a[:, 0] += 0.2 * np.sin(2 * np.pi * 1.0 * t)  # 1 Hz writhing, 0.2 g
    a[:, 1] += 0.03 * np.sin(2 * np.pi * 9.0 * t)  # fine tremor
    s = MovementSummarizer()
    (m,) = s.feed(t, a) + s.close()
    assert m.moving_fraction > 0.9
    assert m.activity_mg > 100.0


def test_same_result_in_any_batching():
    rng = np.random.default_rng(5)
    t, a = still(200.0, [0, 0, 1], rng)
    a[4000:4300, 1] += 0.4 * np.sin(np.arange(300) / 3.0)
    whole = MovementSummarizer()
    expected = whole.feed(t, a) + whole.close()
    chunked = MovementSummarizer()
    got = []
    i = 0
    while i < len(t):
        k = int(rng.integers(1, 400))
        got += chunked.feed(t[i:i + k], a[i:i + k])
        i += k
    got += chunked.close()
    assert got == expected
    assert len(expected) == 4  # 200 s: three full minutes and a partial one


def test_gap_leaves_fewer_covered_seconds_and_no_invented_data():
    rng = np.random.default_rng(6)
    t, a = still(60.0, [0, 0, 1], rng)
    keep = (t < 10.0) | (t >= 30.0)  # 20 s lost
    s = MovementSummarizer()
    (m,) = s.feed(t[keep], a[keep]) + s.close()
    assert m.seconds_covered == 40
    assert m.moving_fraction == 0.0


def test_minutes_are_emitted_as_they_complete():
    rng = np.random.default_rng(7)
    t, a = still(150.0, [0, 0, 1], rng)
    s = MovementSummarizer()
    done = s.feed(t[: int(61 * RATE)], a[: int(61 * RATE)])
    assert [m.t_start for m in done] == [0.0]
    done = s.feed(t[int(61 * RATE):], a[int(61 * RATE):])
    assert [m.t_start for m in done] == [60.0]
    assert [m.t_start for m in s.close()] == [120.0]
    assert s.close() == []


def test_bad_input():
    s = MovementSummarizer()
    with pytest.raises(ValueError, match="samples"):
        s.feed(np.arange(5.0), np.zeros((4, 3)))
    assert s.feed(np.array([np.nan]), np.array([[0.0, 0.0, 1.0]])) == []
