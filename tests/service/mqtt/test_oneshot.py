"""The one-shot clients against a real mosquitto: the broker check and ``nightcramp forget``."""

from __future__ import annotations

from service.mqtt import discovery
from service.mqtt import messages as msgs
from service.mqtt.oneshot import check_broker, forget_device
from support.mqtt_helpers import WAIT_S, Subscriber, make_config, publisher, wait_until, write_config


def test_doctor_check_explains_tls_mistakes(secure_broker, broker, state_dir, tmp_path):
    plain_to_tls = make_config(secure_broker, state_dir, mqtt_extra='username = "sleeper"\npassword = "x"')
    ok, message = check_broker(plain_to_tls)
    assert not ok and "TLS" in message
    from support.brokers import make_ca_and_server_cert

    other_ca = make_ca_and_server_cert(tmp_path / "other")["ca"]
    wrong_ca = make_config(secure_broker, state_dir, mqtt_extra=f'tls = true\nca_file = "{other_ca}"')
    ok, message = check_broker(wrong_ca)
    assert not ok and "not trusted" in message
    port = broker.port
    broker.stop()
    ok, message = check_broker(make_config(broker, state_dir))
    assert not ok and f"nothing listens on 127.0.0.1:{port}" in message


def _retained(broker, topics_: list[str], settle_s: float = 1.0) -> dict[str, bytes]:
    """What a fresh subscriber receives as retained on ``topics_`` (empty payloads are deletions, left out)."""
    sub = Subscriber(broker.host, broker.port, topics_)
    try:
        count = -1
        while count != len(sub.messages):  # retained messages come right after the SUBACK
            count = len(sub.messages)
            sub.wait_for(lambda s: len(s.messages) > count, settle_s)
        return {m.topic: m.payload for m in sub.messages if m.retain and m.payload}
    finally:
        sub.close()


BED2 = ["homeassistant/+/bed2/#", "nightcramp/bed2/#"]
BED1 = ["homeassistant/+/bed1/#", "nightcramp/bed1/#"]
FOREIGN = "homeassistant/sensor/bed2/other_thing/config"
FOREIGN_PAYLOAD = b'{"name":"x","device":{"identifiers":["someone_else"]}}'


def _announced(bridges, config):
    """A bridge that announced the device and set state, a morning log and the cramp topics, as the daemon does."""
    sender = bridges(config)
    bridge = sender.bridge
    assert bridge.wait_connected(WAIT_S)
    bridge.set_retained(msgs.state(bridge.topics, msgs.ServiceState()))
    bridge.set_retained(msgs.temperature(bridge.topics, 18.0, "2026-11-25T03:00:00+01:00"))
    bridge.send("log-2026-11-24", msgs.morning_log(bridge.topics, "2026-11-24", {"cramps": 1}))
    bridge.send("chart-2026-11-24", [msgs.chart_image(bridge.topics, msgs.PNG_SIGNATURE + b"chart")])
    assert wait_until(lambda: bridge.delivered("log-2026-11-24") and bridge.delivered("chart-2026-11-24"))
    return bridge


def _leftovers_of_an_older_set_up(broker, config):
    """Discovery and a cramp topic of a leg worn before the configuration changed, and another
    integration's config under the same node id (which forget must leave alone)."""
    ha = publisher(broker.host, broker.port)
    for m in discovery.discovery(msgs.Topics.from_config(config), "Bed", ["ankle"], "0.9"):
        ha.publish(m.topic, m.payload_bytes(), qos=1, retain=True).wait_for_publish(WAIT_S)
    ha.publish(f"{config.base_topic}/cramp/ankle", "OFF", qos=1, retain=True).wait_for_publish(WAIT_S)
    ha.publish(FOREIGN, FOREIGN_PAYLOAD, qos=1, retain=True).wait_for_publish(WAIT_S)
    ha.disconnect()


def test_forget_leaves_home_assistant_no_ghost_device(broker, tmp_path, bridges, capsys):
    from service.cli import main

    config = make_config(broker, tmp_path / "s2", "bed2", legs=("left", "right"))
    neighbour = make_config(broker, tmp_path / "s1", "bed1")
    bed2 = _announced(bridges, config)
    _announced(bridges, neighbour)
    _leftovers_of_an_older_set_up(broker, config)
    before = _retained(broker, BED2)
    assert {m.topic for m in discovery.from_config(config)} <= set(before)
    assert {"nightcramp/bed2/state", "nightcramp/bed2/cramp/left", "nightcramp/bed2/log/2026-11-24",
            "nightcramp/bed2/chart", "homeassistant/number/bed2/snooze_minutes/config",
            "homeassistant/image/bed2/last_night_chart/config"} <= set(before)
    bed2.stop()  # uninstall stops the service first: it says offline
    path = write_config(tmp_path, broker, tmp_path / "s2", "bed2", legs=("left", "right"))
    assert main(["forget", "--config", str(path)]) == 0
    assert "removed" in capsys.readouterr().out
    assert _retained(broker, BED2) == {FOREIGN: FOREIGN_PAYLOAD}
    others = _retained(broker, BED1)  # the other bed is untouched
    assert {m.topic for m in discovery.from_config(neighbour)} <= set(others)
    assert others["nightcramp/bed1/status"] == b"online" and "nightcramp/bed1/log/2026-11-24" in others


def test_forget_refuses_while_the_service_is_online_unless_forced(broker, tmp_path, bridges, capsys):
    from service.cli import main

    config = make_config(broker, tmp_path / "s", "bed2")
    _announced(bridges, config)
    path = write_config(tmp_path, broker, tmp_path / "s", "bed2")
    assert main(["forget", "--config", str(path)]) == 1
    assert "stop it first" in capsys.readouterr().err
    assert {m.topic for m in discovery.from_config(config)} <= set(_retained(broker, BED2))
    assert main(["forget", "--force", "--config", str(path)]) == 0
    assert not any(t.startswith("homeassistant/") for t in _retained(broker, BED2))


def test_forget_says_plainly_when_there_is_no_broker_to_tell(broker, tmp_path, capsys):
    from service.cli import main

    path = write_config(tmp_path, broker, tmp_path / "s", "bed2")
    port = broker.port
    broker.stop()
    assert main(["forget", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"nothing listens on 127.0.0.1:{port}" in err and "Traceback" not in err
    none = tmp_path / "none.toml"
    none.write_text('[device]\nid = "bed2"\n')
    assert main(["forget", "--config", str(none)]) == 2
    assert "no MQTT broker configured" in capsys.readouterr().err
    assert forget_device(make_config(None, tmp_path / "s")) == (False, "no broker configured (mqtt.host is empty)")
