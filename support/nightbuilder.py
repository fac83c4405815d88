"""Write a night with known episodes into a real NightStore, the way the daemon does.

Time is a ManualClock stepped minute by minute; wall labels come from a real
TimeBase; events go through ``record_event`` as StampedEvents; movement rows
are MinuteSummary objects and temperatures one a minute.  Used by the store,
morning-log, CLI and crash tests (the crash test runs it as a subprocess:
``python -m support.nightbuilder DB START_ISO TZ SPEC_JSON``).  ``python -m
support.nightbuilder --sample DIR`` writes the sample log of docs/morning-log.md.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from firmware.clock import ManualClock
from service.events import Event, StampedEvent, new_id
from service.pipeline.movement import MinuteSummary
from service.pipeline.nightwindow import NightWindow
from service.night.store import NightStore
from service.pipeline.timebase import TimeBase


@dataclass
class Cramp:
    onset_s: float  # seconds after the night's start
    duration_s: float
    leg: str = "leg"
    ack_after_s: float | None = None  # seconds after the alert
    false_alarm: bool = False
    alert_delay_s: float = 4.0
    intensity: float = 0.5


@dataclass
class NightSpec:
    minutes: int = 480
    cramps: list[Cramp] = field(default_factory=list)
    legs: tuple[str, ...] = ("leg",)
    temp_c: float = 19.0  # mean room temperature; a slow sine of +-1 C on top
    restless: bool = False
    seed: int | None = None  # set: lifelike random movement (restless bouts) instead of the fixed pattern
    faults: list[tuple[int, int]] = field(default_factory=list)  # (first, last+1) minute without sensor data


class NightWriter:
    """Drives a store through a night on a manual clock."""

    def __init__(self, store: NightStore, clock: ManualClock, timebase: TimeBase):
        self.store, self.clock, self.tb = store, clock, timebase
        self.episode_ids: list[str] = []

    def emit(self, type_: str, t: float, leg: str, episode_id: str | None, **fields) -> StampedEvent:
        stamped = StampedEvent(new_id(), self.tb.iso(t), Event(type_, t, leg, episode_id, fields))
        self.store.record_event(stamped)
        return stamped

    def temp_at(self, spec: NightSpec, minute: int) -> float:
        return round(spec.temp_c + math.sin(minute / 90.0), 2)

    def timeline(self, spec: NightSpec, t0: float) -> list[tuple[float, str, Cramp]]:
        """Every episode event of the night as (t_mono, kind, cramp), in time order."""
        out = []
        for c in spec.cramps:
            alert = t0 + c.onset_s + c.alert_delay_s
            out.append((alert, "start", c))
            out.append((t0 + c.onset_s + c.duration_s, "end", c))
            if c.ack_after_s is not None:
                out.append((alert + c.ack_after_s, "ack", c))
        return sorted(out, key=lambda x: (x[0], ("start", "ack", "end").index(x[1])))

    def run(self, spec: NightSpec, stop_after_min: int | None = None, start_min: int = 0) -> None:
        """Write minutes ``start_min`` .. ``spec.minutes`` (or stop early, as a crash would)."""
        t0 = self.clock.monotonic() - start_min * 60.0
        events = [e for e in self.timeline(spec, t0) if e[0] >= self.clock.monotonic()]
        ids: dict[int, str] = {}
        for minute in range(start_min, spec.minutes):
            if stop_after_min is not None and minute >= stop_after_min:
                return
            m_start = t0 + minute * 60.0
            m_end = m_start + 60.0
            while events and events[0][0] < m_end:
                t, kind, c = events.pop(0)
                self.clock.advance(max(0.0, t - self.clock.monotonic()))
                onset = t0 + c.onset_s
                if kind == "start":
                    eid = ids[id(c)] = new_id()
                    self.episode_ids.append(eid)
                    self.emit("cramp_start", t, c.leg, eid, onset=onset, intensity=c.intensity,
                              room_temp_c=self.temp_at(spec, minute))
                    self.emit("warm_compress", t, c.leg, eid)
                elif kind == "ack":
                    self.emit("acknowledged", t, c.leg, ids.get(id(c)), source="button")
                else:
                    self.emit("cramp_end", t, c.leg, ids.get(id(c)), onset=onset, duration_s=c.duration_s,
                              intensity=c.intensity, acknowledged=c.ack_after_s is not None)
                    if c.false_alarm:
                        self.emit("false_alarm", t, c.leg, ids.get(id(c)))
            self.clock.advance(max(0.0, m_end - self.clock.monotonic()))
            in_cramp = any(t0 + c.onset_s < m_end and t0 + c.onset_s + c.duration_s > m_start for c in spec.cramps)
            for first, last in spec.faults:
                if minute == first:
                    self.emit("sensor_fault", m_start, spec.legs[0], None, reason="no data (loose cable?)")
                if minute == last:
                    self.emit("sensor_recovered", m_start, spec.legs[0], None)
            if any(first <= minute < last for first, last in spec.faults):
                self.store.add_temperature(self.tb.wall_at(m_end), self.temp_at(spec, minute))
                continue
            for leg in spec.legs:
                if spec.seed is not None:
                    summary = self._lifelike(spec, leg, minute, m_start, in_cramp)
                else:
                    busy = in_cramp or (spec.restless and minute % 2 == 0)
                    summary = MinuteSummary(leg, m_start, 150.0 if busy else 8.0 + (minute % 7),
                                            0.8 if busy else 0.02, 1 if busy else 0, 60)
                self.store.add_minute(self.tb.wall_at(m_start), summary)
            self.store.add_temperature(self.tb.wall_at(m_end), self.temp_at(spec, minute))


    def _lifelike(self, spec: NightSpec, leg: str, minute: int, m_start: float, in_cramp: bool) -> MinuteSummary:
        import numpy as np

        rng = np.random.default_rng((spec.seed, minute, len(leg)))
        settling = minute < 45 or minute > spec.minutes - 40
        restless = rng.random() < (0.25 if settling else 0.06)
        if in_cramp:
            return MinuteSummary(leg, m_start, float(140 + rng.normal(0, 25)), 0.85, 1, 60)
        if restless:
            return MinuteSummary(leg, m_start, float(40 + abs(rng.normal(0, 20))), float(rng.uniform(0.1, 0.4)),
                                 int(rng.random() < 0.5), 60)
        return MinuteSummary(leg, m_start, float(7 + abs(rng.normal(0, 1.5))), 0.0, 0, 60)


def sample(out_dir) -> None:
    """The sample night of docs/morning-log.md: two cramps, a loose cable, a cooling room."""
    import shutil
    import tempfile
    from pathlib import Path

    from service.config import Config
    from service.night.outputs import build_morning_log, write_outputs

    tz = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 11, 24, 22, 0, tzinfo=tz)
    with tempfile.TemporaryDirectory() as tmp:
        store, clock, tb, writer = make(Path(tmp), start, tz)
        spec = NightSpec(minutes=570, seed=11, temp_c=18.6, faults=[(412, 421)],
                         cramps=[Cramp(2 * 3600 + 31 * 60 + 20, 95.0, ack_after_s=14.0),
                                 Cramp(5 * 3600 + 26 * 60 + 5, 240.0, ack_after_s=31.0)])
        writer.run(spec)
        mlog = build_morning_log(store, start.date(), Config(), now=start + timedelta(hours=11))
        md, png = write_outputs(mlog, tmp)
        store.close()
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, out / "morning-log-sample.png")
        (out / "morning-log-sample.md").write_text(mlog.to_markdown(chart_name="morning-log-sample.png"), encoding="utf-8")
        (out / "morning-log-sample.txt").write_text(mlog.to_text(), encoding="utf-8")
        (out / "morning-log-sample.json").write_text(json.dumps(mlog.to_dict(), indent=2, ensure_ascii=False) + "\n",
                                                     encoding="utf-8")


def make(db, start: datetime, tz, window: NightWindow | None = None, flush_interval_s: float = 30.0,
         t0: float = 1000.0):
    """A store, a manual clock at ``start`` and a time base, ready for a NightWriter."""
    clock = ManualClock(wall_start=start.astimezone(timezone.utc), t0=t0)
    window = window or NightWindow(time(22, 0), time(7, 30), tz)
    store = NightStore(db, window, flush_interval_s=flush_interval_s, clock=clock)
    tb = TimeBase(clock, tz)
    tb.on_jump(lambda jump: store.relabel_wall(jump.seconds))
    store.start_session()
    return store, clock, tb, NightWriter(store, clock, tb)


def spec_from_json(text: str) -> tuple[NightSpec, int | None, int]:
    raw = json.loads(text)
    spec = NightSpec(minutes=raw.get("minutes", 480), cramps=[Cramp(**c) for c in raw.get("cramps", [])])
    return spec, raw.get("stop_after_min"), raw.get("start_min", 0)


def main(argv: list[str]) -> int:
    """Subprocess entry: write a night and print a line after every committed episode event."""
    if argv and argv[0] == "--sample":
        sample(argv[1])
        return 0
    db, start_iso, tz_name, spec_json = argv
    tz = ZoneInfo(tz_name)
    spec, stop_after, start_min = spec_from_json(spec_json)
    start = datetime.fromisoformat(start_iso)
    store, clock, tb, writer = make(db, start, tz)
    original = store.record_event

    def record_and_report(stamped):
        original(stamped)
        print(f"committed {stamped.event.type} {stamped.event.episode_id}", flush=True)

    store.record_event = record_and_report
    writer.run(spec, stop_after_min=stop_after, start_min=start_min)
    print("waiting", flush=True)
    import time as _time

    _time.sleep(3600)  # the test kills us here (SIGKILL): no close(), no final flush
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
