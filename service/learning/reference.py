"""Reference cramps: simulated cramps set into this sleeper's own recorded postures and noise.

``nightcramp tune`` must never tune the alarm away, and a sleeper may have labelled few real
cramps or none.  So every candidate must also catch these at the rate the untuned settings do.
Each one is a cramp of the project's simulator (:func:`service.sim.scenarios.scenario`, seeds
from :data:`REFERENCE_SEEDS`, rendered without chip noise), turned so that the leg's posture
before it is a still posture found in one of this sleeper's labelled recordings, with that
recording's own still-leg residual (sensor noise, breathing, pulse) added on top, at that
recording's sample rate.  The cramp's movement is the simulator's; the background is the
sleeper's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REFERENCE_SEEDS = range(1000, 1012)
"""Seeds of the reference cramps (the tuning range: these decide which candidates are allowed)."""
QUIET_WINDOW_S = 1.0
MIN_QUIET_S = 20.0
STILL_VAR_MAX = 3 * 0.020**2
"""Above 20 mg RMS per axis a leg is moving, not lying still (the detector's own noise ceiling)."""


@dataclass(frozen=True)
class Background:
    """A still stretch of one recording: the posture (g, sensor frame), residual noise (n, 3) and rate (Hz)."""

    source: str
    posture: np.ndarray
    noise: np.ndarray
    rate_hz: float


def still_background(name: str, t: np.ndarray, accel: np.ndarray) -> Background | None:
    """The longest run of still 1 s windows (lowest fifth of the recording's power, and below 20 mg RMS) of 20 s or more."""
    if t.size < 100:
        return None
    rate = (t.size - 1) / max(float(t[-1] - t[0]), 1e-9)
    per = max(4, int(round(rate * QUIET_WINDOW_S)))
    n_win = t.size // per
    if n_win < MIN_QUIET_S / QUIET_WINDOW_S:
        return None
    a = accel[: n_win * per].reshape(n_win, per, 3)
    power = a.var(axis=1).sum(axis=1)
    means = a.mean(axis=1)
    still = (power <= max(np.quantile(power, 0.2), 1e-12) * 1.5) & (power <= STILL_VAR_MAX)
    step = np.r_[0.0, np.linalg.norm(np.diff(means, axis=0), axis=1)]
    still &= step < 0.01  # the posture holds
    best_len, best_end, run = 0, -1, 0
    for i, s in enumerate(still):
        run = run + 1 if s else 0
        if run > best_len:
            best_len, best_end = run, i
    if best_len * QUIET_WINDOW_S < MIN_QUIET_S:
        return None
    sel = a[best_end - best_len + 1: best_end + 1]
    posture = sel.reshape(-1, 3).mean(axis=0)
    noise = (sel - sel.mean(axis=1, keepdims=True)).reshape(-1, 3)
    return Background(name, posture, noise, float(rate))


def _rotation_onto(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The rotation taking the direction of ``u`` onto that of ``v`` (Rodrigues)."""
    u = u / np.linalg.norm(u)
    v = v / np.linalg.norm(v)
    axis = np.cross(u, v)
    s, c = float(np.linalg.norm(axis)), float(np.dot(u, v))
    if s < 1e-9:
        if c > 0:
            return np.eye(3)
        perp = np.cross(u, [1.0, 0.0, 0.0] if abs(u[0]) < 0.9 else [0.0, 1.0, 0.0])
        perp /= np.linalg.norm(perp)
        return 2.0 * np.outer(perp, perp) - np.eye(3)
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * kx @ kx


def reference_cramps(backgrounds: list[Background], seeds=REFERENCE_SEEDS):
    """(name, t, accel, [(onset, end)]) per seed, cycling over the backgrounds."""
    from service.sim.scenarios import scenario

    out = []
    if not backgrounds:
        return out
    for k, seed in enumerate(seeds):
        bg = backgrounds[k % len(backgrounds)]
        rate = float(np.clip(bg.rate_hz, 20.0, 200.0))
        t, accel, labels = scenario("cramp", seed=seed, rate_hz=rate, noise=False, lead_s=90.0, tail_s=30.0,
                                    range_g=8)
        before = accel[t < labels[0][0] - 5.0].mean(axis=0)
        rot = _rotation_onto(before, bg.posture)
        placed = accel @ rot.T * (np.linalg.norm(bg.posture) / np.linalg.norm(before))
        reps = int(np.ceil(t.size / bg.noise.shape[0]))
        placed = placed + np.tile(bg.noise, (reps, 1))[: t.size]
        out.append((f"reference cramp {seed} in {bg.source}", t, placed, list(labels)))
    return out
