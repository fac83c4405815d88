"""The outbox keeper on real SQLite files: an event it cannot write is still published, with the same seqs later."""

from __future__ import annotations

import os
import sqlite3

from firmware.clock import ManualClock
from service import storagefault as sf
from service.mqtt.messages import Message
from service.mqtt.outbox import Outbox
from service.mqtt.outboxkeeper import OutboxKeeper


def test_an_unwritable_outbox_holds_in_memory_and_writes_the_same_seqs_when_back(tmp_path):
    blocker = tmp_path / "state"
    blocker.write_text("not a directory")
    clock = ManualClock()
    keeper = OutboxKeeper(blocker, clock=clock.monotonic)
    seqs = keeper.put_many([Message("t/event", "a", 1), Message("t/episode", "b", 1)], event_id="e1")
    seqs2 = keeper.put_many([Message("t/event", "c", 1)], event_id="e2")
    assert seqs == [1, 2] and seqs2 == [3]
    assert [r.seq for r in keeper.pending()] == [1, 2, 3] and len(keeper) == 3
    assert keeper.ack_many([1]) == [] and keeper.ack_many([2]) == ["e1"]
    assert keeper.status().status == "fault" and keeper.status().held == 1
    blocker.unlink()
    blocker.mkdir()
    clock.advance(sf.RETRY_FIRST_S)
    keeper.maintain()
    assert keeper.status().held == 0
    assert [r.seq for r in keeper.pending()] == [3]  # now in the file, same seq
    assert keeper.put_many([Message("t/event", "d", 1)], event_id="e3") == [4]
    assert keeper.ack_many([3]) == ["e2"]
    keeper.close()
    box = Outbox(blocker)
    assert [r.seq for r in box.pending()] == [4]
    box.close()


def test_the_memory_hold_is_bounded_and_announces_drops(tmp_path):
    blocker = tmp_path / "state"
    blocker.write_text("x")
    keeper = OutboxKeeper(blocker, clock=ManualClock().monotonic, hold_max=2)
    seen = []
    keeper.add_drop_listener(lambda d, total: seen.append((d.event_id, total)))
    for i in range(4):
        keeper.put_many([Message("t", str(i), 1)], event_id=f"e{i}")
    assert [r.event_id for r in keeper.pending()] == ["e2", "e3"]
    assert seen == [("e0", 1), ("e1", 2)] and keeper.dropped_total == 2


def test_a_damaged_outbox_found_in_mid_run_is_set_aside_and_its_rows_kept(tmp_path):
    clock = ManualClock()
    keeper = OutboxKeeper(tmp_path, clock=clock.monotonic)
    for i in range(40):
        keeper.put_many([Message("t", "x" * 900, 1)], event_id=f"e{i}")
    path = tmp_path / "outbox.sqlite3"
    other = sqlite3.connect(path)
    other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = other.execute("PRAGMA page_size").fetchone()[0]
    other.close()
    with open(path, "r+b") as f:  # pages 3 and 4: the sequence and the first index, which every put writes
        f.seek(2 * page)
        f.write(os.urandom(2 * page))
    seqs = keeper.put_many([Message("t", "after", 1)], event_id="late")
    assert seqs == [41]
    assert keeper.status().set_aside == 1
    assert len(sf.set_aside_files(path)) == 1
    pending = keeper.pending(limit=1000)
    assert pending[-1].event_id == "late" and len(pending) <= 41
    keeper.close()


def test_a_failing_outbox_holds_durable_rows_as_before_and_volatile_ones_never_reach_a_file(tmp_path):
    blocker = tmp_path / "state"
    blocker.write_text("not a directory")  # the outbox cannot be opened at all
    clock = ManualClock()
    keeper = OutboxKeeper(blocker, clock=clock.monotonic)
    start = keeper.put_many([Message("t/event", "start", 1)], event_id="start")
    update = keeper.put_many([Message("t/event", "upd-91c2", 1)], event_id="upd-91c2", volatile=True)
    upd2 = keeper.put_many([Message("t/event", "upd-2", 1)], event_id="upd-2", volatile=True)
    assert start == [1] and update == [2] and upd2 == [3]
    assert [r.seq for r in keeper.pending()] == [1, 2, 3]  # both kinds published, in order
    assert keeper.status().status == "fault"
    assert keeper.ack_many(update) == ["upd-91c2"]
    blocker.unlink()
    blocker.mkdir()
    clock.advance(sf.RETRY_FIRST_S)
    keeper.maintain()
    assert keeper.status().held == 0  # the durable row is in the file now, the update in the outbox's memory
    assert [(r.seq, r.volatile) for r in keeper.pending()] == [(1, False), (3, True)]
    db = sqlite3.connect(blocker / "outbox.sqlite3")
    assert db.execute("SELECT seq, event_id FROM outbox").fetchall() == [(1, "start")]
    db.close()
    assert keeper.put_many([Message("t/event", "end", 1)], event_id="end") == [4]
    assert keeper.ack_many([3]) == ["upd-2"] and len(keeper) == 2
    keeper.close()
    assert all(b"upd-" not in p.read_bytes() for p in blocker.iterdir())
    box = Outbox(blocker)
    assert [r.event_id for r in box.pending()] == ["start", "end"]
    box.close()
