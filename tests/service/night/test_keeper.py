"""The night record's keeper on real SQLite files: damaged files set aside, unwritable ones held and retried."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timezone

from firmware.clock import ManualClock
from service import events as ev
from service import storagefault as sf
from service.night.keeper import RecordKeeper
from service.night.store import DB_NAME, NightStore

START = datetime(2026, 11, 24, 21, 30, tzinfo=timezone.utc)


def _event(clock, kind=ev.CRAMP_START, episode="ep1") -> ev.StampedEvent:
    t = clock.monotonic()
    return ev.StampedEvent(ev.new_id(), clock.wall().isoformat(), ev.Event(kind, t, "leg", episode, {"onset": t - 5}))


def _episodes(path) -> list[str]:
    store = NightStore(path, readonly=True)
    try:
        return [r[0] for r in store._db.execute("SELECT id FROM episodes ORDER BY id")]
    finally:
        store.close()


def test_random_bytes_are_set_aside_and_a_fresh_record_started(tmp_path, caplog):
    (tmp_path / DB_NAME).write_bytes(b"\x13garbage" * 5000)
    clock = ManualClock(START)
    keeper = RecordKeeper(tmp_path, clock=clock)
    keeper.start_session()
    keeper.record_event(_event(clock))
    keeper.close()
    aside = sf.set_aside_files(tmp_path / DB_NAME)
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"\x13garbage")  # kept, byte for byte
    assert _episodes(tmp_path) == ["ep1"]
    assert keeper.status().set_aside == 1 and keeper.status().status == "ok"


def test_a_record_from_a_newer_version_is_set_aside_not_overwritten(tmp_path):
    NightStore(tmp_path).close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    keeper = RecordKeeper(tmp_path, clock=ManualClock(START))
    keeper.start_session()
    keeper.close()
    aside = sf.set_aside_files(tmp_path / DB_NAME)
    assert len(aside) == 1
    check = sqlite3.connect(aside[0])
    assert check.execute("PRAGMA user_version").fetchone()[0] == 99
    check.close()


def test_an_unwritable_directory_is_held_in_order_and_flushed_when_it_comes_back(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state directory should be")  # mkdir fails: ENOTDIR/EEXIST
    clock = ManualClock(START)
    keeper = RecordKeeper(blocker, clock=clock)
    keeper.start_session()
    keeper.record_event(_event(clock, episode="ep1"))
    clock.advance(10)
    keeper.record_event(_event(clock, episode="ep2"))
    keeper.maintain()
    assert keeper.status().status == "fault" and keeper.status().held == 3
    blocker.unlink()
    blocker.mkdir()
    clock.advance(10)
    keeper.maintain()
    assert keeper.status().held == 3, "retried before its back-off"
    clock.advance(sf.RETRY_FIRST_S)
    keeper.maintain()
    assert keeper.status().held == 0
    assert keeper.status().status == "fault"  # not yet settled
    clock.advance(sf.SETTLE_S)
    assert keeper.maintain() is True and keeper.status().status == "ok"
    keeper.close()
    assert _episodes(blocker) == ["ep1", "ep2"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "keeping what cannot" in r.getMessage()]
    assert len(errors) == 1
    assert sum("fault over" in r.getMessage() for r in caplog.records) == 1


def test_the_hold_is_bounded_and_counts_what_it_drops(tmp_path):
    blocker = tmp_path / "state"
    blocker.write_text("x")
    clock = ManualClock(START)
    keeper = RecordKeeper(blocker, clock=clock, hold_max=5)
    keeper.start_session()
    for i in range(8):
        keeper.add_temperature(clock.wall(), 19.0 + i)
    assert keeper.status().held == 5 and keeper.status().lost == 4  # the session start and 3 readings
    keeper.close()
    assert keeper.lost == 9


def test_a_flapping_store_is_one_fault_in_the_log(tmp_path, caplog):
    tracker = sf.FaultTracker("outbox", tmp_path / "x", ManualClock(START).monotonic)
    clock = tracker.clock.__self__
    for _ in range(10):
        tracker.failed(OSError(28, "No space left on device"))
        clock.advance(40)
        tracker.worked()
        clock.advance(30)
    assert tracker.faults == 1 and tracker.in_fault
    assert sum("keeping what cannot" in r.getMessage() for r in caplog.records) == 1


def test_the_periodic_pass_writes_the_batch_once_its_oldest_row_has_waited_the_interval(tmp_path):
    from service.pipeline.movement import MinuteSummary

    clock = ManualClock(START)
    keeper = RecordKeeper(tmp_path, clock=clock, flush_interval_s=30.0)
    keeper.start_session()

    def rows(table: str) -> int:
        db = sqlite3.connect(tmp_path / DB_NAME)
        try:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        finally:
            db.close()

    keeper.add_minute(clock.wall(), MinuteSummary("leg", clock.monotonic(), 10.0, 0.0, 0, 60))
    clock.advance(20)
    keeper.add_temperature(clock.wall(), 19.0)  # later in the minute: it joins the same batch
    keeper.flush()  # the core's 30 s flush: nothing is due yet
    keeper.maintain()
    assert rows("minutes") == 0
    clock.advance(10)  # the minute row has waited 30 s
    keeper.maintain()
    assert rows("minutes") == 1 and rows("temperatures") == 1  # one commit for both
    keeper.close()
