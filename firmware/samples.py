"""What the hardware layer hands upwards: batches of samples, gaps, readings.

Times are seconds on the monotonic clock of the :class:`firmware.clock.Clock`
that timestamped them (``t_mono``); wall time is only ever a label added later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class AccelBatch:
    """Consecutive accelerometer samples from one leg's FIFO drain.

    ``t_mono`` has shape (n,) in seconds, ``accel_g`` shape (n, 3) in g in the
    sensor frame.  Samples are in FIFO order and timestamped from the data rate.
    """

    leg: str
    t_mono: np.ndarray
    accel_g: np.ndarray

    def __len__(self) -> int:
        return int(self.t_mono.shape[0])


@dataclass(frozen=True)
class Gap:
    """A span with no samples (FIFO overflow, bus errors, chip reset), never stitched over."""

    leg: str
    t_start: float
    t_end: float
    reason: str

    @property
    def duration_s(self) -> float:
        return self.t_end - self.t_start


@dataclass(frozen=True)
class TempReading:
    """One room-temperature reading in degrees Celsius."""

    t_mono: float
    temp_c: float
    sensor: str = ""
    humidity_pct: float | None = None


@dataclass(frozen=True)
class SensorStatus:
    """A change of a sensor's health: ``ok`` False means the ``sensor_fault`` state."""

    leg: str
    t_mono: float
    ok: bool
    reason: str = ""
    details: dict = field(default_factory=dict)
