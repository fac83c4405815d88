"""``nightcramp record``: what the sensor delivers, in the recording format, gaps as comments."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest

from firmware.clock import ManualClock, SystemClock
from firmware.emulated.bme280 import EmulatedBME280
from firmware.emulated.rig import ChipSpec, build_rig
from service import config as cfg
from service.cli import main
from service.recording.capture import record
from service.recording.format import read_recording


class ScriptedClock(ManualClock):
    """A ManualClock that runs scripted events (cable pulled, put back) when time passes them."""

    def __init__(self, events):
        super().__init__()
        self.events = sorted(events, key=lambda e: e[0])

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        while self.events and self.events[0][0] <= self.monotonic():
            self.events.pop(0)[1]()


def test_record_simulate_writes_a_replayable_recording(tmp_path, capsys):
    out = tmp_path / "night.csv"
    conf = tmp_path / "c.toml"
    conf.write_text("[accelerometer]\nrate_hz = 100\nchip = \"lis3dh\"\n")
    assert main(["record", "-o", str(out), "--seconds", "1.5", "--simulate", "--config", str(conf)]) == 0
    rec = read_recording(out)
    assert rec.start_wall is not None
    # 100 Hz for 1.5 s: 150, give or take the one sample a period estimate still settling from its first
    # 40 samples (1 % off, well inside the chips' 10 % rate tolerance) fits into 1.5 s of timestamps
    assert 120 <= len(rec) <= 151 and rec.t[-1] <= 1.5
    assert np.all(np.diff(rec.t) > 0) and rec.t[0] > 0
    np.testing.assert_allclose(np.diff(rec.t), 0.01, atol=0.002)
    np.testing.assert_allclose(np.linalg.norm(rec.accel, axis=1), 1.0, atol=0.02)
    assert any("LIS3DH" in c and "100 Hz" in c for c in rec.comments)
    assert "samples" in capsys.readouterr().err


def test_gaps_and_faults_are_comments_and_never_stitched(tmp_path):
    clock = ScriptedClock([])
    bus = build_rig(clock, [ChipSpec("mpu6050", 0x68)])
    chip = bus.devices[0x68]

    def replug():
        chip.power_on_reset()
        bus.attach(0x68, chip)

    clock.events = [(20.0, lambda: bus.detach(0x68)), (45.0, replug)]
    out = tmp_path / "unplugged.csv.gz"
    summary = record(cfg.Config(), str(out), 60.0, clock=clock, bus=bus)
    rec = read_recording(out)
    gaps = [c for c in rec.comments if c.startswith("gap:")]
    assert len(gaps) == 1 and summary["gaps"] == 1
    t0, t1 = map(float, re.match(r"gap: (\S+) (\S+) ", gaps[0]).groups())
    drain_s = cfg.Config().accelerometer.drain_interval_s  # what was still in the FIFO at the unplug is lost
    assert 20.0 - drain_s - 0.1 <= t0 <= 20.5 and 45.0 <= t1 <= 46.5
    assert not np.any((rec.t > t0) & (rec.t < t1))  # no rows inside the gap
    assert rec.t[rec.t >= t1][0] - rec.t[rec.t <= t0][-1] > 24.0
    faults = [c for c in rec.comments if c.startswith("sensor ")]
    assert len(faults) == 2 and " fault at " in faults[0] and " ok at " in faults[1]


def test_no_i2c_bus_is_a_clear_failure(tmp_path, capsys):
    conf = tmp_path / "c.toml"
    conf.write_text("[accelerometer]\ni2c_bus = 97\n")
    assert main(["record", "-o", str(tmp_path / "x.csv"), "--seconds", "1", "--config", str(conf)]) == 1
    err = capsys.readouterr().err
    assert "/dev/i2c-97" in err and "raspi-config" in err and "Traceback" not in err


class CrossingBus:
    """The emulated wire, noting every transaction another thread entered before the first one ended.

    smbus2's ``SMBus`` selects the chip and transfers in two ioctls, so two
    threads inside one at once is the crossed transfer ``LockedBus`` prevents.
    The thermometer's transactions are slow here, so a sampler drain (every
    50 ms) tries to come in while one is under way.
    """

    THERMOMETER_HOLD_S = 0.1

    def __init__(self, wire):
        self.wire = wire
        self.inside: set[str] = set()
        self.users: set[str] = set()
        self.crossed: list[tuple[str, set[str]]] = []
        self._lock = threading.Lock()

    def _transaction(self, method: str, *args):
        me = threading.current_thread().name
        with self._lock:
            if self.inside:
                self.crossed.append((me, set(self.inside)))
            self.inside.add(me)
            self.users.add(me)
        try:
            if me == "thermometer":
                time.sleep(self.THERMOMETER_HOLD_S)
            return getattr(self.wire, method)(*args)
        finally:
            with self._lock:
                self.inside.discard(me)

    def read_byte_data(self, *args):
        return self._transaction("read_byte_data", *args)

    def write_byte_data(self, *args):
        return self._transaction("write_byte_data", *args)

    def read_i2c_block_data(self, *args):
        return self._transaction("read_i2c_block_data", *args)

    def write_i2c_block_data(self, *args):
        return self._transaction("write_i2c_block_data", *args)

    def i2c_rdwr(self, *args):
        return self._transaction("i2c_rdwr", *args)

    def close(self):
        self.wire.close()


def test_sampler_and_thermometer_threads_never_cross_on_the_bus(tmp_path):
    """The leg's sampler and the room thermometer read on threads of their own: one transaction at a time."""
    wire = build_rig(SystemClock(), [ChipSpec("mpu6050", 0x68)])
    wire.attach(0x76, EmulatedBME280(SystemClock(), lambda t: 19.5))
    bus = CrossingBus(wire)
    config = cfg.parse("[accelerometer]\ndrain_interval_s = 0.05\n")
    summary = record(config, str(tmp_path / "strap.csv"), 2.0, bus=bus)
    assert {"sampler-leg", "thermometer"} <= bus.users  # both threads used the bus
    assert summary["temps"] >= 1 and summary["rows"] > 0
    assert bus.crossed == []


