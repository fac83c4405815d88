"""Wall-clock labels for times on the monotonic sample clock, robust to clock jumps.

Every duration in nightcramp is a difference of monotonic times; the wall clock
only labels them.  A Raspberry Pi has no real-time clock: it boots with the
time it saved at shutdown (fake-hwclock) or 1970, and NTP later steps the clock
by minutes, hours or years.  :class:`TimeBase` keeps one anchor (a monotonic
time and the wall time it corresponds to) and extrapolates from it with the
monotonic clock, so labels advance exactly as real time does.  Whenever it
looks at the clock and finds the wall time more than ``jump_threshold_s`` away
from the extrapolation, it logs the jump with its size, re-anchors on the new
wall time (the stepped clock is presumed right: NTP set it), and tells its
listeners so stored labels can be corrected (:meth:`service.night.store.NightStore.relabel_wall`).

Smaller differences (NTP slewing, a few ms) are absorbed by re-anchoring
silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Callable

from firmware.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_JUMP_THRESHOLD_S = 2.0


@dataclass(frozen=True)
class ClockJump:
    """The wall clock moved by ``seconds`` (positive: forward) at monotonic time ``t_mono``."""

    t_mono: float
    seconds: float
    before: datetime  # wall time the old anchor predicted (UTC)
    after: datetime  # wall time the clock now shows (UTC)


class TimeBase:
    """Maps monotonic times (seconds, :meth:`Clock.monotonic`) to aware wall times in ``tz``.

    Not thread-safe, and needs not be: in the service only the core thread stamps times.
    """

    def __init__(self, clock: Clock, tz: tzinfo, jump_threshold_s: float = DEFAULT_JUMP_THRESHOLD_S):
        if jump_threshold_s <= 0:
            raise ValueError("jump_threshold_s must be positive")
        self.clock = clock
        self.tz = tz
        self.jump_threshold_s = float(jump_threshold_s)
        self.jumps: list[ClockJump] = []
        self._listeners: list[Callable[[ClockJump], None]] = []
        self._anchor_mono, self._anchor_wall = self._read()

    def _read(self) -> tuple[float, datetime]:
        """A (monotonic, wall) pair read as close together as the scheduler allows.

        A process preempted between the two reads would otherwise look like a
        clock jump (a simulated clock at 600x turns 10 ms into 6 s): bracket the
        wall read with two monotonic reads and keep the tightest of a few tries.
        """
        best = None
        for _ in range(5):
            m1 = self.clock.monotonic()
            wall = self.clock.wall().astimezone(timezone.utc)
            m2 = self.clock.monotonic()
            if best is None or m2 - m1 < best[0]:
                best = (m2 - m1, (m1 + m2) / 2, wall)
            if m2 - m1 <= self.jump_threshold_s / 10:
                break
        return best[1], best[2]

    def on_jump(self, listener: Callable[[ClockJump], None]) -> None:
        """Call ``listener(jump)`` after every detected jump (from the thread that noticed it)."""
        self._listeners.append(listener)

    def check(self) -> ClockJump | None:
        """Compare the wall clock with the anchor now; re-anchor, and report a jump if there was one."""
        mono, wall = self._read()
        predicted = self._anchor_wall + timedelta(seconds=mono - self._anchor_mono)
        delta = (wall - predicted).total_seconds()
        self._anchor_mono, self._anchor_wall = mono, wall
        if abs(delta) <= self.jump_threshold_s:
            return None
        jump = ClockJump(mono, delta, predicted, wall)
        self.jumps.append(jump)
        log.warning(
            "wall clock jumped %s by %.1f s (%s -> %s); durations are unaffected, labels follow the new time",
            "forward" if delta > 0 else "backward", abs(delta),
            predicted.isoformat(timespec="seconds"), wall.isoformat(timespec="seconds"),
        )
        for listener in self._listeners:
            try:
                listener(jump)
            except Exception:  # a listener's bug must not stop time-stamping
                log.exception("clock-jump listener %r failed", listener)
        return jump

    def wall_at(self, t_mono: float) -> datetime:
        """The wall time (aware, in ``tz``) of monotonic time ``t_mono``, after checking for a jump."""
        self.check()
        wall = self._anchor_wall + timedelta(seconds=t_mono - self._anchor_mono)
        return wall.astimezone(self.tz)

    def iso(self, t_mono: float) -> str:
        """ISO 8601 with the zone's offset, to the millisecond (``2026-11-24T23:41:07.250+01:00``)."""
        return self.wall_at(t_mono).isoformat(timespec="milliseconds")

    def now(self) -> tuple[float, datetime]:
        """The current monotonic time and its wall label (aware, in ``tz``)."""
        mono = self.clock.monotonic()
        return mono, self.wall_at(mono)


def duration_s(t_start_mono: float, t_end_mono: float) -> float:
    """Elapsed seconds between two monotonic times; never negative (out-of-order input gives 0)."""
    return max(0.0, float(t_end_mono) - float(t_start_mono))
