"""The try-it mode: how a simulated run (``device.simulated = true`` or ``run --simulate``) is set up.

A simulated night is kept apart from real ones and never replays a night the
record already holds:

- its night record, outbox and morning logs live in ``<state_dir>/simulated``
  (:attr:`service.config.Config.state_dir` once ``device.simulated`` is set);
- it starts at the real current time, or, when an earlier faster-than-real-time
  run (``--speed``) already recorded past now, right after the end of that
  record, so simulated time never goes backwards in the record and no episode
  is recorded twice;
- its night window opens at that start (to the minute) and lasts as long as the
  configured one, so a try-it run started in the afternoon detects cramps right
  away and writes its morning log when its night ends.

Everything it sends is marked: the device is "<name> (simulated)" in Home
Assistant, the retained state carries ``"simulated": true``, and the log says so
at start.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from firmware.errors import NightcrampError
from service.config import Config
from service.night.store import DB_NAME, NightStore

log = logging.getLogger(__name__)


def simulated_config(config: Config) -> Config:
    """``config`` with ``device.simulated`` set: its state directory becomes ``<state_dir>/simulated``."""
    return config.simulated()


def record_end(config: Config) -> datetime | None:
    """The latest instant the simulated record covers (None: no record yet, or unreadable)."""
    path = config.state_dir / DB_NAME
    if not path.exists():
        return None
    try:
        store = NightStore(path, readonly=True)
    except NightcrampError as exc:
        log.warning("simulated record %s: %s; starting the simulated night now", path, exc)
        return None
    try:
        return store.last_recorded()
    finally:
        store.close()


def night_length(config: Config) -> timedelta:
    """Length of the configured night window, in local wall time (22:00-07:30: 9 h 30)."""
    night = config.night
    start = night.start.hour * 60 + night.start.minute
    end = night.end.hour * 60 + night.end.minute
    return timedelta(minutes=(end - start) % (24 * 60))


def prepare(config: Config, now: datetime | None = None) -> tuple[Config, datetime]:
    """The configuration a simulated run uses and the instant (UTC) its simulated night starts.

    The start is ``now`` (default: the real current time) or the end of the
    simulated record if that is later.  The returned configuration is marked
    simulated and its night window opens at the start's minute and lasts
    :func:`night_length`.
    """
    config = simulated_config(config)
    start = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    end = record_end(config)
    if end is not None and end > start:
        start = end + timedelta(seconds=1)
    tz = config.night.tzinfo()
    opens = start.replace(second=0, microsecond=0)
    closes = opens + night_length(config)
    night = replace(config.night, start=opens.astimezone(tz).time().replace(tzinfo=None),
                    end=closes.astimezone(tz).time().replace(tzinfo=None))
    config = replace(config, night=night)
    log.warning("SIMULATED: no sensor is read; an emulated sensor and room play a night from %s to %s "
                "(device.simulated or --simulate); its record is kept apart in %s",
                start.astimezone(tz).isoformat(timespec="seconds"),
                closes.astimezone(tz).isoformat(timespec="minutes"), config.state_dir)
    return config, start
