"""A physically modelled night of a shin-worn accelerometer: timeline, renderer, sensor models.

Two halves, so a night can be played live into emulated chips as well as
written to a recording:

* a seeded **timeline** (:func:`make_night`) of what the sleeper does: lying
  postures, rollovers, twitches, periodic limb movement (PLM) series,
  fidgeting bouts, getting up and walking, sensor bumps and cramps (abrupt
  onset, sustained writhing + contraction tremor + held tilt, release);
* a **renderer** (:class:`NightSource`) that turns the timeline into
  acceleration for any span on demand, deterministically: the shin's tilt
  (pitch and roll: yaw is invisible to an accelerometer) gives the gravity
  vector in the leg frame, movements add band-limited linear accelerations
  (sums of sinusoids and Gaussian pulses, so any span renders without
  rendering what came before), and an arbitrary mounting rotation turns the
  leg frame into the sensor frame.

Every movement is a closed-form function of time, so ``render(t0, n, rate)``
costs only what overlaps the span: playing 8 h in a minute at 50 Hz is cheap
and memory stays bounded.  Units: seconds since the start of the night, g,
degrees for angles, C.  The numbers and their sources are in docs/simulator.md;
this is our own model, so the detector must not be tuned to its habits.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from firmware.errors import ConfigError

log = logging.getLogger(__name__)

RATE_MIN_HZ, RATE_MAX_HZ = 20.0, 200.0
TWO_PI = 2.0 * math.pi


# --------------------------------------------------------------------------- sensor models


@dataclass(frozen=True)
class SensorModel:
    """Noise, resolution and range of one accelerometer chip.

    ``noise_density_g`` is per axis in g/sqrt(Hz); the chips' digital filters
    scale with the output data rate, so the noise bandwidth is taken as the
    equivalent noise bandwidth of a filter at ODR/2 (pi/2 * ODR/2).
    ``lsb_g`` maps a full-scale range in g to the size of one output step.
    """

    name: str
    noise_density_g: tuple[float, float, float]
    lsb_by_range: dict
    ranges_g: tuple[int, ...] = (2, 4, 8)

    def lsb_g(self, range_g: float) -> float:
        return float(self.lsb_by_range[int(range_g)])

    def bandwidth_hz(self, rate_hz: float) -> float:
        """-3 dB bandwidth of the chip's filter at this output data rate (about ODR/2)."""
        return 0.5 * rate_hz

    def noise_std_g(self, rate_hz: float) -> np.ndarray:
        """Per-axis noise standard deviation in g at ``rate_hz``."""
        return np.asarray(self.noise_density_g) * math.sqrt(math.pi / 2.0 * self.bandwidth_hz(rate_hz))

    def quantise(self, accel_g: np.ndarray, range_g: float) -> np.ndarray:
        """Round to the output step and clip to the range, as the chip's registers do."""
        lsb = self.lsb_g(range_g)
        counts = np.round(np.asarray(accel_g) / lsb)
        top = math.floor(range_g / lsb + 1e-9)
        return np.clip(counts, -top, top - 1) * lsb


SENSORS: dict[str, SensorModel] = {
    # MPU-6050 product spec rev 3.4, section 6.2: noise power spectral density
    # 400 ug/sqrt(Hz); sensitivity 16384/8192/4096 LSB/g at +-2/4/8 g.
    "mpu6050": SensorModel("mpu6050", (400e-6, 400e-6, 400e-6), {2: 2 / 32768, 4: 4 / 32768, 8: 8 / 32768}),
    # ADXL345 datasheet rev E, table 1: noise 0.75 LSB rms (x, y) and 1.1 LSB
    # rms (z) at 100 Hz ODR with 3.9 mg/LSB full resolution -> ~330/480 ug/sqrt(Hz).
    "adxl345": SensorModel("adxl345", (330e-6, 330e-6, 480e-6), {2: 0.0039, 4: 0.0039, 8: 0.0039}),
    # LIS3DH datasheet DocID17530 rev 2, table 4: noise density 220 ug/sqrt(Hz);
    # high-resolution (12-bit) sensitivity 1/2/4 mg/digit at +-2/4/8 g.
    "lis3dh": SensorModel("lis3dh", (220e-6, 220e-6, 220e-6), {2: 0.001, 4: 0.002, 8: 0.004}),
}


def sensor_model(name: str) -> SensorModel:
    try:
        return SENSORS[name]
    except KeyError:
        raise ConfigError(f"unknown sensor {name!r}: choose one of {', '.join(SENSORS)}") from None


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


def _lying_posture(rng, exclude: str | None = None) -> tuple[str, float, float]:
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


