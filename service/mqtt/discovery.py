"""Home Assistant MQTT discovery: the retained configs that announce one device, and their removal (pure).

The application sets these on the bridge as retained messages before it starts
(:func:`from_config`); the bridge sends them after every connect and whenever
Home Assistant says ``online``.  ``nightcramp forget`` publishes
:func:`discovery_removal` so an uninstalled device leaves no ghost behind.
"""

from __future__ import annotations

from typing import Any, Sequence

from firmware import __version__
from service import events as ev
from service.mqtt.commands import SNOOZE_MAX_MINUTES, SNOOZE_MIN_MINUTES
from service.mqtt.messages import OFF, OFFLINE, ON, ONLINE, SNOOZE_BUTTON_MINUTES, Message, Topics, json_payload

#: The oldest Home Assistant release these configs are written and tested for (support/ha_rules.py).
OLDEST_HA = "2024.3"

#: Device triggers offered to Home Assistant's automation editor.
TRIGGER_TYPES = (ev.CRAMP_START, ev.WARM_COMPRESS, ev.STRETCH_PROMPT)


def from_config(config, sw_version: str = __version__) -> list[Message]:
    """The configured device's discovery configs; none when ``mqtt.discovery`` is off."""
    if not config.mqtt.discovery:
        return []
    legs = [s.name for s in config.accelerometer.sensors]
    name = f"{config.device.name} (simulated)" if config.device.simulated else config.device.name
    return discovery(Topics.from_config(config), name, legs, sw_version)


def _device_block(topics: Topics, device_name: str, sw_version: str) -> dict[str, Any]:
    return {
        "identifiers": [f"nightcramp_{topics.device_id}"],
        "name": device_name,
        "model": "nightcramp leg-cramp alert",
        "manufacturer": "nightcramp project",
        "sw_version": sw_version,
    }


def _origin(sw_version: str) -> dict[str, str]:
    return {"name": "nightcramp", "sw_version": sw_version}


def _leg_label(leg: str, legs: Sequence[str]) -> str:
    return "" if len(legs) == 1 else f" {leg}"


