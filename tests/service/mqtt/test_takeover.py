"""Two services with one client id on one broker: recognised, reported once, no reconnect storm.

Real mosquitto brokers on loopback.  A broker that merely restarts, even
several times in a row, must not be taken for a take-over: that would delay
alerts by the take-over back-off.  What tells them apart is that a restarting
broker refuses at least one attempt while it is away; one that is back within
the first 1 s retry, three times running, each within 10 s of the previous
connect, cannot be told from a take-over under MQTT 3.1.1 (docs/mqtt.md).
"""

from __future__ import annotations

import logging

from service.mqtt import backoff
from support.mqtt_helpers import WAIT_S, Subscriber, make_config, wait_until

BASE = "nightcramp/bed1"


def test_two_services_with_one_device_id_are_reported_once_without_a_reconnect_storm(broker, tmp_path, bridges,
                                                                                     caplog):
    caplog.set_level(logging.INFO)
    status = Subscriber(broker.host, broker.port, [f"{BASE}/status"])
    first = bridges(make_config(broker, tmp_path / "a")).bridge
    assert first.wait_connected(WAIT_S)
    second = bridges(make_config(broker, tmp_path / "b")).bridge  # same device.id, same client id

    def reports() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "keeps taking over client id nightcramp-bed1" in r.getMessage()]

    # The flag turns in paho's thread a moment before that thread logs the report: wait for both.
    assert wait_until(lambda: (first.taken_over or second.taken_over) and reports(), timeout=60)
    assert all(r.levelno == logging.ERROR for r in reports())
    assert "device.id 'bed1'" in reports()[0].getMessage()
    assert any(b.taken_over and "taking over" in (b.last_error or "") for b in (first, second))

    # Watch the status topic for a while: each (re)connect publishes "online".  Without the back-off the
    # two clients take the id from each other about once a second; with it, at most a take-over pair
    # per TAKEOVER_DELAYS_S[0] (30 s) can happen in this window.
    before = len(status.on(f"{BASE}/status"))
    wait_until(lambda: False, timeout=20.0)
    onlines = [m for m in status.on(f"{BASE}/status")[before:] if m.payload == b"online"]
    assert len(onlines) <= 4, f"{len(onlines)} reconnects in 20 s: still flapping"
    assert len(reports()) <= 2  # at most once per service, also after the window
    assert backoff.TAKEOVER_DELAYS_S[0] >= 30
    status.close()


def test_a_broker_restarting_again_and_again_is_not_a_takeover(broker, state_dir, bridges, caplog):
    caplog.set_level(logging.INFO)
    bridge = bridges(make_config(broker, state_dir)).bridge
    assert bridge.wait_connected(WAIT_S)
    for _ in range(backoff.TAKEOVER_AFTER + 1):  # each connection lives far less than SHORT_CONNECTION_S
        broker.stop()
        assert wait_until(lambda: not bridge.connected)
        assert wait_until(lambda: "cannot reach" in (bridge.last_error or ""))  # an attempt failed meanwhile
        broker.start()
        assert bridge.wait_connected(WAIT_S)
        assert not bridge.taken_over
    assert not [r for r in caplog.records if "taking over" in r.getMessage()]
