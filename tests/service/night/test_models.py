"""The read-back values and the pure aggregate of a night's minutes."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from service.night.models import Minute, NightRecord, Span, summarize_detail

T0 = datetime(2026, 11, 24, 21, 0, tzinfo=timezone.utc)


def record(minutes=(), temperatures=(), **kw) -> NightRecord:
    return NightRecord(date(2026, 11, 24), T0, T0 + timedelta(hours=9, minutes=30), [], list(minutes),
                       list(temperatures), [], None, **kw)


def test_span_duration_is_none_while_open_and_never_negative():
    assert Span("fault", "leg", T0, None, "stuck").duration_s is None
    assert Span("gap", "leg", T0, T0 + timedelta(seconds=12.5), "FIFO overflow").duration_s == 12.5
    assert Span("gap", "leg", T0, T0 - timedelta(seconds=3), "clock").duration_s == 0.0


def test_a_night_has_data_with_anything_recorded_even_only_a_service_start():
    assert not record().has_data
    assert record(sessions=1).has_data
    assert record(temperatures=[(T0, 19.0)]).has_data
    assert record(summary={"temp_mean": 19.0}).has_data


def test_summary_counts_a_minute_restless_if_any_leg_was_and_resting_if_every_leg_was_still():
    minutes = []
    for i in range(120):
        start = T0 + timedelta(minutes=i)
        left = 0.3 if i < 30 else 0.0  # restless for the first half hour
        right = 0.05 if i < 60 else 0.2  # still, then neither still nor restless
        turns = 1 if i < 30 else 0
        minutes += [Minute(start, "left", 10.0, left, turns, 60), Minute(start, "right", 20.0, right, 0, 60)]
    detail = summarize_detail(record(minutes, [(T0, 18.0), (T0 + timedelta(hours=1), 20.0)]))
    assert detail["minutes_covered"] == 120
    assert detail["restless_fraction"] == pytest.approx(30 / 120)
    assert detail["rest_hours"] == pytest.approx(30 / 60)  # minutes 30-59: both legs under 10 %
    assert detail["posture_changes"] == 30
    assert detail["activity_mean_mg"] == pytest.approx(15.0)
    assert (detail["temp_min"], detail["temp_mean"], detail["temp_max"]) == (18.0, 19.0, 20.0)


def test_summary_of_an_empty_night_has_no_numbers_to_invent():
    detail = summarize_detail(record())
    assert detail["minutes_covered"] == 0
    assert all(v is None for k, v in detail.items() if k != "minutes_covered")