# --------------------------------------------------------------------------- sleepers


@dataclass(frozen=True)
class Sleeper:
    """Rates of look-alikes for one kind of sleeper (per hour unless noted)."""

    rollovers: float
    twitches: float
    fidget_bouts: float
    plm_series: float
    bumps: float
    getups: tuple[int, int]  # min, max get-ups per 8 h night


SLEEPERS: dict[str, Sleeper] = {
    "calm": Sleeper(rollovers=1.5, twitches=2.0, fidget_bouts=0.1, plm_series=0.0, bumps=0.3, getups=(0, 1)),
    "normal": Sleeper(rollovers=3.0, twitches=4.0, fidget_bouts=0.3, plm_series=0.1, bumps=0.8, getups=(0, 2)),
    "restless": Sleeper(rollovers=8.0, twitches=8.0, fidget_bouts=1.5, plm_series=0.3, bumps=2.0, getups=(1, 2)),
    "plm": Sleeper(rollovers=3.0, twitches=5.0, fidget_bouts=0.3, plm_series=1.2, bumps=0.8, getups=(0, 2)),
    "walker": Sleeper(rollovers=3.0, twitches=4.0, fidget_bouts=0.5, plm_series=0.1, bumps=0.8, getups=(3, 5)),
}


def sleeper_type(name: str) -> Sleeper:
    try:
        return SLEEPERS[name]
    except KeyError:
        raise ConfigError(f"unknown sleeper type {name!r}: choose one of {', '.join(SLEEPERS)}") from None


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


class _Builder:
    """Walks the night chronologically, turning placed slots into components and posture keyframes."""

    def __init__(self, rng, pitch: float, roll: float, posture: str):
        self.rng = rng
        self.pitch, self.roll, self.posture = pitch, roll, posture
        self.keys: list[tuple[float, float, float, float]] = [(-1e9, 1.0, pitch, roll)]

    def move_to(self, t: float, dur: float, pitch: float, roll: float) -> None:
        # Take the short way round in roll.
        roll = self.roll + ((roll - self.roll + 180.0) % 360.0 - 180.0)
        self.keys.append((t, dur, pitch, roll))
        self.pitch, self.roll = pitch, roll

    def lie_down_new(self, t: float, dur: float) -> None:
        name, p, r = _lying_posture(self.rng, exclude=self.posture)
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
        """Walking: ~1 Hz stride, the shin swinging +-20-30 deg, heel strikes of 1-2.5 g along the shin."""
        rng = self.rng
        fs = rng.uniform(0.8, 1.1)
        ph = rng.uniform(0, TWO_PI)
        swing = rng.uniform(20.0, 30.0)
        ang = Tones(t0, t1, 1.0, np.array([fs, 2 * fs]), np.array([[swing, 3.0], [swing * 0.2, 1.0]]),
                    np.array([[ph, ph], [2 * ph, ph]]), "ang")
        lin = Tones(t0, t1, 1.0, np.array([fs, 2 * fs, 3 * fs]),
                    np.array([[rng.uniform(0.3, 0.6), 0.05, 0.1], [0.15, 0.05, rng.uniform(0.15, 0.3)],
                              [0.08, 0.02, 0.1]]),
                    rng.uniform(0, TWO_PI, (3, 3)), "lin")
        n = int((t1 - t0 - 1.0) * fs)
        times = t0 + 0.5 + (np.arange(n) + rng.uniform(-0.03, 0.03, n)) / fs
        amps = np.column_stack([rng.uniform(0.2, 0.6, n), rng.normal(0, 0.1, n), -rng.uniform(0.8, 2.2, n)])
        heel = Pulses(times, rng.uniform(0.015, 0.035, n), amps, np.zeros(n))
        return [ang, lin, heel]

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


# --------------------------------------------------------------------------- the timeline


@dataclass
class Timeline:
    """A night: events sorted by start, posture keyframes, mounting rotation, room temperature."""

    hours: float
    seed: int
    sleeper: str
    events: list[SimEvent]
    keys: np.ndarray  # (K, 4): transition start s, duration s, pitch deg, roll deg
    mount: np.ndarray  # (3, 3): sensor frame <- leg frame
    temp_grid_c: np.ndarray  # one value a minute from t = 0
    background: Tones

    @property
    def episodes(self) -> list[tuple[float, float]]:
        """Cramp labels: (onset = the abrupt onset, end = the end of the release), seconds."""
        return [(e.start, e.end) for e in self.events if e.kind == "cramp"]

    def lookalikes(self) -> list[dict]:
        return [{"kind": e.kind, "start": round(e.start, 3), "end": round(e.end, 3), **e.info}
                for e in self.events if e.kind != "cramp"]


