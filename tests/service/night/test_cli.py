"""`nightcramp log` and `nightcramp history` as a user runs them (a subprocess, a real record)."""

from __future__ import annotations

import json
import tempfile
import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from service.pipeline.nightwindow import NightWindow
from support.nightbuilder import Cramp, NightSpec, make
from support import ROOT

BERLIN = ZoneInfo("Europe/Berlin")
WINDOW = NightWindow(time(22, 0), time(7, 30), BERLIN)


def run(config: Path, *args):
    return subprocess.run([sys.executable, "-m", "service", *args, "--config", str(config)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


@pytest.fixture
def config(state_dir, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'[storage]\nstate_dir = "{state_dir}"\n[night]\ntimezone = "Europe/Berlin"\n', encoding="utf-8")
    return path


def write_night(state_dir, night: date, cramps, temp_c=19.0):
    store, clock, tb, writer = make(state_dir, datetime.combine(night, time(22, 0), BERLIN), BERLIN)
    writer.run(NightSpec(minutes=570, cramps=cramps, temp_c=temp_c))
    store.close()


@pytest.fixture
def recorded(state_dir, config):
    write_night(state_dir, date(2026, 11, 23), [Cramp(3600, 30.0)], temp_c=18.0)
    write_night(state_dir, date(2026, 11, 24), [Cramp(2 * 3600, 90.0, ack_after_s=15.0), Cramp(4 * 3600, 120.0)])
    return config


def test_log_formats(recorded):
    out = run(recorded, "log", "--date", "2026-11-24")
    assert out.returncode == 0, out.stderr
    assert "nightcramp morning log: night of 2026-11-24" in out.stdout
    assert "00:00  leg  1 min 30 s  15 s" in out.stdout
    assert "02:00  leg  2 min" in out.stdout

    out = run(recorded, "log", "--date", "2026-11-24", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["cramps"] == 2 and data["total_cramp_s"] == 210.0
    assert [e["onset"] for e in data["episodes"]] == ["2026-11-25T00:00:00+01:00", "2026-11-25T02:00:00+01:00"]

    out = run(recorded, "log", "--date", "2026-11-23", "--format", "markdown")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("# Night of Monday 23 November 2026")
    assert "| 1 | 23:00 | leg | 30 s |" in out.stdout


def test_log_bad_date_and_missing_night(recorded):
    out = run(recorded, "log", "--date", "24.11.2026")
    assert out.returncode == 2
    assert "not a date in the form YYYY-MM-DD" in out.stderr
    assert "Traceback" not in out.stderr
    out = run(recorded, "log", "--date", "2026-11-10")
    assert out.returncode == 1
    assert "no data recorded for the night of 2026-11-10" in out.stderr
    assert "nightcramp log --date 2026-11-24" in out.stderr


def test_log_without_any_record(config, state_dir):
    out = run(config, "log")
    assert out.returncode == 1
    assert f"no night record at {state_dir / 'night.sqlite3'}" in out.stderr
    assert not (state_dir / "night.sqlite3").exists()  # reading never creates the record


def test_log_defaults_to_last_night(state_dir, config):
    now = datetime.now(timezone.utc)
    last = WINDOW.night_of(now)
    if WINDOW.contains(now):
        last -= timedelta(days=1)
    write_night(state_dir, last, [Cramp(1800, 42.0)])
    out = run(config, "log", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["night"] == last.isoformat()
    assert data["episodes"][0]["duration_s"] == 42.0


def test_history_table_json_and_chart(state_dir, config):
    now = datetime.now(timezone.utc)
    last = WINDOW.night_of(now)
    write_night(state_dir, last - timedelta(days=3), [Cramp(3600, 60.0), Cramp(3 * 3600, 120.0)], temp_c=21.0)
    write_night(state_dir, last - timedelta(days=1), [Cramp(5400, 30.0)], temp_c=17.0)
    write_night(state_dir, last - timedelta(days=40), [Cramp(5400, 30.0)], temp_c=17.0)  # outside --days 7

    out = run(config, "history", "--days", "7")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["night", "cramps", "min", "in", "cramp", "median", "onset", "room", "°C", "false",
                                "alarms"]
    rows = [line.split() for line in lines[1:3]]
    assert rows[0][:5] == [(last - timedelta(days=3)).isoformat(), "2", "3.0", "00:00", "21.0"]
    assert rows[1][:5] == [(last - timedelta(days=1)).isoformat(), "1", "0.5", "23:30", "17.0"]
    assert "2 nights, 3 cramps, 1.50 per night" in out.stdout
    chart_line = [line for line in lines if line.startswith("trend chart: ")][0]
    chart = Path(chart_line.removeprefix("trend chart: "))
    assert chart.parent == state_dir / "logs"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    drawn_ns = chart.stat().st_mtime_ns
    fallback = Path(tempfile.gettempdir(), chart.name)  # where a chart used to go when logs/ was not writable
    fallback_ns = fallback.stat().st_mtime_ns if fallback.exists() else None
    out = run(config, "history", "--days", "60", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [n["cramps"] for n in data["nights"]] == [1, 2, 1]
    assert data["nights"][1]["median_onset"] == "00:00"
    assert data["nights"][1]["mean_room_temp_c"] == pytest.approx(21.0, abs=0.1)
    assert data["chart"] is None  # json is for scripts: no PNG, in the state directory or anywhere else
    assert sorted((state_dir / "logs").glob("history-*.png")) == [chart] and chart.stat().st_mtime_ns == drawn_ns
    fallback = Path(tempfile.gettempdir(), chart.name)
    assert (fallback.stat().st_mtime_ns if fallback.exists() else None) == fallback_ns


def test_history_bad_days_and_empty(state_dir, config):
    out = run(config, "history", "--days", "0")
    assert out.returncode == 2 and "at least 1" in out.stderr
    store, *_ = make(state_dir, datetime(2020, 1, 1, 22, tzinfo=BERLIN), BERLIN)
    store.close()
    out = run(config, "history", "--days", "7")
    assert out.returncode == 1
    assert "no nights recorded in that period" in out.stdout


def test_log_of_a_date_whose_data_all_lies_outside_the_night_window_says_so(state_dir, config):
    # an afternoon run (a try-it run, a simulated run started at 14:00): minutes on record, none in the window
    start = datetime(2026, 11, 24, 14, 0, tzinfo=BERLIN)
    store, clock, tb, writer = make(state_dir, start, BERLIN)
    writer.run(NightSpec(minutes=60, cramps=[]))
    store.close()
    night = WINDOW.night_of(start)
    out = run(config, "log", "--date", night.isoformat())
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"no data recorded for the night of {night.isoformat()}" in out.stderr
    assert "outside the night window (22:00-07:30 Europe/Berlin)" in out.stderr
    assert f"the latest night recorded is {night.isoformat()}" not in out.stderr  # not the contradictory hint
