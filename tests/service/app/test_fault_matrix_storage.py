"""The storage half of the fault matrix (docs/reliability.md, "Fault matrix"): a simulated night through the real service.

Each cell gives the service a state directory with an earlier night already
recorded, breaks the storage in one way, and runs a seeded simulated night
with cramps through the real :class:`~service.app.daemon.Service`: emulated
sensor behind the real drivers, MockFactory pins for the LED and buzzer, a
real mosquitto and a real subscriber, real SQLite files.  Every cell asserts:

* every cramp start the service raised reaches the subscriber (by event id),
  and each one sounded the buzzer (the broker is paused during the night, so
  no delivery confirmation can arrive and the local alert must sound; it is
  resumed afterwards and the held messages must then arrive);
* the service stays up: the stepped run reaches the end of its simulated time
  and stops cleanly, without raising;
* the earlier night is still readable, with ``nightcramp log`` (or ``log
  --record FILE`` on a file that was set aside).

Disk-full and read-only cells use a small tmpfs (``mount -t tmpfs``; they
skip with the reason when mounting is not permitted).  No cell asserts on time.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from service.app.daemon import RunOptions, Service
from service.night.store import DB_NAME, NightStore
from service.pipeline.nightwindow import NightWindow
from support.mqtt_helpers import Subscriber, make_config, wait_until
from support.nightbuilder import Cramp, NightSpec, make
from support.service_runs import NIGHT, events_of

ROOT = Path(__file__).resolve().parents[3]
GPIO = "[gpio]\nbuzzer_pin = 22\nled_pin = 27\n"
PROMPTS = "[prompts]\nlocal_alert_after_s = 0.5\n"
TZ = ZoneInfo("Europe/Berlin")
SEED, CRAMPS = 3, 2
NIGHT_S = 5400.0  # the whole 22:00-23:30 window
LOCAL_ALERT = "no broker acknowledged the cramp alert"


# ---------------------------------------------------------------- set-up


def earlier_night(state_dir: Path) -> tuple[str, str]:
    """Three nights ago: 90 minutes with one cramp, written as the daemon writes it; (night date, episode id)."""
    night = (datetime.now(TZ) - timedelta(days=3)).date()
    start = datetime(night.year, night.month, night.day, 22, 0, tzinfo=TZ)
    window = NightWindow.from_config(make_config(None, state_dir, extra=NIGHT).night)
    store, _, _, writer = make(state_dir / DB_NAME, start, TZ, window=window)
    writer.run(NightSpec(minutes=90, cramps=[Cramp(30 * 60, 80.0, ack_after_s=10.0)]))
    store.close()
    return night.isoformat(), writer.episode_ids[0]


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs of ``size`` at a new directory; unmounted at teardown.  Skips when mount is refused."""
    mounted: list[Path] = []

    def mount(size: str = "2m") -> Path:
        where = tmp_path / f"tmpfs-{len(mounted)}"
        where.mkdir()
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("a tmpfs needs root and mount(8)")
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not permitted here: {proc.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(directory: Path) -> Path:
    """Write zeros into ``directory`` until its filesystem is full."""
    path = directory / "filler"
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    return path


def remount(where: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True, capture_output=True)


class Cell:
    """One whole-service night with the broker paused while it runs."""

    def __init__(self, broker, state_dir: Path, mock_factory):
        self.broker, self.state_dir, self.pins = broker, state_dir, mock_factory
        self.config = make_config(broker, state_dir, device_id=f"fm{uuid.uuid4().hex[:6]}",
                                  extra=NIGHT + GPIO + PROMPTS)
        self.base = self.config.base_topic
        self.starts: list[str] = []
        self.sub = Subscriber(broker.host, broker.port, topics=(f"{self.base}/#",))
        self.service = Service(self.config, RunOptions(simulate=True, speed=1e9, seed=SEED, cramps=CRAMPS,
                                                       duration_s=NIGHT_S / 2),
                               on_event=lambda s: self.starts.append(s.event_id)
                               if s.event.type == "cramp_start" else None)
        self.paused = False

    def start(self) -> None:
        self.service.start()
        assert self.service.publisher.wait_connected(20), "the service never reached the broker"
        os.kill(self.broker.proc.pid, signal.SIGSTOP)  # no PUBACK during the night: the buzzer must sound
        self.paused = True

    def run_half(self) -> None:
        self.service.run()

    def run_night(self, caplog) -> list[dict]:
        """The whole night with the fault already in place, then the checks every cell makes; the events seen."""
        self.start()
        self.run_half()
        self.run_half()
        events = self.finish()
        assert_alerted(self, events, caplog)
        return events

    def finish(self) -> list[dict]:
        """Resume the broker, wait for every cramp start on the subscriber, stop the service; the events seen."""
        self.resume()
        assert wait_until(lambda: {e["event_id"] for e in events_of(self.sub, self.base)} >= set(self.starts),
                          30), "some cramp starts never reached the subscriber"
        self.service.stop()
        return events_of(self.sub, self.base)

    def resume(self) -> None:
        if self.paused:
            os.kill(self.broker.proc.pid, signal.SIGCONT)
            self.paused = False

    def close(self) -> None:
        self.resume()
        self.sub.close()


@pytest.fixture
def cell_factory(broker, mock_factory, caplog):
    caplog.set_level(logging.INFO)
    cells: list[Cell] = []

    def make_cell(state_dir: Path) -> Cell:
        cell = Cell(broker, state_dir, mock_factory)
        cells.append(cell)
        return cell

    yield make_cell
    for cell in cells:
        try:
            cell.service.stop()
        except Exception:
            pass
        cell.close()


def assert_alerted(cell: Cell, events: list[dict], caplog) -> None:
    """Every cramp start reached the subscriber and sounded the buzzer; the night ran to its end."""
    assert len(cell.starts) >= 1, "the seeded night raised no cramp alert: the cell tests nothing"
    seen = [e["event_id"] for e in events if e["type"] == "cramp_start"]
    assert set(cell.starts) <= set(seen), (cell.starts, seen)
    local = [r for r in caplog.records if r.getMessage().startswith(LOCAL_ALERT)]
    assert len(local) == len(cell.starts), [r.getMessage() for r in local]
    assert any(state for _, state in cell.pins.pin(22).states), "the buzzer pin never went high"
    assert cell.service.core.stats.events.get("cramp_start", 0) == len(cell.starts)


def run_log(state_dir: Path, night: str, *extra: str) -> subprocess.CompletedProcess:
    """``nightcramp log --date NIGHT`` against the cell's state directory, as a user runs it."""
    cfg = state_dir.parent / f"log-{uuid.uuid4().hex[:6]}.toml"
    cfg.write_text(f'[storage]\nstate_dir = "{state_dir}"\n{NIGHT}')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "service", "log", "--config", str(cfg), "--date", night,
                           "--format", "json", *extra], capture_output=True, text=True, env=env, timeout=120)


