"""``nightcramp run``: the composition root.

Thin wiring, one job per thread:

- one :class:`~firmware.acquisition.Sampler` thread per leg drains its FIFO and
  puts batches, gaps and sensor status on the core queue (never waits on the
  network or the disk);
- the :class:`~firmware.thermometer.Thermometer` thread reads the room once a minute;
- paho's network thread and the outbox pump (:class:`~service.mqtt.client.MQTTBridge`);
- gpiozero's callback threads for the button;
- the **core** thread (:class:`Core`): the only one that touches the detectors,
  alert policies and movement summaries; it stamps events with wall time,
  commits them to the night record, hands them to the outbox, drives the LED
  and buzzer, and produces the morning log when the night window ends;
- the watchdog thread, which pings systemd only while every sampler makes progress.

Everything reaches the core through one queue, so the core needs no locks.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable

import numpy as np

from firmware.clock import Clock, SystemClock
from firmware.errors import ConfigError, NightcrampError
from firmware.samples import AccelBatch, Gap, SensorStatus, TempReading
from service.mqtt import commands as cmds
from service import events as ev
from service.pipeline.alerts import AlertPolicy
from service.config import Config
from service.pipeline.detect import CrampDetector
from service.pipeline.movement import MovementSummarizer
from service.pipeline.nightwindow import NightWindow
from service.pipeline.timebase import TimeBase

log = logging.getLogger(__name__)

STATE_EVERY_S = 60.0  # republish the retained state at least this often (monotonic seconds)
TICK_REAL_S = 0.25
MOVEMENT_BATCH_S = 10.0  # seconds of samples handed to the movement summary at once
DETECT_BATCH_S = 1.0
"""Seconds of samples handed to the detector at once.  Its decisions depend on sample time only
(the same alert ``t`` for any batch size), so this adds at most this much to the real delay of an
alert, and saves about 0.4 CPU-s per night-hour over feeding every 0.5 s drain (numpy's per-call
overhead dominates small batches)."""  # the core wakes at least this often (real seconds) for time-driven work


# ---------------------------------------------------------------- core


class _SampleBuffer:
    """Batches of samples collected until they span enough time to hand on in one call.

    numpy's per-call overhead dominates small batches, so the detector and the
    movement summary are fed a few drains at a time (see DETECT_BATCH_S).
    """

    def __init__(self):
        self._t: list[np.ndarray] = []
        self._a: list[np.ndarray] = []

    def add(self, t: np.ndarray, accel_g: np.ndarray) -> None:
        self._t.append(t)
        self._a.append(accel_g)

    def span_s(self) -> float:
        return float(self._t[-1][-1] - self._t[0][0]) if self._t else 0.0

    def take(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Everything collected, as one (t, accel_g) pair; None when empty."""
        if not self._t:
            return None
        t = self._t[0] if len(self._t) == 1 else np.concatenate(self._t)
        a = self._a[0] if len(self._a) == 1 else np.concatenate(self._a)
        self._t.clear()
        self._a.clear()
        return t, a


@dataclass
class _Leg:
    name: str
    detector: CrampDetector
    policy: AlertPolicy
    movement: MovementSummarizer
    sensor_ok: bool = True
    last_t: float | None = None
    to_movement: _SampleBuffer = field(default_factory=_SampleBuffer)  # fed every MOVEMENT_BATCH_S
    to_detector: _SampleBuffer = field(default_factory=_SampleBuffer)  # fed every DETECT_BATCH_S


@dataclass
class CoreStats:
    batches: int = 0
    samples: int = 0
    events: dict[str, int] = field(default_factory=dict)
    nights_finished: int = 0
    commands: int = 0


