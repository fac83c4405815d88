"""What Home Assistant makes of our discovery and state messages, on the oldest and the newest supported release.

The rules are in support/ha_rules.py.  The first tests show that the checker
catches what real Home Assistant warned about (so a green run means something);
the others run it over every entity of the device and over what a real
mosquitto carried during simulated nights.
"""

from __future__ import annotations

import io
import json
import logging

import pytest

from service.app.daemon import RunOptions, Service
from service.mqtt import commands as cmds
from service.mqtt import discovery
from service.mqtt import messages as msgs
from support import ha_rules
from support.ha_rules import HA_2024_3, HA_NEWEST, RELEASES, UNAVAILABLE, UNKNOWN, HomeAssistantModel
from support.mqtt_helpers import Subscriber, make_config, publisher, wait_until
from support.service_runs import NIGHT, events_of, run_night

T = msgs.Topics("nightcramp/bed1", "bed1")
NOW = "2026-11-25T03:13:00.000+01:00"


@pytest.fixture
def night_config(broker, state_dir):
    """The short night window, publishing to the test broker."""
    return make_config(broker, state_dir, extra=NIGHT)


def _configs(legs=("leg",)):
    return [(m.topic, m.payload_bytes()) for m in discovery.discovery(T, "Bed bed1", list(legs), "1.2.3")]


def _state(**kw) -> tuple[str, bytes]:
    m = msgs.state(T, msgs.ServiceState(sensors={"leg": "ok"}, episodes={"leg": None}, time=NOW, **kw))
    return m.topic, m.payload_bytes()


def _model(release, configs=None):
    model = HomeAssistantModel(release, configs if configs is not None else _configs())
    model.feed(T.status, b"online")
    return model


def _replace_config(configs, object_id, **changes):
    out = []
    for topic, payload in configs:
        if topic.split("/")[3] == object_id:
            cfg = json.loads(payload)
            cfg.update(changes)
            payload = json.dumps(cfg).encode()
        out.append((topic, payload))
    return out


# ---------------------------------------------------------------- the checker catches what HA complained about


def test_the_old_snoozed_until_template_warns_on_2024_3_only():
    old = _replace_config(_configs(), "snoozed_until", value_template="{{ value_json.snoozed_until or None }}",
                          availability=[{"topic": T.status}])
    for release, warns in ((HA_2024_3, True), (HA_NEWEST, False)):
        model = _model(release, old)
        model.feed(*_state())
        assert any("Invalid state message" in p for p in model.problems) is warns, model.problems


def test_a_text_cramp_count_shows_none_on_2024_3():
    old = _replace_config(_configs(), "last_night_cramps", state_class=None)
    model = _model(HA_2024_3, [(t, json.dumps({k: v for k, v in json.loads(p).items() if v is not None}).encode())
                               for t, p in old])
    model.feed(*_state())
    assert any("text 'None'" in p for p in model.problems)


def test_the_checker_refuses_what_it_cannot_check_and_bad_values():
    bad = _replace_config(_configs(), "room_temperature", value_template="{{ value_json.temperature_c | round(1) }}")
    bad = _replace_config(bad, "armed", brightness=True)
    model = _model(HA_NEWEST, bad)
    model.feed(T.temperature, b'{"temperature_c": 17.2}')
    model.feed(T.state, b'{"armed": true}')  # a state without the keys the templates read
    model.feed(T.chart, b"GIF89a")
    text = "\n".join(model.problems)
    assert "not understood" in text and "dropped by the switch schema" in text
    assert "no 'snooze_minutes_left'" in text and "not a PNG" in text
    model = _model(HA_NEWEST)
    model.feed(T.temperature, b'{"temperature_c": "warm"}')
    model.feed(*_state(snoozed_until="2026-11-26T16:13:00.000+01:00"))  # 37 h: beyond the number's max
    assert any("non-numeric" in p for p in model.problems) and any("invalid value" in p for p in model.problems)


