"""The morning log of one night, the history of many, and their commands.

:func:`build_morning_log` reads one night from the :class:`~service.night.store.NightStore`
and turns it into a :class:`MorningLog`: the episodes in local time, total time
in cramp, time to acknowledge, movement per hour, restlessness, the room
temperature, every span without a record (sensor faults, sample gaps, the
service not running), and a short plain-language summary with the hints of
../shared/docs/signals.md where they fit.  It renders as JSON
(:meth:`MorningLog.to_dict`, published on ``<base>/log/latest``), text and
Markdown; :func:`write_outputs` writes the Markdown and a PNG chart into the
state directory.

The thresholds below are this project's reading of a leg-worn accelerometer,
not clinical scores; the log says so.
"""

from __future__ import annotations

import json
import logging
import os
import re
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Iterable

from firmware.errors import StoreError
from service.pipeline.nightwindow import NightWindow
from service.night.models import Episode, NightRecord, Span, summarize_detail
from service.night.store import DB_NAME, NightStore

log = logging.getLogger(__name__)

SHORT_NIGHT_REST_H = 6.0  # fewer resting hours than this: a short or broken night
LONG_CRAMP_S = 60.0  # a cramp this long earns the warm-compress hint
CLUSTER_CRAMPS = 2  # this many cramps in a night make a cluster (worth relating to short nights)
HYDRATION_CRAMPS = 3  # this many (or a hot room) earn the drink-and-minerals hint
NEAREST_TEMP_S = 600.0  # a reading this close to an episode stands for the room at that time
LOGS_DIR = "logs"


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
    minutes: list  # store.Minute rows, for the chart
    temperatures: list[tuple[datetime, float]]
    spans: list[Span]
    episode_temps: dict[str, float | None]
    restless_fraction: float | None
    rest_hours: float | None
    posture_changes: int
    summary: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    stored: dict[str, Any] | None = None  # the night's summary row, once retention removed the per-minute detail

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

    # ------------------------------------------------------------ renderers

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (the MQTT ``log/latest`` payload)."""
        temps = self.temp_stats
        return {
            "night": self.night.isoformat(),
            "timezone": str(self.tz),
            "window": {"start": _iso(self.local(self.window_start)), "end": _iso(self.local(self.window_end))},
            "in_progress": self.in_progress,
            "cramps": len(self.episodes),
            "total_cramp_s": round(self.total_cramp_s, 1),
            "false_alarms": len(self.false_alarms),
            "episodes": [self._episode_dict(ep) for ep in self.episodes + self.false_alarms],
            "movement_by_hour": [
                {"hour": _iso(h.start), "activity_mg": round(h.activity_mg, 1),
                 "moving_fraction": round(h.moving_fraction, 3), "posture_changes": h.posture_changes,
                 "minutes": h.minutes} for h in self.hours],
            "restlessness": {
                "restless_fraction": _round(self.restless_fraction, 3),
                "rest_hours": _round(self.rest_hours, 2),
                "posture_changes": self.posture_changes,
            },
            "room_temp_c": {k: round(v, 1) for k, v in temps.items()} if temps else None,
            "unrecorded_s": round(self.unrecorded_s, 1),
            "gaps": [{"kind": s.kind, "leg": s.leg, "start": _iso(self.local(s.start)), "end": _iso(self.local(s.end)),
                      "duration_s": _round(s.duration_s, 1), "reason": s.reason} for s in self.spans],
            "summary": " ".join(self.summary),
            "hints": list(self.hints),
        }

    def _episode_dict(self, ep: Episode) -> dict[str, Any]:
        return {
            "id": ep.id, "leg": ep.leg,
            "onset": _iso(self.local(ep.onset)), "alert": _iso(self.local(ep.alert)), "end": _iso(self.local(ep.end)),
            "duration_s": round(ep.duration_s, 1),
            "intensity": _round(ep.peak_intensity if ep.peak_intensity is not None else ep.intensity, 3),
            "room_temp_c": _round(self.episode_temps.get(ep.id), 1),
            "prompts": list(ep.prompts),
            "acknowledged": _iso(self.local(ep.acknowledged)),
            "ack_after_s": _round(ep.ack_after_s, 1),
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
            rows.append((str(i), _hm(self.local(ep.onset)), ep.leg, _duration(ep.duration_s),
                         "-" if ep.ack_after_s is None else _duration(ep.ack_after_s),
                         "-" if temp is None else f"{temp:.1f} °C", "; ".join(notes)))
        return rows

    def _facts(self) -> list[tuple[str, str]]:
        temps = self.temp_stats
        acks = [ep.ack_after_s for ep in self.episodes if ep.ack_after_s is not None]
        facts = [
            ("Night", f"{self.night:%a %d %b %Y}, {_hm(self.local(self.window_start))} to "
                      f"{_hm(self.local(self.window_end))}" + (" (in progress)" if self.in_progress else "")),
            ("Cramps", f"{len(self.episodes)}" + (f" ({len(self.false_alarms)} false alarm"
                                                  f"{'s' if len(self.false_alarms) != 1 else ''} not counted)"
                                                  if self.false_alarms else "")),
            ("Time in cramp", _duration(self.total_cramp_s)),
        ]
        if acks:
            facts.append(("Time to acknowledge", f"median {_duration(statistics.median(acks))}"))
        if self.restless_fraction is not None:
            facts.append(("Restlessness", f"{100 * self.restless_fraction:.0f}% of minutes restless, "
                                          f"{self.posture_changes} posture changes, about {self.rest_hours:.1f} h at rest"))
        if temps:
            facts.append(("Room temperature", f"{temps['min']:.1f} / {temps['mean']:.1f} / {temps['max']:.1f} °C (min / mean / max)"))
        facts.append(("Not recorded", _duration(self.unrecorded_s) if self.spans else "nothing: the whole night was recorded"))
        return facts

    def _span_lines(self) -> list[str]:
        out = []
        for s in self.spans:
            end = "still open" if s.end is None else _hm(self.local(s.end))
            who = f"{s.leg} sensor: " if s.leg else ""
            length = "" if s.duration_s is None else f", {_duration(s.duration_s)}"
            out.append(f"{_hm(self.local(s.start))}-{end}{length}: {who}{s.reason}")
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
                lines.append(f"  {_hm(h.start)}  {h.activity_mg:6.1f} mg  {100 * h.moving_fraction:4.0f}%  {bar}")
        if self.spans:
            lines += ["", "Not recorded:"] + [f"  {line}" for line in self._span_lines()]
        lines += ["", *_wrap(" ".join(self.summary))]
        if self.hints:
            lines += ["", "Hints:"]
            for h in self.hints:
                lines += _wrap(h, initial_indent="  - ", subsequent_indent="    ")
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
            lines += [f"| {_hm(h.start)} | {h.activity_mg:.1f} | {100 * h.moving_fraction:.0f}% | {h.posture_changes} |"
                      for h in self.hours] + [""]
        if self.spans:
            lines += ["## Not recorded", ""] + [f"- {line}" for line in self._span_lines()] + [""]
        if self.hints:
            lines += ["## Hints", ""] + [f"- {h}" for h in self.hints] + [""]
        return "\n".join(lines)


# ---------------------------------------------------------------- building


def build_morning_log(store: NightStore, night_date: date, config, now: datetime | None = None) -> MorningLog:
    """Read one night from ``store`` and build its log (``config`` is the service :class:`Config`)."""
    window = store.window
    record = store.night(night_date)
    now = now or datetime.now(timezone.utc)
    tz = window.tz
    cramps = [ep for ep in record.episodes if not ep.false_alarm]
    false_alarms = [ep for ep in record.episodes if ep.false_alarm]
    spans = _clip_spans(record, now)
    detail = summarize_detail(record)
    hours = _hours(record, tz)
    ep_temps = {ep.id: _temp_at(ep, record.temperatures) for ep in record.episodes}
    mlog = MorningLog(
        night=night_date, tz=tz, window_start=record.start, window_end=record.end, in_progress=now < record.end,
        episodes=cramps, false_alarms=false_alarms, hours=hours, minutes=record.minutes,
        temperatures=record.temperatures, spans=spans, episode_temps=ep_temps,
        restless_fraction=detail["restless_fraction"], rest_hours=detail["rest_hours"],
        posture_changes=detail["posture_changes"] or 0,
    )
    if not record.minutes and record.summary:  # detail already deleted by retention
        mlog.stored = record.summary
        mlog.restless_fraction = record.summary.get("restless_fraction")
        mlog.rest_hours = record.summary.get("rest_hours")
        mlog.posture_changes = record.summary.get("posture_changes") or 0
    previous = [store.night(night_date - timedelta(days=d)) for d in (1, 2)]
    mlog.summary, mlog.hints = _advice(mlog, config, previous)
    return mlog


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


def _union_s(spans: Iterable[Span], lo: datetime, hi: datetime) -> float:
    total, cursor = 0.0, lo
    for s in sorted(spans, key=lambda x: x.start):
        end = min(s.end or hi, hi)
        start = max(s.start, cursor)
        if end > start:
            total += (end - start).total_seconds()
            cursor = end
    return total


def _advice(mlog: MorningLog, config, previous: list[NightRecord]) -> tuple[list[str], list[str]]:
    """The plain-language summary and the hints (../shared/docs/signals.md)."""
    prompts = config.prompts
    n = len(mlog.episodes)
    temps = mlog.temp_stats
    summary: list[str] = []
    if n == 0:
        summary.append("No cramps were recorded" + (" so far tonight." if mlog.in_progress else " last night."))
    else:
        longest = max(mlog.episodes, key=lambda ep: ep.duration_s)
        summary.append(
            f"{n} cramp{'s' if n != 1 else ''} ({_duration(mlog.total_cramp_s)} in all); the longest began at "
            f"{_hm(mlog.local(longest.onset))} and lasted {_duration(longest.duration_s)}.")
    if mlog.false_alarms:
        k = len(mlog.false_alarms)
        summary.append(f"{k} alert{'s were' if k != 1 else ' was'} marked as a false alarm.")
    if temps:
        summary.append(f"The room was between {temps['min']:.1f} and {temps['max']:.1f} °C.")
    if mlog.unrecorded_s >= 60:
        summary.append(f"For {_duration(mlog.unrecorded_s)} nothing was recorded (see below): a cramp then could have "
                       "been missed.")

    hints: list[str] = []
    if n:
        hints.append("Stretch the calves gently before bed (pull the toes toward the shin and hold about 30 s); "
                     "relaxing the muscles before sleep helps many people.")
    if any(ep.duration_s >= LONG_CRAMP_S for ep in mlog.episodes) or n >= CLUSTER_CRAMPS:
        hints.append("During a cramp, a warm compress on the calf (or a warm bath) and gentle stretching relax the muscle.")
    hot = temps is not None and temps["max"] > prompts.hot_room_c
    if n and hot:
        hints.append(f"The bedroom was warm (up to {temps['max']:.1f} °C, above {prompts.hot_room_c:g} °C): heat and "
                     "sweating are linked to cramps; a cooler room may help.")
    if n >= HYDRATION_CRAMPS or (n and hot):
        hints.append("Drink enough during the day, especially on hot days or after sweating, and eat foods with "
                     "minerals (magnesium: whole grains, green vegetables, bananas; calcium: dairy, spinach, eggs).")
    cold = [ep for ep in mlog.episodes if (mlog.episode_temps.get(ep.id) or 99) < prompts.cold_room_c]
    if cold:
        hints.append(f"The room was below {prompts.cold_room_c:g} °C during {len(cold)} cramp"
                     f"{'s' if len(cold) != 1 else ''}: keeping the legs warm may help.")
    short = [p for p in previous if _short_night(p)]
    if n >= CLUSTER_CRAMPS and short:
        hints.append(f"These {n} cramps came after {len(short)} short or broken night{'s' if len(short) != 1 else ''} "
                     f"(under {SHORT_NIGHT_REST_H:g} h at rest): lack of sleep is a known contributing factor.")
    if hints:
        hints.append("These are general tips, not medical advice: see a doctor if cramps are frequent or severe.")
    return summary, hints


def _short_night(record: NightRecord) -> bool:
    detail = summarize_detail(record)
    return detail["minutes_covered"] >= 120 and (detail["rest_hours"] or 0.0) < SHORT_NIGHT_REST_H


# ---------------------------------------------------------------- outputs


def write_outputs(mlog: MorningLog, state_dir: str | os.PathLike, isolate_chart: bool = False) -> tuple[Path, Path]:
    """Write ``<state>/logs/<night>.md`` and ``<night>.png``; returns both paths.

    ``isolate_chart`` draws the PNG in a short-lived child process: matplotlib
    costs about 60 MB of resident memory once imported, which a service that
    runs for months on a Pi Zero should not keep for one chart a day.
    """
    out_dir = Path(state_dir) / LOGS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{mlog.night.isoformat()}.png"
    md = out_dir / f"{mlog.night.isoformat()}.md"
    if isolate_chart:
        _render_in_child(mlog, png)
    else:
        from service.night import chart

        chart.render_night(mlog, png)
    _atomic_write(md, mlog.to_markdown(chart_name=png.name))
    return md, png


def _render_in_child(mlog: MorningLog, png: Path, timeout_s: float = 300.0) -> None:
    """Pickle the log to a child interpreter that draws the chart (see :func:`write_outputs`)."""
    import pickle
    import subprocess
    import sys

    try:
        done = subprocess.run([sys.executable, "-m", "service.night.chart", str(png)], input=pickle.dumps(mlog),
                              capture_output=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.error("morning chart %s not drawn: %s", png, exc)
        return
    if done.returncode != 0:
        log.error("morning chart %s not drawn: %s", png, done.stderr.decode("utf-8", "replace").strip()[-500:])


def finish_night(store: NightStore, night_date: date, config, state_dir: str | os.PathLike,
                 now: datetime | None = None, isolate_chart: bool = False) -> MorningLog:
    """At the end of the night window: build the log, keep the night's summary row, write the files."""
    mlog = build_morning_log(store, night_date, config, now=now)
    store.save_night_summary(night_date, summarize_detail(store.night(night_date)))
    write_outputs(mlog, state_dir, isolate_chart=isolate_chart)
    return mlog


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------- history


