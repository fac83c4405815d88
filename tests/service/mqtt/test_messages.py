"""The pure message builders: topics, payloads and Home Assistant discovery."""

from __future__ import annotations

import json

from service import events as ev
from service.mqtt import messages as msgs
from support.mqtt_helpers import episode, make_config, stamped
from support import ROOT


def topics(device_id="bed1", base=""):
    extra = f'base_topic = "{base}"' if base else ""
    return msgs.Topics.from_config(make_config(device_id=device_id, mqtt_extra=extra))


def test_topic_tree_defaults_to_device_id_and_honours_base_topic():
    t = topics("bed1")
    assert t.status == "nightcramp/bed1/status"
    assert t.event == "nightcramp/bed1/event"
    assert t.command_named("snooze") == "nightcramp/bed1/cmd/snooze"
    assert t.discovery("sensor", "room_temperature") == "homeassistant/sensor/bed1/room_temperature/config"
    assert topics("bed1", base="home/bedroom/cramps").state == "home/bedroom/cramps/state"


def test_event_payload_carries_ids_wall_times_and_fields():
    s = stamped(ev.CRAMP_START, 100.0, "ep1", "left", onset=92.0, intensity=0.4213, room_temp_c=17.25)
    p = msgs.event_payload(topics(), s)
    assert p["event_id"] == s.event_id and p["episode_id"] == "ep1"
    assert p["type"] == p["event_type"] == "cramp_start"
    assert p["leg"] == "left" and p["device"] == "bed1"
    assert p["time"] == s.wall_time
    # onset 8 s before the alert, in wall time with the same offset
    assert s.wall_time == "2026-11-25T02:31:40.000+01:00"
    assert p["onset_time"] == "2026-11-25T02:31:32.000+01:00"
    assert p["intensity"] == 0.421 and p["room_temp_c"] == 17.25


def test_event_payload_survives_numpy_and_nan_fields():
    import numpy as np

    s = stamped(ev.CRAMP_UPDATE, 5.0, "ep", intensity=np.float32(0.5), n=np.int64(3), bad=float("nan"))
    p = json.loads(msgs.EpisodeTracker(topics(), ["leg"]).messages(s).outbox[0].payload)
    assert p["intensity"] == 0.5 and p["n"] == 3 and p["bad"] is None


def test_episode_life_is_frigate_like_with_before_and_after():
    tracker = msgs.EpisodeTracker(topics(), ["leg"])
    life = episode(1000.0, 1.0)
    frigate, cramp_states = [], []
    for s in life:
        built = tracker.messages(s)
        for m in built.outbox:
            assert m.qos == 1 and not m.retain
            if m.topic.endswith("/episode"):
                frigate.append(json.loads(m.payload))
        cramp_states += [m.payload for m in built.retained if m.topic == "nightcramp/bed1/cramp"]
    assert [f["type"] for f in frigate] == ["start"] + ["update"] * 3 + ["end"]
    assert len({f["episode_id"] for f in frigate}) == 1
    assert frigate[0]["before"] is None
    for prev, cur in zip(frigate, frigate[1:]):
        assert cur["before"] == prev["after"]
    end = frigate[-1]["after"]
    assert end["end_time"] == life[-1].wall_time and end["start_time"] == life[0].wall_time
    assert end["duration_s"] == 68.0 and end["room_temp_c"] == 17.2
    assert end["onset_time"] == msgs.event_payload(topics(), life[0])["onset_time"]
    assert cramp_states == ["ON", "OFF"]


def test_duration_is_computed_from_onset_when_the_policy_gives_none():
    tracker = msgs.EpisodeTracker(topics(), ["leg"])
    tracker.messages(stamped(ev.CRAMP_START, 100.0, "e", onset=90.0))
    built = tracker.messages(stamped(ev.CRAMP_UPDATE, 130.0, "e"))
    assert json.loads(built.outbox[1].payload)["after"]["duration_s"] == 40.0


