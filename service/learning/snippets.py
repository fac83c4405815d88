"""The snippet directory: raw samples around alarms and reports, each with its label beside it.

A snippet is a recording in format v1 (:mod:`service.recording.format`), ``t`` in seconds from
its first sample and no ``# start:`` line (so ``nightcramp replay`` examines all of it), with
``NAME.labels.json`` beside it in the format of labelled recordings: ``episodes`` are the cramps
in it (seconds), ``hours`` its length, plus

- ``label``: ``cramp`` (a confirmed alarm), ``false_alarm``, ``missed_cramp`` (the sleeper says a
  cramp happened that raised no alarm) or ``unlabelled``;
- ``time`` (ISO 8601 of the alarm or report), ``leg``, ``start`` (wall time of ``t = 0``),
  ``trigger`` (``episode``, ``false_alarm`` or ``missed_cramp``), ``episode_id``, ``onset_t``,
  ``alert_t``, ``end_t``, ``report_t`` (seconds in the snippet), ``acknowledged``,
  ``labelled_by``, ``detection`` (the knobs in effect when it was kept) and ``settled_at_start``
  (whether the service's detector was settled at ``t = 0``; with ``unsettled_reason`` when not),
  which the recording repeats as a ``# detector: settled`` / ``# detector: unsettled (REASON)``
  comment so that ``nightcramp replay`` starts its detector in that state (older snippets say
  nothing and replay from a fresh detector).

Everything here runs on the snippet writer's thread or in the command line, never on the
sampling path.  Sizes are bounded by :meth:`SnippetStore.enforce` (total bytes, age).
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from firmware.errors import RecordingError
from service.recording.format import RecordingWriter, detector_comment, labels_path, read_labels

log = logging.getLogger(__name__)

SNIPPETS_DIR = "snippets"
LABELS = ("cramp", "false_alarm", "missed_cramp", "unlabelled")
LEAD_S = 120.0
"""Seconds kept before an alarm's onset or a report (the detector needs 20 s to learn the noise floor)."""
TAIL_S = 60.0
"""Seconds kept after an episode ends or a report is made."""
MISSED_SPAN_S = 120.0
"""A missed-cramp report says a cramp happened in the two minutes before it."""
WRITE_ROWS = 2000
"""Rows formatted at once when writing a snippet (a whole 10-minute snippet at once would peak at ~9 MB)."""
_NAME_RE = re.compile(r"^[0-9]{8}T[0-9]{6}-[a-z][a-z0-9_]*-[a-z_]+-[0-9a-f]{6}$")


@dataclass
class Snippet:
    """One snippet as listed: its name (file stem), paths and labels document."""

    name: str
    path: Path
    labels_file: Path
    doc: dict[str, Any]

    @property
    def label(self) -> str:
        return str(self.doc.get("label", "unlabelled"))

    @property
    def time(self) -> str:
        return str(self.doc.get("time", ""))

    @property
    def size(self) -> int:
        total = 0
        for p in (self.path, self.labels_file):
            try:
                total += p.stat().st_size
            except OSError:
                pass
        return total


def cramp_episodes(label: str, doc: dict[str, Any]) -> list[tuple[float, float]]:
    """The cramps a label says are in a snippet, in snippet seconds (the ``episodes`` of its labels file)."""
    hours = float(doc.get("hours") or 0.0)
    length = hours * 3600.0
    if label == "cramp" and doc.get("onset_t") is not None:
        onset = max(0.0, float(doc["onset_t"]))
        end = float(doc.get("end_t") if doc.get("end_t") is not None else length)
        return [(onset, max(onset + 0.1, min(end, length)))]
    if label == "missed_cramp" and doc.get("report_t") is not None:
        report = float(doc["report_t"])
        return [(max(0.0, report - MISSED_SPAN_S), max(0.1, report))]
    return []


