"""The persistent outbox on a real SQLite file: order, acknowledgement, restarts, the bound."""

from __future__ import annotations

import sqlite3

import pytest

from firmware.errors import StoreError
from service.mqtt.messages import PRIORITY_DROPPABLE, PRIORITY_KEEP, PRIORITY_NORMAL, Message
from service.mqtt.outbox import FILENAME, Outbox


def msg(i, topic="nightcramp/bed1/event"):
    return Message(topic, f'{{"n":{i}}}'.encode(), qos=1)


def test_put_then_pending_in_order_and_ack_removes(state_dir):
    with Outbox(state_dir) as ob:
        seqs = [ob.put(msg(i), event_id=f"e{i}") for i in range(5)]
        assert seqs == sorted(seqs)
        assert [r.message.payload for r in ob.pending()] == [msg(i).payload for i in range(5)]
        assert [r.seq for r in ob.pending(limit=2, after_seq=seqs[1])] == seqs[2:4]
        assert ob.ack(seqs[0]) == ["e0"]
        assert ob.ack(seqs[0]) == []  # twice is harmless
        assert len(ob) == 4 and not ob.has_event("e0") and ob.has_event("e1")


def test_an_event_is_delivered_only_when_all_its_messages_are_acked(state_dir):
    with Outbox(state_dir) as ob:
        a, b = ob.put_many([msg(1), msg(2, "nightcramp/bed1/episode")], event_id="ev")
        assert ob.ack(a) == []
        assert ob.ack(b) == ["ev"]


def test_survives_restart_with_original_payload_ids_and_timestamps(state_dir):
    ob = Outbox(state_dir)
    ob.put(Message("t/a", b"\x00binary\xff", qos=1, retain=True), event_id="id-1",
           created="2026-11-25T03:04:05.678+01:00")
    ob.put(msg(2), event_id="id-2")
    del ob  # no close: as after a crash, only what was committed counts
    again = Outbox(state_dir / FILENAME)
    rows = again.pending()
    assert [r.event_id for r in rows] == ["id-1", "id-2"]
    assert rows[0].message == Message("t/a", b"\x00binary\xff", qos=1, retain=True)
    assert rows[0].created == "2026-11-25T03:04:05.678+01:00"
    mode = sqlite3.connect(again.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_full_outbox_drops_oldest_updates_first_and_says_so(state_dir):
    heard = []
    with Outbox(state_dir, max_events=4) as ob:
        ob.add_drop_listener(lambda d, total: heard.append((d.event_id, total)))
        ob.put(msg(0), event_id="start", priority=PRIORITY_KEEP)
        ob.put_many([msg(1), msg(2)], event_id="update-1", priority=PRIORITY_DROPPABLE)
        ob.put(msg(3), event_id="prompt", priority=PRIORITY_NORMAL)
        ob.put(msg(4), event_id="update-2", priority=PRIORITY_DROPPABLE)
        ob.put(msg(5), event_id="end", priority=PRIORITY_KEEP)  # 5 events > 4: update-1 goes, both messages
        assert heard == [("update-1", 2), ("update-1", 2)]
        assert [r.event_id for r in ob.pending()] == ["start", "prompt", "update-2", "end"]
        ob.put(msg(6), event_id="update-3", priority=PRIORITY_DROPPABLE)  # drops update-2 (older)
        ob.put(msg(7), event_id="prompt-2", priority=PRIORITY_NORMAL)  # drops update-3
        ob.put(msg(8), event_id="end-2", priority=PRIORITY_KEEP)  # no update left: the oldest prompt goes
        assert [r.event_id for r in ob.pending()] == ["start", "end", "prompt-2", "end-2"]
        assert ob.dropped_total == 5
        assert [d.event_id for d in ob.dropped(3)] == ["prompt", "update-3", "update-2"]
    with Outbox(state_dir, max_events=4) as again:
        assert again.dropped_total == 5


def test_unwritable_state_directory_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="outbox"):
        Outbox(blocker / "sub" / FILENAME)