class _Slots:
    """Non-overlapping placement of spans with margins, by rejection sampling."""

    def __init__(self, horizon: float, rng):
        self.horizon = horizon
        self.rng = rng
        self.busy: list[tuple[float, float, str]] = []

    def free(self, a: float, b: float, margin: float, avoid: dict | None = None) -> bool:
        for s, e, kind in self.busy:
            m = margin if avoid is None else max(margin, avoid.get(kind, margin))
            if a < e + m and b > s - m:
                return False
        return True

    def place(self, dur: float, kind: str, margin: float, lo: float, hi: float, avoid=None, tries=400):
        for _ in range(tries):
            if hi - lo - dur <= 0:
                return None
            a = float(self.rng.uniform(lo, hi - dur))
            if self.free(a, a + dur, margin, avoid):
                self.busy.append((a, a + dur, kind))
                return a
        return None


def _cramp_durations(rng, mild: bool) -> tuple[float, float]:
    """Sustained phase and release (s): the labelled episode lasts 15 s to 10 min, skewed short."""
    release = rng.uniform(3.0, 8.0)
    total = math.exp(rng.uniform(math.log(20.0), math.log(600.0)))
    if rng.random() < 0.1:
        total = rng.uniform(15.0, 20.0)
    sustained = max(15.0, total - 1.0 - release)
    return sustained, release


def make_night(hours: float, cramps: int, seed: int, sleeper: str = "normal", *,
               start_temp_c: float = 20.0, mild_fraction: float = 0.3) -> Timeline:
    """Build the seeded timeline of one night (no samples yet: see :class:`NightSource`)."""
    if not (0 < hours <= 24):
        raise ConfigError(f"hours must be between 0 and 24, got {hours}")
    if cramps < 0:
        raise ConfigError(f"cramps must be >= 0, got {cramps}")
    prof = sleeper_type(sleeper)
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x6E63])
    r_place, r_build, r_mount, r_temp = (np.random.default_rng(s) for s in ss.spawn(4))
    horizon = hours * 3600.0
    slots = _Slots(horizon, r_place)
    scale = hours / 8.0

    # 1. Getting up (the biggest look-alike) first, then cramps away from walks and each other.
    lo_g, hi_g = prof.getups
    n_getups = int(round(r_place.integers(lo_g, hi_g + 1) * min(1.0, scale))) if hours >= 0.5 else 0
    walk_plan = []
    for _ in range(n_getups):
        walk_s = float(r_place.uniform(30.0, 300.0))
        span = walk_s + 240.0  # sitting, a possible pause, lying down again: generous bound
        a = slots.place(span, "walk", 300.0, 120.0, horizon - 120.0)
        if a is not None:
            walk_plan.append((a, walk_s))
    cramp_plan = []
    for _ in range(cramps):
        mild = bool(r_place.random() < mild_fraction)
        sustained, release = _cramp_durations(r_place, mild)
        span = 1.0 + sustained + release
        a = slots.place(span, "cramp", 600.0, min(300.0, horizon * 0.05), horizon - 60.0,
                        avoid={"walk": 600.0, "cramp": 1200.0})
        if a is None:
            raise ConfigError(f"cannot fit {cramps} cramps (10 min apart, away from walking) into {hours:g} h")
        cramp_plan.append((a, sustained, release, mild))

    # 2. PLM series and fidgeting bouts, then short look-alikes, in what is left.
    around_cramps = {"cramp": 60.0}
    plm_plan, fidget_plan = [], []
    for _ in range(r_place.poisson(prof.plm_series * hours)):
        n = int(np.clip(r_place.lognormal(math.log(15), 0.5), 4, 60))
        iv = float(r_place.uniform(15.0, 45.0))
        span = n * iv * 1.2 + 10
        a = slots.place(span, "plm", 30.0, 0.0, horizon, avoid=around_cramps)
        if a is not None:
            plm_plan.append((a, n, iv, a + span))
    for _ in range(r_place.poisson(prof.fidget_bouts * hours)):
        dur = float(r_place.uniform(60.0, 480.0))
        a = slots.place(dur + 25, "fidget", 20.0, 0.0, horizon, avoid=around_cramps)
        if a is not None:
            fidget_plan.append((a, dur))
    short = []
    for kind, rate, dur in (("rollover", prof.rollovers, 10.0), ("twitch", prof.twitches, 1.0),
                            ("bump", prof.bumps, 0.2)):
        for _ in range(r_place.poisson(rate * hours)):
            d = float(r_place.uniform(2.0, 10.0)) if kind == "rollover" else dur
            a = slots.place(d, kind, 5.0, 5.0, horizon - 5.0, avoid={"cramp": 45.0, "walk": 30.0})
            if a is not None:
                short.append((a, kind, d))

    # 3. Walk the night in time order: each event starts from the posture the last one left.
    name, p, r = _lying_posture(r_build)
    b = _Builder(r_build, p, r, name)
    plan = ([(a, "walk", (w,)) for a, w in walk_plan] + [(a, "cramp", c[1:]) for c in cramp_plan for a in [c[0]]]
            + [(a, "plm", (n, iv, e)) for a, n, iv, e in plm_plan] + [(a, "fidget", (d,)) for a, d in fidget_plan]
            + [(a, k, (d,)) for a, k, d in short])
    plan.sort(key=lambda x: x[0])
    events = []
    for a, kind, args in plan:
        if kind == "walk":
            events.append(b.walk(a, *args))
        elif kind == "cramp":
            events.append(b.cramp(a, *args))
        elif kind == "plm":
            events.append(b.plm_series(a, *args))
        elif kind == "fidget":
            events.append(b.fidget(a, *args))
        elif kind == "rollover":
            events.append(b.rollover(a, *args))
        elif kind == "twitch":
            events.append(b.twitch(a))
        else:
            events.append(b.bump(a))
    return Timeline(hours=hours, seed=seed, sleeper=sleeper, events=events,
                    keys=_sorted_keys(b.keys), mount=random_rotation(r_mount),
                    temp_grid_c=_room_temperature(r_temp, hours, start_temp_c),
                    background=_background(r_build))


