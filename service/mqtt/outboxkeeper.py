"""The outbox's keeper: an event that cannot be written to disk is published all the same.

:class:`OutboxKeeper` offers the bridge what :class:`~service.mqtt.outbox.Outbox`
does (``put_many``, ``pending``, ``ack_many``, ``len``, drop listeners) and
keeps working when the file does not:

* **damaged** at start (the Outbox itself sets the file aside) or in mid-run
  (a torn page found by a write or a read): the rows that can still be read
  are kept in memory, the file is renamed to ``outbox.sqlite3.corrupt-<UTC>``
  (never deleted) and a fresh outbox continues the numbering;
* **unwritable** (disk full, read-only, locked, I/O error): the event's
  messages are held in memory with the sequence numbers they are published
  with, at most :data:`HOLD_MAX_EVENTS` events (beyond it the oldest of the
  lowest priority go, counted and announced like any outbox drop).  The disk
  is tried again every 30 to 60 s; when it works, the held rows that are
  still undelivered are written to the file with the same numbers, so a
  PUBACK that arrives later still finds them.  An acknowledgement that cannot
  be deleted from the file is remembered, and the row is not sent again.

Volatile messages (cramp updates, ``put_many(..., volatile=True)``; see
:mod:`service.mqtt.outbox`) never need the disk: they are queued in the
outbox's memory while it is open, failing disk or not, and in the keeper's
own memory while no outbox is open (moved to the outbox, still in memory
only, once one is); they are never written to a file and never count as
lost when the process stops.

What is held in memory is lost if the process dies before the disk is back;
that is the price of publishing at all.  The fault is logged when it starts
and when it is over (:mod:`service.storagefault`), and shown in the state
(``storage.outbox``).  No method raises on a storage failure.  Thread-safe.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from firmware.errors import StoreError
from service import storagefault as sf
from service.mqtt.messages import PRIORITY_NORMAL, Message
from service.mqtt.outbox import FILENAME, Dropped, Outbox, OutboxRow

log = logging.getLogger(__name__)

HOLD_MAX_EVENTS = 1000
"""Events kept in memory while the outbox file fails (a night has a few dozen; beyond it the oldest of the
lowest priority are dropped, counted)."""

CHECK_EVERY_S = 600.0
"""How often a fresh connection reads the whole outbox file (``PRAGMA quick_check``): the running
connection's page cache hides a page the card has since damaged, until a write needs it.  The file is a
few pages, so the check costs a few milliseconds."""

_ERRORS = (StoreError, sqlite3.Error, OSError)


def file_problem(path: Path) -> str | None:
    """A damaged outbox file, read through a fresh read-only connection; None when sound or unreadable."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        first = db.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        return None if isinstance(exc, sqlite3.OperationalError) else str(exc)
    finally:
        db.close()
    return None if first == "ok" else f"database disk image is malformed ({' '.join(str(first).split())})"