# ---------------------------------------------------------------- our configs and messages


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: r.name)
@pytest.mark.parametrize("legs", [("leg",), ("left", "right")])
def test_every_entity_is_clean_before_anything_happened(release, legs):
    model = HomeAssistantModel(release, _configs(legs))
    assert model.problems == []
    model.feed(T.status, b"online")
    state = msgs.state(T, msgs.ServiceState(sensors={leg: "ok" for leg in legs},
                                            episodes={leg: None for leg in legs}, time=NOW))
    model.feed(state.topic, state.payload_bytes())
    for m in msgs.cramp_binary(T, legs, ()):
        model.feed(m.topic, m.payload_bytes())
    assert model.problems == []
    shown = {k: e.shown() for k, e in model.entities.items()}
    assert shown["sensor.last_night_cramps"] == UNKNOWN  # not the text "None"
    assert shown["sensor.snoozed_until"] == UNAVAILABLE  # nothing snoozed, and never "None"
    assert shown["number.snooze_minutes"] == 0 and shown["switch.armed"] == "on"
    assert shown["binary_sensor.cramp"] == "off"


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: r.name)
def test_snoozed_state_and_counts_are_typed(release):
    model = _model(release)
    model.feed(*_state(snoozed_until="2026-11-25T03:57:30.000+01:00", last_night_cramps=2, room_temp_c=17.2))
    assert model.problems == []
    shown = {k: e.shown() for k, e in model.entities.items()}
    assert shown["number.snooze_minutes"] == 45  # 44.5 minutes left, rounded up
    assert shown["sensor.snoozed_until"].isoformat() == "2026-11-25T03:57:30+01:00"
    assert shown["sensor.last_night_cramps"] == 2.0


def test_snooze_minutes_left():
    assert msgs.snooze_minutes_left(None, NOW) == 0
    assert msgs.snooze_minutes_left("2026-11-25T03:12:00.000+01:00", NOW) == 0  # over
    assert msgs.snooze_minutes_left("2026-11-25T03:13:30.000+01:00", NOW) == 1
    assert msgs.snooze_minutes_left("2026-11-25T03:43:00.000+01:00", NOW) == 30
    assert msgs.snooze_minutes_left("garbage", NOW) == 0


def test_chart_message_is_bounded_and_png():
    png = msgs.PNG_SIGNATURE + b"x" * 100
    m = msgs.chart_image(T, png)
    assert m.topic == "nightcramp/bed1/chart" and m.retain and m.payload_bytes() == png
    with pytest.raises(ValueError, match="not a PNG"):
        msgs.chart_image(T, b"GIF89a")
    with pytest.raises(ValueError, match="at most"):
        msgs.chart_image(T, msgs.PNG_SIGNATURE + b"x" * msgs.CHART_MAX_BYTES)


def test_a_simulated_night_is_clean_on_every_release(broker, night_config):
    """Every message a real mosquitto carried in a night with cramps, through both releases' rules."""
    base = night_config.base_topic
    sub = Subscriber(broker.host, broker.port, topics=("#",))
    try:
        run_night(night_config, seed=3, cramps=1)
        assert sub.wait_for(lambda s: s.on(f"{base}/log/latest") and s.on(f"{base}/chart"), 20)
        received = list(sub.messages)
    finally:
        sub.close()
    configs = [(m.topic, m.payload) for m in received if m.topic.startswith("homeassistant/") and m.payload]
    assert {t for t, _ in configs} == {m.topic for m in discovery.from_config(night_config)}
    for release in RELEASES:
        model = HomeAssistantModel(release, configs)
        for m in received:
            if not m.topic.startswith("homeassistant/"):
                model.feed(m.topic, m.payload)
        assert model.problems == [], model.problems
        assert model.entities["event.events"].fired >= 5
        assert model.triggers["cramp_start_leg"].fired == 1
        assert model.entities["image.last_night_chart"].fired == 1
        states = sum(1 for m in received if m.topic == f"{base}/state")
        assert states >= 3
    chart = [m for m in received if m.topic == f"{base}/chart"]
    assert len(chart) == 1
    late = Subscriber(broker.host, broker.port, topics=(f"{base}/chart",))  # a dashboard opened in the morning
    try:
        assert late.wait_for(lambda s: s.on(f"{base}/chart"), 10)
        assert late.on(f"{base}/chart")[0].retain and late.on(f"{base}/chart")[0].payload == chart[0].payload
    finally:
        late.close()
    from PIL import Image

    with Image.open(io.BytesIO(chart[0].payload)) as img:
        img.verify()
        assert img.format == "PNG" and img.size == (1000, 500)
    png_file = next((night_config.state_dir / "logs").glob("*.png"))
    assert chart[0].payload == png_file.read_bytes()
    log_at = next(i for i, m in enumerate(received) if m.topic == f"{base}/log/latest")
    chart_at = next(i for i, m in enumerate(received) if m.topic == f"{base}/chart")
    assert log_at < chart_at  # published after the morning log


