"""How much an 8-hour night writes to the SD card, and how often.

Runs a whole night through the real parts the daemon uses (ManualClock,
TimeBase, MovementSummarizer fed 50 Hz samples, NightStore with its batching)
and reads the bytes this process handed to the kernel from /proc/self/io
(``wchar``: every write/pwrite, which is what SQLite issues) and, when the
kernel accounts it, ``write_bytes`` (what reached the block layer: a write
into a 4 KiB page of the page cache that was clean counts the whole page, so
each commit's WAL append costs at least 4 KiB there).  Each commit is one
fsync of the WAL (``synchronous=FULL``).  The events carry the fields the
service gives them (the prompts' texts included).

Every event also goes through the MQTT outbox (``outbox.sqlite3`` beside the
record: the messages the bridge would publish, put before publishing and
deleted at once as if the broker acknowledged them; the cramp updates are kept in its memory only, as the
service does).  Its bytes are counted
apart (the ``outbox`` columns) and are not in the record's columns.

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


def _counted_outbox():
    """The outbox, with the bytes of its transactions and of its close counted apart from the record's."""
    from contextlib import contextmanager

    from service.mqtt.outbox import Outbox

    class Counted(Outbox):
        def __init__(self, *args, **kwargs):
            self.io = {"wchar": 0, "write_bytes": 0}
            self.commits = 0
            a = _io()
            super().__init__(*args, **kwargs)
            self._count(a)

        def _count(self, a: dict) -> None:
            b = _io()
            for key in self.io:
                self.io[key] += b[key] - a[key]

        @contextmanager
        def _transaction(self):
            a = _io()
            try:
                with super()._transaction():
                    yield
                self.commits += 1
            finally:
                self._count(a)

        def close(self) -> None:
            a = _io()
            super().close()
            self._count(a)

    return Counted