def assert_night_readable(state_dir: Path, night: str, episode: str, *extra: str) -> None:
    proc = run_log(state_dir, night, *extra)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert episode in proc.stdout


# ---------------------------------------------------------------- the cells


def test_corrupt_record_is_set_aside_and_the_night_goes_on(tmp_path, cell_factory, caplog):
    state = tmp_path / "state"
    state.mkdir()
    night, episode = earlier_night(state)
    db = state / DB_NAME
    with open(db, "r+b") as f:  # one torn 1 KiB page in the middle of the file
        f.seek((db.stat().st_size // 1024 // 2) * 1024)
        f.write(os.urandom(1024))
    cell = cell_factory(state)
    cell.run_night(caplog)
    aside = sorted(state.glob(f"{DB_NAME}.corrupt-*"))
    aside = [p for p in aside if not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1, list(state.iterdir())
    # tonight is in the fresh record; the earlier night stays reachable in the file set aside
    store = NightStore(db, NightWindow.from_config(cell.config.night), readonly=True)
    try:
        assert len(store.night(cell.service.core.night).episodes) == len(cell.starts)
    finally:
        store.close()
    assert_night_readable(state, night, episode, "--record", str(aside[0]))


def test_outbox_damaged_in_mid_night_is_replaced(tmp_path, cell_factory, caplog):
    state = tmp_path / "state"
    state.mkdir()
    night, episode = earlier_night(state)
    cell = cell_factory(state)
    cell.start()
    cell.run_half()
    outbox = state / "outbox.sqlite3"
    # Another connection checkpoints the WAL (as `sqlite3 outbox.sqlite3` would): every page is now in the
    # main file, and the service's connection drops its page cache at its next transaction.  Then garbage over
    # pages 3 and 4 (the sequence and the first index, which every put writes; 8 KB at offset 8192 with 4 KiB
    # pages), as a dying SD card leaves it: the next write meets the damaged pages.
    other = sqlite3.connect(outbox, timeout=10.0)
    try:
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        page = other.execute("PRAGMA page_size").fetchone()[0]
    finally:
        other.close()
    size_before = outbox.stat().st_size
    assert size_before >= 4 * page, size_before
    with open(outbox, "r+b") as f:
        f.seek(2 * page)
        f.write(os.urandom(2 * page))
    cell.run_half()
    events = cell.finish()
    assert_alerted(cell, events, caplog)
    assert any(p.name.startswith("outbox.sqlite3.corrupt-") for p in state.iterdir()), list(state.iterdir())
    assert cell.service.outbox.status().set_aside >= 1
    assert_night_readable(state, night, episode)


def test_disk_full_at_start(tmpfs, cell_factory, caplog):
    state = tmpfs("1m")
    night, episode = earlier_night(state)
    fill(state)
    cell = cell_factory(state)
    cell.run_night(caplog)
    assert cell.service.store.fault.faults == 1 and cell.service.outbox.fault.faults <= 1
    assert_night_readable(state, night, episode)


def test_disk_fills_in_mid_night_and_frees_again(tmpfs, cell_factory, caplog):
    state = tmpfs("8m")
    night, episode = earlier_night(state)
    cell = cell_factory(state)
    cell.start()
    filler = fill(state)
    cell.run_half()  # the first cramp falls in this half, on a full disk
    assert cell.service.store.fault.in_fault, "the full disk was never noticed: the cell tests nothing"
    filler.unlink()
    cell.run_half()  # the disk is back: the hold is written at the next retry
    events = cell.finish()
    assert_alerted(cell, events, caplog)
    # what was held while the disk was full reached the record: tonight's episodes are all there
    store = NightStore(state, NightWindow.from_config(cell.config.night), readonly=True)
    try:
        assert len(store.night(cell.service.core.night).episodes) == len(cell.starts)
    finally:
        store.close()
    faults = [r for r in caplog.records if r.levelno >= logging.ERROR and "keeping what cannot be written" in
              r.getMessage()]
    assert 1 <= len(faults) <= 2, [r.getMessage() for r in faults]  # the record's and the outbox's, once each
    assert_night_readable(state, night, episode)


def test_read_only_state_directory(tmpfs, cell_factory, caplog):
    state = tmpfs("2m")
    night, episode = earlier_night(state)
    remount(state, "ro")
    try:
        cell = cell_factory(state)
        cell.run_night(caplog)
        assert cell.service.store.status().status == "fault"
        states = [m.json() for m in cell.sub.on(f"{cell.base}/state")]
        assert states and states[-1]["storage_ok"] is False
        assert states[-1]["storage"]["record"]["status"] == "fault"
        assert_night_readable(state, night, episode)
    finally:
        remount(state, "rw")
