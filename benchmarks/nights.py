"""Whole nights from the test suite's independent signal generator (support/synth.py).

The accuracy benchmark scores the detector on two generators: the project's
night simulator (service.sim.simulate) and this one, written separately from the
physics in docs/signals.md, so a detector that only learnt one generator's habits
shows it.  A night is a chain of scenes (quiet, a look-alike or a cramp, quiet)
with the posture carried over, sampled with one fixed sensor mounting.

With :data:`LOOKALIKES` (on) the nights also carry the look-alikes measured on real
recordings (benchmarks/calibrate_real.py, docs/simulator.md): the sensor handled and a
settling-in period at the start of most nights, movement arousals, waking restless,
sensor adjustments, sitting on the edge of the bed and get-ups that end in resettling.
They are built here from Scene primitives, independently of service/sim/lookalikes.py,
from the same measured distributions (its constants) and the same rates per sleeper.
The accuracy benchmark gives the project simulator's nights the same switch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.recording.format import RecordingWriter, labels_path, write_labels
from service.sim import lookalikes as lk
from support.synth import Scene, random_rotation

LOOKALIKES = True
"""Both generators' benchmark nights include the real-recording look-alikes (False: the nights as before)."""

SLEEPERS = ("calm", "normal", "restless", "plm", "walker")

# Look-alikes per hour by sleeper type (docs/signals.md: several rollovers an hour in restless sleepers).
RATES_PER_H = {
    "calm": {"rollover": 1.5, "twitch": 3, "bump": 0.5},
    "normal": {"rollover": 3, "twitch": 6, "bump": 1, "fidget": 0.5},
    "restless": {"rollover": 7, "twitch": 10, "bump": 1, "fidget": 2.5},
    "plm": {"rollover": 3, "twitch": 4, "plm": 2.5},
    "walker": {"rollover": 3, "twitch": 4, "walk": 1.5},
}


def _event_scene(kind: str, rng: np.random.Generator, seed: int, roll0: float) -> Scene:
    pad = 15.0
    if kind == "cramp":
        dur = float(np.exp(rng.uniform(np.log(15.0), np.log(600.0))))
        sc = Scene(dur + 2 * pad + 20.0, seed=seed, roll0=roll0)
        mild = rng.random() < 0.2
        sc.cramp(pad, dur, scale=rng.uniform(0.25, 0.4) if mild else rng.uniform(0.6, 1.5),
                 jerk_g=rng.uniform(0.3, 1.2), tremor=rng.random() < 0.7)
    elif kind == "rollover":
        sc = Scene(2 * pad + 10.0, seed=seed, roll0=roll0)
        sc.rollover(pad, rng.uniform(2.0, 10.0))
    elif kind == "twitch":
        sc = Scene(2 * pad, seed=seed, roll0=roll0)
        sc.twitch(pad, rng.uniform(0.1, 1.0))
    elif kind == "bump":
        sc = Scene(2 * pad, seed=seed, roll0=roll0)
        sc.bump(pad, rng.uniform(0.3, 3.0))
    elif kind == "fidget":
        total = rng.uniform(60.0, 480.0)
        sc = Scene(total + 2 * pad + 15.0, seed=seed, roll0=roll0)
        sc.fidget(pad, total)
    elif kind == "plm":
        count = int(rng.integers(4, 40))
        sc = Scene(count * 90.0 + 2 * pad, seed=seed, roll0=roll0)
        end = sc.plm_series(pad, count, dur_s=(0.5, 10.0), interval_s=(10.0, 90.0))
        sc = _trim(sc, end + pad)
    elif kind == "walk":
        walk_s = rng.uniform(20.0, 300.0)
        sc = Scene(walk_s + 2 * pad + 25.0, seed=seed, roll0=roll0)
        sc.walk(pad, walk_s, stride_hz=rng.uniform(0.8, 1.2))
    else:
        raise ValueError(kind)
    return sc


