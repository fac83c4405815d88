"""The simulator's look-alike classes (service/sim/lookalikes.py, calibrated on real recordings) x seeds:
none may raise an alert.

The classes that come at the start of a night (handling the sensor, settling in) start right after the
service starts, as they do in the simulator.  The others come out of sleep: they get two minutes of quiet
first, so the sleeper is settled (the quiet start) and the test is not passed by the settle rule alone.

Known failures (docs/detection.md, "what remains"): the detector alerts on these clips because their
first 11 s are as continuous as a cramp's; they are marked strict xfail so that a fix shows (XPASS fails
the run) and nothing new slips in.
"""

from __future__ import annotations

import pytest

from service.config import Config
from service.recording.replay import replay_recording
from service.sim.lookalikes import LOOKALIKE_CLASSES
from service.sim.scenarios import lookalike_night

SEEDS = range(6)
AT_START = ("handling", "settling")
KNOWN_ALERTS = {("restless", 1), ("restless", 2), ("restless", 3), ("restless", 4), ("restless", 5),
                ("adjust", 4), ("getup", 2)}
"""(class, seed) clips the detector of this commit alerts on (measured; see the module docstring)."""


def cases():
    for kind in LOOKALIKE_CLASSES:
        for seed in SEEDS:
            marks = ([pytest.mark.xfail(strict=True, reason="continuous for the first 11 s: alerts (known)")]
                     if (kind, seed) in KNOWN_ALERTS else [])
            yield pytest.param(kind, seed, marks=marks, id=f"{kind}-{seed}")


@pytest.mark.parametrize("kind,seed", list(cases()))
def test_lookalike_raises_no_alert(kind, seed):
    rec, _labels = lookalike_night(kind, seed, rate_hz=50, sensor="mpu6050", range_g=4,
                                   lead_s=None if kind in AT_START else 120.0)
    alerts = [round(e.t, 1) for e in replay_recording(rec, Config()) if e.type == "cramp_start"]
    assert alerts == [], f"{kind} seed {seed}: alert(s) at {alerts} s"
