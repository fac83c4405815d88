"""The MQTT messages nightcramp sends, built as pure data.

Functions here return :class:`Message` objects; :mod:`service.mqtt.client` only sends
them.  Every topic fragment lives in :class:`Topics`, so the topic tree in
docs/mqtt.md can be read off one class.  Nothing here does I/O, reads a clock
or imports paho: wall-clock times arrive already stamped (ISO 8601 with offset).
Episode messages (which remember the previous snapshot) are built by
:mod:`service.mqtt.episodes`, Home Assistant discovery by :mod:`service.mqtt.discovery`.

Topic tree under the base topic (default ``nightcramp/<device_id>``)::

    status              online / offline            retained, last will
    state               JSON service state          retained
    temperature         JSON room temperature       retained, once a minute
    cramp               ON / OFF (any leg)          retained
    cramp/<leg>         ON / OFF (two legs only)    retained
    event               JSON, every event           QoS 1 via the outbox
    episode             JSON start/update/end       QoS 1 via the outbox (Frigate-like)
    log/latest          JSON morning log            retained, via the outbox
    log/<YYYY-MM-DD>    JSON morning log            retained, via the outbox
    chart               PNG of last night's chart   retained, via the outbox (HA image entity)
    error               JSON command errors         QoS 1
    dropped             JSON outbox overflow notice QoS 1
    cmd, cmd/<name>     commands (subscribed)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

from service import events as ev

ONLINE = "online"
OFFLINE = "offline"
ON = "ON"
OFF = "OFF"

#: Default snooze of the Home Assistant "Snooze" button, in minutes.
SNOOZE_BUTTON_MINUTES = 30

#: The largest morning chart published on ``<base>/chart``, in bytes.  The chart is about 60 KB
#: (1000 x 500 px); a PNG far beyond that is not one we drew, and brokers and Home Assistant's
#: recorder are happier with messages well under a megabyte.
CHART_MAX_BYTES = 512 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Outbox drop priority: when the outbox is full, the oldest row of the lowest priority goes first.
PRIORITY_DROPPABLE = 0  # cramp updates: the next update or the end supersedes them
PRIORITY_NORMAL = 1  # prompts, faults, acknowledgements, the morning log
PRIORITY_KEEP = 2  # cramp start and end: the record of what happened
_EVENT_PRIORITY = {ev.CRAMP_UPDATE: PRIORITY_DROPPABLE, ev.CRAMP_START: PRIORITY_KEEP, ev.CRAMP_END: PRIORITY_KEEP}
# Events whose messages the outbox keeps in memory only (never written to its file; lost at a restart): a cramp
# update is superseded by the next update or the episode's end, which is durable (docs/mqtt.md, "Outbox").
VOLATILE_EVENTS = frozenset({ev.CRAMP_UPDATE})

# Sample-clock fields (seconds, same clock as Event.t) that are also given as wall-clock times.
_SAMPLE_CLOCK_FIELDS = ("onset", "end")


@dataclass(frozen=True)
class Message:
    """One MQTT publish: the MQTT client sends it as it is."""

    topic: str
    payload: bytes | str
    qos: int = 0
    retain: bool = False

    def payload_bytes(self) -> bytes:
        return self.payload.encode("utf-8") if isinstance(self.payload, str) else bytes(self.payload)


@dataclass(frozen=True)
class Topics:
    """The one place topic fragments live.

    ``base`` is ``mqtt.base_topic`` (default ``nightcramp/<device_id>``), which
    makes every topic of two devices on one broker distinct; ``device_id`` goes
    into every Home Assistant ``node_id`` and ``unique_id`` for the same reason.
    """

    base: str
    device_id: str
    discovery_prefix: str = "homeassistant"

    @classmethod
    def from_config(cls, config) -> "Topics":
        return cls(base=config.base_topic, device_id=config.device.id, discovery_prefix=config.mqtt.discovery_prefix)

    def _t(self, *parts: str) -> str:
        return "/".join((self.base, *parts))

    @property
    def status(self) -> str:
        return self._t("status")

    @property
    def state(self) -> str:
        return self._t("state")

    @property
    def temperature(self) -> str:
        return self._t("temperature")

    @property
    def cramp(self) -> str:
        return self._t("cramp")

    def cramp_leg(self, leg: str) -> str:
        return self._t("cramp", leg)

    @property
    def event(self) -> str:
        return self._t("event")

    @property
    def episode(self) -> str:
        return self._t("episode")

    @property
    def log_latest(self) -> str:
        return self._t("log", "latest")

    def log_night(self, night_date: str) -> str:
        return self._t("log", night_date)

    @property
    def chart(self) -> str:
        """Last night's chart, PNG bytes (Home Assistant's ``image`` entity reads it)."""
        return self._t("chart")

    @property
    def error(self) -> str:
        return self._t("error")

    @property
    def dropped(self) -> str:
        return self._t("dropped")

    @property
    def command(self) -> str:
        """``<base>/cmd``: JSON ``{"command": ...}``."""
        return self._t("cmd")

    def command_named(self, name: str) -> str:
        """``<base>/cmd/<name>``: the payload carries only the options (HA buttons send ``PRESS``)."""
        return self._t("cmd", name)

    @property
    def command_subscriptions(self) -> tuple[str, ...]:
        return (self.command, self._t("cmd", "+"))

    @property
    def ha_status(self) -> str:
        """Where Home Assistant announces ``online``/``offline`` (re-send discovery on ``online``)."""
        return f"{self.discovery_prefix}/status"

    def discovery(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.device_id}/{object_id}/config"

    def unique_id(self, object_id: str) -> str:
        return f"nightcramp_{self.device_id}_{object_id}"


def json_payload(data: Any) -> str:
    """Compact JSON text of a payload (UTF-8 kept, NaN refused: :func:`tidy` it first)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=_json_default, allow_nan=False)


