"""What a sleeper's leg does, as closed-form functions of time: postures, movement components, event builders.

A movement is a sum of components, each rendering itself for any span of
night time without rendering what came before:

* :class:`Tones`: band-limited activity (sums of sinusoids) in linear
  acceleration or in tilt;
* :class:`Pulses`: Gaussian jerks, impacts and bumps, optionally on a carrier;
* :class:`Hump`: a tilt excursion that returns.

Components render through the chip's anti-alias filter (``cutoff_hz``).
:class:`EventBuilder` turns a placed slot of the night into a
:class:`SimEvent` (a rollover, a twitch, a PLM series, fidgeting, getting up
and walking, a bump, a cramp) and keeps the posture keyframes the events
leave behind.  Units: seconds since the start of the night, g, degrees for
angles.  The numbers and their sources are in docs/simulator.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

TWO_PI = 2.0 * math.pi


def _filter_gain(freqs: np.ndarray, cutoff_hz: float | None) -> np.ndarray:
    """Magnitude response of the chip's anti-alias filter (2nd-order Butterworth at ``cutoff_hz``)."""
    if cutoff_hz is None:
        return np.ones_like(freqs)
    return 1.0 / np.sqrt(1.0 + (np.asarray(freqs) / cutoff_hz) ** 4)


# --------------------------------------------------------------------------- movement components


def _envelope(tt: np.ndarray, t0: float, t1: float, ramp: float) -> np.ndarray:
    """1 inside [t0, t1] with raised-cosine ramps of ``ramp`` seconds at both ends."""
    if ramp <= 0:
        return np.ones_like(tt)
    ramp = min(ramp, 0.5 * (t1 - t0))
    up = np.clip((tt - t0) / ramp, 0.0, 1.0)
    down = np.clip((t1 - tt) / ramp, 0.0, 1.0)
    return 0.25 * (1 - np.cos(math.pi * up)) * (1 - np.cos(math.pi * down))


@dataclass
class Tones:
    """Band-limited activity as a sum of sinusoids between t0 and t1.

    ``amps``/``phases`` have shape (K, D): D = 3 for linear acceleration (g,
    leg frame) or 2 for tilt wobble (pitch, roll in degrees).  ``mod`` =
    (depth, freq_hz, phase) modulates the amplitude slowly without reaching zero.
    """

    t0: float
    t1: float
    ramp: float
    freqs: np.ndarray
    amps: np.ndarray
    phases: np.ndarray
    target: str = "lin"
    mod: tuple[float, float, float] | None = None

    def render(self, tt: np.ndarray, cutoff_hz: float | None) -> np.ndarray:
        amps = self.amps * _filter_gain(self.freqs, cutoff_hz)[:, None]
        arg = TWO_PI * tt[:, None, None] * self.freqs[None, :, None] + self.phases[None]
        out = np.einsum("mkd,kd->md", np.sin(arg), amps)
        env = _envelope(tt, self.t0, self.t1, self.ramp)
        if self.mod is not None:
            depth, f, ph = self.mod
            env = env * (1.0 + depth * np.sin(TWO_PI * f * tt + ph))
        return out * env[:, None]


@dataclass
class Pulses:
    """Short Gaussian pulses (jerks, impacts, bumps), optionally on a carrier.

    ``times`` (J,) centres in s, ``sigmas`` (J,) widths in s, ``amps`` (J, 3)
    peak vectors in g (leg frame), ``carriers`` (J,) Hz (0: a plain pulse).
    Filtering by the chip widens a pulse (widths add in quadrature, the area
    is kept) and attenuates its carrier: a cable knock at 25 Hz ODR is a
    smaller, wider blip than the same knock at 200 Hz.
    """

    times: np.ndarray
    sigmas: np.ndarray
    amps: np.ndarray
    carriers: np.ndarray
    t0: float = 0.0
    t1: float = 0.0
    target: str = "lin"

    def __post_init__(self):
        self.t0 = float(np.min(self.times - 6 * self.sigmas)) - 0.2
        self.t1 = float(np.max(self.times + 6 * self.sigmas)) + 0.2

    def render(self, tt: np.ndarray, cutoff_hz: float | None) -> np.ndarray:
        out = np.zeros((tt.shape[0], 3))
        sig_f = 0.0 if cutoff_hz is None else 0.1325 / cutoff_hz  # Gaussian filter with that -3 dB point
        for j in np.flatnonzero((self.times + 6 * self.sigmas + 0.2 >= tt[0]) & (self.times - 6 * self.sigmas - 0.2 <= tt[-1])):
            s = math.hypot(self.sigmas[j], sig_f)
            lo, hi = np.searchsorted(tt, [self.times[j] - 6 * s, self.times[j] + 6 * s])
            if hi <= lo:
                continue
            x = tt[lo:hi] - self.times[j]
            shape = np.exp(-0.5 * (x / s) ** 2) * (self.sigmas[j] / s)
            if self.carriers[j] > 0:
                shape = shape * np.cos(TWO_PI * self.carriers[j] * x) * float(
                    _filter_gain(np.array([self.carriers[j]]), cutoff_hz)[0])
            out[lo:hi] += shape[:, None] * self.amps[j][None, :]
        return out


