"""``nightcramp simulate``: a simulated night written as a recording with its labels, or built in memory.

:func:`prepare_night` checks the options and builds the night
(:func:`~service.sim.night.make_night` + :class:`~service.sim.render.SimulatedNight`);
:func:`write_simulated_night` streams it to a file a chunk at a time;
:func:`simulate_night` gives the same samples in memory.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from firmware.chipdata import chip_data
from firmware.errors import ConfigError, NightcrampError
from service.night.formatting import plural
from service.recording.format import Recording, RecordingWriter, labels_path, write_labels
from service.sim.night import make_night, sleeper_type
from service.sim.render import SimulatedNight, check_range, check_rate


def prepare_night(hours: float = 8.0, cramps: int = 2, seed: int = 0, rate_hz: float = 50.0,
                  sensor: str = "mpu6050", sleeper: str = "normal", range_g: int | None = None, *,
                  jitter: bool = True, gaps: bool = True, start_temp_c: float = 20.0,
                  mild_fraction: float = 0.3, gap_rate_scale: float = 1.0,
                  lookalikes: bool = False) -> SimulatedNight:
    """Validate the options and build the night (timeline + sampling plan), without rendering it."""
    rate_hz = check_rate(rate_hz)
    chip = chip_data(sensor)
    if range_g is None:  # a seeded choice, so a corpus covers every range
        range_g = int(np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x8A]).choice([2, 4, 4, 8]))
    range_g = check_range(chip, range_g)
    tl = make_night(hours, cramps, seed, sleeper, start_temp_c=start_temp_c, mild_fraction=mild_fraction,
                    lookalikes=lookalikes)
    return SimulatedNight(tl, chip, rate_hz, range_g, jitter=jitter, gaps=gaps, gap_rate_scale=gap_rate_scale)


def simulate_night(hours: float = 8.0, cramps: int = 2, seed: int = 0, rate_hz: float = 50.0,
                   sensor: str = "mpu6050", sleeper: str = "normal", range_g: int | None = None,
                   start_wall: datetime | None = None, **kwargs):
    """Render a whole night in memory: returns (Recording, Labels) as read_recording/read_labels would.

    Values are rounded as the recording format stores them (t to 0.1 ms, g to
    10 ug), so a written and re-read night is identical.  ``kwargs`` go to
    :func:`prepare_night` (jitter, gaps, start_temp_c, mild_fraction, gap_rate_scale,
    lookalikes).
    """
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
    rate = check_rate(args.rate)
    chip_data(args.sensor)
    sleeper_type(args.sleeper)
    out = Path(args.output)
    if not out.parent.is_dir():
        raise ConfigError(f"cannot write {out}: directory {out.parent} does not exist")
    if out.is_dir():
        raise ConfigError(f"cannot write {out}: it is a directory; give a file name such as {out / 'night.csv.gz'}")
    try:
        labels, lpath = write_simulated_night(out, hours=args.hours, cramps=args.cramps, seed=args.seed,
                                              rate_hz=rate, sensor=args.sensor, sleeper=args.sleeper,
                                              lookalikes=bool(getattr(args, "lookalikes", False)))
    except OSError as exc:
        raise NightcrampError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {out} ({labels.hours:g} h, {args.sensor} at {rate:g} Hz, {args.sleeper} sleeper, "
          f"{plural(len(labels.episodes), 'cramp')}) and {lpath}")
    return 0
