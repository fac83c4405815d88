"""Fault matrix, service faults: a simulated night with cramps through the whole service under each fault.

Every cell runs the real :class:`~service.app.daemon.Service` on the emulated
sensor (simulated time at full speed), a real mosquitto, gpiozero MockFactory
pins and a real state directory that already holds an earlier night, and
injects one fault: commands left retained on the broker (at the start and
again after a broker restart mid-night, and one cleared mid-night), a reload
with a bad configuration mid-night, the sensor missing at the start and
plugged in later.  Each asserts the same things: every cramp start (once the
sensor is there) is an alert that reaches a subscriber and the buzzer pin,
the service runs to the end of its night, and the earlier night still reads.
docs/reliability.md ("Fault matrix") lists the cells and what they showed.

The hooks run inside the core thread (``on_event``), so the night waits while
a hook restarts the broker or sends a signal; a hook never raises (the core
would log it and go on): it notes failures for the test to assert.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from service import events as ev
from service.app.daemon import RunOptions, Service, _install_signals
from service.night.store import NightStore
from service.pipeline.nightwindow import NightWindow
from support import ROOT
from support.brokers import Mosquitto
from support.mqtt_helpers import WAIT_S, Subscriber, make_config, retain, wait_until
from support.nightbuilder import Cramp, NightSpec, make
from support.service_runs import NIGHT, events_of

BASE = "nightcramp/bed1"
TZ = ZoneInfo("Europe/Berlin")
SEED, CRAMPS = 3, 3
BUZZER = 22
# local_alert_after_s at its least: the buzzer sounds 0.5 simulated s after an alert the broker has not
# confirmed yet.  The buzzer is the fallback for an alert nobody confirmed (docs/mqtt.md): with the broker
# up, an alert confirmed within those 0.5 s rightly stays silent, so a cell asserts "buzzer, or confirmed
# by the broker in time" for each alert, and the broker-restart cell raises one alert while the broker is
# down, which must sound.
EXTRA = NIGHT + f"[gpio]\nbutton_pin = 17\nled_pin = 27\nbuzzer_pin = {BUZZER}\n[prompts]\nlocal_alert_after_s = 0.5\n"
STALE = [("cmd/disarm", b"PRESS"), ("cmd/snooze", b"600"), ("cmd/test_alert", b"PRESS"), ("cmd/armed", b"OFF"),
         ("cmd", b'{"command": "disarm"}')]


class Night:
    """One cell's run: the service, what its hooks saw, and the checks every cell makes."""

    def __init__(self, config, mock_factory, **options):
        self.buzzer = mock_factory.pin(BUZZER)
        self.starts: list[ev.StampedEvent] = []
        self.buzzed: set[str] = set()
        self.confirmed: set[str] = set()  # episodes whose alert the broker confirmed before the buzzer was due
        self.problems: list[str] = []
        self.hooks: list = []
        self._pending: dict[str, int] = {}
        self.service = Service(config, RunOptions(simulate=True, speed=1e9, seed=SEED, cramps=CRAMPS, **options),
                               on_event=self._on_event)

    def _on_event(self, stamped: ev.StampedEvent) -> None:
        e = stamped.event
        if e.type == ev.CRAMP_START:
            self.starts.append(stamped)
            self._pending[e.episode_id] = len(self.buzzer.states)
        elif e.episode_id in self._pending and e.t - self._start_t(e.episode_id) >= 1.0:
            # Past the 0.5 s: the alert sounds (the pattern thread must put the pin high; the night waits
            # meanwhile), or the broker confirmed it in time.
            seen = self._pending.pop(e.episode_id)
            if self.service.gpio.alerting:
                if wait_until(lambda: any(state for _, state in self.buzzer.states[seen:]), 3.0):
                    self.buzzed.add(e.episode_id)
            elif self.service.publisher.delivered(self._start_id(e.episode_id)):
                self.confirmed.add(e.episode_id)
        for hook in list(self.hooks):
            try:
                hook(stamped)
            except Exception as exc:  # noqa: BLE001 - reported by check(), never into the core
                self.problems.append(f"hook {hook.__name__}: {type(exc).__name__}: {exc}")

    def _start_t(self, episode_id: str) -> float:
        return next(s.event.t for s in self.starts if s.event.episode_id == episode_id)

    def _start_id(self, episode_id: str) -> str:
        return next(s.event_id for s in self.starts if s.event.episode_id == episode_id)

    def run(self) -> Service:
        self.service.start()
        self.t0 = self.service.clock.monotonic()
        try:
            self.service.run()
        finally:
            self.service.stop()
        return self.service

    def check(self, sub: Subscriber, state_dir, after_s: float | None = None,
              must_buzz: set[str] = frozenset()) -> list[ev.StampedEvent]:
        """The checks of every cell; returns the cramp starts they covered."""
        assert not self.problems, self.problems
        service = self.service
        assert service.core.stats.nights_finished == 1, "the service did not run to the end of its night"
        starts = [s for s in self.starts if after_s is None or s.event.t >= after_s]
        assert starts, "no cramp alert in the night (the cell proves nothing)"
        assert all(s.event.fields.get("alert", True) for s in starts), \
            [(s.event.fields.get("snoozed"), s.wall_time) for s in starts]  # none disarmed or snoozed
        ids = {s.event_id for s in starts}
        assert sub.wait_for(lambda sb: ids <= {e["event_id"] for e in events_of(sb, BASE)}, WAIT_S), \
            "a cramp start never reached the subscriber"
        episodes = {s.event.episode_id for s in starts}
        assert episodes <= self.buzzed | self.confirmed, "a cramp alert neither buzzed nor was confirmed in time"
        assert must_buzz <= self.buzzed, "an alert the broker could not confirm never reached the buzzer"
        assert _earlier_night_reads(state_dir, service.config) == 1
        return starts