class SnippetStore:
    """The ``snippets`` directory under the state directory."""

    def __init__(self, state_dir: str | os.PathLike):
        self.dir = Path(state_dir) / SNIPPETS_DIR
        self.bytes_written = 0

    # ------------------------------------------------------------ writing

    def write(self, t: np.ndarray, accel: np.ndarray, doc: dict[str, Any], start_wall: datetime, leg: str,
              trigger: str) -> Snippet:
        """Write one snippet (``t`` on any clock: it is stored from 0) and its labels file."""
        self.dir.mkdir(parents=True, exist_ok=True)
        stamp = start_wall.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S")
        tag = (doc.get("episode_id") or os.urandom(3).hex())[:6]
        if not re.fullmatch(r"[0-9a-f]{6}", tag):
            tag = os.urandom(3).hex()
        name = f"{stamp}-{leg}-{trigger}-{tag}"
        path = self.dir / f"{name}.csv.gz"
        t = np.asarray(t, float)
        rel = np.round(t - t[0], 4)
        keep = np.concatenate(([True], np.diff(rel) > 0))  # 0.1 ms resolution: the format wants increasing t
        tmp = path.with_name(f".{name}.part.csv.gz")  # gzip by the name; renamed once complete
        with RecordingWriter(tmp) as w:
            w.comment(f"nightcramp snippet: {trigger} on leg {leg}, first sample at {start_wall.isoformat()}")
            if isinstance(doc.get("settled_at_start"), bool):  # the detector's state at t = 0, for replay
                w.comment(detector_comment(doc["settled_at_start"], doc.get("unsettled_reason")))
            rel, accel = rel[keep], np.asarray(accel, float)[keep]
            for lo in range(0, rel.size, WRITE_ROWS):  # formatting text costs memory per row: bounded chunks
                w.write(rel[lo:lo + WRITE_ROWS], accel[lo:lo + WRITE_ROWS])
        os.replace(tmp, path)
        doc = dict(doc, hours=round(max(float(rel[-1]), 1.0) / 3600.0, 6), start=start_wall.isoformat(),
                   leg=leg, trigger=trigger)
        doc["episodes"] = [{"onset": round(a, 3), "end": round(b, 3)} for a, b in cramp_episodes(doc["label"], doc)]
        labels = labels_path(path)
        _write_json(labels, doc)
        snippet = Snippet(name, path, labels, doc)
        self.bytes_written += snippet.size
        return snippet

    def set_label(self, snippet: Snippet, label: str, by: str) -> Snippet:
        """Give ``snippet`` a label (``unlabelled`` clears it); the labels file is replaced atomically."""
        if label not in LABELS:
            raise ValueError(f"label must be one of {', '.join(LABELS)}, got {label!r}")
        doc = dict(snippet.doc, label=label, labelled_by=by)
        if label == "missed_cramp" and doc.get("report_t") is None:
            doc["report_t"] = doc.get("alert_t") if doc.get("alert_t") is not None else float(doc.get("hours", 0)) * 1800.0
        doc["episodes"] = [{"onset": round(a, 3), "end": round(b, 3)} for a, b in cramp_episodes(label, doc)]
        _write_json(snippet.labels_file, doc)
        before = snippet.size
        snippet = Snippet(snippet.name, snippet.path, snippet.labels_file, doc)
        self.bytes_written += max(0, snippet.size - before) + len(json.dumps(doc))
        return snippet

    def relabel_episode(self, episode_id: str, label: str, by: str) -> Snippet | None:
        """Label the snippet kept for ``episode_id`` (None when there is none)."""
        for snippet in self.list():
            if snippet.doc.get("episode_id") == episode_id:
                return self.set_label(snippet, label, by)
        return None

    # ------------------------------------------------------------ reading

    def list(self) -> list[Snippet]:
        """Every readable snippet, oldest first; unreadable labels files are logged and skipped."""
        out = []
        for labels in sorted(self.dir.glob("*.labels.json")) if self.dir.is_dir() else []:
            name = labels.name[: -len(".labels.json")]
            path = labels.with_name(name + ".csv.gz")
            if not path.exists():
                continue
            try:
                read_labels(labels)
                doc = json.loads(labels.read_text(encoding="utf-8"))
            except (RecordingError, OSError, ValueError) as exc:
                log.warning("snippet %s: %s (skipped: fix or remove the file)", name, exc)
                continue
            out.append(Snippet(name, path, labels, doc))
        return out

    def find(self, key: str) -> Snippet | None:
        """A snippet by name, by a unique prefix of its name, or by its episode id (or a unique prefix of it)."""
        found = self.matches(key)
        return found[0] if len(found) == 1 else None

    def matches(self, key: str) -> list[Snippet]:
        """The snippets ``key`` names: an exact name or episode id (one), else every name or episode id it begins
        (the 6-character tag at the end of a name is the start of its episode id)."""
        key = key.strip()
        if not key:
            return []
        snippets = self.list()
        exact = [s for s in snippets if key in (s.name, s.doc.get("episode_id"))]
        if exact:
            return exact[:1]
        return [s for s in snippets if s.name.startswith(key) or str(s.doc.get("episode_id") or "").startswith(key)
                or (len(key) >= 6 and s.name.endswith(f"-{key}"))]

    def total_bytes(self) -> int:
        return sum(s.size for s in self.list())

    # ------------------------------------------------------------ bounds

    def enforce(self, max_total_bytes: int, retention_days: int, now: datetime | None = None) -> list[str]:
        """Remove snippets older than ``retention_days``, then the oldest until the total fits; the names removed."""
        now = now or datetime.now(timezone.utc)
        removed = []
        snippets = self.list()
        kept = []
        for s in snippets:
            if _start_of(s) < now - timedelta(days=retention_days):
                self._remove(s)
                removed.append(s.name)
            else:
                kept.append(s)
        total = sum(s.size for s in kept)
        while kept and total > max_total_bytes:
            s = kept.pop(0)
            total -= s.size
            self._remove(s)
            removed.append(s.name)
        for tmp in [*self.dir.glob("*.tmp"), *self.dir.glob(".*.part.csv.gz")] if self.dir.is_dir() else []:
            tmp.unlink(missing_ok=True)  # a write cut short by a crash
        return removed

    @staticmethod
    def _remove(s: Snippet) -> None:
        for p in (s.path, s.labels_file):
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    def iter_labelled(self) -> Iterator[Snippet]:
        for s in self.list():
            if s.label != "unlabelled":
                yield s


def _start_of(s: Snippet) -> datetime:
    try:
        when = datetime.fromisoformat(str(s.doc.get("start")))
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    except ValueError:
        return datetime.fromtimestamp(s.path.stat().st_mtime, timezone.utc)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