def test_snooze_number_and_acknowledge_rules_through_the_broker(broker, night_config, caplog):
    """HA's number sends minutes (0 cancels), garbage is refused; an acknowledge for an unknown
    episode is refused without an event, a plain one carries its source."""
    topics = msgs.Topics.from_config(night_config)
    sub = Subscriber(broker.host, broker.port, topics=(f"{topics.base}/#",))
    service = Service(night_config, RunOptions(simulate=True, speed=1e9, seed=3, cramps=0, duration_s=30))
    service.start()
    try:
        assert service.publisher.wait_connected(10)
        service.run()
        ha = publisher(broker.host, broker.port)
        for topic, payload in ((cmds.SNOOZE, b"45"), (cmds.SNOOZE, b"soon"), (cmds.SNOOZE, b"-5"),
                               (cmds.ACKNOWLEDGE, b'{"episode_id": "nosuch1"}'), (cmds.ACKNOWLEDGE, b"PRESS")):
            ha.publish(topics.command_named(topic), payload, qos=1).wait_for_publish(5)
        assert sub.wait_for(lambda s: len(s.on(topics.error)) >= 2, 10)
        assert wait_until(lambda: service.queue.qsize() >= 3, 10)
        with caplog.at_level(logging.INFO, logger="service.app.core"):
            service.options.duration_s = 30
            service.run()
        assert sub.wait_for(lambda s: any(e["type"] == "acknowledged" for e in events_of(s, topics.base)), 10)
        states = [m.json() for m in sub.on(topics.state)]
        assert sub.wait_for(lambda s: s.on(topics.state)[-1].json()["snooze_minutes_left"] == 45, 10)
        ha.publish(topics.command_named(cmds.SNOOZE), b"0", qos=1).wait_for_publish(5)
        assert wait_until(lambda: service.queue.qsize() >= 1, 10)
        service.options.duration_s = 30
        service.run()
        assert sub.wait_for(lambda s: s.on(topics.state)[-1].json()["snooze_minutes_left"] == 0, 10)
        states = [m.json() for m in sub.on(topics.state)]
        ha.disconnect()
    finally:
        service.stop()
        sub.close()
    errors = [m.json()["error"] for m in sub.on(topics.error)]
    assert any("number of minutes" in e for e in errors) and any("between 0 and 720" in e for e in errors)
    acks = [e for e in events_of(sub, topics.base) if e["type"] == "acknowledged"]
    assert len(acks) == 1 and acks[0]["source"] == "mqtt" and acks[0]["episode_id"] is None
    assert "acknowledge for episode nosuch1 ignored" in caplog.text
    assert any(s["snoozed_until"] for s in states) and states[-1]["snoozed_until"] is None
    for release in RELEASES:  # the states HA saw while snoozing and after: clean
        model = HomeAssistantModel(release, _configs())
        for s in states:
            model.feed(T.state, json.dumps(s).encode())
        assert model.problems == []


def test_a_snoozed_cramp_is_not_logged_as_an_alert(broker, night_config, caplog):
    topics = msgs.Topics.from_config(night_config)
    sub = Subscriber(broker.host, broker.port, topics=(f"{topics.base}/#",))
    service = Service(night_config, RunOptions(simulate=True, speed=1e9, seed=3, cramps=1, duration_s=2))
    service.start()
    try:
        assert service.publisher.wait_connected(10)
        service.run()
        ha = publisher(broker.host, broker.port)
        ha.publish(topics.command_named(cmds.SNOOZE), b"720", qos=1).wait_for_publish(5)
        ha.disconnect()
        assert wait_until(lambda: service.queue.qsize() >= 1, 10)
        service.options.duration_s = None
        with caplog.at_level(logging.INFO, logger="service.app.core"):
            service.run()
    finally:
        service.stop()
        sub.close()
    starts = [e for e in events_of(sub, topics.base) if e["type"] == "cramp_start"]
    assert len(starts) == 1 and starts[0]["snoozed"] is True and starts[0]["alert"] is False
    assert "alert raised" not in caplog.text
    assert "while snoozed: recorded, no alert" in caplog.text


