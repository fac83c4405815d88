"""Whole nights from the test suite's independent signal generator (support/synth.py).

The accuracy benchmark scores the detector on two generators: the project's
night simulator (service.sim.simulate) and this one, written separately from the
physics in docs/signals.md, so a detector that only learnt one generator's habits
shows it.  A night is a chain of scenes (quiet, a look-alike or a cramp, quiet)
with the posture carried over, sampled with one fixed sensor mounting.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.recording.format import RecordingWriter, labels_path, write_labels
from support.synth import Scene, random_rotation

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

        for k, kind in enumerate(kinds):
            quiet = rng.exponential(max(total - now, 60.0) / (slots - k) * 0.7)
            if quiet > 5.0:
                q = Scene(quiet, seed=seed * 1000 + 2 * k, roll0=roll)
                emit(q, seed * 1000 + 2 * k)
            sc = _event_scene(kind, rng, seed * 1000 + 2 * k + 1, roll)
            for onset, end in sc.episodes:
                episodes.append((now + onset, now + end))
            for name, t0, t1 in sc.moves:
                moves.append((name, now + t0, now + t1))
            roll = sc.final_roll
            emit(sc, seed * 1000 + 2 * k + 1)
            if now >= total:
                break
        while now < total - 1.0:  # fill the rest of the night quietly, in bounded pieces
            q = Scene(min(total - now, 1800.0), seed=seed * 1000 + 999, roll0=roll)
            emit(q, seed * 1000 + 999)
    write_labels(labels_path(path), episodes, now / 3600.0,
                 extra={"generator": "benchmarks.nights", "sleeper": sleeper, "sensor": sensor,
                        "rate_hz": rate_hz, "seed": seed,
                        "moves": [{"kind": m, "start": round(a, 2), "end": round(b, 2)} for m, a, b in moves]})
    return {"episodes": episodes, "moves": moves, "hours": now / 3600.0}