@dataclass(frozen=True)
class NightRow:
    night: date
    cramps: int
    minutes_in_cramp: float
    median_onset: str | None  # HH:MM local
    mean_temp_c: float | None
    false_alarms: int


def build_history(store: NightStore, last: date, days: int) -> list[NightRow]:
    """One row per night with data among the ``days`` nights ending with ``last``."""
    first = last - timedelta(days=max(days, 1) - 1)
    rows = []
    for night in store.nights_with_data(first, last):
        record = store.night(night)
        cramps = [ep for ep in record.episodes if not ep.false_alarm]
        temps = [v for _, v in record.temperatures]
        mean_temp = statistics.fmean(temps) if temps else (record.summary or {}).get("temp_mean")
        rows.append(NightRow(night, len(cramps), sum(ep.duration_s for ep in cramps) / 60.0,
                             _median_onset(cramps, record.start, store.window.tz), mean_temp,
                             len(record.episodes) - len(cramps)))
    return rows


def _median_onset(episodes: list[Episode], window_start: datetime, tz: tzinfo) -> str | None:
    """Median onset as local HH:MM, taken on the night's own time line so 23:50 and 00:10 average to 00:00."""
    if not episodes:
        return None
    offset = statistics.median((ep.onset - window_start).total_seconds() for ep in episodes)
    return _hm((window_start + timedelta(seconds=offset)).astimezone(tz))


