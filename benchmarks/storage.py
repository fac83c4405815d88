"""How much an 8-hour night writes to the SD card, and how often.

Runs a whole night through the real parts the daemon uses (ManualClock,
TimeBase, MovementSummarizer fed 50 Hz samples, NightStore with its batching)
and reads the bytes this process handed to the kernel from /proc/self/io
(``wchar``: every write/pwrite, which is what SQLite issues) and, when the
kernel accounts it, ``write_bytes`` (what reached the block layer).  Each
commit is one fsync of the WAL (``synchronous=FULL``).

    .venv/bin/python -m benchmarks.storage

Prints a Markdown table (pasted into docs/morning-log.md).  The night's snippets (docs/learning.md:
the raw samples from 2 min before to 1 min after each of the three episodes, as the snippet writer
keeps them) are written into the same state directory inside the measurement, and also shown alone.
"""

from __future__ import annotations

import logging
import tempfile
import time
from datetime import datetime, time as dtime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from firmware.clock import ManualClock
from service.night import store as store_mod
from service.events import Event, StampedEvent, new_id
from service.pipeline.movement import MovementSummarizer
from service.pipeline.nightwindow import NightWindow
from service.night.store import NightStore
from service.pipeline.timebase import TimeBase

TZ = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 24, 22, 0, tzinfo=TZ)
HOURS = 8
RATE_HZ = 50
DRAIN_S = 0.2  # the sampler hands over a batch every 0.2 s
CRAMPS = ((3600 * 2.3, 95.0), (3600 * 5.1, 240.0), (3600 * 6.7, 40.0))  # onset (s into the night), duration
BAD_NIGHT = tuple((1800.0 + k * 1680.0, (40.0, 95.0, 240.0)[k % 3]) for k in range(16))
"""A night of 16 alarms (every 28 minutes; 40, 95 or 240 s): its episode snippets go through the snippet writer,
which stops keeping them at ``[snippets] max_night_mb``."""


def _io() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/io").read_text().splitlines():
        key, value = line.split(":")
        out[key] = int(value)
    return out


def run_night(directory: Path, legs: tuple[str, ...], flush_interval_s: float, page_size: int,
              cramps=CRAMPS) -> dict:
    store_mod.PAGE_SIZE = page_size
    clock = ManualClock(wall_start=START.astimezone(timezone.utc), t0=0.0)
    tb = TimeBase(clock, TZ)
    window = NightWindow(dtime(22, 0), dtime(7, 30), TZ)
    db = directory / f"night-{len(legs)}-{int(flush_interval_s)}-{page_size}-{len(cramps)}.sqlite3"
    rng = np.random.default_rng(1)
    before = _io()
    cpu0 = time.process_time()
    store = NightStore(db, window, flush_interval_s=flush_interval_s, clock=clock)
    tb.on_jump(lambda j: store.relabel_wall(j.seconds))
    store.start_session()
    summarizers = {leg: MovementSummarizer(leg) for leg in legs}
    n = int(DRAIN_S * RATE_HZ)
    events = 0

    def emit(type_, t, episode, **fields):
        nonlocal events
        stamped = StampedEvent(new_id(), tb.iso(t), Event(type_, t, legs[0], episode, fields))
        store.record_event(stamped)
        store.mark_delivered(stamped.event_id, tb.wall_at(t))  # the broker acknowledged it
        events += 1

    open_episode: dict | None = None
    pending = list(cramps)
    next_temp = 60.0
    t = 0.0
    while t < HOURS * 3600:
        ts = t + np.arange(n) / RATE_HZ
        for leg, summarizer in summarizers.items():
            accel = np.array([0.1, 0.2, 0.97]) + rng.normal(0, 0.005, (n, 3))
            for minute in summarizer.feed(ts, accel):
                store.add_minute(tb.wall_at(minute.t_start), minute)
        clock.advance(DRAIN_S)
        t = clock.monotonic()
        if t >= next_temp:
            store.add_temperature(tb.wall_at(t), 19.0 + 0.5 * np.sin(t / 5000))
            next_temp += 60.0
        if pending and t >= pending[0][0] + 4.0:
            onset, duration = pending.pop(0)
            open_episode = {"id": new_id(), "onset": onset, "end": onset + duration, "next": t + 15.0}
            emit("cramp_start", t, open_episode["id"], onset=onset, intensity=0.5, room_temp_c=19.0)
            emit("warm_compress", t, open_episode["id"])
        if open_episode:
            ep = open_episode
            if t >= ep["end"]:
                emit("cramp_end", t, ep["id"], onset=ep["onset"], duration_s=t - ep["onset"], intensity=0.5,
                     acknowledged=True)
                open_episode = None
            elif t >= ep["next"]:
                emit("cramp_update", t, ep["id"], duration_s=t - ep["onset"], intensity=0.5)
                if ep["next"] - ep["onset"] < 20:
                    emit("stretch_prompt", t, ep["id"], stretch="calf", hold_s=30)
                    emit("acknowledged", t, ep["id"], source="button")
                ep["next"] += 15.0
    for summarizer in summarizers.values():
        for minute in summarizer.close():
            store.add_minute(tb.wall_at(minute.t_start), minute)
    snippet_io0 = _io()["wchar"]
    snippets = _write_snippets(directory / f"snippets-{db.stem}", rng, cramps)
    snippet_bytes = _io()["wchar"] - snippet_io0
    commits_before_close = store.commits
    store.close()
    cpu = time.process_time() - cpu0
    after = _io()
    size = db.stat().st_size + sum(p.stat().st_size for p in db.parent.glob(db.name + "-*"))
    return {
        "legs": len(legs), "flush_s": flush_interval_s, "page": page_size, "alarms": len(cramps),
        "wchar": after["wchar"] - before["wchar"], "write_bytes": after["write_bytes"] - before["write_bytes"],
        "commits": commits_before_close, "events": events, "db_bytes": size, "cpu_s": cpu,
        "snippet_wchar": snippet_bytes, "snippet_files": snippets,
    }