def _earlier_night(state_dir, config) -> None:
    """A night recorded five days before the simulated one, with one cramp."""
    start = (datetime.now(TZ) - timedelta(days=5)).replace(hour=22, minute=0, second=0, microsecond=0)
    store, *_, writer = make(state_dir, start, TZ, window=NightWindow.from_config(config.night))
    writer.run(NightSpec(minutes=90, cramps=[Cramp(onset_s=1800, duration_s=60)]))
    store.close()


def _earlier_night_reads(state_dir, config) -> int:
    night = (datetime.now(TZ) - timedelta(days=5)).date()
    store = NightStore(state_dir, NightWindow.from_config(config.night), readonly=True)
    try:
        return len(store.night(night).episodes)
    finally:
        store.close()


def test_retained_commands_at_start_after_a_broker_restart_and_one_cleared(tmp_path, state_dir, mock_factory,
                                                                         caplog):
    caplog.set_level(logging.DEBUG, logger="service.mqtt.client")
    data = tmp_path / "mqdata"
    data.mkdir()
    data.chmod(0o777)  # mosquitto drops root privileges before writing its database
    broker = Mosquitto(tmp_path / "pbroker", extra_conf=f"persistence true\npersistence_location {data}/\n").start()
    sub = Subscriber(broker.host, broker.port, topics=(f"{BASE}/#",), client_id="fm-sub", persistent=True)
    try:
        retain(broker, BASE, STALE)
        config = make_config(broker, state_dir, extra=EXTRA)
        _earlier_night(state_dir, config)
        night = Night(config, mock_factory)
        restarted: dict[str, float] = {}
        down_alerts: set[str] = set()

        def restart_broker(stamped):
            """The broker goes away at the first cramp's end and comes back at the next one's, so that
            cramp is alerted with no broker to confirm it; its retained commands come back at the
            re-subscribe; then the retained disarm is cleared as docs/mqtt.md says (empty retained)."""
            e = stamped.event
            if e.type == ev.CRAMP_END and "stopped" not in restarted:
                sent = {s.event_id for s in night.starts}
                assert sub.wait_for(lambda sb: sent <= {x["event_id"] for x in events_of(sb, BASE)}, WAIT_S)
                restarted["stopped"] = e.t
                broker.stop()
            elif e.type == ev.CRAMP_START and "stopped" in restarted and "started" not in restarted:
                down_alerts.add(e.episode_id)
            elif e.type == ev.CRAMP_END and e.episode_id in down_alerts and "started" not in restarted:
                publisher_ = night.service.publisher
                ignored, subscriptions = publisher_.ignored_retained, sub.subscriptions
                broker.start()
                restarted["started"] = e.t
                assert wait_until(lambda: publisher_.connected and publisher_.ignored_retained >= ignored + len(STALE)
                                  and sub.subscriptions > subscriptions, WAIT_S), "no reconnect with the retained"
                retain(broker, BASE, [("cmd/disarm", b"")])
                assert wait_until(lambda: any("empty payload" in r.getMessage() for r in caplog.records), WAIT_S)

        night.hooks.append(restart_broker)
        service = night.run()
        assert "started" in restarted, f"the night had no two cramps to restart the broker between: {restarted}"
        starts = night.check(sub, state_dir, must_buzz=down_alerts)
        assert any(s.event.t > restarted["started"] for s in starts), "no cramp after the restart (proves nothing)"
        assert service.publisher.ignored_retained >= 2 * len(STALE)  # at the start and after the restart
        assert service.core.armed
        assert service.core.stats.events.get(ev.TEST_ALERT, 0) == 0
        assert service.core.stats.commands == 0  # nothing retained or cleared was taken as a command
    finally:
        sub.close()
        broker.stop()


