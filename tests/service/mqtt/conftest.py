"""Fixtures of the MQTT tests."""

from __future__ import annotations

import pytest

from service.mqtt.client import MQTTBridge
from service.mqtt.outbox import Outbox
from support.mqtt_helpers import EventSender


@pytest.fixture
def bridges():
    """Bridges started in a test (each behind an EventSender, as the core drives it), stopped at its end."""
    started = []

    def make(config, on_command=None, **kw) -> EventSender:
        outbox = Outbox(config.state_dir, config.mqtt.outbox_max_events)
        bridge = MQTTBridge(config, outbox, on_command or (lambda c: None), **kw)
        started.append(bridge)
        sender = EventSender(bridge, config)
        bridge.start()
        return sender

    yield make
    for b in started:
        b.stop()
        b.outbox.close()
