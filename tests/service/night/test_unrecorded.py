"""Time without a record at the edges of the night: a service stopped or killed with no restart, or started late.

Between two runs the store shows the service gap; these are the cases with no
second run to pair with, written to real SQLite files and read back read-only
as ``nightcramp log`` does.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


from service.config import Config
from service.night.morning import UNRECORDED_EDGE
from service.night.outputs import build_morning_log
from service.night.store import NightStore
from service.pipeline.nightwindow import NightWindow
from support.nightbuilder import Cramp, NightSpec, make
from tests.service.night.test_store import _kill_when_waiting, _writer_process

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = date(2026, 11, 24)
START = datetime(2026, 11, 24, 22, 0, tzinfo=BERLIN)
END = datetime(2026, 11, 25, 7, 30, tzinfo=BERLIN)
MORNING = datetime(2026, 11, 25, 9, 0, tzinfo=BERLIN)
WINDOW_S = 9.5 * 3600


def _read_back(db, now=MORNING):
    store = NightStore(db, NightWindow(time(22, 0), time(7, 30), BERLIN), readonly=True)
    try:
        return build_morning_log(store, NIGHT, Config(), now=now)
    finally:
        store.close()


def _edge(mlog):
    return [(s.start, s.end) for s in mlog.spans if s.reason == UNRECORDED_EDGE]


def test_a_clean_stop_at_2310_with_no_restart_leaves_the_rest_of_the_night_unrecorded(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN)
    writer.run(NightSpec(minutes=570, cramps=[Cramp(1800, 60.0)]), stop_after_min=70)
    store.close()  # a clean stop at 23:10, and the service is never started again

    mlog = _read_back(state_dir)
    assert _edge(mlog) == [(START + timedelta(minutes=70), END)]
    assert mlog.unrecorded_s == WINDOW_S - 70 * 60
    d = json.loads(json.dumps(mlog.to_dict()))
    assert d["unrecorded_s"] == WINDOW_S - 70 * 60
    assert [(g["kind"], g["start"], g["end"]) for g in d["gaps"]] == [
        ("service", "2026-11-24T23:10:00+01:00", "2026-11-25T07:30:00+01:00")]
    text = mlog.to_text()
    assert "the whole night was recorded" not in text
    assert "Not recorded      8 h 20 min" in text
    assert "23:10-07:30, 8 h 20 min: " + UNRECORDED_EDGE in text
    assert "a cramp then could have been missed" in text


def test_a_sigkill_at_2310_with_no_restart_leaves_the_rest_of_the_night_unrecorded(state_dir):
    db = state_dir / "night.sqlite3"
    _kill_when_waiting(_writer_process(db, START, {"minutes": 570, "stop_after_min": 70}))

    mlog = _read_back(db)
    ((lo, hi),) = _edge(mlog)
    # The last 30 s batch may be lost with the process: the record ends at 23:09 or 23:10.
    assert START + timedelta(minutes=69) <= lo <= START + timedelta(minutes=70) and hi == END
    assert WINDOW_S - 70 * 60 <= mlog.unrecorded_s <= WINDOW_S - 69 * 60
    assert "the whole night was recorded" not in mlog.to_text()


def test_a_service_started_at_2300_leaves_the_first_hour_unrecorded(state_dir):
    store, clock, tb, writer = make(state_dir, START + timedelta(hours=1), BERLIN)
    writer.run(NightSpec(minutes=570), start_min=60)
    store.close()

    mlog = _read_back(state_dir)
    assert _edge(mlog) == [(START, START + timedelta(hours=1))]
    assert mlog.unrecorded_s == 3600


def test_a_whole_night_with_an_edge_minute_missing_shows_nothing_unrecorded(state_dir):
    # The summariser's minutes are not aligned to the window: a minute short at each edge is not a gap.
    store, clock, tb, writer = make(state_dir, START + timedelta(minutes=1), BERLIN)
    writer.run(NightSpec(minutes=569), start_min=1)
    store.close()

    mlog = _read_back(state_dir)
    assert mlog.spans == [] and mlog.unrecorded_s == 0
    assert "nothing: the whole night was recorded" in mlog.to_text()


def test_a_night_in_progress_counts_unrecorded_time_only_up_to_now(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN)
    writer.run(NightSpec(minutes=570), stop_after_min=120)  # the record ends at 00:00
    store.flush()

    # At 00:01 the service may simply not have flushed its last rows yet: nothing is unrecorded.
    assert _read_back(state_dir, now=START + timedelta(minutes=121)).spans == []
    # At 03:00 three hours are missing, and the rest of the night has not happened yet.
    mlog = _read_back(state_dir, now=START + timedelta(hours=5))
    assert mlog.in_progress
    assert _edge(mlog) == [(START + timedelta(hours=2), START + timedelta(hours=5))]
    assert mlog.unrecorded_s == 3 * 3600
    store.close()


def test_a_stop_between_two_runs_is_shown_once(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN)
    writer.run(NightSpec(minutes=570), stop_after_min=70)
    store.close()
    store, clock, tb, writer = make(state_dir, START + timedelta(minutes=100), BERLIN)
    writer.run(NightSpec(minutes=570), start_min=100)
    store.close()

    mlog = _read_back(state_dir)
    assert [(s.kind, s.start, s.end, s.reason) for s in mlog.spans] == [
        ("service", START + timedelta(minutes=70), START + timedelta(minutes=100), "service stopped")]
    assert mlog.unrecorded_s == 30 * 60
