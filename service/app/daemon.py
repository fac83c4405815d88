"""``nightcramp run``: the composition root.

Thin wiring, one job per thread:

- one :class:`~firmware.acquisition.Sampler` thread per leg drains its FIFO and
  puts batches, gaps and sensor status on the core queue (never waits on the
  network or the disk);
- the :class:`~firmware.thermometer.Thermometer` thread reads the room once a minute;
- paho's network thread and the outbox pump (:class:`~service.mqtt.client.MQTTBridge`);
- gpiozero's callback threads for the button;
- the **core** thread (:class:`~service.app.core.Core`): the only one that
  touches the legs' pipelines (detector, alert policy, movement summary); it
  stamps events with wall time, commits them to the night record, hands them to
  the outbox, drives the LED and buzzer, and produces the morning log when the
  night window ends;
- the watchdog thread, which pings systemd only while every sampler makes
  progress (a drain or a failed attempt: both count).

Everything reaches the core through one queue, so the core needs no locks.
The hardware comes from :func:`service.app.hardware.open_hardware`.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from firmware.clock import Clock, SystemClock
from firmware.errors import ConfigError, NightcrampError
from service import events as ev
from service.app.core import Core
from service.config import Config
from service.mqtt import commands as cmds
from service.pipeline.nightwindow import NightWindow

log = logging.getLogger(__name__)
_SYSTEM_CLOCK = SystemClock()

SIGNAL_POLL_S = 0.2
"""Longest a stepped (``--simulate``) run waits before looking at the flags its signal handlers set."""

TICK_REAL_S = 1.0
"""Real seconds the core waits for an item before doing its time-driven work anyway.  Every item (a
drain, a button press, an MQTT command) wakes it at once; what is left is timed in whole seconds
(prompts, the local-alert fallback, the test-alert buzz, the night window)."""


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
    sensor_absent_s: float | None = None  # simulated: the sensor is plugged in this long after the start
    lookalikes: bool = False  # simulated night: add the real-recording look-alikes (--lookalikes)


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
        # Set by the signal handlers, read by the loop: a handler only assigns (see _install_signals).
        self.signalled: str | None = None  # SIGTERM/SIGINT: stop
        self.reload_pending = False  # SIGHUP: check the file, then restart with it
        self.config_path: str | None = None
        self.hardware = None
        self.store = None
        self.outbox = None
        self.publisher = None
        self.gpio = None
        self.core: Core | None = None
        self.watchdog = None
        self.snippet_writer = None
        self.dropped_items = 0

    # ------------------------------------------------------------ the hardware's parts

    @property
    def clock(self) -> Clock:
        """The hardware's clock (simulated: the stepped world's); the system clock until it is open."""
        return self.hardware.clock if self.hardware is not None else _SYSTEM_CLOCK

    @property
    def world(self):
        return self.hardware.world if self.hardware is not None else None

    @property
    def samplers(self) -> list:
        return self.hardware.samplers if self.hardware is not None else []

    @property
    def thermometer(self):
        return self.hardware.thermometer if self.hardware is not None else None

    # ------------------------------------------------------------ set-up

    def _sink(self, item: Any) -> None:
        """Called from the sampler/thermometer threads: never blocks."""
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            self.dropped_items += 1
            if self.dropped_items in (1, 10, 100) or self.dropped_items % 1000 == 0:
                log.error("core is not keeping up: %d items dropped", self.dropped_items)

    def _command(self, cmd: cmds.Command) -> None:
        self._sink(cmd)

    def _open_hardware(self) -> None:
        from service.app.hardware import open_hardware
        from service.sim.world import SimOptions

        opts = self.options
        simulate = None
        if opts.simulate:
            simulate = SimOptions(seed=opts.seed, cramps=2 if opts.cramps is None else opts.cramps,
                                  sleeper=opts.sleeper, start=opts.start, fail_rate=opts.fail_rate,
                                  sensor_absent_s=opts.sensor_absent_s, lookalikes=opts.lookalikes)
        self.hardware = open_hardware(self.config, simulate, self._sink)

    def _open_mqtt(self) -> None:
        if not self.config.mqtt.host:
            log.info("mqtt: no broker configured (mqtt.host); events are kept in the night record only")
            return
        from service.mqtt.client import MQTTBridge
        from service.mqtt.outboxkeeper import OutboxKeeper

        # The keeper holds in memory what a damaged, full or read-only disk refuses (docs/reliability.md).
        self.outbox = OutboxKeeper(self.config.state_dir, self.config.mqtt.outbox_max_events,
                                   clock=self.clock.monotonic)
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
            on_test_alert=lambda: self._command(cmds.Command(cmds.TEST_ALERT, source="button")),
            on_missed_cramp=lambda: self._command(cmds.Command(cmds.MISSED_CRAMP, source="button")))

    def _open_snippets(self):
        """The snippet writer thread (docs/learning.md), or None when ``snippets.enabled`` is off."""
        if not self.config.snippets.enabled:
            return None
        from service.app.core import LabelTally
        from service.learning.writer import SnippetWriter

        self.snippet_writer = SnippetWriter(self.config, on_change=lambda counts: self._sink(LabelTally(counts)))
        if not self.options.simulate:  # stepped simulation writes them inline, so runs are reproducible
            self.snippet_writer.start()
        return self.snippet_writer.submit

    def start(self) -> None:
        from service.app import sdnotify
        from service.night.keeper import RecordKeeper

        state_dir = self.config.state_dir
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # the alert needs only the sensor: the record keeper holds and retries
            log.error("cannot create the state directory %s: %s; alerting without a night record for now",
                      state_dir, exc.strerror)
        from service.learning.active import with_active_tuning

        self.config = with_active_tuning(self.config)  # nightcramp tune --apply: effective from this start
        self._open_hardware()
        window = NightWindow.from_config(self.config.night)
        # A damaged record is set aside, an unwritable one held in memory and retried: never a failed start.
        self.store = RecordKeeper(state_dir, window=window, flush_interval_s=self.config.storage.flush_interval_s,
                                  clock=self.clock)
        self.store.start_session()
        self._open_mqtt()
        self._open_gpio()
        sink = self._open_snippets()
        self.core = Core(self.config, self.clock, self.store, self.publisher, self.gpio, on_event=self.on_event,
                         snippet_sink=sink)
        if self.publisher is not None:
            self.publisher.start()
        if not self.options.simulate:  # simulated hardware is stepped by run(), not by threads
            self.hardware.start()
        # Every pass counts, failed ones too: an unplugged sensor (or one missing since the start, probed
        # for with a back-off) is a sensor_fault, not a hang to restart.
        self.watchdog = sdnotify.Watchdog({s.leg: (lambda s=s: s.stats.passes) for s in self.samplers})
        if self.watchdog.enabled:
            self.watchdog.start()
        legs = ", ".join(f"{s.leg}: {s.driver.description}" for s in self.samplers)
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
        while not self._stopping():
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
        if self.snippet_writer is not None and self.options.simulate:
            self.snippet_writer.run_pending()

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
        while not self._stopping():
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
                self.stop_event.wait(min(ahead, SIGNAL_POLL_S))
        self._core_pass()
        return 0

    def _stopping(self) -> bool:
        """Whether the loop should end; handles what the signal handlers asked for since the last pass."""
        if self.reload_pending:
            self.reload_pending = False
            reload_config(self, self.config_path)
        if self.signalled is not None and not self.stop_event.is_set():
            log.info("signal %s: stopping", self.signalled)
            self.request_stop()
        return self.stop_event.is_set()

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
        if self.hardware is not None:
            self.hardware.stop()
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.core is not None:
            self._core_pass(periodic=False)
            self.core.close()
        if self.snippet_writer is not None:
            self.snippet_writer.stop()
            self.snippet_writer.on_change = None  # it points back at this service: let both go
        if self.publisher is not None:
            self.publisher.stop()
        if self.gpio is not None:
            self.gpio.close()
        if self.store is not None:
            self.store.close("stopped")
        if self.outbox is not None:
            self.outbox.close()
        if self.hardware is not None:
            self.hardware.close()
        log.info("nightcramp stopped")


def _install_signals(service: Service, config_path: str | None) -> None:
    """SIGTERM/SIGINT stop, SIGHUP reloads; the handlers only set flags the loop reads.

    A Python signal handler runs in the main thread between two bytecodes,
    possibly while that thread holds a lock: inside ``Event.wait`` (which
    holds the event's plain, non-reentrant lock for a few bytecodes around
    each wait) or half way through an import.  A handler that called
    ``Event.set()`` there would wait for itself forever: the loop stepped the
    night on, SIGTERM was "received" and the process never stopped (the
    reload test's rare 60 s time-out).  So the handlers only assign; the loop
    notices within ``SIGNAL_POLL_S`` (stepped) or ``TICK_REAL_S`` (real time),
    and checks and logs in its own time.
    """
    service.config_path = config_path

    def on_term(signum, frame):
        service.signalled = signal.Signals(signum).name

    def on_hup(signum, frame):
        service.reload_pending = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)


def reload_config(service: Service, config_path: str | None) -> bool:
    """SIGHUP: restart with the new configuration if ``run`` would accept it; otherwise keep running as is.

    The check is :func:`service.config.load_checked`, the one ``run`` and
    ``config check`` use.  A rejected file is logged at error priority and put
    in the status line ``systemctl status`` shows; the service goes on with
    the configuration it has.  Never raises: a reload must not end the night.
    """
    from service import config as cfg
    from service.app import sdnotify

    try:
        cfg.load_checked(config_path)
    except ConfigError as exc:
        reason = "; ".join(exc.problems)
        log.error("reload rejected, still running the previous configuration: %s", reason)
        sdnotify.status(f"reload rejected, running the previous configuration: {reason}")
        return False
    except Exception:  # a bug in the check must not take the running service with it
        log.exception("reload rejected (unexpected error while checking); still running the previous configuration")
        sdnotify.status("reload rejected (internal error), running the previous configuration")
        return False
    log.info("SIGHUP: configuration is valid, restarting with it")
    service.request_stop(reload=True)
    return True


def cmd_run(args) -> int:
    from service import config as cfg

    config = cfg.load_checked(args.config)
    simulate = args.simulate or config.device.simulated
    lookalikes = bool(getattr(args, "lookalikes", False))
    if not simulate and (args.seed is not None or args.cramps is not None or args.speed != 1.0 or lookalikes):
        raise ConfigError("--seed, --cramps, --speed and --lookalikes only apply with --simulate "
                          "(or device.simulated = true)")
    start = None
    if simulate:
        from service.app.simulated import prepare

        config, start = prepare(config)
    options = RunOptions(simulate=simulate, seed=args.seed, cramps=args.cramps, speed=args.speed,
                         duration_s=args.duration, start=start, lookalikes=lookalikes)
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
