"""The summary and hints follow the night: cramps, room temperature, short nights before."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from service.config import Config, PromptsConfig
from service.night.outputs import build_morning_log
from support.nightbuilder import Cramp, NightSpec, make

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = date(2026, 11, 24)
START = datetime(2026, 11, 24, 22, 0, tzinfo=BERLIN)
MORNING = datetime(2026, 11, 25, 9, 0, tzinfo=BERLIN)


def test_hints_follow_the_night(tmp_path):
    hot = Config(prompts=replace(PromptsConfig(), hot_room_c=22.0, cold_room_c=15.0))
    # Two short, restless nights, then a warm night with two cramps.
    db = tmp_path / "n.db"
    for day, spec in ((22, NightSpec(restless=True)), (23, NightSpec(restless=True)),
                      (24, NightSpec(cramps=[Cramp(3600, 70.0), Cramp(7200, 30.0)], temp_c=23.0))):
        store, *_rest, writer = make(db, datetime(2026, 11, day, 22, 0, tzinfo=BERLIN), BERLIN)
        writer.run(spec)
        store.close()
    store, *_ = make(db, MORNING, BERLIN)
    mlog = build_morning_log(store, NIGHT, hot, now=MORNING)
    hints = " ".join(mlog.hints)
    assert "Stretch the calves gently before bed" in hints
    assert "warm compress" in hints
    assert "The bedroom was warm (up to 24.0 °C, above 22 °C)" in hints
    assert "Drink enough" in hints
    assert "after 2 short or broken nights" in hints
    assert "not medical advice" in hints
    assert "below 15" not in hints

    calm = build_morning_log(store, date(2026, 11, 22), Config(), now=MORNING)
    assert calm.episodes == [] and calm.hints == []
    assert calm.summary[0] == "No cramps were recorded last night."
    assert calm.restless_fraction == pytest.approx(0.5, abs=0.01)
    store.close()


def test_cold_room_hint(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN)
    writer.run(NightSpec(minutes=300, cramps=[Cramp(3600, 45.0)], temp_c=14.0))
    mlog = build_morning_log(store, NIGHT, Config(), now=MORNING)
    store.close()
    assert any("below 18 °C during 1 cramp" in h for h in mlog.hints)
    assert not any("bedroom was warm" in h for h in mlog.hints)
    # The night ended early (the sensor was taken off at 03:00): that is not a gap, just fewer minutes.
    assert len(mlog.minutes) == 300
