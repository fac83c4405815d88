"""Times, durations and prose as the morning log and the history write them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from service.night.formatting import duration, hm, iso, round_or_none, wrap

BERLIN = ZoneInfo("Europe/Berlin")


def test_durations_read_as_a_person_says_them():
    assert [duration(s) for s in (None, 0, 44.6, 60, 95, 3600, 3725)] == [
        "-", "0 s", "45 s", "1 min", "1 min 35 s", "1 h 00 min", "1 h 02 min"]


def test_local_time_names_the_zone_only_on_the_repeated_hour():
    assert hm(None) == "-"
    assert hm(datetime(2026, 11, 25, 0, 17, tzinfo=BERLIN)) == "00:17"
    # 2026-10-25: 02:00-03:00 happens twice in Berlin.
    assert hm(datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN)) == "02:30 CEST"
    assert hm(datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=1)) == "02:30 CET"
    assert hm(datetime(2026, 10, 25, 3, 30, tzinfo=BERLIN)) == "03:30"


def test_iso_and_rounding_keep_none():
    assert iso(None) is None and round_or_none(None, 1) is None
    assert iso(datetime(2026, 11, 25, 0, 17, 30, 999, tzinfo=BERLIN)) == "2026-11-25T00:17:30+01:00"
    assert round_or_none(19.04, 1) == 19.0


def test_wrap_keeps_a_number_with_its_unit():
    text = "For 9 min nothing was recorded; the room was between 13.0 and 15.0 °C, the longest lasted 45 s."
    for width in range(20, 60):
        lines = wrap(text, width)
        assert " ".join(lines) == text
        assert not any(line.endswith(("9", "15.0", "45")) for line in lines)
    assert wrap("") == [""]
    assert wrap("a b", initial_indent="  - ") == ["  - a b"]
