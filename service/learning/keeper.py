"""On the core thread: keep each leg's recent samples and cut snippets around alarms and reports.

:class:`SnippetKeeper` is fed every sample batch (a copy into a ring buffer, a few
microseconds), watches the events the core emits, and when the last second of a snippet has
arrived it hands the samples to the writer (:class:`~service.learning.writer.SnippetWriter`)
as a job: nothing here touches the disk, so keeping snippets never delays sampling.

What makes a snippet (all with :data:`~service.learning.snippets.LEAD_S` before and
:data:`~service.learning.snippets.TAIL_S` after, capped at ``snippets.max_snippet_s``):

- every episode (``cramp_start`` ... ``cramp_end``, alerted, snoozed or disarmed);
- a false-alarm report that names no open or kept episode;
- a missed-cramp report ("that was a cramp"), at the time it names.

The label a snippet is written with: ``false_alarm`` when the episode was reported as one,
``cramp`` when the alarm was acknowledged (that is what confirms it), else ``unlabelled``.
A later false-alarm report relabels the kept snippet.

The detector's state at the snippet's first sample (``settled_at``, from the leg detector's unsettled
spans: the lead-in comes from the ring, so it is looked up at that sample's time) goes into the labels
(``settled_at_start``, ``unsettled_reason``) and the recording (``# detector: ...``), so that a replay
starts its detector as the service's was there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

import numpy as np

from service import events as ev
from service.config import Config
from service.learning.snippets import LEAD_S, TAIL_S
from service.pipeline.ringbuffer import SampleRing
from service.pipeline.tuning import knob_values

log = logging.getLogger(__name__)

MAX_PENDING = 16
"""Snippets waiting for their last samples at once; more means something is looping."""
FALSE_ALARM_WINDOW_S = 3600.0
"""A false-alarm report naming no episode means the last one, when it alerted this recently (as the night record)."""


@dataclass(frozen=True)
class SnippetJob:
    """Samples and labels of one snippet, for the writer thread."""

    t: np.ndarray
    accel: np.ndarray
    doc: dict[str, Any]
    start_wall: datetime
    leg: str
    trigger: str


@dataclass(frozen=True)
class RelabelJob:
    """Give the snippet kept for an episode a new label."""

    episode_id: str
    label: str
    by: str


@dataclass(frozen=True)
class EstimateJob:
    """At the end of a night: what ``nightcramp tune`` would do with the labels so far (for the morning log)."""


@dataclass
class _Pending:
    leg: str
    trigger: str
    t_from: float
    t_until: float | None  # None: the episode is still open
    t_cap: float
    doc: dict[str, Any] = field(default_factory=dict)

    @property
    def due_at(self) -> float:
        return self.t_cap if self.t_until is None else min(self.t_until, self.t_cap)


class SnippetKeeper:
    """Ring buffers per leg and the snippets waiting for their tail; ``submit`` takes finished jobs."""

    def __init__(self, config: Config, legs: list[str], wall_at: Callable[[float], datetime],
                 submit: Callable[[Any], bool],
                 settled_at: Callable[[str, float], tuple[bool, str | None]] | None = None):
        """``settled_at(leg, t)``: whether that leg's detector was settled at monotonic ``t``, and why not
        (:meth:`~service.pipeline.detect.CrampDetector.settled_at`); None: snippets do not say."""
        self.config = config
        self.wall_at = wall_at
        self.submit = submit
        self.settled_at = settled_at
        cap = config.snippets.max_snippet_s
        self.max_snippet_s = cap
        self.rings = {leg: SampleRing.for_seconds(cap + LEAD_S, config.accelerometer.rate_hz) for leg in legs}
        self.pending: list[_Pending] = []
        self.kept_episodes: set[str] = set()
        self.last_episode: dict[str, tuple[str, float]] = {}  # leg -> (episode id, alert time)
        self.dropped = 0

    # ------------------------------------------------------------ inputs from the core

    def add(self, leg: str, t: np.ndarray, accel_g: np.ndarray) -> None:
        """A sample batch of ``leg`` (the core calls this for every batch)."""
        ring = self.rings.get(leg)
        if ring is None:
            return
        ring.add(t, accel_g)
        if self.pending:
            self._cut_due(leg, float(t[-1]))

    def on_event(self, stamped: ev.StampedEvent) -> None:
        """An event the core emitted: open, extend, label or close a snippet."""
        e = stamped.event
        if e.type == ev.CRAMP_START:
            onset = float(e.fields.get("onset", e.t))
            if e.episode_id:
                self.last_episode[e.leg] = (e.episode_id, e.t)
            self._open(e.leg, "episode", onset - LEAD_S, None, {
                "episode_id": e.episode_id, "label": "unlabelled", "time": stamped.wall_time,
                "onset_abs": onset, "alert_abs": e.t, "alerted": bool(e.fields.get("alert", True)),
                "acknowledged": False})
        elif e.type == ev.CRAMP_END:
            p = self._pending_episode(e.episode_id)
            if p is not None:
                p.t_until = e.t + TAIL_S
                p.doc["end_abs"] = e.t
                if e.fields.get("acknowledged") and p.doc["label"] == "unlabelled":
                    p.doc.update(label="cramp", labelled_by="acknowledged")
        elif e.type == ev.ACKNOWLEDGED:
            p = self._pending_episode(e.episode_id)
            if p is not None and p.doc["label"] == "unlabelled":
                p.doc.update(label="cramp", labelled_by="acknowledged", acknowledged=True)
        elif e.type == ev.FALSE_ALARM:
            self._false_alarm(stamped)
        elif e.type == ev.MISSED_CRAMP:
            self._open(e.leg, "missed_cramp", e.t - LEAD_S, e.t + TAIL_S, {
                "label": "missed_cramp", "time": stamped.wall_time, "report_abs": e.t,
                "labelled_by": str(e.fields.get("source", "report"))})

    def check(self) -> None:
        """Cut what is due by now on every leg (the core's periodic pass; batches also do it)."""
        for leg, ring in self.rings.items():
            newest = ring.newest_t
            if newest is not None and self.pending:
                self._cut_due(leg, newest)

    def night_closed(self) -> None:
        """The night window closed: cut what is pending, then ask for a tuning estimate."""
        self.flush()
        self._submit(EstimateJob())

    def flush(self) -> None:
        """Cut everything pending with what is there (a clean stop)."""
        for p in list(self.pending):
            self._cut(p)
        self.pending.clear()

    def release(self) -> None:
        """Give the rings' memory back (the service stopped; nothing is fed after this)."""
        self.pending.clear()
        self.rings.clear()

    # ------------------------------------------------------------ internals

    def _false_alarm(self, stamped: ev.StampedEvent) -> None:
        e = stamped.event
        episode_id = e.episode_id
        if episode_id is None and e.leg in self.last_episode:
            last_id, alert_t = self.last_episode[e.leg]
            if e.t - alert_t <= FALSE_ALARM_WINDOW_S:
                episode_id = last_id
        p = self._pending_episode(episode_id)
        if p is not None:
            p.doc.update(label="false_alarm", labelled_by="report")
            return
        if episode_id and episode_id in self.kept_episodes:
            self._submit(RelabelJob(episode_id, "false_alarm", "report"))
            return
        self._open(e.leg, "false_alarm", e.t - LEAD_S, e.t + TAIL_S, {
            "episode_id": e.episode_id, "label": "false_alarm", "time": stamped.wall_time, "report_abs": e.t,
            "labelled_by": "report"})

    def _pending_episode(self, episode_id: str | None) -> _Pending | None:
        if episode_id is None:
            return None
        return next((p for p in self.pending if p.doc.get("episode_id") == episode_id), None)

    def _open(self, leg: str, trigger: str, t_from: float, t_until: float | None, doc: dict) -> None:
        if leg not in self.rings:
            return
        if len(self.pending) >= MAX_PENDING:
            self.dropped += 1
            log.warning("snippets: %d waiting already, not keeping this %s", len(self.pending), trigger)
            return
        doc["detection"] = knob_values(self.config.detection)
        doc["sensitivity"] = self.config.detection.sensitivity
        self.pending.append(_Pending(leg, trigger, t_from, t_until, t_from + self.max_snippet_s, doc))

    def _cut_due(self, leg: str, newest: float) -> None:
        for p in [p for p in self.pending if p.leg == leg and newest >= p.due_at]:
            self.pending.remove(p)
            self._cut(p)

    def _cut(self, p: _Pending) -> None:
        t, a = self.rings[p.leg].window(p.t_from, p.due_at)
        if t.size < 2:
            log.info("snippets: no samples kept for the %s at %s", p.trigger, p.doc.get("time"))
            return
        t0 = float(t[0])
        doc = {k: v for k, v in p.doc.items() if not k.endswith("_abs")}
        for key in ("onset", "alert", "end", "report"):
            if f"{key}_abs" in p.doc:
                doc[f"{key}_t"] = round(float(p.doc[f"{key}_abs"]) - t0, 3)
        doc.update(self._state_at(p.leg, t0))
        if p.trigger == "episode" and p.doc.get("episode_id"):
            self.kept_episodes.add(p.doc["episode_id"])
        self._submit(SnippetJob(t, a, doc, self.wall_at(t0), p.leg, p.trigger))

    def _state_at(self, leg: str, t0: float) -> dict[str, Any]:
        """``settled_at_start`` (and ``unsettled_reason``) at the snippet's first sample; nothing when unknown."""
        if self.settled_at is None:
            return {}
        try:
            settled, reason = self.settled_at(leg, t0)
        except Exception:  # noqa: BLE001 - on the core thread: a snippet without the state, never a lost alarm
            log.warning("snippets: could not tell whether the %s leg was settled at %.1f s; the snippet will "
                        "replay from a fresh detector", leg, t0, exc_info=True)
            return {}
        return {"settled_at_start": True} if settled else {"settled_at_start": False,
                                                             "unsettled_reason": str(reason or "start")}

    def _submit(self, job: Any) -> None:
        if not self.submit(job):
            self.dropped += 1
