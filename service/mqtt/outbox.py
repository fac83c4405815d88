"""The persistent outbox: every event is on disk before it is published.

A message is committed to SQLite (``outbox.sqlite3`` in the state directory)
before the MQTT client sees it, and deleted only when the broker has
acknowledged it (PUBACK).  A broker down for hours, a crash or a power cut
therefore loses nothing: after a restart the pending rows are published again,
in order, with their original payloads (ids and timestamps included), and
subscribers drop the rare duplicate by ``event_id``.

Durability: WAL journal with ``synchronous=FULL``.  In WAL mode ``NORMAL`` is
safe against a crash of the process but may lose the last commits on power
loss, and a Pi on a bedside plug loses power without warning.  Every put is
its own fsynced commit.  An acknowledged row is not deleted in a commit of its
own: it leaves :meth:`Outbox.pending` at once and is deleted from the file
with the next put (in its transaction) or :data:`ACK_DELAY_S` after the
acknowledgement at the latest (:meth:`Outbox.flush_acks`, from the keeper's
periodic pass, and at close).  A power cut in between sends it once more after
the restart, the rare duplicate subscribers drop by ``event_id``.  A bad night
has some 200 events, and each commit costs at least a 4 KiB page of the WAL at
the block layer; the file uses :data:`PAGE_SIZE` pages for the same reason
(docs/morning-log.md, "Bytes written per night").

The outbox is bounded (``mqtt.outbox_max_events`` events; an event is one or
two messages, all dropped together).  When full, the oldest event of the
lowest priority goes first (cramp updates before prompts before
starts/ends); each drop is logged, counted in the ``meta`` table, kept in the
``dropped`` table (the last 1,000) and handed to the ``on_drop`` listeners, so
the bridge can say it on ``<base>/dropped``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

from firmware.errors import StoreError
from service.mqtt.messages import PRIORITY_NORMAL, Message

log = logging.getLogger(__name__)

FILENAME = "outbox.sqlite3"
DROPPED_KEPT = 1000
PAGE_SIZE = 512
"""Page size of the file: a put touches four pages or more (the row and its overflow, its two indexes, the
sequence), each appended whole to the WAL, and the smallest pages cost the fewest bytes (docs/morning-log.md);
a file made with other pages (4 KiB before 2026-12-02) is rebuilt at open."""
ACK_DELAY_S = 30.0
"""At most this long between an acknowledgement and the deletion of its row from the file (see above)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    topic    TEXT    NOT NULL,
    payload  BLOB    NOT NULL,
    qos      INTEGER NOT NULL,
    retain   INTEGER NOT NULL,
    event_id TEXT,
    priority INTEGER NOT NULL,
    created  TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_event ON outbox(event_id);
