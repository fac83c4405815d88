"""``nightcramp replay FILE``: the service's detector and alert policy on a recording.

It runs exactly the classes the daemon runs (:class:`service.pipeline.detect.CrampDetector`
with the configured sensitivity, :class:`service.pipeline.alerts.AlertPolicy` with the
configured prompts) and prints one JSON object per line on stdout, the replay
contract of docs/signals.md; logs go to stderr.

Samples are fed in fixed batches of sample time; the detector's output does not
depend on the batch size (it closes 0.5 s windows on the sample clock), which
tests/service/recording/test_replay.py checks against the live service's 0.2 s drains.

Night window: when the recording names its wall-clock start (``# start:``)
and a configuration file is in effect, only the samples inside the configured
night window are examined, as in the service; otherwise the whole recording
counts as night.

Detector state: a recording with a ``# detector: settled`` comment (a snippet kept
while the sleeper was settled, docs/learning.md) starts its detector settled, as the
service's was at its first sample; ``# detector: unsettled (REASON)`` or no such
comment starts it fresh (unsettled until its quiet start or ``settle_s`` of stillness).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime, timedelta
from typing import Iterator

import numpy as np

from service.pipeline.alerts import AlertPolicy
from service.config import DetectionConfig, PromptsConfig
from service.pipeline.tuning import make_detector
from service.events import Event

log = logging.getLogger(__name__)

CHUNK_S = 30.0
"""Sample time per detector feed in replay (the output is the same for any size)."""


def night_spans(start_wall: datetime, duration_s: float, window) -> list[tuple[float, float]]:
    """Spans ``[lo, hi)`` in recording seconds that lie inside ``window`` (a NightWindow)."""
    spans: list[tuple[float, float]] = []
    now = start_wall
    stop = start_wall + timedelta(seconds=duration_s)
    while now < stop:
        if window.contains(now):
            end = min(window.next_end(now), stop)
            spans.append(((now - start_wall).total_seconds(), (end - start_wall).total_seconds()))
            now = end
        else:
            now = window.next_start(now)
    return spans


def replay_events(t: np.ndarray, accel: np.ndarray, *, sensitivity: str = "normal",
                  prompts: PromptsConfig | None = None, leg: str = "leg", detection: DetectionConfig | None = None,
                  temp_t: np.ndarray | None = None, temp_c: np.ndarray | None = None,
                  spans: list[tuple[float, float]] | None = None,
                  chunk_s: float = CHUNK_S, settled_at_start: bool = False) -> Iterator[Event]:
    """The service's events for a recording's samples, in order.

    ``spans``: the parts of the recording (seconds) inside the night window;
    None means all of it.  Each span starts the detector afresh, as the service
    does when a night begins, and an episode open when a span ends is ended.
    ``detection``: the whole ``[detection]`` table (its knobs too); it overrides ``sensitivity``.
    ``settled_at_start``: the detector starts settled on the span that begins at the first sample (the service's
    detector was settled there); later spans (another night) start fresh.
    """
    prompts = prompts or PromptsConfig()
    detector = make_detector(detection or DetectionConfig(sensitivity=sensitivity), leg)
    policy = AlertPolicy(prompts, leg)
    temp_t = np.empty(0) if temp_t is None else np.asarray(temp_t)
    temp_c = np.empty(0) if temp_c is None else np.asarray(temp_c)

    def room_at(when: float):
        k = int(np.searchsorted(temp_t, when, side="right"))
        return float(temp_c[k - 1]) if k else None

    def deliver(detector_events) -> Iterator[Event]:
        for d in detector_events:
            policy.set_room_temp(room_at(d.t))
            yield from policy.feed([d])

    if t.size == 0:
        return
    for lo, hi in spans if spans is not None else [(float(t[0]), float(t[-1]) + 1.0)]:
        i0, i1 = np.searchsorted(t, [lo, hi])
        if i1 <= i0:
            continue
        detector.reset(settled=settled_at_start and i0 == 0)
        edges = np.searchsorted(t, np.arange(t[i0], t[i1 - 1], chunk_s)[1:])
        bounds = np.concatenate(([i0], edges[(edges > i0) & (edges < i1)], [i1]))
        for a, b in zip(bounds[:-1], bounds[1:]):
            yield from deliver(detector.feed(t[a:b], accel[a:b]))
            policy.set_room_temp(room_at(float(t[b - 1])))
            yield from policy.tick(float(t[b - 1]))
        yield from deliver(detector.finish())


def replay_recording(rec, config, night_window: bool = True) -> Iterator[Event]:
    """The service's events for a parsed :class:`~service.recording.format.Recording` under ``config``.

    With ``night_window`` and a recording that names its wall-clock start,
    only the configured night window is examined.  A recording that says its first sample was seen
    settled (``# detector: settled``) starts the detector settled.
    """
    spans = None
    if night_window and rec.start_wall is not None:
        from service.pipeline.nightwindow import NightWindow

        window = NightWindow.from_config(config.night)
        spans = night_spans(rec.start_wall, float(rec.t[-1]) + 1.0 if len(rec) else 0.0, window)
        log.info("night window %s covers %.0f s of the recording", window, sum(hi - lo for lo, hi in spans))
    settled = rec.settled_at_start is True
    return replay_events(rec.t, rec.accel, detection=config.detection, prompts=config.prompts,
                         leg=config.accelerometer.sensors[0].name, temp_t=rec.temp_t, temp_c=rec.temp_c,
                         spans=spans, settled_at_start=settled)


def cmd_replay(args: argparse.Namespace) -> int:
    """Print the service's events for a recording as JSON lines; exit 2 on a malformed file."""
    from service import config as cfg
    from service.recording.format import read_recording

    config_path = cfg.resolve_path(getattr(args, "config", None))
    config = cfg.load(config_path)
    started = time.perf_counter()
    rec = read_recording(args.file)
    read_s = time.perf_counter() - started
    if rec.settled_at_start is not None:  # a kept snippet: the service's detector state at its first sample
        log.info("%s", "the detector was settled at the first sample: replaying from settled" if rec.settled_at_start
                 else f"the detector was not settled at the first sample ({rec.unsettled_reason or 'no reason given'}):"
                      " replaying from a fresh detector")
    out = sys.stdout
    n_start = 0
    # the night window applies only when a configuration says where the night is
    for event in replay_recording(rec, config, night_window=config_path is not None):
        n_start += event.type == "cramp_start"
        out.write(json.dumps(event.to_json_dict()) + "\n")
    out.flush()
    took = time.perf_counter() - started
    log.info("replayed %d samples (%.2f h) in %.2f s (read %.2f s, %.0fx real time): %d episode(s)",
             len(rec), rec.duration_s / 3600.0, took, read_s,
             rec.duration_s / took if took > 0 else float("inf"), n_start)
    return 0