# ------------------------------------------------------------------ real-recording look-alikes (Scene-built)

GETUPS_PER_8H = {"calm": 0.5, "normal": 1.0, "restless": 1.5, "plm": 1.0, "walker": 1.0}
"""Get-ups that end in resettling, per 8 h (the walker's plain walks come on top, as before)."""


SETTLE_BEFORE_CRAMP = ("handling", "settling", "restless", "adjust", "sit_edge", "getup")
"""After these, 10 min of quiet sleep before a cramp (the project simulator keeps the same distance)."""


def _ln(rng, median, sigma, clip) -> float:
    return float(np.clip(rng.lognormal(np.log(median), sigma), *clip))


def _moves(sc: Scene, t0: float, dur: float, rms_g: float, *, gap_p: float, wander_deg: float,
           turn_deg: float) -> float:
    """Intermittent movement: 1-8 s moves (0.3-3 Hz plus a 3-20 Hz part and jerks), still gaps of 1-9 s,
    the tilt wandering while it lasts and coming back (pitch) or turned by ``turn_deg`` (roll)."""
    rng = sc.rng
    t, end = t0, t0
    dp_total = 0.0
    per_axis = rms_g / np.sqrt(3.0)
    while t < t0 + dur - 0.5:
        md = max(0.8, min(rng.uniform(1.0, 8.0), t0 + dur - t))
        s = sc._span(t, t + md)
        n = s.stop - s.start
        if n < 8:
            break
        x = (sc.t[s] - t) / md
        win = np.sqrt(np.clip(np.sin(np.pi * x), 0.0, None))
        a = per_axis * rng.uniform(0.6, 1.4)
        hf = rng.uniform(0.5, 1.3)
        for k in range(3):
            sc.lin[s, k] += a * win * (sc._band_noise(n, 0.3, 3.0) + hf * sc._band_noise(n, 3.0, 20.0)) / np.sqrt(1 + hf * hf)
        for _ in range(int(rng.poisson(md * 0.4))):
            sc._pulse(rng.uniform(t, t + md), rng.uniform(0.04, 0.15), a * 2.5)
        if rng.random() < 0.6:
            dp = np.radians(rng.normal(0.0, wander_deg))
            sc._ramp(sc.pitch, t + 0.2, rng.uniform(0.5, 2.0), dp)
            dp_total += dp
            sc._ramp(sc.roll, t + 0.2, rng.uniform(0.5, 2.0), np.radians(rng.normal(0.0, wander_deg)))
        end = t + md
        t = end + (rng.uniform(1.0, 9.0) if rng.random() < gap_p else rng.uniform(0.0, 0.6))
    tr = rng.uniform(1.0, 3.0)
    sc._ramp(sc.pitch, max(t0, end - tr), tr, -dp_total)
    sc._ramp(sc.roll, max(t0, end - tr), tr, np.radians(turn_deg))
    return end


def _settle(sc: Scene, t0: float, period: float, decay: float) -> float:
    rng = sc.rng
    t, end = t0 + rng.uniform(0.0, 10.0), t0
    while t < t0 + period - 3.0:
        dur = min(_ln(rng, lk.SETTLE_DUR_MEDIAN_S, lk.SETTLE_DUR_SIGMA, lk.SETTLE_DUR_CLIP), t0 + period - t)
        x = (t - t0) / period
        rms = max(lk.SETTLE_RMS_CLIP[0], _ln(rng, lk.SETTLE_RMS_MEDIAN_MG, lk.SETTLE_RMS_SIGMA, lk.SETTLE_RMS_CLIP)
                  * (1 - decay * x)) / 1000.0
        turn = rng.uniform(60, 170) * rng.choice([-1, 1]) if rng.random() < lk.SETTLE_TURN_SHARE else rng.normal(0, 8)
        end = _moves(sc, t, dur, rms, gap_p=lk.SETTLE_GAP_P, wander_deg=rng.uniform(*lk.SETTLE_WANDER_DEG),
                     turn_deg=turn)
        t = end + _ln(rng, lk.SETTLE_GAP_MEDIAN_S, lk.SETTLE_GAP_SIGMA, lk.SETTLE_GAP_CLIP) * (1 + x)
    return end


