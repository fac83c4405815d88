"""Small, independent synthetic leg signals for the detector's tests.

Deliberately NOT the project's night simulator (service.sim.simulate): the detector
must not be tested only against the habits of the generator it was tuned on.
Everything is built from the physics in docs/signals.md on a fine
400 Hz grid in the leg frame (x along the shin toward the foot, y lateral,
z out of the front of the shin), rotated into a random sensor mounting, then
sampled at the chip's rate with jitter and lost samples, and given the chip's
noise, resolution and range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FINE_HZ = 400.0

SENSORS = {
    # name: (noise RMS per axis g, resolution g/LSB, range g)
    "mpu6050": (0.004, 1 / 8192, 4.0),
    "adxl345": (0.009, 0.0039, 2.0),
    "lis3dh": (0.005, 0.004, 2.0),
}


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation (the strap's mounting)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def rotation_about(axis, angle_rad: float) -> np.ndarray:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle_rad) * k + (1 - np.cos(angle_rad)) * (k @ k)


@dataclass
class Scene:
    """A stretch of time on the fine grid: leg roll and pitch (rad) and linear acceleration (g)."""

    duration_s: float
    seed: int = 0
    roll0: float = 0.0  # posture at the start (rad about the shin), to chain scenes into a night

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)
        self.t = np.arange(0.0, self.duration_s, 1.0 / FINE_HZ)
        n = self.t.size
        self.roll = np.full(n, self.roll0)
        self.pitch = np.zeros(n)
        self.lin = np.zeros((n, 3))
        self.episodes: list[tuple[float, float]] = []
        self.moves: list[tuple[str, float, float]] = []  # look-alikes: (kind, start, end)

    # -------------------------------------------------------------- helpers

    def _span(self, t0: float, t1: float) -> slice:
        return slice(int(t0 * FINE_HZ), min(int(t1 * FINE_HZ), self.t.size))

    def _ramp(self, arr, t0, dur, delta):
        """Smoothly add ``delta`` to ``arr`` from t0 over dur seconds and keep it afterwards."""
        s = self._span(t0, t0 + dur)
        x = (self.t[s] - t0) / dur
        arr[s] += delta * (0.5 - 0.5 * np.cos(np.pi * x))
        arr[s.stop:] += delta

    def _band_noise(self, n: int, lo: float, hi: float) -> np.ndarray:
        """Unit-RMS noise band-limited to lo..hi Hz (FFT masking)."""
        spec = np.fft.rfft(self.rng.normal(size=n))
        f = np.fft.rfftfreq(n, 1.0 / FINE_HZ)
        spec[(f < lo) | (f > hi)] = 0
        x = np.fft.irfft(spec, n)
        return x / (x.std() + 1e-12)

    def _pulse(self, t0: float, width: float, amp_g: float) -> None:
        s = self._span(t0, t0 + width)
        shape = np.sin(np.pi * (self.t[s] - t0) / width)
        direction = self.rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        self.lin[s] += amp_g * shape[:, None] * direction

    # -------------------------------------------------------------- movements

    def cramp(self, t0: float, dur: float, scale: float = 1.0, jerk_g: float = 0.6, tremor: bool = True):
        """Onset jerk, held tilt, writhing (0.3-3 Hz), tremor (6-20 Hz), then release and quiet."""
        rng = self.rng
        self._pulse(t0, 0.25, jerk_g * max(scale, 0.3))
        tilt_p = np.radians(rng.uniform(10, 30)) * rng.choice([-1, 1])
        tilt_r = np.radians(rng.uniform(5, 20)) * rng.choice([-1, 1])
        self._ramp(self.pitch, t0, 1.0, tilt_p * max(scale, 0.3))
        self._ramp(self.roll, t0, 1.0, tilt_r * max(scale, 0.3))
        end = t0 + dur
        s = self._span(t0 + 0.3, end)
        n = s.stop - s.start
        tt = self.t[s]
        env = 0.6 + 0.4 * np.abs(np.sin(2 * np.pi * rng.uniform(0.05, 0.15) * tt + rng.uniform(0, 6)))
        for _ in range(3):
            f = rng.uniform(0.3, 3.0)
            ph = rng.uniform(0, 2 * np.pi, 3)
            amp = rng.uniform(0.03, 0.10) * scale
            self.lin[s] += (amp * env)[:, None] * np.sin(2 * np.pi * f * tt[:, None] + ph)
            self.pitch[s] += np.radians(rng.uniform(1, 4)) * scale * env * np.sin(2 * np.pi * f * tt + ph[0])
        if tremor:
            for k in range(3):
                self.lin[s, k] += 0.02 * scale * env * self._band_noise(n, 6.0, 20.0)
        self._ramp(self.pitch, end, 2.0, -tilt_p * max(scale, 0.3))
        self._ramp(self.roll, end, 2.0, -tilt_r * max(scale, 0.3))
        self.episodes.append((t0, end))

    def rollover(self, t0: float, dur: float):
        """A turn of the whole leg about the shin axis, with jiggle, then still in the new posture."""
        rng = self.rng
        self._ramp(self.roll, t0, dur, np.radians(rng.uniform(60, 170)) * rng.choice([-1, 1]))
        s = self._span(t0, t0 + dur)
        x = (self.t[s] - t0) / dur
        for k in range(3):
            self.lin[s, k] += rng.uniform(0.03, 0.12) * np.sin(np.pi * x) * self._band_noise(s.stop - s.start, 0.5, 4)
        self._pulse(t0, 0.3, rng.uniform(0.1, 0.4))
        self.moves.append(("rollover", t0, t0 + dur))

    def roll_and_shuffle(self, t0: float, shuffle_s: float):
        """A habit of one restless sleeper (benchmarks/tuning.py): a quick rollover (60-170 degrees in 2-3 s), then
        continuous shuffling of the leg in the new posture for ``shuffle_s``."""
        rng = self.rng
        self.rollover(t0, float(rng.uniform(2.0, 3.0)))
        s = self._span(t0 + 2.5, t0 + 2.5 + shuffle_s)
        n = s.stop - s.start
        x = np.linspace(0.0, 1.0, n)
        env = np.clip(np.minimum(x, 1 - x) * 8.0, 0.0, 1.0)
        for k in range(3):
            self.lin[s, k] += rng.uniform(0.05, 0.15) * env * self._band_noise(n, 0.5, 5.0)
        self.moves.append(("roll_and_shuffle", t0, t0 + 2.5 + shuffle_s))

    def twitch(self, t0: float, amp_g: float = 0.5):
        self._pulse(t0, self.rng.uniform(0.1, 0.6), amp_g)
        self.moves.append(("twitch", t0, t0 + 0.6))

    def bump(self, t0: float, amp_g: float = 1.5):
        self._pulse(t0, 0.03, amp_g)
        self.moves.append(("bump", t0, t0 + 0.03))

    def limb_movement(self, t0: float, dur: float):
        """One PLM: dorsiflexion and knee flexion, out and back."""
        s = self._span(t0, t0 + dur)
        x = (self.t[s] - t0) / dur
        self.pitch[s] += np.radians(self.rng.uniform(5, 15)) * np.sin(np.pi * x)
        self._pulse(t0, min(0.4, dur), self.rng.uniform(0.1, 0.4))
        for k in range(3):
            self.lin[s, k] += 0.05 * np.sin(np.pi * x) * self._band_noise(s.stop - s.start, 0.5, 3)

    def plm_series(self, t0: float, count: int, dur_s=(0.5, 5.0), interval_s=(10.0, 40.0)) -> float:
        t = t0
        for _ in range(count):
            self.limb_movement(t, self.rng.uniform(*dur_s))
            t += self.rng.uniform(*interval_s)
        self.moves.append(("plm", t0, t))
        return t

    def fidget(self, t0: float, total_s: float, move_s=(1.0, 4.0), still_s=(3.0, 10.0)) -> float:
        """Restless wakefulness: short movements separated by still gaps of several seconds."""
        t = t0
        while t < t0 + total_s:
            d = self.rng.uniform(*move_s)
            s = self._span(t, t + d)
            x = (self.t[s] - t) / d
            for k in range(3):
                self.lin[s, k] += self.rng.uniform(0.05, 0.2) * np.sin(np.pi * x) * self._band_noise(s.stop - s.start, 0.5, 5)
            self._ramp(self.roll, t, d, np.radians(self.rng.uniform(-15, 15)))
            t += d + self.rng.uniform(*still_s)
        self.moves.append(("fidget", t0, t))
        return t

    def walk(self, t0: float, walk_s: float, stride_hz: float = 1.0) -> float:
        """Sit up (the shin swings to hanging), stand, walk at ~1 Hz with heel strikes, come back, lie down."""
        rng = self.rng
        roll_now = float(self.roll[min(int(t0 * FINE_HZ), self.roll.size - 1)])
        self._ramp(self.roll, t0, 3.0, -roll_now)
        self._ramp(self.pitch, t0, 3.0, np.radians(80))
        self._pulse(t0 + 1.0, 0.5, 0.3)
        ws = t0 + 8.0
        s = self._span(ws, ws + walk_s)
        tt = self.t[s] - ws
        phase = 2 * np.pi * stride_hz * tt
        self.pitch[s] += np.radians(25) * np.sin(phase)
        self.lin[s, 0] += 0.4 * np.sin(phase + 0.5)
        self.lin[s, 2] += 0.3 * np.cos(phase)
        for k, strike in enumerate(np.arange(0.0, walk_s, 1.0 / stride_hz)):
            self._pulse(ws + strike + rng.uniform(-0.03, 0.03), 0.08, rng.uniform(1.0, 2.0))
            self._pulse(ws + strike + 0.5 / stride_hz, 0.08, rng.uniform(0.2, 0.4))
        back = ws + walk_s + 2.0
        self._ramp(self.pitch, back, 3.0, -np.radians(80))
        self._pulse(back + 1.0, 0.5, 0.3)
        self.moves.append(("walk", t0, back + 3.0))
        return back + 3.0

    # -------------------------------------------------------------- sampling

    @property
    def final_roll(self) -> float:
        return float(self.roll[-1])

    def sample(self, rate_hz: float = 50.0, sensor: str = "mpu6050", rotation: np.ndarray | None = None,
               jitter: float = 0.1, gaps: list[tuple[float, float]] | None = None, seed: int | None = None,
               range_g: float | None = None):
        """The recording a chip at ``rate_hz`` would produce: (t (n,), accel_g (n, 3))."""
        rng = np.random.default_rng(self.seed + 1000 if seed is None else seed)
        noise, res, rng_g = SENSORS[sensor]
        rng_g = range_g or rng_g
        rot = random_rotation(rng) if rotation is None else rotation
        up = np.stack(
            [-np.sin(self.pitch), np.cos(self.pitch) * np.sin(self.roll), np.cos(self.pitch) * np.cos(self.roll)], axis=1
        )
        body = up + self.lin
        t = np.arange(0.0, self.duration_s - 0.01, 1.0 / rate_hz)
        t = t + rng.normal(0.0, jitter / rate_hz, t.size)
        t = np.sort(np.clip(t, 0.0, self.duration_s - 0.01))
        t = t[np.concatenate(([True], np.diff(t) > 1e-6))]
        for g0, g1 in gaps or []:
            t = t[(t < g0) | (t >= g1)]
        a = np.stack([np.interp(t, self.t, body[:, k]) for k in range(3)], axis=1) @ rot.T
        a = a + rng.normal(0.0, noise, a.shape)
        a = np.clip(np.round(a / res) * res, -rng_g, rng_g - res)
        return t, a


def run(detector, t, a, chunk_s: float | None = 0.2):
    """Feed a detector as the service would (``chunk_s`` batches) and return all its events."""
    events = []
    if chunk_s is None:
        events += detector.feed(t, a)
    else:
        edges = np.searchsorted(t, np.arange(t[0], t[-1] + chunk_s, chunk_s))
        for lo, hi in zip(edges[:-1], edges[1:]):
            if hi > lo:
                events += detector.feed(t[lo:hi], a[lo:hi])
        events += detector.feed(t[edges[-1]:], a[edges[-1]:]) if edges[-1] < t.size else []
    events += detector.finish()
    return events


def starts(events):
    return [e for e in events if e.kind == "start"]
