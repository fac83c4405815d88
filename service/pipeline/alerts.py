"""The alert policy: detector episodes, user commands and time in; service events out.

Pure, like the detector: every method takes the time on the sample clock and
returns the :class:`~service.events.Event` list it produced; nothing here
sounds a buzzer or publishes.  The daemon turns ``cramp_start`` (when
``fields["alert"]`` is true) into the local alarm and stops it on
``acknowledged``.

Rules:
- ``cramp_start`` when the detector raises an episode (fields: ``onset``,
  ``intensity`` in g RMS, ``room_temp_c`` when known, ``snoozed``, ``alert``).
- ``cramp_update`` at most every ``prompts.update_interval_s`` while it lasts
  (driven by the detector's updates, so independent of how often ``tick`` runs).
- ``warm_compress`` ``warm_compress_after_s`` and ``stretch_prompt``
  ``stretch_after_s`` after the alert: once per episode, only while it lasts,
  never after the user acknowledged it, never while snoozed or disarmed.
- ``cramp_end`` when the leg settles (``onset``, ``duration_s``, ``intensity``,
  ``acknowledged``).
- Snoozed or disarmed: episodes are still reported (the night record wants
  them) with ``snoozed``/``alert`` telling the daemon not to wake anyone.
"""

from __future__ import annotations

from dataclasses import dataclass

from service import events as ev
from service.config import PromptsConfig
from service.pipeline.detect import DetectorEvent
from service.events import Event, new_id

STRETCH_TEXT = {
    "calf": "Straighten the leg and pull your toes gently toward your shin; hold, breathe, release slowly.",
    "foot": "Pull your toes up toward your shin and spread them; massage the arch of the foot.",
    "hamstring": "Sit with the leg straight and reach gently toward your toes; keep the knee soft.",
}

WARM_TEXT = "A warm compress or a warm towel on the calf helps the muscle relax."
COLD_ROOM_TEXT = "The room is cold ({temp:.1f} °C): warmth on the calf helps; consider another blanket."
HOT_ROOM_TEXT = "The room is warm ({temp:.1f} °C): drink some water; heat and sweating make cramps likelier."


@dataclass
class _Episode:
    id: str
    onset: float
    alert_t: float
    intensity: float
    alert: bool
    snoozed: bool
    acknowledged: bool = False
    false_alarm: bool = False
    warm_sent: bool = False
    stretch_sent: bool = False
    last_update_t: float = 0.0