def _handle(sc: Scene, t0: float, dur: float, flip: bool = True) -> float:
    """The sensor turned about freely (a half turn about the shin among them), shaken and tapped; then back."""
    rng = sc.rng
    t = t0
    dp_total = 0.0
    rms = _ln(rng, lk.HANDLING_RMS_MEDIAN_MG, lk.HANDLING_RMS_SIGMA, lk.HANDLING_RMS_CLIP) / 1000.0 / np.sqrt(3.0)
    first = True
    while t < t0 + dur - 1.0:
        sd = min(rng.uniform(1.5, 10.0), t0 + dur - t)
        if first and flip:
            sc._ramp(sc.roll, t, rng.uniform(0.3, 1.2), np.pi * rng.choice([-1, 1]))
        elif rng.random() < lk.HANDLING_TURN_P + 0.15:
            dp = np.radians(rng.uniform(-80, 80)) - dp_total * rng.uniform(0, 1)
            sc._ramp(sc.pitch, t, rng.uniform(0.3, 1.2), dp)
            dp_total += dp
            sc._ramp(sc.roll, t, rng.uniform(0.3, 1.2), np.radians(rng.uniform(-180, 180)))
        first = False
        s = sc._span(t, t + sd)
        n = s.stop - s.start
        if n >= 8:
            a = rms * rng.uniform(0.4, 1.6)
            for k in range(3):
                sc.lin[s, k] += a * (sc._band_noise(n, 0.5, 6.0) + rng.uniform(0.5, 1.5) * sc._band_noise(n, 6.0, 25.0))
        for _ in range(int(rng.poisson(sd * 0.6))):
            sc._pulse(rng.uniform(t, t + sd), rng.uniform(0.01, 0.03), rng.uniform(0.2, 2.0))
        t += sd + (rng.uniform(1.0, 8.0) if rng.random() < lk.HANDLING_GAP_P else 0.0)
    sc._ramp(sc.pitch, t, rng.uniform(1.5, 3.0), -dp_total)
    return t + 3.0


def _sit(sc: Scene, t0: float, dur: float) -> float:
    """Sitting on the edge of the bed: the shin hangs (gravity along it), small movements, lying back."""
    rng = sc.rng
    p = np.radians(rng.uniform(*lk.SIT_PITCH_DEG))
    sc._ramp(sc.pitch, t0, rng.uniform(1.5, 3.0), p)
    sc._pulse(t0 + 1.0, 0.5, rng.uniform(0.1, 0.3))
    t = t0 + 4.0
    while t < t0 + 4.0 + dur - 1.0:
        md = rng.uniform(1.0, 5.0)
        s = sc._span(t, t + md)
        n = s.stop - s.start
        if n >= 8:
            for k in range(3):
                sc.lin[s, k] += rng.uniform(0.02, 0.12) / np.sqrt(3) * sc._band_noise(n, 0.3, 4.0)
        t += md + rng.uniform(2.0, 15.0)
    end = t0 + 4.0 + dur
    sc._ramp(sc.pitch, end, rng.uniform(2.0, 4.0), -p)
    sc._ramp(sc.roll, end, 3.0, np.radians(rng.normal(0, 40)))
    return end + 5.0


