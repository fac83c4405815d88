"""The night record's keeper: the core writes through it, and a broken disk never stops an alert.

:class:`RecordKeeper` opens :class:`~service.night.store.NightStore` and
offers the methods the core and the daemon call on it.  When the record
cannot be used it keeps going:

* **damaged** at start or in mid-run (not a database, a torn page, a
  ``user_version`` from a newer nightcramp): the file is set aside as
  ``night.sqlite3.corrupt-<UTC time>`` (kept, never deleted; ``nightcramp log
  --record FILE`` reads it) and a fresh record is started, with this run's
  session and whatever was waiting;
* **unwritable** (disk full, read-only, permission, locked, I/O error): every
  write is held in memory, in order, up to :data:`HOLD_MAX` items (beyond it
  the oldest go, counted in :attr:`lost`), and the disk is tried again every
  30 to 60 s (:mod:`service.storagefault`); when it works, the hold is written
  in order and the record is whole again, short of what was lost.

The fault is logged when it starts and when it is over (after the disk has
worked for two minutes: a flapping, nearly full disk is one fault), shown in
the retained state (``storage.record``) and Home Assistant's "Storage"
problem entity.  No method raises on a storage failure except the reads the
morning log needs (``night``), which raise StoreError.  Thread-safe.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from firmware.clock import Clock, SystemClock
from firmware.errors import StoreError
from service import storagefault as sf
from service.night.store import DB_NAME, NightStore
from service.pipeline.nightwindow import NightWindow

log = logging.getLogger(__name__)

HOLD_MAX = 20000
"""Writes kept in memory while the disk fails: a night is about 600 minute rows and 600 room readings a
leg plus a few dozen events, so this is several nights; beyond it the oldest are dropped (counted)."""
BUSY_TIMEOUT_S = 2.0  # a record locked by another process holds an alert back at most this long per attempt

_ERRORS = (StoreError, sqlite3.Error, OSError)


class RecordKeeper:
    """A :class:`NightStore` in the state directory ``path`` that never fails its caller on a write.

    ``path`` and the keyword arguments are :class:`NightStore`'s.  Call
    :meth:`start_session` once, :meth:`maintain` often (the core's periodic
    pass: it retries and settles the fault report), :meth:`close` at the end.
    """

    def __init__(self, path, window: NightWindow | None = None, flush_interval_s: float = 30.0,
                 clock: Clock | None = None, hold_max: int = HOLD_MAX):
        path = Path(path)
        if path.is_dir() or not path.suffix:
            path = path / DB_NAME
        self.path = path
        self.window = window
        self.flush_interval_s = flush_interval_s
        self.clock = clock or SystemClock()
        self.hold_max = hold_max
        self.lost = 0  # held writes dropped beyond the bound
        self.set_aside: list[Path] = []  # damaged files renamed in this run
        self.fault = sf.FaultTracker("night record", path, self.clock.monotonic)
        self._hold: deque[tuple[str, tuple, dict]] = deque()
        self._lock = threading.RLock()
        self._session: tuple[datetime, float] | None = None
        self._store: NightStore | None = None
        self._lost_logged = False
        with self._lock:
            self._open()

    # ------------------------------------------------------------ opening

    def _open(self) -> bool:
        """Open the record (setting a damaged one aside); False, with the fault noted, when it cannot be."""
        for attempt in range(2):
            try:
                store = NightStore(self.path, window=self.window, flush_interval_s=self.flush_interval_s,
                                   clock=self.clock, timeout_s=BUSY_TIMEOUT_S)
            except _ERRORS as exc:
                if sf.classify(exc) == sf.DAMAGED and attempt == 0 and self._set_aside(exc):
                    continue
                self.fault.failed(exc)
                return False
            problem = store.integrity_problem()
            if problem is not None:
                store_close_quietly(store)
                if attempt == 0 and self._set_aside(problem):
                    continue
                self.fault.failed(problem)
                return False
            self._store = store
            if self.window is None:
                self.window = store.window
            return True
        return False

    def _set_aside(self, exc: BaseException | str) -> bool:
        """Rename the damaged file out of the way; False (fault noted) when the directory refuses."""
        try:
            aside = sf.set_aside(self.path, datetime.now(timezone.utc))
        except OSError as err:
            self.fault.failed(f"{exc}; and it cannot be set aside: {sf.describe(err)}")
            return False
        self.set_aside.append(aside)
        newer = "newer than this nightcramp" in str(exc)
        log.error("night record %s is %s (%s): kept as %s, starting a fresh record; its nights stay readable "
                  "with: nightcramp log --record %s", self.path, "from a newer nightcramp" if newer else "damaged",
                  exc, aside, aside)
        return True

    def _reopen_after_damage(self, exc: BaseException) -> list[tuple[str, tuple, dict]]:
        """A write found the open file damaged: set it aside and start afresh; returns the rows it had pending."""
        old, self._store = self._store, None
        carried = []
        if old is not None:
            carried = [("queue_row", row, {}) for row in old.take_pending()]
            store_close_quietly(old)
        if self._set_aside(exc) and self._open():
            return [*self._session_item(), *carried]
        return carried

    def _session_item(self) -> list[tuple[str, tuple, dict]]:
        """This run's session start, for a store opened after the start (a fresh file, or the disk back)."""
        self._hold = deque(item for item in self._hold if item[0] != "start_session")
        if self._session is None:
            return []
        at, t_mono = self._session
        return [("start_session", (), {"at": at, "t_mono": t_mono})]

    # ------------------------------------------------------------ the write path

    def _write(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Do one write on the store, or hold it (in order) when the store cannot take it now."""
        with self._lock:
            if self._hold or self._store is None or self.fault.failing:
                self._push(name, args, kwargs)
                self._drain()
                return
            self._try(name, args, kwargs)

    def _try(self, name: str, args: tuple, kwargs: dict) -> bool:
        """One write on the open store; on failure it (and the store's batched rows) goes back to the hold."""
        carried: list[tuple[str, tuple, dict]] = []
        for attempt in range(2):
            store = self._store
            try:
                while carried:
                    n, a, k = carried[0]
                    getattr(store, n)(*a, **k)
                    carried.pop(0)
                getattr(store, name)(*args, **kwargs)
                self.fault.worked()
                return True
            except _ERRORS as exc:
                if sf.classify(exc) == sf.DAMAGED and attempt == 0:
                    carried += self._reopen_after_damage(exc)
                    if self._store is not None:
                        continue
                self._hold_failed(name, args, kwargs, exc, carried)
                return False
        return False

    def _hold_failed(self, name: str, args: tuple, kwargs: dict, exc: BaseException,
                     carried: list | None = None) -> None:
        """The store refused: its batched rows and this write go to the front of the hold, in order."""
        taken = [("queue_row", row, {}) for row in self._store.take_pending()] if self._store is not None else []
        taken = [*taken, *(carried or [])]
        # A clock step's shift is held before the rows it already shifted (see NightStore.relabel_wall).
        items = [(name, args, kwargs), *taken] if name == "relabel_wall" else [*taken, (name, args, kwargs)]
        if name in ("flush", "flush_if_due"):
            items = taken
        self._hold.extendleft(reversed(items))
        self._bound()
        self.fault.failed(exc)

    def _push(self, name: str, args: tuple, kwargs: dict) -> None:
        if name not in ("flush", "flush_if_due"):
            self._hold.append((name, args, kwargs))
            self._bound()

    def _bound(self) -> None:
        while len(self._hold) > self.hold_max:
            self._hold.popleft()
            self.lost += 1
            if not self._lost_logged:
                self._lost_logged = True
                log.error("night record %s: %d writes held in memory, the most it keeps: dropping the oldest "
                          "(counted in the state's storage.record.lost)", self.path, self.hold_max)

    def _drain(self) -> None:
        """When a retry is due: open the store if needed and write the hold, in order, until one fails."""
        if not self.fault.retry_due():
            return
        if self._store is None:
            if not self._open():
                return
            self._hold.extendleft(reversed(self._session_item()))
        while self._hold:
            name, args, kwargs = self._hold.popleft()
            if not self._try(name, args, kwargs):
                return
        self._try("flush", (), {})

    # ------------------------------------------------------------ what the core and daemon call

    def start_session(self, at: datetime | None = None, t_mono: float | None = None) -> None:
        at = at or self.clock.wall()
        t_mono = self.clock.monotonic() if t_mono is None else t_mono
        with self._lock:
            self._session = (at, t_mono)
            self._write("start_session", at=at, t_mono=t_mono)

    def record_event(self, stamped) -> None:
        self._write("record_event", stamped)

    def add_minute(self, start: datetime, summary) -> None:
        self._write("add_minute", start, summary)

    def add_temperature(self, at: datetime, temp_c: float) -> None:
        self._write("add_temperature", at, temp_c)

    def add_gap(self, leg, start: datetime, duration_s: float, reason: str) -> None:
        self._write("add_gap", leg, start, duration_s, reason)

    def mark_delivered(self, event_id: str, at: datetime | None = None) -> None:
        self._write("mark_delivered", event_id, at or self.clock.wall())

    def relabel_wall(self, delta_s: float) -> None:
        self._write("relabel_wall", delta_s)

    def save_night_summary(self, night_date: date, values: dict) -> None:
        self._write("save_night_summary", night_date, values)

    def flush(self) -> int:
        """Write the batched rows that are due (:meth:`NightStore.flush_due`: the oldest waited
        ``flush_interval_s``), or retry the hold when due; never raises.  Reads (:meth:`night`) and
        :meth:`close` write the whole batch."""
        with self._lock:
            if self._hold or self._store is None or self.fault.failing:
                self._drain()
            else:
                self._try("flush_if_due", (), {})
        return 0

    def maintain(self) -> bool:
        """The periodic pass: the batch when due, retry when due, report a settled recovery.  True when the
        fault state changed."""
        with self._lock:
            was = (self.fault.in_fault, self.lost, len(self.set_aside))
            if self._hold or self._store is None or self.fault.failing:
                self._drain()
            else:
                self._try("flush_if_due", (), {})
            self.fault.settle()
            return (self.fault.in_fault, self.lost, len(self.set_aside)) != was

    def enforce_retention(self, today: date, retention_days: int = 365, detail_retention_days: int = 14) -> dict:
        """Retention on a healthy record only (it deletes; nothing to do while the disk fails)."""
        with self._lock:
            if self._hold or self._store is None or self.fault.failing:
                return {}
            try:
                return self._store.enforce_retention(today, retention_days, detail_retention_days)
            except _ERRORS as exc:
                self._hold_failed("flush", (), {}, exc)
                return {}

    def night(self, night_date: date):
        """One night as recorded (the hold written first when the disk allows); StoreError when unreadable."""
        with self._lock:
            if self._hold or self._store is None or self.fault.failing:
                self._drain()
            if self._store is None:
                raise StoreError(f"the night record {self.path} is not available ({self.fault.reason})")
            try:
                return self._store.night(night_date)
            except sqlite3.DatabaseError as exc:
                if sf.classify(exc) == sf.DAMAGED:
                    self._reopen_after_damage(exc)
                raise StoreError(f"cannot read the night record {self.path}: {exc}") from None

    def last_recorded(self):
        with self._lock:
            if self._store is None:
                return None
            try:
                return self._store.last_recorded()
            except _ERRORS:
                return None

    def close(self, reason: str = "stopped") -> None:
        """Write what can be written, record the stop, close; never raises (a lost hold is logged)."""
        with self._lock:
            if self._hold and self._store is not None:
                self.fault._retry_at = 0.0  # a last try, whatever the back-off says
                self._drain()
            if self._hold:
                log.error("night record %s: %d writes could not reach the disk and are lost at this stop",
                          self.path, len(self._hold))
                self.lost += len(self._hold)
                self._hold.clear()
            store, self._store = self._store, None
            if store is not None:
                try:
                    store.close(reason)
                except _ERRORS as exc:
                    log.error("night record %s: the clean stop could not be recorded: %s", self.path, exc)
                    store_close_quietly(store)

    # ------------------------------------------------------------ status

    def status(self) -> sf.FaultStatus:
        """For the state message: ``fault`` from the first failure until the recovery has settled."""
        with self._lock:
            return sf.FaultStatus("fault" if self.fault.in_fault else "ok",
                                  self.fault.reason if self.fault.in_fault else None,
                                  len(self._hold), self.lost, len(self.set_aside))

    def __enter__(self) -> "RecordKeeper":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def store_close_quietly(store: NightStore) -> None:
    """Close a store's connection without recording anything (it failed; do not write to it again)."""
    db = getattr(store, "_db", None)
    if db is not None:
        try:
            db.close()
        except sqlite3.Error:
            pass
        store._db = None