def discovery(topics: Topics, device_name: str, legs: Sequence[str], sw_version: str) -> list[Message]:
    """Every Home Assistant discovery config of one device, retained.

    Entities: cramp in progress (binary_sensor, one per leg too when two are
    worn), events (event entity), room temperature, last night's cramp count,
    snoozed-until, labelled alarms (sensors), armed (switch), acknowledge, false alarm, snooze,
    test alert and "that was a cramp" (buttons), snooze for a chosen number of minutes (number),
    last night's chart (image), sensor problem per leg and storage problem (binary_sensors), and device
    triggers (cramp start, warm compress, stretch prompt) per leg.

    Every template gives a value Home Assistant accepts from :data:`OLDEST_HA`
    on, on every state message: before 2024.10 a ``timestamp`` sensor logs
    "Invalid state message" for anything that is not a date (``None``
    included), and a sensor that is not numeric shows ``None`` as text.  So
    the cramp count is numeric (``None`` is "unknown" there on every version),
    and "Snoozed until" is unavailable while nothing is snoozed (its template
    then gives the state's own time, never ``None``).
    """
    device = _device_block(topics, device_name, sw_version)
    avail = [{"topic": topics.status, "payload_available": ONLINE, "payload_not_available": OFFLINE}]
    origin = _origin(sw_version)
    out: list[Message] = []

    def entity(component: str, object_id: str, name: str, **options: Any) -> None:
        cfg = {"name": name, "unique_id": topics.unique_id(object_id), "device": device, "origin": origin,
               "availability": avail, **options}  # an entity may give its own availability list
        out.append(Message(topics.discovery(component, object_id), json_payload(cfg), qos=1, retain=True))

    entity("binary_sensor", "cramp", "Cramp", state_topic=topics.cramp, payload_on=ON, payload_off=OFF,
           icon="mdi:human-handsdown")
    if len(legs) > 1:
        for leg in legs:
            entity("binary_sensor", f"cramp_{leg}", f"Cramp {leg}", state_topic=topics.cramp_leg(leg),
                   payload_on=ON, payload_off=OFF, icon="mdi:human-handsdown")
    entity("event", "events", "Events", state_topic=topics.event, event_types=list(ev.EVENT_TYPES),
           icon="mdi:bell-ring")
    entity("sensor", "room_temperature", "Room temperature", state_topic=topics.temperature,
           value_template="{{ value_json.temperature_c }}", device_class="temperature",
           unit_of_measurement="°C", state_class="measurement", suggested_display_precision=1)
    entity("sensor", "last_night_cramps", "Last night's cramps", state_topic=topics.state,
           value_template="{{ value_json.last_night_cramps }}", state_class="measurement", icon="mdi:counter")
    entity("sensor", "labelled_alarms", "Labelled alarms", state_topic=topics.state,
           value_template="{{ value_json.labels.labelled_alarms if value_json.get('labels') else None }}",
           state_class="measurement", icon="mdi:tag-check", entity_category="diagnostic")
    snoozing = {"topic": topics.state, "value_template": "{{ 'online' if value_json.snoozed_until else 'offline' }}",
                "payload_available": ONLINE, "payload_not_available": OFFLINE}
    entity("sensor", "snoozed_until", "Snoozed until", state_topic=topics.state, device_class="timestamp",
           value_template="{{ value_json.snoozed_until or value_json.time }}", icon="mdi:alarm-snooze",
           availability=[*avail, snoozing], availability_mode="all")
    entity("number", "snooze_minutes", "Snooze for", state_topic=topics.state,
           command_topic=topics.command_named("snooze"), value_template="{{ value_json.snooze_minutes_left }}",
           min=SNOOZE_MIN_MINUTES, max=SNOOZE_MAX_MINUTES, step=1, mode="box", unit_of_measurement="min",
           icon="mdi:alarm-snooze")
    entity("image", "last_night_chart", "Last night's chart", image_topic=topics.chart, content_type="image/png",
           icon="mdi:chart-line")
    entity("switch", "armed", "Armed", state_topic=topics.state, command_topic=topics.command_named("armed"),
           value_template="{{ 'ON' if value_json.armed else 'OFF' }}", payload_on=ON, payload_off=OFF,
           state_on=ON, state_off=OFF, icon="mdi:shield-check")
    for object_id, name, icon, press in (
        ("acknowledge", "Acknowledge", "mdi:check-circle", "PRESS"),
        ("false_alarm", "False alarm", "mdi:close-circle", "PRESS"),
        ("snooze", f"Snooze {SNOOZE_BUTTON_MINUTES} min", "mdi:alarm-snooze", str(SNOOZE_BUTTON_MINUTES)),
        ("test_alert", "Test alert", "mdi:bell-check", "PRESS"),
        ("missed_cramp", "That was a cramp", "mdi:alert-plus", "PRESS"),
    ):
        entity("button", object_id, name, command_topic=topics.command_named(object_id), payload_press=press,
               icon=icon)
    for leg in legs:
        entity("binary_sensor", f"sensor_{leg}", f"Sensor{_leg_label(leg, legs)}", state_topic=topics.state,
               device_class="problem", entity_category="diagnostic",
               value_template=f"{{{{ 'OFF' if value_json.sensors.get('{leg}', 'ok') == 'ok' else 'ON' }}}}",
               payload_on=ON, payload_off=OFF)
    # The night record or the outbox cannot be opened or written (alerts go on; docs/reliability.md).
    entity("binary_sensor", "storage", "Storage", state_topic=topics.state, device_class="problem",
           entity_category="diagnostic", value_template="{{ 'OFF' if value_json.get('storage_ok', true) else 'ON' }}",
           payload_on=ON, payload_off=OFF, icon="mdi:harddisk-remove")
    for leg in legs:
        for trigger in TRIGGER_TYPES:
            object_id = f"{trigger}_{leg}"
            cfg = {"automation_type": "trigger", "topic": topics.event, "type": trigger, "subtype": leg,
                   "value_template": "{{ value_json.event_type }}:{{ value_json.leg }}",
                   "payload": f"{trigger}:{leg}", "device": device, "origin": origin}
            out.append(Message(topics.discovery("device_automation", object_id), json_payload(cfg), qos=1, retain=True))
    return out


def discovery_removal(topics: Topics, legs: Sequence[str]) -> list[Message]:
    """Empty retained payloads on every discovery topic of the device: Home Assistant deletes the entities."""
    return [Message(m.topic, b"", qos=1, retain=True) for m in discovery(topics, "", legs, "")]
