"""A core on a ManualClock inside its night window, with a snippet writer run inline, and clips to feed it."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from firmware.clock import ManualClock
from firmware.samples import AccelBatch
from service import config as cfg
from service.app.core import Core
from service.learning.writer import SnippetWriter
from service.night.store import NightStore
from service.pipeline.nightwindow import NightWindow
from service.sim.scenarios import scenario

WALL_START = datetime(2026, 11, 24, 23, 0, tzinfo=timezone.utc)  # inside 22:00-07:30 UTC


def learning_config(state_dir, extra: str = "") -> cfg.Config:
    return cfg.parse(f'[storage]\nstate_dir = "{state_dir}"\n[night]\ntimezone = "UTC"\n{extra}')


class Rig:
    """Core + writer + clock; :meth:`feed` plays samples as 1 s drains and runs the writer's jobs."""

    def __init__(self, config: cfg.Config, publisher=None):
        self.config = config
        self.clock = ManualClock(wall_start=WALL_START, t0=0.0)
        self.store = NightStore(config.state_dir, window=NightWindow.from_config(config.night), clock=self.clock)
        self.store.start_session()
        self.writer = SnippetWriter(config)
        self.core = Core(config, self.clock, self.store, publisher=publisher, snippet_sink=self.writer.submit)

    def feed(self, t: np.ndarray, accel: np.ndarray, leg: str = "leg", drain_s: float = 1.0) -> None:
        edges = np.searchsorted(t, np.arange(t[0], t[-1] + drain_s, drain_s))
        for lo, hi in zip(edges[:-1], edges[1:]):
            if hi <= lo:
                continue
            self.clock.advance(max(0.0, float(t[hi - 1]) - self.clock.monotonic()))
            self.core.handle(AccelBatch(leg, t[lo:hi], accel[lo:hi]))
            self.core.periodic()
            self.writer.run_pending()

    def quiet(self, seconds: float, rate_hz: float = 50.0, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Still-leg samples from now on (MPU-6050-like noise)."""
        rng = np.random.default_rng(seed)
        t0 = self.clock.monotonic() + 1.0 / rate_hz
        t = t0 + np.arange(int(seconds * rate_hz)) / rate_hz
        return t, np.array([0.05, 0.1, 0.99]) + rng.normal(0, 0.004, (t.size, 3))

    def close(self) -> None:
        self.core.close()
        self.writer.run_pending()
        self.store.close("stopped")


def cramp_clip(seed: int = 3, lead_s: float = 150.0, tail_s: float = 90.0, duration_s: float | None = 60.0,
               offset: float = 0.0):
    """A simulated cramp out of quiet lying (seeds below 100: unit tests), shifted by ``offset`` s."""
    t, a, labels = scenario("cramp", seed=seed, rate_hz=50.0, lead_s=lead_s, tail_s=tail_s, duration_s=duration_s)
    return t + offset, a, [(on + offset, end + offset) for on, end in labels]


@pytest.fixture
def rig(state_dir):
    r = Rig(learning_config(state_dir))
    yield r
    r.store.close("stopped")
