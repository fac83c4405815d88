"""The night record: one SQLite file (WAL) in the state directory.

What it keeps, and how it writes it:

* **Episodes** and the events that matter on their own (an alert's
  ``cramp_start``, ``cramp_end``, acknowledgements, false-alarm and
  missed-cramp reports, sensor faults, ...: everything but
  :data:`BATCHED_EVENTS`) are committed at once, each in its own fsynced
  transaction: a SIGKILL or a power cut never loses an episode, its end or an
  answer to it.
* **In-episode detail** (:data:`BATCHED_EVENTS`: the ``cramp_update`` every 15
  s with the duration and intensity so far, the warm-compress and stretch
  prompts), **per-minute movement** rows, **room temperatures**, sensor
  **gaps** and delivery marks are batched in memory and written together every
  ``flush_interval_s`` (and with any commit at once, in the order they came):
  an SD card wears by the commit, and a crash loses at most that last batch
  (for an episode still open: the duration and prompts of the last interval;
  the start is on disk, and the next start closes it as interrupted).
* **Sessions** (service start, clean stop) let the morning log show when the
  service was not running: a session without a stop ended in a crash or a
  power cut, and the gap runs from the last thing it wrote to the next start.

Times are stored as POSIX seconds (UTC) for the instants and as monotonic
seconds (``*_mono``) where durations are computed: a duration is always a
difference of monotonic times, never of wall labels, so a clock step cannot
make an episode negative or hours long.  When the wall clock steps
(:class:`service.pipeline.timebase.TimeBase`), :meth:`NightStore.relabel_wall` shifts the
labels written earlier in the same session, which were made on the wrong clock.

``PRAGMA synchronous=FULL`` makes every commit durable (the WAL is fsynced); the
page size is 512 bytes (:data:`PAGE_SIZE`; 1 KiB for records made before
2026-12-02, which keep it) because each commit appends whole pages to the WAL
and a batch touches only two or three (see docs/morning-log.md for the bytes
per night).  Schema changes bump :data:`SCHEMA_VERSION` (``PRAGMA user_version``).

Queries return the plain values of :mod:`service.night.models`; nothing above
this module sees SQLite.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from firmware.clock import Clock, SystemClock
from firmware.errors import StoreError
from service import events as ev
from service.night.models import Episode, Minute, NightRecord, Span, summarize_detail
from service.pipeline.nightwindow import NightWindow

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DB_NAME = "night.sqlite3"
PAGE_SIZE = 512
FALSE_ALARM_WINDOW_S = 3600.0  # a false-alarm report without an episode id applies to an alert this recent
BATCHED_EVENTS = frozenset({ev.CRAMP_UPDATE, ev.WARM_COMPRESS, ev.STRETCH_PROMPT})
"""Events written with the next batch instead of in a commit of their own: an episode's running detail (its
duration and intensity so far, the prompts sent).  A bad night has a dozen of them per alarm, and each commit
costs a WAL append and an fsync (docs/morning-log.md, "Bytes written per night").  Every other event, the
alert itself included, is committed before :meth:`NightStore.record_event` returns."""
_UTC = timezone.utc

_SCHEMA = """
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    started_utc REAL NOT NULL,
    started_mono REAL NOT NULL,
    pid INTEGER,
    stopped_utc REAL,           -- NULL: still running, or it crashed
    stop_reason TEXT,
    last_seen_utc REAL          -- last thing written, filled when the next session starts
);
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    session INTEGER NOT NULL,
    type TEXT NOT NULL,
    leg TEXT,
    episode_id TEXT,
    t_mono REAL NOT NULL,
    wall_utc REAL NOT NULL,
    wall_iso TEXT NOT NULL,     -- the label as published
    fields TEXT NOT NULL,       -- JSON
    delivered_utc REAL          -- NULL: not (yet) delivered to the broker
);
CREATE INDEX events_wall ON events (wall_utc);
CREATE TABLE episodes (
    id TEXT PRIMARY KEY,
    session INTEGER NOT NULL,
    leg TEXT NOT NULL,
    night TEXT NOT NULL,        -- YYYY-MM-DD, the date the night started
    onset_mono REAL NOT NULL,
    onset_utc REAL NOT NULL,
    alert_mono REAL NOT NULL,
    alert_utc REAL NOT NULL,
    end_mono REAL,
    end_utc REAL,
    duration_s REAL NOT NULL DEFAULT 0,   -- onset to end (or to the latest update), monotonic
    intensity REAL,
    peak_intensity REAL,
    room_temp_c REAL,
    prompts TEXT NOT NULL DEFAULT '',     -- comma-separated prompt types, in order
    acknowledged_utc REAL,
    ack_after_s REAL,           -- alert to acknowledgement, monotonic
    false_alarm INTEGER NOT NULL DEFAULT 0,
    snoozed INTEGER NOT NULL DEFAULT 0,
    interrupted INTEGER NOT NULL DEFAULT 0  -- the service stopped before the episode ended
);
CREATE INDEX episodes_night ON episodes (night);
CREATE TABLE minutes (          -- append-only, no index: one page per batch
    minute_utc REAL NOT NULL,
    session INTEGER NOT NULL,
    leg TEXT NOT NULL,
    activity_mg REAL NOT NULL,
    moving_fraction REAL NOT NULL,
    posture_changes INTEGER NOT NULL,
    seconds_covered INTEGER NOT NULL
);
CREATE TABLE temperatures (
    utc REAL NOT NULL,
    session INTEGER NOT NULL,
    temp_c REAL NOT NULL
);
CREATE TABLE faults (
    id INTEGER PRIMARY KEY,
    session INTEGER NOT NULL,
    leg TEXT,
    start_utc REAL NOT NULL,
    end_utc REAL,               -- NULL: not recovered (yet)
    reason TEXT
);
CREATE TABLE gaps (
    id INTEGER PRIMARY KEY,
    session INTEGER NOT NULL,
    leg TEXT,
    start_utc REAL NOT NULL,
    duration_s REAL NOT NULL,   -- monotonic
    reason TEXT
);
CREATE TABLE night_summaries (  -- kept for the whole retention once the per-minute detail is gone
    night TEXT PRIMARY KEY,
    temp_min REAL, temp_mean REAL, temp_max REAL,
    activity_mean_mg REAL,
    moving_fraction REAL,
    posture_changes INTEGER,
    minutes_covered INTEGER,
    restless_fraction REAL,
    rest_hours REAL
);
"""

# Tables with a session column whose wall labels a clock step shifts, and their label columns.
_LABELS = {
    "sessions": ("started_utc",),
    "events": ("wall_utc",),
    "episodes": ("onset_utc", "alert_utc", "end_utc", "acknowledged_utc"),
    "minutes": ("minute_utc",),
    "temperatures": ("utc",),
    "faults": ("start_utc", "end_utc"),
    "gaps": ("start_utc",),
}


@dataclass
class _Pending:
    events: list[tuple] = field(default_factory=list)  # (StampedEvent, wall_utc) of BATCHED_EVENTS, in order
    minutes: list[tuple] = field(default_factory=list)
    temperatures: list[tuple] = field(default_factory=list)
    gaps: list[tuple] = field(default_factory=list)
    delivered: list[tuple] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.events) + len(self.minutes) + len(self.temperatures) + len(self.gaps) + len(self.delivered)


def connect_readonly(path: str | os.PathLike) -> sqlite3.Connection:
    """Open the record for reading only: never writes, never creates a file (not even ``-shm``).

    ``mode=ro`` reads the service's latest commits from the WAL; it needs the
    ``-shm`` file, which SQLite cannot create in a directory the reader may not
    write (another user, a read-only filesystem).  When that fails and there is
    no WAL content to miss (the service stopped cleanly and checkpointed), the
    file is opened ``immutable=1``, which reads the main file alone.  With WAL
    content and no way to read it, StoreError says what access is missing.
    """
    path = Path(path).resolve()
    uri = path.as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False, isolation_level=None, timeout=10.0)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError as exc:
        first = exc
    try:
        wal = path.with_name(path.name + "-wal").stat().st_size
    except FileNotFoundError:
        wal = 0
    except OSError as exc:
        raise StoreError(f"cannot read the night record {path}: {exc.strerror}") from None
    if wal:
        raise StoreError(f"cannot read the night record {path}: {first}; the service's latest writes are in "
                         f"{path.name}-wal, which needs read access to it and to {path.name}-shm (run as the "
                         "service user, or add yourself to its group)")
    db = sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False, isolation_level=None)
    db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    log.debug("night record %s opened immutable (%s)", path, first)
    return db


class NightStore:
    """The night record in ``path``: a file with a suffix, or a directory (made if missing) that gets :data:`DB_NAME`.

    Thread-safe: the sampling thread, the MQTT thread and the main loop may call
    it at once.  Call :meth:`start_session` before recording, :meth:`close` at the end.
    """

    def __init__(self, path: str | os.PathLike, window: NightWindow | None = None,
                 flush_interval_s: float = 30.0, clock: Clock | None = None, readonly: bool = False,
                 timeout_s: float = 10.0, salvage: bool = False):
        path = Path(path)
        if path.is_dir() or not path.suffix:  # the state directory (created if missing), or the file itself
            path = path / DB_NAME
        self.path = path
        self.window = window or _default_window()
        self.flush_interval_s = float(flush_interval_s)
        self.clock = clock or SystemClock()
        self.readonly = readonly
        # salvage (read-only use on a damaged file: ``log --record``): a table that cannot be read is left out
        # of the answers and named in ``unreadable``, instead of failing the whole read.
        self.salvage = salvage and readonly
        self.unreadable: set[str] = set()
        self.session: int | None = None
        self.commits = 0  # transactions committed (for the storage benchmark)
        self._pending = _Pending()
        self._batch_since: float | None = None  # monotonic time the oldest row of the batch was queued
        self._lock = threading.RLock()
        try:
            if readonly:
                self._db = connect_readonly(path)
                self._check_version()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                           timeout=timeout_s)
                self._setup()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the night record {path}: {exc}") from None
        except OSError as exc:
            raise StoreError(f"cannot create {path.parent}: {exc.strerror}") from None

    # ------------------------------------------------------------ set-up

    def _check_version(self) -> int:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {version}, newer than this nightcramp "
                             f"understands ({SCHEMA_VERSION}); upgrade nightcramp")
        return version

    def _setup(self) -> None:
        db = self._db
        version = self._check_version()
        if version == 0:
            db.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only takes effect before the first table
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            log.warning("night record %s: WAL not available (journal mode %s)", self.path, mode)
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = OFF")
        if version == 0:
            db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
            log.info("created night record %s (schema %d)", self.path, SCHEMA_VERSION)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error), counted in :attr:`commits`; SQLite errors as StoreError."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"night record {self.path}: {exc}") from None
        try:
            yield
            db.execute("COMMIT")
        except BaseException as exc:
            try:
                db.execute("ROLLBACK")
            except sqlite3.DatabaseError:
                pass
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(f"night record {self.path}: {exc}") from None
            raise
        self.commits += 1

    # ------------------------------------------------------------ sessions

    def start_session(self, at: datetime | None = None, t_mono: float | None = None) -> int:
        """Record a service start; close what a crashed previous session left open."""
        at = _aware(at or self.clock.wall())
        t_mono = self.clock.monotonic() if t_mono is None else t_mono
        with self._lock, self._transaction():
            db = self._db
            earlier = db.execute("SELECT id, stopped_utc FROM sessions WHERE last_seen_utc IS NULL AND id != ?",
                                 (self.session or -1,)).fetchall()
            for sid, stopped in earlier:
                last = self._last_seen(sid) if stopped is None else stopped
                last = last if last is not None else at.timestamp()
                db.execute("UPDATE sessions SET last_seen_utc = ? WHERE id = ?", (last, sid))
                if stopped is None:
                    log.warning("the previous run (session %d) did not stop cleanly: no record from %s to %s",
                                sid, _iso(last), at.isoformat(timespec="seconds"))
                self._close_interrupted(sid, last)
                # A fault still open when that run ended is over as far as this record knows:
                # the new run reports afresh whether the sensor works.
                db.execute("UPDATE faults SET end_utc = max(start_utc, ?) WHERE session = ? AND end_utc IS NULL",
                           (last, sid))
            cur = db.execute("INSERT INTO sessions (started_utc, started_mono, pid) VALUES (?, ?, ?)",
                             (at.timestamp(), t_mono, os.getpid()))
            self.session = cur.lastrowid
        return self.session

    def _last_seen(self, sid: int) -> float | None:
        row = self._db.execute(
            "SELECT max(x) FROM (SELECT max(wall_utc) AS x FROM events WHERE session = :s"
            " UNION ALL SELECT max(minute_utc) + 60 FROM minutes WHERE session = :s"
            " UNION ALL SELECT max(utc) FROM temperatures WHERE session = :s"
            " UNION ALL SELECT max(start_utc + duration_s) FROM gaps WHERE session = :s"
            " UNION ALL SELECT started_utc FROM sessions WHERE id = :s)", {"s": sid}).fetchone()
        return row[0]

    def last_recorded(self) -> datetime | None:
        """The latest instant anything in this record covers (None: empty); a new run must start after it."""
        with self._lock:
            self.flush()
            row = self._db.execute(
                "SELECT max(x) FROM (SELECT max(wall_utc) AS x FROM events"
                " UNION ALL SELECT max(minute_utc) + 60 FROM minutes"
                " UNION ALL SELECT max(utc) FROM temperatures"
                " UNION ALL SELECT max(start_utc + duration_s) FROM gaps"
                " UNION ALL SELECT max(max(started_utc, coalesce(stopped_utc, started_utc))) FROM sessions)").fetchone()
        return None if row[0] is None else _dt(row[0])

    def _close_interrupted(self, sid: int, last: float) -> None:
        rows = self._db.execute("SELECT id, onset_utc, duration_s FROM episodes WHERE session = ? AND end_utc IS NULL",
                                (sid,)).fetchall()
        for eid, onset, duration in rows:
            end = max(last, onset + duration)
            self._db.execute("UPDATE episodes SET end_utc = ?, duration_s = ?, interrupted = 1 WHERE id = ?",
                             (end, max(duration, end - onset), eid))
            log.warning("episode %s was still open when the service stopped; closed at %s", eid, _iso(end))

    def stop_session(self, reason: str = "stopped", at: datetime | None = None) -> None:
        """Record a clean stop (a crash leaves no stop: that is how the log tells them apart)."""
        if self.session is None:
            return
        at = _aware(at or self.clock.wall())
        with self._lock:
            self.flush()
            with self._transaction():
                self._db.execute("UPDATE sessions SET stopped_utc = ?, stop_reason = ? WHERE id = ?",
                                 (at.timestamp(), reason, self.session))
            self.session = None

    def close(self, reason: str = "stopped") -> None:
        """Flush, record a clean stop, checkpoint the WAL and close the file."""
        with self._lock:
            if self._db is None:
                return
            if self.readonly:
                self._db.close()
                self._db = None
                return
            self.stop_session(reason)
            self.flush()
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.DatabaseError:
                log.debug("checkpoint at close failed", exc_info=True)
            self._db.close()
            self._db = None

    def __enter__(self) -> "NightStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ events (committed at once, or batched)

    def record_event(self, stamped: ev.StampedEvent) -> None:
        """Store an event and apply it to its episode.

        Committed (fsynced) before returning, with the batch waiting before it; an event of
        :data:`BATCHED_EVENTS` (an episode's running detail) only joins the batch, written with the next
        flush or the next commit, whichever comes first (never out of order).
        """
        e = stamped.event
        wall = _parse_iso(stamped.wall_time)
        with self._lock:
            sid = self._need_session()
            if e.type in BATCHED_EVENTS:
                # Queued only: a flush failing here would hand the event back twice (the batch and the call).
                self._pending.events.append((stamped, wall.timestamp()))
                if self._batch_since is None:
                    self._batch_since = self.clock.monotonic()
                return
            with self._transaction():
                self._write_pending()
                self._insert_event(stamped, wall.timestamp(), sid)
            self._pending = _Pending()  # written in the same commit
            self._batch_since = None

    def _insert_event(self, stamped: ev.StampedEvent, ts: float, sid: int) -> None:
        """The event's row and what it changes on its episode (once: an event id already stored changes nothing)."""
        e = stamped.event
        cur = self._db.execute(
            "INSERT OR IGNORE INTO events (event_id, session, type, leg, episode_id, t_mono, wall_utc, wall_iso,"
            " fields) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (stamped.event_id, sid, e.type, e.leg, e.episode_id, e.t, ts, stamped.wall_time,
             json.dumps(dict(e.fields), default=str, sort_keys=True)))
        if cur.rowcount:
            self._apply(e, _dt(ts), sid)

    def _apply(self, e: ev.Event, wall: datetime, sid: int) -> None:
        f = e.fields
        db = self._db
        ts = wall.timestamp()
        if e.type == ev.CRAMP_START:
            onset_mono = float(f.get("onset", e.t))
            onset_mono = min(onset_mono, e.t)
            # Snoozed or disarmed (``alert`` false): recorded, but nobody was woken.
            silent = 1 if f.get("snoozed") or f.get("alert") is False else 0
            db.execute(
                "INSERT OR IGNORE INTO episodes (id, session, leg, night, onset_mono, onset_utc, alert_mono, alert_utc,"
                " duration_s, intensity, peak_intensity, room_temp_c, snoozed)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self._episode_id(e), sid, e.leg, self.window.night_of(wall).isoformat(), onset_mono,
                 ts - (e.t - onset_mono), e.t, ts, e.t - onset_mono, _num(f.get("intensity")),
                 _num(f.get("intensity")), _num(f.get("room_temp_c")), silent))
            return
        row = self._episode_row(e, ts)
        if row is None:
            if e.type in (ev.CRAMP_UPDATE, ev.CRAMP_END, ev.ACKNOWLEDGED, ev.FALSE_ALARM,
                          ev.WARM_COMPRESS, ev.STRETCH_PROMPT):
                log.debug("event %s for an unknown episode %s: kept in the event log only", e.type, e.episode_id)
            self._apply_other(e, ts, sid)
            return
        eid, onset_mono, alert_mono, session = row
        same_clock = session == sid  # monotonic times of another run are on another clock
        if e.type in (ev.CRAMP_UPDATE, ev.CRAMP_END):
            duration = _num(f.get("duration_s"))
            if duration is None and same_clock:
                duration = e.t - onset_mono
            sets = ["intensity = coalesce(?, intensity)",
                    "peak_intensity = max(coalesce(peak_intensity, 0), coalesce(?, 0))"]
            args: list[Any] = [_num(f.get("intensity")), _num(f.get("intensity"))]
            if duration is not None:
                sets.append("duration_s = ?")
                args.append(max(0.0, duration))
            if e.type == ev.CRAMP_END:
                sets += ["end_mono = ?", "end_utc = ?", "false_alarm = max(false_alarm, ?)", "snoozed = max(snoozed, ?)"]
                args += [e.t, ts, 1 if f.get("false_alarm") else 0, 1 if f.get("snoozed") else 0]
            db.execute(f"UPDATE episodes SET {', '.join(sets)} WHERE id = ?", (*args, eid))
        elif e.type in (ev.WARM_COMPRESS, ev.STRETCH_PROMPT):
            db.execute("UPDATE episodes SET prompts = CASE WHEN prompts = '' THEN ? ELSE prompts || ',' || ? END"
                       " WHERE id = ?", (e.type, e.type, eid))
        elif e.type == ev.ACKNOWLEDGED:
            after = max(0.0, e.t - alert_mono) if same_clock else None
            snoozed = 1 if f.get("snooze") or f.get("snoozed") else 0
            db.execute("UPDATE episodes SET acknowledged_utc = coalesce(acknowledged_utc, ?),"
                       " ack_after_s = coalesce(ack_after_s, ?), snoozed = max(snoozed, ?) WHERE id = ?",
                       (ts, after, snoozed, eid))
        elif e.type == ev.FALSE_ALARM:
            db.execute("UPDATE episodes SET false_alarm = 1 WHERE id = ?", (eid,))

    def _episode_id(self, e: ev.Event) -> str:
        return e.episode_id or f"{e.leg}-{e.t:.3f}"

    def _episode_row(self, e: ev.Event, ts: float):
        if e.episode_id:
            return self._db.execute("SELECT id, onset_mono, alert_mono, session FROM episodes WHERE id = ?",
                                    (e.episode_id,)).fetchone()
        # "That was not a cramp" naming no episode means the one just over; an acknowledgement
        # without an episode (nothing open) belongs to none.
        if e.type == ev.FALSE_ALARM:
            return self._db.execute("SELECT id, onset_mono, alert_mono, session FROM episodes WHERE leg = ?"
                                    " AND alert_utc > ? ORDER BY alert_utc DESC LIMIT 1",
                                    (e.leg, ts - FALSE_ALARM_WINDOW_S)).fetchone()
        return None

    def _apply_other(self, e: ev.Event, ts: float, sid: int) -> None:
        f = e.fields
        if e.type == ev.SENSOR_FAULT:
            self._db.execute("INSERT INTO faults (session, leg, start_utc, reason) VALUES (?, ?, ?, ?)",
                             (sid, e.leg, ts, str(f.get("reason", ""))))
        elif e.type == ev.SENSOR_RECOVERED:
            self._db.execute("UPDATE faults SET end_utc = ? WHERE id = (SELECT max(id) FROM faults WHERE leg = ?"
                             " AND end_utc IS NULL)", (ts, e.leg))

    # ------------------------------------------------------------ batched rows

    def add_minute(self, start: datetime, summary) -> None:
        """Queue one :class:`service.pipeline.movement.MinuteSummary`; ``start`` is its wall label."""
        row = (_aware(start).timestamp(), summary.leg, float(summary.activity_mg), float(summary.moving_fraction),
               int(summary.posture_changes), int(summary.seconds_covered))
        self._queue("minutes", row)

    def add_temperature(self, at: datetime, temp_c: float) -> None:
        """Queue one room-temperature reading (degrees Celsius)."""
        self._queue("temperatures", (_aware(at).timestamp(), float(temp_c)))

    def add_gap(self, leg: str | None, start: datetime, duration_s: float, reason: str) -> None:
        """Queue a span without samples; ``duration_s`` is monotonic (``Gap.t_end - Gap.t_start``)."""
        self._queue("gaps", (leg, _aware(start).timestamp(), max(0.0, float(duration_s)), reason))

    def mark_delivered(self, event_id: str, at: datetime | None = None) -> None:
        """Note that the broker acknowledged ``event_id`` (batched: losing it only shows it undelivered)."""
        self._queue("delivered", ((_aware(at) if at else self.clock.wall()).timestamp(), event_id))

    def _queue(self, kind: str, row: tuple) -> None:
        with self._lock:
            getattr(self._pending, kind).append(row)
            if self._batch_since is None:
                self._batch_since = self.clock.monotonic()
            self.flush_if_due()

    def flush_due(self) -> bool:
        """Whether the oldest row of the batch has waited ``flush_interval_s``.

        The batch is written then (by the next row queued or :meth:`flush_if_due`, which the keeper's periodic
        pass calls), not on a clock of its own: rows that come at different moments of the minute (the minute
        row, the room temperature) share one commit instead of one each, and none waits longer than the
        interval (plus the time to the next call).
        """
        with self._lock:
            return self._batch_since is not None and \
                self.clock.monotonic() - self._batch_since >= self.flush_interval_s

    def flush_if_due(self) -> int:
        """:meth:`flush` when :meth:`flush_due`; returns how many rows were written."""
        with self._lock:
            return self.flush() if self.flush_due() else 0

    def flush(self) -> int:
        """Write the queued rows in one transaction, whatever their age; returns how many."""
        with self._lock:
            n = len(self._pending)
            if not n or self._db is None:
                self._batch_since = None if not n else self._batch_since
                return 0
            self._need_session()
            with self._transaction():
                self._write_pending()
            self._pending = _Pending()  # only once committed: a failed commit keeps the rows for the next try
            self._batch_since = None
            return n

    def _write_pending(self) -> None:
        p, sid, db = self._pending, self.session, self._db
        for stamped, ts in p.events:  # first: a delivery mark below may be for one of them
            self._insert_event(stamped, ts, sid)
        if p.minutes:
            db.executemany("INSERT INTO minutes (minute_utc, session, leg, activity_mg, moving_fraction,"
                           " posture_changes, seconds_covered) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [(r[0], sid, *r[1:]) for r in p.minutes])
        if p.temperatures:
            db.executemany("INSERT INTO temperatures (utc, session, temp_c) VALUES (?, ?, ?)",
                           [(r[0], sid, r[1]) for r in p.temperatures])
        if p.gaps:
            db.executemany("INSERT INTO gaps (session, leg, start_utc, duration_s, reason) VALUES (?, ?, ?, ?, ?)",
                           [(sid, *r) for r in p.gaps])
        if p.delivered:
            db.executemany("UPDATE events SET delivered_utc = ? WHERE event_id = ? AND delivered_utc IS NULL",
                           p.delivered)

    def take_pending(self) -> list[tuple[str, tuple]]:
        """Hand over the batched rows not yet written, as ``(kind, row)`` in queue order, and forget them.

        The keeper (:mod:`service.night.keeper`) holds them while the disk fails
        and gives them back with :meth:`queue_row`.
        """
        with self._lock:
            p, self._pending = self._pending, _Pending()
            self._batch_since = None
        return [(kind, row) for kind in ("events", "minutes", "temperatures", "gaps", "delivered")
                for row in getattr(p, kind)]

    def queue_row(self, kind: str, row: tuple) -> None:
        """Queue one row taken with :meth:`take_pending` again (written with the next flush)."""
        self._queue(kind, row)

    def integrity_problem(self) -> str | None:
        """SQLite's ``quick_check``: None when the file is sound, else its first complaint."""
        with self._lock:
            try:
                rows = self._db.execute("PRAGMA quick_check(5)").fetchall()
            except sqlite3.DatabaseError as exc:
                return str(exc)
        first = rows[0][0] if rows else "ok"
        return None if first == "ok" else f"database disk image is malformed ({' '.join(str(first).split())})"

    def _need_session(self) -> int:
        if self._db is None:
            raise StoreError(f"the night record {self.path} is closed")
        if self.session is None:
            self.start_session()
        return self.session

    # ------------------------------------------------------------ clock steps

    def relabel_wall(self, delta_s: float) -> None:
        """Shift every wall label written in this session by ``delta_s`` (the wall clock stepped).

        Use as a :meth:`service.pipeline.timebase.TimeBase.on_jump` listener:
        ``timebase.on_jump(lambda j: store.relabel_wall(j.seconds))``.  Labels
        made before the step were on the wrong clock; durations (monotonic)
        are untouched.  Night dates of episodes are recomputed.
        """
        with self._lock:
            sid = self._need_session()
            p = self._pending
            p.events = [(stamped, ts + delta_s) for stamped, ts in p.events]
            p.minutes = [(r[0] + delta_s, *r[1:]) for r in p.minutes]
            p.temperatures = [(r[0] + delta_s, r[1]) for r in p.temperatures]
            p.gaps = [(r[0], r[1] + delta_s, *r[2:]) for r in p.gaps]
            with self._transaction():
                for table, cols in _LABELS.items():
                    key = "id" if table == "sessions" else "session"
                    sets = ", ".join(f"{c} = {c} + :d" for c in cols)
                    self._db.execute(f"UPDATE {table} SET {sets} WHERE {key} = :s", {"d": delta_s, "s": sid})
                for eid, onset in self._db.execute("SELECT id, onset_utc FROM episodes WHERE session = ?", (sid,)).fetchall():
                    night = self.window.night_of(datetime.fromtimestamp(onset, _UTC)).isoformat()
                    self._db.execute("UPDATE episodes SET night = ? WHERE id = ?", (night, eid))
        log.info("shifted this run's wall-clock labels by %+.1f s after a clock step", delta_s)

    # ------------------------------------------------------------ queries

    def undelivered(self, limit: int = 1000) -> list[str]:
        """Ids of stored events not yet marked delivered, oldest first."""
        with self._lock:
            self.flush()
            rows = self._db.execute("SELECT event_id FROM events WHERE delivered_utc IS NULL ORDER BY wall_utc LIMIT ?",
                                    (limit,)).fetchall()
        return [r[0] for r in rows]

    def _rows(self, what: str, sql: str, args=()) -> list:
        """``fetchall`` of one query; in salvage mode a damaged table gives no rows (named in ``unreadable``)."""
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError:
            if not self.salvage:
                raise
            self.unreadable.add(what)
            return []

    def night(self, night_date: date) -> NightRecord:
        """Everything recorded in the window of the night starting on ``night_date``."""
        start, end = self.window.bounds(night_date)
        s, e = start.timestamp(), end.timestamp()
        with self._lock:
            self.flush()
            db = self._db
            episodes = [_episode(r) for r in self._rows("episodes",
                f"SELECT {_EPISODE_COLS} FROM episodes WHERE night = ? OR (onset_utc >= ? AND onset_utc < ?)"
                " ORDER BY onset_utc", (night_date.isoformat(), s, e))]
            minutes = [Minute(_dt(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in self._rows("minutes",
                "SELECT minute_utc, leg, activity_mg, moving_fraction, posture_changes, seconds_covered FROM minutes"
                " WHERE minute_utc >= ? AND minute_utc < ? ORDER BY minute_utc, leg", (s, e))]
            temps = [(_dt(r[0]), r[1]) for r in self._rows("temperatures",
                "SELECT utc, temp_c FROM temperatures WHERE utc >= ? AND utc < ? ORDER BY utc", (s, e))]
            spans = self._spans(s, e)
            unsettled, unalerted, settle_known = self._settle_spans(s, e)
            sessions = (self._rows("sessions", "SELECT count(*) FROM sessions WHERE started_utc < ? AND"
                                   " coalesce(stopped_utc, last_seen_utc, 1e18) > ?", (e, s)) or [(0,)])[0][0]
            names = ["night", "temp_min", "temp_mean", "temp_max", "activity_mean_mg", "moving_fraction",
                     "posture_changes", "minutes_covered", "restless_fraction", "rest_hours"]
            summary_row = next(iter(self._rows("night_summaries", f"SELECT {', '.join(names)} FROM night_summaries"
                                               " WHERE night = ?", (night_date.isoformat(),))), None)
            covered = (self._rows("events", 
                "SELECT max(x) FROM (SELECT max(wall_utc) AS x FROM events WHERE wall_utc >= :s AND wall_utc < :e"
                " UNION ALL SELECT max(minute_utc) + 60 FROM minutes WHERE minute_utc >= :s AND minute_utc < :e"
                " UNION ALL SELECT max(utc) FROM temperatures WHERE utc >= :s AND utc < :e)", {"s": s, "e": e})
                       or [(None,)])[0][0]
        summary = dict(zip(names, summary_row)) if summary_row is not None else None
        return NightRecord(night_date, start, end, episodes, minutes, temps, spans,
                           _dt(min(covered, e)) if covered is not None else None, summary, sessions,
                           unsettled, unalerted, settle_known)

    def _settle_spans(self, s: float, e: float) -> tuple[list[Span], list[Span], bool]:
        """The settled state of the window from its events (no table of its own, so no schema change): an
        ``unsettled`` event opens a span, a ``settled`` event closes it (its ``unsettled_s`` says when it began,
        which holds even when the opening event is outside the window); ``unalerted_movement`` spans."""
        rows = self._rows("events", "SELECT type, leg, wall_utc, fields FROM events WHERE type IN (?, ?, ?)"
                          " AND wall_utc >= ? AND wall_utc < ? ORDER BY wall_utc, t_mono",
                          (ev.SETTLED, ev.UNSETTLED, ev.UNALERTED, s, e))
        open_: dict[str | None, tuple[float, str]] = {}
        unsettled: list[Span] = []
        unalerted: list[Span] = []
        for kind, leg, wall, text in rows:
            try:
                f = json.loads(text)
            except ValueError:
                f = {}
            if kind == ev.UNSETTLED:
                if leg not in open_:  # a second reason (walking after handling) continues the open span
                    open_[leg] = (wall, str(f.get("reason", "")))
            elif kind == ev.SETTLED:
                opened = open_.pop(leg, None)
                lasted = _num(f.get("unsettled_s"))
                begin = wall - max(0.0, lasted) if lasted is not None else (opened[0] if opened else wall)
                unsettled.append(Span("unsettled", leg, _dt(max(begin, s)), _dt(wall), str(f.get("reason", ""))))
            else:
                lasted = _num(f.get("duration_s")) or 0.0
                unalerted.append(Span("unalerted", leg, _dt(max(wall - max(0.0, lasted), s)), _dt(wall), ""))
        unsettled += [Span("unsettled", leg, _dt(at), None, reason) for leg, (at, reason) in open_.items()]
        return sorted(unsettled, key=lambda sp: sp.start), unalerted, bool(rows)

    def _spans(self, s: float, e: float) -> list[Span]:
        db = self._db
        spans = [Span("fault", r[0], _dt(r[1]), _dt(r[2]) if r[2] is not None else None, r[3] or "sensor fault")
                 for r in self._rows("faults", "SELECT leg, start_utc, end_utc, reason FROM faults WHERE start_utc < ?"
                                     " AND coalesce(end_utc, 1e18) > ? ORDER BY start_utc", (e, s))]
        spans += [Span("gap", r[0], _dt(r[1]), _dt(r[1] + r[2]), r[3] or "no samples")
                  for r in self._rows("gaps", "SELECT leg, start_utc, duration_s, reason FROM gaps WHERE start_utc < ?"
                                      " AND start_utc + duration_s > ? ORDER BY start_utc", (e, s))]
        spans += self._service_gaps(s, e)
        return sorted(spans, key=lambda sp: sp.start)

    def _service_gaps(self, s: float, e: float) -> list[Span]:
        """Times between two runs of the service, inside [s, e)."""
        rows = self._rows("sessions", "SELECT id, started_utc, stopped_utc, last_seen_utc, stop_reason FROM sessions"
                                      " ORDER BY started_utc")
        out = []
        for prev, nxt in zip(rows, rows[1:]):
            crashed = prev[2] is None
            gap_start = prev[3] if prev[3] is not None else (prev[2] if prev[2] is not None else prev[1])
            gap_end = nxt[1]
            if gap_end - gap_start < 1.0 or gap_end <= s or gap_start >= e:
                continue
            reason = "service not running (crash or power cut)" if crashed else f"service {prev[4] or 'stopped'}"
            out.append(Span("service", None, _dt(gap_start), _dt(gap_end), reason))
        return out

    def nights_with_data(self, first: date, last: date) -> list[date]:
        """Nights between ``first`` and ``last`` (inclusive) with anything recorded, oldest first."""
        s = self.window.bounds(first)[0].timestamp()
        e = self.window.bounds(last)[1].timestamp()
        with self._lock:
            self.flush()
            # One probe per hour with data is enough to name its night.
            hours = [r[0] for r in self._rows("minutes",
                "SELECT DISTINCT CAST(x / 3600 AS INTEGER) FROM (SELECT minute_utc AS x FROM minutes"
                " UNION ALL SELECT utc FROM temperatures UNION ALL SELECT alert_utc FROM episodes"
                " UNION ALL SELECT started_utc FROM sessions) WHERE x >= ? AND x < ?", (s, e))]
            named = [r[0] for r in self._rows("episodes",
                "SELECT night FROM night_summaries UNION SELECT night FROM episodes")]
        nights = set()
        for hour in hours:
            for probe in (hour * 3600, hour * 3600 + 3599):
                if s <= probe < e and self.window.contains(_dt(probe)):
                    nights.add(self.window.night_of(_dt(probe)))
        nights |= {date.fromisoformat(n) for n in named}
        return sorted(n for n in nights if first <= n <= last)

    def latest_night(self) -> date | None:
        """The most recent night with an episode, a summary row or a temperature (None: empty record)."""
        with self._lock:
            self.flush()
            row = (self._rows("episodes", "SELECT max(x) FROM (SELECT max(alert_utc) AS x FROM episodes"
                              " UNION ALL SELECT max(minute_utc) FROM minutes"
                              " UNION ALL SELECT max(utc) FROM temperatures)") or [(None,)])[0]
        return None if row[0] is None else self.window.night_of(_dt(row[0]))

    def save_night_summary(self, night_date: date, values: dict[str, Any]) -> None:
        """Keep a night's per-minute aggregates (the history needs them after the detail is deleted)."""
        cols = ("temp_min", "temp_mean", "temp_max", "activity_mean_mg", "moving_fraction", "posture_changes",
                "minutes_covered", "restless_fraction", "rest_hours")
        with self._lock, self._transaction():
            self._db.execute(f"INSERT OR REPLACE INTO night_summaries (night, {', '.join(cols)}) VALUES (?{', ?' * len(cols)})",
                             (night_date.isoformat(), *(values.get(c) for c in cols)))

    # ------------------------------------------------------------ retention

    def enforce_retention(self, today: date, retention_days: int = 365, detail_retention_days: int = 14) -> dict[str, int]:
        """Delete nights older than ``retention_days`` and per-minute detail older than ``detail_retention_days``.

        Before the detail of a night goes, its aggregates are kept in
        ``night_summaries`` so the history still shows its room temperature.
        Returns the number of rows deleted per table.
        """
        night_cut = today - timedelta(days=retention_days)
        detail_cut = today - timedelta(days=detail_retention_days)
        night_ts = self.window.bounds(night_cut)[0].timestamp()
        detail_ts = self.window.bounds(detail_cut)[0].timestamp()
        deleted: dict[str, int] = {}
        with self._lock:
            self.flush()
            oldest = self._db.execute("SELECT min(x) FROM (SELECT min(minute_utc) AS x FROM minutes"
                                      " UNION ALL SELECT min(utc) FROM temperatures)").fetchone()[0]
            if oldest is not None and oldest < detail_ts:
                night = self.window.night_of(_dt(oldest))
                while night < detail_cut:
                    if night >= night_cut and not self._db.execute(
                            "SELECT 1 FROM night_summaries WHERE night = ?", (night.isoformat(),)).fetchone():
                        record = self.night(night)
                        if record.minutes or record.temperatures:
                            self.save_night_summary(night, summarize_detail(record))
                    night += timedelta(days=1)
            with self._transaction():
                db = self._db
                for table, col, cut in (("minutes", "minute_utc", detail_ts), ("temperatures", "utc", detail_ts),
                                        ("events", "wall_utc", night_ts), ("faults", "start_utc", night_ts),
                                        ("gaps", "start_utc", night_ts)):
                    deleted[table] = db.execute(f"DELETE FROM {table} WHERE {col} < ?", (cut,)).rowcount
                deleted["episodes"] = db.execute("DELETE FROM episodes WHERE night < ?", (night_cut.isoformat(),)).rowcount
                deleted["night_summaries"] = db.execute("DELETE FROM night_summaries WHERE night < ?",
                                                        (night_cut.isoformat(),)).rowcount
                deleted["sessions"] = db.execute(
                    "DELETE FROM sessions WHERE coalesce(stopped_utc, last_seen_utc) < ? AND id != ?",
                    (night_ts, self.session or -1)).rowcount
        if any(deleted.values()):
            log.info("retention: deleted %s", ", ".join(f"{n} {t}" for t, n in deleted.items() if n))
        return deleted


_EPISODE_COLS = ("id, leg, night, onset_utc, alert_utc, end_utc, duration_s, intensity, peak_intensity, room_temp_c,"
                 " prompts, acknowledged_utc, ack_after_s, false_alarm, snoozed, interrupted")


def _episode(r) -> Episode:
    return Episode(r[0], r[1], date.fromisoformat(r[2]), _dt(r[3]), _dt(r[4]), _dt(r[5]) if r[5] is not None else None,
                   float(r[6]), r[7], r[8], r[9], tuple(p for p in r[10].split(",") if p),
                   _dt(r[11]) if r[11] is not None else None, r[12], bool(r[13]), bool(r[14]), bool(r[15]))


def _default_window() -> NightWindow:
    from service.config import NightConfig

    return NightWindow.from_config(NightConfig())


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"need a timezone-aware datetime, got {when!r}")
    return when


def _parse_iso(text: str) -> datetime:
    try:
        return _aware(datetime.fromisoformat(text))
    except (TypeError, ValueError):
        raise StoreError(f"event wall time is not ISO 8601 with an offset: {text!r}") from None


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, _UTC)


def _iso(ts: float) -> str:
    return _dt(ts).isoformat(timespec="seconds")
