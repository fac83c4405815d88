"""What the emulated accelerometers share: a register file that samples a source as a clock runs.

A chip produces samples at its configured output data rate (times its own
oscillator error) whenever the bus touches it, from the injected
:class:`~firmware.clock.Clock`; nothing runs in the background.  Samples come
from a *sample source* ``source(t0, n, rate_hz) -> ndarray(n, 3)`` in g (true
acceleration including gravity and physical noise, at times t0, t0 + 1/rate,
...); the chip quantises and clips them to its range and resolution
(:func:`firmware.chipdata.quantise`, the same rounding the simulator's
recordings use).
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from typing import Callable, ClassVar

import numpy as np

from firmware.chipdata import ChipData, enbw_hz
from firmware.clock import Clock
from firmware.emulated.bus import RegisterFile

Source = Callable[[float, int, float], np.ndarray]

MAX_SOURCE_CHUNK = 4096  # samples per source call when catching up a long stretch


def gravity_source(noise: ChipData | float, gravity_g=(0.0, 0.0, 1.0), seed: int = 0) -> Source:
    """A still sensor: constant gravity plus white noise.

    ``noise`` is a chip's data (its datasheet noise at each output data rate)
    or a noise density in g/sqrt(Hz) on every axis, integrated over the chips'
    equivalent noise bandwidth (:func:`firmware.chipdata.enbw_hz`).
    """
    rng = np.random.default_rng(seed)
    g = np.asarray(gravity_g, dtype=float)

    def sigma(rate_hz: float) -> np.ndarray:
        if isinstance(noise, ChipData):
            return noise.noise_std_g(rate_hz)
        return np.full(3, float(noise) * math.sqrt(enbw_hz(rate_hz)))

    def source(t0: float, n: int, rate_hz: float) -> np.ndarray:
        return g + rng.normal(size=(n, 3)) * sigma(rate_hz)

    return source


def constant_source(accel_g=(0.0, 0.0, 1.0)) -> Source:
    """A source with no noise at all: what a stuck or dead sensor looks like (real ones are never this quiet)."""
    g = np.asarray(accel_g, dtype=float)

    def source(t0: float, n: int, rate_hz: float) -> np.ndarray:
        return np.tile(g, (n, 1))

    return source


class EmulatedAccelChip(RegisterFile, ABC):
    """Base: lazily produced samples, power-on reset, counters for benchmarks.

    Subclasses define ``CHIP_DATA`` (the datasheet facts, :mod:`firmware.chipdata`), :meth:`_defaults`,
    :meth:`output_rate_hz` (None when not measuring) and :meth:`_store`
    (quantise a block of samples in g and put it in the FIFO/output registers).

    ``odr_error`` is the chip's oscillator error as a fraction (+0.01: samples
    come 1 % faster than nominal), as real chips have.
    """

    CHIP_DATA: ClassVar[ChipData]

    def __init__(self, clock: Clock, source: Source | None = None, *, odr_error: float = 0.0, seed: int = 0):
        super().__init__(size=256, auto_increment=True)
        self.clock = clock
        self.source = source or gravity_source(self.CHIP_DATA, seed=seed)
        self.odr_error = odr_error
        self.lock = threading.RLock()
        self.samples_produced = 0  # every sample the chip converted while measuring
        self.samples_lost = 0  # overwritten or refused by a full FIFO, or cleared by a FIFO/chip reset
        self.resets = 0
        self._rate: float | None = None
        self._epoch = 0.0
        self._k = 0
        self._reset_registers()

    # ------------------------------------------------------------ power

    def power_on_reset(self) -> None:
        """A brown-out: every register back to its power-on value, the FIFO emptied."""
        with self.lock:
            self.resets += 1
            self._reset_registers()

    def _reset_registers(self) -> None:
        self.regs[:] = bytes(len(self.regs))
        self.pointer = 0
        self.samples_lost += self.fifo_level()
        self._clear_fifo()
        self._defaults()
        self._rate = None

    # ------------------------------------------------------------ time

    def catch_up(self) -> None:
        """Produce every sample due by ``clock.monotonic()`` at the configured rate."""
        now = self.clock.monotonic()
        rate = self.output_rate_hz()
        if self._rate_changed(now) or rate is None:
            return
        true_rate = rate * (1.0 + self.odr_error)
        due = int(math.floor((now - self._epoch) * true_rate + 1e-9))
        while due > self._k:
            n = min(due - self._k, MAX_SOURCE_CHUNK)
            t0 = self._epoch + (self._k + 1) / true_rate
            accel = np.asarray(self.source(t0, n, true_rate), dtype=float).reshape(n, 3)
            self._k += n
            self.samples_produced += n
            self._store(accel)

    def _rate_changed(self, now: float) -> bool:
        """Started, stopped or re-rated: sampling restarts from ``now``."""
        rate = self.output_rate_hz()
        if rate == self._rate:
            return False
        self._rate = rate
        self._epoch = now
        self._k = 0
        return True

    # ------------------------------------------------------------ wire

    def write(self, data: bytes) -> None:
        with self.lock:
            self.catch_up()
            super().write(data)
            self._rate_changed(self.clock.monotonic())

    def read(self, n: int) -> bytes:
        with self.lock:
            self.catch_up()
            return super().read(n)

    # ------------------------------------------------------------ for subclasses

    @abstractmethod
    def _defaults(self) -> None:
        ...

    @abstractmethod
    def output_rate_hz(self) -> float | None:
        ...

    @abstractmethod
    def _store(self, accel_g: np.ndarray) -> None:
        ...

    @abstractmethod
    def fifo_level(self) -> int:
        """Samples waiting in the FIFO."""
        ...

    @abstractmethod
    def _clear_fifo(self) -> None:
        ...


def push_samples(fifo, rows: np.ndarray, capacity: int, stop_when_full: bool) -> int:
    """Put sample rows in a FIFO of ``capacity``; return how many samples were lost.

    ``stop_when_full`` (FIFO mode): new samples are refused once full; otherwise
    (stream mode) the oldest are overwritten.
    """
    if stop_when_full:
        room = max(0, capacity - len(fifo))
        fifo.extend(rows[:room])
        return len(rows) - min(room, len(rows))
    lost = max(0, len(fifo) + len(rows) - capacity)
    keep = rows[-capacity:]
    fifo.extend(keep)
    while len(fifo) > capacity:
        fifo.popleft()
    return lost
