"""When the core's time-driven work is due: night-window boundaries, retention, store flushes, retained state.

The core asks on every batch and every periodic pass; the answer is one
comparison most of the time.  Times are monotonic seconds of the service's
clock; the night window is in wall time, so its next boundary is converted to
monotonic time once and computed afresh after a wall-clock jump (NTP after
boot).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from service.pipeline.nightwindow import NightWindow
from service.pipeline.timebase import TimeBase

STATE_EVERY_S = 60.0  # republish the retained state at least this often (monotonic seconds)
RECHECK_S = 3600.0  # look at the window at least hourly: retention runs daily, DST is honoured


@dataclass(frozen=True)
class Boundary:
    """The night window at a monotonic time, computed when a boundary (or a day, or a clock jump) was crossed.

    ``inside``: the time is inside the night window; ``night``: the night it
    belongs to (when inside); ``retention``: the wall date retention is due
    for (once a day), else None.
    """

    inside: bool
    night: date | None
    retention: date | None


class Schedule:
    """The next night-window boundary, the last retention day, the last flush and the last state publish."""

    def __init__(self, window: NightWindow, timebase: TimeBase, flush_interval_s: float, now: float):
        self.window = window
        self.timebase = timebase
        self.flush_interval_s = flush_interval_s
        self._next_boundary: float | None = None
        self._jumps_seen = 0
        self._last_retention: date | None = None
        self._last_flush = now
        self._last_state_at = -float("inf")

    def boundary(self, t: float) -> Boundary | None:
        """Where monotonic ``t`` is, when a boundary may have been crossed since the last look; else None."""
        jumps = len(self.timebase.jumps)
        if self._next_boundary is not None and t < self._next_boundary and jumps == self._jumps_seen:
            return None
        self._jumps_seen = jumps
        wall = self.timebase.wall_at(t)
        inside = self.window.contains(wall)
        nxt = self.window.next_end(wall) if inside else self.window.next_start(wall)
        self._next_boundary = min(t + (nxt - wall).total_seconds(), t + RECHECK_S)
        retention = None
        if self._last_retention != wall.date():
            self._last_retention = retention = wall.date()
        return Boundary(inside, self.window.night_of(wall) if inside else None, retention)

    def flush_due(self, now: float) -> bool:
        """Whether the store's batched rows are due to be written (every ``flush_interval_s``)."""
        if now - self._last_flush < self.flush_interval_s:
            return False
        self._last_flush = now
        return True

    def state_due(self, now: float, changed: bool) -> bool:
        """Whether to publish the retained state: it changed, or STATE_EVERY_S passed; counts as published."""
        if not changed and now - self._last_state_at < STATE_EVERY_S:
            return False
        self._last_state_at = now
        return True
