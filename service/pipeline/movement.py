"""Per-minute movement summary of one leg, for the night record and the morning log.

The sensor is strapped at any rotation, so everything here is orientation
independent: the gravity vector is estimated as the mean acceleration of each
second, the *dynamic* acceleration is what remains, and only vector magnitudes
and angles between gravity vectors are used.

Per minute (aligned on the monotonic sample clock, ``floor(t / 60)``):

* ``activity_mg``: the mean over the minute's seconds of the RMS magnitude of the
  dynamic acceleration, in milli-g.  A still leg shows the sensor's noise
  (about 3-17 mg for 2-10 mg per axis); rollovers and cramps show tens to
  hundreds.
* ``moving_fraction``: the share of covered seconds that were moving: dynamic
  RMS above :data:`MOVING_RMS_G`, or the gravity direction turned more than
  :data:`MOVING_TURN_DEG` since the previous second.
* ``posture_changes``: how often the leg settled (a still second) in a tilt more
  than :data:`POSTURE_CHANGE_DEG` away from the posture it last settled in.
* ``seconds_covered``: seconds with samples (a gap leaves fewer than 60).

The per-sample work is vectorised; a short Python loop runs once per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MOVING_RMS_G = 0.03  # above a 10 mg/axis noise floor (vector RMS ~17 mg), below a mild cramp's writhing
MOVING_TURN_DEG = 5.0  # a slow roll with little acceleration still turns the gravity vector
POSTURE_CHANGE_DEG = 30.0  # lying postures of the shin differ by tens of degrees; tremor does not
MIN_SAMPLES_PER_SECOND = 2


Vector = tuple[float, float, float]  # a unit vector as plain floats


@dataclass(frozen=True)
class MinuteSummary:
    """Movement of one leg during the minute starting at ``t_start`` (monotonic seconds)."""

    leg: str
    t_start: float
    activity_mg: float
    moving_fraction: float
    posture_changes: int
    seconds_covered: int


class MovementSummarizer:
    """Turns batches of samples into :class:`MinuteSummary` rows, one per completed minute."""

    def __init__(self, leg: str = "leg"):
        self.leg = leg
        self._pending_t = np.empty(0)
        self._pending_a = np.empty((0, 3))
        self._minute: int | None = None  # index of the minute being accumulated
        self._rms: list[float] = []
        self._moving = 0
        self._changes = 0
        self._prev_dir: Vector | None = None  # gravity direction of the previous covered second
        self._posture: Vector | None = None  # gravity direction the leg last settled in
        self._last_second: int | None = None

    def feed(self, t: np.ndarray, accel_g: np.ndarray) -> list[MinuteSummary]:
        """Add samples (``t`` seconds, shape (n,); ``accel_g`` shape (n, 3)); return the minutes completed."""
        t = np.asarray(t, dtype=float).reshape(-1)
        a = np.asarray(accel_g, dtype=float).reshape(-1, 3)
        if t.shape[0] != a.shape[0]:
            raise ValueError(f"t has {t.shape[0]} samples but accel_g has {a.shape[0]}")
        keep = np.isfinite(t) & np.all(np.isfinite(a), axis=1)
        if self._last_second is not None:
            keep &= t >= self._last_second + 1  # samples older than a finished second are dropped
        t_all = np.concatenate([self._pending_t, t[keep]])
        a_all = np.concatenate([self._pending_a, a[keep]])
        if t_all.size == 0:
            return []
        order = np.argsort(t_all, kind="stable")
        t_all, a_all = t_all[order], a_all[order]
        sec = np.floor(t_all).astype(np.int64)
        # The newest second may still be filling: keep it for the next call.
        done = sec < sec[-1]
        self._pending_t, self._pending_a = t_all[~done], a_all[~done]
        out = self._seconds(sec[done], a_all[done])
        if self._minute is not None and self._rms and sec[-1] // 60 > self._minute:
            out.append(self._emit())  # the newest sample is in a later minute: this one is complete
        return out

    def close(self) -> list[MinuteSummary]:
        """Summarise what is left (the last, partial minute); call when sampling stops."""
        out = []
        if self._pending_t.size:
            sec = np.floor(self._pending_t).astype(np.int64)
            out = self._seconds(sec, self._pending_a)
            self._pending_t, self._pending_a = np.empty(0), np.empty((0, 3))
        if self._minute is not None and self._rms:
            out.append(self._emit())
        return out

    def _seconds(self, sec: np.ndarray, a: np.ndarray) -> list[MinuteSummary]:
        if sec.size == 0:
            return []
        starts = np.r_[0, np.flatnonzero(np.diff(sec)) + 1]
        counts = np.diff(np.r_[starts, sec.size])
        mean = np.add.reduceat(a, starts, axis=0) / counts[:, None]
        dyn = a - np.repeat(mean, counts, axis=0)
        rms = np.sqrt(np.add.reduceat(np.einsum("ij,ij->i", dyn, dyn), starts) / counts)
        norm = np.linalg.norm(mean, axis=1)
        direction = mean / np.where(norm > 1e-6, norm, 1.0)[:, None]
        out: list[MinuteSummary] = []
        # One second at a time in plain Python floats: numpy's per-call cost on 3-vectors is most of the
        # work otherwise, and this runs for every second of the night.
        for s, count, size, rms_g, unit in zip(sec[starts].tolist(), counts.tolist(), norm.tolist(), rms.tolist(),
                                             map(tuple, direction.tolist())):
            if count < MIN_SAMPLES_PER_SECOND or size < 0.3:  # too few samples, or free fall/garbage
                self._last_second = s
                continue
            minute = s // 60
            if self._minute is not None and minute != self._minute and self._rms:
                out.append(self._emit())
            self._minute = minute
            self._second(rms_g, unit)
            self._last_second = s
        return out

    def _second(self, rms_g: float, direction: Vector) -> None:
        turned = self._prev_dir is not None and _angle_deg(self._prev_dir, direction) > MOVING_TURN_DEG
        moving = rms_g > MOVING_RMS_G or turned
        self._rms.append(rms_g)
        self._moving += int(moving)
        if not moving:
            if self._posture is None:
                self._posture = direction
            elif _angle_deg(self._posture, direction) > POSTURE_CHANGE_DEG:
                self._changes += 1
                self._posture = direction
        self._prev_dir = direction

    def _emit(self) -> MinuteSummary:
        n = len(self._rms)
        summary = MinuteSummary(
            leg=self.leg,
            t_start=float(self._minute * 60),
            activity_mg=1000.0 * float(np.mean(self._rms)),
            moving_fraction=self._moving / n,
            posture_changes=self._changes,
            seconds_covered=n,
        )
        self._rms, self._moving, self._changes = [], 0, 0
        return summary


def _angle_deg(u: Vector, v: Vector) -> float:
    """Degrees between two unit vectors."""
    cos = u[0] * v[0] + u[1] * v[1] + u[2] * v[2]
    return math.degrees(math.acos(min(1.0, max(-1.0, cos))))
