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
