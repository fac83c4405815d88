"""The core: everything that happens, handled in order on one thread.

It routes each item from the service's queue (a sample batch, a gap, a sensor
status, a room reading, a command) to the leg it concerns
(:class:`~service.pipeline.leg.LegPipeline`), stamps the events the legs
produce with wall time, commits them to the night record before handing them
to the MQTT bridge, drives the LED and buzzer (:class:`~service.app.indicators.Indicators`),
and does the time-driven work when :class:`~service.app.schedule.Schedule`
says it is due: opening and closing the night window, the morning log,
retention, store flushes, the retained state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Callable

from firmware.clock import Clock
from firmware.errors import NightcrampError
from firmware.samples import AccelBatch, Gap, SensorStatus, TempReading
from service import events as ev
from service.app.baseline_store import load_baseline, save_baseline
from service.app.indicators import Indicators
from service.app.schedule import Boundary, Schedule
from service.config import Config
from service.mqtt import commands as cmds
from service.mqtt import discovery
from service.mqtt import messages as msgs
from service.mqtt.episodes import EpisodeTracker
from service.learning.keeper import SnippetKeeper
from service.pipeline.leg import LegOutput, LegPipeline
from service.pipeline.nightwindow import NightWindow
from service.pipeline.timebase import TimeBase

log = logging.getLogger(__name__)


def _with_source(events: list[ev.Event], source: str) -> list[ev.Event]:
    """The events of a user's answer, each saying where it came from (``mqtt`` or ``button``)."""
    return [replace(e, fields={**e.fields, "source": source}) for e in events]

CLOCK_CHECK_S = 5.0
"""Monotonic seconds between the periodic looks for a wall-clock step.  Every stamp (event, minute,
reading) looks too, so labels are always right; this look only moves a night-window boundary, where
5 s late changes nothing, and looking on every core pass cost more than the rest of the periodic work."""


@dataclass(frozen=True)
class LabelTally:
    """The snippet writer's count of labels, sent to the core to publish (see service.learning.summary)."""

    counts: dict


@dataclass
class CoreStats:
    batches: int = 0
    samples: int = 0
    events: dict[str, int] = field(default_factory=dict)
    nights_finished: int = 0
    commands: int = 0


