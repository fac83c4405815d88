"""The morning log's files in the state directory: the Markdown and the chart that shows the record."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from service.config import Config
from service.night import chart
from service.night.outputs import build_morning_log, finish_night, write_outputs

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = date(2026, 11, 24)
MORNING = datetime(2026, 11, 25, 9, 0, tzinfo=BERLIN)


def test_outputs_are_written_and_the_chart_shows_the_record(night, state_dir, png_size):
    mlog = build_morning_log(night, NIGHT, Config(), now=MORNING)
    md, png = write_outputs(mlog, state_dir)
    assert md == state_dir / "logs" / "2026-11-24.md" and png == state_dir / "logs" / "2026-11-24.png"
    assert md.read_text(encoding="utf-8") == mlog.to_markdown(chart_name="2026-11-24.png")
    assert png_size(png) == (1000, 500)
    assert 10_000 < png.stat().st_size < 500_000

    record = night.night(NIGHT)
    drawn = chart.render_night(mlog, state_dir / "again.png")
    assert drawn.size_px == (1000, 500)
    times, values = drawn.series["activity:leg"]
    assert times == [m.start for m in record.minutes]
    assert values == [m.activity_mg for m in record.minutes]
    assert len(times) == 570
    assert drawn.series["temperature"] == ([t for t, _ in record.temperatures], [v for _, v in record.temperatures])
    spans = drawn.spans["episode"]
    expected = [(ep.id, ep.onset, ep.end) for ep in record.episodes if not ep.false_alarm]
    assert [s[0] for s in spans] == [e[0] for e in expected]
    for (_, s0, s1), (_, e0, e1) in zip(spans, expected):
        assert abs((s0 - e0).total_seconds()) < 0.01 and abs((s1 - e1).total_seconds()) < 0.01


def test_finish_night_keeps_the_summary_row_and_draws_the_chart_in_a_child(night, state_dir, png_size):
    mlog = finish_night(night, NIGHT, Config(), state_dir, now=MORNING, isolate_chart=True)
    md, png = state_dir / "logs" / "2026-11-24.md", state_dir / "logs" / "2026-11-24.png"
    assert md.read_text(encoding="utf-8") == mlog.to_markdown(chart_name="2026-11-24.png")
    assert png_size(png) == (1000, 500)
    assert not list((state_dir / "logs").glob("*.tmp"))
    summary = night.night(NIGHT).summary
    assert summary is not None and summary["minutes_covered"] == 570


def test_a_chart_the_child_cannot_write_is_logged_and_the_log_still_written(night, state_dir, caplog):
    (state_dir / "logs" / "2026-11-24.png").mkdir(parents=True)  # a directory where the PNG should go
    mlog = build_morning_log(night, NIGHT, Config(), now=MORNING)
    md, png = write_outputs(mlog, state_dir, isolate_chart=True)
    assert md.read_text(encoding="utf-8") == mlog.to_markdown(chart_name="2026-11-24.png")
    assert png.is_dir()
    assert any("morning chart" in r.getMessage() and "not drawn" in r.getMessage() for r in caplog.records)
