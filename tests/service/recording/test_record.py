"""``nightcramp record``: what the sensor delivers, in the recording format, gaps as comments."""

from __future__ import annotations

import re

import numpy as np

from firmware.clock import ManualClock
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
    assert 120 <= len(rec) <= 150 and rec.t[-1] <= 1.5  # 100 Hz for 1.5 s
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
    assert 19.5 <= t0 <= 20.5 and 45.0 <= t1 <= 46.5
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
