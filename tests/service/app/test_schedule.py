"""service.app.schedule: night-window boundaries, daily retention, flush and state timing, on a ManualClock."""

from __future__ import annotations

from datetime import date, datetime, timezone

from firmware.clock import ManualClock
from service import config as cfg
from service.app.schedule import STATE_EVERY_S, Schedule
from service.pipeline.nightwindow import NightWindow
from service.pipeline.timebase import TimeBase

# 22:00-06:00 in UTC; the clock starts at 21:00 UTC on 1 March.
WINDOW = NightWindow.from_config(cfg.parse('[night]\nstart = "22:00"\nend = "06:00"\ntimezone = "UTC"\n').night)
START = datetime(2026, 3, 1, 21, 0, tzinfo=timezone.utc)


def schedule(flush_interval_s: float = 30.0) -> tuple[ManualClock, Schedule]:
    clock = ManualClock(START)
    return clock, Schedule(WINDOW, TimeBase(clock, WINDOW.tz), flush_interval_s, clock.monotonic())


def test_the_window_opens_and_closes_at_its_boundaries_and_nothing_is_due_between():
    clock, s = schedule()
    first = s.boundary(0.0)
    assert first.inside is False and first.retention == date(2026, 3, 1)
    assert s.boundary(1800.0) is None  # half an hour later: one comparison, nothing crossed
    opened = s.boundary(3600.0)  # 22:00
    assert opened.inside is True and opened.night == date(2026, 3, 1) and opened.retention is None
    assert s.boundary(3601.0) is None
    seen = [s.boundary(3600.0 + 3600.0 * h) for h in range(1, 9)]  # looked at hourly through the night
    assert [b.retention for b in seen if b is not None and b.retention] == [date(2026, 3, 2)]  # once a day
    closed = [h for h, b in enumerate(seen, 1) if b is not None and not b.inside]
    assert closed == [8]  # 06:00


def test_a_wall_clock_jump_makes_it_look_again():
    clock, s = schedule()
    s.boundary(0.0)
    assert s.boundary(10.0) is None
    clock.jump_wall(2 * 3600.0)  # NTP: it was 23:00 already
    clock.advance(10.0)
    s.timebase.check()
    after = s.boundary(clock.monotonic())
    assert after is not None and after.inside is True


def test_flush_and_state_timing():
    clock, s = schedule(flush_interval_s=30.0)
    assert not s.flush_due(29.0)
    assert s.flush_due(30.0) and not s.flush_due(31.0) and s.flush_due(60.0)
    assert s.state_due(0.0, changed=False)  # never published: due at once
    assert not s.state_due(1.0, changed=False)
    assert s.state_due(2.0, changed=True)
    assert not s.state_due(2.0 + STATE_EVERY_S - 1, changed=False)
    assert s.state_due(2.0 + STATE_EVERY_S, changed=False)
