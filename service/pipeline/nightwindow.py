"""The night window: when detection runs and which night an instant belongs to.

The window is given in local wall time (``22:00`` to ``07:30``) in a time zone,
and may or may not cross midnight.  Its real length changes on daylight-saving
nights (a 22:00-07:30 window lasts 8 h 30 when the clocks spring forward and
10 h 30 when they fall back), so every bound is computed from the zone's rules,
never by adding a fixed length.

One rule settles the awkward local times: **the window holds exactly the
instants whose local clock reading lies in [start, end)**.  Hence

* a bound that does not exist (it falls in the spring-forward gap, e.g. 02:30
  on 2026-03-29 in Europe/Berlin) is the moment the clocks jump (03:00 CEST):
  the first instant whose reading is at or after it;
* a start that occurs twice (the fall-back hour, e.g. 02:30 on 2026-10-25) is
  its first occurrence, and such an end its second, so the window covers the
  repeated hour in full (a cramp in it must not fall outside the night).

A night is named by the local date on which its window starts
(:meth:`NightWindow.night_of`); an instant between two windows belongs to the
night that started last, so "last night" at 09:00 is the one that began the
evening before.

Every datetime returned is timezone-aware **in UTC**: Python compares and
subtracts two datetimes that share a tzinfo by their wall reading, which is
wrong across a DST change; UTC values subtract to real elapsed time.  Show them
with ``dt.astimezone(window.tz)``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo

_UTC = timezone.utc


class NightWindow:
    """A daily window ``[start, end)`` of local wall time in zone ``tz``.

    ``start`` and ``end`` are naive :class:`datetime.time` values and must
    differ; ``end <= start`` means the window crosses midnight.
    """

    def __init__(self, start: time, end: time, tz: tzinfo):
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError("start and end are local wall times and must be naive")
        if start == end:
            raise ValueError("night window start and end must differ")
        self.start = start
        self.end = end
        self.tz = tz
        self.crosses_midnight = end < start

    @classmethod
    def from_config(cls, night) -> "NightWindow":
        """Build from a :class:`service.config.NightConfig`."""
        return cls(night.start, night.end, night.tzinfo())

    def __repr__(self) -> str:
        return f"NightWindow({self.start:%H:%M}-{self.end:%H:%M} {self.tz})"

    # ------------------------------------------------------------ bounds

    def bounds(self, night_date: date) -> tuple[datetime, datetime]:
        """The (start, end) instants of the night that starts on ``night_date``, in UTC."""
        end_date = night_date + timedelta(days=1) if self.crosses_midnight else night_date
        return self._instant(night_date, self.start, first=True), self._instant(end_date, self.end, first=False)

    def duration(self, night_date: date) -> timedelta:
        """Real length of that night's window (8 h 30 or 10 h 30 on DST nights for 22:00-07:30)."""
        start, end = self.bounds(night_date)
        return end - start

    def night_of(self, when: datetime) -> date:
        """The night ``when`` belongs to: the start date of the latest window starting at or before it."""
        when = _utc(when)
        day = when.astimezone(self.tz).date()
        # The window starting on the local date of `when` may start later that day.
        for candidate in (day, day - timedelta(days=1), day - timedelta(days=2)):
            if self.bounds(candidate)[0] <= when:
                return candidate
        raise AssertionError("unreachable: a window starts every local day")  # pragma: no cover

    def contains(self, when: datetime) -> bool:
        """True when ``when`` (aware) lies inside a night window."""
        when = _utc(when)
        start, end = self.bounds(self.night_of(when))
        return start <= when < end

    def next_start(self, when: datetime) -> datetime:
        """The first window start strictly after ``when`` (UTC)."""
        return self._next(when, 0)

    def next_end(self, when: datetime) -> datetime:
        """The first window end strictly after ``when`` (UTC): the current window's end if inside one."""
        return self._next(when, 1)

    # ------------------------------------------------------------ helpers

    def _next(self, when: datetime, which: int) -> datetime:
        when = _utc(when)
        day = when.astimezone(self.tz).date() - timedelta(days=1)
        for offset in range(4):
            bound = self.bounds(day + timedelta(days=offset))[which]
            if bound > when:
                return bound
        raise AssertionError("unreachable: a window starts and ends every local day")  # pragma: no cover

    def _instant(self, day: date, wall: time, first: bool) -> datetime:
        """The UTC instant at which the local clock reads ``wall`` on ``day`` (see module doc)."""
        naive = datetime.combine(day, wall)
        early = naive.replace(tzinfo=self.tz, fold=0).astimezone(_UTC)
        late = naive.replace(tzinfo=self.tz, fold=1).astimezone(_UTC)
        if _reads(early, self.tz) == naive or _reads(late, self.tz) == naive:
            # Exists, possibly twice (fall back): fold=0 and fold=1 give the two occurrences.
            hits = [u for u in (early, late) if _reads(u, self.tz) == naive]
            return min(hits) if first else max(hits)
        return self._gap_end(min(early, late), max(early, late))

    def _gap_end(self, lo: datetime, hi: datetime) -> datetime:
        """The instant the clocks jump, found between ``lo`` (before it) and ``hi`` (after it).

        Zone transitions fall on whole seconds, so a bisection over integer
        POSIX seconds finds it exactly.
        """
        before = lo.astimezone(self.tz).utcoffset()
        lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp()) + 1
        while hi_s - lo_s > 1:
            mid = (lo_s + hi_s) // 2
            if datetime.fromtimestamp(mid, _UTC).astimezone(self.tz).utcoffset() == before:
                lo_s = mid
            else:
                hi_s = mid
        return datetime.fromtimestamp(hi_s, _UTC)


def _reads(instant: datetime, tz: tzinfo) -> datetime:
    """What a local clock in ``tz`` shows at ``instant``, as a naive datetime."""
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"need a timezone-aware datetime, got {when!r}")
    return when.astimezone(_UTC)
