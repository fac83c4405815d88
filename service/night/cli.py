"""``nightcramp log`` and ``nightcramp history``: the night record read back, from the command line.

Both open the record read-only (the running service keeps writing) and exit
1 when there is nothing to show, 2 on a bad argument.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from datetime import date, datetime, timedelta, timezone
from typing import Any

from firmware.errors import StoreError
from service.night.history import build_history, history_dict, history_text, write_history_chart
from service.night.outputs import build_morning_log
from service.night.store import DB_NAME, NightStore
from service.pipeline.nightwindow import NightWindow


def _open_store(args) -> tuple[Any, NightStore]:
    from service import config as cfg

    config = cfg.load(args.config)
    path = config.state_dir / DB_NAME
    try:
        path.stat()
    except PermissionError:
        raise PermissionError(errno.EACCES, "permission denied", str(path)) from None
    except OSError:
        pass
    else:
        if not os.access(path, os.R_OK):
            raise PermissionError(errno.EACCES, "permission denied", str(path))
    if not path.exists():
        raise StoreError(f"no night record at {path} yet: the service has not run (or storage.state_dir differs)")
    return config, NightStore(path, NightWindow.from_config(config.night), readonly=True)


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
    config, store = _open_store(args)
    try:
        now = datetime.now(timezone.utc)
        night = night or _default_night(store, now)
        if not store.night(night).has_data:
            latest = store.latest_night()
            hint = (f"; the latest night recorded is {latest}: nightcramp log --date {latest}" if latest
                    else "; the record is empty")
            print(f"no data recorded for the night of {night.isoformat()} in {store.path}{hint}", file=sys.stderr)
            return 1
        mlog = build_morning_log(store, night, config, now=now)
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
    if args.days < 1:
        print("error: --days must be at least 1", file=sys.stderr)
        return 2
    config, store = _open_store(args)
    try:
        now = datetime.now(timezone.utc)
        last = store.window.night_of(now)
        rows = build_history(store, last, args.days)
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