def run_night(directory: Path, legs: tuple[str, ...], flush_interval_s: float, page_size: int | None = None,
              cramps=CRAMPS) -> dict:
    """One night; ``page_size`` None: the record's own (:data:`service.night.store.PAGE_SIZE`)."""
    from service.mqtt.episodes import EpisodeTracker
    from service.mqtt.messages import Topics
    from service.pipeline.alerts import STRETCH_TEXT, WARM_TEXT

    default_page = store_mod.PAGE_SIZE
    page_size = page_size or default_page
    store_mod.PAGE_SIZE = page_size
    clock = ManualClock(wall_start=START.astimezone(timezone.utc), t0=0.0)
    tb = TimeBase(clock, TZ)
    window = NightWindow(dtime(22, 0), dtime(7, 30), TZ)
    directory = Path(tempfile.mkdtemp(prefix=f"night-{len(legs)}-{int(flush_interval_s)}-{page_size}-{len(cramps)}-",
                                      dir=directory))  # one state directory per night
    db = directory / "night.sqlite3"
    rng = np.random.default_rng(1)
    before = _io()
    cpu0 = time.process_time()
    store = NightStore(db, window, flush_interval_s=flush_interval_s, clock=clock)
    store_mod.PAGE_SIZE = default_page
    outbox = _counted_outbox()(directory, clock=clock.monotonic)
    tracker = EpisodeTracker(Topics("nightcramp/bench", "bench"), list(legs))
    tb.on_jump(lambda j: store.relabel_wall(j.seconds))
    store.start_session()
    summarizers = {leg: MovementSummarizer(leg) for leg in legs}
    n = int(DRAIN_S * RATE_HZ)
    events = 0

    def emit(type_, t, episode, **fields):
        nonlocal events
        stamped = StampedEvent(new_id(), tb.iso(t), Event(type_, t, legs[0], episode, fields))
        store.record_event(stamped)
        built = tracker.messages(stamped)
        outbox.ack_many(outbox.put_many(built.outbox, stamped.event_id, built.priority, stamped.wall_time,
                                        volatile=built.volatile))
        store.mark_delivered(stamped.event_id, tb.wall_at(t))  # the broker acknowledged it
        events += 1

    open_episode: dict | None = None
    pending = list(cramps)
    next_temp = 60.0
    next_pass = 1.0
    t = 0.0
    while t < HOURS * 3600:
        ts = t + np.arange(n) / RATE_HZ
        for leg, summarizer in summarizers.items():
            accel = np.array([0.1, 0.2, 0.97]) + rng.normal(0, 0.005, (n, 3))
            for minute in summarizer.feed(ts, accel):
                store.add_minute(tb.wall_at(minute.t_start), minute)
        clock.advance(DRAIN_S)
        t = clock.monotonic()
        if t >= next_pass:
            outbox.flush_acks()  # the outbox keeper's periodic pass: deletes acknowledged rows ACK_DELAY_S late
            next_pass += 1.0
        if t >= next_temp:
            store.add_temperature(tb.wall_at(t), 19.0 + 0.5 * np.sin(t / 5000))
            next_temp += 60.0
        if pending and t >= pending[0][0] + 4.0:
            onset, duration = pending.pop(0)
            open_episode = {"id": new_id(), "onset": onset, "end": onset + duration, "next": t + 15.0}
            emit("cramp_start", t, open_episode["id"], onset=onset, intensity=0.5, snoozed=False, armed=True,
                 alert=True, room_temp_c=19.0)
            emit("warm_compress", t, open_episode["id"], text=WARM_TEXT, room_temp_c=19.0)
        if open_episode:
            ep = open_episode
            if t >= ep["end"]:
                emit("cramp_end", t, ep["id"], onset=ep["onset"], duration_s=t - ep["onset"], intensity=0.5,
                     acknowledged=True)
                open_episode = None
            elif t >= ep["next"]:
                emit("cramp_update", t, ep["id"], duration_s=t - ep["onset"], intensity=0.5)
                if ep["next"] - ep["onset"] < 20:
                    emit("stretch_prompt", t, ep["id"], stretch="calf", hold_s=30, text=STRETCH_TEXT["calf"])
                    emit("acknowledged", t, ep["id"], episode_open=True, stop_buzzer=True, source="button")
                ep["next"] += 15.0
    for summarizer in summarizers.values():
        for minute in summarizer.close():
            store.add_minute(tb.wall_at(minute.t_start), minute)
    snippet_io0 = _io()["wchar"]
    snippets = _write_snippets(directory / "snippets", rng, cramps)
    snippet_bytes = _io()["wchar"] - snippet_io0
    commits_before_close = store.commits
    store.close()
    outbox_commits = outbox.commits
    outbox.close()
    outbox_io = outbox.io
    cpu = time.process_time() - cpu0
    after = _io()
    size = db.stat().st_size + sum(p.stat().st_size for p in db.parent.glob(db.name + "-*"))
    return {
        "legs": len(legs), "flush_s": flush_interval_s, "page": page_size, "alarms": len(cramps),
        "wchar": after["wchar"] - before["wchar"] - outbox_io["wchar"],
        "write_bytes": after["write_bytes"] - before["write_bytes"] - outbox_io["write_bytes"],
        "commits": commits_before_close, "events": events, "db_bytes": size, "cpu_s": cpu,
        "snippet_wchar": snippet_bytes, "snippet_files": snippets,
        "outbox_wchar": outbox_io["wchar"], "outbox_write_bytes": outbox_io["write_bytes"],
        "outbox_commits": outbox_commits,
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


ROWS = (  # legs, flush_interval_s, page size (None: the record's own), alarms
    (("leg",), 30.0, None, CRAMPS), (("left", "right"), 30.0, None, CRAMPS),
    (("leg",), 30.0, 1024, CRAMPS), (("leg",), 30.0, 4096, CRAMPS), (("leg",), 300.0, None, CRAMPS),
    (("leg",), 30.0, None, BAD_NIGHT), (("left", "right"), 30.0, None, BAD_NIGHT), (("leg",), 30.0, 1024, BAD_NIGHT),
)


def main() -> None:
    logging.disable(logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:  # a disk, not tmpfs, where possible
        for legs, flush, page, cramps in ROWS:
            rows.append(run_night(Path(tmp), legs, flush, page, cramps))
    print(f"8-hour night, {RATE_HZ} Hz, {len(CRAMPS)} or {len(BAD_NIGHT)} alarms; bytes written by this process "
          "(/proc/self/io); the record's columns include the snippets, the outbox's are apart\n")
    print("| legs | alarms | flush_interval_s | page size | bytes written (wchar) | of which snippets | block-layer write_bytes "
          "| commits (fsyncs) | commits per hour | events | record size after the night | CPU s "
          "| outbox wchar | outbox write_bytes | outbox commits |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['legs']} | {r['alarms']} | {r['flush_s']:g} | {r['page']} | {r['wchar'] / 1e6:.2f} MB | "
              f"{r['snippet_wchar'] / 1e6:.2f} MB ({r['snippet_files']} snippets) | {r['write_bytes'] / 1e6:.2f} MB | "
              f"{r['commits']} | {r['commits'] / HOURS:.0f} | {r['events']} | {r['db_bytes'] / 1e3:.0f} kB | "
              f"{r['cpu_s']:.1f} | {r['outbox_wchar'] / 1e6:.2f} MB | {r['outbox_write_bytes'] / 1e6:.2f} MB | "
              f"{r['outbox_commits']} |")
    print("summary: " + "; ".join(
        f"{r['legs']} leg{'s' if r['legs'] > 1 else ''}, {r['alarms']} alarms, flush {r['flush_s']:g} s, page "
        f"{r['page']}: {r['wchar'] / 1e6:.2f} MB written (snippets {r['snippet_wchar'] / 1e6:.2f} MB), "
        f"{r['write_bytes'] / 1e6:.2f} MB at the block layer, {r['commits']} commits; outbox "
        f"{r['outbox_write_bytes'] / 1e6:.2f} MB at the block layer"
        for r in rows if r["page"] == store_mod.PAGE_SIZE and r["flush_s"] == 30.0))


if __name__ == "__main__":
    main()
