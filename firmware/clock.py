"""Clocks: the real one, and a simulated one that can run faster than real time.

Durations always come from ``monotonic()``; ``wall()`` is only a label, and may
jump (a Pi without a real-time clock syncs its time after boot).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    """What every time-aware part of nightcramp takes."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps."""

    def wall(self) -> datetime:
        """The current wall-clock time, timezone-aware (UTC)."""

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of this clock's time."""


class SystemClock:
    """The machine's clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class SimClock:
    """Simulated time running ``speed`` times faster than real time.

    ``monotonic()`` starts at ``t0`` and ``wall()`` at ``wall_start``; both
    advance ``speed`` seconds per real second.  ``jump_wall(dt)`` moves only the
    wall clock, as an NTP sync after boot does.
    """

    def __init__(self, wall_start: datetime, speed: float = 1.0, t0: float = 0.0):
        if wall_start.tzinfo is None:
            raise ValueError("wall_start must be timezone-aware")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = float(speed)
        self._t0 = float(t0)
        self._wall_start = wall_start
        self._wall_offset = 0.0
        self._real0 = time.monotonic()
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self._t0 + (time.monotonic() - self._real0) * self.speed

    def wall(self) -> datetime:
        from datetime import timedelta

        with self._lock:
            offset = self._wall_offset
        return self._wall_start + timedelta(seconds=self.monotonic() - self._t0 + offset)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)

    def jump_wall(self, seconds: float) -> None:
        """Step the wall clock by ``seconds`` (positive or negative); monotonic is untouched."""
        with self._lock:
            self._wall_offset += seconds


class ManualClock:
    """A clock that only moves when told to: ``sleep(s)`` and ``advance(s)`` step it at once.

    For tests and benchmarks that must be deterministic on a loaded machine:
    one thread steps simulated time, so nothing depends on the scheduler.
    """

    def __init__(self, wall_start: datetime | None = None, t0: float = 0.0):
        self._t = float(t0)
        self._t0 = float(t0)
        self._wall_start = wall_start or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._wall_offset = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._t

    def wall(self) -> datetime:
        from datetime import timedelta

        with self._lock:
            offset = self._wall_offset
        return self._wall_start + timedelta(seconds=self.monotonic() - self._t0 + offset)

    def jump_wall(self, seconds: float) -> None:
        """Step the wall clock by ``seconds`` (positive or negative); monotonic is untouched."""
        with self._lock:
            self._wall_offset += seconds

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go backwards")
        with self._lock:
            self._t += seconds

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)