def _json_default(value: Any) -> Any:
    """numpy scalars and other odd values from the alert policy's fields."""
    item = getattr(value, "item", None)
    if callable(item):
        return tidy(item())
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def tidy(value: Any) -> Any:
    """Floats rounded to 3 decimals (ms, mg, m°C are plenty); NaN and infinities become null."""
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): tidy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [tidy(v) for v in value]
    return value


# ---------------------------------------------------------------- availability, state, temperature


def availability(topics: Topics, online: bool) -> Message:
    """Retained ``online``/``offline`` on ``<base>/status`` (``offline`` is also the last will)."""
    return Message(topics.status, ONLINE if online else OFFLINE, qos=1, retain=True)


SENSOR_FAULT_MAX_CHARS = 400  # a reason with its wiring hints fits; the state stays small


@dataclass(frozen=True)
class ServiceState:
    """What the service is doing now, published retained on ``<base>/state``.

    ``sensors`` maps each leg to ``"ok"`` or ``"fault"``; ``sensor_faults`` maps
    each leg in fault to why (``not found: ...`` for a sensor that has not
    answered since the start, ``no data for 12 s (...)``, ``stuck: ...``);
    ``episodes`` maps each
    leg to the id of its episode in progress (or None).  ``snoozed_until`` is
    ISO 8601 with offset, or None.  ``time`` is when this state was taken
    (ISO 8601); the published ``snooze_minutes_left`` is derived from the two.
    """

    armed: bool = True
    in_night_window: bool = False
    sensors: Mapping[str, str] = field(default_factory=dict)
    sensor_faults: Mapping[str, str] = field(default_factory=dict)
    episodes: Mapping[str, str | None] = field(default_factory=dict)
    room_temp_c: float | None = None
    snoozed_until: str | None = None
    last_night_cramps: int | None = None
    time: str | None = None
    simulated: bool = False  # emulated sensor and room (device.simulated): "simulated": true in the payload
    labels: Mapping[str, int] | None = None  # the kept snippets by label (service.learning.summary.tally)
    settled: Mapping[str, bool] | None = None  # per leg: the sleeper has settled, alerts possible (docs/detection.md)
    # The night record's and the outbox's storage (service.storagefault.FaultStatus.as_dict per file);
    # "storage_ok" is false while either is in a fault.
    storage: Mapping[str, Mapping[str, Any]] | None = None


def state(topics: Topics, st: ServiceState) -> Message:
    """The retained state JSON (Home Assistant's switch, sensor-problem and count entities read it)."""
    payload = {
        "armed": bool(st.armed),
        "in_night_window": bool(st.in_night_window),
        "sensor_ok": all(v == "ok" for v in st.sensors.values()),
        "sensors": dict(st.sensors),
        "sensor_faults": {leg: str(why)[:SENSOR_FAULT_MAX_CHARS] for leg, why in st.sensor_faults.items()},
        "episode_in_progress": any(st.episodes.values()),
        "episodes": {leg: eid for leg, eid in st.episodes.items()},
        "room_temp_c": st.room_temp_c,
        "snoozed_until": st.snoozed_until,
        "snooze_minutes_left": snooze_minutes_left(st.snoozed_until, st.time),
        "last_night_cramps": st.last_night_cramps,
        "time": st.time,
    }
    if st.simulated:
        payload["simulated"] = True
    if st.labels is not None:
        payload["labels"] = dict(st.labels)
    if st.settled is not None:
        payload["settled"] = bool(st.settled) and all(st.settled.values())
        payload["settled_legs"] = {leg: bool(v) for leg, v in st.settled.items()}
    storage = {name: dict(v) for name, v in (st.storage or {}).items()}
    payload["storage_ok"] = all(v.get("status") == "ok" for v in storage.values())
    if storage:
        payload["storage"] = storage
    return Message(topics.state, json_payload(tidy(payload)), qos=1, retain=True)


