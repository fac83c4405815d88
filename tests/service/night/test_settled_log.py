"""The settled state reaches the night record and the morning log: the time to settle, the spans with no
alert possible (start, walking) and a cramp-like movement while unsettled, from the real leg pipeline's
events through a real SQLite night record."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from service import events as ev
from service.config import Config
from service.night.outputs import build_morning_log
from service.night.store import NightStore
from service.pipeline.detect import SETTLE_S
from service.pipeline.leg import LegPipeline
from service.pipeline.nightwindow import NightWindow
from support.nightbuilder import make
from support.synth import Scene

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = date(2026, 11, 24)
START = datetime(2026, 11, 24, 23, 0, tzinfo=BERLIN)
MORNING = datetime(2026, 11, 25, 9, 0, tzinfo=BERLIN)
WINDOW = NightWindow(time(22, 0), time(7, 30), BERLIN)
T0 = 1000.0  # the manual clock's monotonic start (make's default)


def record_night(state_dir):
    """A window opening on a running service: a 40 s cramp at 100 s (unsettled: no alert), settled, a walk at
    700 s (unsettled again), settled again; every event the leg pipeline emits stamped and stored."""
    sc = Scene(1600.0, seed=23)
    sc.cramp(100.0, 40.0)
    back = sc.walk(700.0, 90.0)
    t, a = sc.sample(50)
    t = t + T0
    config = Config()
    store, clock, tb, _writer = make(state_dir, START, BERLIN, t0=T0)
    leg = LegPipeline("leg", config.detection, config.prompts)
    leg.open_night(quiet_start=False)
    emitted = []
    for lo in range(0, len(t), 50):  # one-second drains, the clock following the samples
        hi = min(len(t), lo + 50)
        clock.advance(max(0.0, float(t[hi - 1]) - clock.monotonic()))
        for e in leg.feed(t[lo:hi], a[lo:hi]).events:
            emitted.append(e)
            store.record_event(ev.StampedEvent(ev.new_id(), tb.iso(e.t), e))
    for e in leg.close_night().events:
        emitted.append(e)
        store.record_event(ev.StampedEvent(ev.new_id(), tb.iso(e.t), e))
    store.close()
    return emitted, back


def reopened(state_dir):
    """The night as a fresh open of the same SQLite file reads it, and its morning log."""
    store = NightStore(state_dir, WINDOW)
    try:
        return store.night(NIGHT), build_morning_log(store, NIGHT, Config(), now=MORNING)
    finally:
        store.close()


def test_pipeline_reports_settled_unsettled_and_unalerted_events(state_dir):
    emitted, back = record_night(state_dir)
    types = [e.type for e in emitted]
    assert ev.CRAMP_START not in types  # the cramp came before the sleeper had settled
    (unalerted,) = [e for e in emitted if e.type == ev.UNALERTED]
    assert unalerted.fields["onset"] - T0 == pytest.approx(100.0, abs=2.0)
    assert unalerted.fields["duration_s"] == pytest.approx(40.0, abs=3.0)
    settled = [e for e in emitted if e.type == ev.SETTLED]
    assert [e.fields["reason"] for e in settled] == ["start", "walking"]
    assert [e.fields["reason"] for e in emitted if e.type == ev.UNSETTLED] == ["start", "walking"]
    # the pause over the cramp: settled SETTLE_S of quiet after the window opened, the cramp not counted
    assert settled[0].t - T0 == pytest.approx(SETTLE_S + 40.0, abs=5.0)
    assert settled[1].t - T0 >= back + SETTLE_S - 5.0


def test_morning_log_shows_time_to_settle_unsettled_spans_and_unalerted(state_dir):
    record_night(state_dir)
    record, mlog = reopened(state_dir)
    assert record.settle_known
    assert [sp.reason for sp in record.unsettled] == ["start", "walking"]
    assert all(sp.end is not None for sp in record.unsettled)
    first = record.unsettled[0]
    assert first.start == START and first.duration_s == pytest.approx(SETTLE_S + 40.0, abs=5.0)
    (move,) = record.unalerted
    assert move.start - START == pytest.approx(timedelta(seconds=100.0), abs=timedelta(seconds=2.0))
    assert move.duration_s == pytest.approx(40.0, abs=3.0)

    text = mlog.to_text()
    settled_at = (START + timedelta(seconds=first.duration_s)).strftime("%H:%M")
    assert "Settled" in text and f"at {settled_at}, after 5 min" in text
    assert "Unsettled again" in text and "1 time (walking 1)" in text
    assert "Cramp-like, no alert" in text and "1 movement while unsettled" in text
    assert re.search(r"\n  23:01, 4\d s: cramp-like movement while unsettled, no alert\n", text)
    assert "23:00-" in text and "unsettled (start), no alert possible" in text
    assert "unsettled (walking), no alert possible" in text
    md = mlog.to_markdown()
    assert "## Settled state" in md and "cramp-like movement while unsettled" in md
    data = json.loads(json.dumps(mlog.to_dict()))
    assert data["settle"]["time_to_settle_s"]["leg"] == pytest.approx(SETTLE_S + 40.0, abs=5.0)
    assert [s["reason"] for s in data["settle"]["unsettled"]] == ["start", "walking"]
    assert len(data["settle"]["unalerted"]) == 1


def test_a_night_never_settled_says_no_alert_was_possible(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN, t0=T0)
    writer.emit(ev.UNSETTLED, T0 + 1.0, "leg", None, reason="start")
    store.close()
    text = reopened(state_dir)[1].to_text()
    assert "never (no alert was possible from 23:00)" in text
    assert "23:00-not settled again: unsettled (start), no alert possible" in text


def test_a_record_without_settle_events_says_nothing_about_settling(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN, t0=T0)
    writer.emit(ev.SENSOR_FAULT, T0 + 60.0, "leg", None, reason="no data")
    store.close()
    mlog = reopened(state_dir)[1]
    assert "Settled" not in mlog.to_text() and mlog.to_dict()["settle"] is None
