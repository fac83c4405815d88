"""The renderer: a :class:`~service.sim.night.Timeline` as accelerometer samples, live or for a recording.

* :class:`NightSource` renders acceleration for any span on demand,
  deterministically: the shin's tilt (pitch and roll: yaw is invisible to an
  accelerometer) gives the gravity vector in the leg frame, movements add
  band-limited linear accelerations, and the mounting rotation turns the leg
  frame into the sensor frame; the chip's white noise is added.  It is the
  sample source of emulated chips, which quantise what it gives.
* :class:`SimulatedNight` samples a source as a recording would hold it: the
  oscillator's rate error, timestamp jitter, lost samples (FIFO overflows,
  a loose cable), quantisation as the chip does it, and a room temperature
  reading a minute, produced a chunk at a time.

Every movement is a closed-form function of time, so ``source(t0, n, rate)``
costs only what overlaps the span: playing 8 h in a minute at 50 Hz is cheap
and memory stays bounded.  Units: seconds, g, C.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware.accelerometer import RANGES_G
from firmware.chipdata import ChipData, chip_data
from firmware.errors import ConfigError
from service.recording.format import Labels
from service.sim.movements import up_vector
from service.sim.night import Timeline, make_night

RATE_MIN_HZ, RATE_MAX_HZ = 20.0, 200.0


# --------------------------------------------------------------------------- the renderer


class NightSource:
    """Renders a :class:`Timeline` into acceleration in the sensor frame (g), for any span, on demand.

    A sample source for emulated chips (``source(t0, n, rate_hz)``, see
    :mod:`firmware.emulated.accelchip`): the chip quantises and clips; this object gives the
    true acceleration (gravity + movement), filtered by the chip's anti-alias
    filter at the requested rate (``antialias``) and, with ``noise`` (the
    default: real chips are never noise-free), the chip's white noise (firmware/chipdata.py).
    ``t_origin`` is the source clock's time at the start of the night (an
    emulated chip calls with monotonic-clock times).  Noise is drawn from a
    generator keyed by the seed and the first sample index, so the same call
    gives the same samples.  Only events overlapping the span are rendered.
    """

    def __init__(self, timeline: Timeline, sensor: str | ChipData = "mpu6050", *, noise: bool = True,
                 antialias: bool = True, t_origin: float = 0.0, mount: np.ndarray | None = None):
        self.timeline = timeline
        self.sensor = sensor if isinstance(sensor, ChipData) else chip_data(sensor)
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
                 start_temp_c: float = 20.0, lookalikes: bool = False) -> NightSource:
    """A ready-made source for emulated chips: ``make_night`` + :class:`NightSource`."""
    tl = make_night(hours, cramps, seed, sleeper, start_temp_c=start_temp_c, lookalikes=lookalikes)
    return NightSource(tl, sensor, noise=noise, t_origin=t_origin)


# --------------------------------------------------------------------------- recordings


def check_rate(rate_hz: float) -> float:
    rate_hz = float(rate_hz)
    if not (RATE_MIN_HZ <= rate_hz <= RATE_MAX_HZ):
        raise ConfigError(f"sample rate must be between {RATE_MIN_HZ:g} and {RATE_MAX_HZ:g} Hz, got {rate_hz:g}")
    return rate_hz


def check_range(chip: ChipData, range_g) -> int:
    """``range_g`` if the drivers configure it and the chip has it; else a :class:`ConfigError`."""
    ranges = [r for r in RANGES_G if r in chip.ranges_g]
    if range_g not in ranges:
        raise ConfigError(f"range must be one of {', '.join(map(str, ranges))} g, got {range_g}")
    return int(range_g)


@dataclass
class SimulatedNight:
    """A timeline rendered as a chip samples it, with real-world sampling: rate error, jitter, gaps.

    Samples are produced by :meth:`chunks` about ``chunk_s`` at a time, so an
    8-hour 200 Hz night never sits in memory at once.
    """

    timeline: Timeline
    sensor: ChipData
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

    def labels(self) -> Labels:
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