def history_text(rows: list[NightRow], chart_path: Path | None) -> str:
    if not rows:
        return "no nights recorded in that period\n"
    lines = ["night       cramps  min in cramp  median onset  room °C  false alarms"]
    for r in rows:
        lines.append(f"{r.night.isoformat()}  {r.cramps:6d}  {r.minutes_in_cramp:12.1f}  {(r.median_onset or '-'):>12}"
                     f"  {('-' if r.mean_temp_c is None else f'{r.mean_temp_c:.1f}'):>7}  {r.false_alarms:12d}")
    nights = len(rows)
    total = sum(r.cramps for r in rows)
    lines.append(f"{nights} night{'s' if nights != 1 else ''}, {total} cramp{'s' if total != 1 else ''}, "
                 f"{total / nights:.2f} per night" + _trend(rows))
    if chart_path:
        lines.append(f"trend chart: {chart_path}")
    return "\n".join(lines) + "\n"


def _trend(rows: list[NightRow]) -> str:
    """Compare the first and second half of the period (needs at least 4 nights)."""
    if len(rows) < 4:
        return ""
    half = len(rows) // 2
    early = statistics.fmean(r.cramps for r in rows[:half])
    late = statistics.fmean(r.cramps for r in rows[half:])
    if abs(late - early) < 0.25:
        return "; about the same in both halves of the period"
    return f"; {'fewer' if late < early else 'more'} lately ({early:.2f} -> {late:.2f} per night)"


