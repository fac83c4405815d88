"""Single-scenario clips: one movement or cramp out of quiet lying, for per-class tests and plots."""

from __future__ import annotations

import numpy as np

from firmware.chipdata import chip_data
from firmware.errors import ConfigError
from service.sim.movements import EventBuilder, body_background, cramp_durations, lying_posture, random_rotation
from service.sim.night import Timeline
from service.sim.render import NightSource, check_range, check_rate


SCENARIOS = ("quiet", "rollover", "twitch", "plm", "fidget", "walk", "bump", "cramp", "mild_cramp")


def scenario_timeline(kind: str, seed: int = 0, mount_rotation: np.ndarray | None = None, *,
                      lead_s: float = 60.0, tail_s: float = 60.0, duration_s: float | None = None) -> Timeline:
    """The timeline of a single-scenario clip (see :func:`scenario`); its events carry their details."""
    if kind not in SCENARIOS:
        raise ConfigError(f"unknown scenario {kind!r}: choose one of {', '.join(SCENARIOS)}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x5C, SCENARIOS.index(kind)])
    name, p, r = lying_posture(rng)
    b = EventBuilder(rng, p, r, name)
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
        sustained, release = cramp_durations(rng, mild)
        if duration_s is not None:
            if not (15.0 <= duration_s <= 600.0):
                raise ConfigError(f"cramp duration must be 15-600 s, got {duration_s}")
            release = min(release, duration_s - 1.0 - 10.0)
            sustained = duration_s - 1.0 - release
        events = [b.cramp(a, sustained, release, mild)]
    end = max([a] + [e.end for e in events]) + float(tail_s)
    return Timeline(hours=end / 3600.0, seed=int(seed), sleeper="scenario", events=events,
                    keys=b.keyframes(),
                    mount=random_rotation(rng) if mount_rotation is None else np.asarray(mount_rotation, float),
                    temp_grid_c=np.full(int(end / 60) + 2, 20.0), background=body_background(rng))


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
    quantised and clipped as the chip does it (firmware/chipdata.py) at ``range_g``; ``jitter`` adds
    timestamp jitter as in recordings.
    """
    rate_hz = check_rate(rate_hz)
    chip = chip_data(sensor)
    range_g = check_range(chip, range_g)
    tl = scenario_timeline(kind, seed, mount_rotation, lead_s=lead_s, tail_s=tail_s, duration_s=duration_s)
    src = NightSource(tl, chip, noise=noise)
    n = int(tl.hours * 3600.0 * rate_hz)
    accel = chip.quantise(src(0.0, n, rate_hz), range_g)
    t = np.arange(n) / rate_hz
    if jitter:
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x7A])
        t = t + np.clip(rng.normal(0.0, min(0.0015, 0.1 / rate_hz), n), -0.3 / rate_hz, 0.3 / rate_hz)
        t = np.maximum(t, 0.0)
    return t, accel, tl.episodes