@dataclass
class Hump:
    """A tilt excursion that returns: pitch/roll offset (degrees) rising and falling as sin^2."""

    t0: float
    t1: float
    d_pitch: float
    d_roll: float
    target: str = "ang"

    def render(self, tt: np.ndarray, cutoff_hz: float | None) -> np.ndarray:
        x = np.clip((tt - self.t0) / (self.t1 - self.t0), 0.0, 1.0)
        s = np.sin(math.pi * x) ** 2
        return np.column_stack([s * self.d_pitch, s * self.d_roll])


@dataclass
class SimEvent:
    """One thing the sleeper (or the cable) does: kind, span in s, what it renders."""

    kind: str
    start: float
    end: float
    components: list = field(default_factory=list)
    info: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- postures


# Lying postures as (pitch, roll) distributions in degrees.  Pitch: how far the
# foot end of the shin points down (0 = shin horizontal, 90 = hanging
# vertically); roll: rotation about the shin (0 = front of the shin up,
# +-90 = lying on a side, 180 = prone).
LYING = {
    "supine": ((2.0, 5.0), (0.0, 12.0), 0.33),
    "supine_knee_up": ((30.0, 6.0), (0.0, 15.0), 0.10),
    "left_side": ((5.0, 7.0), (80.0, 12.0), 0.22),
    "right_side": ((5.0, 7.0), (-80.0, 12.0), 0.22),
    "prone": ((-5.0, 6.0), (180.0, 15.0), 0.13),
}


def lying_posture(rng, exclude: str | None = None) -> tuple[str, float, float]:
    names = [n for n in LYING if n != exclude]
    w = np.array([LYING[n][2] for n in names])
    name = names[rng.choice(len(names), p=w / w.sum())]
    (pm, ps), (rm, rs), _ = LYING[name]
    return name, float(rng.normal(pm, ps)), float(rng.normal(rm, rs))


def up_vector(pitch_deg: np.ndarray, roll_deg: np.ndarray) -> np.ndarray:
    """The 'up' direction (what a still accelerometer reads, 1 g) in the leg frame, shape (n, 3).

    Leg frame: x out of the front of the shin, y to the side, z along the
    shin towards the foot.
    """
    p = np.radians(pitch_deg)
    r = np.radians(roll_deg)
    cp = np.cos(p)
    return np.column_stack([cp * np.cos(r), cp * np.sin(r), -np.sin(p)])