def _sorted_keys(keys) -> np.ndarray:
    return np.array(sorted(keys, key=lambda k: k[0]), dtype=float)


def _background(rng) -> Tones:
    """Breathing (~0.25 Hz) and heartbeat (~1.1 Hz) shake a still leg by well under a milli-g."""
    freqs = np.array([rng.uniform(0.2, 0.3), rng.uniform(0.9, 1.3), 2 * rng.uniform(0.9, 1.3)])
    amps = np.abs(rng.normal(0, 1, (3, 3))) * np.array([[4e-4], [2e-4], [1e-4]])
    return Tones(-1e12, 1e12, 0.0, freqs, amps, rng.uniform(0, TWO_PI, (3, 3)), "lin")


def _room_temperature(rng, hours: float, start_c: float) -> np.ndarray:
    """One value a minute: cooling towards the night's outside level, a thermostat keeping a setpoint.

    Newton cooling with a time constant of 2-4 h towards 4-8 C below the
    start; with a heater (70% of nights) a thermostat 1.5-3 C below the start
    switches on at 0.25 C under its setpoint and adds 0.06-0.12 C a minute
    until 0.25 C over it: the saw-tooth of a heating cycle.
    """
    n = int(math.ceil(hours * 60)) + 2
    out = np.empty(n)
    t_out = start_c - rng.uniform(4.0, 8.0)
    k = 1.0 / rng.uniform(120.0, 240.0)
    heater = rng.random() < 0.7
    setpoint = start_c - rng.uniform(1.5, 3.0)
    power = rng.uniform(0.06, 0.12)
    on = False
    temp = start_c
    for i in range(n):
        out[i] = temp
        if heater:
            if temp < setpoint - 0.25:
                on = True
            elif temp > setpoint + 0.25:
                on = False
        temp += -k * (temp - t_out) + (power if on else 0.0) + rng.normal(0, 0.01)
    return out


# --------------------------------------------------------------------------- the renderer


