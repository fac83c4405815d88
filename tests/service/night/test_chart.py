"""The charts read back from what they drew."""

from __future__ import annotations

from datetime import date

from service.night import chart
from service.night.history import NightRow


def test_history_chart_shows_the_rows(tmp_path, png_size):
    rows = [NightRow(date(2026, 11, d), c, c * 1.5, "01:00" if c else None, t, 0)
            for d, c, t in ((20, 0, 18.5), (21, 2, 19.0), (23, 1, None))]
    drawn = chart.render_history(rows, tmp_path / "h.png")
    assert png_size(tmp_path / "h.png") == drawn.size_px == (1000, 400)
    days, counts = drawn.series["cramps"]
    assert [d.date() for d in days] == [r.night for r in rows]
    assert counts == [0.0, 2.0, 1.0]
    assert drawn.series["temperature"][1] == [18.5, 19.0]