def test_a_reload_with_a_bad_config_mid_night_keeps_the_night_running(tmp_path, broker, state_dir, mock_factory,
                                                                      caplog):
    caplog.set_level(logging.INFO)
    sub = Subscriber(broker.host, broker.port, topics=(f"{BASE}/#",))
    conf = tmp_path / "config.toml"
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        config = make_config(broker, state_dir, extra=EXTRA)
        _earlier_night(state_dir, config)
        night = Night(config, mock_factory)
        bad = (f'[device]\nid = "bed1"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nusername = "u"\n'
               f'password_file = "{tmp_path / "missing"}"\n[storage]\nstate_dir = "{state_dir}"\n')
        reloaded = []

        def bad_reload(stamped):
            """At the first cramp's end: a config `run` would refuse, and SIGHUP, as `kill -HUP` sends it."""
            if stamped.event.type != ev.CRAMP_END or reloaded:
                return
            reloaded.append(stamped.event.t)
            conf.write_text(bad)
            os.kill(os.getpid(), signal.SIGHUP)

        night.hooks.append(bad_reload)
        _install_signals(night.service, str(conf))  # the handlers `nightcramp run` installs
        service = night.run()
        assert reloaded, "the night had no cramp end to reload at"
        starts = night.check(sub, state_dir)
        assert any(s.event.t > reloaded[0] for s in starts), "no cramp after the reload (the cell proves nothing)"
        assert not service.reload_requested
        rejected = [r for r in caplog.records if "reload rejected" in r.getMessage()]
        assert len(rejected) == 1 and rejected[0].levelno == logging.ERROR
        assert "mqtt.password_file: cannot read" in rejected[0].getMessage()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        sub.close()
    # What `systemctl reload` runs first (the unit's ExecReload=): it fails, so systemctl says so.
    checked = subprocess.run([sys.executable, "-m", "service", "config", "check", "--quiet", str(conf)],
                             capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert checked.returncode == 2 and "mqtt.password_file: cannot read" in checked.stderr


def test_the_sensor_absent_at_start_and_plugged_in_later(broker, state_dir, mock_factory):
    plugged_s = 600.0
    sub = Subscriber(broker.host, broker.port, topics=(f"{BASE}/#", "homeassistant/#"))
    try:
        config = make_config(broker, state_dir, extra=EXTRA)
        _earlier_night(state_dir, config)
        night = Night(config, mock_factory, sensor_absent_s=plugged_s)
        seen_at_plug = {}

        def at_recovery(stamped):
            """When the sensor is found: what Home Assistant had been told while it was missing."""
            if stamped.event.type == ev.SENSOR_RECOVERED and not seen_at_plug:
                seen_at_plug["t"] = stamped.event.t
                assert sub.wait_for(lambda sb: any(not m.json()["sensor_ok"] for m in sb.on(f"{BASE}/state")))
                seen_at_plug["status"] = [m.payload for m in sub.on(f"{BASE}/status")]
                seen_at_plug["problem_entity"] = bool(sub.on("homeassistant/binary_sensor/bed1/sensor_leg/config"))
                seen_at_plug["states"] = [m.json() for m in sub.on(f"{BASE}/state")]

        night.hooks.append(at_recovery)
        service = night.run()
        assert seen_at_plug, "the sensor was never found"
        found_after_s = seen_at_plug["t"] - night.t0
        assert plugged_s <= found_after_s <= plugged_s + 30.0  # the first probe after the plug (back-off <= 30 s)
        assert b"online" in seen_at_plug["status"] and seen_at_plug["problem_entity"]
        faulted = [s for s in seen_at_plug["states"] if not s["sensor_ok"]]
        assert faulted[0]["sensors"] == {"leg": "fault"}
        assert faulted[0]["sensor_faults"]["leg"].startswith("not found: no accelerometer answers")
        kinds = [e["type"] for e in events_of(sub, BASE)]
        assert kinds.index(ev.SENSOR_FAULT) < kinds.index(ev.SENSOR_RECOVERED)
        night.check(sub, state_dir, after_s=seen_at_plug["t"])
    finally:
        sub.close()
