"""Every way a label arrives: the button (MockFactory), MQTT (a real mosquitto), Home Assistant's button, the CLI."""

from __future__ import annotations

import json
import queue
import threading
import time

import pytest

from firmware.errors import CommandError
from firmware.gpio import Peripherals
from service import cli
from service import events as ev
from service.learning.snippets import SnippetStore
from service.mqtt import commands as cmds
from service.mqtt import discovery
from service.mqtt.client import MQTTBridge
from service.mqtt.messages import Topics
from service.mqtt.outbox import Outbox
from support.mqtt_helpers import make_config, publisher, wait_until
from tests.service.learning.conftest import Rig, learning_config

BUTTON = 17


def _press(pin, seconds=0.03):
    pin.drive_low()
    time.sleep(seconds)
    pin.drive_high()
    time.sleep(0.03)


def test_three_presses_report_a_missed_cramp_and_one_does_not(mock_factory):
    reports, acks = [], []
    p = Peripherals(BUTTON, long_press_s=1.0, min_press_s=0.01, on_acknowledge=lambda: acks.append(1),
                    on_missed_cramp=lambda: reports.append(time.monotonic()))
    try:
        pin = mock_factory.pin(BUTTON)
        _press(pin)
        assert wait_until(lambda: len(acks) == 1, 5) and reports == []
        time.sleep(1.6)  # longer than triple_press_s: the next presses start afresh
        for _ in range(3):
            _press(pin)
        assert wait_until(lambda: len(reports) == 1, 5)
        assert len(acks) == 4  # every press still acknowledges (stops a buzzer at once)
    finally:
        p.close()


def test_the_service_wires_the_triple_press_to_the_missed_cramp_command(mock_factory, state_dir):
    from service.app.daemon import Service

    config = make_config(None, state_dir, extra="[gpio]\nbutton_pin = 17\n")
    service = Service(config)
    service._open_gpio()
    try:
        pin = mock_factory.pin(BUTTON)
        for _ in range(3):
            _press(pin, 0.08)  # longer than the service's 50 ms bounce filter
        assert wait_until(lambda: service.queue.qsize() >= 4, 5)
        items = [service.queue.get_nowait() for _ in range(service.queue.qsize())]
        assert [i.name for i in items].count(cmds.MISSED_CRAMP) == 1
        assert next(i for i in items if i.name == cmds.MISSED_CRAMP).source == "button"
    finally:
        service.gpio.close()


def test_home_assistant_offers_a_that_was_a_cramp_button_and_a_labels_sensor(state_dir):
    config = make_config(None, state_dir)
    topics = Topics.from_config(config)
    configs = {m.topic: json.loads(m.payload) for m in discovery.discovery(topics, "Bed", ["leg"], "1")}
    button = configs[topics.discovery("button", "missed_cramp")]
    assert button["command_topic"] == topics.command_named(cmds.MISSED_CRAMP)
    # what the button sends parses to the command
    parsed = cmds.parse(topics, button["command_topic"], button["payload_press"].encode())
    assert parsed.name == cmds.MISSED_CRAMP and parsed.time is None
    sensor = configs[topics.discovery("sensor", "labelled_alarms")]
    assert sensor["state_topic"] == topics.state and "labelled_alarms" in sensor["value_template"]


@pytest.mark.parametrize("payload, time_, leg", [
    (b"PRESS", None, None),
    (b'{"time": "2026-11-25T03:10:00+01:00", "leg": "left"}', "2026-11-25T03:10:00+01:00", "left"),
    (b'{"time": "now"}', None, None),
])
def test_missed_cramp_commands_parse(payload, time_, leg):
    topics = Topics("nightcramp/bed1", "bed1")
    c = cmds.parse(topics, "nightcramp/bed1/cmd/missed_cramp", payload)
    assert (c.name, c.time, c.leg) == (cmds.MISSED_CRAMP, time_, leg)


@pytest.mark.parametrize("payload", [b'{"time": "03:10"}', b'{"time": "2026-11-25T03:10:00"}', b'{"time": 5}',
                                     b'{"leg": "Left Leg"}', b'{"minutes": 3}'])
def test_bad_missed_cramp_commands_are_refused(payload):
    topics = Topics("nightcramp/bed1", "bed1")
    with pytest.raises(CommandError):
        cmds.parse(topics, "nightcramp/bed1/cmd/missed_cramp", payload)


