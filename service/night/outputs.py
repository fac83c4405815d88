"""The morning log's way in and out: read a night from the store, write its files into the state directory.

At the end of each night window the daemon calls :func:`finish_night`: it
builds the log (:func:`build_morning_log`), keeps the night's summary row in
the store and writes ``<state>/logs/<night>.md`` with its PNG chart beside it.
The Markdown is replaced atomically, so a reader never sees half a file.
:func:`read_chart` hands the PNG back for publishing (Home Assistant's image entity).
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from service.night.models import summarize_detail
from service.night.morning import MorningLog, morning_log
from service.night.store import NightStore

log = logging.getLogger(__name__)

LOGS_DIR = "logs"  # under the state directory: the Markdown logs and their charts
PREVIOUS_NIGHTS = 2  # nights before this one that the hints look back on


def build_morning_log(store: NightStore, night_date: date, config, now: datetime | None = None) -> MorningLog:
    """Read one night from ``store`` and build its log (``config`` is the service :class:`Config`)."""
    record = store.night(night_date)
    previous = [store.night(night_date - timedelta(days=d)) for d in range(1, PREVIOUS_NIGHTS + 1)]
    mlog = morning_log(record, previous, store.window.tz, config, now or datetime.now(timezone.utc))
    mlog.learning = _learning(config)
    return mlog


def _learning(config) -> list[str]:
    """The labels tally and the tuning in effect (docs/learning.md); nothing when neither exists."""
    from service.learning.active import status
    from service.learning.snippets import SnippetStore
    from service.learning.summary import learning_lines, read_estimate, tally

    try:
        counts = tally(SnippetStore(config.state_dir).list())
        tuning = status(config)
        if not counts["snippets"] and not tuning:
            return []
        return learning_lines(counts, read_estimate(config.state_dir), tuning)
    except OSError as exc:
        log.warning("labels for the morning log: %s", exc)
        return []


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


def read_chart(state_dir: str | os.PathLike, night_date: date, max_bytes: int) -> bytes | None:
    """The night's PNG as written by :func:`write_outputs`, or None (logged) when missing, not a PNG or too big.

    Read at most ``max_bytes`` + 1 bytes: a chart is about 60 KB, and a file
    far larger than that is not one to put on the broker.
    """
    png = Path(state_dir) / LOGS_DIR / f"{night_date.isoformat()}.png"
    try:
        with open(png, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        log.warning("morning chart %s not published: %s", png, exc.strerror or exc)
        return None
    if len(data) > max_bytes:
        log.warning("morning chart %s not published: larger than %d bytes", png, max_bytes)
        return None
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        log.warning("morning chart %s not published: not a PNG file", png)
        return None
    return data


def _render_in_child(mlog: MorningLog, png: Path, timeout_s: float = 300.0) -> None:
    """Pickle the log to a child interpreter that draws the chart (see :func:`write_outputs`)."""
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
