"""The persistent outbox: every event (but a cramp update) is on disk before it is published.

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

Volatile messages: a ``cramp_update`` (the periodic "still cramping, N s so
far" of an open episode) is superseded by the next update or by the
episode's ``cramp_end``, which stays durable.  Its messages are put with
``volatile=True``: they take the same queue, the same sequence numbers, the
same publish order and QoS and leave on the PUBACK like the others, and count
toward the bound, but they are kept in memory only and never written to the
file (on a 16-alarm night about half the commits were updates).  A restart,
a crash or a power cut loses the volatile messages the broker has not
acknowledged; that is harmless: the next update or the end carries the
episode's duration (docs/mqtt.md, docs/reliability.md).  Sequence numbers
stay unique across durable and volatile rows and across restarts: the file's
``sqlite_sequence`` is kept :data:`SEQ_RESERVE` ahead of the largest seq given
out (raised inside a durable put's own commit, or by a commit of its own once
the volatile messages used up the reserve, which a night does not), and a
reopened outbox continues after the reserve.  A failing disk (read-only,
full) does not stop a volatile put: only that reserve, or a full outbox's
drop record, would need the file, and their failure is logged and skipped.

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
SEQ_RESERVE = 1000
"""How far the file's sequence is kept ahead of the seqs given out, so the volatile messages (never written)
never reuse a seq after a restart."""
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
    volatile: bool = False  # in memory only (a cramp update), never in the file


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
        self._volatile: dict[int, OutboxRow] = {}  # seq -> undelivered volatile row (memory only), in seq order
        self._seq = 0  # the largest seq given out (durable or volatile)
        self._reserved = 0  # the file's sqlite_sequence: no seq up to it is given out after a restart
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
        try:
            row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
            top = self._db.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()[0]
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(f"cannot read the outbox {self.path}: {exc}") from None
        self._reserved = max(int(row[0]) if row else 0, int(top))
        self._seq = self._reserved  # after a restart: past every seq a volatile message may have had

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
            created: str | None = None, volatile: bool = False) -> int:
        """Commit one message (``volatile``: keep it in memory only); return its sequence number."""
        return self.put_many([message], event_id, priority, created, volatile=volatile)[0]

    def put_many(self, messages: Iterable[Message], event_id: str | None = None, priority: int = PRIORITY_NORMAL,
                 created: str | None = None, seqs: Iterable[int] | None = None,
                 volatile: bool = False) -> list[int]:
        """Commit several messages of one event in one transaction (one fsync); return their seqs in order.

        ``seqs`` gives the rows their sequence numbers (messages the keeper held in memory keep the ones
        they were published with); by default the next free ones.  ``volatile``: the messages are queued in
        memory only, never written to the file (a cramp update; see the module docstring).
        """
        created = created or datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        messages = list(messages)
        if volatile:
            return self._put_volatile(messages, event_id, int(priority), created, seqs)
        rows = [(m.topic, m.payload_bytes(), int(m.qos), int(bool(m.retain)), event_id, int(priority), created)
                for m in messages]
        with self._transaction():
            deleted = self._delete_acked()  # the acknowledged rows go in this commit, at no fsync of their own
            given = self._take_seqs(len(rows), seqs)
            for seq, row in zip(given, rows):
                self._db.execute("INSERT INTO outbox(seq, topic, payload, qos, retain, event_id, priority, created) "
                                 "VALUES (?,?,?,?,?,?,?,?)", (seq, *row))
            reserve = self._seq + SEQ_RESERVE if self._seq + SEQ_RESERVE // 2 > self._reserved else None
            if reserve is not None:  # in this commit: the volatile seqs to come are safe from a restart
                self._db.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'outbox'", (reserve,))
            drops = self._enforce_bound(protect=set(given))
            total = self._dropped_total() if drops else 0
        if reserve is not None:
            self._reserved = max(self._reserved, reserve)
        seqs = given
        self._forget_acked(deleted)
        self._announce(drops, total)
        return seqs

    def _take_seqs(self, n: int, seqs: Iterable[int] | None) -> list[int]:
        """Under the lock: the given seqs (the counter moves past them) or the next ``n`` free ones."""
        if seqs is not None:
            given = [int(s) for s in seqs]
        else:
            given = list(range(self._seq + 1, self._seq + 1 + n))
        self._seq = max([self._seq, *given])
        return given

    def _put_volatile(self, messages: list[Message], event_id: str | None, priority: int, created: str,
                      seqs: Iterable[int] | None) -> list[int]:
        with self._lock:
            given = self._take_seqs(len(messages), seqs)
            top = max(self._volatile, default=0)
            for seq, m in zip(given, messages):
                self._volatile[seq] = OutboxRow(seq, m, event_id, priority, created, volatile=True)
            if given and min(given) < top:  # given seqs below others (the keeper's): keep the dict in seq order
                self._volatile = dict(sorted(self._volatile.items()))
            drops: list[Dropped] = []
            total = 0
            try:
                if self._seq > self._reserved:  # the reserve is used up (not on a night): one commit to raise it
                    reserve = self._seq + SEQ_RESERVE
                    with self._transaction():
                        self._db.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'outbox'",
                                         (reserve,))
                        if self._db.execute("SELECT changes()").fetchone()[0] == 0:
                            self._db.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('outbox', ?)",
                                             (reserve,))
                    self._reserved = reserve
                (rows,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
                if rows + len(self._volatile) > self.max_events and self._events() > self.max_events:
                    with self._transaction():  # full: the drops are recorded in the file
                        drops = self._enforce_bound(protect=set(given))
                        total = self._dropped_total() if drops else 0
            except sqlite3.Error as exc:
                log.warning("cannot read the outbox %s: %s (a cramp update is queued in memory all the same)",
                            self.path, exc)
            except StoreError as exc:  # a failing disk: the volatile message is published all the same
                log.warning("%s (a cramp update is queued in memory all the same)", exc)
        self._announce(drops, total)
        return given

    def _events(self) -> int:
        """Events waiting, file and memory (acknowledged rows not yet deleted count until they are)."""
        (events,) = self._db.execute(
            "SELECT COUNT(DISTINCT COALESCE(event_id, 'seq:' || seq)) FROM outbox").fetchone()
        return events + len({r.event_id if r.event_id is not None else ("seq", s) for s, r in self._volatile.items()})

    def _announce(self, drops: list[Dropped], total: int) -> None:
        for d in drops:
            log.warning("outbox full (%d events): dropped undelivered %s (event %s, queued %s)",
                        self.max_events, d.topic, d.event_id, d.created)
            for listener in self._listeners:
                try:
                    listener(d, total)
                except Exception:
                    log.exception("outbox drop listener failed")

    def _enforce_bound(self, protect: set[int]) -> list[Dropped]:
        """Drop whole events (all their messages), lowest priority and oldest first, down to the bound.

        Volatile events (memory only) count and are dropped like the others; the drop is recorded in the file."""
        (rows,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        if rows + len(self._volatile) <= self.max_events:  # rows >= events, so nothing to count
            return []
        events = self._events()
        placeholders = ",".join("?" * len(protect)) or "NULL"
        drops: list[Dropped] = []
        while events > self.max_events:
            victim = self._db.execute(
                f"SELECT priority, seq, event_id FROM outbox WHERE seq NOT IN ({placeholders}) "
                "ORDER BY priority, seq LIMIT 1", tuple(protect)).fetchone()
            mem = min(((r.priority, s, r.event_id) for s, r in self._volatile.items() if s not in protect),
                      default=None)
            if mem is not None and (victim is None or mem[:2] < tuple(victim[:2])):
                _, seq, event_id = mem
                gone = [s for s, r in self._volatile.items()
                        if (r.event_id == event_id if event_id is not None else s == seq)]
                for s in gone:
                    r = self._volatile.pop(s)
                    drops.append(Dropped(s, r.message.topic, r.event_id, r.priority, r.created))
                events -= 1
                continue
            if victim is None:
                break
            _, seq, event_id = victim
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
            done: list[tuple[int, str]] = []  # (a seq of the event, event id): sorted into publish order at the end
            vol = [self._volatile.pop(s) for s in dict.fromkeys(seqs) if s in self._volatile]
            if vol:  # memory only: nothing to delete from the file
                left = {r.event_id for r in self._volatile.values()}
                first: dict[str, int] = {}
                for r in vol:
                    if r.event_id is not None and r.event_id not in left:
                        first.setdefault(r.event_id, r.seq)
                done += [(seq, eid) for eid, seq in first.items()]
                seqs = [s for s in seqs if s not in {r.seq for r in vol}]
                if not seqs:
                    return [eid for _, eid in sorted(done)]
            try:
                new = [s for s in dict.fromkeys(seqs) if s not in self._acked]
                if new:
                    placeholders = ",".join("?" * len(new))
                    rows = self._db.execute(f"SELECT seq, event_id FROM outbox WHERE seq IN ({placeholders}) "
                                            "ORDER BY seq", new).fetchall()
                    now = self._clock()
                    for seq, _ in rows:
                        self._acked[seq] = now
                    firsts: dict[str, int] = {}
                    for seq, eid in rows:
                        if eid is not None:
                            firsts.setdefault(eid, seq)
                    for eid, seq in firsts.items():
                        left = self._db.execute("SELECT seq FROM outbox WHERE event_id = ?", (eid,)).fetchall()
                        if all(r[0] in self._acked for r in left):
                            done.append((seq, eid))
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the outbox {self.path}: {exc}") from None
            try:
                self.flush_acks()
            except StoreError as exc:  # they are out of the queue; deleted with the next commit that works
                log.debug("deleting acknowledged rows: %s", exc)
        return [eid for _, eid in sorted(done)]

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
        with self._lock:
            self._seq = max(self._seq, seq)
        with self._transaction():
            if self._db.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'outbox'",
                                (seq,)).rowcount == 0:
                top = self._db.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()[0]
                self._db.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('outbox', ?)", (max(seq, top),))
            self._reserved = max(self._reserved, seq)

    def max_seq(self) -> int:
        """The largest seq given out, volatile ones included, or reserved in the file (0: none)."""
        with self._lock:
            return self._seq

    def advance_seq(self, seq: int) -> None:
        """Give out only seqs larger than ``seq`` from now on (memory only: the keeper's held rows have them)."""
        with self._lock:
            self._seq = max(self._seq, int(seq))

    def is_volatile(self, seq: int) -> bool:
        """True for an undelivered volatile (memory-only) message."""
        with self._lock:
            return seq in self._volatile

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
            vol = [r for s, r in self._volatile.items() if s > after_seq][:limit]
        out = [OutboxRow(seq, Message(topic, bytes(payload), qos, bool(retain)), event_id, priority, created)
               for seq, topic, payload, qos, retain, event_id, priority, created in rows]
        if vol:
            out = sorted(out + vol, key=lambda r: r.seq)[:limit]
        return out

    def volatile_rows(self) -> list[OutboxRow]:
        """The undelivered volatile messages, in seq order."""
        with self._lock:
            return list(self._volatile.values())

    def __len__(self) -> int:
        with self._lock:
            return max(0, self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] - len(self._acked)) + \
                len(self._volatile)

    def has_event(self, event_id: str) -> bool:
        """True while some message of this event waits for the broker."""
        with self._lock:
            if any(r.event_id == event_id for r in self._volatile.values()):
                return True
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
        """Delete the acknowledged rows (a failure only means they are sent again after the restart), close.

        Undelivered volatile messages are lost here, by design (the next update or the end supersedes them)."""
        with self._lock:
            if self._volatile:
                log.info("outbox %s: %d undelivered cramp-update messages (memory only) are not kept", self.path,
                         len(self._volatile))
                self._volatile.clear()
            try:
                self.flush_acks(force=True)
            except StoreError as exc:
                log.warning("%s; the acknowledged rows are sent once more after the restart", exc)
            self._db.close()

    def __enter__(self) -> "Outbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
