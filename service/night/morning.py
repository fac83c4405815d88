"""The morning log of one night: what it holds and how it reads.

:func:`morning_log` turns a :class:`~service.night.models.NightRecord` into a
:class:`MorningLog`: the episodes in local time, total time in cramp, time to
acknowledge, movement per hour, restlessness, the room temperature, every
span without a record (sensor faults, sample gaps, the service not running),
and a short plain-language summary with the hints of docs/signals.md where
they fit (:mod:`service.night.advice`).  It renders as JSON
(:meth:`MorningLog.to_dict`, published on ``<base>/log/latest``), text and
Markdown.  Pure: reading the store and writing the files is
:mod:`service.night.outputs`.

The thresholds below are this project's reading of a leg-worn accelerometer,
not clinical scores; the log says so.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Iterable

from service.night.advice import summary_and_hints
from service.night.formatting import duration, hm, iso, plural, round_or_none, wrap
from service.night.models import Episode, NightRecord, Span, summarize_detail

NEAREST_TEMP_S = 600.0  # a reading this close to an episode stands for the room at that time
EDGE_SLACK_S = 120.0
"""Seconds at the start or end of the window without a record that are not called unrecorded.

A minute row is written when its minute is over and names the minute's
start, and the summariser's minutes are not aligned to the window: a service
that ran all night leaves up to about a minute without a row at either edge.
"""
UNRECORDED_EDGE = "nothing recorded (service not running: stopped, crashed or lost power)"


# ---------------------------------------------------------------- the log


@dataclass(frozen=True)
class HourActivity:
    start: datetime  # local, aware
    activity_mg: float
    moving_fraction: float
    posture_changes: int
    minutes: int


@dataclass
class MorningLog:
    """One night, ready to render.  Times are aware datetimes in ``tz``; durations in seconds."""

    night: date
    tz: tzinfo
    window_start: datetime
    window_end: datetime
    in_progress: bool
    episodes: list[Episode]
    false_alarms: list[Episode]
    hours: list[HourActivity]
    minutes: list  # models.Minute rows, for the chart
    temperatures: list[tuple[datetime, float]]
    spans: list[Span]
    episode_temps: dict[str, float | None]
    restless_fraction: float | None
    rest_hours: float | None
    posture_changes: int
    summary: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    stored: dict[str, Any] | None = None  # the night's summary row, once retention removed the per-minute detail
    learning: list[str] = field(default_factory=list)  # labels and tuning (service.learning.summary)
    # the settled state (docs/detection.md): spans with no alert possible, cramp-like movements in them
    unsettled: list[Span] = field(default_factory=list)
    unalerted: list[Span] = field(default_factory=list)
    settle_known: bool = False

    # ------------------------------------------------------------ derived numbers

    @property
    def total_cramp_s(self) -> float:
        return sum(ep.duration_s for ep in self.episodes)

    @property
    def temp_stats(self) -> dict[str, float] | None:
        values = [v for _, v in self.temperatures]
        if not values:
            if self.stored and self.stored.get("temp_mean") is not None:
                return {"min": self.stored["temp_min"], "mean": self.stored["temp_mean"], "max": self.stored["temp_max"]}
            return None
        return {"min": min(values), "mean": statistics.fmean(values), "max": max(values)}

    @property
    def unrecorded_s(self) -> float:
        """Seconds of the window with no record for at least one reason (overlaps merged)."""
        return _union_s(self.spans, self.window_start, self.window_end)

    def local(self, when: datetime | None) -> datetime | None:
        return None if when is None else when.astimezone(self.tz)

    def settled_after(self) -> dict[str | None, tuple[datetime, float] | None]:
        """Per leg: when it first settled and how long its first unsettled span lasted (None: never settled)."""
        out: dict[str | None, tuple[datetime, float] | None] = {}
        for sp in self.unsettled:
            if sp.leg not in out:
                out[sp.leg] = (sp.end, sp.duration_s or 0.0) if sp.end is not None else None
        return out

    def _settle_dict(self) -> dict[str, Any] | None:
        if not self.settle_known:
            return None
        first = self.settled_after()

        def span(sp: Span) -> dict[str, Any]:
            return {"leg": sp.leg, "start": iso(self.local(sp.start)), "end": iso(self.local(sp.end)),
                    "duration_s": round_or_none(sp.duration_s, 1), "reason": sp.reason}

        return {
            "settled_at": {str(leg): iso(self.local(v[0])) if v else None for leg, v in first.items()},
            "time_to_settle_s": {str(leg): round(v[1], 1) if v else None for leg, v in first.items()},
            "unsettled": [span(sp) for sp in self.unsettled],
            "unalerted": [{k: v for k, v in span(sp).items() if k != "reason"} for sp in self.unalerted],
        }

    def _settle_facts(self) -> list[tuple[str, str]]:
        if not self.settle_known:
            return []
        first = self.settled_after()
        many = len(first) > 1
        parts = []
        for leg, v in first.items():
            who = f"{leg}: " if many else ""
            if v is None:
                start = next(sp.start for sp in self.unsettled if sp.leg == leg)
                parts.append(f"{who}never (no alert was possible from {hm(self.local(start))})")
            else:
                parts.append(f"{who}at {hm(self.local(v[0]))}, after {duration(v[1])}")
        facts = [("Settled", "; ".join(parts))] if parts else []
        firsts = {id(next(sp for sp in self.unsettled if sp.leg == leg)) for leg in first}
        again = [sp for sp in self.unsettled if id(sp) not in firsts]
        if again:
            why = ", ".join(f"{r} {n}" for r, n in sorted(_count(sp.reason for sp in again).items()))
            known = [sp.duration_s for sp in again if sp.duration_s is not None]
            facts.append(("Unsettled again", f"{plural(len(again), 'time')} ({why}), {duration(sum(known))}"
                          + (" (still unsettled at the end)" if any(sp.end is None for sp in again) else "")))
        if self.unalerted:
            facts.append(("Cramp-like, no alert", f"{plural(len(self.unalerted), 'movement')} while unsettled"))
        return facts

    def _settle_lines(self) -> list[str]:
        out = []
        items = [(sp.start, 0, sp) for sp in self.unsettled] + [(sp.start, 1, sp) for sp in self.unalerted]
        for _start, which, sp in sorted(items, key=lambda x: (x[0], x[1])):
            who = f"{sp.leg}: " if sp.leg and len({x.leg for x in self.unsettled + self.unalerted}) > 1 else ""
            length = "" if sp.duration_s is None else f", {duration(sp.duration_s)}"
            if which == 0:
                end = "not settled again" if sp.end is None else hm(self.local(sp.end))
                out.append(f"{hm(self.local(sp.start))}-{end}{length}: {who}unsettled ({sp.reason}), no alert possible")
            else:
                out.append(f"{hm(self.local(sp.start))}{length}: {who}cramp-like movement while unsettled, no alert")
        return out

    # ------------------------------------------------------------ renderers

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (the MQTT ``log/latest`` payload)."""
        temps = self.temp_stats
        return {
            "night": self.night.isoformat(),
            "timezone": str(self.tz),
            "window": {"start": iso(self.local(self.window_start)), "end": iso(self.local(self.window_end))},
            "in_progress": self.in_progress,
            "cramps": len(self.episodes),
            "total_cramp_s": round(self.total_cramp_s, 1),
            "false_alarms": len(self.false_alarms),
            "episodes": [self._episode_dict(ep) for ep in self.episodes + self.false_alarms],
            "movement_by_hour": [
                {"hour": iso(h.start), "activity_mg": round(h.activity_mg, 1),
                 "moving_fraction": round(h.moving_fraction, 3), "posture_changes": h.posture_changes,
                 "minutes": h.minutes} for h in self.hours],
            "restlessness": {
                "restless_fraction": round_or_none(self.restless_fraction, 3),
                "rest_hours": round_or_none(self.rest_hours, 2),
                "posture_changes": self.posture_changes,
            },
            "room_temp_c": {k: round(v, 1) for k, v in temps.items()} if temps else None,
            "unrecorded_s": round(self.unrecorded_s, 1),
            "gaps": [{"kind": s.kind, "leg": s.leg, "start": iso(self.local(s.start)), "end": iso(self.local(s.end)),
                      "duration_s": round_or_none(s.duration_s, 1), "reason": s.reason} for s in self.spans],
            "summary": " ".join(self.summary),
            "hints": list(self.hints),
            "learning": list(self.learning),
            "settle": self._settle_dict(),
        }

    def _episode_dict(self, ep: Episode) -> dict[str, Any]:
        return {
            "id": ep.id, "leg": ep.leg,
            "onset": iso(self.local(ep.onset)), "alert": iso(self.local(ep.alert)), "end": iso(self.local(ep.end)),
            "duration_s": round(ep.duration_s, 1),
            "intensity": round_or_none(ep.peak_intensity if ep.peak_intensity is not None else ep.intensity, 3),
            "room_temp_c": round_or_none(self.episode_temps.get(ep.id), 1),
            "prompts": list(ep.prompts),
            "acknowledged": iso(self.local(ep.acknowledged)),
            "ack_after_s": round_or_none(ep.ack_after_s, 1),
            "false_alarm": ep.false_alarm, "snoozed": ep.snoozed, "interrupted": ep.interrupted,
        }

    def _episode_rows(self) -> list[tuple[str, ...]]:
        rows = []
        for i, ep in enumerate(self.episodes + self.false_alarms, 1):
            notes = []
            if ep.false_alarm:
                notes.append("marked false alarm")
            if ep.snoozed:
                notes.append("snoozed or disarmed: no alarm")
            if ep.interrupted:
                notes.append("service stopped during it")
            if ep.prompts:
                notes.append(" + ".join(p.replace("_", " ") for p in dict.fromkeys(ep.prompts)))
            temp = self.episode_temps.get(ep.id)
            rows.append((str(i), hm(self.local(ep.onset)), ep.leg, duration(ep.duration_s),
                         "-" if ep.ack_after_s is None else duration(ep.ack_after_s),
                         "-" if temp is None else f"{temp:.1f} °C", "; ".join(notes)))
        return rows

    def _facts(self) -> list[tuple[str, str]]:
        temps = self.temp_stats
        acks = [ep.ack_after_s for ep in self.episodes if ep.ack_after_s is not None]
        facts = [
            ("Night", f"{self.night:%a %d %b %Y}, {hm(self.local(self.window_start))} to "
                      f"{hm(self.local(self.window_end))}" + (" (in progress)" if self.in_progress else "")),
            ("Cramps", f"{len(self.episodes)}" + (f" ({len(self.false_alarms)} false alarm"
                                                  f"{'s' if len(self.false_alarms) != 1 else ''} not counted)"
                                                  if self.false_alarms else "")),
            ("Time in cramp", duration(self.total_cramp_s)),
        ]
        if acks:
            facts.append(("Time to acknowledge", f"median {duration(statistics.median(acks))}"))
        if self.restless_fraction is not None:
            facts.append(("Restlessness", f"{100 * self.restless_fraction:.0f}% of minutes restless, "
                                          f"{plural(self.posture_changes, 'posture change')}, about {self.rest_hours:.1f} h at rest"))
        if temps:
            facts.append(("Room temperature", f"{temps['min']:.1f} / {temps['mean']:.1f} / {temps['max']:.1f} °C (min / mean / max)"))
        facts += self._settle_facts()
        facts.append(("Not recorded", duration(self.unrecorded_s) if self.spans else "nothing: the whole night was recorded"))
        return facts

    def _span_lines(self) -> list[str]:
        out = []
        for s in self.spans:
            end = "still open" if s.end is None else hm(self.local(s.end))
            who = f"{s.leg} sensor: " if s.leg else ""
            length = "" if s.duration_s is None else f", {duration(s.duration_s)}"
            out.append(f"{hm(self.local(s.start))}-{end}{length}: {who}{s.reason}")
        return out

    def to_text(self) -> str:
        """The log for a terminal."""
        lines = [f"nightcramp morning log: night of {self.night.isoformat()}", ""]
        width = max(len(k) for k, _ in self._facts())
        lines += [f"{k.ljust(width)}  {v}" for k, v in self._facts()]
        rows = self._episode_rows()
        if rows:
            lines += ["", "Episodes:"]
            head = ("#", "onset", "leg", "duration", "ack after", "room", "notes")
            widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
            for r in [head, *rows]:
                lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if self.hours:
            lines += ["", "Movement per hour (activity in mg, share of time moving):"]
            for h in self.hours:
                bar = "#" * min(40, int(round(h.activity_mg / 5)))
                lines.append(f"  {hm(h.start)}  {h.activity_mg:6.1f} mg  {100 * h.moving_fraction:4.0f}%  {bar}")
        if self.settle_known and (self.unsettled or self.unalerted):
            lines += ["", "Settled state (no alert while unsettled):"] + [f"  {line}" for line in self._settle_lines()]
        if self.spans:
            lines += ["", "Not recorded:"] + [f"  {line}" for line in self._span_lines()]
        lines += ["", *wrap(" ".join(self.summary))]
        if self.hints:
            lines += ["", "Hints:"]
            for h in self.hints:
                lines += wrap(h, initial_indent="  - ", subsequent_indent="    ")
        if self.learning:
            lines += ["", "Labels and tuning:"]
            for h in self.learning:
                lines += wrap(h, initial_indent="  ", subsequent_indent="  ")
        return "\n".join(lines) + "\n"

    def to_markdown(self, chart_name: str | None = None) -> str:
        """The log as Markdown; ``chart_name`` embeds the PNG written beside it."""
        lines = [f"# Night of {self.night:%A %d %B %Y}", "", " ".join(self.summary), ""]
        if chart_name:
            lines += [f"![movement, room temperature and cramps during the night]({chart_name})", ""]
        lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in self._facts()] + [""]
        rows = self._episode_rows()
        if rows:
            lines += ["## Episodes", "", "| # | Onset | Leg | Duration | Acknowledged after | Room | Notes |",
                      "|---|---|---|---|---|---|---|"]
            lines += ["| " + " | ".join(r) + " |" for r in rows] + [""]
        if self.hours:
            lines += ["## Movement per hour", "", "| Hour | Activity (mg) | Moving | Posture changes |",
                      "|---|---|---|---|"]
            lines += [f"| {hm(h.start)} | {h.activity_mg:.1f} | {100 * h.moving_fraction:.0f}% | {h.posture_changes} |"
                      for h in self.hours] + [""]
        if self.settle_known and (self.unsettled or self.unalerted):
            lines += ["## Settled state", "", "No alert is possible while unsettled.", ""]
            lines += [f"- {line}" for line in self._settle_lines()] + [""]
        if self.spans:
            lines += ["## Not recorded", ""] + [f"- {line}" for line in self._span_lines()] + [""]
        if self.hints:
            lines += ["## Hints", ""] + [f"- {h}" for h in self.hints] + [""]
        if self.learning:
            lines += ["## Labels and tuning", ""] + [f"- {h}" for h in self.learning] + [""]
        return "\n".join(lines)