def _lookalike_scene(kind: str, rng: np.random.Generator, seed: int, roll0: float) -> Scene:
    pad = 15.0
    if kind == "handling":
        dur = _ln(rng, lk.HANDLING_DUR_MEDIAN_S, lk.HANDLING_DUR_SIGMA, lk.HANDLING_DUR_CLIP)
        sc = Scene(dur + 30.0, seed=seed, roll0=roll0)
        _handle(sc, 0.5, dur)
    elif kind == "adjust":
        dur = rng.uniform(*lk.ADJUST_DUR_S)
        sc = Scene(dur + 2 * pad + 15.0, seed=seed, roll0=roll0)
        _handle(sc, pad, dur, flip=bool(rng.random() < 0.5))
    elif kind in ("settling", "restless"):
        if kind == "settling":
            period = 60.0 * _ln(rng, lk.SETTLING_MIN_MEDIAN, lk.SETTLING_MIN_SIGMA, lk.SETTLING_MIN_CLIP)
        else:
            period = 60.0 * _ln(rng, lk.RESTLESS_MIN_MEDIAN, lk.RESTLESS_MIN_SIGMA, lk.RESTLESS_MIN_CLIP)
        sc = Scene(period + 2 * pad, seed=seed, roll0=roll0)
        _settle(sc, 1.0 if kind == "settling" else pad, period, lk.SETTLE_DECAY if kind == "settling" else 0.0)
    elif kind == "arousal":
        dur = (rng.uniform(*lk.AROUSAL_LONG_S) if rng.random() < lk.AROUSAL_LONG_SHARE
               else _ln(rng, lk.AROUSAL_DUR_MEDIAN_S, lk.AROUSAL_DUR_SIGMA, lk.AROUSAL_DUR_CLIP))
        sc = Scene(dur + 2 * pad + 5.0, seed=seed, roll0=roll0)
        rms = _ln(rng, lk.AROUSAL_RMS_MEDIAN_MG, lk.AROUSAL_RMS_SIGMA, lk.AROUSAL_RMS_CLIP) / 1000.0
        turn = rng.uniform(60, 170) * rng.choice([-1, 1]) if rng.random() < lk.AROUSAL_TURN_SHARE else rng.normal(0, 12)
        _moves(sc, pad, dur, rms, gap_p=lk.AROUSAL_GAP_P if dur > 8 else 0.1,
               wander_deg=rng.uniform(*lk.AROUSAL_WANDER_DEG), turn_deg=turn)
    elif kind == "sit_edge":
        dur = _ln(rng, lk.SIT_DUR_MEDIAN_S, lk.SIT_DUR_SIGMA, lk.SIT_DUR_CLIP)
        sc = Scene(dur + 2 * pad + 10.0, seed=seed, roll0=roll0)
        _sit(sc, pad, dur)
    elif kind == "getup":
        walk_s = rng.uniform(30.0, 300.0)
        resettle = _ln(rng, lk.RESETTLE_MEDIAN_S, 0.6, (60.0, 600.0))
        sc = Scene(walk_s + resettle + 2 * pad + 60.0, seed=seed, roll0=roll0)
        back = sc.walk(pad, walk_s, stride_hz=rng.uniform(*lk.STRIDE_HZ))
        _settle(sc, back + 10.0, resettle, 0.6)
        sc.moves.append(("getup", pad, back + 10.0 + resettle))
        return sc
    else:
        raise ValueError(kind)
    sc.moves.append((kind, 0.0 if kind in ("handling", "settling") else pad, sc.duration_s - pad))
    return sc


def _lookalike_kinds(rng: np.random.Generator, sleeper: str, hours: float) -> tuple[list[str], list[str]]:
    """(what comes first, in order: handling, settling; the rest of the night's look-alike kinds)."""
    first = []
    if rng.random() < lk.HANDLING_P:
        first.append("handling")
    if rng.random() < lk.SETTLING_P:
        first.append("settling")
    rest = []
    for kind, n in lk.night_counts(rng, sleeper, hours).items():
        rest += [kind] * n
    rest += ["getup"] * int(rng.poisson(GETUPS_PER_8H[sleeper] * hours / 8.0))
    return first, rest


