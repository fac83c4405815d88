"""The night simulator: reproducibility, labels, physics, sensor models, sampling, CLI."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.errors import ConfigError
from service.cli import main
from service.recording.format import read_labels, read_recording
from service.sim.simulate import (
    SCENARIOS,
    SENSORS,
    SLEEPERS,
    NightSource,
    Tones,
    make_night,
    night_source,
    random_rotation,
    scenario,
    scenario_timeline,
    simulate_night,
    up_vector,
    write_simulated_night,
)


def _peak_hz(x: np.ndarray, rate: float, lo: float, hi: float) -> float:
    """Frequency of the largest spectral peak (summed over axes) between lo and hi."""
    x = x - x.mean(axis=0)
    f = np.fft.rfftfreq(x.shape[0], 1.0 / rate)
    p = (np.abs(np.fft.rfft(x, axis=0)) ** 2).sum(axis=1)
    band = (f >= lo) & (f <= hi)
    return float(f[band][np.argmax(p[band])])


# --- reproducibility and determinism

def test_same_seed_gives_the_same_night_and_another_seed_does_not():
    a_rec, a_lab = simulate_night(0.25, 1, seed=5, rate_hz=25, sleeper="restless")
    b_rec, b_lab = simulate_night(0.25, 1, seed=5, rate_hz=25, sleeper="restless")
    c_rec, c_lab = simulate_night(0.25, 1, seed=6, rate_hz=25, sleeper="restless")
    np.testing.assert_array_equal(a_rec.t, b_rec.t)
    np.testing.assert_array_equal(a_rec.accel, b_rec.accel)
    np.testing.assert_array_equal(a_rec.temp_c, b_rec.temp_c)
    assert a_lab.episodes == b_lab.episodes and a_lab.extra == b_lab.extra
    assert a_lab.episodes != c_lab.episodes
    n = min(len(a_rec), len(c_rec))
    assert not np.allclose(a_rec.accel[:n], c_rec.accel[:n])


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


# --- labels and the timeline

@pytest.mark.parametrize("sleeper", sorted(SLEEPERS))
def test_requested_cramps_are_placed_apart_from_each_other_and_from_walking(sleeper):
    tl = make_night(8.0, 4, seed=11, sleeper=sleeper)
    eps = tl.episodes
    assert len(eps) == 4
    for onset, end in eps:
        assert 15.0 <= end - onset <= 600.0
        assert 0 < onset and end < 8 * 3600
    for (a0, a1), (b0, b1) in zip(eps, eps[1:]):
        assert b0 - a1 >= 1200.0
    walks = [e for e in tl.events if e.kind == "walk"]
    for e in tl.events:
        if e.kind == "cramp":
            continue
        for onset, end in eps:
            gap = max(e.start - end, onset - e.end)
            assert gap >= (600.0 if e.kind == "walk" else 30.0), (e.kind, e.start, onset)
    if sleeper == "walker":
        assert len(walks) >= 3


def test_zero_cramps_is_a_night_of_look_alikes_only():
    tl = make_night(8.0, 0, seed=4, sleeper="restless")
    assert tl.episodes == []
    kinds = {e.kind for e in tl.events}
    assert {"rollover", "twitch", "fidget", "bump"} <= kinds


def test_too_many_cramps_for_the_night_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot fit"):
        make_night(0.5, 5, seed=1)


def test_plm_series_follow_the_scoring_rules():
    tl = make_night(8.0, 0, seed=8, sleeper="plm")
    series = [e for e in tl.events if e.kind == "plm"]
    assert len(series) >= 3
    for e in series:
        onsets = np.array(e.info["onsets"])
        assert len(onsets) >= 4
        iv = np.diff(onsets)
        assert np.all((iv >= 10.0) & (iv <= 90.0))


def test_restless_sleepers_move_more_than_calm_ones():
    def count(sleeper):
        return sum(1 for e in make_night(8.0, 0, seed=21, sleeper=sleeper).events if e.kind != "bump")

    assert count("restless") > 2 * count("calm")


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="sleeper"):
        make_night(1.0, 0, 1, sleeper="snorer")
    with pytest.raises(ConfigError, match="sensor"):
        simulate_night(0.1, 0, 1, sensor="bma180")
    with pytest.raises(ConfigError, match="scenario"):
        scenario("sneeze")
    with pytest.raises(ConfigError, match="between 20 and 200"):
        scenario("quiet", rate_hz=400)


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


# --- physics

@pytest.mark.parametrize("seed", range(6))
def test_still_leg_reads_one_g_along_up_at_any_mount(seed):
    mount = random_rotation(np.random.default_rng(100 + seed)) if seed else np.eye(3)
    tl = scenario_timeline("quiet", seed, mount, lead_s=30, tail_s=0)
    src = NightSource(tl, "mpu6050", noise=True)
    accel = SENSORS["mpu6050"].quantise(src(0.0, 1500, 50.0), 2)
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


@pytest.mark.parametrize("sensor", sorted(SENSORS))
def test_walking_clips_at_two_g_range(sensor):
    t, accel, _ = scenario("walk", seed=3, sensor=sensor, range_g=2, lead_s=5, tail_s=5)
    model = SENSORS[sensor]
    lsb = model.lsb_g(2)
    top, bottom = model.quantise(np.array([10.0, -10.0]), 2)
    assert 2.0 - 2 * lsb < top < 2.0 and -2.0 <= bottom < -2.0 + 2 * lsb
    assert accel.max() <= top and accel.min() >= bottom
    assert np.mean((accel == top) | (accel == bottom)) > 0.001  # a clipped stride is visible
    counts = accel / lsb
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-6)  # on the output grid


@pytest.mark.parametrize("sensor", sorted(SENSORS))
@pytest.mark.parametrize("rate", [25.0, 100.0, 200.0])
def test_noise_matches_the_sensor_model(sensor, rate):
    tl = scenario_timeline("quiet", 1, lead_s=200, tail_s=0)
    noisy = NightSource(tl, sensor, noise=True)(0.0, 20000, rate)
    clean = NightSource(tl, sensor, noise=False)(0.0, 20000, rate)
    std = (noisy - clean).std(axis=0)
    expected = SENSORS[sensor].noise_std_g(rate)
    np.testing.assert_allclose(std, expected, rtol=0.04)
    assert 0.0007 <= expected.min() and expected.max() <= 0.01  # the 1-10 mg the datasheets give
    # After quantisation (LIS3DH and MPU fine steps) the noise floor is still the model's.
    if sensor != "adxl345":
        q = SENSORS[sensor].quantise(noisy, 2)
        rms = np.sqrt(np.sum(np.var(np.diff(q, axis=0), axis=0)) / 2)
        model = np.sqrt(np.sum(expected ** 2) + 3 * SENSORS[sensor].lsb_g(2) ** 2 / 12)
        assert rms == pytest.approx(model, rel=0.1)


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
        noise = SENSORS["mpu6050"].noise_std_g(50.0).max()
        assert noise < mild < typ
        assert mild > 3 * max(m0, m1)


# --- sampling: rate, jitter, gaps, temperature

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


def test_written_night_reads_back_identical(tmp_path):
    path = tmp_path / "night.csv.gz"
    labels, lpath = write_simulated_night(path, hours=0.2, cramps=1, seed=12, rate_hz=100, sensor="adxl345")
    assert lpath == tmp_path / "night.labels.json"
    rec = read_recording(path)
    mem, mem_labels = simulate_night(0.2, 1, seed=12, rate_hz=100, sensor="adxl345")
    np.testing.assert_array_equal(rec.t, mem.t)
    np.testing.assert_array_equal(rec.accel, mem.accel)
    np.testing.assert_array_equal(rec.temp_c, mem.temp_c)
    back = read_labels(lpath)
    np.testing.assert_allclose(back.episodes, mem_labels.episodes, atol=1e-4)
    assert back.hours == pytest.approx(0.2)
    assert back.extra["sensor"] == "adxl345" and back.extra["rate_hz"] == 100
    assert all(x["kind"] != "cramp" for x in back.extra["lookalikes"])


# --- CLI

def test_cli_simulate_writes_recording_and_labels(tmp_path, capsys):
    out = tmp_path / "n.csv"
    rc = main(["simulate", "-o", str(out), "--hours", "0.3", "--cramps", "1", "--seed", "3",
               "--rate", "25", "--sensor", "lis3dh", "--sleeper", "plm"])
    assert rc == 0
    assert "1 cramps" in capsys.readouterr().out
    assert len(read_recording(out)) > 0.29 * 3600 * 25
    assert len(read_labels(tmp_path / "n.labels.json").episodes) == 1


@pytest.mark.parametrize("extra, message", [
    (["--rate", "10"], "between 20 and 200"),
    (["--rate", "250"], "between 20 and 200"),
    (["--sensor", "bmi160"], "unknown sensor"),
    (["--sleeper", "snorer"], "unknown sleeper"),
    (["--hours", "0.2", "--cramps", "3"], "cannot fit"),
])
def test_cli_simulate_bad_options_exit_2(tmp_path, capsys, extra, message):
    rc = main(["simulate", "-o", str(tmp_path / "n.csv"), "--hours", "0.1", *extra])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "n.csv").exists()


def test_cli_simulate_missing_directory_exit_2(tmp_path, capsys):
    assert main(["simulate", "-o", str(tmp_path / "no" / "n.csv"), "--hours", "0.1"]) == 2
    assert "does not exist" in capsys.readouterr().err


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
