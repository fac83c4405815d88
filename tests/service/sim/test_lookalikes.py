"""The look-alikes measured on real recordings (service/sim/lookalikes.py): each class as calibrated,
inside the recording format, and in both benchmark corpora at the stated rates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks import accuracy, nights
from firmware.chipdata import chip_data
from firmware.errors import ConfigError
from service.cli import build_parser
from service.sim import lookalikes as lk
from service.sim.lookalikes import LOOKALIKE_CLASSES
from service.sim.night import SLEEPERS, make_night
from service.sim.render import NightSource
from service.sim.scenarios import lookalike_night, lookalike_timeline
from service.sim.simulate import simulate_night

SEEDS = range(12)


def _seconds(src: NightSource, t0: float, t1: float, rate: float = 50.0):
    """Noiseless 1-s windows of the rendered clip: (dynamic RMS g, mean acceleration (S, 3))."""
    n_s = int(t1 - t0)
    a = src.render(t0, int(n_s * rate), rate).reshape(n_s, int(rate), 3)
    mean = a.mean(axis=1)
    rms = np.sqrt(a.var(axis=1).sum(axis=1))
    return rms, mean


def _angle(u, v) -> float:
    u, v = np.asarray(u, float), np.asarray(v, float)
    return math.degrees(math.acos(float(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))))


def _event(tl):
    (ev,) = tl.events
    return ev


# ------------------------------------------------------------------ each class as calibrated


def test_arousals_are_short_to_minutes_intermittent_and_sometimes_turn():
    durs, turns, gappy, rms_med = [], 0, 0, []
    for seed in range(24):
        tl = lookalike_timeline("arousal", seed)
        ev = _event(tl)
        src = NightSource(tl, noise=False)
        durs.append(ev.end - ev.start)
        rms, mean = _seconds(src, ev.start, ev.end)
        active = rms > 0.01
        rms_med.append(float(np.sqrt(np.mean(rms[active] ** 2))))
        if ev.end - ev.start > 20 and (~active).any():
            gappy += 1
        before = src.render(ev.start - 5, 250, 50.0).mean(axis=0)
        after = src.render(ev.end + 3, 250, 50.0).mean(axis=0)
        turns += _angle(before, after) > 45
    assert all(lk.AROUSAL_DUR_CLIP[0] <= d <= lk.AROUSAL_DUR_CLIP[1] for d in durs)
    assert 8 <= np.median(durs) <= 25  # real: median 16 s
    # real: dynamic RMS 53 / 160 / 251 mg per bout, 40-380 mg
    assert 0.04 <= np.median(rms_med) <= 0.3 and max(rms_med) < 0.6
    assert 0.15 <= turns / 24 <= 0.6  # real: 31% turn by more than 45 deg
    assert gappy >= 1  # long arousals have still seconds inside (real duty 0.6-0.86)


def test_settling_is_tens_of_intermittent_bouts_with_still_gaps_quieter_at_the_end():
    for seed in range(4):
        tl = lookalike_timeline("settling", seed, minutes=10)
        ev = _event(tl)
        assert ev.start < 1.0  # from the start of the night
        bouts = ev.info["bouts"]
        assert len(bouts) >= 3
        gaps = [b[0] - a[1] for a, b in zip(bouts, bouts[1:])]
        assert min(gaps) >= lk.SETTLE_GAP_CLIP[0] - 1e-6
        src = NightSource(tl, noise=False)
        rms, _ = _seconds(src, 0.0, 600.0)
        share = float((rms > 0.01).mean())
        assert 0.15 <= share <= 0.8  # real: 41% of the settling period's seconds active


def test_restless_is_the_settling_pattern_without_fading():
    tl = lookalike_timeline("restless", 3, minutes=6)
    ev = _event(tl)
    assert ev.kind == "restless" and len(ev.info["bouts"]) >= 2 and ev.start == pytest.approx(60.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_handling_flips_an_axis_turns_far_and_shakes_by_hundreds_of_mg(seed):
    tl = lookalike_timeline("handling", seed)
    ev = _event(tl)
    assert ev.start < 5.0  # right after the start
    src = NightSource(tl, noise=False)
    rms, mean = _seconds(src, 0.0, ev.end + 5)
    flipped = (mean.max(axis=0) > 0.7) & (mean.min(axis=0) < -0.7)
    assert flipped.any(), "one sensor axis goes from +1 g to -1 g"
    dirs = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    assert math.degrees(math.acos(np.clip((dirs @ dirs.T).min(), -1, 1))) > 150
    assert 0.1 <= float(np.percentile(rms[: int(ev.end)], 90)) <= 2.5  # real p90 0.12-1.36 g


def test_adjusting_the_sensor_rotates_it():
    rots = []
    for seed in range(8):
        tl = lookalike_timeline("adjust", seed)
        ev = _event(tl)
        src = NightSource(tl, noise=False)
        _, mean = _seconds(src, ev.start - 5, ev.end + 5)
        dirs = mean / np.linalg.norm(mean, axis=1, keepdims=True)
        rots.append(math.degrees(math.acos(np.clip((dirs @ dirs.T).min(), -1, 1))))
        assert lk.ADJUST_DUR_S[0] <= ev.end - ev.start
    assert min(rots) > 30 and np.median(rots) > 90


@pytest.mark.parametrize("seed", range(6))
def test_sitting_on_the_edge_puts_gravity_along_the_shin(seed):
    tl = lookalike_timeline("sit_edge", seed)
    ev = _event(tl)
    src = NightSource(tl, noise=False)
    mid = ev.start + 4.0 + ev.info["sitting_s"] / 2
    g = src.render(mid - 0.5, 50, 50.0).mean(axis=0)
    shin_up = tl.mount @ np.array([0.0, 0.0, -1.0])  # gravity along the shin, foot down
    assert _angle(g, shin_up) < 30
    lying = src.render(ev.start - 10, 50, 50.0).mean(axis=0)
    assert _angle(lying, shin_up) > 45


@pytest.mark.parametrize("seed", range(4))
def test_getting_up_stands_walks_at_a_stride_of_about_1_hz_and_resettles(seed):
    tl = lookalike_timeline("getup", seed)
    ev = _event(tl)
    assert lk.STRIDE_HZ[0] <= ev.info["stride_hz"] <= lk.STRIDE_HZ[1]
    assert len(ev.info["resettle_bouts"]) >= 1
    src = NightSource(tl, noise=False)
    pitch, _ = src.pose(np.arange(ev.start, ev.end, 0.5))
    assert pitch.max() >= lk.STAND_PITCH_DEG[0] - 1  # standing: gravity along the shin
    rms, mean = _seconds(src, ev.start, ev.end)
    assert np.abs(src.render(ev.start, int((ev.end - ev.start) * 50), 50.0)).max() > 1.0  # heel strikes
    # the clip ends lying still again
    assert _seconds(src, ev.end + 5, ev.end + 50)[0].max() < 0.005


# ------------------------------------------------------------------ the recording format


@pytest.mark.parametrize("kind", LOOKALIKE_CLASSES)
@pytest.mark.parametrize("sensor,rate,range_g", [("mpu6050", 20.0, 2), ("adxl345", 100.0, 4), ("lis3dh", 200.0, 8)])
def test_each_class_stays_inside_the_recording_format(kind, sensor, rate, range_g):
    rec, labels = lookalike_night(kind, seed=2, rate_hz=rate, sensor=sensor, range_g=range_g,
                                  minutes=3 if kind in ("settling", "restless") else None)
    assert labels.episodes == [] and labels.extra["lookalikes"][0]["kind"] == kind
    assert np.all(np.diff(rec.t) > 0) and rec.t[0] >= 0
    assert np.all(np.isfinite(rec.accel))
    step = chip_data(sensor).step_g(range_g) if hasattr(chip_data(sensor), "step_g") else 0.0
    assert np.abs(rec.accel).max() <= range_g + 1e-9 + step
    n_expected = rec.t[-1] * rate
    assert 0.9 * n_expected <= len(rec) <= 1.02 * n_expected + 2  # oscillator +-1 %, maybe a lost sample run
    assert rec.duration_s < 20 * 60  # a few minutes


def test_the_one_class_helper_is_seeded_and_rejects_unknown_classes():
    a, _ = lookalike_night("arousal", seed=5, rate_hz=25.0)
    b, _ = lookalike_night("arousal", seed=5, rate_hz=25.0)
    c, _ = lookalike_night("arousal", seed=6, rate_hz=25.0)
    assert np.array_equal(a.accel, b.accel) and np.array_equal(a.t, b.t)
    assert a.accel.shape != c.accel.shape or not np.array_equal(a.accel, c.accel)
    with pytest.raises(ConfigError, match="unknown look-alike class"):
        lookalike_night("sneeze")


def test_any_mount_rotation_is_honoured():
    rot = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    tl = lookalike_timeline("sit_edge", 1, mount_rotation=rot)
    assert np.array_equal(tl.mount, rot)


# ------------------------------------------------------------------ whole nights and the corpora


def _corpus_seeds(kind: str) -> list[tuple[int, str, float]]:
    base = accuracy.SEEDS[kind]
    out = [(base + k, sleeper, accuracy.HOURS_PER_NIGHT)
           for k, sleeper in enumerate(s for s in nights.SLEEPERS for _ in range(accuracy.NIGHTS_PER_SLEEPER))]
    return out + [(base + 900, "normal", 8.0)]


def test_tuning_and_held_out_seeds_stay_apart():
    tuning = {s for s, _, _ in _corpus_seeds("tuning")}
    held = {s for s, _, _ in _corpus_seeds("heldout")}
    assert not tuning & held
    assert min(tuning | held) >= 100  # the unit tests' seeds are below 100


@pytest.mark.parametrize("corpus", ["tuning", "heldout"])
def test_the_simulator_corpus_has_every_class_at_its_rates(corpus):
    assert nights.LOOKALIKES
    counts = {k: [] for k in LOOKALIKE_CLASSES}
    hours = 0.0
    for seed, sleeper, h in _corpus_seeds(corpus):
        cramps = accuracy.CRAMPS_PER_NIGHT if h <= 2 else 3
        tl = make_night(h, cramps, seed, sleeper, lookalikes=True)
        hours += h
        kinds = [e.kind for e in tl.events]
        for k in LOOKALIKE_CLASSES:
            counts[k].append(kinds.count(k))
        assert kinds.count("cramp") == cramps
        # get-ups replace the plain walks, 0-2 a night except for the walker
        assert "walk" not in kinds
        if sleeper != "walker":
            assert kinds.count("getup") <= 2
        # a cramp comes out of quiet: 10 min clear of settling, handling and get-ups
        ev = sorted(tl.events, key=lambda e: e.start)
        for c in (e for e in ev if e.kind == "cramp"):
            for o in ev:
                if o.kind in ("settling", "handling", "getup", "adjust", "restless", "sit_edge"):
                    assert o.end <= c.start - 599 or o.start >= c.end, (seed, o.kind)
    n = len(counts["arousal"])
    assert all(sum(v) >= 1 for v in counts.values()), counts
    assert sum(c >= 1 for c in counts["settling"]) >= 0.6 * n  # most nights (short ones may need the room)
    assert sum(c >= 1 for c in counts["handling"]) >= 0.5 * n
    per_h = sum(counts["arousal"]) / hours
    assert 0.7 <= per_h <= 2.0  # several a night (1 / h for a normal sleeper)


@pytest.mark.parametrize("corpus", ["tuning", "heldout"])
def test_the_synth_corpus_has_every_class_at_its_rates(corpus):
    firsts, rests = [], {k: 0 for k in LOOKALIKE_CLASSES}
    hours = 0.0
    for seed, sleeper, h in _corpus_seeds(corpus):
        first, rest = nights._lookalike_kinds(np.random.default_rng([seed, 0x10CA]), sleeper, h)
        firsts.append(first)
        hours += h
        for k in first + rest:
            rests[k] += 1
    assert all(v >= 1 for v in rests.values()), rests
    assert sum("settling" in f for f in firsts) >= 0.7 * len(firsts)
    assert 0.7 <= rests["arousal"] / hours <= 2.0


def test_a_synth_night_with_lookalikes_keeps_its_cramps(tmp_path):
    out = nights.write_night(tmp_path / "n.csv.gz", seed=5002, hours=1.0, sleeper="restless", sensor="mpu6050",
                             rate_hz=20.0, cramps=2)
    kinds = {m for m, _, _ in out["moves"]}
    assert len(out["episodes"]) == 2
    assert "settling" in kinds or "handling" in kinds


# ------------------------------------------------------------------ the switch


@pytest.mark.parametrize("sleeper", list(SLEEPERS))
def test_off_by_default_and_off_means_the_night_as_before(sleeper):
    plain = make_night(2.0, 2, 11, sleeper)
    off = make_night(2.0, 2, 11, sleeper, lookalikes=False)
    assert [(e.kind, e.start, e.end) for e in plain.events] == [(e.kind, e.start, e.end) for e in off.events]
    assert not {e.kind for e in plain.events} & set(LOOKALIKE_CLASSES)
    on = make_night(2.0, 2, 11, sleeper, lookalikes=True)
    assert {e.kind for e in on.events} & set(LOOKALIKE_CLASSES)
    assert np.array_equal(on.mount, plain.mount)


def test_the_cli_flag_defaults_off():
    p = build_parser()
    for argv in (["simulate", "-o", "x.csv"], ["demo"], ["run", "--simulate"]):
        assert p.parse_args(argv).lookalikes is False
        assert p.parse_args(argv + ["--lookalikes"]).lookalikes is True


def test_simulate_night_passes_the_switch():
    rec, labels = simulate_night(0.5, 0, 4, 20.0, lookalikes=True, gaps=False)
    kinds = {x["kind"] for x in labels.extra["lookalikes"]}
    assert kinds & set(LOOKALIKE_CLASSES)
    assert np.abs(rec.accel).max() <= 8.0
