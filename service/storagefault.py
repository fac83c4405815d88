"""Storage faults shared by the night record's keeper and the outbox's: what kind, set a file aside, report once.

A SQLite file on an SD card fails in two ways that need different answers:

* **damaged** (random bytes, a torn page, a ``user_version`` from a newer
  nightcramp): retrying never helps.  The file is *set aside*: renamed, with
  its ``-wal`` and ``-shm``, to ``<name>.corrupt-<UTC time>`` beside it (never
  deleted: it may hold nights someone wants) and a fresh file is started.
* **unwritable** (disk full, read-only filesystem, permission, locked, I/O
  error): the file may be fine and the disk may come back.  What could not be
  written is held in memory (bounded) and retried with a back-off.

:class:`FaultTracker` turns a stream of failures and successes into one log
line when a fault starts and one when it is over.  A recovery counts only
after the storage has worked for :data:`SETTLE_S`: a nearly full disk that
fails and succeeds in turn stays one fault (logged once), not a line per
flap.  Nothing here knows SQLite's schema; ``sqlite3`` is imported only to
recognise its exceptions.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

DAMAGED = "damaged"
UNWRITABLE = "unwritable"

RETRY_FIRST_S = 30.0  # the first retry after a failure
RETRY_MAX_S = 60.0  # the back-off doubles up to this
SETTLE_S = 120.0  # storage must work this long after a fault before it is reported recovered

_DAMAGED_WORDS = ("malformed", "not a database", "file is encrypted", "newer than this nightcramp",
                  "database corrupt", "disk image")


def classify(exc: BaseException) -> str:
    """:data:`DAMAGED` (set the file aside) or :data:`UNWRITABLE` (hold and retry) for a storage exception.

    Works on SQLite's exceptions and on the StoreError that wraps their text.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return DAMAGED
    text = str(exc).lower()
    return DAMAGED if any(w in text for w in _DAMAGED_WORDS) else UNWRITABLE


def set_aside(path: Path, now: datetime | None = None) -> Path:
    """Rename ``path`` (and its ``-wal``/``-shm``) to ``<name>.corrupt-<UTC>``; return the new name.

    Raises OSError when the directory cannot be written (the caller then holds in memory).
    """
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in ("", "-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.rename(side, Path(f"{aside}{suffix}"))
    return aside


def set_aside_files(path: Path) -> list[Path]:
    """The files set aside from ``path`` so far, oldest first (the name sorts by time)."""
    try:
        return sorted(p for p in path.parent.glob(f"{path.name}.corrupt-*")
                      if not p.name.endswith(("-wal", "-shm")))
    except OSError:
        return []


def describe(exc: BaseException) -> str:
    """A short reason for the log and the state message (no paths beyond the file's own)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.strerror or errno.errorcode.get(exc.errno, str(exc))
    return str(exc)


@dataclass
class FaultStatus:
    """What the state message says about one file: ``ok`` or ``fault``, what is held, lost, set aside."""

    status: str = "ok"
    reason: str | None = None
    held: int = 0  # items waiting in memory for the disk
    lost: int = 0  # items given up because the hold was full
    set_aside: int = 0  # damaged files renamed in this run

    def as_dict(self) -> dict:
        out = {"status": self.status, "held": self.held, "lost": self.lost, "set_aside": self.set_aside}
        if self.reason:
            out["reason"] = self.reason
        return out


class FaultTracker:
    """One file's fault state: when to retry, and the hysteresis that logs a fault once and its end once.

    ``what`` names the file in the log ("night record", "outbox"); ``clock``
    gives monotonic seconds (the service's clock: simulated time in a
    simulated run).  Call :meth:`failed` on each failure, :meth:`worked` on
    each success, :meth:`retry_due` to decide whether to touch the disk again.
    """

    def __init__(self, what: str, path: Path, clock: Callable[[], float]):
        self.what = what
        self.path = path
        self.clock = clock
        self.in_fault = False  # reported as a fault (from the first failure to the settled recovery)
        self.failing = False  # the last attempt failed
        self.reason: str | None = None
        self.faults = 0  # faults reported (log lines at error level)
        self._retry_at = 0.0
        self._delay = RETRY_FIRST_S
        self._working_since: float | None = None

    def failed(self, exc: BaseException | str) -> None:
        now = self.clock()
        reason = exc if isinstance(exc, str) else describe(exc)
        self.failing = True
        self._working_since = None
        if not self.in_fault:
            self.in_fault = True
            self.faults += 1
            self.reason = reason
            self._delay = RETRY_FIRST_S
            log.error("%s %s: %s; keeping what cannot be written in memory and retrying every %.0f-%.0f s "
                      "(alerts go on)", self.what, self.path, reason, RETRY_FIRST_S, RETRY_MAX_S)
        else:
            self.reason = reason
            self._delay = min(RETRY_MAX_S, self._delay * 2)
            log.debug("%s %s: still failing: %s", self.what, self.path, reason)
        self._retry_at = now + self._delay

    def worked(self) -> None:
        """A write reached the disk."""
        if self.failing:
            self.failing = False
            self._working_since = self.clock()
            self._delay = RETRY_FIRST_S
        self.settle()

    def settle(self) -> bool:
        """Report the recovery once the disk has worked for SETTLE_S; True when it was just reported."""
        if self.in_fault and not self.failing and self._working_since is not None \
                and self.clock() - self._working_since >= SETTLE_S:
            self.in_fault = False
            log.warning("%s %s: writing again (fault over: %s)", self.what, self.path, self.reason)
            self.reason = None
            return True
        return False

    def retry_due(self) -> bool:
        """True when the disk may be tried: not failing, or the back-off has passed."""
        return not self.failing or self.clock() >= self._retry_at
