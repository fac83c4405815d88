"""Commands are obeyed when they are sent, never from the broker's memory; a shared client id is reported.

Real mosquitto brokers on loopback.  A retained ``disarm``, ``snooze 600``,
``test_alert`` or ``armed OFF`` left on the broker must do nothing at start and
nothing after a reconnect (the broker sends retained messages again at every
subscribe), and clearing one (an empty retained payload) is no command either.
"""

from __future__ import annotations

import logging

from service.mqtt import commands as cmds
from support.brokers import Mosquitto
from support.mqtt_helpers import WAIT_S, EchoHandler, Subscriber, make_config, publisher, retain, wait_until

BASE = "nightcramp/bed1"
STALE = [("cmd/disarm", b"PRESS"), ("cmd/snooze", b"600"), ("cmd/test_alert", b"PRESS"), ("cmd/armed", b"OFF"),
         ("cmd", b'{"command": "disarm"}')]


def _persistent_broker(tmp_path) -> Mosquitto:
    """Retained messages survive its restart, as on the Home Assistant add-on."""
    data = tmp_path / "mqdata"
    data.mkdir()
    data.chmod(0o777)  # mosquitto drops root privileges before writing its database
    return Mosquitto(tmp_path / "pbroker", extra_conf=f"persistence true\npersistence_location {data}/\n").start()


def _retained_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "ignored a retained message" in r.getMessage()]


def _live_arm_reaches(handler, broker) -> bool:
    """A command sent now still works: the proof that what came before it was handled (or ignored)."""
    pub = publisher(broker.host, broker.port)

    def sent_and_seen() -> bool:  # resent until seen: the bridge may not have subscribed yet
        pub.publish(f"{BASE}/cmd/arm", b"PRESS", qos=1)
        return wait_until(lambda: cmds.Command("arm") in handler.commands, timeout=1.0)

    try:
        return wait_until(sent_and_seen)
    finally:
        pub.disconnect()
        pub.loop_stop()


def test_retained_commands_are_ignored_at_start_and_after_a_broker_restart(tmp_path, state_dir, bridges, caplog):
    caplog.set_level(logging.INFO)
    broker = _persistent_broker(tmp_path)
    try:
        retain(broker, BASE, STALE)
        errors = Subscriber(broker.host, broker.port, [f"{BASE}/error"])
        handler = EchoHandler()
        bridge = bridges(make_config(broker, state_dir), on_command=handler).bridge
        assert bridge.wait_connected(WAIT_S)
        assert wait_until(lambda: bridge.ignored_retained == len(STALE))
        assert handler.commands == []
        warnings = _retained_warnings(caplog)
        assert len(warnings) == len(STALE) and all(r.levelno == logging.WARNING for r in warnings)
        hints = {r.getMessage().rsplit("clear it with: ", 1)[1] for r in warnings}
        assert hints == {f"mosquitto_pub -h {broker.host} -t '{BASE}/{suffix}' -r -n" for suffix, _ in STALE}

        broker.stop()
        assert wait_until(lambda: not bridge.connected)
        broker.start()
        assert bridge.wait_connected(WAIT_S)
        assert wait_until(lambda: bridge.ignored_retained == 2 * len(STALE))  # sent again, ignored again
        assert _live_arm_reaches(handler, broker)
        assert set(handler.commands) == {cmds.Command("arm")}  # only the live one
        assert len(_retained_warnings(caplog)) == len(STALE)  # each said once, not at every reconnect
        assert errors.on(f"{BASE}/error") == []  # a stale message is not a bad command
        errors.close()
    finally:
        broker.stop()


def test_clearing_a_retained_command_is_not_a_command(broker, state_dir, bridges, caplog):
    caplog.set_level(logging.INFO)
    retain(broker, BASE, STALE[:1])
    errors = Subscriber(broker.host, broker.port, [f"{BASE}/error"])
    handler = EchoHandler()
    bridge = bridges(make_config(broker, state_dir), on_command=handler).bridge
    assert bridge.wait_connected(WAIT_S)
    assert wait_until(lambda: bridge.ignored_retained == 1)
    # The user clears it as docs/mqtt.md says: an empty retained payload, which live subscribers get
    # as an empty message (MQTT 3.1.1 does not tell them it was retained).
    retain(broker, BASE, [("cmd/disarm", b""), ("cmd/snooze", b"")])
    assert _live_arm_reaches(handler, broker)
    assert set(handler.commands) == {cmds.Command("arm")}
    assert errors.on(f"{BASE}/error") == []
    # Cleared for good: a new start finds nothing on the broker.
    second = bridges(make_config(broker, state_dir / "second", device_id="bed1",
                                 mqtt_extra='client_id = "second-bed1"'), on_command=EchoHandler()).bridge
    assert second.wait_connected(WAIT_S)
    assert _live_arm_reaches(handler, broker)
    assert second.ignored_retained == 0
    errors.close()
