"""What the night record gives back: episodes, movement minutes, unrecorded spans and one night's record.

These are plain frozen values, built by :meth:`service.night.store.NightStore.night`
from its rows; the morning log, the history and the charts read only these,
never SQLite.  Times are aware datetimes in UTC, durations in seconds.
:func:`summarize_detail` is the pure aggregate of a night's per-minute rows
(kept in the store's ``night_summaries`` once retention deletes the detail).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

RESTLESS_MINUTE_FRACTION = 0.25  # a minute with >= 15 s of movement counts as restless
STILL_MINUTE_FRACTION = 0.1  # a minute with < 6 s of movement counts as resting


@dataclass(frozen=True)
class Episode:
    id: str
    leg: str
    night: date
    onset: datetime  # UTC
    alert: datetime
    end: datetime | None
    duration_s: float
    intensity: float | None
    peak_intensity: float | None
    room_temp_c: float | None
    prompts: tuple[str, ...]
    acknowledged: datetime | None
    ack_after_s: float | None
    false_alarm: bool
    snoozed: bool
    interrupted: bool


@dataclass(frozen=True)
class Minute:
    start: datetime
    leg: str
    activity_mg: float
    moving_fraction: float
    posture_changes: int
    seconds_covered: int


@dataclass(frozen=True)
class Span:
    """A sensor fault, a sample gap or a time the service was not running; or (in
    :attr:`NightRecord.unsettled` / :attr:`NightRecord.unalerted`) a span of the settled state."""

    kind: str  # "fault", "gap" or "service"; "unsettled" or "unalerted"
    leg: str | None
    start: datetime
    end: datetime | None  # None: still open
    reason: str

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else max(0.0, (self.end - self.start).total_seconds())


@dataclass(frozen=True)
class NightRecord:
    """Everything recorded for one night window."""

    night: date
    start: datetime  # window bounds, UTC
    end: datetime
    episodes: list[Episode]
    minutes: list[Minute]
    temperatures: list[tuple[datetime, float]]
    spans: list[Span]
    covered_until: datetime | None  # latest thing recorded in the window (None: nothing)
    summary: dict[str, Any] | None = None  # night_summaries row, when the detail is gone
    sessions: int = 0
    # The settled state (events settled/unsettled/unalerted_movement), oldest first: spans while no alert was
    # possible (reason start, walking, handling; end None: still unsettled at the last record) and cramp-like
    # movements in them that raised no alert (reason "").  ``settle_known``: the record holds any such event
    # (records written before they existed have none).
    unsettled: list[Span] = field(default_factory=list)
    unalerted: list[Span] = field(default_factory=list)
    settle_known: bool = False

    @property
    def has_data(self) -> bool:
        return bool(self.episodes or self.minutes or self.temperatures or self.summary or self.sessions)


def summarize_detail(record: NightRecord) -> dict[str, Any]:
    """Aggregates of a night's per-minute rows (kept in ``night_summaries`` when the detail is deleted)."""
    temps = [v for _, v in record.temperatures]
    minutes = record.minutes
    by_minute: dict[datetime, list] = {}
    for m in minutes:
        by_minute.setdefault(m.start, []).append(m)
    # A minute is restless if any leg was; resting if every leg was still.
    restless = sum(1 for ms in by_minute.values() if max(m.moving_fraction for m in ms) >= RESTLESS_MINUTE_FRACTION)
    resting = sum(1 for ms in by_minute.values() if max(m.moving_fraction for m in ms) < STILL_MINUTE_FRACTION)
    n = len(by_minute)
    return {
        "temp_min": min(temps) if temps else None,
        "temp_mean": statistics.fmean(temps) if temps else None,
        "temp_max": max(temps) if temps else None,
        "activity_mean_mg": statistics.fmean(m.activity_mg for m in minutes) if minutes else None,
        "moving_fraction": statistics.fmean(m.moving_fraction for m in minutes) if minutes else None,
        "posture_changes": sum(m.posture_changes for m in minutes) if minutes else None,
        "minutes_covered": n,
        "restless_fraction": restless / n if n else None,
        "rest_hours": resting / 60.0 if n else None,
    }