def _write_snippets(directory: Path, rng, cramps=CRAMPS) -> int:
    """The episodes' snippets on the first leg, through the snippet writer as the service keeps them (its night
    budget included; 50 Hz, quiet leg plus movement)."""
    from service import config as cfg
    from service.learning.keeper import SnippetJob
    from service.learning.snippets import LEAD_S, TAIL_S, SnippetStore
    from service.learning.writer import SnippetWriter

    writer = SnippetWriter(cfg.parse(f'[storage]\nstate_dir = "{directory}"\n'))
    for onset, duration in cramps:
        n = int((LEAD_S + duration + TAIL_S) * RATE_HZ)
        t = onset - LEAD_S + np.arange(n) / RATE_HZ
        accel = np.array([0.1, 0.2, 0.97]) + rng.normal(0, 0.005, (n, 3))
        moving = (t >= onset) & (t < onset + duration)
        accel[moving] += rng.normal(0, 0.08, (int(moving.sum()), 3))
        when = START + timedelta(seconds=onset - LEAD_S)
        writer.submit(SnippetJob(t, accel, {"label": "unlabelled", "time": when.isoformat(), "onset_t": LEAD_S,
                                            "end_t": LEAD_S + duration}, when, "leg", "episode"))
        writer.run_pending()
    return len(writer.store.list())


def main() -> None:
    logging.disable(logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:  # a disk, not tmpfs, where possible
        for legs, flush, page in (((("leg",)), 30.0, 1024), (("left", "right"), 30.0, 1024),
                                  (("leg",), 30.0, 4096), (("left", "right"), 30.0, 4096),
                                  (("leg",), 300.0, 1024)):
            rows.append(run_night(Path(tmp), legs, flush, page))
        rows.append(run_night(Path(tmp), ("leg",), 30.0, 1024, BAD_NIGHT))
    print(f"8-hour night, {RATE_HZ} Hz, {len(CRAMPS)} cramps (last row: {len(BAD_NIGHT)} alarms); bytes written by "
          "this process (/proc/self/io)\n")
    print("| legs | alarms | flush_interval_s | page size | bytes written (wchar) | of which snippets | block-layer write_bytes "
          "| commits (fsyncs) | commits per hour | events | record size after the night | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['legs']} | {r['alarms']} | {r['flush_s']:g} | {r['page']} | {r['wchar'] / 1e6:.2f} MB | "
              f"{r['snippet_wchar'] / 1e6:.2f} MB ({r['snippet_files']} snippets) | {r['write_bytes'] / 1e6:.2f} MB | {r['commits']} | {r['commits'] / HOURS:.0f} | {r['events']} | "
              f"{r['db_bytes'] / 1e3:.0f} kB | {r['cpu_s']:.1f} |")
    print("summary: " + "; ".join(
        f"{r['legs']} leg{'s' if r['legs'] > 1 else ''} flush {r['flush_s']:g} s page {r['page']}: "
        f"{r['wchar'] / 1e6:.2f} MB written (snippets {r['snippet_wchar'] / 1e6:.2f} MB), {r['commits']} commits"
        for r in rows[:2]) + f" a night; {len(BAD_NIGHT)} alarms: {rows[-1]['wchar'] / 1e6:.2f} MB written "
        f"(snippets {rows[-1]['snippet_wchar'] / 1e6:.2f} MB, {rows[-1]['snippet_files']} kept), "
        f"{rows[-1]['write_bytes'] / 1e6:.2f} MB at the block layer")


if __name__ == "__main__":
    main()
