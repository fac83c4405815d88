"""``nightcramp record -o FILE``: write what the sensor delivers in the recording format.

So users can capture their own nights (or a test of the strap) and replay
them through the detector.  It runs the same acquisition as the service (the
FIFO drivers and :class:`firmware.acquisition.Sampler`), so the file holds
exactly what the detector would see: timestamps on the sensor's clock, gaps
as ``# gap: t0 t1 reason`` comments, sensor faults as comments too, and the
room temperature (when a thermometer answers) on the row after each reading.

Ending early keeps what was recorded: Ctrl-C, and SIGTERM or SIGHUP (what
systemd and ``timeout`` send) end the recording cleanly, the gzip stream is
closed and the summary printed.  The file is flushed every
:data:`FLUSH_INTERVAL_S` (a gzip sync point), so even a SIGKILL or a power
cut leaves a file whose recorded part reads back (``replay`` reads a
truncated gzip up to its last complete line and says where it ends).

Exit codes: 0 recorded (also when ended early by a signal), 1 the sensor or
the disk failed, 2 a bad option or an output path that cannot be written.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from firmware import __version__
from firmware.errors import NightcrampError
from firmware.clock import Clock, SystemClock
from firmware.samples import AccelBatch, Gap, SensorStatus, TempReading
from service import config as cfg
from service.app.hardware import open_hardware
from service.recording.format import RecordingWriter
from service.sim.world import SimOptions

log = logging.getLogger(__name__)

QUEUE_POLL_S = 0.25
FLUSH_INTERVAL_S = 2.0
"""Seconds between gzip sync flushes: at most this much is lost to a SIGKILL (a sync point costs a few bytes)."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class OutputError(NightcrampError, ValueError):
    """The recording cannot be written where ``-o`` says (a usage error: exit 2)."""


class WriteError(NightcrampError, OSError):
    """Writing the recording failed part-way (disk full, I/O error): what was flushed before stays readable."""


def output_problem(output: str) -> str | None:
    """Why ``output`` cannot be written, checked before any hardware is opened (None: it looks writable)."""
    path = Path(output)
    if path.is_dir():
        return f"{output} is a directory; give a file name such as {path / 'night.csv.gz'}"
    parent = path.parent
    if not parent.is_dir():
        return f"cannot write {output}: the directory {parent} does not exist"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot write {output}: no write access to {parent}"
    return None


@contextmanager
def _stop_on_signals(stop: threading.Event, caught: list) -> Iterator[None]:
    """While recording, SIGTERM and SIGHUP set ``stop`` (and note the signal) instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def handler(signum, frame):
        caught.append(signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


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
    summary = {"rows": 0, "gaps": 0, "gap_s": 0.0, "faults": 0, "temps": 0, "output": output,
               "planned_s": float(seconds), "stopped_by": None, "write_error": None}
    stop = threading.Event()
    caught: list[str] = []
    with open_hardware(config, SimOptions(seed=0, cramps=0) if simulate else None, items.put, clock=clock,
                       bus=bus, legs=[leg.name], require=True) as hardware, _stop_on_signals(stop, caught):
        sampler = hardware.samplers[0]
        driver = sampler.driver
        t_origin = clock.monotonic()
        try:
            writer = RecordingWriter(output, start_wall=clock.wall().astimezone())
        except OSError as exc:
            raise OutputError(f"cannot write {output}: {exc.strerror or exc}") from None
        recorded_s = 0.0
        try:
            writer.comment(f"recorded by nightcramp {__version__}: {driver.model} at {driver.address:#04x} "
                           f"on {hardware.bus_label}, {accel.rate_hz} Hz, +-{accel.range_g} g, leg {leg.name}"
                           + (", emulated hardware" if simulate else ""))
            writer.flush()  # the file holds its header at once
            hardware.start()
            last_flush = clock.monotonic()
            try:
                deadline = t_origin + seconds
                next_progress = t_origin + PROGRESS_EVERY_S
                while clock.monotonic() < deadline and not stop.is_set():
                    _write_items(writer, items, t_origin, seconds, summary, timeout=QUEUE_POLL_S)
                    if clock.monotonic() - last_flush >= FLUSH_INTERVAL_S:
                        writer.flush()
                        last_flush = clock.monotonic()
                    if progress is not None and clock.monotonic() >= next_progress:
                        progress(min(clock.monotonic() - t_origin, seconds), summary)
                        next_progress += PROGRESS_EVERY_S
            except KeyboardInterrupt:
                caught.append("SIGINT")
            finally:
                recorded_s = min(float(seconds), max(0.0, clock.monotonic() - t_origin))
                hardware.stop()
            _write_items(writer, items, t_origin, seconds, summary, timeout=0)
            writer.close()
        except OSError as exc:
            summary["write_error"] = exc.strerror or str(exc)
            _abandon(writer)
        if caught:
            summary["stopped_by"] = caught[0]
            log.warning("%s: ended after %.1f of %.0f s, keeping what was recorded", caught[0], recorded_s, seconds)
        summary["recorded_s"] = recorded_s
        # The rate over the samples written (first to last), not over the time asked for or the start-up.
        span = summary.get("t_last", 0.0) - summary.get("t_first", 0.0)
        summary["samples_per_s"] = (summary["rows"] - 1) / span if span > 0 else 0.0
        summary["stats"] = sampler.stats
    if summary["write_error"]:
        raise WriteError(f"writing {output} failed after {summary['rows']} samples: {summary['write_error']}; "
                         f"what was flushed before (up to {FLUSH_INTERVAL_S:.0f} s earlier) is readable")
    return summary


def _abandon(writer: RecordingWriter) -> None:
    """Close a writer whose file refuses writes, without raising again (its data was flushed as far as it went)."""
    try:
        writer.close()
    except OSError:
        log.debug("closing %s after a write error failed too", writer.path, exc_info=True)


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
            kept = t[keep]
            writer.write(kept, item.accel_g[keep])
            summary["rows"] += int(kept.shape[0])
            if kept.shape[0]:
                summary.setdefault("t_first", float(kept[0]))
                summary["t_last"] = float(kept[-1])
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
    """Exit 0 when recorded (also when a signal ended it early), 1 on a sensor or disk failure, 2 on a bad path."""
    problem = output_problem(args.output)
    if problem:
        print(f"record: {problem}", file=sys.stderr)
        return 2
    config = cfg.load(args.config)

    def show(done_s: float, summary: dict) -> None:
        print(f"recording: {done_s:.0f} s of {args.seconds:g} s, {summary['rows']} samples, "
              f"{summary['gaps']} gaps", file=sys.stderr, flush=True)

    # A line every 10 s on a terminal; under systemd or in a pipe only the summary at the end.
    on_terminal = sys.stderr.isatty()
    if on_terminal:
        print(f"recording {args.seconds:g} s into {args.output} (Ctrl-C stops early and keeps what was recorded)",
              file=sys.stderr, flush=True)
    try:
        summary = record(config, args.output, args.seconds, simulate=args.simulate,
                         progress=show if on_terminal else None)
    except OutputError as exc:
        print(f"record: {exc}", file=sys.stderr)
        return 2
    ended = f", ended early by {summary['stopped_by']}" if summary["stopped_by"] else ""
    print(f"{summary['output']}: {summary['rows']} samples in {summary['recorded_s']:.1f} s "
          f"({summary['samples_per_s']:.1f}/s{ended}), "
          f"{summary['gaps']} gaps ({summary['gap_s']:.2f} s), {summary['faults']} sensor faults, "
          f"{summary['temps']} temperature readings", file=sys.stderr)
    return 0
