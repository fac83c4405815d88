"""The MQTT bridge against a real mosquitto, seen from a subscriber (Home Assistant's seat).

Covers discovery, retained state, the last will of a killed process, commands
and the error topic, TLS with a password (and a refused one), the outbox across
a broker outage and across a SIGKILL, and ``nightcramp test-alert``.  Messages
are built and handed over as the daemon's core does (``support.mqtt_helpers.EventSender``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from service.mqtt import commands as cmds
from service import events as ev
from firmware.errors import ConfigError
from service.mqtt import discovery
from service.mqtt import messages as msgs
from service.mqtt.client import MQTTBridge
from service.mqtt.oneshot import check_broker
from service.mqtt.outbox import Outbox
from support.brokers import Mosquitto
from support.mqtt_helpers import (WAIT_S, EchoHandler, Received, Subscriber, episode, make_config, publisher, stamped,
                                  wait_until, write_config)
from support import ROOT


def events_on(sub, base="nightcramp/bed1"):
    """Events as published by the service: without the broker's own re-sends to this subscriber.

    A broker restarted from persistence re-sends (DUP flag set) what it had sent
    the subscriber without getting its PUBACK; that hop is the broker's, not ours.
    """
    return [m.json() for m in sub.on(f"{base}/event") if not m.dup]


# ---------------------------------------------------------------- discovery and retained state


def test_discovery_two_devices_side_by_side_without_collisions(broker, tmp_path, bridges):
    sub = Subscriber(broker.host, broker.port, ["homeassistant/#", "nightcramp/#"])
    one = bridges(make_config(broker, tmp_path / "s1", "bed1")).bridge
    two = bridges(make_config(broker, tmp_path / "s2", "bed2", legs=("left", "right"))).bridge
    assert one.wait_connected(WAIT_S) and two.wait_connected(WAIT_S)
    expected = len(discovery.discovery(one.topics, "x", ["leg"], "v")) + len(
        discovery.discovery(two.topics, "x", ["left", "right"], "v"))
    assert sub.wait_for(lambda s: len({m.topic for m in s.messages if m.topic.startswith("homeassistant/")})
                        >= expected)
    configs = {m.topic: json.loads(m.payload) for m in sub.messages if m.topic.startswith("homeassistant/")}
    unique = [c["unique_id"] for c in configs.values() if "unique_id" in c]
    assert len(unique) == len(set(unique)) == expected - 3 - 6  # device triggers have no unique_id
    for topic, c in configs.items():
        node = topic.split("/")[2]
        assert c["device"]["identifiers"] == [f"nightcramp_{node}"] and c["device"]["name"] == f"Bed {node}"
        if "availability" in c:
            assert c["availability"][0]["topic"] == f"nightcramp/{node}/status"
    assert sub.wait_payload("nightcramp/bed1/status", b"online")
    assert sub.wait_payload("nightcramp/bed2/cramp/left", b"OFF")
    sub.close()


def test_discovery_is_sent_again_when_home_assistant_comes_online(broker, state_dir, bridges):
    bridge = bridges(make_config(broker, state_dir)).bridge
    assert bridge.wait_connected(WAIT_S)
    topic = "homeassistant/switch/bed1/armed/config"
    sub = Subscriber(broker.host, broker.port, [topic])
    assert sub.wait_for(lambda s: len(s.on(topic)) == 1)  # the retained copy
    ha = publisher(broker.host, broker.port)
    ha.publish("homeassistant/status", "online", qos=1)
    fresh = sub.wait_count(topic, 2)
    assert len(fresh) >= 2 and not fresh[-1].retain  # sent live, not just the retained copy
    ha.disconnect()
    sub.close()


def test_retained_state_and_temperature_reach_a_late_subscriber(broker, state_dir, bridges):
    bridge = bridges(make_config(broker, state_dir)).bridge
    assert bridge.wait_connected(WAIT_S)
    t = bridge.topics
    bridge.set_retained(msgs.state(t, msgs.ServiceState(armed=True, in_night_window=True, sensors={"leg": "ok"},
                                                        episodes={"leg": None}, room_temp_c=17.5,
                                                        last_night_cramps=1)))
    bridge.set_retained(msgs.state(t, msgs.ServiceState(armed=False, sensors={"leg": "fault"}, last_night_cramps=1)))
    bridge.set_retained(msgs.temperature(t, 17.25, "2026-11-25T03:00:00+01:00", sensor="bme280"))
    probe = Subscriber(broker.host, broker.port, ["nightcramp/bed1/temperature"])
    assert probe.wait_for(lambda s: s.on("nightcramp/bed1/temperature"))
    probe.close()
    late = Subscriber(broker.host, broker.port, ["nightcramp/bed1/state", "nightcramp/bed1/temperature"])
    assert late.wait_for(lambda s: s.on("nightcramp/bed1/state") and s.on("nightcramp/bed1/temperature"))
    state = late.on("nightcramp/bed1/state")[-1]
    assert state.retain and state.json()["armed"] is False and state.json()["sensors"] == {"leg": "fault"}
    assert late.on("nightcramp/bed1/temperature")[-1].json()["temperature_c"] == 17.25
    late.close()


def test_morning_log_is_retained_under_latest_and_its_date(broker, state_dir, bridges):
    bridge = bridges(make_config(broker, state_dir)).bridge
    assert bridge.wait_connected(WAIT_S)
    bridge.send("log-2026-11-24", msgs.morning_log(bridge.topics, "2026-11-24", {"night": "2026-11-24", "cramps": 2}))
    assert wait_until(lambda: bridge.delivered("log-2026-11-24"))
    late = Subscriber(broker.host, broker.port, ["nightcramp/bed1/log/#"])
    assert late.wait_for(lambda s: len(s.messages) == 2)
    assert {m.topic for m in late.messages} == {"nightcramp/bed1/log/latest", "nightcramp/bed1/log/2026-11-24"}
    assert all(m.retain and m.json()["cramps"] == 2 for m in late.messages)
    late.close()


def _child(config_path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "support.mqtt_child", str(config_path)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            bufsize=1)


def _read_until(proc: subprocess.Popen, key: str, values=None) -> dict:
    """Read the child's JSON lines until one has ``key`` (with each of ``values``, if given).

    Lines read on the way are consumed, so wait for a set of values in one call.
    """
    wanted = None if values is None else set([values] if isinstance(values, str) else values)
    result: list[dict] = []

    def reader():
        for line in proc.stdout:
            data = json.loads(line)
            if key not in data:
                continue
            if wanted is not None:
                wanted.discard(data[key])
                if wanted:
                    continue
            result.append(data)
            return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(WAIT_S)
    assert result, f"child never said {key} {wanted or ''}: {proc.stderr.read() if proc.poll() is not None else ''}"
    return result[0]


def _spec(s: ev.StampedEvent) -> str:
    e = s.event
    return json.dumps({"event_id": s.event_id, "wall_time": s.wall_time, "type": e.type, "t": e.t, "leg": e.leg,
                       "episode_id": e.episode_id, "fields": dict(e.fields)}) + "\n"


def test_killed_process_leaves_retained_offline_and_clean_stop_says_offline(broker, tmp_path, state_dir):
    config_path = write_config(tmp_path, broker, state_dir)
    sub = Subscriber(broker.host, broker.port, ["nightcramp/bed1/status"])
    proc = _child(config_path)
    _read_until(proc, "connected")
    assert sub.wait_payload("nightcramp/bed1/status", b"online")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert sub.wait_for(lambda s: s.on("nightcramp/bed1/status")[-1].payload == b"offline")
    sub.close()
    late = Subscriber(broker.host, broker.port, ["nightcramp/bed1/status"])
    assert late.wait_for(lambda s: s.on("nightcramp/bed1/status"))
    assert late.on("nightcramp/bed1/status")[0] == Received("nightcramp/bed1/status", b"offline", True)
    proc = _child(config_path)
    _read_until(proc, "connected")
    assert late.wait_for(lambda s: s.on("nightcramp/bed1/status")[-1].payload == b"online")
    proc.stdin.close()  # clean shutdown
    _read_until(proc, "stopped")
    proc.wait(WAIT_S)
    assert late.wait_for(lambda s: s.on("nightcramp/bed1/status")[-1].payload == b"offline")
    late.close()


# ---------------------------------------------------------------- commands


def test_every_command_reaches_the_handler_and_bad_ones_get_an_error(broker, state_dir, bridges):
    handler = EchoHandler()
    bridge = bridges(make_config(broker, state_dir), on_command=handler).bridge
    assert bridge.wait_connected(WAIT_S)
    sub = Subscriber(broker.host, broker.port, ["nightcramp/bed1/error"])
    ha = publisher(broker.host, broker.port)
    sent = [
        ("cmd/acknowledge", "PRESS", cmds.Command("acknowledge")),
        ("cmd/false_alarm", '{"episode_id": "ep7"}', cmds.Command("false_alarm", episode_id="ep7")),
        ("cmd/snooze", "30", cmds.Command("snooze", minutes=30)),
        ("cmd/armed", "OFF", cmds.Command("disarm")),
        ("cmd/armed", "ON", cmds.Command("arm")),
        ("cmd/disarm", "PRESS", cmds.Command("disarm")),
        ("cmd/arm", "1", cmds.Command("arm")),
        ("cmd", '{"command": "test_alert", "request_id": "abc"}', cmds.Command("test_alert", request_id="abc")),
    ]
    bad = [("cmd/snooze", "999"), ("cmd/explode", "PRESS"), ("cmd", "{not json"), ("cmd/arm", "x" * 5000)]
    for suffix, payload, _ in sent:
        ha.publish(f"nightcramp/bed1/{suffix}", payload, qos=1)
    for suffix, payload in bad:
        ha.publish(f"nightcramp/bed1/{suffix}", payload, qos=1)
    errors = sub.wait_count("nightcramp/bed1/error", len(bad))
    assert sub.wait_for(lambda s: handler.count() == len(sent))
    assert handler.commands == [c for _, _, c in sent]
    bodies = [e.json() for e in errors]
    assert [b["topic"] for b in bodies] == [f"nightcramp/bed1/{s}" for s, _ in bad]
    assert "between 0 and 720" in bodies[0]["error"] and "unknown command" in bodies[1]["error"]
    assert "too large" in bodies[3]["error"] and bodies[3]["size"] == 5000
    assert bridge.connected
    ha.disconnect()
    sub.close()


def test_a_crashing_command_handler_does_not_stop_the_bridge(broker, state_dir, bridges):
    calls = []

    def handler(command):
        calls.append(command)
        raise RuntimeError("bug in the daemon")

    sender = bridges(make_config(broker, state_dir), on_command=handler)
    assert sender.bridge.wait_connected(WAIT_S)
    ha = publisher(broker.host, broker.port)
    sub = Subscriber(broker.host, broker.port, ["nightcramp/bed1/event"])
    ha.publish("nightcramp/bed1/cmd/arm", "PRESS", qos=1)
    assert sub.wait_for(lambda s: calls)
    sender.event(stamped(ev.TEST_ALERT, 1.0))
    assert sub.wait_count("nightcramp/bed1/event", 1)
    ha.disconnect()
    sub.close()


def test_test_alert_command_line(broker, tmp_path, state_dir, bridges, capsys):
    from service.cli import main

    config_path = write_config(tmp_path, broker, state_dir)
    assert main(["test-alert", "--config", str(config_path)]) == 1  # nobody answers
    assert "no nightcramp service answered" in capsys.readouterr().err
    handler = EchoHandler()
    handler.sender = bridges(make_config(broker, state_dir), on_command=handler)
    assert handler.sender.bridge.wait_connected(WAIT_S)
    assert main(["test-alert", "--config", str(config_path)]) == 0
    assert "test alert delivered" in capsys.readouterr().out
    no_broker = tmp_path / "none.toml"
    no_broker.write_text('[device]\nid = "bed1"\n')
    assert main(["test-alert", "--config", str(no_broker)]) == 2
    assert "no MQTT broker configured" in capsys.readouterr().err


# ---------------------------------------------------------------- security


def _secure_config(secure_broker, state_dir, password):
    pwfile = state_dir / "mqtt-password"
    pwfile.write_text(password + "\n")
    return make_config(secure_broker, state_dir, mqtt_extra=(
        f'tls = true\nca_file = "{secure_broker.ca_file}"\nusername = "{secure_broker.username}"\n'
        f'password_file = "{pwfile}"'))


def test_tls_and_password_login_works_and_never_logs_the_password(secure_broker, state_dir, bridges, caplog):
    caplog.set_level(logging.DEBUG)
    config = _secure_config(secure_broker, state_dir, secure_broker.password)
    assert check_broker(config)[0]
    sub = Subscriber(secure_broker.host, secure_broker.port, ["nightcramp/bed1/#"], tls_ca=secure_broker.ca_file,
                     username=secure_broker.username, password=secure_broker.password)
    sender = bridges(config)
    assert sender.bridge.wait_connected(WAIT_S)
    sender.event(stamped(ev.CRAMP_START, 5.0, "ep1", onset=1.0))
    assert sub.wait_count("nightcramp/bed1/event", 1)[0].json()["type"] == "cramp_start"
    assert secure_broker.password not in caplog.text
    assert secure_broker.password not in repr(config)
    sub.close()


def test_wrong_password_is_reported_as_refused_never_as_connected(secure_broker, state_dir, bridges, caplog):
    config = _secure_config(secure_broker, state_dir, "not-the-password")
    ok, message = check_broker(config)
    assert not ok and "refused the login" in message
    bridge = bridges(config).bridge
    assert wait_until(lambda: bridge.last_error is not None)
    assert "refused the connection: Not authorized" in bridge.last_error  # what mosquitto 2 answers
    assert not bridge.connected
    assert "not-the-password" not in caplog.text


# ---------------------------------------------------------------- no event lost


def _persistent_broker(tmp_path) -> Mosquitto:
    """A broker that keeps sessions across a restart, as the Home Assistant add-on does."""
    data = tmp_path / "mqdata"
    data.mkdir()
    data.chmod(0o777)  # mosquitto drops root privileges before writing its database
    return Mosquitto(tmp_path / "pbroker", extra_conf=f"persistence true\npersistence_location {data}/\n").start()


def _assert_exactly_once_in_order(sub, published: list[ev.StampedEvent]):
    expected = [s.event_id for s in published]
    assert sub.wait_for(lambda s: len(events_on(s)) >= len(expected)), \
        f"{len(events_on(sub))} of {len(expected)} events arrived"
    got = events_on(sub)
    assert [g["event_id"] for g in got] == expected  # each once, in order
    resent = [m.json()["event_id"] for m in sub.on("nightcramp/bed1/event") if m.dup]
    assert set(resent) <= set(expected)  # the broker's re-sends repeat only what it had already sent
    by_id = {s.event_id: s for s in published}
    for g in got:
        assert g["time"] == by_id[g["event_id"]].wall_time  # the original timestamp, not the delivery time


def test_events_during_a_broker_outage_arrive_in_order_exactly_once(tmp_path, state_dir, bridges):
    broker = _persistent_broker(tmp_path)
    try:
        sub = Subscriber(broker.host, broker.port, ["nightcramp/bed1/event"], client_id="ha-sub", persistent=True)
        sender = bridges(make_config(broker, state_dir))
        bridge = sender.bridge
        assert bridge.wait_connected(WAIT_S)
        night = episode(3600.0, 10.0)  # 10 minutes of simulated time: start, prompts, 39 updates, end
        before, during = night[:5], night[5:]
        for s in before:
            sender.event(s)
        # PUBACKs in: a broker killed before its PUBACK left may be sent a message twice (QoS 1 is
        # at-least-once; subscribers drop repeats by event_id), which is not what this test is about.
        assert wait_until(lambda: all(bridge.delivered(s.event_id) for s in before))
        assert sub.wait_for(lambda s: len(events_on(s)) == len(before))
        broker.stop()
        assert sub.wait_for(lambda s: not bridge.connected)
        for s in during:
            sender.event(s)
        assert len(bridge.outbox) == 2 * len(during)  # each on disk: event + episode message
        assert not any(bridge.delivered(s.event_id) for s in during)
        broker.start()
        _assert_exactly_once_in_order(sub, night)
        assert sub.wait_for(lambda s: all(bridge.delivered(e.event_id) for e in night))
        assert len(bridge.outbox) == 0
        sub.close()
    finally:
        broker.stop()


def test_a_killed_service_delivers_its_undelivered_events_after_restart(broker, tmp_path, state_dir):
    config_path = write_config(tmp_path, broker, state_dir)
    sub = Subscriber(broker.host, broker.port, ["nightcramp/bed1/event", "nightcramp/bed1/episode"])
    night = episode(7200.0, 2.0, leg="leg")
    first, second = night[:4], night[4:]
    proc = _child(config_path)
    _read_until(proc, "connected")
    for s in first:
        proc.stdin.write(_spec(s))
    proc.stdin.flush()
    _read_until(proc, "delivered", [s.event_id for s in first])
    broker.stop()  # mid-episode the broker goes away ...
    for s in second:
        proc.stdin.write(_spec(s))
    proc.stdin.flush()
    _read_until(proc, "queued", second[-1].event_id)
    proc.send_signal(signal.SIGKILL)  # ... and the service dies with events undelivered
    proc.wait()
    broker.start()
    assert sub.wait_for(lambda s: s.subscriptions >= 2)  # resubscribed after the broker came back
    again = _child(config_path)
    ready = _read_until(again, "ready")
    # The cramp updates were in memory only (volatile): the kill lost them; the end was on disk.
    durable = [s for s in second if s.event.type != ev.CRAMP_UPDATE]
    assert [s.event.type for s in durable] == [ev.CRAMP_END]
    assert ready["pending"] == 2 * len(durable)
    _assert_exactly_once_in_order(sub, first + durable)
    assert sub.wait_for(lambda s: len(s.on("nightcramp/bed1/episode")) >= 3)
    frigate = [m.json() for m in sub.on("nightcramp/bed1/episode")]
    assert [f["type"] for f in frigate] == ["start", "update", "end"]
    lost = {s.event_id for s in second if s.event.type == ev.CRAMP_UPDATE}
    assert not lost & {m.json()["event_id"] for m in sub.on("nightcramp/bed1/event")}
    assert frigate[-1]["after"]["duration_s"] == night[-1].event.fields["duration_s"]  # the end carries it
    assert {f["episode_id"] for f in frigate} == {night[0].event.episode_id}
    again.stdin.close()
    again.wait(WAIT_S)
    sub.close()


def _outbox_file_event_ids(state_dir: Path) -> list[str]:
    """The event ids in the outbox file, read with sqlite3 directly (WAL included), as another process sees it."""
    import sqlite3
    db = sqlite3.connect(state_dir / "outbox.sqlite3")
    try:
        return [r[0] for r in db.execute("SELECT event_id FROM outbox ORDER BY seq")]
    finally:
        db.close()


def test_cramp_updates_are_published_in_order_and_acknowledged_without_a_row_in_the_file(broker, state_dir,
                                                                                         bridges):
    sub = Subscriber(broker.host, broker.port, ["nightcramp/bed1/event", "nightcramp/bed1/episode"])
    config = make_config(broker, state_dir)
    broker.stop()  # first queued while the broker is away: the order must hold across the queue
    sender = bridges(config)
    bridge = sender.bridge
    life = episode(500.0, 1.0)  # start, warm compress, stretch prompt, three updates, end
    updates = [s.event_id for s in life if s.event.type == ev.CRAMP_UPDATE]
    assert len(updates) == 3
    phases = (ev.CRAMP_START, ev.CRAMP_UPDATE, ev.CRAMP_END)  # these have an episode message besides the event
    queued = {s.event_id: len(sender.event(s)) for s in life}
    assert queued == {s.event_id: 2 if s.event.type in phases else 1 for s in life}
    assert len(bridge.outbox) == sum(queued.values())  # the updates count, in memory
    in_file = _outbox_file_event_ids(state_dir)
    assert not set(updates) & set(in_file)
    assert in_file == [s.event_id for s in life if s.event.type != ev.CRAMP_UPDATE
                       for _ in range(queued[s.event_id])]
    broker.start()
    assert sub.wait_for(lambda s: len(events_on(s)) >= len(life) and
                        len(s.on("nightcramp/bed1/episode")) >= 5)
    assert [g["event_id"] for g in events_on(sub)] == [s.event_id for s in life]  # mixed, in order
    assert [m.json()["type"] for m in sub.on("nightcramp/bed1/episode")] == ["start", "update", "update", "update",
                                                                             "end"]
    assert wait_until(lambda: all(bridge.delivered(i) for i in updates))  # acknowledged like the others
    assert wait_until(lambda: len(bridge.outbox) == 0)
    assert not set(updates) & set(_outbox_file_event_ids(state_dir))
    blobs = b"".join(p.read_bytes() for p in state_dir.glob("outbox.sqlite3*"))
    assert not any(i.encode() in blobs for i in updates)  # never in the file, the WAL or the shm
    sub.close()


def test_delivery_hook_fires_once_per_event(broker, state_dir, bridges):
    delivered = []
    sender = bridges(make_config(broker, state_dir), on_delivered=delivered.append)
    bridge = sender.bridge
    assert bridge.wait_connected(WAIT_S)
    life = episode(100.0, 0.5)
    for s in life:
        sender.event(s)
    ids = [s.event_id for s in life]
    assert wait_until(lambda: len(delivered) >= len(ids))
    assert delivered == ids  # once each, in the order raised
    assert all(bridge.delivered(i) for i in ids) and not bridge.delivered("never-sent")


def test_events_wait_in_the_outbox_while_no_broker_ever_answered(broker, state_dir, bridges):
    config = make_config(broker, state_dir)
    broker.stop()
    sender = bridges(config)
    bridge = sender.bridge
    alert = stamped(ev.CRAMP_START, 1.0, "e1", onset=0.5)
    sender.event(alert)
    assert not bridge.connected and not bridge.delivered(alert.event_id)
    assert [r.event_id for r in bridge.outbox.pending()] == [alert.event_id] * 2
    assert os.path.exists(state_dir / "outbox.sqlite3")


def test_a_bridge_needs_a_broker(state_dir):
    """No broker configured means no bridge and no outbox: nothing could ever be sent."""
    config = make_config(None, state_dir)
    outbox = Outbox(state_dir / "probe.sqlite3")
    try:
        with pytest.raises(ConfigError, match="night record only"):
            MQTTBridge(config, outbox, lambda c: None)
    finally:
        outbox.close()
