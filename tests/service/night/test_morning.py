"""The morning log of a simulated night with known episodes: what it counts and how it renders."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from service.config import Config
from service.night import chart
from service.night.outputs import build_morning_log
from service.pipeline.nightwindow import NightWindow
from support.nightbuilder import Cramp, NightSpec, make

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = date(2026, 11, 24)
START = datetime(2026, 11, 24, 22, 0, tzinfo=BERLIN)
MORNING = datetime(2026, 11, 25, 9, 0, tzinfo=BERLIN)


def test_known_episodes_are_counted_timed_and_measured(night):
    mlog = build_morning_log(night, NIGHT, Config(), now=MORNING)
    assert len(mlog.episodes) == 2 and len(mlog.false_alarms) == 1
    onsets = [mlog.local(ep.onset).strftime("%H:%M:%S") for ep in mlog.episodes]
    assert onsets == ["00:17:30", "03:03:00"]
    assert [ep.duration_s for ep in mlog.episodes] == [95.0, 240.0]
    assert [ep.ack_after_s for ep in mlog.episodes] == [12.0, 31.0]
    assert mlog.total_cramp_s == 335.0
    assert [ep.alert - ep.onset for ep in mlog.episodes] == [timedelta(seconds=4)] * 2
    assert mlog.false_alarms[0].duration_s == 20.0
    assert all(ep.prompts == ("warm_compress",) for ep in mlog.episodes)
    assert not mlog.in_progress and mlog.spans == []

    d = json.loads(json.dumps(mlog.to_dict()))
    assert d["night"] == "2026-11-24" and d["cramps"] == 2 and d["false_alarms"] == 1
    assert d["total_cramp_s"] == 335.0
    assert [e["onset"] for e in d["episodes"]][:2] == ["2026-11-25T00:17:30+01:00", "2026-11-25T03:03:00+01:00"]
    assert d["episodes"][2]["false_alarm"] is True
    assert d["window"] == {"start": "2026-11-24T22:00:00+01:00", "end": "2026-11-25T07:30:00+01:00"}
    assert len(d["movement_by_hour"]) == 10  # 22:00 .. 07:00
    temps = [v for _, v in mlog.temperatures]
    assert d["room_temp_c"] == {"min": round(min(temps), 1), "mean": round(sum(temps) / len(temps), 1),
                                "max": round(max(temps), 1)}
    # The room temperature at each episode is the one recorded with it.
    assert d["episodes"][0]["room_temp_c"] == round(19.0 + __import__("math").sin(137 / 90.0), 1)


def test_text_and_markdown_show_the_episodes(night):
    mlog = build_morning_log(night, NIGHT, Config(), now=MORNING)
    text = mlog.to_text()
    assert "Cramps               2 (1 false alarm not counted)" in text
    assert "Time in cramp        5 min 35 s" in text
    assert "00:17  leg  1 min 35 s  12 s" in text
    assert "03:03  leg  4 min" in text
    assert "marked false alarm" in text
    md = mlog.to_markdown(chart_name="2026-11-24.png")
    assert md.startswith("# Night of Tuesday 24 November 2026")
    assert "![movement, room temperature and cramps during the night](2026-11-24.png)" in md
    assert "| 1 | 00:17 | leg | 1 min 35 s | 12 s |" in md
    assert "| 2 | 03:03 | leg | 4 min | 31 s |" in md
    assert "2 cramps (5 min 35 s in all); the longest began at 03:03 and lasted 4 min." in md


def test_fall_back_night_keeps_its_repeated_hour(state_dir):
    # 2026-10-25: 03:00 CEST -> 02:00 CET.  A cramp at the second 02:30 (CET).
    start = datetime(2026, 10, 24, 22, 0, tzinfo=BERLIN)
    cramp_at = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=1)
    onset_s = (cramp_at.astimezone(timezone.utc) - start.astimezone(timezone.utc)).total_seconds()
    store, clock, tb, writer = make(state_dir, start, BERLIN)
    writer.run(NightSpec(minutes=630, cramps=[Cramp(onset_s, 60.0)]))
    mlog = build_morning_log(store, date(2026, 10, 24), Config(), now=start + timedelta(hours=12))
    store.close()
    assert mlog.window_end - mlog.window_start == timedelta(hours=10, minutes=30)
    assert len(mlog.minutes) == 630
    assert len(mlog.hours) == 11
    labels = [h.start.strftime("%H:%M%z") for h in mlog.hours]
    assert labels[3:7] == ["01:00+0200", "02:00+0200", "02:00+0100", "03:00+0100"]
    (ep,) = mlog.episodes
    assert ep.onset == cramp_at.astimezone(timezone.utc)
    assert "02:30 CET" in mlog.to_text()
    assert mlog.to_dict()["episodes"][0]["onset"] == "2026-10-25T02:30:00+01:00"


def test_spring_forward_night_is_shorter(state_dir):
    start = datetime(2026, 3, 28, 22, 0, tzinfo=BERLIN)
    store, clock, tb, writer = make(state_dir, start, BERLIN)
    writer.run(NightSpec(minutes=510, cramps=[Cramp(4 * 3600, 30.0)]))  # 8 h 30 of real time
    mlog = build_morning_log(store, date(2026, 3, 28), Config(), now=start + timedelta(hours=12))
    store.close()
    assert mlog.window_end - mlog.window_start == timedelta(hours=8, minutes=30)
    assert len(mlog.minutes) == 510 and mlog.spans == []
    assert [h.start.strftime("%H:%M") for h in mlog.hours][3:5] == ["01:00", "03:00"]
    assert mlog.local(mlog.episodes[0].onset).strftime("%H:%M %Z") == "03:00 CEST"


def test_window_in_another_zone_gives_local_times(tmp_path):
    ny = ZoneInfo("America/New_York")
    window = NightWindow(time(23, 0), time(6, 0), ny)
    start = datetime(2026, 11, 24, 23, 0, tzinfo=ny)
    store, clock, tb, writer = make(tmp_path / "ny.db", start, ny, window=window)
    writer.run(NightSpec(minutes=420, cramps=[Cramp(90 * 60, 50.0)]))
    mlog = build_morning_log(store, NIGHT, Config(), now=start + timedelta(hours=10))
    store.close()
    assert mlog.to_dict()["episodes"][0]["onset"] == "2026-11-25T00:30:00-05:00"


def test_sensor_fault_is_shown_in_log_and_chart(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN)
    writer.run(NightSpec(minutes=570, seed=3, faults=[(412, 421)], cramps=[Cramp(3600, 60.0)]))
    mlog = build_morning_log(store, NIGHT, Config(), now=MORNING)
    store.close()
    assert len(mlog.minutes) == 570 - 9
    (fault,) = mlog.spans
    assert fault.kind == "fault" and fault.duration_s == 9 * 60
    assert mlog.unrecorded_s == 9 * 60
    assert "04:52-05:01, 9 min: leg sensor: no data (loose cable?)" in mlog.to_text()
    assert "a cramp then could have been missed" in " ".join(mlog.summary)
    drawn = chart.render_night(mlog, state_dir / "fault.png")
    assert drawn.series["activity:leg"][0] == [m.start for m in mlog.minutes]  # no invented points in the gap
    ((_, g0, g1),) = drawn.spans["gap"]
    assert abs((g0 - fault.start).total_seconds()) < 0.01 and abs((g1 - fault.end).total_seconds()) < 0.01


def test_built_from_a_record_alone_an_open_fault_runs_to_now():
    from service.night.models import NightRecord, Span
    from service.night.morning import morning_log

    start, end = START.astimezone(timezone.utc), (START + timedelta(hours=9, minutes=30)).astimezone(timezone.utc)
    fault = Span("fault", "leg", start + timedelta(hours=2), None, "no data")
    record = NightRecord(NIGHT, start, end, [], [], [], [fault], None, sessions=1)
    now = start + timedelta(hours=3)
    mlog = morning_log(record, [], BERLIN, Config(), now)
    assert mlog.in_progress
    (span,) = mlog.spans
    assert (span.start, span.end, span.reason) == (fault.start, now, "no data (not recovered)")
    assert mlog.unrecorded_s == 3600
    assert mlog.summary[0] == "No cramps were recorded so far tonight."
    assert mlog.hints == []
