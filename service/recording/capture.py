"""``nightcramp record -o FILE``: write what the sensor delivers in the recording format.

So users can capture their own nights (or a test of the strap) and replay
them through the detector.  It runs the same acquisition as the service (the
FIFO drivers and :class:`firmware.acquisition.Sampler`), so the file holds
exactly what the detector would see: timestamps on the sensor's clock, gaps
as ``# gap: t0 t1 reason`` comments, sensor faults as comments too, and the
room temperature (when a thermometer answers) on the row after each reading.
Ctrl-C ends the recording early and keeps what was recorded.
"""

from __future__ import annotations

import argparse
import logging
import queue
import sys
from typing import Callable

from firmware import __version__
from firmware.clock import Clock, SystemClock
from firmware.samples import AccelBatch, Gap, SensorStatus, TempReading
from service import config as cfg
from service.app.hardware import open_hardware
from service.recording.format import RecordingWriter
from service.sim.world import SimOptions

log = logging.getLogger(__name__)

QUEUE_POLL_S = 0.25


PROGRESS_EVERY_S = 10.0


def record(config: cfg.Config, output: str, seconds: float, *, simulate: bool = False,
           clock: Clock | None = None, bus=None, progress: Callable[[float, dict], None] | None = None) -> dict:
    """Record ``seconds`` of the first configured leg into ``output``; returns a summary dict.

    The hardware comes from :func:`service.app.hardware.open_hardware`: the
    simulated world (no cramps, on the real clock) with ``simulate``, else
    ``/dev/i2c-N``; ``bus`` is an already built bus (tests).  ``progress`` is
    called every :data:`PROGRESS_EVERY_S` seconds with the seconds recorded so
    far and the summary (``record`` on a terminal prints a line from it).
    """
    clock = clock or SystemClock()
    accel = config.accelerometer
    leg = accel.sensors[0]
    if len(accel.sensors) > 1:
        log.warning("two legs configured: recording the first one (%s)", leg.name)
    items: queue.Queue = queue.Queue()
    summary = {"rows": 0, "gaps": 0, "gap_s": 0.0, "faults": 0, "temps": 0, "output": output}
    with open_hardware(config, SimOptions(seed=0, cramps=0) if simulate else None, items.put, clock=clock,
                       bus=bus, legs=[leg.name], require=True) as hardware:
        sampler = hardware.samplers[0]
        driver = sampler.driver
        t_origin = clock.monotonic()
        with RecordingWriter(output, start_wall=clock.wall().astimezone()) as writer:
            writer.comment(f"recorded by nightcramp {__version__}: {driver.model} at {driver.address:#04x} "
                           f"on {hardware.bus_label}, {accel.rate_hz} Hz, +-{accel.range_g} g, leg {leg.name}"
                           + (", emulated hardware" if simulate else ""))
            hardware.start()
            try:
                deadline = t_origin + seconds
                next_progress = t_origin + PROGRESS_EVERY_S
                while clock.monotonic() < deadline:
                    _write_items(writer, items, t_origin, seconds, summary, timeout=QUEUE_POLL_S)
                    if progress is not None and clock.monotonic() >= next_progress:
                        progress(min(clock.monotonic() - t_origin, seconds), summary)
                        next_progress += PROGRESS_EVERY_S
            except KeyboardInterrupt:
                log.warning("interrupted: keeping what was recorded")
            finally:
                hardware.stop()
                _write_items(writer, items, t_origin, seconds, summary, timeout=0)
            summary["samples_per_s"] = summary["rows"] / seconds
            summary["stats"] = sampler.stats
    return summary


def _write_items(writer: RecordingWriter, items: queue.Queue, t_origin: float, seconds: float, summary: dict,
                 timeout: float) -> None:
    """Move everything queued into the file (waiting up to ``timeout`` for the first item).

    Only what falls within ``0 < t <= seconds`` is kept: the recording is as long as asked.
    """
    block = timeout > 0
    while True:
        try:
            item = items.get(block, timeout) if block else items.get_nowait()
        except queue.Empty:
            return
        block = False
        if isinstance(item, AccelBatch):
            t = item.t_mono - t_origin
            keep = (t > 0) & (t <= seconds)  # samples converted before the start belong to no one
            writer.write(t[keep], item.accel_g[keep])
            summary["rows"] += int(keep.sum())
        elif isinstance(item, Gap):
            if item.t_start - t_origin > seconds:
                continue
            writer.comment(f"gap: {item.t_start - t_origin:.4f} {item.t_end - t_origin:.4f} {item.reason}")
            summary["gaps"] += 1
            summary["gap_s"] += item.duration_s
        elif isinstance(item, SensorStatus):
            state = "ok" if item.ok else "fault"
            writer.comment(f"sensor {item.leg} {state} at {item.t_mono - t_origin:.4f}: {item.reason}")
            summary["faults"] += 0 if item.ok else 1
        elif isinstance(item, TempReading):
            writer.add_temp(item.temp_c)
            summary["temps"] += 1


def cmd_record(args: argparse.Namespace) -> int:
    config = cfg.load(args.config)

    def show(done_s: float, summary: dict) -> None:
        print(f"recording: {done_s:.0f} s of {args.seconds:g} s, {summary['rows']} samples, "
              f"{summary['gaps']} gaps", file=sys.stderr, flush=True)

    # A line every 10 s on a terminal; under systemd or in a pipe only the summary at the end.
    on_terminal = sys.stderr.isatty()
    if on_terminal:
        print(f"recording {args.seconds:g} s into {args.output} (Ctrl-C stops early and keeps what was recorded)",
              file=sys.stderr, flush=True)
    summary = record(config, args.output, args.seconds, simulate=args.simulate, progress=show if on_terminal else None)
    print(f"{summary['output']}: {summary['rows']} samples ({summary['samples_per_s']:.1f}/s), "
          f"{summary['gaps']} gaps ({summary['gap_s']:.2f} s), {summary['faults']} sensor faults, "
          f"{summary['temps']} temperature readings", file=sys.stderr)
    return 0
