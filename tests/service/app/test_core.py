"""The core: commands, a clean stop mid-episode, and the typed queue items, on emulated hardware.

Through the whole service (a real mosquitto, real SQLite) and, for the queue's
dispatch, a Core on a ManualClock with a real night record.
"""

from __future__ import annotations

import logging

import pytest

from firmware.clock import ManualClock
from service import config as cfg
from service.app.core import Core
from service.app.daemon import RunOptions, Service
from service.mqtt import commands as cmds
from service.mqtt.messages import Topics
from service.night.store import NightStore
from service.pipeline.nightwindow import NightWindow
from support.mqtt_helpers import Subscriber, wait_until
from support.service_runs import events_of, run_night

def test_commands_from_mqtt_reach_the_core(broker, night_config):
    """Disarm over MQTT: the next cramp is recorded but nobody is alerted."""
    topics = Topics.from_config(night_config)
    service = Service(night_config, RunOptions(simulate=True, speed=1e9, seed=3, cramps=1, duration_s=60))
    service.start()
    try:
        assert service.publisher.wait_connected(10)
        service.run()
        from support.mqtt_helpers import publisher

        pub = publisher(broker.host, broker.port)
        pub.publish(topics.command_named(cmds.DISARM), b"PRESS", qos=1).wait_for_publish(5)
        pub.publish(topics.command_named(cmds.SNOOZE), b"not a number", qos=1).wait_for_publish(5)
        pub.disconnect()
        assert wait_until(lambda: service.queue.qsize() > 0, 10)
        service.options.duration_s = 60
        service.run()
        assert service.core.armed is False
    finally:
        service.stop()


def test_clean_stop_mid_episode_ends_it(broker, night_config):
    """SIGTERM during a cramp: the episode is ended (cramp OFF) before the service says offline."""
    base = night_config.base_topic
    sub = Subscriber(broker.host, broker.port, topics=(f"{base}/#",))
    try:
        service = run_night(night_config, seed=3, cramps=1, duration_s=420)
        onset, end = service.world.episodes()["leg"][0]
        assert onset < 420 < end  # stopped in the middle of the cramp
        assert sub.wait_for(lambda s: any(e["type"] == "cramp_end" for e in events_of(s, base)), 10)
        kinds = [e["type"] for e in events_of(sub, base) if e["type"] in ("cramp_start", "cramp_end")]
        assert kinds == ["cramp_start", "cramp_end"]
        assert sub.wait_for(lambda s: s.on(f"{base}/cramp") and s.on(f"{base}/cramp")[-1].payload == b"OFF", 10)
    finally:
        sub.close()


@pytest.fixture
def core(state_dir):
    config = cfg.parse(f'[storage]\nstate_dir = "{state_dir}"\n')
    store = NightStore(state_dir, window=NightWindow.from_config(config.night), clock=ManualClock())
    store.start_session()
    yield Core(config, ManualClock(), store)
    store.close("stopped")


def test_a_typed_command_on_the_queue_is_applied(core):
    core.handle(cmds.Command(cmds.DISARM, source="button"))
    assert core.armed is False and core.stats.commands == 1
    core.handle(cmds.Command(cmds.ARM))
    assert core.armed is True and core.stats.commands == 2


def test_an_unexpected_item_is_logged_and_ignored(core, caplog):
    with caplog.at_level(logging.WARNING, logger="service.app.core"):
        core.handle(("command", cmds.Command(cmds.DISARM)))  # only a Command is a command
    assert core.armed is True and core.stats.commands == 0
    assert "ignoring unexpected item 'tuple'" in caplog.text