# ---------------------------------------------------------------- building


def morning_log(record: NightRecord, previous: list[NightRecord], tz: tzinfo, config, now: datetime) -> MorningLog:
    """The log of ``record``, in the local zone ``tz``, as it stands at ``now`` (aware).

    ``previous`` holds the records of the nights before (the hints relate a
    cluster of cramps to short nights); ``config`` is the service
    :class:`~service.config.Config`.
    """
    cramps = [ep for ep in record.episodes if not ep.false_alarm]
    false_alarms = [ep for ep in record.episodes if ep.false_alarm]
    spans = _clip_spans(record, now)
    spans = sorted(spans + _edge_spans(record, spans, now, config.storage.flush_interval_s), key=lambda sp: sp.start)
    detail = summarize_detail(record)
    hours = _hours(record, tz)
    ep_temps = {ep.id: _temp_at(ep, record.temperatures) for ep in record.episodes}
    mlog = MorningLog(
        night=record.night, tz=tz, window_start=record.start, window_end=record.end, in_progress=now < record.end,
        episodes=cramps, false_alarms=false_alarms, hours=hours, minutes=record.minutes,
        temperatures=record.temperatures, spans=spans, episode_temps=ep_temps,
        restless_fraction=detail["restless_fraction"], rest_hours=detail["rest_hours"],
        posture_changes=detail["posture_changes"] or 0,
        unsettled=record.unsettled, unalerted=record.unalerted, settle_known=record.settle_known,
    )
    if not record.minutes and record.summary:  # detail already deleted by retention
        mlog.stored = record.summary
        mlog.restless_fraction = record.summary.get("restless_fraction")
        mlog.rest_hours = record.summary.get("rest_hours")
        mlog.posture_changes = record.summary.get("posture_changes") or 0
    mlog.summary, mlog.hints = summary_and_hints(mlog, config, previous)
    return mlog


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def _hours(record: NightRecord, tz: tzinfo) -> list[HourActivity]:
    """Minute rows grouped by real hours from the window start (DST nights keep 60-minute hours)."""
    groups: dict[int, list] = {}
    for m in record.minutes:
        groups.setdefault(int((m.start - record.start).total_seconds() // 3600), []).append(m)
    out = []
    for k in sorted(groups):
        ms = groups[k]
        out.append(HourActivity(
            start=(record.start + timedelta(hours=k)).astimezone(tz),
            activity_mg=statistics.fmean(m.activity_mg for m in ms),
            moving_fraction=statistics.fmean(m.moving_fraction for m in ms),
            posture_changes=sum(m.posture_changes for m in ms),
            minutes=len({m.start for m in ms}),
        ))
    return out


def _temp_at(ep: Episode, temps: list[tuple[datetime, float]]) -> float | None:
    if ep.room_temp_c is not None:
        return ep.room_temp_c
    near = [(abs((t - ep.onset).total_seconds()), v) for t, v in temps]
    near = [x for x in near if x[0] <= NEAREST_TEMP_S]
    return min(near)[1] if near else None


def _clip_spans(record: NightRecord, now: datetime) -> list[Span]:
    out = []
    for s in record.spans:
        start = max(s.start, record.start)
        end = s.end if s.end is not None else min(now, record.end)
        end = min(end, record.end)
        if end > start:
            out.append(Span(s.kind, s.leg, start, end, s.reason + ("" if s.end is not None else " (not recovered)")))
    return out


def _edge_spans(record: NightRecord, spans: list[Span], now: datetime, flush_interval_s: float) -> list[Span]:
    """The start and end of the window where nothing was recorded and no other span says why.

    Between two runs the store knows the service was not running; before
    the first run of a night and after the last one (stopped or killed with
    no restart) it has no pair of sessions to show it, so the time from the
    window start to the first record and from the last record to the window
    end (or to ``now`` on a night in progress) is added here.  While the
    night is in progress, or just after it, the service may still hold up to
    ``flush_interval_s`` of rows in memory, so that much more is not counted.
    Nothing is added when the per-minute detail is gone (retention): then
    the record cannot tell.
    """
    if not (record.minutes or record.temperatures):
        return []
    first = min([m.start for m in record.minutes] + [t for t, _ in record.temperatures])
    last = record.covered_until or record.end
    until = min(now, record.end)
    tail_slack = EDGE_SLACK_S + (flush_interval_s if now < record.end + timedelta(seconds=EDGE_SLACK_S + flush_interval_s)
                                 else 0.0)
    out = []
    for lo, hi, slack in ((record.start, first, EDGE_SLACK_S), (last, until, tail_slack)):
        if (hi - lo).total_seconds() > slack:
            out += [Span("service", None, a, b, UNRECORDED_EDGE) for a, b in _uncovered(lo, hi, spans)]
    return out


def _uncovered(lo: datetime, hi: datetime, spans: Iterable[Span]) -> list[tuple[datetime, datetime]]:
    """The parts of ``[lo, hi)`` that no span covers."""
    out, cursor = [], lo
    for s in sorted(spans, key=lambda x: x.start):
        end = s.end or hi
        if end <= cursor or s.start >= hi:
            continue
        if s.start > cursor:
            out.append((cursor, s.start))
        cursor = max(cursor, end)
    if cursor < hi:
        out.append((cursor, hi))
    return [(a, b) for a, b in out if (b - a).total_seconds() >= 1.0]


def _union_s(spans: Iterable[Span], lo: datetime, hi: datetime) -> float:
    total, cursor = 0.0, lo
    for s in sorted(spans, key=lambda x: x.start):
        end = min(s.end or hi, hi)
        start = max(s.start, cursor)
        if end > start:
            total += (end - start).total_seconds()
            cursor = end
    return total
