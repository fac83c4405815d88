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

# --------------------------------------------------------------------------- real-recording look-alikes

def lookalike_timeline(kind: str, seed: int = 0, mount_rotation: np.ndarray | None = None, *,
                       minutes: float | None = None, lead_s: float | None = None, tail_s: float = 60.0) -> Timeline:
    """A short night of ONE look-alike class of :data:`service.sim.lookalikes.LOOKALIKE_CLASSES`.

    ``handling`` and ``settling`` start right after the start of the clip (as they do at the start of
    a night: ``lead_s`` 0 by default), the others after ``lead_s`` = 60 s of quiet lying.  ``minutes``
    sets the length of a settling or restless period (default 5) or the walking time of a get-up
    (default 0.5-2 min; resettling afterwards 1-3 min); others draw their length from the calibrated
    distributions.  The clip ends ``tail_s`` after the event.
    """
    from service.sim import lookalikes as lk

    if kind not in lk.LOOKALIKE_CLASSES:
        raise ConfigError(f"unknown look-alike class {kind!r}: choose one of {', '.join(lk.LOOKALIKE_CLASSES)}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x1A, lk.LOOKALIKE_CLASSES.index(kind)])
    name, p, r = lying_posture(rng)
    b = EventBuilder(rng, p, r, name)
    mount = random_rotation(rng) if mount_rotation is None else np.asarray(mount_rotation, float)
    if lead_s is None:
        lead_s = 0.5 if kind in ("handling", "settling") else 60.0
    a = float(lead_s)
    if kind == "handling":
        ev = lk.handling(b, rng, a, mount)
    elif kind == "adjust":
        ev = lk.handling(b, rng, a, mount, float(rng.uniform(*lk.ADJUST_DUR_S)), kind="adjust",
                         flip=bool(rng.random() < 0.5))
    elif kind in ("settling", "restless"):
        ev = lk.settling(b, rng, a, 60.0 * (minutes or 5.0), kind=kind,
                         decay=lk.SETTLE_DECAY if kind == "settling" else 0.0)
    elif kind == "sit_edge":
        ev = lk.sit_edge(b, rng, a)
    elif kind == "getup":
        ev = lk.getup(b, rng, a, 60.0 * minutes if minutes else float(rng.uniform(30.0, 120.0)),
                      float(rng.uniform(60.0, 180.0)))
    else:
        ev = lk.arousal(b, rng, a)
    end = ev.end + float(tail_s)
    return Timeline(hours=end / 3600.0, seed=int(seed), sleeper="lookalike", events=[ev], keys=b.keyframes(),
                    mount=mount, temp_grid_c=np.full(int(end / 60) + 2, 20.0), background=body_background(rng))


def lookalike_night(kind: str, seed: int = 0, rate_hz: float = 50.0, sensor: str = "mpu6050",
                    range_g: int | None = 4, *, minutes: float | None = None, jitter: bool = True,
                    gaps: bool = True, mount_rotation: np.ndarray | None = None, lead_s: float | None = None,
                    tail_s: float = 60.0):
    """A short recording (a few minutes) of ONE look-alike class: returns (Recording, Labels).

    Sampled as a recording is (:class:`~service.sim.render.SimulatedNight`: the chip's noise, output
    step and range, the oscillator's rate error, timestamp jitter, lost samples), no cramp in it:
    ``labels.episodes`` is empty and ``labels.extra["lookalikes"]`` describes the event.  Feed
    ``rec`` to :func:`service.recording.replay.replay_recording` (what ``nightcramp replay`` runs):
    every ``cramp_start`` is a false alarm.
    """
    from service.recording.format import Recording
    from service.sim.render import SimulatedNight

    rate_hz = check_rate(rate_hz)
    chip = chip_data(sensor)
    if range_g is None:
        range_g = int(np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x8A]).choice([2, 4, 4, 8]))
    range_g = check_range(chip, range_g)
    tl = lookalike_timeline(kind, seed, mount_rotation, minutes=minutes, lead_s=lead_s, tail_s=tail_s)
    night = SimulatedNight(tl, chip, rate_hz, range_g, jitter=jitter, gaps=gaps)
    parts = list(night.chunks())
    t = np.round(np.concatenate([p[0] for p in parts]), 4)
    accel = np.round(np.concatenate([p[1] for p in parts]), 5)
    rec = Recording(t=t, accel=accel, temp_t=np.empty(0), temp_c=np.empty(0), start_wall=None,
                    comments=night.header_comments(), has_temp_column=False)
    return rec, night.labels()
