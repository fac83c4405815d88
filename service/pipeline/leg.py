"""One leg's pipeline: samples in, events and completed movement minutes out.

A leg has a cramp detector, an alert policy and a movement summary.  Samples
arrive one FIFO drain at a time (about 1 s); numpy's per-call overhead
dominates such small batches, so the detector and the movement summary are
fed a few drains at a time (:data:`DETECT_BATCH_S`, :data:`MOVEMENT_BATCH_S`).
Pure: no clock, no threads, no I/O; times are the samples' monotonic seconds.
The core (:mod:`service.app.core`) routes each input to its leg, stamps the
events and stores the minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from service.config import DetectionConfig, PromptsConfig
from service import events as ev
from service.events import Event
from service.pipeline.alerts import AlertPolicy
from service.pipeline.baseline import StirBaseline
from service.pipeline.detect import CrampDetector
from service.pipeline.tuning import make_detector
from service.pipeline.movement import MinuteSummary, MovementSummarizer

MOVEMENT_BATCH_S = 30.0
"""Seconds of samples handed to the movement summary at once.  It reports whole minutes (the same
minutes for any batch size), and the night record writes its per-minute rows every 30 s anyway."""
DETECT_BATCH_S = 2.0
"""Seconds of samples handed to the detector at once (every second drain at the default 1 s).
Its decisions depend on sample time only (the same alert ``t`` for any batch size), so this adds at
most this much (1 s on average) to the real delay of an alert, and it halves the detector's cost
against feeding every drain: numpy's per-call overhead dominates batches this small
(docs/reliability.md)."""
COVERED_SLACK = 0.99  # a batch "covers" its span when within 1 % of it (sample periods jitter)


class SampleBuffer:
    """Batches of samples collected until they span enough time to hand on in one call."""

    def __init__(self):
        self._t: list[np.ndarray] = []
        self._a: list[np.ndarray] = []
        self._n = 0

    def add(self, t: np.ndarray, accel_g: np.ndarray) -> None:
        self._t.append(t)
        self._a.append(accel_g)
        self._n += len(t)

    def span_s(self) -> float:
        """Seconds of signal the samples cover: first to last plus one sample period (n samples, n periods)."""
        if self._n < 2:
            return 0.0
        first_to_last = float(self._t[-1][-1] - self._t[0][0])
        return first_to_last * self._n / (self._n - 1)

    def covers(self, seconds: float) -> bool:
        return self.span_s() >= COVERED_SLACK * seconds

    def take(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Everything collected, as one (t, accel_g) pair; None when empty."""
        if not self._t:
            return None
        t = self._t[0] if len(self._t) == 1 else np.concatenate(self._t)
        a = self._a[0] if len(self._a) == 1 else np.concatenate(self._a)
        self._t.clear()
        self._a.clear()
        self._n = 0
        return t, a


@dataclass
class LegOutput:
    """What one input produced: alert-policy events (in order) and completed movement minutes."""

    events: list[Event] = field(default_factory=list)
    minutes: list[MinuteSummary] = field(default_factory=list)

    def add(self, other: "LegOutput") -> "LegOutput":
        self.events += other.events
        self.minutes += other.minutes
        return self