def _trim(sc: Scene, duration: float) -> Scene:
    n = min(int(duration * 400.0), sc.t.size)
    sc.duration_s = n / 400.0
    sc.t, sc.roll, sc.pitch, sc.lin = sc.t[:n], sc.roll[:n], sc.pitch[:n], sc.lin[:n]
    return sc


def write_night(path, *, seed: int, hours: float, sleeper: str, sensor: str, rate_hz: float,
                cramps: int, range_g: float | None = None) -> dict:
    """Write a recording and its labels; return a summary (episodes, look-alike counts)."""
    path = Path(path)
    rng = np.random.default_rng(seed)
    rotation = random_rotation(rng)
    total = hours * 3600.0
    # schedule: event kinds at random times, then laid out in order with quiet between
    kinds: list[str] = ["cramp"] * cramps
    for kind, per_h in RATES_PER_H[sleeper].items():
        kinds += [kind] * int(rng.poisson(per_h * hours))
    first: list[str] = []
    if LOOKALIKES:
        r_look = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x10CA])
        first, rest = _lookalike_kinds(r_look, sleeper, hours)
        kinds += rest
    rng.shuffle(kinds)
    episodes: list[tuple[float, float]] = []
    moves: list[tuple[str, float, float]] = []
    now, roll = 0.0, float(rng.uniform(-np.pi, np.pi))
    slots = len(kinds) + 1
    with RecordingWriter(path) as w:
        def emit(sc: Scene, sub_seed: int):
            nonlocal now
            t, a = sc.sample(rate_hz=rate_hz, sensor=sensor, rotation=rotation, seed=sub_seed, range_g=range_g)
            w.write(t + now, a)
            now += sc.duration_s

        for j, kind in enumerate(first):  # handling and settling in, right from the start
            sc = _lookalike_scene(kind, r_look, seed * 1000 + 500 + j, roll)
            for name, t0, t1 in sc.moves:
                moves.append((name, now + t0, now + t1))
            roll = sc.final_roll
            emit(sc, seed * 1000 + 500 + j)
        prev = first[-1] if first else None
        for k, kind in enumerate(kinds):
            quiet = rng.exponential(max(total - now, 60.0) / (slots - k) * 0.7)
            if kind == "cramp" and prev in SETTLE_BEFORE_CRAMP:
                quiet = max(quiet, 600.0)  # a cramp comes out of sleep, not straight out of settling or handling
            prev = kind
            if quiet > 5.0:
                q = Scene(quiet, seed=seed * 1000 + 2 * k, roll0=roll)
                emit(q, seed * 1000 + 2 * k)
            if kind in lk.LOOKALIKE_CLASSES:
                sc = _lookalike_scene(kind, r_look, seed * 1000 + 2 * k + 1, roll)
            else:
                sc = _event_scene(kind, rng, seed * 1000 + 2 * k + 1, roll)
            for onset, end in sc.episodes:
                episodes.append((now + onset, now + end))
            for name, t0, t1 in sc.moves:
                moves.append((name, now + t0, now + t1))
            roll = sc.final_roll
            emit(sc, seed * 1000 + 2 * k + 1)
            if now >= total and not (LOOKALIKES and "cramp" in kinds[k + 1:]):
                break  # (with the look-alikes a full night may run over, so that no cramp is dropped)
        while now < total - 1.0:  # fill the rest of the night quietly, in bounded pieces
            q = Scene(min(total - now, 1800.0), seed=seed * 1000 + 999, roll0=roll)
            emit(q, seed * 1000 + 999)
    write_labels(labels_path(path), episodes, now / 3600.0,
                 extra={"generator": "benchmarks.nights", "sleeper": sleeper, "sensor": sensor,
                        "rate_hz": rate_hz, "seed": seed,
                        "moves": [{"kind": m, "start": round(a, 2), "end": round(b, 2)} for m, a, b in moves]})
    return {"episodes": episodes, "moves": moves, "hours": now / 3600.0}
