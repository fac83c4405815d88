"""Episode tracking: an event's MQTT messages, with the episode's previous snapshot (pure).

The application hands each stamped event to :class:`EpisodeTracker` and gives
the messages it returns to the bridge: the outbox messages go through
:meth:`~service.mqtt.client.MQTTBridge.send`, the retained cramp topics through
:meth:`~service.mqtt.client.MQTTBridge.set_retained`.  Nothing here does I/O or
reads a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from service import events as ev
from service.mqtt.messages import (Message, Topics, cramp_binary, event_payload, event_priority,
                                   event_volatile, json_payload)

#: Episode event type -> Frigate-like ``type`` on ``<base>/episode``.
EPISODE_PHASES = {ev.CRAMP_START: "start", ev.CRAMP_UPDATE: "update", ev.CRAMP_END: "end"}


@dataclass(frozen=True)
class EventMessages:
    """What one event produces: messages for the outbox (QoS 1, in order) and retained state."""

    outbox: list[Message]
    retained: list[Message]
    priority: int
    volatile: bool = False  # the outbox keeps them in memory only (a cramp update: superseded by the next)


class EpisodeTracker:
    """Turns events into messages, remembering each episode's last snapshot.

    Pure (no I/O, no clock): it holds the ``after`` snapshot of each episode in
    progress so the next ``update``/``end`` can carry it as ``before``, as
    Frigate's event stream does, and knows which legs have a cramp for the
    retained ``<base>/cramp`` topics.  After a restart the first message of an
    episode that was in progress has ``before: null``.
    """

    def __init__(self, topics: Topics, legs: Sequence[str]):
        self.topics = topics
        self.legs = tuple(legs)
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._leg_episode: dict[str, str] = {}
        self._onset_t: dict[str, float] = {}  # episode id -> onset on the sample clock

    @classmethod
    def from_config(cls, config) -> "EpisodeTracker":
        """A tracker for the configured device and its legs."""
        return cls(Topics.from_config(config), [s.name for s in config.accelerometer.sensors])

    def initial_retained(self) -> list[Message]:
        """Cramp topics at service start: no episode is in progress."""
        return cramp_binary(self.topics, self.legs, ())

    def messages(self, stamped: ev.StampedEvent) -> EventMessages:
        """The event on ``<base>/event``; for an episode event also ``<base>/episode`` and, when the
        set of legs with a cramp changed, the retained cramp topics."""
        e = stamped.event
        payload = event_payload(self.topics, stamped)
        outbox = [Message(self.topics.event, json_payload(payload), qos=1, retain=False)]
        retained: list[Message] = []
        phase = EPISODE_PHASES.get(e.type)
        if phase is not None:
            episode_id = e.episode_id or stamped.event_id
            before = self._snapshots.get(episode_id)
            after = self._snapshot(before, stamped, payload, episode_id)
            frigate = {
                "type": phase,
                "event_id": stamped.event_id,
                "episode_id": episode_id,
                "time": stamped.wall_time,
                "device": self.topics.device_id,
                "leg": e.leg,
                "before": before,
                "after": after,
            }
            outbox.append(Message(self.topics.episode, json_payload(frigate), qos=1, retain=False))
            was_active = set(self._leg_episode)
            if phase == "end":
                self._snapshots.pop(episode_id, None)
                if self._leg_episode.get(e.leg) == episode_id:
                    del self._leg_episode[e.leg]
            else:
                self._snapshots[episode_id] = after
                self._leg_episode[e.leg] = episode_id
            if set(self._leg_episode) != was_active:
                retained = cramp_binary(self.topics, self.legs, self._leg_episode)
        return EventMessages(outbox=outbox, retained=retained, priority=event_priority(e.type),
                             volatile=event_volatile(e.type))

    def _snapshot(self, before: dict[str, Any] | None, stamped: ev.StampedEvent, payload: Mapping[str, Any],
                  episode_id: str) -> dict[str, Any]:
        e = stamped.event
        snap: dict[str, Any] = dict(before) if before else {
            "id": episode_id,
            "leg": e.leg,
            "start_time": stamped.wall_time,
            "onset_time": None,
            "end_time": None,
            "duration_s": None,
            "intensity": None,
            "room_temp_c": None,
        }
        snap["updated_time"] = stamped.wall_time
        for key in ("onset_time", "intensity", "room_temp_c", "duration_s"):
            if payload.get(key) is not None:
                snap[key] = payload[key]
        onset = e.fields.get("onset")
        if isinstance(onset, (int, float)) and math.isfinite(onset):
            self._onset_t[episode_id] = float(onset)
        if payload.get("duration_s") is None and episode_id in self._onset_t:
            snap["duration_s"] = round(float(e.t) - self._onset_t[episode_id], 3)
        if e.type == ev.CRAMP_END:
            snap["end_time"] = stamped.wall_time
            self._onset_t.pop(episode_id, None)
        return snap
