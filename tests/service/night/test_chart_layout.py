"""The charts' layout, read back from the figure drawn in this process (Agg): scale, labels, history axes.

The nights are built here as the chart's input (minutes, episodes, room
temperature), with cramps at both edges of the night and three close together,
and one walking spike far above everything else.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from service.night import chart
from service.night.history import NightRow

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 24, 22, 0, tzinfo=BERLIN).astimezone(timezone.utc)
END = START + timedelta(hours=9, minutes=30)
WALK_AT = START + timedelta(hours=5)  # 03:00: two minutes of walking to the bathroom
CRAMP_MG, WALK_MG = 30.0, 600.0


def episode(i: int, onset: datetime, seconds: float) -> SimpleNamespace:
    return SimpleNamespace(id=f"ep{i}", onset=onset, end=onset + timedelta(seconds=seconds), duration_s=seconds)


def night(onsets_min: list[float]) -> SimpleNamespace:
    episodes = [episode(i, START + timedelta(minutes=m), 90.0) for i, m in enumerate(onsets_min)]
    minutes = []
    for k in range(570):
        t = START + timedelta(minutes=k)
        mg = 2.0 + (k * 7919 % 13) / 4.0  # quiet sleep, 2-5 mg
        if any(e.onset - timedelta(seconds=60) < t <= e.end for e in episodes):
            mg = CRAMP_MG
        if WALK_AT <= t < WALK_AT + timedelta(minutes=2):
            mg = WALK_MG
        minutes.append(SimpleNamespace(start=t, leg="leg", activity_mg=mg))
    return SimpleNamespace(tz=BERLIN, minutes=minutes, episodes=episodes, spans=[], night=date(2026, 11, 24),
                           temperatures=[(START + timedelta(minutes=k), 19.0) for k in range(0, 570, 10)],
                           window_start=START, window_end=END)


EDGES_AND_CLOSE = [1.0, 240.0, 241.5, 243.0, 567.0]  # 22:01, 02:00, 02:01:30, 02:03, 07:27


def overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_a_walking_spike_does_not_set_the_movement_scale(tmp_path):
    mlog = night(EDGES_AND_CLOSE)
    drawn = chart.render_night(mlog, tmp_path / "n.png")
    times, values = drawn.series["activity:leg"]
    assert values == [m.activity_mg for m in mlog.minutes]  # the data is drawn as recorded, unclipped
    lo, top = drawn.ylim["movement"]
    assert lo == 0.0 and CRAMP_MG <= top < 3 * CRAMP_MG  # the cramps fill the axis, the walk does not
    clipped, at = drawn.series["clipped:leg"]
    assert clipped == [WALK_AT, WALK_AT + timedelta(minutes=1)] and at == [top, top]


def test_without_a_spike_nothing_is_clipped(tmp_path):
    mlog = night(EDGES_AND_CLOSE)
    for m in mlog.minutes:
        m.activity_mg = min(m.activity_mg, CRAMP_MG)
    drawn = chart.render_night(mlog, tmp_path / "n.png")
    assert "clipped:leg" not in drawn.series
    assert drawn.ylim["movement"][1] >= CRAMP_MG


@pytest.mark.parametrize("onsets", [EDGES_AND_CLOSE, [565.0, 566.0, 567.5], [0.5, 1.0, 2.0], [300.0]])
def test_cramp_labels_stay_clear_of_the_legend_and_of_each_other(tmp_path, onsets):
    drawn = chart.render_night(night(onsets), tmp_path / "n.png")
    labels = {k: v for k, v in drawn.boxes.items() if k.startswith("label:")}
    assert sorted(labels) == sorted(f"label:cramp {i}" for i in range(1, len(onsets) + 1))
    legend, axes = drawn.boxes["legend"], drawn.boxes["axes:movement"]
    width, height = drawn.size_px
    for name, box in labels.items():
        assert not overlap(box, legend), f"{name} {box} is under the legend {legend}"
        assert axes[0] - 1 <= box[0] and box[2] <= axes[2] + 1, f"{name} {box} leaves the plot {axes}"
        assert axes[1] - 1 <= box[1] and box[3] <= axes[3] + 1, f"{name} {box} leaves the plot {axes}"
        assert 0 <= box[0] and box[2] <= width and 0 <= box[1] and box[3] <= height
    for (a, box_a), (b, box_b) in itertools.combinations(labels.items(), 2):
        assert not overlap(box_a, box_b), f"{a} {box_a} overlaps {b} {box_b}"


def test_the_history_of_one_night_has_whole_cramps_and_one_date(tmp_path):
    for cramps in (0, 1):
        rows = [NightRow(date(2026, 11, 30), cramps, 1.5 * cramps, None, 19.0, 0)]
        drawn = chart.render_history(rows, tmp_path / f"h{cramps}.png")
        lo, hi = drawn.ylim["cramps"]
        assert lo == 0.0 and hi >= 1.0
        assert drawn.yticks["cramps"] and all(v == int(v) and v >= 0 for v in drawn.yticks["cramps"])
        assert 1.0 in drawn.yticks["cramps"]
        assert drawn.xticks["cramps"] == ["30 Nov"]
        assert drawn.series["cramps"][1] == [float(cramps)]


def test_the_history_of_a_long_period_shows_each_date_at_most_once(tmp_path):
    rows = [NightRow(date(2026, 9, 1) + timedelta(days=d), d % 3, 1.0, None, 19.0, 0) for d in range(90)]
    drawn = chart.render_history(rows, tmp_path / "h.png")
    ticks = drawn.xticks["cramps"]
    assert 3 <= len(ticks) <= 16 and len(set(ticks)) == len(ticks)
    assert drawn.ylim["cramps"][0] == 0.0 and all(v == int(v) for v in drawn.yticks["cramps"])