def snooze_minutes_left(snoozed_until: str | None, now: str | None) -> int:
    """Whole minutes of snooze left at ``now`` (rounded up: 30 s left is 1), 0 when not snoozed.

    Home Assistant's snooze ``number`` shows it; both times are ISO 8601 with offset.
    """
    if not snoozed_until or not now:
        return 0
    try:
        left_s = (datetime.fromisoformat(snoozed_until) - datetime.fromisoformat(now)).total_seconds()
    except (ValueError, TypeError):
        return 0
    return max(0, math.ceil(left_s / 60.0 - 1e-9))


def temperature(topics: Topics, temp_c: float, time: str, humidity_pct: float | None = None,
                sensor: str | None = None) -> Message:
    """Retained room temperature in °C (the daemon sends it once a minute)."""
    payload = {"temperature_c": temp_c, "humidity_pct": humidity_pct, "sensor": sensor, "time": time}
    return Message(topics.temperature, json_payload(tidy(payload)), qos=1, retain=True)


def cramp_binary(topics: Topics, legs: Sequence[str], in_progress: Iterable[str]) -> list[Message]:
    """Retained ON/OFF: ``<base>/cramp`` for any leg, plus ``<base>/cramp/<leg>`` when two legs are worn."""
    active = set(in_progress)
    out = [Message(topics.cramp, ON if active else OFF, qos=1, retain=True)]
    if len(legs) > 1:
        out += [Message(topics.cramp_leg(leg), ON if leg in active else OFF, qos=1, retain=True) for leg in legs]
    return out


# ---------------------------------------------------------------- events


def _shift(wall_iso: str, seconds_earlier: float) -> str:
    dt = datetime.fromisoformat(wall_iso)
    return (dt - timedelta(seconds=seconds_earlier)).isoformat(timespec="milliseconds")


def event_payload(topics: Topics, stamped: ev.StampedEvent) -> dict[str, Any]:
    """The JSON object published on ``<base>/event`` for any event.

    ``type`` and ``event_type`` (what HA's event entity reads) are the same.
    ``t`` is on the sample clock; fields on that clock (``onset``, ``end``) are
    also given as wall-clock ISO 8601 (``onset_time``), computed from the stamp:
    the daemon stamps an event when the alert policy emits it, at sample time ``t``.
    """
    e = stamped.event
    out: dict[str, Any] = {
        "event_id": stamped.event_id,
        "type": e.type,
        "event_type": e.type,
        "time": stamped.wall_time,
        "device": topics.device_id,
        "leg": e.leg,
        "episode_id": e.episode_id,
        "t": e.t,
    }
    for key, value in e.fields.items():
        if key in out:
            continue
        out[key] = value
        if key in _SAMPLE_CLOCK_FIELDS and isinstance(value, (int, float)) and math.isfinite(value):
            out[f"{key}_time"] = _shift(stamped.wall_time, float(e.t) - float(value))
    return tidy(out)


def event_priority(event_type: str) -> int:
    """How reluctantly the outbox drops this event when full (see PRIORITY_*)."""
    return _EVENT_PRIORITY.get(event_type, PRIORITY_NORMAL)


def event_volatile(event_type: str) -> bool:
    """True when the outbox keeps this event's messages in memory only (see VOLATILE_EVENTS)."""
    return event_type in VOLATILE_EVENTS


# ---------------------------------------------------------------- morning log, errors, drops


def morning_log(topics: Topics, night_date: str, log: Mapping[str, Any]) -> list[Message]:
    """The morning log, retained on ``<base>/log/latest`` and ``<base>/log/<YYYY-MM-DD>``."""
    payload = json_payload(tidy(dict(log)))
    return [Message(topics.log_latest, payload, qos=1, retain=True),
            Message(topics.log_night(night_date), payload, qos=1, retain=True)]


def chart_image(topics: Topics, png: bytes) -> Message:
    """Last night's chart, retained PNG bytes on ``<base>/chart``; ValueError if not a PNG or too large."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("the morning chart is not a PNG")
    if len(png) > CHART_MAX_BYTES:
        raise ValueError(f"the morning chart is {len(png)} bytes (at most {CHART_MAX_BYTES} are published)")
    return Message(topics.chart, bytes(png), qos=1, retain=True)


def payload_excerpt(payload: bytes, limit: int = 64) -> str:
    """The first ``limit`` bytes of a payload, readable whatever they hold (for error messages)."""
    text = payload[:limit].decode("utf-8", errors="backslashreplace")
    return text + ("..." if len(payload) > limit else "")


def command_error(topics: Topics, topic: str, error: str, payload: bytes, time: str | None = None) -> Message:
    """What a rejected command gets on ``<base>/error``: the reason, the topic and an excerpt."""
    body = {"error": error, "topic": topic, "payload": payload_excerpt(payload), "size": len(payload), "time": time}
    return Message(topics.error, json_payload(body), qos=1, retain=False)


def dropped_notice(topics: Topics, dropped: Mapping[str, Any], total: int) -> Message:
    """Said on ``<base>/dropped`` when a full outbox had to drop an undelivered message."""
    return Message(topics.dropped, json_payload(tidy({"dropped": dict(dropped), "dropped_total": total})), qos=1)