CREATE INDEX IF NOT EXISTS outbox_drop ON outbox(priority, seq);
CREATE TABLE IF NOT EXISTS dropped (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    seq      INTEGER NOT NULL,
    topic    TEXT NOT NULL,
    event_id TEXT,
    priority INTEGER NOT NULL,
    created  TEXT NOT NULL,
    dropped  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class OutboxRow:
    """One pending message with its sequence number (the publish order)."""

    seq: int
    message: Message
    event_id: str | None
    priority: int
    created: str


@dataclass(frozen=True)
class Dropped:
    """A message the full outbox gave up on."""

    seq: int
    topic: str
    event_id: str | None
    priority: int
    created: str

    def as_dict(self) -> dict:
        return {"seq": self.seq, "topic": self.topic, "event_id": self.event_id, "priority": self.priority,
                "created": self.created}


class Outbox:
    """A bounded, ordered, crash-safe queue of MQTT messages in SQLite.

    ``path`` is the state directory (the file is ``outbox.sqlite3`` in it) or a
    file name ending in ``.sqlite3``/``.sqlite``/``.db``.  Thread-safe: the
    daemon puts from its thread while the MQTT pump reads and acknowledges from
    its own (one connection behind a lock).
    """

    def __init__(self, path: str | Path, max_events: int = 10000, clock: Callable[[], float] = time.monotonic):
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self.path = Path(path)
        if self.path.suffix not in (".sqlite3", ".sqlite", ".db"):  # a state directory (created if missing)
            self.path = self.path / FILENAME
        self.max_events = max_events
        self._lock = threading.RLock()
        self._clock = clock
        self._acked: dict[int, float] = {}  # seq -> when acknowledged: rows of the file not yet deleted
        self._listeners: list[Callable[[Dropped, int], None]] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the outbox directory {self.path.parent}: {exc.strerror}") from None
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            if not self.path.exists() or isinstance(exc, sqlite3.OperationalError):
                raise StoreError(f"cannot open the outbox {self.path}: {exc}") from None
            # A damaged file (a torn write on a dying SD card) must not keep the alarm from starting:
            # keep it for inspection and start empty.
            aside = self.path.with_name(f"{self.path.name}.corrupt-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}")
            log.error("outbox %s is damaged (%s): moved to %s, starting an empty outbox", self.path, exc, aside)
            for suffix in ("", "-wal", "-shm"):
                side = Path(f"{self.path}{suffix}")
                if side.exists():
                    side.rename(Path(f"{aside}{suffix}"))
            try:
                self._db = self._open()
            except sqlite3.Error as exc2:
                raise StoreError(f"cannot open the outbox {self.path}: {exc2}") from None

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            fresh = db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is None
            if fresh:
                db.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # before the first table: no rebuild needed
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(_SCHEMA)
            db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            check = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if check != "ok":  # a torn page the count did not touch: damaged all the same
                raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
        except sqlite3.Error:
            db.close()
            raise
        if not fresh:
            self._resize(db)
        return db

    def _resize(self, db: sqlite3.Connection) -> None:
        """Rebuild a sound file made with another page size (rows kept); on any failure keep it as it is."""
        old = db.execute("PRAGMA page_size").fetchone()[0]
        if old == PAGE_SIZE:
            return
        try:
            # The page size of a WAL file cannot change: leave WAL (this checkpoints it), rebuild, back to WAL.
            if db.execute("PRAGMA journal_mode=DELETE").fetchone()[0].lower() == "delete":
                db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
                db.execute("VACUUM")
                log.info("outbox %s: rebuilt with %d-byte pages (was %d)", self.path, PAGE_SIZE, old)
        except sqlite3.Error as exc:
            log.warning("outbox %s: kept its %d-byte pages (rebuilding failed: %s)", self.path, old, exc)
        finally:
            try:
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error as exc:
                log.warning("outbox %s: could not return to WAL mode: %s", self.path, exc)

    # ------------------------------------------------------------ writing

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction under the lock: committed on success, rolled back on any exception.

        BEGIN IMMEDIATE takes SQLite's write lock at once, so a busy file fails
        here (after ``busy_timeout``) and not halfway through.  SQLite errors
        become StoreError.
        """
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    self._db.execute("COMMIT")
                except BaseException:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error:  # a failed COMMIT (disk full) may have rolled back already
                        pass
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the outbox {self.path}: {exc}") from None

    def add_drop_listener(self, listener: Callable[[Dropped, int], None]) -> None:
        """Call ``listener(dropped, dropped_total)`` after each drop (outside the lock)."""
        self._listeners.append(listener)

    def put(self, message: Message, event_id: str | None = None, priority: int = PRIORITY_NORMAL,
            created: str | None = None) -> int:
        """Commit one message; return its sequence number."""
        return self.put_many([message], event_id, priority, created)[0]

    def put_many(self, messages: Iterable[Message], event_id: str | None = None, priority: int = PRIORITY_NORMAL,
                 created: str | None = None, seqs: Iterable[int] | None = None) -> list[int]:
        """Commit several messages of one event in one transaction (one fsync); return their seqs in order.

        ``seqs`` gives the rows their sequence numbers (messages the keeper held in memory keep the ones
        they were published with); by default the next free ones.
        """
        created = created or datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        rows = [(m.topic, m.payload_bytes(), int(m.qos), int(bool(m.retain)), event_id, int(priority), created)
                for m in messages]
        given = list(seqs) if seqs is not None else [None] * len(rows)
        with self._transaction():
            deleted = self._delete_acked()  # the acknowledged rows go in this commit, at no fsync of their own
            seqs = [self._db.execute(
                "INSERT INTO outbox(seq, topic, payload, qos, retain, event_id, priority, created) "
                "VALUES (?,?,?,?,?,?,?,?)", (seq, *row)).lastrowid for seq, row in zip(given, rows)]
            drops = self._enforce_bound(protect=set(seqs))
            total = self._dropped_total() if drops else 0
        self._forget_acked(deleted)
        for d in drops:
            log.warning("outbox full (%d events): dropped undelivered %s (event %s, queued %s)",
                        self.max_events, d.topic, d.event_id, d.created)
            for listener in self._listeners:
                try:
                    listener(d, total)
                except Exception:
                    log.exception("outbox drop listener failed")
        return seqs

    def _enforce_bound(self, protect: set[int]) -> list[Dropped]:
        """Drop whole events (all their messages), lowest priority and oldest first, down to the bound."""
        (rows,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        if rows <= self.max_events:  # rows >= events, so nothing to count
            return []
        (events,) = self._db.execute(
            "SELECT COUNT(DISTINCT COALESCE(event_id, 'seq:' || seq)) FROM outbox").fetchone()
        placeholders = ",".join("?" * len(protect)) or "NULL"
        drops: list[Dropped] = []
        while events > self.max_events:
            victim = self._db.execute(
                f"SELECT seq, event_id FROM outbox WHERE seq NOT IN ({placeholders}) ORDER BY priority, seq LIMIT 1",
                tuple(protect)).fetchone()
            if victim is None:
                break
            seq, event_id = victim
            where, args = ("event_id = ?", (event_id,)) if event_id is not None else ("seq = ?", (seq,))
            drops += [Dropped(*r) for r in self._db.execute(
                f"SELECT seq, topic, event_id, priority, created FROM outbox WHERE {where} ORDER BY seq", args)]
            self._db.execute(f"DELETE FROM outbox WHERE {where}", args)
            events -= 1
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        self._db.executemany("INSERT INTO dropped(seq, topic, event_id, priority, created, dropped) "
                             "VALUES (?,?,?,?,?,?)",
                             [(d.seq, d.topic, d.event_id, d.priority, d.created, now) for d in drops])
        self._db.execute("DELETE FROM dropped WHERE id NOT IN (SELECT id FROM dropped ORDER BY id DESC LIMIT ?)",
                         (DROPPED_KEPT,))
        self._db.execute("INSERT INTO meta(key, value) VALUES ('dropped_total', ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value", (len(drops),))
        return drops

    def _delete_acked(self) -> list[int]:
        """Inside a transaction: delete the acknowledged rows; the seqs deleted (forget them once committed)."""
        gone = list(self._acked)
        for i in range(0, len(gone), 500):
            part = gone[i:i + 500]
            self._db.execute(f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(part))})", part)
        return gone

    def _forget_acked(self, seqs: list[int]) -> None:
        with self._lock:
            for seq in seqs:
                self._acked.pop(seq, None)

    def ack(self, seq: int) -> list[str]:
        """The broker acknowledged ``seq``: it leaves the queue.  Returns event ids now fully delivered."""
        return self.ack_many([seq])

    def ack_many(self, seqs: Iterable[int]) -> list[str]:
        """Acknowledged rows leave the queue at once (deleted from the file later: :data:`ACK_DELAY_S`); return the
        event ids with no row left, in publish order.

        Acknowledging a seq that is gone (dropped meanwhile, or acked twice) is harmless.
        """
        seqs = list(seqs)
        if not seqs:
            return []
        with self._lock:
            try:
                new = [s for s in dict.fromkeys(seqs) if s not in self._acked]
                done: list[str] = []
                if new:
                    placeholders = ",".join("?" * len(new))
                    rows = self._db.execute(f"SELECT seq, event_id FROM outbox WHERE seq IN ({placeholders}) "
                                            "ORDER BY seq", new).fetchall()
                    now = self._clock()
                    for seq, _ in rows:
                        self._acked[seq] = now
                    for eid in dict.fromkeys(eid for _, eid in rows if eid is not None):
                        left = self._db.execute("SELECT seq FROM outbox WHERE event_id = ?", (eid,)).fetchall()
                        if all(r[0] in self._acked for r in left):
                            done.append(eid)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the outbox {self.path}: {exc}") from None
            try:
                self.flush_acks()
            except StoreError as exc:  # they are out of the queue; deleted with the next commit that works
                log.debug("deleting acknowledged rows: %s", exc)
        return done

    def flush_acks(self, force: bool = False) -> int:
        """Delete the acknowledged rows from the file when the oldest waited :data:`ACK_DELAY_S` (or ``force``);
        how many were deleted."""
        with self._lock:
            if not self._acked or (not force and self._clock() - min(self._acked.values()) < ACK_DELAY_S):
                return 0
            with self._transaction():
                deleted = self._delete_acked()
            self._forget_acked(deleted)
            return len(deleted)

    def reserve_seq(self, seq: int) -> None:
        """Make every new row's seq larger than ``seq`` (a fresh file continues the numbering of the old)."""
        seq = int(seq)
        with self._transaction():
            if self._db.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'outbox'",
                                (seq,)).rowcount == 0:
                top = self._db.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()[0]
                self._db.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('outbox', ?)", (max(seq, top),))

    def max_seq(self) -> int:
        """The largest seq ever given out in this file (0: none)."""
        with self._lock:
            row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return int(row[0]) if row else 0

    def events_of(self, seqs: Iterable[int]) -> dict[str, list[int]]:
        """For the events that own any of ``seqs``: event id -> those of ``seqs`` and every other seq of it still
        waiting (not acknowledged)."""
        seqs = list(seqs)
        if not seqs:
            return {}
        placeholders = ",".join("?" * len(seqs))
        with self._lock:
            rows = self._db.execute(
                f"SELECT event_id, seq FROM outbox WHERE event_id IN (SELECT event_id FROM outbox WHERE seq IN "
                f"({placeholders}) AND event_id IS NOT NULL) ORDER BY seq", seqs).fetchall()
            acked = set(self._acked)
        out: dict[str, list[int]] = {}
        for event_id, seq in rows:
            if seq not in acked or seq in seqs:
                out.setdefault(event_id, []).append(seq)
        return out

    # ------------------------------------------------------------ reading

    def pending(self, limit: int = 100, after_seq: int = 0) -> list[OutboxRow]:
        """Undelivered messages in publish order, those with seq > ``after_seq`` first ``limit``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, qos, retain, event_id, priority, created FROM outbox "
                "WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit + len(self._acked))).fetchall()
            rows = [r for r in rows if r[0] not in self._acked][:limit]
        return [OutboxRow(seq, Message(topic, bytes(payload), qos, bool(retain)), event_id, priority, created)
                for seq, topic, payload, qos, retain, event_id, priority, created in rows]

    def __len__(self) -> int:
        with self._lock:
            return max(0, self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] - len(self._acked))

    def has_event(self, event_id: str) -> bool:
        """True while some message of this event waits for the broker."""
        with self._lock:
            return any(r[0] not in self._acked for r in self._db.execute(
                "SELECT seq FROM outbox WHERE event_id = ?", (event_id,)))

    @property
    def dropped_total(self) -> int:
        """Messages ever dropped because the outbox was full (survives restarts)."""
        with self._lock:
            return self._dropped_total()

    def _dropped_total(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'dropped_total'").fetchone()
        return row[0] if row else 0

    def dropped(self, limit: int = 100) -> list[Dropped]:
        """The most recent drops, the last dropped first."""
        with self._lock:
            rows = self._db.execute("SELECT seq, topic, event_id, priority, created FROM dropped "
                                    "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [Dropped(*r) for r in rows]

    def close(self) -> None:
        """Delete the acknowledged rows (a failure only means they are sent again after the restart), close."""
        with self._lock:
            try:
                self.flush_acks(force=True)
            except StoreError as exc:
                log.warning("%s; the acknowledged rows are sent once more after the restart", exc)
            self._db.close()

    def __enter__(self) -> "Outbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