def test_ha_rules_module_names_its_releases():
    assert discovery.OLDEST_HA == HA_2024_3.name
    assert ha_rules.render("{{ 'A' if value_json.x else 'B' }}", b'{"x": 0}') == ("B", [])


def test_a_resent_config_updates_its_entity_and_an_empty_one_removes_it():
    """The bridge re-sends discovery after every connect: HA updates (no 'unique_id used twice'), keeps the state."""
    model = _model(HA_2024_3)
    model.feed(*_state(last_night_cramps=2))
    for topic, payload in _configs():
        model.discover(topic, payload)
    assert model.problems == [] and model.entities["sensor.last_night_cramps"].shown() == 2.0
    for m in discovery.discovery_removal(T, ["leg"]):
        model.discover(m.topic, m.payload_bytes())
    assert model.problems == [] and model.entities == {} and model.triggers == {}
    model.discover(T.discovery("sensor", "nosuch"), b"")
    assert any("never discovered" in p for p in model.problems)


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: r.name)
def test_every_field_set_at_once_shows_on_its_own_entity(release):
    """A night with everything going on: a sensor fault, a storage fault, not settled, labels kept, disarmed,
    snoozed, a room temperature; then all clear again.  Each entity shows its part, on every release."""
    model = _model(release)
    storage = {"night": {"status": "fault", "held": 12, "lost": 0, "set_aside": None, "reason": "disk full"},
               "outbox": {"status": "ok", "held": 0, "lost": 0, "set_aside": None}}
    labels = {"snippets": 5, "alarms": 4, "labelled_alarms": 3, "cramp": 1, "false_alarm": 2, "missed_cramp": 1,
              "unlabelled": 1}
    m = msgs.state(T, msgs.ServiceState(
        armed=False, in_night_window=True, sensors={"leg": "fault"}, sensor_faults={"leg": "no data for 12 s"},
        episodes={"leg": None}, room_temp_c=17.5, snoozed_until="2026-11-25T03:43:00.000+01:00",
        last_night_cramps=3, time=NOW, simulated=True, labels=labels, settled={"leg": False}, storage=storage))
    model.feed(m.topic, m.payload_bytes())
    temp = msgs.temperature(T, 17.5, NOW)
    model.feed(temp.topic, temp.payload_bytes())
    assert model.problems == []
    shown = {k: e.shown() for k, e in model.entities.items()}
    assert shown["sensor.room_temperature"] == 17.5
    assert shown["binary_sensor.sensor_leg"] == "on" and shown["binary_sensor.storage"] == "on"
    assert shown["binary_sensor.settled"] == "off" and shown["switch.armed"] == "off"
    assert shown["sensor.labelled_alarms"] == 3.0 and shown["sensor.last_night_cramps"] == 3.0
    assert shown["number.snooze_minutes"] == 30
    assert shown["sensor.snoozed_until"].isoformat() == "2026-11-25T03:43:00+01:00"

    clear = msgs.state(T, msgs.ServiceState(sensors={"leg": "ok"}, episodes={"leg": None}, time=NOW,
                                            settled={"leg": True}, storage={k: {**v, "status": "ok", "held": 0}
                                                                             for k, v in storage.items()}))
    model.feed(clear.topic, clear.payload_bytes())
    assert model.problems == []
    shown = {k: e.shown() for k, e in model.entities.items()}
    assert shown["binary_sensor.sensor_leg"] == "off" and shown["binary_sensor.storage"] == "off"
    assert shown["binary_sensor.settled"] == "on" and shown["switch.armed"] == "on"
    assert shown["sensor.snoozed_until"] == UNAVAILABLE and shown["number.snooze_minutes"] == 0