class OutboxKeeper:
    """The outbox in ``path`` (a state directory or a ``.sqlite3`` file), with an in-memory hold behind it.

    ``clock`` gives monotonic seconds for the retry back-off.  Call
    :meth:`maintain` often (the bridge's pump does): it retries the disk.
    """

    def __init__(self, path: str | Path, max_events: int = 10000, clock: Callable[[], float] = time.monotonic,
                 hold_max: int = HOLD_MAX_EVENTS):
        path = Path(path)
        if path.suffix not in (".sqlite3", ".sqlite", ".db"):
            path = path / FILENAME
        self.path = path
        self.max_events = max_events
        self.hold_max = hold_max
        self.fault = sf.FaultTracker("outbox", path, clock)
        self.lost = 0  # messages dropped from the memory hold
        self.set_aside: list[Path] = []
        self._lock = threading.RLock()
        self._listeners: list[Callable[[Dropped, int], None]] = []
        self._box: Outbox | None = None
        self._mem: OrderedDict[int, OutboxRow] = OrderedDict()  # seq -> row held in memory
        self._acked: set[int] = set()  # seqs in the file the broker acknowledged but that could not be deleted
        self._next = 0  # the largest seq given out
        self._clock = clock
        self._checked_at = clock()
        with self._lock:
            self._open()

    # ------------------------------------------------------------ the file

    def _open(self) -> bool:
        before = set(sf.set_aside_files(self.path))
        try:
            box = Outbox(self.path, self.max_events, clock=self._clock)
        except _ERRORS as exc:
            self.fault.failed(exc)
            return False
        self.set_aside += sorted(set(sf.set_aside_files(self.path)) - before)
        try:
            box.reserve_seq(self._next)
            self._next = max(self._next, box.max_seq())
        except _ERRORS as exc:
            self._box = box  # readable, perhaps: what it holds is still sent; new rows wait in memory
            box.add_drop_listener(self._forward_drop)
            self.fault.failed(exc)
            return True
        box.add_drop_listener(self._forward_drop)
        self._box = box
        return True

    def _damaged(self, exc: BaseException) -> None:
        """A write or read found the file damaged: keep its readable rows in memory, set it aside, start afresh."""
        old, self._box = self._box, None
        if old is not None:
            try:
                for row in old.pending(limit=self.max_events * 2):
                    if row.seq not in self._acked:
                        self._mem.setdefault(row.seq, row)
            except _ERRORS:
                pass
            try:
                old.close()
            except _ERRORS:
                pass
        self._mem = OrderedDict(sorted(self._mem.items()))
        self._acked.clear()
        try:
            aside = sf.set_aside(self.path)
        except OSError as err:
            self.fault.failed(f"{exc}; and it cannot be set aside: {sf.describe(err)}")
            return
        self.set_aside.append(aside)
        log.error("outbox %s is damaged (%s): kept as %s, %d undelivered messages saved from it; "
                  "starting a fresh outbox", self.path, exc, aside, len(self._mem))
        if self._open():
            self._migrate()

    def _failed(self, exc: BaseException) -> None:
        if sf.classify(exc) == sf.DAMAGED:
            self._damaged(exc)
        else:
            self.fault.failed(exc)

    def _holding(self) -> bool:
        """Durable rows wait in memory for the disk (volatile ones wait for no disk)."""
        return any(not r.volatile for r in self._mem.values())

    def _usable(self) -> bool:
        """The file may be written now: open, not failing (or its retry is due, in which case try it)."""
        if self._box is not None and not self.fault.failing and not self._mem and not self._acked:
            return True
        self._retry()
        return self._box is not None and not self.fault.failing and not self._holding()

    def _retry(self) -> None:
        if not self.fault.retry_due():
            return
        if self._box is None and not self._open():
            return
        self._migrate()

    def _migrate(self) -> None:
        """Write the held rows (same seqs) and delete the acknowledged ones; stop at the first failure."""
        box = self._box
        if box is None:
            return
        try:
            if self._acked:
                box.ack_many(sorted(self._acked))
                self._acked.clear()
            box.advance_seq(self._next)
            by_event: OrderedDict[object, list[OutboxRow]] = OrderedDict()
            for row in self._mem.values():
                key = row.event_id if row.event_id is not None else ("seq", row.seq)
                by_event.setdefault((row.volatile, key), []).append(row)
            for rows in by_event.values():  # volatile ones go to the outbox's memory, not to the file
                box.put_many([r.message for r in rows], rows[0].event_id, rows[0].priority, rows[0].created,
                             seqs=[r.seq for r in rows], volatile=rows[0].volatile)
                for r in rows:
                    del self._mem[r.seq]
            self.fault.worked()
        except _ERRORS as exc:
            self._failed(exc)

    # ------------------------------------------------------------ what the bridge calls

    def add_drop_listener(self, listener: Callable[[Dropped, int], None]) -> None:
        self._listeners.append(listener)

    def _forward_drop(self, dropped: Dropped, total: int) -> None:
        for listener in self._listeners:
            try:
                listener(dropped, total + self.lost)
            except Exception:
                log.exception("outbox drop listener failed")

    def put_many(self, messages: Iterable[Message], event_id: str | None = None, priority: int = PRIORITY_NORMAL,
                 created: str | None = None, volatile: bool = False) -> list[int]:
        """Commit one event's messages to the file, or hold them in memory; their seqs either way.

        ``volatile`` (a cramp update): queued in memory only, never written, whatever the disk's state."""
        messages = list(messages)
        created = created or datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        with self._lock:
            if volatile:
                seqs = list(range(self._next + 1, self._next + 1 + len(messages)))
                self._next += len(messages)
                if self._box is not None:
                    try:
                        return self._box.put_many(messages, event_id, priority, created, seqs=seqs, volatile=True)
                    except _ERRORS as exc:  # not from the disk (the outbox logs those); keep it here
                        log.warning("outbox: %s; the cramp update waits in the keeper's memory", exc)
                for seq, m in zip(seqs, messages):
                    self._mem[seq] = OutboxRow(seq, m, event_id, int(priority), created, volatile=True)
                drops = self._bound(protect=set(seqs))
                for d in drops:
                    self._forward_drop(d, 0)
                return seqs
            if self._usable():
                try:
                    self._box.advance_seq(self._next)
                    seqs = self._box.put_many(messages, event_id, priority, created)
                    self._next = max([self._next, *seqs])
                    self.fault.worked()
                    return seqs
                except _ERRORS as exc:
                    self._failed(exc)
                    if self._usable():  # a damaged file replaced by a fresh one
                        try:
                            self._box.advance_seq(self._next)
                            seqs = self._box.put_many(messages, event_id, priority, created)
                            self._next = max([self._next, *seqs])
                            return seqs
                        except _ERRORS as exc2:
                            self._failed(exc2)
            seqs = []
            for m in messages:
                self._next += 1
                self._mem[self._next] = OutboxRow(self._next, m, event_id, int(priority), created)
                seqs.append(self._next)
            drops = self._bound(protect=set(seqs))
        for d in drops:
            log.warning("outbox memory hold full (%d events): dropped undelivered %s (event %s, queued %s)",
                        self.hold_max, d.topic, d.event_id, d.created)
            self._forward_drop(d, 0)
        return seqs

    def _bound(self, protect: set[int]) -> list[Dropped]:
        events: OrderedDict[object, list[OutboxRow]] = OrderedDict()
        for row in self._mem.values():
            events.setdefault(row.event_id if row.event_id is not None else ("seq", row.seq), []).append(row)
        drops: list[Dropped] = []
        while len(events) > self.hold_max:
            candidates = [(rows[0].priority, rows[0].seq, key) for key, rows in events.items()
                          if not any(r.seq in protect for r in rows)]
            if not candidates:
                break
            _, _, key = min(candidates)
            for r in events.pop(key):
                del self._mem[r.seq]
                self.lost += 1
                drops.append(Dropped(r.seq, r.message.topic, r.event_id, r.priority, r.created))
        return drops

    def ack_many(self, seqs: Iterable[int]) -> list[str]:
        """The broker acknowledged ``seqs``; the event ids now fully delivered, in order."""
        seqs = list(seqs)
        if not seqs:
            return []
        done: list[str] = []
        with self._lock:
            mem = [s for s in seqs if s in self._mem]
            disk = [s for s in seqs if s not in self._mem]
            vol = [s for s in disk if self._box is not None and self._box.is_volatile(s)]
            if vol:  # in the outbox's memory: acknowledged without the disk
                done += self._box.ack_many(vol)
                disk = [s for s in disk if s not in set(vol)]
            for s in mem:
                row = self._mem.pop(s)
                eid = row.event_id
                if eid is not None and eid not in done and not any(r.event_id == eid for r in self._mem.values()):
                    done.append(eid)
            if disk and self._box is not None:
                if self._acked or self.fault.failing:
                    done += self._ack_unwritten(disk)
                else:
                    try:
                        done += self._box.ack_many(disk)
                    except _ERRORS as exc:
                        self._failed(exc)
                        done += self._ack_unwritten(disk)
        return done

    def _ack_unwritten(self, seqs: list[int]) -> list[str]:
        """Remember acknowledgements the file cannot take now; the events they complete."""
        self._acked.update(seqs)
        try:
            owners = self._box.events_of(seqs) if self._box is not None else {}
        except _ERRORS:
            return []
        return [eid for eid, all_seqs in owners.items() if all(s in self._acked for s in all_seqs)]

    def pending(self, limit: int = 100, after_seq: int = 0) -> list[OutboxRow]:
        """Undelivered messages, file and memory together, in seq order."""
        with self._lock:
            rows: list[OutboxRow] = []
            if self._box is not None:
                try:
                    rows = [r for r in self._box.pending(limit + len(self._acked), after_seq)
                            if r.seq not in self._acked]
                except _ERRORS as exc:
                    self._failed(exc)
                    rows = []
            rows += [r for s, r in self._mem.items() if s > after_seq]
        rows.sort(key=lambda r: r.seq)
        return rows[:limit]

    def __len__(self) -> int:
        with self._lock:
            n = len(self._mem)
            if self._box is not None:
                try:
                    n += max(0, len(self._box) - len(self._acked))
                except _ERRORS as exc:
                    self._failed(exc)
            return n

    def has_event(self, event_id: str) -> bool:
        with self._lock:
            if any(r.event_id == event_id for r in self._mem.values()):
                return True
            try:
                return self._box is not None and self._box.has_event(event_id)
            except _ERRORS:
                return False

    @property
    def dropped_total(self) -> int:
        with self._lock:
            try:
                disk = self._box.dropped_total if self._box is not None else 0
            except _ERRORS:
                disk = 0
            return disk + self.lost

    def dropped(self, limit: int = 100) -> list[Dropped]:
        with self._lock:
            try:
                return self._box.dropped(limit) if self._box is not None else []
            except _ERRORS:
                return []

    def maintain(self) -> bool:
        """Retry the disk when due and settle the fault report; True when the fault state changed."""
        with self._lock:
            was = (self.fault.in_fault, self.lost, len(self.set_aside))
            if self._box is None or self._holding() or self._acked or self.fault.failing:
                self._retry()
            else:
                try:
                    self._box.flush_acks()  # acknowledged rows: deleted with the next put, or now when that is late
                except _ERRORS as exc:
                    self._failed(exc)
                if self._box is not None and not self.fault.failing and \
                        self._clock() - self._checked_at >= CHECK_EVERY_S:
                    self._checked_at = self._clock()
                    problem = file_problem(self.path)
                    if problem is not None:
                        self._damaged(sqlite3.DatabaseError(problem))
            self.fault.settle()
            return (self.fault.in_fault, self.lost, len(self.set_aside)) != was

    def status(self) -> sf.FaultStatus:
        with self._lock:
            return sf.FaultStatus("fault" if self.fault.in_fault else "ok",
                                  self.fault.reason if self.fault.in_fault else None,
                                  len(self._mem), self.lost, len(self.set_aside))

    def close(self) -> None:
        """One last try to keep the held rows for the next start; then close.  Never raises."""
        with self._lock:
            if self._mem or self._acked:
                self.fault._retry_at = 0.0
                self._retry()
            for seq in [s for s, r in self._mem.items() if r.volatile]:
                del self._mem[seq]  # cramp updates: lost at a stop by design, not counted
            if self._mem:
                log.error("outbox %s: %d undelivered messages held in memory could not be written and are "
                          "lost at this stop", self.path, len(self._mem))
                self.lost += len(self._mem)
                self._mem.clear()
            box, self._box = self._box, None
            if box is not None:
                try:
                    box.close()
                except _ERRORS:
                    pass

    def __enter__(self) -> "OutboxKeeper":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