class AlertPolicy:
    """Turns detector events into service events for one leg, on the sample clock."""

    def __init__(self, prompts: PromptsConfig, leg: str = "leg"):
        self.prompts = prompts
        self.leg = leg
        self.armed = True
        self.snoozed_until: float | None = None
        self.room_temp_c: float | None = None
        self._episode: _Episode | None = None

    # ------------------------------------------------------------ state for the daemon

    @property
    def episode_id(self) -> str | None:
        """Id of the open episode, or None."""
        return self._episode.id if self._episode else None

    @property
    def alerting(self) -> bool:
        """True while an episode is sounding an alert nobody has acknowledged (drives the buzzer)."""
        e = self._episode
        return bool(e and e.alert and not e.acknowledged)

    # ------------------------------------------------------------ inputs

    def set_room_temp(self, temp_c: float | None) -> None:
        """The latest room temperature in C (None: unknown)."""
        self.room_temp_c = temp_c

    def arm(self, armed: bool) -> None:
        """Disarmed: episodes are still recorded, but nobody is alerted or prompted."""
        self.armed = bool(armed)

    def snooze(self, t: float, minutes: float) -> list[Event]:
        """No alerts until ``t + minutes`` (0 cancels the snooze); returns no events."""
        self.snoozed_until = t + minutes * 60.0 if minutes > 0 else None
        if self._episode and minutes > 0:
            self._episode.alert = False
            self._episode.snoozed = True
        return []

    def is_snoozed(self, t: float) -> bool:
        return self.snoozed_until is not None and t < self.snoozed_until

    def feed(self, detector_events: list[DetectorEvent]) -> list[Event]:
        """Translate the detector's events; prompts that fell due before each are emitted first."""
        out: list[Event] = []
        for d in detector_events:
            out += self.tick(d.t)
            if d.kind == "start":
                out += self._start(d)
            elif d.kind == "update":
                out += self._update(d.t, d.intensity)
            elif d.kind == "end":
                out += self._end(d)
        return out

    def tick(self, t: float) -> list[Event]:
        """Time has reached ``t``: the prompts that fell due, stamped at their due time.

        Updates come from the detector's own ``update`` events (every few
        seconds of sample time), so the output does not depend on how often
        the caller ticks.
        """
        e = self._episode
        if e is None:
            return []
        out: list[Event] = []
        due: list[tuple[float, str]] = []
        prompting = e.alert and not e.acknowledged and not e.false_alarm
        p = self.prompts
        if prompting and p.warm_compress and not e.warm_sent and t >= e.alert_t + p.warm_compress_after_s:
            due.append((e.alert_t + p.warm_compress_after_s, ev.WARM_COMPRESS))
        if prompting and p.stretch and not e.stretch_sent and t >= e.alert_t + p.stretch_after_s:
            due.append((e.alert_t + p.stretch_after_s, ev.STRETCH_PROMPT))
        for when, kind in sorted(due):
            if kind == ev.WARM_COMPRESS:
                e.warm_sent = True
                out.append(self._event(kind, when, self._warm_fields()))
            else:
                e.stretch_sent = True
                out.append(self._event(kind, when, {
                    "stretch": p.stretch_name,
                    "hold_s": p.stretch_hold_s,
                    "text": STRETCH_TEXT.get(p.stretch_name, STRETCH_TEXT["calf"]),
                }))
        return out

    def acknowledge(self, t: float) -> list[Event]:
        """The sleeper pressed the button (or the HA action): stop the buzzer and the prompts."""
        e = self._episode
        if e is not None:
            e.acknowledged = True
        return [self._event(ev.ACKNOWLEDGED, t, {"episode_open": e is not None, "stop_buzzer": True})]

    def false_alarm(self, t: float, episode_id: str | None = None) -> list[Event]:
        """The sleeper says an episode (default: the open or last one) was not a cramp."""
        e = self._episode
        target = episode_id or (e.id if e else None)
        if e is not None and target == e.id:
            e.false_alarm = True
            e.acknowledged = True
        return [Event(ev.FALSE_ALARM, t, self.leg, target, {"stop_buzzer": True})]

    def test_alert(self, t: float, request_id: str | None = None) -> list[Event]:
        """A test alert (button long-press or ``nightcramp test-alert``, which waits for its ``request_id``)."""
        fields = {"text": "nightcramp test alert"}
        if request_id:
            fields["request_id"] = request_id
        return [Event(ev.TEST_ALERT, t, self.leg, None, fields)]

    # ------------------------------------------------------------ internals

    def _event(self, kind: str, t: float, fields: dict) -> Event:
        return Event(kind, t, self.leg, self._episode.id if self._episode else None, fields)

    def _warm_fields(self) -> dict:
        temp = self.room_temp_c
        fields: dict = {"text": WARM_TEXT}
        if temp is not None:
            fields["room_temp_c"] = round(float(temp), 1)
            if temp < self.prompts.cold_room_c:
                fields["hint"] = COLD_ROOM_TEXT.format(temp=temp)
            elif temp > self.prompts.hot_room_c:
                fields["hint"] = HOT_ROOM_TEXT.format(temp=temp)
        return fields

    def _start(self, d: DetectorEvent) -> list[Event]:
        out: list[Event] = []
        if self._episode is not None:  # the detector never overlaps episodes; be safe anyway
            out += self._end(DetectorEvent("end", d.t, self._episode.onset, d.t - self._episode.onset,
                                           self._episode.intensity))
        snoozed = self.is_snoozed(d.t)
        alert = self.armed and not snoozed
        self._episode = _Episode(new_id(), d.onset, d.t, d.intensity, alert, snoozed or not self.armed,
                                 last_update_t=d.t)
        fields = {"onset": d.onset, "intensity": d.intensity, "snoozed": snoozed, "armed": self.armed,
                  "alert": alert}
        if self.room_temp_c is not None:
            fields["room_temp_c"] = round(float(self.room_temp_c), 1)
        out.append(self._event(ev.CRAMP_START, d.t, fields))
        return out + self.tick(d.t)

    def _update(self, t: float, intensity: float) -> list[Event]:
        e = self._episode
        if e is None:
            return []
        e.intensity = intensity
        if t - e.last_update_t < self.prompts.update_interval_s:
            return []
        e.last_update_t = t
        return [self._event(ev.CRAMP_UPDATE, t, {"duration_s": t - e.onset, "intensity": intensity})]

    def _end(self, d: DetectorEvent) -> list[Event]:
        e = self._episode
        if e is None:
            return []
        out = [self._event(ev.CRAMP_END, d.t, {
            "onset": e.onset,
            "duration_s": d.duration_s,
            "intensity": d.intensity,
            "acknowledged": e.acknowledged,
            "snoozed": e.snoozed,
            "false_alarm": e.false_alarm,
        })]
        self._episode = None
        return out
