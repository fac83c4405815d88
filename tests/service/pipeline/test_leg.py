"""One leg's pipeline fed drain-sized batches of an independent synthetic night (support/synth.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from service import config as cfg
from service import events as ev
from service.pipeline.leg import DETECT_BATCH_S, LegOutput, LegPipeline, SampleBuffer
from support.synth import Scene

CRAMP_AT, CRAMP_S = 60.0, 40.0
DRAIN_S = 0.5


def leg() -> LegPipeline:
    # the scenes lie still from the start and the cramp begins 60 s in: 40 s of stillness settles the
    # sleeper here (the default, five minutes, is tested in test_settle.py)
    config = cfg.Config()
    return LegPipeline("left", replace(config.detection, settle_s=40.0), config.prompts)


def drains(t: np.ndarray, a: np.ndarray, every_s: float = DRAIN_S):
    """(t, accel_g) in FIFO-drain-sized pieces, as the sampler delivers them."""
    edges = np.arange(t[0], t[-1] + every_s, every_s)
    for lo, hi in zip(edges[:-1], edges[1:]):
        keep = (t >= lo) & (t < hi)
        if keep.any():
            yield t[keep], a[keep]


def feed_all(pipeline: LegPipeline, t, a) -> LegOutput:
    out = LegOutput()
    for tt, aa in drains(t, a):
        out.add(pipeline.feed(tt, aa))
    return out


def test_a_cramp_gives_an_alert_prompts_and_an_end_and_every_minute_is_summarised():
    scene = Scene(240.0, seed=4)
    scene.cramp(CRAMP_AT, CRAMP_S)
    t, a = scene.sample(rate_hz=50.0)
    pipeline = leg()
    out = feed_all(pipeline, t, a).add(pipeline.close_night())
    types = [e.type for e in out.events]
    assert types.count(ev.CRAMP_START) == 1 and types.count(ev.CRAMP_END) == 1
    start = next(e for e in out.events if e.type == ev.CRAMP_START)
    assert CRAMP_AT - 2.0 <= start.t <= CRAMP_AT + 20.0  # the scoring rule of docs/signals.md
    assert all(e.leg == "left" for e in out.events)
    assert [m.t_start for m in out.minutes] == [0.0, 60.0, 120.0, 180.0]
    assert not pipeline.alerting and pipeline.episode_id is None


def test_the_detector_is_fed_every_two_seconds_of_signal_not_every_drain():
    pipeline = leg()
    t = np.arange(0.0, 1.0, 0.02)  # one default 1 s drain at 50 Hz: 50 samples, 1 s of signal
    a = np.tile([0.0, 0.0, 1.0], (t.size, 1))
    pipeline.feed(t, a)
    assert pipeline.to_detector.span_s() == pytest.approx(1.0)  # one drain: wait for the next
    pipeline.feed(t + 1.0, a)
    assert pipeline.to_detector.span_s() == 0.0  # two seconds of signal were handed on at once
    assert DETECT_BATCH_S == 2.0


def test_samples_before_the_window_opened_are_dropped():
    pipeline = leg()
    t = np.arange(0.0, 0.5, 0.02)
    pipeline.feed(t, np.tile([0.0, 0.0, 1.0], (t.size, 1)))
    pipeline.open_night()
    assert pipeline.to_detector.take() is None


def test_a_stop_mid_cramp_ends_the_episode():
    scene = Scene(90.0, seed=4)
    scene.cramp(CRAMP_AT, CRAMP_S)
    t, a = scene.sample(rate_hz=50.0)
    pipeline = leg()
    out = feed_all(pipeline, t, a)
    assert pipeline.alerting
    stopped = pipeline.stop()
    assert [e.type for e in stopped.events][-1] == ev.CRAMP_END
    assert stopped.minutes  # the minute in progress is completed
    assert not pipeline.alerting and ev.CRAMP_START in [e.type for e in out.events]


def test_sensor_state_changes_are_reported_once():
    pipeline = leg()
    assert pipeline.set_sensor_ok(True) is False
    assert pipeline.set_sensor_ok(False) is True
    assert pipeline.set_sensor_ok(False) is False and not pipeline.sensor_ok


def test_sample_buffer_joins_batches_in_order():
    buf = SampleBuffer()
    assert buf.take() is None and buf.span_s() == 0.0
    buf.add(np.array([0.0, 0.5]), np.zeros((2, 3)))
    buf.add(np.array([1.0, 1.5]), np.ones((2, 3)))
    assert buf.span_s() == 2.0  # four samples 0.5 s apart cover 2 s of signal
    t, a = buf.take()
    assert list(t) == [0.0, 0.5, 1.0, 1.5] and a.shape == (4, 3) and a[2, 0] == 1.0
    assert buf.take() is None
