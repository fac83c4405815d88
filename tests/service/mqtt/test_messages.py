"""The pure message builders: topics, availability, state, events, the morning log and errors."""

from __future__ import annotations

import json

from service import events as ev
from service.mqtt import messages as msgs
from support.mqtt_helpers import make_config, stamped
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


def test_availability_is_retained_online_or_offline():
    assert msgs.availability(topics(), online=True) == msgs.Message("nightcramp/bed1/status", "online", 1, True)
    assert msgs.availability(topics(), online=False) == msgs.Message("nightcramp/bed1/status", "offline", 1, True)


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


def test_docs_examples_use_real_topics_and_event_types():
    import re

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
