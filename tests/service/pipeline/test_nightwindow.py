"""The night window across midnight, daylight-saving changes and odd local times."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.config import NightConfig
from service.pipeline.nightwindow import NightWindow

BERLIN = ZoneInfo("Europe/Berlin")
UTC = timezone.utc


def local(y, mo, d, h, mi=0, fold=0, tz=BERLIN):
    return datetime(y, mo, d, h, mi, tzinfo=tz, fold=fold)


def test_ordinary_night_across_midnight():
    w = NightWindow(time(22, 0), time(7, 30), BERLIN)
    start, end = w.bounds(date(2026, 11, 24))
    assert start == local(2026, 11, 24, 22)
    assert end == local(2026, 11, 25, 7, 30)
    assert w.duration(date(2026, 11, 24)) == timedelta(hours=9, minutes=30)
    assert w.contains(local(2026, 11, 25, 3))
    assert not w.contains(local(2026, 11, 25, 7, 30))  # end is exclusive
    assert w.contains(local(2026, 11, 24, 22))
    assert not w.contains(local(2026, 11, 24, 21, 59))
    # Both halves of the night, and the morning after, belong to the night of the 24th.
    assert w.night_of(local(2026, 11, 24, 23)) == date(2026, 11, 24)
    assert w.night_of(local(2026, 11, 25, 2)) == date(2026, 11, 24)
    assert w.night_of(local(2026, 11, 25, 9)) == date(2026, 11, 24)
    assert w.night_of(local(2026, 11, 25, 22, 1)) == date(2026, 11, 25)


def test_spring_forward_night_is_an_hour_shorter():
    # 2026-03-29 02:00 CET -> 03:00 CEST in Berlin.
    w = NightWindow(time(23, 0), time(7, 30), BERLIN)
    assert w.duration(date(2026, 3, 28)) == timedelta(hours=7, minutes=30)
    assert w.duration(date(2026, 3, 27)) == timedelta(hours=8, minutes=30)
    start, end = w.bounds(date(2026, 3, 28))
    assert end.astimezone(BERLIN).utcoffset() == timedelta(hours=2)
    just_before = datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)  # 01:59:59 CET
    just_after = datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC)  # 03:00:00 CEST
    assert w.contains(just_before) and w.contains(just_after)
    assert w.night_of(just_after) == date(2026, 3, 28)


def test_fall_back_night_is_an_hour_longer_and_keeps_the_repeated_hour():
    # 2026-10-25 03:00 CEST -> 02:00 CET in Berlin: 02:00-02:59 happens twice.
    w = NightWindow(time(23, 0), time(7, 30), BERLIN)
    assert w.duration(date(2026, 10, 24)) == timedelta(hours=9, minutes=30)
    first = local(2026, 10, 25, 2, 30, fold=0)
    second = local(2026, 10, 25, 2, 30, fold=1)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    for instant in (first, second):
        assert w.contains(instant)
        assert w.night_of(instant) == date(2026, 10, 24)


def test_bound_in_the_spring_forward_gap_is_the_moment_the_clocks_jump():
    w = NightWindow(time(2, 30), time(9, 0), BERLIN)  # 02:30 does not exist on 2026-03-29
    start, _ = w.bounds(date(2026, 3, 29))
    assert start == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST
    assert start.astimezone(BERLIN).strftime("%H:%M %Z") == "03:00 CEST"
    assert not w.contains(start - timedelta(seconds=1))  # 01:59:59 CET reads before 02:30
    w_end = NightWindow(time(23, 0), time(2, 30), BERLIN)
    _, end = w_end.bounds(date(2026, 3, 28))
    assert end == start
    assert w_end.duration(date(2026, 3, 28)) == timedelta(hours=3)


def test_ambiguous_start_is_its_first_occurrence_and_end_its_second():
    w = NightWindow(time(2, 30), time(9, 0), BERLIN)
    start, _ = w.bounds(date(2026, 10, 25))
    assert start == local(2026, 10, 25, 2, 30, fold=0).astimezone(UTC)  # PEP 495: fold times compare via UTC
    assert start.astimezone(BERLIN).utcoffset() == timedelta(hours=2)
    w_end = NightWindow(time(23, 0), time(2, 30), BERLIN)
    _, end = w_end.bounds(date(2026, 10, 24))
    assert end.astimezone(BERLIN).utcoffset() == timedelta(hours=1)  # the second 02:30 (CET)
    assert w_end.duration(date(2026, 10, 24)) == timedelta(hours=4, minutes=30)


def test_window_not_crossing_midnight():
    w = NightWindow(time(1, 0), time(9, 0), BERLIN)
    assert not w.crosses_midnight
    assert w.contains(local(2026, 11, 25, 1))
    assert not w.contains(local(2026, 11, 25, 0, 30))
    assert not w.contains(local(2026, 11, 25, 9))
    assert w.night_of(local(2026, 11, 25, 5)) == date(2026, 11, 25)
    assert w.night_of(local(2026, 11, 25, 0, 30)) == date(2026, 11, 24)
    assert w.bounds(date(2026, 11, 25)) == (local(2026, 11, 25, 1), local(2026, 11, 25, 9))


def test_next_start_and_end():
    w = NightWindow(time(22, 0), time(7, 30), BERLIN)
    noon = local(2026, 11, 25, 12)
    assert w.next_start(noon) == local(2026, 11, 25, 22)
    assert w.next_end(noon) == local(2026, 11, 26, 7, 30)
    inside = local(2026, 11, 26, 3)
    assert w.next_end(inside) == local(2026, 11, 26, 7, 30)
    assert w.next_start(inside) == local(2026, 11, 26, 22)
    # Strictly after: at the very start, the next start is tomorrow's.
    assert w.next_start(local(2026, 11, 25, 22)) == local(2026, 11, 26, 22)
    # Across the fall-back change the end is at 07:30 CET.
    assert w.next_end(local(2026, 10, 24, 23)) == local(2026, 10, 25, 7, 30)
    assert w.next_end(local(2026, 10, 24, 23)).astimezone(BERLIN).utcoffset() == timedelta(hours=1)


def test_results_are_utc_so_subtraction_is_real_time():
    w = NightWindow(time(22, 0), time(7, 30), BERLIN)
    start, end = w.bounds(date(2026, 10, 24))
    assert start.utcoffset() == timedelta(0) and end.utcoffset() == timedelta(0)
    assert end - start == timedelta(hours=10, minutes=30)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="differ"):
        NightWindow(time(22), time(22), BERLIN)
    w = NightWindow(time(22), time(7), BERLIN)
    with pytest.raises(ValueError, match="timezone-aware"):
        w.contains(datetime(2026, 11, 24, 23))


def test_from_config():
    w = NightWindow.from_config(NightConfig(start=time(21, 15), end=time(6, 45), timezone="America/New_York"))
    assert w.bounds(date(2026, 11, 1))[1] == datetime(2026, 11, 2, 6, 45, tzinfo=ZoneInfo("America/New_York"))
    assert w.duration(date(2026, 10, 31)) == timedelta(hours=10, minutes=30)  # US fall back on Nov 1


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Sao_Paulo", "UTC"]


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start_min=st.integers(0, 24 * 60 - 1),
    end_min=st.integers(0, 24 * 60 - 1),
    seconds=st.integers(int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()), int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())),
)
def test_window_holds_exactly_the_instants_whose_local_reading_is_inside(zone, start_min, end_min, seconds):
    if start_min == end_min:
        return
    tz = ZoneInfo(zone)
    start, end = time(start_min // 60, start_min % 60), time(end_min // 60, end_min % 60)
    w = NightWindow(start, end, tz)
    instant = datetime.fromtimestamp(seconds, UTC)
    reading = instant.astimezone(tz).time()
    inside = (start <= reading < end) if start < end else (reading >= start or reading < end)
    assert w.contains(instant) == inside
    night = w.night_of(instant)
    assert w.bounds(night)[0] <= instant < w.bounds(night + timedelta(days=1))[0]
    assert w.next_start(instant) > instant and w.next_end(instant) > instant
