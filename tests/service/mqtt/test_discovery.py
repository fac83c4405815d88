"""Home Assistant discovery: complete, unique across devices, and removable."""

from __future__ import annotations

import json

from service import events as ev
from service.mqtt import discovery
from service.mqtt import messages as msgs
from support.mqtt_helpers import make_config


def topics(device_id="bed1"):
    return msgs.Topics.from_config(make_config(device_id=device_id))


def _discovery(device_id, legs=("leg",)):
    return discovery.discovery(topics(device_id), f"Bed {device_id}", list(legs), "1.2.3")


def test_discovery_configs_are_complete_and_unique_across_devices():
    one, two = _discovery("bed1"), _discovery("bed2", ("left", "right"))
    unique_ids, discovery_topics = [], []
    for m in one + two:
        assert m.retain
        cfg = json.loads(m.payload)
        prefix, component, node_id, object_id, last = m.topic.split("/")
        assert prefix == "homeassistant" and last == "config" and node_id in ("bed1", "bed2")
        assert cfg["device"]["identifiers"] == [f"nightcramp_{node_id}"]
        assert {"name", "model", "manufacturer", "sw_version"} <= set(cfg["device"])
        discovery_topics.append(m.topic)
        if component == "device_automation":
            assert cfg["automation_type"] == "trigger" and cfg["topic"] == f"nightcramp/{node_id}/event"
            continue
        unique_ids.append(cfg["unique_id"])
        assert node_id in cfg["unique_id"]
        assert cfg["availability"][0]["topic"] == f"nightcramp/{node_id}/status"
        for key in ("state_topic", "command_topic"):
            if key in cfg:
                assert cfg[key].startswith(f"nightcramp/{node_id}/")
    assert len(unique_ids) == len(set(unique_ids))
    assert len(discovery_topics) == len(set(discovery_topics))


def test_discovery_offers_every_documented_entity():
    by_obj = {m.topic.split("/")[3]: (m.topic.split("/")[1], json.loads(m.payload))
              for m in _discovery("bed2", ("left", "right"))}
    assert by_obj["cramp"][0] == "binary_sensor" and by_obj["cramp_left"][0] == "binary_sensor"
    assert by_obj["cramp_right"][1]["state_topic"] == "nightcramp/bed2/cramp/right"
    assert by_obj["events"][0] == "event" and set(ev.EVENT_TYPES) <= set(by_obj["events"][1]["event_types"])
    temp = by_obj["room_temperature"][1]
    assert temp["device_class"] == "temperature" and temp["unit_of_measurement"] == "°C"
    assert by_obj["last_night_cramps"][0] == "sensor"
    assert by_obj["armed"][0] == "switch" and by_obj["armed"][1]["command_topic"] == "nightcramp/bed2/cmd/armed"
    for button in ("acknowledge", "test_alert", "snooze", "false_alarm"):
        assert by_obj[button][0] == "button"
    assert by_obj["sensor_left"][1]["device_class"] == "problem"
    triggers = {(c["type"], c["subtype"]) for comp, c in by_obj.values() if comp == "device_automation"}
    assert triggers == {(t, leg) for t in discovery.TRIGGER_TYPES for leg in ("left", "right")}


def test_discovery_removal_empties_every_config():
    removal = discovery.discovery_removal(topics(), ["leg"])
    assert {m.topic for m in removal} == {m.topic for m in _discovery("bed1")}
    assert all(m.payload == b"" and m.retain for m in removal)


def test_discovery_follows_the_configuration():
    two_legs = make_config(legs=("left", "right"))
    configs = discovery.from_config(two_legs, "1.2.3")
    assert {m.topic for m in configs} == {m.topic for m in discovery.discovery(topics(), "Bed bed1",
                                                                               ["left", "right"], "1.2.3")}
    assert json.loads(configs[0].payload)["device"]["name"] == "Bed bed1"
    assert discovery.from_config(make_config(mqtt_extra="discovery = false")) == []


def test_the_never_emitted_gap_event_is_not_announced():
    (events,) = [json.loads(m.payload) for m in discovery.discovery(topics(), "Bed", ["leg"], "1")
                 if m.topic.endswith("/events/config")]
    assert events["event_types"] == list(ev.EVENT_TYPES) and "gap" not in events["event_types"]