class Core:
    """Everything that happens, handled in order on one thread.

    ``publisher`` is an :class:`~service.mqtt.client.MQTTBridge` or None (no broker);
    ``gpio`` is :class:`~firmware.gpio.Peripherals` or ``NullPeripherals``.
    """

    def __init__(self, config: Config, clock: Clock, store, publisher=None, gpio=None,
                 on_event: Callable[[ev.StampedEvent], None] | None = None):
        self.config = config
        self.clock = clock
        self.store = store
        self.publisher = publisher
        self.gpio = gpio
        self.on_event = on_event
        self.window = NightWindow.from_config(config.night)
        self.timebase = TimeBase(clock, self.window.tz)
        self.timebase.on_jump(lambda jump: store.relabel_wall(jump.seconds))
        self.legs = {
            s.name: _Leg(s.name, CrampDetector(config.detection.sensitivity, s.name),
                         AlertPolicy(config.prompts, s.name), MovementSummarizer(s.name))
            for s in config.accelerometer.sensors
        }
        self.armed = True
        self.room_temp_c: float | None = None
        self.in_window = False
        self.night: date | None = None
        self.stats = CoreStats()
        self._last_episode_leg: str | None = None
        self._local_deadlines: dict[str, float] = {}  # event_id of a cramp_start -> monotonic deadline
        self._local_alerting = False
        self._last_state_at = -float("inf")
        self._state_dirty = True
        self._last_retention: date | None = None
        self._last_night_cramps: int | None = None
        self._next_boundary: float | None = None
        self._jumps_seen = 0
        self.last_morning_log = None
        self._last_flush = clock.monotonic()
        self._boundary_checked()

    # ------------------------------------------------------------ inputs

    def handle(self, item: Any) -> None:
        """Dispatch one item from the queue (a sample batch, gap, status, reading or command)."""
        if isinstance(item, AccelBatch):
            self._batch(item)
        elif isinstance(item, Gap):
            self._gap(item)
        elif isinstance(item, SensorStatus):
            self._status(item)
        elif isinstance(item, TempReading):
            self._temperature(item)
        elif isinstance(item, tuple) and item and item[0] == "command":
            self.command(item[1])
        else:
            log.warning("core: ignoring unexpected item %r", type(item).__name__)

    def _batch(self, batch: AccelBatch) -> None:
        leg = self.legs.get(batch.leg)
        if leg is None or len(batch) == 0:
            return
        self.stats.batches += 1
        self.stats.samples += len(batch)
        t_last = float(batch.t_mono[-1])
        leg.last_t = t_last
        self._boundary_checked(t_last)
        if not self.in_window:
            return
        leg.to_movement.add(batch.t_mono, batch.accel_g)
        if leg.to_movement.span_s() >= MOVEMENT_BATCH_S:
            self._summarise(leg)
        leg.to_detector.add(batch.t_mono, batch.accel_g)
        if leg.to_detector.span_s() >= DETECT_BATCH_S:
            self._detect(leg)
        self._emit(leg.policy.tick(t_last))

    def _detect(self, leg: _Leg) -> None:
        """Feed the waiting samples to the detector (disarmed too: the policy records, but does not alert)."""
        samples = leg.to_detector.take()
        if samples is None:
            return
        detections = leg.detector.feed(*samples)
        if detections:
            self._emit(leg.policy.feed(detections))

    def _summarise(self, leg: _Leg, close: bool = False) -> None:
        """Hand the waiting samples to the movement summary and store the minutes it completes."""
        samples = leg.to_movement.take()
        minutes = leg.movement.feed(*samples) if samples is not None else []
        if close:
            minutes += leg.movement.close()
        for minute in minutes:
            self.store.add_minute(self.timebase.wall_at(minute.t_start), minute)

    def _gap(self, gap: Gap) -> None:
        leg = self.legs.get(gap.leg)
        if leg is None:
            return
        log.info("gap on %s leg: %.1f s without samples (%s)", gap.leg, gap.duration_s, gap.reason)
        if self.in_window:
            self.store.add_gap(gap.leg, self.timebase.wall_at(gap.t_start), gap.duration_s, gap.reason)
            self._detect(leg)
            self._emit(leg.policy.feed(leg.detector.gap(gap.t_start, gap.t_end)))

    def _status(self, status: SensorStatus) -> None:
        leg = self.legs.get(status.leg)
        if leg is None or leg.sensor_ok == status.ok:
            return
        leg.sensor_ok = status.ok
        kind = ev.SENSOR_RECOVERED if status.ok else ev.SENSOR_FAULT
        (log.info if status.ok else log.warning)("sensor on %s leg: %s%s", status.leg,
                                                 "recovered" if status.ok else "FAULT",
                                                 f" ({status.reason})" if status.reason else "")
        self._emit([ev.Event(kind, status.t_mono, status.leg, None, {"reason": status.reason})])
        self._state_dirty = True
        self._show_led()

    def _temperature(self, reading: TempReading) -> None:
        self.room_temp_c = reading.temp_c
        for leg in self.legs.values():
            leg.policy.set_room_temp(reading.temp_c)
        wall = self.timebase.wall_at(reading.t_mono)
        self.store.add_temperature(wall, reading.temp_c)
        if self.publisher is not None:
            self.publisher.publish_temperature(reading.temp_c, wall.isoformat(timespec="seconds"),
                                               reading.humidity_pct, reading.sensor or None)
        self._state_dirty = True

    def command(self, cmd: cmds.Command) -> None:
        """Apply a :class:`service.mqtt.commands.Command` (from MQTT or the button)."""
        now = self.clock.monotonic()
        name = cmd.name
        log.info("command: %s (from %s)", name, cmd.source)
        self.stats.commands += 1
        if name == cmds.ACKNOWLEDGE:
            for leg in self._legs_for(cmd.episode_id):
                self._emit(leg.policy.acknowledge(now))
            self._local_deadlines.clear()
        elif name == cmds.FALSE_ALARM:
            targets = self._legs_for(cmd.episode_id)
            for leg in targets[:1]:
                self._emit(leg.policy.false_alarm(now, cmd.episode_id))
        elif name == cmds.SNOOZE:
            for leg in self.legs.values():
                self._emit(leg.policy.snooze(now, float(cmd.minutes or 0)))
            self._local_deadlines.clear()
        elif name in (cmds.ARM, cmds.DISARM):
            self.armed = name == cmds.ARM
            for leg in self.legs.values():
                leg.policy.arm(self.armed)
        elif name == cmds.TEST_ALERT:
            first = next(iter(self.legs.values()))
            self._emit(first.policy.test_alert(now, cmd.request_id))
        self._state_dirty = True
        self._show_led()

    def _legs_for(self, episode_id: str | None) -> list[_Leg]:
        """The leg an episode id belongs to; without one, the leg alerting now, else the last one."""
        legs = list(self.legs.values())
        if episode_id:
            match = [leg for leg in legs if leg.policy.episode_id == episode_id]
            return match or legs[:1]
        alerting = [leg for leg in legs if leg.policy.episode_id]
        if alerting:
            return alerting
        if self._last_episode_leg in self.legs:
            return [self.legs[self._last_episode_leg]]
        return legs[:1]

    # ------------------------------------------------------------ time-driven work

    def periodic(self) -> None:
        """Night boundaries, prompts, the local fallback, retained state; called often."""
        now = self.clock.monotonic()
        self.timebase.check()  # notice a wall-clock step even when nothing is being stamped
        self._boundary_checked(now)
        if now - self._last_flush >= self.config.storage.flush_interval_s:
            self._last_flush = now
            self.store.flush()  # batched rows are written even in a quiet, fault-ridden night
        if self.in_window:
            for leg in self.legs.values():
                if leg.last_t is not None and now - leg.last_t > 1.0:
                    self._emit(leg.policy.tick(now))  # prompts fire even when the sensor went quiet
        self._check_local_fallback(now)
        if self._state_dirty or now - self._last_state_at >= STATE_EVERY_S:
            self._publish_state(now)

    def _boundary_checked(self, t: float | None = None) -> None:
        """Open or close the night window when monotonic time ``t`` crosses a boundary.

        The wall time of the next boundary is converted to monotonic time once,
        so the check per batch is one comparison; a wall-clock jump (NTP after
        boot) invalidates it and it is computed afresh.
        """
        t = self.clock.monotonic() if t is None else t
        jumps = len(self.timebase.jumps)
        if self._next_boundary is not None and t < self._next_boundary and jumps == self._jumps_seen:
            return
        self._jumps_seen = jumps
        wall = self.timebase.wall_at(t)
        inside = self.window.contains(wall)
        nxt = self.window.next_end(wall) if inside else self.window.next_start(wall)
        self._next_boundary = t + (nxt - wall).total_seconds()
        if inside and not self.in_window:
            self.night = self.window.night_of(wall)
            for leg in self.legs.values():
                leg.detector.reset()
                leg.to_detector.take()  # samples from before the window are not part of this night
            log.info("night window opened: night of %s, detection %s", self.night,
                     "armed" if self.armed else "DISARMED")
            self.in_window = True
            self._state_dirty = True
            self._show_led()
        elif not inside and self.in_window:
            self.in_window = False
            for leg in self.legs.values():
                self._detect(leg)
                self._emit(leg.policy.feed(leg.detector.finish()))
                self._summarise(leg, close=True)
            self._state_dirty = True
            self._show_led()
            if self.night is not None:
                self.finish_night(self.night)
        if self._last_retention != wall.date():
            self._last_retention = wall.date()
            try:
                removed = self.store.enforce_retention(wall.date(), self.config.storage.retention_days,
                                                       self.config.storage.detail_retention_days)
                if any(removed.values()):
                    log.info("retention: removed %s", removed)
            except NightcrampError as exc:
                log.error("retention failed: %s", exc)
        if self._next_boundary - t > 3600.0:
            self._next_boundary = t + 3600.0  # look again hourly: retention runs daily, DST is honoured

    def finish_night(self, night: date) -> None:
        """The morning log: build, write Markdown and PNG, publish retained."""
        from service.night.outputs import finish_night

        try:
            self.store.flush()
            mlog = finish_night(self.store, night, self.config, self.config.state_dir, now=self.clock.wall(),
                                isolate_chart=True)
        except (NightcrampError, OSError) as exc:
            log.error("morning log for %s failed: %s", night, exc)
            return
        self.stats.nights_finished += 1
        data = mlog.to_dict()
        self._last_night_cramps = len(mlog.episodes)
        self.last_morning_log = mlog
        log.info("morning log for the night of %s:\n%s", night, mlog.to_text())
        if self.publisher is not None:
            self.publisher.publish_log(night.isoformat(), data)

    def _check_local_fallback(self, now: float) -> None:
        for event_id, deadline in list(self._local_deadlines.items()):
            if self.publisher is not None and self.publisher.delivered(event_id):
                del self._local_deadlines[event_id]
            elif now >= deadline:
                del self._local_deadlines[event_id]
                if any(leg.policy.alerting for leg in self.legs.values()):
                    log.warning("no broker acknowledged the cramp alert within %.0f s: alerting locally",
                                self.config.prompts.local_alert_after_s)
                    self._local_alerting = True
                    if self.gpio is not None:
                        self.gpio.alert(True)
        if self._local_alerting and not any(leg.policy.alerting for leg in self.legs.values()):
            self._local_alerting = False
            if self.gpio is not None:
                self.gpio.alert(False)

    def _show_led(self) -> None:
        if self.gpio is None:
            return
        if not all(leg.sensor_ok for leg in self.legs.values()):
            state = "sensor_fault"
        elif any(leg.policy.alerting for leg in self.legs.values()):
            state = "alert"
        elif self.in_window and self.armed:
            state = "armed"
        else:
            state = "idle"
        self.gpio.set_state(state)

    def _publish_state(self, now: float) -> None:
        self._last_state_at = now
        self._state_dirty = False
        if self.publisher is None:
            return
        from service.mqtt.messages import ServiceState

        snoozed = [leg.policy.snoozed_until for leg in self.legs.values() if leg.policy.is_snoozed(now)]
        self.publisher.publish_state(ServiceState(
            armed=self.armed,
            in_night_window=self.in_window,
            sensors={name: "ok" if leg.sensor_ok else "fault" for name, leg in self.legs.items()},
            episodes={name: leg.policy.episode_id for name, leg in self.legs.items()},
            room_temp_c=self.room_temp_c,
            snoozed_until=self.timebase.iso(max(snoozed)) if snoozed else None,
            last_night_cramps=self._last_night_cramps,
            time=self.timebase.iso(now),
        ))

    # ------------------------------------------------------------ output

    def _emit(self, events: list[ev.Event]) -> None:
        for e in events:
            stamped = ev.StampedEvent(ev.new_id(), self.timebase.iso(e.t), e)
            self.stats.events[e.type] = self.stats.events.get(e.type, 0) + 1
            try:
                self.store.record_event(stamped)  # committed before anything is published
            except NightcrampError as exc:
                log.error("could not record %s: %s", e.type, exc)
            if self.publisher is not None:
                self.publisher.publish_event(stamped)
            self._after_event(stamped)
            if self.on_event is not None:
                self.on_event(stamped)

    def _after_event(self, stamped: ev.StampedEvent) -> None:
        e = stamped.event
        if e.type == ev.CRAMP_START:
            self._last_episode_leg = e.leg
            log.warning("CRAMP on %s leg: alert raised (episode %s, onset %.0f s before)", e.leg, e.episode_id,
                        e.t - float(e.fields.get("onset", e.t)))
            if self.legs[e.leg].policy.alerting:
                after = self.config.prompts.local_alert_after_s if self.publisher is not None else 0.0
                self._local_deadlines[stamped.event_id] = e.t + after
        elif e.type in (ev.WARM_COMPRESS, ev.STRETCH_PROMPT, ev.CRAMP_END, ev.TEST_ALERT, ev.ACKNOWLEDGED,
                        ev.FALSE_ALARM):
            log.info("%s on %s leg%s", e.type, e.leg, f" (episode {e.episode_id})" if e.episode_id else "")
        if e.type in (ev.CRAMP_START, ev.CRAMP_END, ev.ACKNOWLEDGED):
            self._state_dirty = True
            self._show_led()
        if e.type == ev.TEST_ALERT and getattr(self.gpio, "buzzer", None) is not None:
            self.gpio.alert(True)
            threading.Timer(3.0, lambda: self.gpio.alert(False)).start()

    def close(self) -> None:
        """At a clean stop: end open episodes (so ``cramp`` goes OFF) and flush the minute in progress."""
        if self.in_window:
            for leg in self.legs.values():
                self._detect(leg)
                if leg.detector.in_episode:
                    self._emit(leg.policy.feed(leg.detector.finish()))
                self._summarise(leg, close=True)


