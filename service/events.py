"""Events that flow from the detector and alert policy to the store, outbox and MQTT.

An :class:`Event` carries time only on the sample clock (``t``, seconds, the
same clock as ``AccelBatch.t_mono``); the daemon stamps wall-clock time and a
unique id when it hands an event on (:class:`StampedEvent`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

# Event types. The first five are the replay contract (docs/signals.md, "Replay contract").
CRAMP_START = "cramp_start"
CRAMP_UPDATE = "cramp_update"
CRAMP_END = "cramp_end"
WARM_COMPRESS = "warm_compress"
STRETCH_PROMPT = "stretch_prompt"
SENSOR_FAULT = "sensor_fault"
SENSOR_RECOVERED = "sensor_recovered"
TEST_ALERT = "test_alert"
ACKNOWLEDGED = "acknowledged"
FALSE_ALARM = "false_alarm"
MISSED_CRAMP = "missed_cramp"  # the sleeper says a cramp happened that raised no alarm
# The settled state (docs/detection.md, "Settled first"): no alert is possible while a leg is unsettled.
SETTLED = "settled"  # fields: onset (sample clock: when the unsettled span began), unsettled_s, reason
UNSETTLED = "unsettled"  # fields: reason (start, walking, handling)
UNALERTED = "unalerted_movement"  # a cramp-like movement while unsettled, no alert; fields: onset, duration_s

EVENT_TYPES = (
    CRAMP_START,
    CRAMP_UPDATE,
    CRAMP_END,
    WARM_COMPRESS,
    STRETCH_PROMPT,
    SENSOR_FAULT,
    SENSOR_RECOVERED,
    TEST_ALERT,
    ACKNOWLEDGED,
    FALSE_ALARM,
    MISSED_CRAMP,
    SETTLED,
    UNSETTLED,
    UNALERTED,
)


@dataclass(frozen=True)
class Event:
    """Something that happened, on the sample clock.

    ``fields`` holds the type-specific data (for ``cramp_start``: ``onset``,
    ``intensity``; for ``stretch_prompt``: ``stretch``, ``hold_s``; ...).
    """

    type: str
    t: float
    leg: str = "leg"
    episode_id: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        """The replay-contract form: ``type``, ``t`` and the fields, ``id`` when in an episode."""
        out: dict[str, Any] = {"type": self.type, "t": round(self.t, 3), "leg": self.leg}
        if self.episode_id is not None:
            out["id"] = self.episode_id
        for key, value in self.fields.items():
            out[key] = round(value, 3) if isinstance(value, float) else value
        return out


def new_id() -> str:
    """A fresh unique id for an episode or an event (subscribers deduplicate by it)."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class StampedEvent:
    """An event with its unique id and wall-clock time (ISO 8601 with offset)."""

    event_id: str
    wall_time: str
    event: Event
