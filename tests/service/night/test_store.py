"""The night record on real SQLite files: durability, batching, retention, crash safety."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from firmware.clock import ManualClock
from firmware.errors import StoreError
from service.events import Event, StampedEvent, new_id
from service.config import Config
from service.night.history import build_history
from service.night.outputs import build_morning_log
from service.pipeline.nightwindow import NightWindow
from service.pipeline.timebase import TimeBase
from service.night.store import SCHEMA_VERSION, NightStore
from support.nightbuilder import Cramp, NightSpec, make
from support import ROOT

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = date(2026, 11, 24)
START = datetime(2026, 11, 24, 22, 0, tzinfo=BERLIN)


def other_connection(path) -> sqlite3.Connection:
    """A second, independent reader: sees only what was committed."""
    return sqlite3.connect(str(path))


def count(path, table: str) -> int:
    with other_connection(path) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_file_is_wal_versioned_and_in_the_given_directory(state_dir):
    store, *_ = make(state_dir, START, BERLIN)
    assert store.path == state_dir / "night.sqlite3"
    with other_connection(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()


def test_episode_is_committed_at_once_minutes_wait_for_the_batch(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN, flush_interval_s=30.0)
    t = clock.monotonic()
    writer.emit("cramp_start", t, "leg", "ep-1", onset=t - 3.0, intensity=0.4)
    assert count(store.path, "episodes") == 1  # visible to another process immediately
    assert count(store.path, "events") == 1

    from service.pipeline.movement import MinuteSummary

    clock.advance(10)
    store.add_minute(tb.wall_at(t), MinuteSummary("leg", t, 12.0, 0.1, 0, 60))
    store.add_temperature(tb.wall_at(t), 19.5)
    assert count(store.path, "minutes") == 0  # batched: not yet written
    clock.advance(25)  # 35 s since the last commit, but the batch's oldest row has waited 25 s
    store.add_temperature(tb.wall_at(clock.monotonic()), 19.6)
    assert count(store.path, "minutes") == 0
    clock.advance(5)  # it has waited 30 s: the next row, or the keeper's periodic pass, writes the batch
    assert store.flush_due()
    store.flush_if_due()
    assert count(store.path, "minutes") == 1
    assert count(store.path, "temperatures") == 2
    assert not store.flush_due() and store.flush_if_due() == 0
    store.close()


def test_an_episode_commit_takes_the_pending_batch_along(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN, flush_interval_s=300.0)
    store.add_temperature(tb.wall_at(clock.monotonic()), 18.0)
    writer.emit("sensor_fault", clock.monotonic(), "leg", None, reason="no data")
    assert count(store.path, "temperatures") == 1
    store.close()


def test_longer_flush_interval_means_fewer_writes(tmp_path):
    commits = {}
    for interval in (30.0, 300.0):
        store, clock, tb, writer = make(tmp_path / f"{interval}.db", START, BERLIN, flush_interval_s=interval)
        writer.run(NightSpec(minutes=240, cramps=[Cramp(3600, 60)]))
        commits[interval] = store.commits
        store.close()
        assert count(tmp_path / f"{interval}.db", "minutes") == 240  # close() flushes the rest
    # 240 minutes: about one commit per minute at 30 s, one per 5 minutes at 300 s (+ the episode's events).
    assert commits[30.0] >= 240
    assert commits[300.0] <= 240 / 5 + 10


def test_events_and_delivery_status(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN)
    a = writer.emit("test_alert", clock.monotonic(), "leg", None)
    b = writer.emit("sensor_fault", clock.monotonic(), "leg", None, reason="stuck")
    assert store.undelivered() == [a.event_id, b.event_id]
    store.mark_delivered(a.event_id)
    assert store.undelivered() == [b.event_id]
    store.close()
    with other_connection(state_dir / "night.sqlite3") as db:
        row = db.execute("SELECT type, fields, delivered_utc FROM events WHERE event_id = ?", (a.event_id,)).fetchone()
    assert row[0] == "test_alert" and row[2] is not None
    assert json.loads(row[1]) == {}


def test_faults_and_gaps_show_in_the_night(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN)
    clock.advance(3600)
    writer.emit("sensor_fault", clock.monotonic(), "left", None, reason="no data for 10 s")
    clock.advance(300)
    writer.emit("sensor_recovered", clock.monotonic(), "left", None)
    t = clock.monotonic()
    store.add_gap("right", tb.wall_at(t - 12.5), 12.5, "FIFO overflow")
    record = store.night(NIGHT)
    kinds = [(s.kind, s.leg, round(s.duration_s, 1), s.reason) for s in record.spans]
    assert ("fault", "left", 300.0, "no data for 10 s") in kinds
    assert ("gap", "right", 12.5, "FIFO overflow") in kinds
    # A fault still open when the service stops ends there; it does not haunt the following nights.
    clock.advance(600)
    writer.emit("sensor_fault", clock.monotonic(), "right", None, reason="stuck")
    clock.advance(120)
    store.add_temperature(tb.wall_at(clock.monotonic()), 19.0)
    store.close()
    store2, *_ = make(state_dir, START + timedelta(days=1), BERLIN)
    (open_fault,) = [s for s in store2.night(NIGHT).spans if s.kind == "fault" and s.leg == "right"]
    assert open_fault.duration_s == 120.0
    assert [s for s in store2.night(NIGHT + timedelta(days=1)).spans if s.kind == "fault"] == []
    store2.close()


def test_clean_restart_shows_a_stop_not_a_crash(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN)
    writer.run(NightSpec(minutes=60))
    store.close("stopped by systemd")
    store2, clock2, tb2, writer2 = make(state_dir, START + timedelta(minutes=90), BERLIN)
    record = store2.night(NIGHT)
    service = [s for s in record.spans if s.kind == "service"]
    assert len(service) == 1
    assert service[0].reason == "service stopped by systemd"
    assert service[0].start == START + timedelta(minutes=60)
    assert service[0].end == START + timedelta(minutes=90)
    store2.close()


def test_newer_schema_and_garbage_files_are_clear_errors(tmp_path):
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this nightcramp"):
        NightStore(newer)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the night record"):
        NightStore(garbage)


def test_retention_deletes_old_nights_and_old_detail_but_keeps_the_history(tmp_path):
    db = tmp_path / "night.sqlite3"
    today = date(2026, 11, 25)
    for age in (400, 20, 3):
        night = today - timedelta(days=age)
        store, clock, tb, writer = make(db, datetime.combine(night, time(22, 0), BERLIN), BERLIN)
        writer.run(NightSpec(minutes=120, cramps=[Cramp(1800, 45)], temp_c=17.0 + age / 100))
        store.close()
    window = NightWindow(time(22, 0), time(7, 30), BERLIN)
    with NightStore(db, window) as store:
        before = {age: store.night(today - timedelta(days=age)) for age in (400, 20, 3)}
        assert all(len(r.episodes) == 1 and len(r.minutes) == 120 for r in before.values())
        deleted = store.enforce_retention(today, retention_days=365, detail_retention_days=14)
        assert deleted["episodes"] == 1
        old, mid, recent = (store.night(today - timedelta(days=age)) for age in (400, 20, 3))
        assert old.episodes == [] and old.minutes == [] and old.temperatures == []
        assert len(mid.episodes) == 1 and mid.minutes == [] and mid.temperatures == []
        assert mid.summary is not None
        assert mid.summary["temp_mean"] == pytest.approx(sum(v for _, v in before[20].temperatures) / 120)
        assert len(recent.episodes) == 1 and len(recent.minutes) == 120
        # The history still has the 20-day-old night's room temperature, from its summary row.
        rows = {r.night: r for r in build_history(store, today - timedelta(days=1), 30)}
        assert rows[today - timedelta(days=20)].mean_temp_c == pytest.approx(mid.summary["temp_mean"])
        assert rows[today - timedelta(days=20)].cramps == 1
        assert store.enforce_retention(today)["episodes"] == 0  # idempotent
        # The old night's morning log still has its room temperature and restlessness.
        mlog = build_morning_log(store, today - timedelta(days=20), Config(), now=datetime.now(timezone.utc))
        assert len(mlog.episodes) == 1 and mlog.minutes == []
        assert mlog.temp_stats["mean"] == pytest.approx(mid.summary["temp_mean"])
        assert mlog.restless_fraction == pytest.approx(1 / 120)  # the one minute in cramp


def _writer_process(db: Path, start: datetime, spec: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "support.nightbuilder", str(db), start.isoformat(), "Europe/Berlin", json.dumps(spec)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _kill_when_waiting(proc: subprocess.Popen, split: bool = False) -> list:
    """Read the writer's lines up to its "waiting" (what it committed), then SIGKILL it: a power cut."""
    lines = []
    for line in proc.stdout:
        lines.append(line.split() if split else line.strip())
        if line.startswith("waiting"):
            break
    else:
        pytest.fail(f"writer ended early: {proc.wait()} {proc.stderr.read()}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    return lines


def test_sigkill_mid_episode_loses_no_episode_and_the_night_continues(state_dir):
    db = state_dir / "night.sqlite3"
    # A 3-minute cramp starting at 00:30; the process is killed 2 minutes into it, at 00:32.
    spec = {"minutes": 570, "cramps": [{"onset_s": 9000, "duration_s": 180}], "stop_after_min": 152}
    lines = _kill_when_waiting(_writer_process(db, START, spec))
    assert any(line.startswith("committed cramp_start") for line in lines)
    assert not any(line.startswith("committed cramp_end") for line in lines)

    # Nothing closed the store: what is on disk is what a power cut would leave.
    assert count(db, "episodes") == 1
    minutes = count(db, "minutes")
    assert 151 <= minutes <= 152  # at most the last batch is lost
    with other_connection(db) as conn:
        assert conn.execute("SELECT stopped_utc FROM sessions").fetchone()[0] is None

    # Restart 20 minutes later (00:52): the same night continues.
    restart = START + timedelta(minutes=172)
    store, clock, tb, writer = make(db, restart, BERLIN)
    writer.run(NightSpec(minutes=570, cramps=[Cramp(4 * 3600, 60)]), start_min=172)
    mlog = build_morning_log(store, NIGHT, Config(), now=START + timedelta(hours=11))
    store.close()

    assert len(mlog.episodes) == 2
    first, second = mlog.episodes
    assert first.interrupted and not second.interrupted
    assert first.onset == START + timedelta(seconds=9000)
    assert 120 <= first.duration_s <= 180  # open at the crash: closed at the last record, never beyond the cramp
    assert second.onset == START + timedelta(hours=4) and second.duration_s == 60
    gaps = [s for s in mlog.spans if s.kind == "service"]
    assert len(gaps) == 1
    assert gaps[0].reason == "service not running (crash or power cut)"
    assert START + timedelta(minutes=151) <= gaps[0].start <= START + timedelta(minutes=152)
    assert gaps[0].end == restart
    assert 20 * 60 <= mlog.unrecorded_s <= 21 * 60
    text = mlog.to_text()
    assert "service not running (crash or power cut)" in text
    assert "00:32-00:52" in text or "00:31-00:52" in text
    # The log covers the whole night: minutes before and after the gap.
    assert mlog.minutes[0].start == START and mlog.minutes[-1].start == START + timedelta(minutes=569)


def test_state_directory_is_created_and_unwritable_places_are_clear_errors(tmp_path):
    store = NightStore(tmp_path / "new" / "state")
    assert store.path == tmp_path / "new" / "state" / "night.sqlite3" and store.path.exists()
    store.close()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot"):
        NightStore(blocker / "state")


def test_policy_fields_snoozed_false_alarm_and_unattached_presses(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN)
    clock.advance(3600)
    t = clock.monotonic()
    writer.emit("cramp_start", t, "leg", "snoozed-ep", onset=t - 3, intensity=0.3, snoozed=True, alert=False)
    writer.emit("cramp_end", t + 40, "leg", "snoozed-ep", onset=t - 3, duration_s=43.0, snoozed=True,
                false_alarm=False, acknowledged=False)
    clock.advance(600)
    t = clock.monotonic()
    writer.emit("cramp_start", t, "leg", "fa-ep", onset=t - 2, intensity=0.2, snoozed=False, alert=True)
    writer.emit("cramp_end", t + 20, "leg", "fa-ep", onset=t - 2, duration_s=22.0, false_alarm=True)
    clock.advance(600)
    t = clock.monotonic()
    writer.emit("cramp_start", t, "leg", "late-fa", onset=t - 2, alert=True)
    writer.emit("cramp_end", t + 30, "leg", "late-fa", onset=t - 2, duration_s=32.0)
    clock.advance(120)
    writer.emit("false_alarm", clock.monotonic(), "leg", None)  # "that was not a cramp", after it ended
    clock.advance(600)
    t = clock.monotonic()
    writer.emit("cramp_start", t, "leg", "real", onset=t - 2, alert=True)
    writer.emit("cramp_end", t + 50, "leg", "real", onset=t - 2, duration_s=52.0)
    clock.advance(3 * 3600)
    writer.emit("acknowledged", clock.monotonic(), "leg", None, episode_open=False)  # nothing open: no episode
    writer.emit("false_alarm", clock.monotonic(), "leg", None)  # hours later: too late to name one
    eps = {ep.id: ep for ep in store.night(NIGHT).episodes}
    assert eps["snoozed-ep"].snoozed and not eps["snoozed-ep"].false_alarm
    assert eps["fa-ep"].false_alarm and not eps["fa-ep"].snoozed
    assert eps["late-fa"].false_alarm
    assert not eps["real"].false_alarm
    assert all(ep.acknowledged is None for ep in eps.values())
    assert sum(ep.false_alarm for ep in eps.values()) == 2
    store.close()


def _episode_row(path, episode_id: str) -> dict:
    with other_connection(path) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM episodes WHERE id = ?", (episode_id,)).fetchone()
    return dict(row) if row is not None else {}


def test_in_episode_detail_waits_for_the_batch_the_alert_and_its_answers_do_not(state_dir):
    from service.night.store import BATCHED_EVENTS

    assert BATCHED_EVENTS == {"cramp_update", "warm_compress", "stretch_prompt"}
    store, clock, tb, writer = make(state_dir, START, BERLIN, flush_interval_s=30.0)
    clock.advance(3600)
    t = clock.monotonic()
    writer.emit("cramp_start", t, "leg", "ep", onset=t - 11.0, intensity=0.4)
    assert count(store.path, "events") == 1 and count(store.path, "episodes") == 1  # the alert: at once
    writer.emit("warm_compress", t, "leg", "ep", text="warm")
    clock.advance(15)
    writer.emit("cramp_update", clock.monotonic(), "leg", "ep", duration_s=26.0, intensity=0.7)
    # The running detail is not committed on its own...
    assert count(store.path, "events") == 1
    assert _episode_row(store.path, "ep")["duration_s"] == 11.0 and _episode_row(store.path, "ep")["prompts"] == ""
    # ...an acknowledgement is, and carries it along, in order.
    clock.advance(3)
    writer.emit("acknowledged", clock.monotonic(), "leg", "ep", source="button")
    with other_connection(store.path) as db:
        kinds = [r[0] for r in db.execute("SELECT type FROM events ORDER BY t_mono, rowid")]
    assert kinds == ["cramp_start", "warm_compress", "cramp_update", "acknowledged"]
    row = _episode_row(store.path, "ep")
    assert row["duration_s"] == 26.0 and row["peak_intensity"] == 0.7 and row["prompts"] == "warm_compress"
    assert row["ack_after_s"] == 18.0
    # The next update reaches the disk with the next flush of the batch (a minute row here).
    from service.pipeline.movement import MinuteSummary

    clock.advance(12)
    writer.emit("cramp_update", clock.monotonic(), "leg", "ep", duration_s=41.0, intensity=0.5)
    writer.emit("stretch_prompt", clock.monotonic(), "leg", "ep", stretch="calf", hold_s=30)
    assert _episode_row(store.path, "ep")["duration_s"] == 26.0
    clock.advance(20)  # the update has waited 20 s: not yet
    store.add_temperature(tb.wall_at(clock.monotonic()), 19.0)
    assert _episode_row(store.path, "ep")["duration_s"] == 26.0
    clock.advance(10)  # 30 s: the next row queued writes the batch
    store.add_minute(tb.wall_at(clock.monotonic() - 60), MinuteSummary("leg", clock.monotonic() - 60, 150.0, 0.8, 1, 60))
    row = _episode_row(store.path, "ep")
    assert row["duration_s"] == 41.0 and row["prompts"] == "warm_compress,stretch_prompt"
    assert count(store.path, "minutes") == 1
    clock.advance(5)
    writer.emit("cramp_end", clock.monotonic(), "leg", "ep", onset=t - 11.0, duration_s=64.0, intensity=0.5)
    row = _episode_row(store.path, "ep")
    assert row["end_utc"] is not None and row["duration_s"] == 64.0 and row["peak_intensity"] == 0.7
    (episode,) = store.night(NIGHT).episodes
    assert episode.duration_s == 64.0 and episode.prompts == ("warm_compress", "stretch_prompt")
    store.close()


def test_a_batched_event_given_twice_counts_once(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN)
    t = clock.monotonic()
    writer.emit("cramp_start", t, "leg", "ep", onset=t - 5.0)
    prompt = writer.emit("warm_compress", t, "leg", "ep")
    store.record_event(prompt)  # a replay (the keeper's hold gives back what a failed write had queued)
    store.flush()
    store.record_event(prompt)
    store.flush()
    assert store.night(NIGHT).episodes[0].prompts == ("warm_compress",)
    assert count(store.path, "events") == 2
    store.close()


def test_a_failed_commit_holds_the_batched_detail_and_writes_it_once(tmp_path):
    from service.night.keeper import RecordKeeper

    clock = ManualClock(START.astimezone(timezone.utc), t0=1000.0)
    keeper = RecordKeeper(tmp_path, window=NightWindow(time(22, 0), time(7, 30), BERLIN), clock=clock)
    keeper.start_session()
    t = clock.monotonic()
    stamp = lambda kind, **f: StampedEvent(new_id(), TimeBase(clock, BERLIN).iso(clock.monotonic()),
                                           Event(kind, clock.monotonic(), "leg", "ep", f))
    keeper.record_event(stamp("cramp_start", onset=t - 5.0))
    keeper.record_event(stamp("warm_compress"))
    clock.advance(15)
    keeper.record_event(stamp("cramp_update", duration_s=20.0, intensity=0.6))
    locker = sqlite3.connect(tmp_path / "night.sqlite3", isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another writer holds the file: the acknowledgement's commit fails
    clock.advance(2)
    keeper.record_event(stamp("acknowledged", source="button"))
    assert keeper.status().status == "fault" and keeper.status().held >= 3
    locker.execute("ROLLBACK")
    locker.close()
    clock.advance(120)
    keeper.maintain()
    assert keeper.status().held == 0
    keeper.close()
    row = _episode_row(tmp_path / "night.sqlite3", "ep")
    assert row["prompts"] == "warm_compress" and row["duration_s"] == 20.0 and row["ack_after_s"] == 17.0
    assert count(tmp_path / "night.sqlite3", "events") == 4


_KILLED_EPISODE = """
import sys, time
from datetime import datetime
from zoneinfo import ZoneInfo
from service.pipeline.movement import MinuteSummary
from support.nightbuilder import make

store, clock, tb, writer = make(sys.argv[1], datetime.fromisoformat(sys.argv[2]), ZoneInfo("Europe/Berlin"))
clock.advance(3600)
onset = clock.monotonic() - 11.0
writer.emit("cramp_start", clock.monotonic(), "leg", "ep", onset=onset, intensity=0.4)
writer.emit("warm_compress", clock.monotonic(), "leg", "ep")
for k in range(1, 9):  # two minutes of updates every 15 s, a minute row every 60 s
    clock.advance(15)
    writer.emit("cramp_update", clock.monotonic(), "leg", "ep", duration_s=clock.monotonic() - onset, intensity=0.6)
    if k % 4 == 0:
        store.add_minute(tb.wall_at(clock.monotonic() - 60), MinuteSummary("leg", clock.monotonic() - 60, 150.0, 0.8, 1, 60))
clock.advance(1)
writer.emit("acknowledged", clock.monotonic(), "leg", "ep", source="button")
print("acknowledged", clock.monotonic() - onset, flush=True)
clock.advance(14)
writer.emit("cramp_update", clock.monotonic(), "leg", "ep", duration_s=clock.monotonic() - onset, intensity=0.9)
print("waiting", flush=True)
time.sleep(3600)  # SIGKILLed here: no flush, no close
"""


def test_sigkill_right_after_an_acknowledgement_keeps_it_and_loses_at_most_the_last_detail(state_dir):
    db = state_dir / "night.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_EPISODE, str(db), START.isoformat()], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = _kill_when_waiting(proc, split=True)
    acked_at = float(lines[0][1])  # 11 s before the alert + 8 updates of 15 s + 1 s

    # On disk, as a power cut would leave it: the alert, the prompt and every update up to the
    # acknowledgement (which carried them), and the acknowledgement; the update after it was still batched.
    row = _episode_row(db, "ep")
    assert row["acknowledged_utc"] is not None and row["ack_after_s"] == 121.0
    assert row["prompts"] == "warm_compress" and row["end_utc"] is None
    assert row["duration_s"] == acked_at - 1.0 and row["peak_intensity"] == 0.6
    with other_connection(db) as conn:
        kinds = [r[0] for r in conn.execute("SELECT type FROM events ORDER BY t_mono, rowid")]
    assert kinds == ["cramp_start", "warm_compress", *["cramp_update"] * 8, "acknowledged"]

    # The next start closes the episode as interrupted, no shorter than what was on disk.
    store, clock, tb, writer = make(db, START + timedelta(hours=1, minutes=30), BERLIN)
    (episode,) = store.night(NIGHT).episodes
    store.close()
    assert episode.interrupted and episode.acknowledged is not None
    assert acked_at - 1.0 <= episode.duration_s <= acked_at + 15.0


def test_a_clock_step_shifts_the_batched_detail_with_what_was_committed(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN)
    t = clock.monotonic()
    writer.emit("cramp_start", t, "leg", "ep", onset=t - 5.0)
    clock.advance(15)
    writer.emit("cramp_update", clock.monotonic(), "leg", "ep", duration_s=20.0)  # batched, not yet written
    store.relabel_wall(3600.0)  # the labels of this run were an hour behind
    store.flush()
    with other_connection(store.path) as db:
        walls = dict(db.execute("SELECT type, wall_utc FROM events"))
    assert walls["cramp_update"] - walls["cramp_start"] == 15.0
    assert walls["cramp_start"] == (START + timedelta(hours=1)).timestamp()
    store.close()