def _start_recording(path, seconds=120):
    import os
    import subprocess
    import sys

    from support import ROOT

    env = {k: v for k, v in os.environ.items() if k != "NIGHTCRAMP_CONFIG"}
    return subprocess.Popen([sys.executable, "-m", "service", "record", "--simulate", "--seconds", str(seconds),
                             "-o", str(path)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for_rows(path, rows: int, proc) -> None:
    """Until the file on disk (as a reader sees it mid-write) holds ``rows`` samples; fails if the recorder dies."""
    from firmware.errors import RecordingError

    for _ in range(1200):
        if proc.poll() is not None:
            raise AssertionError(f"record ended early: {proc.returncode} {proc.stderr.read()}")
        try:
            if path.exists() and len(read_recording(path)) >= rows:
                return
        except RecordingError:
            pass  # not even the header flushed yet
        time.sleep(0.1)
    raise AssertionError(f"{path} never reached {rows} rows")


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_record_ends_cleanly_on_the_signals_systemd_and_timeout_send(tmp_path, sig):
    import signal

    out = tmp_path / "night.csv.gz"
    proc = _start_recording(out)
    _wait_for_rows(out, 100, proc)  # flushed while recording: a gzip sync point every few seconds
    proc.send_signal(getattr(signal, sig))
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    rec = read_recording(out)
    assert rec.truncated is None  # the gzip stream was closed: the file is whole
    summary = re.search(r"night.csv.gz: (\d+) samples in ([\d.]+) s \(([\d.]+)/s, ended early by (\w+)\)", stderr)
    assert summary, stderr
    rows, elapsed, rate, by = int(summary[1]), float(summary[2]), float(summary[3]), summary[4]
    assert rows == len(rec) and by == sig and elapsed < 120
    assert 47.5 <= rate <= 52.5  # the 50 Hz sampled, not rows over the 120 s asked for
    assert "Traceback" not in stderr


def test_a_killed_recording_keeps_what_was_flushed(tmp_path):
    import signal

    out = tmp_path / "killed.csv.gz"
    proc = _start_recording(out)
    _wait_for_rows(out, 150, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    rec = read_recording(out)
    assert len(rec) >= 150 and rec.truncated is not None
    np.testing.assert_allclose(np.diff(rec.t), 0.02, atol=0.005)


@pytest.mark.parametrize("output, message", [
    ("/nonexistent/r.csv", "cannot write /nonexistent/r.csv: the directory /nonexistent does not exist"),
    (".", "is a directory"),
])
def test_record_to_a_path_that_cannot_be_written_is_bad_usage(tmp_path, capsys, output, message):
    assert main(["record", "-o", output, "--seconds", "1", "--simulate"]) == 2
    err = capsys.readouterr().err
    assert message in err and "internal error" not in err and "Traceback" not in err


def test_a_disk_that_fills_up_ends_the_recording_with_a_message_and_a_readable_file(tmp_path):
    import subprocess
    import sys

    from support import ROOT

    disk = tmp_path / "small"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(disk)], capture_output=True,
                             text=True, timeout=30)
    if mounted.returncode != 0:
        pytest.fail(f"cannot set up a small filesystem to fill: {mounted.stderr.strip()}")
    try:
        out = disk / "night.csv"
        done = subprocess.run([sys.executable, "-m", "service", "record", "--simulate", "--seconds", "120",
                               "-o", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=180)
        assert done.returncode == 1, done.stderr
        assert "No space left on device" in done.stderr and "is readable" in done.stderr
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr
        rec = read_recording(out)
        assert len(rec) > 100
        # The disk almost always fills up inside a line: that line is dropped, the rest is whole.
        assert rec.truncated is not None or out.read_bytes().endswith(b"\n")
    finally:
        subprocess.run(["umount", str(disk)], check=True, timeout=30)