class _ServiceOverMQTT:
    """A core with a real bridge; a thread hands it the bridge's commands as the service's queue does."""

    def __init__(self, broker, state_dir):
        self.config = make_config(broker, state_dir, extra='[night]\ntimezone = "UTC"\n')
        self.commands: queue.Queue = queue.Queue()
        self.bridge = MQTTBridge(self.config, Outbox(state_dir, 1000), self.commands.put)
        self.rig = Rig(self.config, publisher=self.bridge)
        self.bridge.start()
        assert self.bridge.wait_connected(10)
        t, a = self.rig.quiet(300)
        self.rig.feed(t, a)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop.is_set():
            try:
                c = self.commands.get(timeout=0.05)
            except queue.Empty:
                continue
            self.rig.core.handle(c)
            t, a = self.rig.quiet(70)
            self.rig.feed(t, a)  # the tail arrives: the snippet is cut and written

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.bridge.stop()
        self.bridge.outbox.close()
        self.rig.store.close("stopped")


def test_a_missed_cramp_over_mqtt_keeps_a_labelled_snippet(broker, state_dir):
    s = _ServiceOverMQTT(broker, state_dir)
    try:
        pub = publisher(broker.host, broker.port)
        topics = Topics.from_config(s.config)
        pub.publish(topics.command_named(cmds.MISSED_CRAMP), b"PRESS", qos=1).wait_for_publish(5)
        pub.disconnect()
        assert wait_until(lambda: len(SnippetStore(state_dir).list()) == 1, 10)
        (snippet,) = SnippetStore(state_dir).list()
        assert snippet.label == "missed_cramp" and snippet.doc["labelled_by"] == "mqtt"
    finally:
        s.close()


def test_label_missed_from_the_cli_reaches_the_service(broker, state_dir, tmp_path, capsys):
    s = _ServiceOverMQTT(broker, state_dir)
    try:
        conf = tmp_path / "config.toml"
        conf.write_text(f'[device]\nid = "bed1"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
                        f'[storage]\nstate_dir = "{state_dir}"\n')
        assert cli.main(["label", "missed", "--config", str(conf)]) == 0
        assert "missed cramp recorded" in capsys.readouterr().out
        assert wait_until(lambda: len(SnippetStore(state_dir).list()) == 1, 10)
        assert SnippetStore(state_dir).list()[0].doc["labelled_by"] == "mqtt"
        assert s.rig.core.stats.events.get(ev.MISSED_CRAMP) == 1
    finally:
        s.close()


def test_label_missed_without_a_broker_says_so(state_dir, tmp_path, capsys):
    conf = tmp_path / "config.toml"
    conf.write_text(f'[storage]\nstate_dir = "{state_dir}"\n')
    assert cli.main(["label", "missed", "--config", str(conf)]) == 2
    assert "no MQTT broker" in capsys.readouterr().err
    assert cli.main(["label", "missed", "--time", "3 am", "--config", str(conf)]) == 2
    assert 'not "now", HH:MM or ISO 8601' in capsys.readouterr().err


def _false_alarm_without_an_episode(rig) -> None:
    """A quiet night with a false-alarm report and no episode: one snippet, labelled false_alarm."""
    t, a = rig.quiet(200)
    rig.feed(t, a)
    rig.core.handle(cmds.Command(cmds.FALSE_ALARM))
    t, a = rig.quiet(70)
    rig.feed(t, a)
    rig.store.close("stopped")


def test_label_list_set_and_clear_from_the_cli(state_dir, tmp_path, capsys):
    rig = Rig(learning_config(state_dir))
    _false_alarm_without_an_episode(rig)
    conf = tmp_path / "config.toml"
    conf.write_text(f'[storage]\nstate_dir = "{state_dir}"\n[night]\ntimezone = "UTC"\n')
    (snippet,) = SnippetStore(state_dir).list()
    assert cli.main(["label", "list", "--config", str(conf)]) == 0
    out = capsys.readouterr().out
    assert snippet.name in out and "false_alarm" in out
    assert cli.main(["label", "set", snippet.name[:20], "missed_cramp", "--config", str(conf)]) == 0
    assert SnippetStore(state_dir).list()[0].label == "missed_cramp"
    assert cli.main(["label", "clear", snippet.name, "--config", str(conf)]) == 0
    again = SnippetStore(state_dir).list()[0]
    assert again.label == "unlabelled" and again.doc["labelled_by"] == "cli"
    assert cli.main(["label", "set", "nosuchsnippet", "cramp", "--config", str(conf)]) == 1
    with pytest.raises(SystemExit) as exc:  # argparse: bad usage
        cli.main(["label", "set", snippet.name, "maybe", "--config", str(conf)])
    assert exc.value.code == 2