# ---------------------------------------------------------------- service


@dataclass
class RunOptions:
    simulate: bool = False
    seed: int | None = None
    cramps: int | None = None
    speed: float = 1.0
    duration_s: float | None = None
    sleeper: str = "normal"
    fail_rate: float = 0.0
    start: datetime | None = None


class Service:
    """Hardware, core, store, MQTT and GPIO wired together; :meth:`run` until stopped."""

    def __init__(self, config: Config, options: RunOptions | None = None,
                 on_event: Callable[[ev.StampedEvent], None] | None = None):
        self.config = config
        self.options = options or RunOptions()
        self.on_event = on_event
        self.queue: queue.Queue = queue.Queue(maxsize=10000)
        self.stop_event = threading.Event()
        self.reload_requested = False
        self.world = None
        self.clock: Clock = SystemClock()
        self.samplers: list = []
        self.thermometer = None
        self.bus = None
        self.store = None
        self.outbox = None
        self.publisher = None
        self.gpio = None
        self.core: Core | None = None
        self.watchdog = None
        self.dropped_items = 0

    # ------------------------------------------------------------ set-up

    def _sink(self, item: Any) -> None:
        """Called from the sampler/thermometer threads: never blocks."""
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            self.dropped_items += 1
            if self.dropped_items in (1, 10, 100) or self.dropped_items % 1000 == 0:
                log.error("core is not keeping up: %d items dropped", self.dropped_items)

    def _command(self, cmd) -> None:
        self._sink(("command", cmd))

    def _open_hardware(self) -> None:
        from firmware.acquisition import Sampler
        from firmware.probe import open_accelerometer
        from firmware.thermometer import Thermometer, open_thermometer

        acc = self.config.accelerometer
        opts = self.options
        if opts.simulate:
            from service.sim.world import build_world

            self.world = build_world(self.config, seed=opts.seed, cramps=2 if opts.cramps is None else opts.cramps,
                                     sleeper=opts.sleeper, start=opts.start, fail_rate=opts.fail_rate)
            self.clock = self.world.clock
            self.bus = self.world.bus
            bus_label = "the emulated I2C bus"
        else:
            try:
                from smbus2 import SMBus

                from firmware.bus import LockedBus

                # One SMBus shared by every sampler and the thermometer: one transaction at a time.
                self.bus = LockedBus(SMBus(acc.i2c_bus))
            except (FileNotFoundError, PermissionError, OSError) as exc:
                raise NightcrampError(
                    f"cannot open /dev/i2c-{acc.i2c_bus}: {getattr(exc, 'strerror', None) or exc}. Enable I2C "
                    "(sudo raspi-config nonint do_i2c 0, then reboot), check the user is in the i2c group, "
                    "or try `nightcramp run --simulate`; `nightcramp doctor` checks all of this") from None
            bus_label = f"/dev/i2c-{acc.i2c_bus}"
        taken: list[int] = []
        for sensor in acc.sensors:
            driver = open_accelerometer(self.bus, sensor.chip, sensor.address, acc.rate_hz, acc.range_g,
                                        exclude=taken, require=False, bus_label=bus_label,
                                        sleep=self.clock.sleep)
            taken.append(driver.address)
            self.samplers.append(Sampler(driver, self._sink, self.clock, leg=sensor.name,
                                         drain_interval_s=acc.drain_interval_s, fault_after_s=acc.fault_after_s,
                                         stuck_after_s=acc.stuck_after_s))
        temp = self.config.temperature
        try:
            thermo = open_thermometer(self.bus, temp.sensor, temp.address, temp.w1_devices, clock=self.clock)
        except NightcrampError as exc:
            log.error("room thermometer: %s; running without room temperature", exc)
            thermo = None
        if thermo is not None:
            self.thermometer = Thermometer(thermo, self._sink, self.clock, interval_s=temp.interval_s)

    def _open_mqtt(self) -> None:
        if not self.config.mqtt.host:
            log.info("mqtt: no broker configured (mqtt.host); events are kept in the night record only")
            return
        from service.mqtt.client import MQTTBridge
        from service.mqtt.outbox import Outbox

        self.outbox = Outbox(self.config.state_dir, self.config.mqtt.outbox_max_events)
        self.publisher = MQTTBridge(self.config, self.outbox, self._command, on_delivered=self._delivered)

    def _delivered(self, event_id: str) -> None:
        if self.store is not None:
            try:
                self.store.mark_delivered(event_id)
            except NightcrampError as exc:
                log.debug("mark_delivered: %s", exc)

    def _open_gpio(self) -> None:
        from firmware.gpio import open_peripherals

        g = self.config.gpio
        self.gpio = open_peripherals(
            g.button_pin, g.led_pin, g.buzzer_pin, g.long_press_s,
            on_acknowledge=lambda: self._command(cmds.Command(cmds.ACKNOWLEDGE, source="button")),
            on_test_alert=lambda: self._command(cmds.Command(cmds.TEST_ALERT, source="button")))

    def start(self) -> None:
        from service.app import sdnotify
        from service.night.store import NightStore

        state_dir = self.config.state_dir
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NightcrampError(f"cannot create the state directory {state_dir}: {exc.strerror}") from None
        self._open_hardware()
        window = NightWindow.from_config(self.config.night)
        self.store = NightStore(state_dir, window=window, flush_interval_s=self.config.storage.flush_interval_s,
                                clock=self.clock)
        self.store.start_session()
        self._open_mqtt()
        self._open_gpio()
        self.core = Core(self.config, self.clock, self.store, self.publisher, self.gpio, on_event=self.on_event)
        if self.publisher is not None:
            self.publisher.start()
        if not self.options.simulate:  # simulated hardware is stepped by run(), not by threads
            for sampler in self.samplers:
                sampler.start()
            if self.thermometer is not None:
                self.thermometer.start()
        # Every pass counts, failed ones too: an unplugged sensor is a sensor_fault, not a hang to restart.
        self.watchdog = sdnotify.Watchdog({s.leg: (lambda s=s: s.stats.drains + s.stats.errors)
                                           for s in self.samplers})
        if self.watchdog.enabled:
            self.watchdog.start()
        legs = ", ".join(f"{s.leg}: {s.driver.model} at {s.driver.address:#04x}" for s in self.samplers)
        sdnotify.ready(f"sampling {legs}")
        log.info("nightcramp running (%s); night window %s", legs, self.core.window)

    def run(self) -> int:
        """The core loop, until :meth:`request_stop` or ``--duration`` of (simulated) time."""
        assert self.core is not None, "start() first"
        if self.options.simulate:
            return self._run_stepped()
        t_end = None
        if self.options.duration_s is not None:
            t_end = self.clock.monotonic() + self.options.duration_s
        while not self.stop_event.is_set():
            try:
                first = self.queue.get(timeout=TICK_REAL_S)
            except queue.Empty:
                first = None
            self._core_pass(first)
            if t_end is not None and self.clock.monotonic() >= t_end:
                log.info("--duration reached")
                break
        return 0

    def _core_pass(self, first: Any = None, periodic: bool = True) -> None:
        """Handle ``first`` and everything queued, then the time-driven work.

        Nothing raised here ends the night: a bug is logged and the next item handled.
        """
        item = first
        while True:
            if item is None:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
            self._guarded(self.core.handle, item)
            item = None
        if periodic:
            self._guarded(self.core.periodic)

    @staticmethod
    def _guarded(func: Callable, *args: Any) -> None:
        try:
            func(*args)
        except NightcrampError as exc:
            log.error("core: %s", exc)
        except Exception:  # a bug must not end the night: log it and go on
            log.exception("core: unexpected error (continuing)")

    def _run_stepped(self) -> int:
        """Simulated hardware: step samplers and thermometer in simulated time, paced by ``--speed``.

        The same Sampler and Thermometer code runs as on a Pi, but one thread
        advances the simulated clock from one due drain or reading to the next,
        so speed is limited by the CPU and not by thread scheduling, and a run
        is reproducible from its seed.
        """
        clock = self.clock
        t0 = clock.monotonic()
        t_end = t0 + self.options.duration_s if self.options.duration_s is not None else t0 + self.world.night_hours * 3600
        real0 = time.monotonic()
        speed = self.options.speed
        due = {id(s): t0 for s in self.samplers}
        next_temp = t0
        while not self.stop_event.is_set():
            now = clock.monotonic()
            if now >= t_end:
                log.info("simulated time reached the end (%.0f s)", now - t0)
                break
            for sampler in self.samplers:
                if due[id(sampler)] <= now:
                    due[id(sampler)] = now + max(1e-3, sampler.step())
            if self.thermometer is not None and next_temp <= now:
                self.thermometer.read_once()
                next_temp += self.thermometer.interval_s
            self._core_pass()
            nxt = min([*due.values(), next_temp if self.thermometer is not None else t_end, t_end])
            if nxt > clock.monotonic():
                clock.advance(nxt - clock.monotonic())
            ahead = (clock.monotonic() - t0) / speed - (time.monotonic() - real0)
            if ahead > 0.002:
                self.stop_event.wait(ahead)
        self._core_pass()
        return 0

    def request_stop(self, reload: bool = False) -> None:
        self.reload_requested = reload
        self.stop_event.set()

    def stop(self) -> None:
        """Stop sampling, handle what is queued, flush the store and outbox, say offline."""
        from service.app import sdnotify

        if self.reload_requested:
            sdnotify.reloading()  # the re-executed process sends READY=1 again
        else:
            sdnotify.stopping("stopping")
        for sampler in self.samplers:
            sampler.stop()
        if self.thermometer is not None:
            self.thermometer.stop()
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.core is not None:
            self._core_pass(periodic=False)
            self.core.close()
        if self.publisher is not None:
            self.publisher.stop()
        if self.gpio is not None:
            self.gpio.close()
        if self.store is not None:
            self.store.close("stopped")
        if self.outbox is not None:
            self.outbox.close()
        if self.bus is not None:
            try:
                self.bus.close()
            except OSError:
                pass
        log.info("nightcramp stopped")


def _install_signals(service: Service, config_path: str | None) -> None:
    from service import config as cfg

    def on_term(signum, frame):
        log.info("signal %s: stopping", signal.Signals(signum).name)
        service.request_stop()

    def on_hup(signum, frame):
        try:
            cfg.load(config_path)
        except ConfigError as exc:
            log.error("SIGHUP: the new configuration is invalid, keeping the running one: %s", exc)
            return
        log.info("SIGHUP: configuration is valid, restarting with it")
        service.request_stop(reload=True)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)


def cmd_run(args) -> int:
    from service import config as cfg

    config = cfg.load(args.config)
    options = RunOptions(simulate=args.simulate, seed=args.seed, cramps=args.cramps, speed=args.speed,
                         duration_s=args.duration)
    if not args.simulate and (args.seed is not None or args.cramps is not None or args.speed != 1.0):
        raise ConfigError("--seed, --cramps and --speed only apply with --simulate")
    service = Service(config, options)
    _install_signals(service, args.config)
    try:
        service.start()
        service.run()
    finally:
        service.stop()
    if service.reload_requested:
        log.info("re-executing to apply the new configuration")
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "service", *sys.argv[1:]])
    return 0
