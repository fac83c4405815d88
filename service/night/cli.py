"""``nightcramp log`` and ``nightcramp history``: the night record read back, from the command line.

Both open the record read-only (the running service keeps writing): they
need read access to the state directory and nothing more, and never create
a file beside the record (not even SQLite's ``-shm``), so they work for
another user and on a read-only filesystem (the history's chart then goes
to the temporary directory).  They exit 1 when there is nothing to show or the
record cannot be read, 2 on a bad argument.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from firmware.errors import StoreError
from service.night.history import build_history, history_dict, history_text, write_history_chart
from service.night.outputs import PREVIOUS_NIGHTS, build_morning_log
from service.night.store import DB_NAME, NightStore
from service.storagefault import set_aside_files
from service.pipeline.nightwindow import NightWindow


# A night's window ends the next day and its log looks back PREVIOUS_NIGHTS nights: dates at the very
# ends of Python's calendar would overflow.
FIRST_NIGHT = date.min + timedelta(days=PREVIOUS_NIGHTS + 1)
LAST_NIGHT = date.max - timedelta(days=1)
MAX_DAYS = 36600  # history --days: a hundred years (the command line refuses more, too)
_ACCESS_HINT = ("permission denied: run with sudo or join the nightcramp group, the service user's "
                "(sudo adduser $USER nightcramp, then log in again)")


def _open_store(args) -> tuple[Any, NightStore]:
    from service import config as cfg
    config = cfg.load(args.config).simulated(getattr(args, "simulate", False))
    record = getattr(args, "record", None)
    path = Path(record) if record else config.state_dir / DB_NAME
    try:
        exists = path.exists()
    except OSError as exc:  # a state directory this user may not even look into
        raise StoreError(f"cannot look into {config.state_dir}: {exc.strerror}; {_ACCESS_HINT}") from None
    if not exists:
        if record:
            raise StoreError(f"no night record at {path}")
        raise StoreError(f"no night record at {path} yet: the service has not run (or storage.state_dir differs)")
    if not os.access(path, os.R_OK):
        raise StoreError(f"no read access to {path}; {_ACCESS_HINT}")
    return config, NightStore(path, NightWindow.from_config(config.night), readonly=True, salvage=True)


def _set_aside_hint(store: NightStore) -> str:
    """Where earlier nights are when the service set a damaged record aside (empty when it never did)."""
    files = set_aside_files(store.path) if store.path.name == DB_NAME else []
    if not files:
        return ""
    return (f"; earlier nights may be in a record the service set aside: nightcramp log --record {files[-1]}"
            + (f" ({len(files)} such files, oldest first: {', '.join(p.name for p in files)})" if len(files) > 1 else ""))


def _damage_note(store: NightStore) -> None:
    if store.unreadable:
        print(f"warning: {store.path} is damaged; left out what could not be read: "
              f"{', '.join(sorted(store.unreadable))}", file=sys.stderr)


def _default_night(store: NightStore, now: datetime) -> date:
    """Last night: the night in progress if it has a cramp already, else the last one that started before it."""
    window = store.window
    current = window.night_of(now)
    if window.contains(now) and not store.night(current).episodes:
        current -= timedelta(days=1)
    return current


def cmd_log(args) -> int:
    """``nightcramp log [--date D] [--format text|json|markdown]``."""
    night = None
    if args.date:
        try:
            night = date.fromisoformat(args.date)
        except ValueError:
            print(f"error: --date: not a date in the form YYYY-MM-DD: {args.date!r}", file=sys.stderr)
            return 2
        if not FIRST_NIGHT <= night <= LAST_NIGHT:
            print(f"error: --date: {night.isoformat()} is outside the calendar this log can show "
                  f"({FIRST_NIGHT.isoformat()} to {LAST_NIGHT.isoformat()})", file=sys.stderr)
            return 2
    config, store = _open_store(args)
    try:
        now = datetime.now(timezone.utc)
        night = night or _default_night(store, now)
        if not store.night(night).has_data:
            latest = store.latest_night()
            if latest == night:  # data of that date, but all of it outside the night window (a daytime run)
                hint = (f"; what it holds for that date lies outside the night window"
                        f" ({store.window.start:%H:%M}-{store.window.end:%H:%M} {store.window.tz}), which is all"
                        " the morning log covers ([night] start and end)")
            elif latest:
                hint = f"; the latest night recorded is {latest}: nightcramp log --date {latest}"
            else:
                hint = "; the record is empty"
            print(f"no data recorded for the night of {night.isoformat()} in {store.path}{hint}"
                  f"{_set_aside_hint(store)}", file=sys.stderr)
            return 1
        mlog = build_morning_log(store, night, config, now=now)
        _damage_note(store)
    finally:
        store.close()
    if args.format == "json":
        json.dump(mlog.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif args.format == "markdown":
        sys.stdout.write(mlog.to_markdown())
    else:
        sys.stdout.write(mlog.to_text())
    return 0


def cmd_history(args) -> int:
    """``nightcramp history [--days N] [--format text|json]``: trend table and chart."""
    if not 1 <= args.days <= MAX_DAYS:
        print(f"error: --days must be between 1 and {MAX_DAYS}", file=sys.stderr)
        return 2
    config, store = _open_store(args)
    try:
        now = datetime.now(timezone.utc)
        last = store.window.night_of(now)
        rows = build_history(store, last, args.days)
        _damage_note(store)
        if not rows:
            hint = _set_aside_hint(store)
            if hint:
                print(f"nothing recorded in {store.path}{hint}", file=sys.stderr)
    finally:
        store.close()
    chart_path = None
    if rows and args.format == "text":  # json is for scripts: the numbers only, no file written anywhere
        chart_path = write_history_chart(rows, config.state_dir, last)
    if args.format == "json":
        json.dump(history_dict(rows, chart_path), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(history_text(rows, chart_path))
    return 0 if rows else 1
