"""Wall-clock labels from the monotonic clock, and what a clock step does (and must not do)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from firmware.clock import ManualClock
from service.config import Config
from service.night.outputs import build_morning_log
from service.pipeline.timebase import TimeBase, duration_s
from support.nightbuilder import make

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 24, 22, 0, tzinfo=BERLIN)


def test_labels_follow_the_monotonic_clock_in_the_configured_zone():
    clock = ManualClock(wall_start=datetime(2026, 11, 24, 21, 0, tzinfo=timezone.utc), t0=500.0)
    tb = TimeBase(clock, BERLIN)
    assert tb.iso(500.0) == "2026-11-24T22:00:00.000+01:00"
    assert tb.iso(500.25) == "2026-11-24T22:00:00.250+01:00"
    clock.advance(3600)
    assert tb.wall_at(500.0 + 3600) == START + timedelta(hours=1)
    assert tb.wall_at(400.0) == START - timedelta(seconds=100)  # earlier samples too
    assert tb.wall_at(500.0).tzinfo is BERLIN
    assert tb.jumps == []


def test_offset_changes_with_dst_in_the_labels():
    clock = ManualClock(wall_start=datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc), t0=0.0)  # 02:30 CEST
    tb = TimeBase(clock, BERLIN)
    assert tb.iso(0.0).endswith("02:30:00.000+02:00")
    assert tb.iso(3600.0).endswith("02:30:00.000+01:00")  # the repeated hour, one real hour later


def test_small_drift_is_absorbed_silently(caplog):
    clock = ManualClock(wall_start=START.astimezone(timezone.utc))
    tb = TimeBase(clock, BERLIN)
    with caplog.at_level(logging.WARNING, logger="service.pipeline.timebase"):
        clock.jump_wall(0.5)  # NTP slewing, not a step
        clock.advance(10)
        assert tb.check() is None
    assert caplog.records == []
    assert tb.wall_at(clock.monotonic()) == clock.wall().astimezone(BERLIN)


@pytest.mark.parametrize("jump_s, direction", [(5 * 3600.0, "forward"), (-2 * 3600.0, "backward")])
def test_clock_step_mid_episode_is_logged_and_changes_no_duration(state_dir, caplog, jump_s, direction):
    store, clock, tb, writer = make(state_dir, START, BERLIN)
    clock.advance(2 * 3600)  # 00:00
    onset = clock.monotonic()
    writer.emit("cramp_start", onset + 4.0, "leg", "ep-1", onset=onset, intensity=0.6)
    clock.advance(30)
    with caplog.at_level(logging.WARNING, logger="service.pipeline.timebase"):
        clock.jump_wall(jump_s)  # NTP steps the clock in the middle of the cramp
        clock.advance(60)
        writer.emit("cramp_end", clock.monotonic(), "leg", "ep-1", onset=onset, intensity=0.6)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"jumped {direction} by {abs(jump_s):.1f} s" in warnings[0]
    assert tb.jumps[0].seconds == pytest.approx(jump_s)

    # The episode lasted 90 s on the monotonic clock: not 5 h 1 min 30 s, not negative.
    night = store.window.night_of(clock.wall())
    record = store.night(night)
    assert len(record.episodes) == 1
    ep = record.episodes[0]
    assert ep.duration_s == pytest.approx(90.0)
    # Labels written before the step were on the wrong clock and have been moved with it.
    assert ep.end - ep.onset == timedelta(seconds=90)
    assert ep.onset == (START + timedelta(hours=2, seconds=jump_s)).astimezone(timezone.utc)
    mlog = build_morning_log(store, night, Config(), now=clock.wall())
    assert mlog.total_cramp_s == pytest.approx(90.0)
    store.close()


def test_clock_step_keeps_the_night_consistent(state_dir):
    """A Pi that boots with yesterday's time: everything before the NTP step moves to the right night."""
    stale = START - timedelta(days=1)
    store, clock, tb, writer = make(state_dir, stale, BERLIN)
    writer.emit("cramp_start", clock.monotonic() + 600, "leg", "ep-early", onset=clock.monotonic() + 596)
    for minute in range(5):
        store.add_temperature(tb.wall_at(clock.monotonic()), 20.0)
        clock.advance(60)
    clock.jump_wall(24 * 3600.0)  # NTP: it is a day later than the Pi thought
    tb.check()
    record = store.night(date(2026, 11, 24))
    assert [ep.id for ep in record.episodes] == ["ep-early"]
    assert record.episodes[0].night == date(2026, 11, 24)
    assert len(record.temperatures) == 5
    assert store.night(date(2026, 11, 23)).episodes == []
    store.close()


def test_duration_is_never_negative():
    assert duration_s(10.0, 12.5) == 2.5
    assert duration_s(12.5, 10.0) == 0.0


def test_fast_simulated_clock_gives_no_false_jumps_and_still_sees_real_ones():
    from firmware.clock import SimClock

    clock = SimClock(wall_start=START.astimezone(timezone.utc), speed=600.0)
    tb = TimeBase(clock, BERLIN)
    for _ in range(2000):
        tb.check()
    assert tb.jumps == []
    clock.jump_wall(-3600.0)
    jump = tb.check()
    assert jump is not None and jump.seconds == pytest.approx(-3600.0, abs=1.0)