def test_two_legs_get_their_own_cramp_topics():
    tracker = msgs.EpisodeTracker(topics(), ["left", "right"])
    initial = {m.topic: m.payload for m in tracker.initial_retained()}
    assert initial == {"nightcramp/bed1/cramp": "OFF", "nightcramp/bed1/cramp/left": "OFF",
                       "nightcramp/bed1/cramp/right": "OFF"}
    on = {m.topic: m.payload for m in tracker.messages(stamped(ev.CRAMP_START, 1.0, "a", "right")).retained}
    assert on["nightcramp/bed1/cramp"] == "ON" and on["nightcramp/bed1/cramp/right"] == "ON"
    assert on["nightcramp/bed1/cramp/left"] == "OFF"
    assert tracker.messages(stamped(ev.CRAMP_START, 2.0, "b", "left")).retained[0].payload == "ON"
    off = {m.topic: m.payload for m in tracker.messages(stamped(ev.CRAMP_END, 3.0, "a", "right")).retained}
    assert off["nightcramp/bed1/cramp"] == "ON" and off["nightcramp/bed1/cramp/right"] == "OFF"


def test_priorities_let_the_outbox_drop_updates_first():
    assert msgs.event_priority(ev.CRAMP_UPDATE) < msgs.event_priority(ev.STRETCH_PROMPT) < \
        msgs.event_priority(ev.CRAMP_START) == msgs.event_priority(ev.CRAMP_END)


def test_state_and_temperature_are_retained_json():
    st = msgs.ServiceState(armed=False, in_night_window=True, sensors={"left": "ok", "right": "fault"},
                           episodes={"left": "ep", "right": None}, room_temp_c=18.25, last_night_cramps=2,
                           time="2026-11-25T03:00:00+01:00")
    m = msgs.state(topics(), st)
    assert m.retain and m.topic == "nightcramp/bed1/state"
    body = json.loads(m.payload)
    assert body["armed"] is False and body["sensor_ok"] is False and body["episode_in_progress"] is True
    assert body["sensors"]["right"] == "fault" and body["last_night_cramps"] == 2
    t = msgs.temperature(topics(), 17.9, "2026-11-25T03:00:00+01:00", humidity_pct=45.0, sensor="bme280")
    assert t.retain and json.loads(t.payload)["temperature_c"] == 17.9


def test_morning_log_goes_to_latest_and_dated_topics():
    out = msgs.morning_log(topics(), "2026-11-24", {"cramps": 2, "hours": 7.5})
    assert [m.topic for m in out] == ["nightcramp/bed1/log/latest", "nightcramp/bed1/log/2026-11-24"]
    assert all(m.retain and json.loads(m.payload)["cramps"] == 2 for m in out)


def test_command_error_quotes_a_readable_excerpt():
    m = msgs.command_error(topics(), "nightcramp/bed1/cmd/x", "unknown command", b"\xff" * 100)
    body = json.loads(m.payload)
    assert body["size"] == 100 and body["payload"].startswith("\\xff") and body["payload"].endswith("...")


def _discovery(device_id, legs=("leg",)):
    return msgs.discovery(topics(device_id), f"Bed {device_id}", list(legs), "1.2.3")


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


def test_discovery_offers_every_entity_the_issue_asks_for():
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
    assert triggers == {(t, leg) for t in msgs.TRIGGER_TYPES for leg in ("left", "right")}


def test_discovery_removal_empties_every_config():
    removal = msgs.discovery_removal(topics(), ["leg"])
    assert {m.topic for m in removal} == {m.topic for m in _discovery("bed1")}
    assert all(m.payload == b"" and m.retain for m in removal)


def test_docs_examples_use_real_topics_and_event_types():
    import re
    from pathlib import Path

    docs = ROOT / "docs" / "examples"
    t = topics("bedroom")
    flow = json.loads((docs / "node-red-flow.json").read_text())
    ids = {n["id"] for n in flow}
    assert all(w in ids for n in flow for out in n.get("wires", []) for w in out)
    by_type = {n["type"]: n for n in flow}
    assert by_type["mqtt in"]["topic"] == t.event.replace("/bedroom/", "/+/")
    assert by_type["mqtt out"]["topic"] == t.command_named("test_alert")
    switch_types = {r["v"] for r in by_type["switch"]["rules"]}
    assert switch_types <= set(ev.EVENT_TYPES)
    automation = (docs / "home-assistant-automation.yaml").read_text()
    assert set(re.findall(r"topic: (\S+)", automation)) == {t.event}
    assert set(re.findall(r"payload: (\w+)", automation)) <= set(ev.EVENT_TYPES)