# ---------------------------------------------------------------- commands


def _open_store(args) -> tuple[Any, NightStore]:
    from service import config as cfg

    config = cfg.load(args.config)
    path = config.state_dir / DB_NAME
    if not path.exists():
        raise StoreError(f"no night record at {path} yet: the service has not run (or storage.state_dir differs)")
    return config, NightStore(path, NightWindow.from_config(config.night), readonly=True)


def _default_night(store: NightStore, now: datetime) -> date:
    """Last night: the night in progress if it has a cramp already, else the last one that started before it."""
    window = store.window
    current = window.night_of(now)
    if window.contains(now) and not store.night(current).episodes:
        current -= timedelta(days=1)
    return current


def cmd_log(args) -> int:
    """``nightcramp log [--date D] [--format text|json|markdown]``."""
    night = None
    if args.date:
        try:
            night = date.fromisoformat(args.date)
        except ValueError:
            print(f"error: --date: not a date in the form YYYY-MM-DD: {args.date!r}", file=sys.stderr)
            return 2
    config, store = _open_store(args)
    try:
        now = datetime.now(timezone.utc)
        night = night or _default_night(store, now)
        if not store.night(night).has_data:
            latest = store.latest_night()
            hint = (f"; the latest night recorded is {latest}: nightcramp log --date {latest}" if latest
                    else "; the record is empty")
            print(f"no data recorded for the night of {night.isoformat()} in {store.path}{hint}", file=sys.stderr)
            return 1
        mlog = build_morning_log(store, night, config, now=now)
    finally:
        store.close()
    if args.format == "json":
        json.dump(mlog.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif args.format == "markdown":
        sys.stdout.write(mlog.to_markdown())
    else:
        sys.stdout.write(mlog.to_text())
    return 0


def cmd_history(args) -> int:
    """``nightcramp history [--days N] [--format text|json]``: trend table and chart."""
    if args.days < 1:
        print("error: --days must be at least 1", file=sys.stderr)
        return 2
    config, store = _open_store(args)
    try:
        now = datetime.now(timezone.utc)
        last = store.window.night_of(now)
        rows = build_history(store, last, args.days)
    finally:
        store.close()
    chart_path = None
    if rows:
        chart_path = _history_chart(rows, config.state_dir, last)
    if args.format == "json":
        json.dump({"nights": [{"night": r.night.isoformat(), "cramps": r.cramps,
                               "minutes_in_cramp": round(r.minutes_in_cramp, 2), "median_onset": r.median_onset,
                               "mean_room_temp_c": _round(r.mean_temp_c, 1), "false_alarms": r.false_alarms}
                              for r in rows],
                   "chart": str(chart_path) if chart_path else None}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(history_text(rows, chart_path))
    return 0 if rows else 1


def _history_chart(rows: list[NightRow], state_dir: Path, last: date) -> Path | None:
    """Write the trend chart into ``<state>/logs`` (or the temp directory when that is not writable)."""
    from service.night import chart

    name = f"history-{last.isoformat()}.png"
    for directory in (Path(state_dir) / LOGS_DIR, Path(tempfile.gettempdir())):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / name
            chart.render_history(rows, path)
            return path
        except OSError as exc:
            log.debug("cannot write the trend chart into %s: %s", directory, exc)
    log.warning("could not write the trend chart anywhere")
    return None


# ---------------------------------------------------------------- formatting


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat(timespec="seconds")


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _hm(when: datetime | None) -> str:
    """Local HH:MM, with the zone abbreviation on the repeated hour of a fall-back night."""
    if when is None:
        return "-"
    text = when.strftime("%H:%M")
    if when.fold or _ambiguous(when):
        text += f" {when.tzname()}"
    return text


def _ambiguous(when: datetime) -> bool:
    other = when.replace(fold=1 - when.fold)
    return other.utcoffset() != when.utcoffset()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s" if s else f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h} h {m:02d} min"


def _wrap(text: str, width: int = 78, **kwargs) -> list[str]:
    import textwrap

    # Keep a number with its unit ("35 s", "19.5 °C") on one line.
    glued = re.sub(r"(\d) (s|min|h|°C)\b", "\\1\u00a0\\2", text)
    lines = textwrap.wrap(glued, width, break_on_hyphens=False, **kwargs)
    return [line.replace("\u00a0", " ") for line in lines] or [""]