class LegPipeline:
    """Detector, alert policy and movement summary of one leg, fed in batches."""

    def __init__(self, name: str, detection: DetectionConfig, prompts: PromptsConfig,
                 baseline: StirBaseline | None = None):
        """``baseline``: this sleeper's stirs, loaded by the caller from the state directory (kept across nights)."""
        self.name = name
        self.detector: CrampDetector = make_detector(detection, name, baseline)
        self.policy = AlertPolicy(prompts, name)
        self.movement = MovementSummarizer(name)
        self.sensor_ok = True
        self.last_t: float | None = None  # time of the newest sample seen, in or out of the night window
        self.to_movement = SampleBuffer()  # fed every MOVEMENT_BATCH_S
        self.to_detector = SampleBuffer()  # fed every DETECT_BATCH_S
        self._spans_opened = self._spans_closed = self._unalerted_seen = 0  # settled state reported so far

    # ------------------------------------------------------------ inputs

    def feed(self, t_mono: np.ndarray, accel_g: np.ndarray) -> LegOutput:
        """One batch of samples inside the night window."""
        out = LegOutput()
        self.to_movement.add(t_mono, accel_g)
        if self.to_movement.covers(MOVEMENT_BATCH_S):
            out.minutes += self.summarise()
        self.to_detector.add(t_mono, accel_g)
        if self.to_detector.covers(DETECT_BATCH_S):
            out.events += self.detect()
        out.events += self.policy.tick(float(t_mono[-1]))
        return out

    def detect(self) -> list[Event]:
        """Feed the waiting samples to the detector (disarmed too: the policy records, but does not alert)."""
        samples = self.to_detector.take()
        if samples is None:
            return []
        detections = self.detector.feed(*samples)
        return (self.policy.feed(detections) if detections else []) + self._settle_events()

    def summarise(self, close: bool = False) -> list[MinuteSummary]:
        """Hand the waiting samples to the movement summary; the minutes it completes."""
        samples = self.to_movement.take()
        minutes = self.movement.feed(*samples) if samples is not None else []
        if close:
            minutes += self.movement.close()
        return minutes

    def gap(self, t_start: float, t_end: float) -> list[Event]:
        """No samples from ``t_start`` to ``t_end``: the detector hears of it after what came before."""
        events = self.detect()
        return events + self.policy.feed(self.detector.gap(t_start, t_end)) + self._settle_events()

    def _settle_events(self) -> list[Event]:
        """The settled state for the night record (not alerts): an unsettled span opened (``unsettled``), closed
        (``settled``, with when it began and why), a cramp-like movement while unsettled (``unalerted_movement``).
        Read from the detector's ``unsettled_spans`` and ``unalerted`` since the last call."""
        d = self.detector
        out: list[Event] = []
        spans = d.unsettled_spans
        while self._spans_opened < len(spans):
            start, _end, reason = spans[self._spans_opened]
            out.append(Event(ev.UNSETTLED, start, self.name, None, {"reason": reason}))
            self._spans_opened += 1
        while self._spans_closed < len(spans) and spans[self._spans_closed][1] is not None:
            start, end, reason = spans[self._spans_closed]
            out.append(Event(ev.SETTLED, float(end), self.name, None,
                             {"onset": start, "unsettled_s": float(end) - start, "reason": reason}))
            self._spans_closed += 1
        while self._unalerted_seen < len(d.unalerted):
            onset, end = d.unalerted[self._unalerted_seen]
            out.append(Event(ev.UNALERTED, end, self.name, None, {"onset": onset, "duration_s": end - onset}))
            self._unalerted_seen += 1
        return out

    def set_sensor_ok(self, ok: bool) -> bool:
        """Record the sensor's state; whether it changed."""
        changed = self.sensor_ok != ok
        self.sensor_ok = ok
        return changed

    # ------------------------------------------------------------ the night

    def open_night(self, quiet_start: bool = True) -> None:
        """The night window opened: samples from before it are not part of this night.  ``quiet_start``:
        whether a quiet start may count as settled (the service started inside the night, not the window
        opening in the evening on a running service)."""
        self.detector.reset(quiet_start=quiet_start)
        self._spans_opened = self._spans_closed = self._unalerted_seen = 0
        self.to_detector.take()

    def close_night(self) -> LegOutput:
        """The night window closed: an episode in progress ends, the last minute is completed."""
        events = self.detect()
        events += self.policy.feed(self.detector.finish()) + self._settle_events()
        return LegOutput(events, self.summarise(close=True))

    def stop(self) -> LegOutput:
        """A clean stop inside the window: end an open episode (so ``cramp`` goes OFF), complete the minute."""
        events = self.detect()
        if self.detector.in_episode:
            events += self.policy.feed(self.detector.finish()) + self._settle_events()
        return LegOutput(events, self.summarise(close=True))

    # ------------------------------------------------------------ the alert policy

    @property
    def alerting(self) -> bool:
        return self.policy.alerting

    @property
    def settled(self) -> bool:
        """Whether this leg's sleeper has settled (alerts possible); False after start, walking, handling."""
        return self.detector.settled

    @property
    def baseline(self) -> StirBaseline:
        return self.detector.baseline

    @property
    def episode_id(self) -> str | None:
        return self.policy.episode_id

    def tick(self, t: float) -> list[Event]:
        """Time-driven prompts at monotonic ``t``, even when the sensor went quiet."""
        return self.policy.tick(t)