class Core:
    """Everything that happens, handled in order on one thread.

    ``publisher`` is an :class:`~service.mqtt.client.MQTTBridge` or None (no broker: events are
    kept in the night record only); the core builds every message it hands over;
    ``gpio`` is :class:`~firmware.gpio.Peripherals` or ``NullPeripherals``.
    """

    def __init__(self, config: Config, clock: Clock, store, publisher=None, gpio=None,
                 on_event: Callable[[ev.StampedEvent], None] | None = None,
                 snippet_sink: Callable[[Any], bool] | None = None):
        self.config = config
        self.clock = clock
        self.store = store
        self.publisher = publisher
        self.gpio = gpio
        self.on_event = on_event
        self.window = NightWindow.from_config(config.night)
        self.timebase = TimeBase(clock, self.window.tz)
        self.timebase.on_jump(lambda jump: store.relabel_wall(jump.seconds))
        self.legs = {s.name: LegPipeline(s.name, config.detection, config.prompts,
                                         load_baseline(config.state_dir, s.name, config.detection.baseline_max_extra_s))
                     for s in config.accelerometer.sensors}
        self._settled_seen = {name: False for name in self.legs}
        self.schedule = Schedule(self.window, self.timebase, config.storage.flush_interval_s, clock.monotonic())
        self.indicators = Indicators(gpio, config.prompts.local_alert_after_s, has_broker=publisher is not None)
        self.armed = True
        self.room_temp_c: float | None = None
        self.in_window = False
        self._started_outside = False  # a window opened later is the evening, not a restart inside the night
        self.night: date | None = None
        self.stats = CoreStats()
        self._last_episode_leg: str | None = None
        self._state_dirty = True
        self._last_night_cramps: int | None = None
        self.last_morning_log = None
        self._clock_checked_at = -float("inf")
        self.topics = msgs.Topics.from_config(config)
        self.episodes = EpisodeTracker(self.topics, list(self.legs))
        # snippets around alarms and reports (docs/learning.md): samples kept here, written by ``snippet_sink``
        self.snippets = (SnippetKeeper(config, list(self.legs), self.timebase.wall_at, snippet_sink,
                                       settled_at=lambda leg, t: self.legs[leg].detector.settled_at(t))
                         if snippet_sink is not None and config.snippets.enabled else None)
        self.label_tally: dict | None = None
        self.sensor_faults: dict[str, str] = {}  # leg -> why its sensor is in fault (the state's sensor_faults)
        self._storage_seen: dict | None = None
        if publisher is not None:
            publisher.set_retained([*discovery.from_config(config), *self.episodes.initial_retained()])
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
        elif isinstance(item, cmds.Command):
            self.command(item)
        elif isinstance(item, LabelTally):
            self.label_tally = dict(item.counts)
            self._state_dirty = True
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
        if self.snippets is not None:
            self.snippets.add(batch.leg, batch.t_mono, batch.accel_g)
        self._take(leg.feed(batch.t_mono, batch.accel_g))
        if leg.settled != self._settled_seen.get(leg.name):
            self._settled_seen[leg.name] = leg.settled
            self._state_dirty = True
            if leg.settled:
                log.info("%s leg: settled, alerts possible", leg.name)
            else:
                log.info("%s leg: not settled (%s): no alert until still for %.0f s", leg.name,
                         leg.detector.unsettle_reason, self.config.detection.settle_s)

    def _gap(self, gap: Gap) -> None:
        leg = self.legs.get(gap.leg)
        if leg is None:
            return
        log.info("gap on %s leg: %.1f s without samples (%s)", gap.leg, gap.duration_s, gap.reason)
        if self.in_window:
            self.store.add_gap(gap.leg, self.timebase.wall_at(gap.t_start), gap.duration_s, gap.reason)
            self._emit(leg.gap(gap.t_start, gap.t_end))

    def _status(self, status: SensorStatus) -> None:
        leg = self.legs.get(status.leg)
        if leg is None or not leg.set_sensor_ok(status.ok):
            return
        kind = ev.SENSOR_RECOVERED if status.ok else ev.SENSOR_FAULT
        if status.ok:
            self.sensor_faults.pop(status.leg, None)
        else:
            self.sensor_faults[status.leg] = status.reason or "fault"
        self._sensor_status_line()
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
            self.publisher.set_retained(msgs.temperature(self.topics, reading.temp_c,
                                                         wall.isoformat(timespec="seconds"),
                                                         reading.humidity_pct, reading.sensor or None))
        self._state_dirty = True

    def command(self, cmd: cmds.Command) -> None:
        """Apply a :class:`service.mqtt.commands.Command` (from MQTT or the button)."""
        now = self.clock.monotonic()
        name = cmd.name
        log.info("command: %s (from %s)", name, cmd.source)
        self.stats.commands += 1
        if name == cmds.ACKNOWLEDGE:
            if cmd.episode_id and not any(leg.episode_id == cmd.episode_id for leg in self.legs.values()):
                log.warning("command: acknowledge for episode %s ignored: no such episode in progress",
                            cmd.episode_id)
                return
            for leg in self._legs_for(cmd.episode_id):
                self._emit(_with_source(leg.policy.acknowledge(now), cmd.source))
            self.indicators.answered()
        elif name == cmds.FALSE_ALARM:
            targets = self._legs_for(cmd.episode_id)
            for leg in targets[:1]:
                self._emit(_with_source(leg.policy.false_alarm(now, cmd.episode_id), cmd.source))
        elif name == cmds.SNOOZE:
            for leg in self.legs.values():
                self._emit(leg.policy.snooze(now, float(cmd.minutes or 0)))
            self.indicators.answered()
        elif name in (cmds.ARM, cmds.DISARM):
            self.armed = name == cmds.ARM
            for leg in self.legs.values():
                leg.policy.arm(self.armed)
        elif name == cmds.TEST_ALERT:
            first = next(iter(self.legs.values()))
            self._emit(first.policy.test_alert(now, cmd.request_id))
        elif name == cmds.MISSED_CRAMP:
            self._missed_cramp(cmd, now)
        self._state_dirty = True
        self._show_led()

    def _missed_cramp(self, cmd: cmds.Command, now: float) -> None:
        """ "That was a cramp": recorded as an event at the time it names (now by default), on its leg."""
        leg = cmd.leg if cmd.leg in self.legs else next(iter(self.legs))
        if cmd.leg is not None and cmd.leg not in self.legs:
            log.warning("missed-cramp report for unknown leg %r: taken as the %s leg", cmd.leg, leg)
        at = now
        if cmd.time is not None:
            from datetime import datetime

            at = now - (self.timebase.wall_at(now) - datetime.fromisoformat(cmd.time)).total_seconds()
            if at > now:
                log.warning("missed-cramp report for %s, in the future: taken as now", cmd.time)
                at = now
        fields = {"source": cmd.source}
        if cmd.request_id:
            fields["request_id"] = cmd.request_id
        self._emit([ev.Event(ev.MISSED_CRAMP, at, leg, None, fields)])

    def _legs_for(self, episode_id: str | None) -> list[LegPipeline]:
        """The leg an episode id belongs to; without one, the leg alerting now, else the last one."""
        legs = list(self.legs.values())
        if episode_id:
            match = [leg for leg in legs if leg.episode_id == episode_id]
            return match or legs[:1]
        alerting = [leg for leg in legs if leg.episode_id]
        if alerting:
            return alerting
        if self._last_episode_leg in self.legs:
            return [self.legs[self._last_episode_leg]]
        return legs[:1]

    # ------------------------------------------------------------ time-driven work

    def periodic(self) -> None:
        """Night boundaries, prompts, the local fallback, the test-alert buzz, retained state; called often."""
        now = self.clock.monotonic()
        if now - self._clock_checked_at >= CLOCK_CHECK_S:
            self._clock_checked_at = now
            self.timebase.check()  # notice a wall-clock step even when nothing is being stamped
        self._boundary_checked(now)
        if self.schedule.flush_due(now):
            self.store.flush()  # batched rows are written even in a quiet, fault-ridden night
        self._storage_checked()
        if self.in_window:
            for leg in self.legs.values():
                if leg.last_t is not None and now - leg.last_t > 1.0:
                    self._emit(leg.tick(now))  # prompts fire even when the sensor went quiet
        if self.snippets is not None and self.snippets.pending:
            self.snippets.check()
        self.indicators.check(now, self._alerting(),
                              self.publisher.delivered if self.publisher is not None else None)
        if self.schedule.state_due(now, self._state_dirty):
            self._publish_state(now)

    def _boundary_checked(self, t: float | None = None) -> None:
        """Open or close the night window when monotonic time ``t`` crosses a boundary; daily retention."""
        t = self.clock.monotonic() if t is None else t
        boundary = self.schedule.boundary(t)
        if boundary is None:
            return
        if boundary.inside and not self.in_window:
            self._open_window(boundary)
        elif not boundary.inside and self.in_window:
            self._close_window()
        if not boundary.inside:
            self._started_outside = True
        if boundary.retention is not None:
            self._retention(boundary.retention)

    def _open_window(self, boundary: Boundary) -> None:
        self.night = boundary.night
        for leg in self.legs.values():
            # a quiet first minute counts as settled only when the service started inside the night (a restart on
            # a sleeping leg), not when the window opens on a running service (the sensor may lie on the nightstand)
            leg.open_night(quiet_start=not self._started_outside)
        log.info("night window opened: night of %s, detection %s", self.night,
                 "armed" if self.armed else "DISARMED")
        self.in_window = True
        self._state_dirty = True
        self._show_led()

    def _close_window(self) -> None:
        self.in_window = False
        for leg in self.legs.values():
            self._take(leg.close_night())
            save_baseline(self.config.state_dir, leg.name, leg.baseline)
        if self.snippets is not None:
            self.snippets.night_closed()
        self._state_dirty = True
        self._show_led()
        if self.night is not None:
            self.finish_night(self.night)

    def _retention(self, today: date) -> None:
        try:
            removed = self.store.enforce_retention(today, self.config.storage.retention_days,
                                                   self.config.storage.detail_retention_days)
            if any(removed.values()):
                log.info("retention: removed %s", removed)
        except NightcrampError as exc:
            log.error("retention failed: %s", exc)

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
            self.publisher.send(f"log-{night.isoformat()}", msgs.morning_log(self.topics, night.isoformat(), data))
            self._publish_chart(night)

    def _publish_chart(self, night: date) -> None:
        """Last night's PNG, retained on ``<base>/chart`` after its morning log (Home Assistant's image entity)."""
        from service.night.outputs import read_chart

        png = read_chart(self.config.state_dir, night, msgs.CHART_MAX_BYTES)
        if png is not None:
            self.publisher.send(f"chart-{night.isoformat()}", [msgs.chart_image(self.topics, png)])

    def _sensor_status_line(self) -> None:
        """``systemctl status``: which leg's sensor is missing, or that all sample again."""
        from service.app import sdnotify

        if self.sensor_faults:
            sdnotify.status("SENSOR FAULT: " + "; ".join(f"{leg} leg: {why}" for leg, why in self.sensor_faults.items()))
        else:
            sdnotify.status("sampling; every sensor answers")

    def _alerting(self) -> bool:
        return any(leg.alerting for leg in self.legs.values())

    def _show_led(self) -> None:
        self.indicators.show(sensors_ok=all(leg.sensor_ok for leg in self.legs.values()), alerting=self._alerting(),
                             in_window=self.in_window, armed=self.armed)

    def storage_status(self) -> dict[str, dict]:
        """The night record's and the outbox's fault status (the state's ``storage``), for each that reports one."""
        out = {}
        for name, keeper in (("record", self.store),
                             ("outbox", getattr(self.publisher, "outbox", None))):
            status = getattr(keeper, "status", None)
            if callable(status):
                out[name] = status().as_dict()
        return out

    def _storage_checked(self) -> None:
        """Retry failed storage (when its back-off allows) and republish the state when a fault starts or ends."""
        maintain = getattr(self.store, "maintain", None)
        if callable(maintain):
            maintain()
        now = {name: (v["status"], v["lost"], v["set_aside"]) for name, v in self.storage_status().items()}
        if now != self._storage_seen:
            self._storage_seen = now
            self._state_dirty = True

    def _publish_state(self, now: float) -> None:
        self._state_dirty = False
        if self.publisher is None:
            return
        snoozed = [leg.policy.snoozed_until for leg in self.legs.values() if leg.policy.is_snoozed(now)]
        self.publisher.set_retained(msgs.state(self.topics, msgs.ServiceState(
            armed=self.armed,
            in_night_window=self.in_window,
            sensors={name: "ok" if leg.sensor_ok else "fault" for name, leg in self.legs.items()},
            sensor_faults=dict(self.sensor_faults),
            episodes={name: leg.episode_id for name, leg in self.legs.items()},
            room_temp_c=self.room_temp_c,
            snoozed_until=self.timebase.iso(max(snoozed)) if snoozed else None,
            last_night_cramps=self._last_night_cramps,
            time=self.timebase.iso(now),
            simulated=self.config.device.simulated,
            labels=self.label_tally,
            settled={name: leg.settled for name, leg in self.legs.items()} if self.in_window else None,
            storage=self.storage_status(),
        )))

    # ------------------------------------------------------------ output

    def _take(self, out: LegOutput) -> None:
        """Store a leg's completed minutes, then stamp and emit its events."""
        for minute in out.minutes:
            self.store.add_minute(self.timebase.wall_at(minute.t_start), minute)
        self._emit(out.events)

    def _emit(self, events: list[ev.Event]) -> None:
        for e in events:
            stamped = ev.StampedEvent(ev.new_id(), self.timebase.iso(e.t), e)
            self.stats.events[e.type] = self.stats.events.get(e.type, 0) + 1
            try:
                self.store.record_event(stamped)  # committed before anything is published
            except NightcrampError as exc:
                log.error("could not record %s: %s", e.type, exc)
            if self.publisher is not None:
                try:  # the outbox keeper holds what it cannot write; nothing here may stop the alert below
                    built = self.episodes.messages(stamped)
                    # a cramp update (volatile) is kept in the outbox's memory only
                    self.publisher.send(stamped.event_id, built.outbox, built.priority, stamped.wall_time,
                                        volatile=built.volatile)
                    self.publisher.set_retained(built.retained)
                except Exception:
                    log.exception("could not hand %s to MQTT (the local alert goes on)", e.type)
            self._after_event(stamped)
            if self.snippets is not None:
                self.snippets.on_event(stamped)
            if self.on_event is not None:
                self.on_event(stamped)

    def _after_event(self, stamped: ev.StampedEvent) -> None:
        e = stamped.event
        if e.type == ev.CRAMP_START:
            self._last_episode_leg = e.leg
            before = e.t - float(e.fields.get("onset", e.t))
            if e.fields.get("alert", True):
                log.warning("CRAMP on %s leg: alert raised (episode %s, onset %.0f s before)", e.leg, e.episode_id,
                            before)
            else:
                log.info("cramp on %s leg while %s: recorded, no alert (episode %s, onset %.0f s before)", e.leg,
                         "snoozed" if e.fields.get("snoozed") else "disarmed",
                         e.episode_id, before)
            if self.legs[e.leg].alerting:
                self.indicators.cramp_alert(stamped.event_id, e.t)
        elif e.type in (ev.WARM_COMPRESS, ev.STRETCH_PROMPT, ev.CRAMP_END, ev.TEST_ALERT, ev.ACKNOWLEDGED,
                        ev.FALSE_ALARM):
            log.info("%s on %s leg%s", e.type, e.leg, f" (episode {e.episode_id})" if e.episode_id else "")
        if e.type in (ev.CRAMP_START, ev.CRAMP_END, ev.ACKNOWLEDGED):
            self._state_dirty = True
            self._show_led()
        if e.type == ev.TEST_ALERT:
            self.indicators.test_alert(e.t)

    def close(self) -> None:
        """At a clean stop: end open episodes (so ``cramp`` goes OFF) and flush the minute in progress."""
        if self.in_window:
            for leg in self.legs.values():
                self._take(leg.stop())
                save_baseline(self.config.state_dir, leg.name, leg.baseline)
        if self.snippets is not None:
            self.snippets.flush()
            self.snippets.release()