def random_rotation(rng) -> np.ndarray:
    """A uniformly random 3-D rotation matrix (the strap puts the sensor at any angle)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


# --------------------------------------------------------------------------- event builders


def _unit(rng, bias=(1.0, 0.6, 1.0)) -> np.ndarray:
    v = rng.normal(size=3) * np.asarray(bias)
    return v / np.linalg.norm(v)


def _band_tones(rng, t0, t1, ramp, f_lo, f_hi, rms_g, k=10, dims=3, target="lin", mod=None, axis_weight=None):
    """Band-limited noise between f_lo and f_hi with total RMS ``rms_g`` per axis (before the envelope)."""
    freqs = np.exp(rng.uniform(math.log(f_lo), math.log(f_hi), k))
    amps = rng.rayleigh(1.0, (k, dims))
    amps *= rms_g * math.sqrt(2.0) / np.sqrt((amps ** 2).sum(axis=0, keepdims=True))
    if axis_weight is not None:
        amps *= np.asarray(axis_weight)[None, :]
    phases = rng.uniform(0, TWO_PI, (k, dims))
    return Tones(t0, t1, ramp, freqs, amps, phases, target, mod)


class EventBuilder:
    """Walks the night chronologically, turning placed slots into components and posture keyframes."""

    def __init__(self, rng, pitch: float, roll: float, posture: str):
        self.rng = rng
        self.pitch, self.roll, self.posture = pitch, roll, posture
        self.keys: list[tuple[float, float, float, float]] = [(-1e9, 1.0, pitch, roll)]

    def keyframes(self) -> np.ndarray:
        """The posture keyframes so far, sorted by start: (K, 4) of start s, duration s, pitch deg, roll deg."""
        return np.array(sorted(self.keys, key=lambda k: k[0]), dtype=float)

    def move_to(self, t: float, dur: float, pitch: float, roll: float) -> None:
        # Take the short way round in roll.
        roll = self.roll + ((roll - self.roll + 180.0) % 360.0 - 180.0)
        self.keys.append((t, dur, pitch, roll))
        self.pitch, self.roll = pitch, roll

    def lie_down_new(self, t: float, dur: float) -> None:
        name, p, r = lying_posture(self.rng, exclude=self.posture)
        self.posture = name
        self.move_to(t, dur, p, r)

    # -- look-alikes
    def rollover(self, start: float, dur: float) -> SimEvent:
        rng = self.rng
        tr = rng.uniform(1.0, min(4.0, dur - 0.5))
        t_move = start + rng.uniform(0.2, dur - tr - 0.2)
        self.lie_down_new(t_move, tr)
        comps = [_band_tones(rng, start, start + dur, 0.6, 0.3, 3.0, rng.uniform(0.03, 0.2))]
        return SimEvent("rollover", start, start + dur, comps)

    def twitch(self, start: float) -> SimEvent:
        rng = self.rng
        n = 1 if rng.random() < 0.7 else 2
        times = start + 0.1 + np.cumsum(rng.uniform(0.0, 0.25, n))
        amps = np.array([_unit(rng) * rng.uniform(0.05, 1.0) for _ in range(n)])
        p = Pulses(times, rng.uniform(0.03, 0.1, n), amps, rng.uniform(3.0, 10.0, n))
        comps = [p]
        if rng.random() < 0.5:
            comps.append(Hump(start, start + rng.uniform(0.3, 0.9), rng.uniform(-4, 4), rng.uniform(-3, 3)))
        return SimEvent("twitch", start, float(times[-1] + 0.3), comps)

    def bump(self, start: float) -> SimEvent:
        rng = self.rng
        amp = _unit(rng, (1, 1, 1)) * rng.uniform(0.2, 2.5)
        p = Pulses(np.array([start + 0.05]), np.array([rng.uniform(0.003, 0.015)]), amp[None, :],
                   np.array([rng.uniform(15.0, 40.0) if rng.random() < 0.5 else 0.0]))
        return SimEvent("bump", start, start + 0.15, [p])

    def plm_movement(self, start: float, dur: float) -> list:
        rng = self.rng
        return [
            Hump(start, start + dur, rng.uniform(2.0, 10.0), rng.uniform(-4.0, 4.0)),
            _band_tones(rng, start, start + dur, min(0.4, dur / 3), 0.5, 4.0, rng.uniform(0.01, 0.12), k=8),
        ]

    def plm_series(self, start: float, n: int, mean_iv: float, max_end: float = math.inf) -> SimEvent:
        """``n`` (>= 4) leg movements of 0.5-10 s, onsets 10-90 s apart (WASM 2016 scoring rules)."""
        rng = self.rng
        comps, t, moves = [], start, []
        for _ in range(n):
            dur = float(np.clip(rng.lognormal(math.log(2.0), 0.5), 0.5, 10.0))
            if len(moves) >= 4 and t + dur > max_end:
                break
            comps += self.plm_movement(t, dur)
            moves.append((round(t, 3), round(t + dur, 3)))
            t += float(np.clip(rng.normal(mean_iv, 0.15 * mean_iv), 10.0, 90.0))
        end = moves[-1][1]
        return SimEvent("plm", start, end, comps, {"movements": len(moves), "onsets": [m[0] for m in moves]})

    def fidget(self, start: float, dur: float) -> SimEvent:
        rng = self.rng
        comps, t, end = [], start, start + 1.0
        while t < start + dur - 1.0:
            md = rng.uniform(1.0, 4.0)
            comps.append(_band_tones(rng, t, t + md, 0.3, 0.5, 5.0, rng.uniform(0.02, 0.25), k=8))
            if rng.random() < 0.3:
                self.move_to(t + 0.2, md * 0.6, self.pitch + rng.uniform(-12, 12), self.roll + rng.uniform(-20, 20))
            end = t + md
            t = end + rng.uniform(3.0, 20.0)
        return SimEvent("fidget", start, end, comps)

    def walk(self, start: float, walk_s: float) -> SimEvent:
        """Get up: sit with the leg hanging, stand, walk (maybe a pause and back), sit, lie down."""
        rng = self.rng
        comps = []
        t = start
        # Sit up, swing the leg over the edge: the shin hangs down.
        comps.append(_band_tones(rng, t, t + 4.0, 0.8, 0.3, 3.0, rng.uniform(0.1, 0.3)))
        self.move_to(t + 0.5, rng.uniform(2.0, 3.5), rng.uniform(60.0, 85.0), rng.uniform(-40, 40))
        t += 4.0 + rng.uniform(5.0, 30.0)
        legs = [walk_s] if rng.random() < 0.5 else [walk_s / 2, walk_s / 2]
        for k, leg_s in enumerate(legs):
            self.move_to(t, rng.uniform(1.0, 2.0), rng.uniform(86.0, 94.0), self.roll)
            comps += self._stride(t + 1.5, t + 1.5 + leg_s)
            t += 1.5 + leg_s
            if k == 0 and len(legs) == 2:  # standing a while (bathroom), then back
                comps.append(_band_tones(rng, t, t + 60, 1.0, 0.2, 2.0, 0.01))
                t += rng.uniform(30.0, 120.0)
        # Sit down on the edge, then lie back.
        self.move_to(t, rng.uniform(1.5, 3.0), rng.uniform(60.0, 85.0), self.roll)
        t += rng.uniform(3.0, 20.0)
        comps.append(_band_tones(rng, t, t + 4.0, 0.8, 0.3, 3.0, rng.uniform(0.1, 0.3)))
        self.lie_down_new(t + 0.5, rng.uniform(2.0, 4.0))
        t += 5.0
        return SimEvent("walk", start, t, comps, {"walking_s": round(sum(legs), 1)})

    def _stride(self, t0: float, t1: float) -> list:
        """Walking: ~1 Hz stride (see :func:`stride`)."""
        return stride(self.rng, t0, t1, self.rng.uniform(0.8, 1.1))

    # -- the condition
    def cramp(self, start: float, sustained_s: float, release_s: float, mild: bool) -> SimEvent:
        """Onset jerk + tilt change; sustained writhing, tremor and a held tilt; release into a new posture."""
        rng = self.rng
        scale = rng.uniform(0.15, 0.3) if mild else 1.0
        comps = []
        # Onset: an abrupt jerk (a few tenths of a g to over 1 g; mild: a few hundredths) under a second.
        n_j = int(rng.integers(1, 3))
        jt = start + 0.05 + np.cumsum(rng.uniform(0.0, 0.25, n_j))
        jamp = np.array([_unit(rng) * rng.uniform(0.3, 1.4) * scale for _ in range(n_j)])
        comps.append(Pulses(jt, rng.uniform(0.05, 0.15, n_j), jamp, rng.uniform(2.0, 6.0, n_j)))
        # Held tilt away from the lying postures: the leg drawn up / the sleeper sitting to grab the calf.
        if mild:
            pitch = self.pitch + rng.choice([-1, 1]) * rng.uniform(6.0, 15.0)
            roll = self.roll + rng.uniform(-10, 10)
        elif rng.random() < 0.8:
            pitch = rng.uniform(35.0, 70.0)
            roll = self.roll + rng.uniform(-35, 35)
        else:  # the leg stays down: a smaller, still unusual tilt
            pitch = self.pitch + rng.choice([-1, 1]) * rng.uniform(12.0, 25.0)
            roll = self.roll + rng.uniform(-20, 20)
        self.move_to(start + 0.1, rng.uniform(0.5, 1.5), pitch, roll)
        s0 = start + 0.6
        s1 = start + 1.0 + sustained_s
        # Writhing, massaging and attempts to flex, 0.3-3 Hz, never quite still.
        wmod = (rng.uniform(0.3, 0.6), rng.uniform(0.03, 0.15), rng.uniform(0, TWO_PI))
        comps.append(_band_tones(rng, s0, s1, 1.0, 0.3, 3.0, rng.uniform(0.04, 0.12) * scale, k=14, mod=wmod))
        comps.append(_band_tones(rng, s0, s1, 1.5, 0.1, 1.5, rng.uniform(2.0, 7.0) * scale, k=8, dims=2,
                                 target="ang"))
        # Contraction tremor in the muscle's mechanical band (6-20 Hz), narrow, slowly varying.
        f_tr = rng.uniform(6.0, 20.0)
        comps.append(_band_tones(rng, s0, s1, 1.0, f_tr * 0.9, f_tr * 1.1, rng.uniform(0.008, 0.03) * scale,
                                 k=6, mod=(rng.uniform(0.3, 0.7), rng.uniform(0.05, 0.3), rng.uniform(0, TWO_PI))))
        # Attempts to flex or stretch against the cramp: bursts every few seconds.
        n_f = max(1, int(sustained_s / rng.uniform(4.0, 12.0)))
        ft = np.sort(rng.uniform(s0 + 1.0, max(s0 + 1.5, s1 - 1.0), n_f))
        famp = np.array([_unit(rng) * rng.uniform(0.08, 0.35) * scale for _ in range(n_f)])
        comps.append(Pulses(ft, rng.uniform(0.15, 0.4, n_f), famp, rng.uniform(0.8, 2.5, n_f)))
        # Release: a stretch, a settle into a new lying posture, then quiet.
        comps.append(_band_tones(rng, s1, s1 + release_s, release_s / 3, 0.3, 2.0, rng.uniform(0.03, 0.12) * scale))
        self.lie_down_new(s1 + 0.5, min(release_s - 0.5, rng.uniform(2.0, 4.0)))
        end = s1 + release_s
        return SimEvent("cramp", start, end, comps,
                        {"severity": "mild" if mild else "typical", "sustained_s": round(s1 - s0, 2),
                         "tremor_hz": round(f_tr, 2)})


# --------------------------------------------------------------------------- durations and the still body


def cramp_durations(rng, mild: bool) -> tuple[float, float]:
    """Sustained phase and release (s): the labelled episode lasts 15 s to 10 min, skewed short."""
    release = rng.uniform(3.0, 8.0)
    total = math.exp(rng.uniform(math.log(20.0), math.log(600.0)))
    if rng.random() < 0.1:
        total = rng.uniform(15.0, 20.0)
    sustained = max(15.0, total - 1.0 - release)
    return sustained, release


def body_background(rng) -> Tones:
    """Breathing (~0.25 Hz) and heartbeat (~1.1 Hz) shake a still leg by well under a milli-g."""
    freqs = np.array([rng.uniform(0.2, 0.3), rng.uniform(0.9, 1.3), 2 * rng.uniform(0.9, 1.3)])
    amps = np.abs(rng.normal(0, 1, (3, 3))) * np.array([[4e-4], [2e-4], [1e-4]])
    return Tones(-1e12, 1e12, 0.0, freqs, amps, rng.uniform(0, TWO_PI, (3, 3)), "lin")


def stride(rng, t0: float, t1: float, fs: float) -> list:
    """Walking at stride ``fs`` Hz: the shin swings +-20-30 deg, heel strikes of 0.8-2.2 g along the shin."""
    ph = rng.uniform(0, TWO_PI)
    swing = rng.uniform(20.0, 30.0)
    ang = Tones(t0, t1, 1.0, np.array([fs, 2 * fs]), np.array([[swing, 3.0], [swing * 0.2, 1.0]]),
                np.array([[ph, ph], [2 * ph, ph]]), "ang")
    lin = Tones(t0, t1, 1.0, np.array([fs, 2 * fs, 3 * fs]),
                np.array([[rng.uniform(0.3, 0.6), 0.05, 0.1], [0.15, 0.05, rng.uniform(0.15, 0.3)],
                          [0.08, 0.02, 0.1]]), rng.uniform(0, TWO_PI, (3, 3)), "lin")
    n = max(1, int((t1 - t0 - 1.0) * fs))
    times = t0 + 0.5 + (np.arange(n) + rng.uniform(-0.03, 0.03, n)) / fs
    amps = np.column_stack([rng.uniform(0.2, 0.6, n), rng.normal(0, 0.1, n), -rng.uniform(0.8, 2.2, n)])
    return [ang, lin, Pulses(times, rng.uniform(0.015, 0.035, n), amps, np.zeros(n))]