def test_a_damaged_outbox_file_is_set_aside_and_the_service_still_starts(state_dir, caplog):
    (state_dir / FILENAME).write_bytes(b"this is not a database, a torn write left it" * 100)
    with Outbox(state_dir) as ob:
        ob.put(msg(1), event_id="after")
        assert [r.event_id for r in ob.pending()] == ["after"]
    aside = list(state_dir.glob(f"{FILENAME}.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    assert "damaged" in caplog.text


def _rows_in_file(path) -> list[str]:
    """The event ids of the rows in the file, through another connection (what a restart would find)."""
    db = sqlite3.connect(path)
    try:
        return [r[0] for r in db.execute("SELECT event_id FROM outbox ORDER BY seq")]
    finally:
        db.close()


def test_an_acknowledged_row_leaves_the_queue_at_once_and_the_file_with_the_next_put_or_late(state_dir):
    from firmware.clock import ManualClock
    from service.mqtt.outbox import ACK_DELAY_S

    clock = ManualClock()
    ob = Outbox(state_dir, clock=clock.monotonic)
    (a,) = ob.put_many([msg(1)], event_id="e1")
    b, c = ob.put_many([msg(2), msg(3, "nightcramp/bed1/episode")], event_id="e2")
    assert ob.ack_many([a, b]) == ["e1"]
    assert [r.event_id for r in ob.pending()] == ["e2"] and len(ob) == 1
    assert not ob.has_event("e1") and ob.has_event("e2")
    assert ob.ack_many([a]) == []  # twice is harmless
    # Not deleted in a commit of its own: a power cut now would send e1 once more after the restart.
    assert _rows_in_file(ob.path) == ["e1", "e2", "e2"]
    crashed = Outbox(state_dir)  # a second opening sees what a restart would: the committed file
    assert [r.event_id for r in crashed.pending()] == ["e1", "e2", "e2"]
    crashed._db.close()
    # The next put deletes them in its own commit.
    ob.put_many([msg(4)], event_id="e3")
    assert _rows_in_file(ob.path) == ["e2", "e3"]
    # Without a put, at most ACK_DELAY_S later (the keeper's periodic pass, or the next acknowledgement).
    assert ob.ack_many([c]) == ["e2"]
    assert ob.flush_acks() == 0 and _rows_in_file(ob.path) == ["e2", "e3"]
    clock.advance(ACK_DELAY_S)
    assert ob.flush_acks() == 1 and _rows_in_file(ob.path) == ["e3"]
    # A clean stop deletes what was acknowledged.
    (d,) = ob.pending()
    assert ob.ack_many([d.seq]) == ["e3"]
    ob.close()
    assert _rows_in_file(state_dir / FILENAME) == []


def test_the_keeper_deletes_late_acknowledgements_in_its_periodic_pass(tmp_path):
    from firmware.clock import ManualClock
    from service.mqtt.outbox import ACK_DELAY_S
    from service.mqtt.outboxkeeper import OutboxKeeper

    clock = ManualClock()
    keeper = OutboxKeeper(tmp_path, clock=clock.monotonic)
    seqs = keeper.put_many([msg(1), msg(2)], event_id="e1")
    assert keeper.ack_many(seqs) == ["e1"] and len(keeper) == 0 and keeper.pending() == []
    keeper.maintain()
    assert _rows_in_file(tmp_path / FILENAME) == ["e1", "e1"]
    clock.advance(ACK_DELAY_S)
    keeper.maintain()
    assert _rows_in_file(tmp_path / FILENAME) == []
    keeper.close()


def test_a_new_outbox_has_small_pages_and_an_old_one_is_rebuilt_with_its_rows(tmp_path):
    from service.mqtt.outbox import PAGE_SIZE, _SCHEMA

    fresh = Outbox(tmp_path / "new")
    assert fresh._db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 512
    fresh.close()
    old = tmp_path / "old" / FILENAME
    old.parent.mkdir()
    db = sqlite3.connect(old, isolation_level=None)  # an outbox as made before 2026-12-02: 4 KiB pages
    db.execute("PRAGMA page_size = 4096")
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(_SCHEMA)
    db.execute("INSERT INTO outbox(topic, payload, qos, retain, event_id, priority, created) "
               "VALUES ('nightcramp/bed1/event', x'7b7d', 1, 0, 'kept', 2, '2026-12-01T23:00:00+00:00')")
    db.close()
    ob = Outbox(old.parent)
    assert ob._db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    assert ob._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [(r.event_id, r.message.payload) for r in ob.pending()] == [("kept", b"{}")]
    assert ob.put(msg(1), event_id="new") > ob.pending()[0].seq
    ob.close()


# ---------------------------------------------------------------- volatile messages (cramp updates)


def _file_rows(path) -> list[tuple]:
    """The outbox table as another process would read it (sqlite3 directly, the WAL included)."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT seq, event_id FROM outbox ORDER BY seq").fetchall()
    finally:
        db.close()


def _file_bytes(path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_a_volatile_update_is_queued_and_acknowledged_without_ever_a_row_in_the_file(state_dir):
    with Outbox(state_dir) as ob:
        start = ob.put(msg(0), event_id="start", priority=PRIORITY_KEEP)
        update = Message("nightcramp/bed1/event", b'{"event_id":"upd-7f3a","type":"cramp_update"}', qos=1)
        (seq,) = ob.put_many([update], event_id="upd-7f3a", priority=PRIORITY_DROPPABLE, volatile=True)
        assert seq > start
        assert [(r.seq, r.volatile) for r in ob.pending()] == [(start, False), (seq, True)]
        assert ob.has_event("upd-7f3a") and len(ob) == 2
        assert _file_rows(ob.path) == [(start, "start")]
        assert ob.ack_many([seq]) == ["upd-7f3a"]
        assert not ob.has_event("upd-7f3a") and [r.seq for r in ob.pending()] == [start]
        ob.put(msg(1), event_id="end", priority=PRIORITY_KEEP)  # another commit after the update
        assert [e for _, e in _file_rows(ob.path)] == ["start", "end"]
        assert b"upd-7f3a" not in _file_bytes(ob.path)  # not in the file, the WAL or the shm, ever
    assert b"upd-7f3a" not in _file_bytes(state_dir / FILENAME)


def test_after_a_crash_the_durable_alert_is_resent_and_the_volatile_update_is_not(state_dir):
    ob = Outbox(state_dir)
    alert = ob.put(msg(0), event_id="alert", priority=PRIORITY_KEEP)
    (update,) = ob.put_many([msg(1)], event_id="update", priority=PRIORITY_DROPPABLE, volatile=True)
    del ob  # no close: as after a crash or a power cut
    again = Outbox(state_dir / FILENAME)
    assert [(r.seq, r.event_id) for r in again.pending()] == [(alert, "alert")]
    # New seqs come after every seq given out before, the lost volatile one included.
    (after_vol,) = again.put_many([msg(2)], event_id="update-2", volatile=True)
    after = again.put(msg(3), event_id="end", priority=PRIORITY_KEEP)
    assert update < after_vol < after
    again.close()
    third = Outbox(state_dir)
    assert [r.event_id for r in third.pending()] == ["alert", "end"]
    assert third.put(msg(4), event_id="x") > after_vol
    third.close()


def test_a_mixed_sequence_keeps_its_order_in_pending(state_dir):
    with Outbox(state_dir) as ob:
        order = []
        for i, (eid, vol) in enumerate([("start", False), ("u1", True), ("prompt", False), ("u2", True),
                                        ("u3", True), ("end", False)]):
            order += ob.put_many([msg(i), msg(i, "nightcramp/bed1/episode")], event_id=eid, volatile=vol)
        assert order == sorted(order) and len(set(order)) == len(order)
        assert [r.seq for r in ob.pending()] == order
        assert [r.event_id for r in ob.pending(limit=3, after_seq=order[1])] == ["u1", "u1", "prompt"]
        ob.ack_many(order[:3])
        assert [r.event_id for r in ob.pending(limit=2)] == ["u1", "prompt"]


def test_acknowledging_a_mixed_burst_names_the_delivered_events_in_publish_order(state_dir):
    """PUBACKs of durable and volatile rows come in one burst: the delivered events are still in the order raised."""
    with Outbox(state_dir) as ob:
        order, ids = [], ["start", "u1", "prompt", "u2", "end"]
        for eid in ids:
            order += ob.put_many([msg(0)], event_id=eid, volatile=eid.startswith("u"))
        assert ob.ack_many(order) == ids
        assert ob.ack_many(order) == []  # acknowledged twice: nothing new


def test_the_bound_counts_volatile_events_and_drops_them_first(state_dir):
    heard = []
    with Outbox(state_dir, max_events=3) as ob:
        ob.add_drop_listener(lambda d, total: heard.append((d.event_id, total)))
        ob.put(msg(0), event_id="start", priority=PRIORITY_KEEP)
        ob.put_many([msg(1), msg(2)], event_id="u1", priority=PRIORITY_DROPPABLE, volatile=True)
        ob.put_many([msg(3), msg(4)], event_id="u2", priority=PRIORITY_DROPPABLE, volatile=True)
        assert len(ob) == 5 and heard == []  # three events: at the bound
        ob.put(msg(5), event_id="end", priority=PRIORITY_KEEP)  # a durable put over the bound: u1 goes
        assert heard == [("u1", 2), ("u1", 2)]
        ob.put_many([msg(6)], event_id="u3", priority=PRIORITY_DROPPABLE, volatile=True)  # a volatile put: u2
        assert heard[2:] == [("u2", 4), ("u2", 4)]
        assert [r.event_id for r in ob.pending()] == ["start", "end", "u3"]
        assert [d.event_id for d in ob.dropped()] == ["u2", "u2", "u1", "u1"] and ob.dropped_total == 4
        assert [e for _, e in _file_rows(ob.path)] == ["start", "end"]