class NightSource:
    """Renders a :class:`Timeline` into acceleration in the sensor frame (g), for any span, on demand.

    A sample source for emulated chips (``source(t0, n, rate_hz)``, see
    docs/CONTRACTS.md): the chip quantises and clips; this object gives the
    true acceleration (gravity + movement), filtered by the chip's anti-alias
    filter at the requested rate (``antialias``) and, with ``noise`` (the
    default: real chips are never noise-free), the sensor model's white noise.
    ``t_origin`` is the source clock's time at the start of the night (an
    emulated chip calls with monotonic-clock times).  Noise is drawn from a
    generator keyed by the seed and the first sample index, so the same call
    gives the same samples.  Only events overlapping the span are rendered.
    """

    def __init__(self, timeline: Timeline, sensor: str | SensorModel = "mpu6050", *, noise: bool = True,
                 antialias: bool = True, t_origin: float = 0.0, mount: np.ndarray | None = None):
        self.timeline = timeline
        self.sensor = sensor if isinstance(sensor, SensorModel) else sensor_model(sensor)
        self.noise = noise
        self.antialias = antialias
        self.t_origin = float(t_origin)
        self.mount = np.asarray(timeline.mount if mount is None else mount, dtype=float)
        ev = timeline.events
        self._starts = np.array([min([e.start] + [c.t0 for c in e.components]) for e in ev])
        self._ends = np.array([max([e.end] + [c.t1 for c in e.components]) for e in ev])
        self._keys = timeline.keys

    @property
    def hours(self) -> float:
        return self.timeline.hours

    def __call__(self, t0: float, n: int, rate_hz: float) -> np.ndarray:
        """``n`` samples at ``t0, t0 + 1/rate_hz, ...`` (source-clock seconds), shape (n, 3), g."""
        t = (t0 - self.t_origin) + np.arange(int(n)) / rate_hz
        accel = self.render_times(t, rate_hz)
        if self.noise and n:
            key = int(round((t0 - self.t_origin) * rate_hz))
            rng = np.random.default_rng([int(self.timeline.seed) & 0xFFFFFFFF, key & 0xFFFFFFFFFFFF, int(rate_hz * 1000)])
            accel += rng.normal(size=(int(n), 3)) * self.sensor.noise_std_g(rate_hz)[None, :]
        return accel

    def render(self, t0: float, n: int, rate_hz: float) -> np.ndarray:
        """Like calling the source, in night seconds, never with noise (the noiseless truth)."""
        return self.render_times(t0 + np.arange(int(n)) / rate_hz, rate_hz)

    def pose(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lying/standing tilt at night times ``t``: (pitch, roll) in degrees, without movement wobble."""
        k = self._keys
        idx = np.searchsorted(k[:, 0], t, side="right") - 1
        idx = np.maximum(idx, 0)
        prev = np.maximum(idx - 1, 0)
        x = np.clip((t - k[idx, 0]) / k[idx, 1], 0.0, 1.0)
        s = x * x * (3.0 - 2.0 * x)  # smoothstep: no jump in angular velocity
        pitch = k[prev, 2] + (k[idx, 2] - k[prev, 2]) * s
        roll = k[prev, 3] + (k[idx, 3] - k[prev, 3]) * s
        return pitch, roll

    def render_times(self, t: np.ndarray, rate_hz: float) -> np.ndarray:
        """Noiseless acceleration (n, 3) in g, sensor frame, at night times ``t`` (increasing)."""
        t = np.asarray(t, dtype=float)
        n = t.shape[0]
        if n == 0:
            return np.empty((0, 3))
        cutoff = self.sensor.bandwidth_hz(rate_hz) if self.antialias else None
        pitch, roll = self.pose(t)
        lin = self.timeline.background.render(t, cutoff)
        for i in np.flatnonzero((self._starts <= t[-1]) & (self._ends >= t[0])):
            for c in self.timeline.events[i].components:
                lo, hi = np.searchsorted(t, [c.t0, c.t1])
                if hi <= lo:
                    continue
                out = c.render(t[lo:hi], cutoff)
                if c.target == "lin":
                    lin[lo:hi] += out
                else:
                    pitch[lo:hi] += out[:, 0]
                    roll[lo:hi] += out[:, 1]
        leg = up_vector(pitch, roll) + lin
        return leg @ self.mount.T

    def temp_at(self, t) -> float | np.ndarray:
        """Room temperature in C at source-clock time(s) ``t`` (linear between minute values)."""
        grid = self.timeline.temp_grid_c
        minutes = (np.asarray(t, dtype=float) - self.t_origin) / 60.0
        out = np.interp(minutes, np.arange(grid.shape[0]), grid)
        return float(out) if np.ndim(out) == 0 else out


def night_source(hours: float = 8.0, cramps: int = 2, seed: int = 0, sleeper: str = "normal",
                 sensor: str = "mpu6050", *, noise: bool = True, t_origin: float = 0.0,
                 start_temp_c: float = 20.0) -> NightSource:
    """A ready-made source for emulated chips: ``make_night`` + :class:`NightSource`."""
    tl = make_night(hours, cramps, seed, sleeper, start_temp_c=start_temp_c)
    return NightSource(tl, sensor, noise=noise, t_origin=t_origin)


# --------------------------------------------------------------------------- recordings


def _check_rate(rate_hz: float) -> float:
    rate_hz = float(rate_hz)
    if not (RATE_MIN_HZ <= rate_hz <= RATE_MAX_HZ):
        raise ConfigError(f"sample rate must be between {RATE_MIN_HZ:g} and {RATE_MAX_HZ:g} Hz, got {rate_hz:g}")
    return rate_hz


def _check_range(model: SensorModel, range_g) -> int:
    if range_g not in model.ranges_g:
        raise ConfigError(f"range must be one of {', '.join(map(str, model.ranges_g))} g, got {range_g}")
    return int(range_g)


@dataclass
class SimulatedNight:
    """A timeline rendered through a sensor model with real-world sampling: rate error, jitter, gaps.

    Samples are produced by :meth:`chunks` about ``chunk_s`` at a time, so an
    8-hour 200 Hz night never sits in memory at once.
    """

    timeline: Timeline
    sensor: SensorModel
    rate_hz: float
    range_g: int
    jitter: bool = True
    gaps: bool = True
    chunk_s: float = 60.0
    gap_rate_scale: float = 1.0

    def __post_init__(self):
        ss = np.random.SeedSequence([int(self.timeline.seed) & 0xFFFFFFFF, 0x5A3])
        r_plan, self._r_time_seed = (np.random.default_rng(s) for s in ss.spawn(2))
        self.source = NightSource(self.timeline, self.sensor, noise=True)
        # The chip's oscillator runs a little off its nominal rate (datasheets: a few %).
        self.true_rate = self.rate_hz * (1.0 + r_plan.uniform(-0.01, 0.01))
        self.n_total = int(self.timeline.hours * 3600.0 * self.true_rate)
        self.gap_spans = self._plan_gaps(r_plan) if self.gaps else []
        self.temp_times = np.arange(r_plan.uniform(0.0, 60.0), self.timeline.hours * 3600.0, 60.0)

    def _plan_gaps(self, rng) -> list[tuple[int, int]]:
        """Lost samples as index ranges: FIFO overflows (0.1-2 s, ~1.5/h) and loose-cable gaps (5-60 s, ~0.15/h).

        Kept clear of cramps (+-30 s) so every labelled episode stays scoreable.
        """
        hours = self.timeline.hours
        protect = [(a - 30.0, b + 30.0) for a, b in self.timeline.episodes]
        spans = []
        for rate, lo, hi in ((1.5, 0.1, 2.0), (0.15, 5.0, 60.0)):
            for _ in range(rng.poisson(rate * hours * self.gap_rate_scale)):
                d = rng.uniform(lo, hi)
                a = rng.uniform(10.0, max(10.0, hours * 3600.0 - d - 10.0))
                if any(a < pe and a + d > ps for ps, pe in protect):
                    continue
                spans.append((int(a * self.true_rate), int((a + d) * self.true_rate)))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        return merged

    @property
    def gap_times(self) -> list[tuple[float, float]]:
        """Gaps as (last time before, first time after) in seconds (true sample times)."""
        return [((s - 1) / self.true_rate, e / self.true_rate) for s, e in self.gap_spans]

    def chunks(self):
        """Yield (t, accel_g, temp_c) with t the recorded timestamps and temp_c NaN except once a minute."""
        rate = self.true_rate
        step = max(1, int(self.chunk_s * rate))
        jit = min(0.0015, 0.1 / rate) if self.jitter else 0.0
        rng = np.random.default_rng(self._r_time_seed.integers(2**63))
        temp_k = np.ceil(self.temp_times * rate).astype(np.int64)
        gaps = np.array(self.gap_spans, dtype=np.int64).reshape(-1, 2)
        for c0 in range(0, self.n_total, step):
            c1 = min(c0 + step, self.n_total)
            k = np.arange(c0, c1)
            keep = np.ones(c1 - c0, dtype=bool)
            for s, e in gaps[(gaps[:, 0] < c1) & (gaps[:, 1] > c0)]:
                keep[max(s, c0) - c0:min(e, c1) - c0] = False
            accel = self.source(c0 / rate, c1 - c0, rate)
            accel = self.sensor.quantise(accel, self.range_g)
            t = k / rate
            if jit:
                t = t + np.clip(rng.normal(0.0, jit, t.shape[0]), -0.3 / rate, 0.3 / rate)
                t = np.maximum(t, 0.0)
            temp = np.full(c1 - c0, np.nan)
            # A reading attaches to the first kept sample at or after its time.
            for kk in temp_k[(temp_k >= c0) & (temp_k < c1)]:
                idx = np.flatnonzero(keep[kk - c0:]) + (kk - c0)
                if idx.size:
                    tr = float(self.source.temp_at(kk / rate)) + rng.normal(0.0, 0.03)
                    temp[idx[0]] = round(tr, 2)
            yield t[keep], accel[keep], temp[keep]

    def labels(self) -> "Labels":
        from service.recording.format import Labels

        info = [{"severity": e.info["severity"], "sustained_s": e.info["sustained_s"]}
                for e in self.timeline.events if e.kind == "cramp"]
        extra = {
            "generator": "nightcramp simulate",
            "seed": self.timeline.seed, "sleeper": self.timeline.sleeper, "sensor": self.sensor.name,
            "rate_hz": self.rate_hz, "range_g": self.range_g,
            "mount": np.round(self.timeline.mount, 6).tolist(),
            "lookalikes": self.timeline.lookalikes(),
            "gaps": [[round(a, 3), round(b, 3)] for a, b in self.gap_times],
        }
        return Labels(episodes=self.timeline.episodes, hours=self.timeline.hours, extra=extra, episode_info=info)

    def header_comments(self) -> list[str]:
        tl = self.timeline
        return [f"nightcramp simulate: seed {tl.seed}, sleeper {tl.sleeper}, sensor {self.sensor.name}, "
                f"range {self.range_g} g, rate {self.rate_hz:g} Hz, {tl.hours:g} h"]


def prepare_night(hours: float = 8.0, cramps: int = 2, seed: int = 0, rate_hz: float = 50.0,
                  sensor: str = "mpu6050", sleeper: str = "normal", range_g: int | None = None, *,
                  jitter: bool = True, gaps: bool = True, start_temp_c: float = 20.0,
                  mild_fraction: float = 0.3, gap_rate_scale: float = 1.0) -> SimulatedNight:
    """Validate the options and build the night (timeline + sampling plan), without rendering it."""
    rate_hz = _check_rate(rate_hz)
    model = sensor_model(sensor)
    if range_g is None:  # a seeded choice, so a corpus covers every range
        range_g = int(np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x8A]).choice([2, 4, 4, 8]))
    range_g = _check_range(model, range_g)
    tl = make_night(hours, cramps, seed, sleeper, start_temp_c=start_temp_c, mild_fraction=mild_fraction)
    return SimulatedNight(tl, model, rate_hz, range_g, jitter=jitter, gaps=gaps, gap_rate_scale=gap_rate_scale)


def simulate_night(hours: float = 8.0, cramps: int = 2, seed: int = 0, rate_hz: float = 50.0,
                   sensor: str = "mpu6050", sleeper: str = "normal", range_g: int | None = None,
                   start_wall: datetime | None = None, **kwargs):
    """Render a whole night in memory: returns (Recording, Labels) as read_recording/read_labels would.

    Values are rounded as the recording format stores them (t to 0.1 ms, g to
    10 ug), so a written and re-read night is identical.  ``kwargs`` go to
    :func:`prepare_night` (jitter, gaps, start_temp_c, mild_fraction, gap_rate_scale).
    """
    from service.recording.format import Recording

    night = prepare_night(hours, cramps, seed, rate_hz, sensor, sleeper, range_g, **kwargs)
    parts = list(night.chunks())
    t = np.round(np.concatenate([p[0] for p in parts]), 4)
    accel = np.round(np.concatenate([p[1] for p in parts]), 5)
    temp = np.concatenate([p[2] for p in parts])
    has = np.isfinite(temp)
    rec = Recording(t=t, accel=accel, temp_t=t[has], temp_c=temp[has], start_wall=start_wall,
                    comments=night.header_comments(), has_temp_column=True)
    return rec, night.labels()


def write_simulated_night(path, hours: float = 8.0, cramps: int = 2, seed: int = 0, rate_hz: float = 50.0,
                          sensor: str = "mpu6050", sleeper: str = "normal", range_g: int | None = None,
                          start_wall: datetime | None = None, **kwargs):
    """Write the night to ``path`` (.csv or .csv.gz) and its labels beside it; returns (Labels, labels path)."""
    from service.recording.format import RecordingWriter, labels_path, write_labels

    night = prepare_night(hours, cramps, seed, rate_hz, sensor, sleeper, range_g, **kwargs)
    path = Path(path)
    lpath = labels_path(path)
    with RecordingWriter(path, start_wall=start_wall) as w:
        for line in night.header_comments():
            w.comment(line)
        for t, accel, temp in night.chunks():
            w.write(t, accel, temp_c=temp)
    labels = night.labels()
    write_labels(lpath, labels.episodes, labels.hours, extra=labels.extra, episode_info=labels.episode_info)
    return labels, lpath


def cmd_simulate(args) -> int:
    """``nightcramp simulate -o FILE``: write a simulated night and its labels."""
    from firmware.errors import NightcrampError

    rate = _check_rate(args.rate)
    sensor_model(args.sensor)
    sleeper_type(args.sleeper)
    out = Path(args.output)
    if not out.parent.is_dir():
        raise ConfigError(f"cannot write {out}: directory {out.parent} does not exist")
    try:
        labels, lpath = write_simulated_night(out, hours=args.hours, cramps=args.cramps, seed=args.seed,
                                              rate_hz=rate, sensor=args.sensor, sleeper=args.sleeper)
    except OSError as exc:
        raise NightcrampError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {out} ({labels.hours:g} h, {args.sensor} at {rate:g} Hz, {args.sleeper} sleeper, "
          f"{len(labels.episodes)} cramps) and {lpath}")
    return 0


# --------------------------------------------------------------------------- single-scenario clips

SCENARIOS = ("quiet", "rollover", "twitch", "plm", "fidget", "walk", "bump", "cramp", "mild_cramp")


def scenario_timeline(kind: str, seed: int = 0, mount_rotation: np.ndarray | None = None, *,
                      lead_s: float = 60.0, tail_s: float = 60.0, duration_s: float | None = None) -> Timeline:
    """The timeline of a single-scenario clip (see :func:`scenario`); its events carry their details."""
    if kind not in SCENARIOS:
        raise ConfigError(f"unknown scenario {kind!r}: choose one of {', '.join(SCENARIOS)}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x5C, SCENARIOS.index(kind)])
    name, p, r = _lying_posture(rng)
    b = _Builder(rng, p, r, name)
    a = float(lead_s)
    if kind == "quiet":
        events = []
    elif kind == "rollover":
        events = [b.rollover(a, float(rng.uniform(2.0, 10.0)))]
    elif kind == "twitch":
        events = [b.twitch(a)]
    elif kind == "bump":
        events = [b.bump(a)]
    elif kind == "plm":
        events = [b.plm_series(a, int(rng.integers(4, 12)), float(rng.uniform(15.0, 45.0)))]
    elif kind == "fidget":
        events = [b.fidget(a, float(duration_s or rng.uniform(60.0, 240.0)))]
    elif kind == "walk":
        events = [b.walk(a, float(duration_s or rng.uniform(30.0, 120.0)))]
    else:
        mild = kind == "mild_cramp"
        sustained, release = _cramp_durations(rng, mild)
        if duration_s is not None:
            if not (15.0 <= duration_s <= 600.0):
                raise ConfigError(f"cramp duration must be 15-600 s, got {duration_s}")
            release = min(release, duration_s - 1.0 - 10.0)
            sustained = duration_s - 1.0 - release
        events = [b.cramp(a, sustained, release, mild)]
    end = max([a] + [e.end for e in events]) + float(tail_s)
    return Timeline(hours=end / 3600.0, seed=int(seed), sleeper="scenario", events=events,
                    keys=_sorted_keys(b.keys),
                    mount=random_rotation(rng) if mount_rotation is None else np.asarray(mount_rotation, float),
                    temp_grid_c=np.full(int(end / 60) + 2, 20.0), background=_background(rng))


def scenario(kind: str, seed: int = 0, rate_hz: float = 50.0, sensor: str = "mpu6050",
             mount_rotation: np.ndarray | None = None, *, range_g: int = 4, lead_s: float = 60.0,
             tail_s: float = 60.0, duration_s: float | None = None, jitter: bool = False,
             noise: bool = True):
    """A clip of one thing out of quiet lying, for per-class tests: returns (t, accel_g, labels).

    ``kind`` is one of :data:`SCENARIOS`.  ``labels`` is a list of (onset,
    end): one for the cramp kinds, empty for look-alikes.  The event starts at
    ``lead_s`` and the clip ends ``tail_s`` after it; ``duration_s`` sets a
    cramp's labelled length (onset to release end, 15-600 s), a walk's
    walking time or a fidgeting bout's length.  ``mount_rotation`` (3x3,
    sensor <- leg) defaults to a seeded random rotation.  Samples are
    quantised and clipped by the sensor model at ``range_g``; ``jitter`` adds
    timestamp jitter as in recordings.
    """
    rate_hz = _check_rate(rate_hz)
    model = sensor_model(sensor)
    range_g = _check_range(model, range_g)
    tl = scenario_timeline(kind, seed, mount_rotation, lead_s=lead_s, tail_s=tail_s, duration_s=duration_s)
    src = NightSource(tl, model, noise=noise)
    n = int(tl.hours * 3600.0 * rate_hz)
    accel = model.quantise(src(0.0, n, rate_hz), range_g)
    t = np.arange(n) / rate_hz
    if jitter:
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x7A])
        t = t + np.clip(rng.normal(0.0, min(0.0015, 0.1 / rate_hz), n), -0.3 / rate_hz, 0.3 / rate_hz)
        t = np.maximum(t, 0.0)
    return t, accel, tl.episodes
