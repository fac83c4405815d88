"""The history of many nights: one row a night, a trend over the period, and the trend chart.

:func:`build_history` reads the rows from the store; :func:`history_text` and
:func:`history_dict` render them for ``nightcramp history`` (text or JSON);
:func:`write_history_chart` draws the PNG (:func:`service.night.chart.render_history`).
"""

from __future__ import annotations

import logging
import statistics
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from service.night.formatting import hm, round_or_none
from service.night.models import Episode
from service.night.outputs import LOGS_DIR
from service.night.store import NightStore

log = logging.getLogger(__name__)


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
    return hm((window_start + timedelta(seconds=offset)).astimezone(tz))


def history_text(rows: list[NightRow], chart_path: Path | None) -> str:
    """The table for a terminal, a line with the count and the trend, and where the chart is."""
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


def history_dict(rows: list[NightRow], chart_path: Path | None) -> dict[str, Any]:
    """Plain JSON-able data (``nightcramp history --format json``)."""
    return {"nights": [{"night": r.night.isoformat(), "cramps": r.cramps,
                        "minutes_in_cramp": round(r.minutes_in_cramp, 2), "median_onset": r.median_onset,
                        "mean_room_temp_c": round_or_none(r.mean_temp_c, 1), "false_alarms": r.false_alarms}
                       for r in rows],
            "chart": str(chart_path) if chart_path else None}


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


def write_history_chart(rows: list[NightRow], state_dir: Path, last: date) -> Path | None:
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
