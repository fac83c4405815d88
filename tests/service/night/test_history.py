"""The history of many nights: rows from a real record, the trend line, the JSON."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from service.night.history import NightRow, build_history, history_dict, history_text
from support.nightbuilder import Cramp, NightSpec, make

BERLIN = ZoneInfo("Europe/Berlin")


def row(day: int, cramps: int) -> NightRow:
    return NightRow(date(2026, 11, day), cramps, cramps * 1.0, "01:00" if cramps else None, 19.0, 0)


def test_rows_from_the_record_median_onset_on_the_nights_own_time_line(tmp_path):
    db = tmp_path / "n.db"
    # 23:50 and 00:10: the median is midnight, not noon.
    for day, cramps in ((20, [Cramp(110 * 60, 30.0), Cramp(130 * 60, 90.0)]),
                        (22, [Cramp(3600, 60.0), Cramp(7200, 20.0, false_alarm=True)])):
        store, *_rest, writer = make(db, datetime.combine(date(2026, 11, day), time(22, 0), BERLIN), BERLIN)
        writer.run(NightSpec(minutes=300, cramps=cramps, temp_c=18.0))
        store.close()
    store, *_ = make(db, datetime(2026, 11, 25, 9, 0, tzinfo=BERLIN), BERLIN)
    rows = build_history(store, date(2026, 11, 24), 7)
    store.close()
    assert [r.night for r in rows] == [date(2026, 11, 20), date(2026, 11, 22)]
    first, second = rows
    assert (first.cramps, first.minutes_in_cramp, first.median_onset, first.false_alarms) == (2, 2.0, "00:00", 0)
    assert (second.cramps, second.minutes_in_cramp, second.median_onset, second.false_alarms) == (1, 1.0, "23:00", 1)
    assert first.mean_temp_c == pytest.approx(18.0, abs=1.0)


def test_trend_compares_the_two_halves_of_the_period():
    assert "per night;" not in history_text([row(20, 1), row(21, 2), row(22, 0)], None)  # too few nights
    fewer = history_text([row(20, 3), row(21, 2), row(22, 0), row(23, 1)], None)
    assert "4 nights, 6 cramps, 1.50 per night; fewer lately (2.50 -> 0.50 per night)" in fewer
    same = history_text([row(20, 1), row(21, 1), row(22, 1), row(23, 1)], Path("/x/h.png"))
    assert same.endswith("about the same in both halves of the period\ntrend chart: /x/h.png\n")
    assert history_text([], None) == "no nights recorded in that period\n"


def test_json_rows_round_and_keep_missing_values():
    rows = [NightRow(date(2026, 11, 20), 2, 2.3456, "00:00", 18.04, 1), NightRow(date(2026, 11, 21), 0, 0.0, None, None, 0)]
    assert history_dict(rows, None) == {"nights": [
        {"night": "2026-11-20", "cramps": 2, "minutes_in_cramp": 2.35, "median_onset": "00:00",
         "mean_room_temp_c": 18.0, "false_alarms": 1},
        {"night": "2026-11-21", "cramps": 0, "minutes_in_cramp": 0.0, "median_onset": None,
         "mean_room_temp_c": None, "false_alarms": 0}], "chart": None}