def test_label_takes_the_episode_tag_and_says_when_a_prefix_is_ambiguous(state_dir, tmp_path, capsys):
    from datetime import datetime, timedelta, timezone

    import numpy as np

    store = SnippetStore(state_dir)
    start = datetime(2026, 11, 25, 23, 0, tzinfo=timezone.utc)
    t = np.arange(0, 200, 1 / 50.0)
    a = np.tile([0.0, 0.0, 1.0], (t.size, 1))
    for k, eid in enumerate(("ab12cd34" + "0" * 24, "ef56ab78" + "0" * 24)):
        when = start + timedelta(minutes=k)
        store.write(t, a, {"label": "unlabelled", "time": when.isoformat(), "episode_id": eid, "onset_t": 120.0,
                           "end_t": 150.0}, when, "leg", "episode")
    conf = tmp_path / "config.toml"
    conf.write_text(f'[storage]\nstate_dir = "{state_dir}"\n')
    assert cli.main(["label", "set", "20261125T", "cramp", "--config", str(conf)]) == 1
    assert "matches 2 snippets" in capsys.readouterr().err
    assert cli.main(["label", "set", "ef56ab", "cramp", "--config", str(conf)]) == 0  # the tag in the name
    assert cli.main(["label", "set", "ab12cd34", "false_alarm", "--config", str(conf)]) == 0  # an episode id prefix
    assert [s.label for s in SnippetStore(state_dir).list()] == ["false_alarm", "cramp"]


def test_tune_and_export_refuse_an_output_they_cannot_write_before_working(state_dir, tmp_path, capsys):
    from tests.service.learning.test_tune import _labelled_week

    _labelled_week(state_dir)
    conf = tmp_path / "config.toml"
    conf.write_text(f'[storage]\nstate_dir = "{state_dir}"\n')
    assert cli.main(["tune", "-o", str(tmp_path), "--config", str(conf)]) == 2  # bad usage, as record -o
    captured = capsys.readouterr()
    assert "it is a folder" in captured.err and "false alarms" not in captured.out  # refused before replaying
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["tune", "-o", str(blocker / "f.toml"), "--config", str(conf)]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert cli.main(["export", "-o", str(tmp_path / "missing" / "x.zip"), "--config", str(conf)]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "missing").exists()


def test_a_corrupt_labels_file_is_skipped_with_a_warning(state_dir, tmp_path, capsys, caplog):
    """(--days: the week's snippets are older than the default 14 days.)"""
    from tests.service.learning.test_tune import _labelled_week

    store = _labelled_week(state_dir)
    bad = store.list()[0]
    bad.labels_file.write_text("{not json")
    conf = tmp_path / "config.toml"
    conf.write_text(f'[storage]\nstate_dir = "{state_dir}"\n')
    assert cli.main(["label", "list", "--days", "36500", "--config", str(conf)]) == 0
    captured = capsys.readouterr()
    listed = [line for line in captured.out.splitlines() if line.startswith("  ")]
    assert len(listed) == 4 and not any(bad.name in line for line in listed)
    said = captured.out + captured.err + caplog.text
    assert "fix or remove the file" in said
    assert said.count(f"snippet {bad.name}:") == 1  # said once, not once per pass over the directory


def test_the_reading_commands_reach_the_try_it_modes_state_with_simulate(state_dir, tmp_path, capsys):
    """A simulated run keeps its record and snippets in <state_dir>/simulated; ``--simulate`` on log, label, export and
    tune reads them there, and without it they read (only) the real state."""
    import zipfile

    rig = Rig(learning_config(state_dir, "[device]\nsimulated = true\n"))
    assert rig.config.state_dir == state_dir / "simulated"
    _false_alarm_without_an_episode(rig)
    (snippet,) = SnippetStore(state_dir / "simulated").list()
    conf = tmp_path / "config.toml"
    conf.write_text(f'[storage]\nstate_dir = "{state_dir}"\n[night]\ntimezone = "UTC"\n')
    assert cli.main(["label", "list", "--config", str(conf)]) == 0
    assert snippet.name not in capsys.readouterr().out
    for argv in (["label", "--simulate", "--config", str(conf)], ["label", "list", "--simulate", "--config", str(conf)]):
        assert cli.main(argv) == 0
        assert snippet.name in capsys.readouterr().out
    assert cli.main(["label", "set", snippet.name, "cramp", "--simulate", "--config", str(conf)]) == 0
    assert SnippetStore(state_dir / "simulated").list()[0].label == "cramp"
    out = tmp_path / "shared.zip"
    assert cli.main(["export", "-o", str(out), "--config", str(conf)]) == 1  # nothing labelled in the real state
    capsys.readouterr()
    assert cli.main(["export", "-o", str(out), "--simulate", "--config", str(conf)]) == 0
    assert "export: 1 snippet and manifest.json written" in capsys.readouterr().out
    assert f"snippets/{snippet.path.name}" in zipfile.ZipFile(out).namelist()
    night = "2026-11-24"
    assert cli.main(["log", "--date", night, "--config", str(conf)]) != 0
    assert "no night record" in capsys.readouterr().err
    assert cli.main(["log", "--date", night, "--simulate", "--config", str(conf)]) == 0
    assert night in capsys.readouterr().out
    # tune: the real state has nothing labelled, which it says without --simulate
    assert cli.main(["tune", "--config", str(conf)]) == 1
    assert "nothing labelled" in capsys.readouterr().err
