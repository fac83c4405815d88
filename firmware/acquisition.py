"""Acquisition: one thread per leg drains its accelerometer's FIFO and timestamps every sample.

The chip clocks the samples; the :class:`Sampler` only empties the FIFO every
``drain_interval_s`` and gives each sample the time ``anchor + index * period``
on the monotonic clock.  The period starts at 1/ODR and is then measured
against the monotonic clock over a long baseline (a chip's oscillator is off
by up to a few percent), and the phase is pulled gently towards the clock
(with a time constant of about a second, whatever the drain interval), so
timestamps are continuous across drains, follow the chip's real rate and never
go backwards.

Whatever goes wrong (bus errors, a chip that browned out and reset, a full
FIFO, a stuck sensor) the loop logs it and carries on: lost spans become
:class:`~firmware.samples.Gap` objects (never stitched over), and the health
of the sensor goes out as :class:`~firmware.samples.SensorStatus` (``ok``
False is the ``sensor_fault`` state).  Everything goes to ``sink``, a callable
that must not block (the daemon passes ``queue.put_nowait``-like callables).
"""

from __future__ import annotations

import errno
import logging
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from firmware.accelerometer import FifoAccelerometer
from firmware.bus import TRANSIENT_ERRNOS
from firmware.clock import Clock
from firmware.errors import NightcrampError, SensorAbsentError
from firmware.samples import AccelBatch, Gap, SensorStatus

log = logging.getLogger(__name__)

Sink = Callable[[object], None]

FIFO_HEADROOM_FRACTION = 0.5  # drain before the FIFO is half full, whatever the configured interval
REINIT_AFTER_ERRORS = 10  # consecutive failed cycles before re-initialising even if verify() passes
BACKOFF_FIRST_S = 0.01
BACKOFF_MAX_S = 1.0
PHASE_GAIN = 0.2  # fraction of the phase error corrected per PHASE_GAIN_INTERVAL_S of drains (the rest is jitter)
PHASE_GAIN_INTERVAL_S = 0.2  # a longer drain interval corrects more per drain: the same time constant (~1 s)
PERIOD_BASELINE_MIN_S = 2.0  # measure the chip's real period once the baseline is this long (and ever better)
PERIOD_FIRST_MIN_SAMPLES = 40
"""The very first measurement is taken as soon as the baseline holds this many samples (one drain at
1 s and 50 Hz): it is within 1/40 = 2.5 % at once, and until it exists the nominal period makes a chip
that runs a few percent slow lag by that much per sample, which at a long drain interval crosses
LOSS_THRESHOLD_PERIODS within two drains and would be reported as samples lost."""
PERIOD_BASELINE_RESTART_S = 600.0  # then restart the baseline now and then, to follow thermal drift
PERIOD_TOLERANCE = 0.1  # the measured period stays within 10 % of nominal (ODR tolerances of cheap chips)
LOSS_THRESHOLD_PERIODS = 2.5  # unexplained lag beyond this many periods means samples were lost
IDLE_SUSPECT_S = 0.5  # no samples at all for this long, and for more than one drain: check the chip
IDLE_SUSPECT_PERIODS = 3  # ... and for this many sample periods beyond one drain interval (a short interval
# at a low rate legitimately finds the FIFO empty now and then; a long one never does)


@dataclass
class SamplerStats:
    """Counters for the benchmark, the log and ``doctor``."""

    drains: int = 0
    samples: int = 0
    gaps: int = 0
    gap_s: float = 0.0
    errors: int = 0
    reinits: int = 0
    resets_detected: int = 0
    overflows: int = 0
    transactions: int = 0
    passes: int = 0  # every step, whatever it did: what the watchdog checks moves


class Sampler:
    """Drain one leg's accelerometer on its own thread and hand batches, gaps and status to ``sink``.

    ``driver`` is an unstarted :class:`~firmware.accelerometer.FifoAccelerometer`
    (its ``start()`` is called here, and again after a reset).  Use ``start()``/
    ``stop()`` or a ``with`` block for the thread, or call :meth:`step`
    yourself with a stepped clock (tests, benchmarks).
    """

    def __init__(
        self,
        driver: FifoAccelerometer,
        sink: Sink,
        clock: Clock,
        *,
        leg: str = "leg",
        drain_interval_s: float = 0.2,
        fault_after_s: float = 10.0,
        stuck_after_s: float = 60.0,
        verify_interval_s: float = 30.0,
    ):
        self.driver = driver
        self.sink = sink
        self.clock = clock
        self.leg = leg
        self.drain_interval_s = float(drain_interval_s)
        self.fault_after_s = float(fault_after_s)
        self.stuck_after_s = float(stuck_after_s)
        self.verify_interval_s = float(verify_interval_s)
        self.progress = 0  # successful drains: the watchdog checks that it moves
        self.stats = SamplerStats()
        self.in_fault = False
        self.fault_reason = ""
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._need_init = True
        self._check_chip = False
        self._consecutive_errors = 0
        self._last_error = ""
        self._absent = ""  # why no chip answers yet (a ProbingAccelerometer still looking), else ""
        self._gap_reason = ""
        self._started_at: float | None = None
        self._last_verify = 0.0
        self._last_data_at: float | None = None  # monotonic time of the last drain that delivered samples
        # timestamping
        self._nominal_period = 1.0 / driver.rate_hz
        self._period = self._nominal_period
        self._period_measured = False
        self._t_last: float | None = None  # timestamp of the last sample handed out
        self._reanchor = False
        self._baseline: tuple[float, int] | None = None  # (clock time, samples since) for the period
        self._count_since_baseline = 0
        # stuck sensor
        self._last_row: np.ndarray | None = None
        self._unchanged_since: float | None = None
        self._stuck = False
        self._stuck_reinit_at: float | None = None

    # ------------------------------------------------------------ thread

    def start(self) -> "Sampler":
        if self._thread is not None:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"sampler-{self.leg}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _run(self) -> None:
        log.info("sampling %s: %s, %d Hz", self.leg, self.driver.description, self.driver.rate_hz)
        try:
            while not self._stop.is_set():
                wait = self.step()
                if wait > 0:
                    self.clock.sleep(wait)
        finally:
            self.finish()

    def finish(self) -> None:
        """Close the span still open (an outage in progress becomes a gap) and stop the chip."""
        now = self.clock.monotonic()
        if self._t_last is not None and now - self._t_last > 2 * self.interval_s + self._period:
            self._emit_gap(self._t_last + self._period, now, self._gap_reason or "sampling stopped during an outage")
            self._t_last = now
        try:
            self.driver.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            log.debug("closing %s failed", self.leg, exc_info=True)

    # ------------------------------------------------------------ one cycle

    @property
    def interval_s(self) -> float:
        """Seconds between drains: the configured interval, shortened if the FIFO could fill in between."""
        capacity = self.driver.fifo_capacity_samples
        return min(self.drain_interval_s, FIFO_HEADROOM_FRACTION * capacity / self.driver.rate_hz)

    def step(self) -> float:
        """One cycle: (re)initialise, verify or drain; returns the seconds to wait before the next."""
        now = self.clock.monotonic()
        self.stats.passes += 1
        if self._started_at is None:
            self._started_at = now
        try:
            if self._need_init:
                self._initialise(now)
            elif self._check_chip or now - self._last_verify >= self.verify_interval_s:
                self._verify(now)
            if not self._need_init:
                self._drain()
            self._consecutive_errors = 0
            wait = self.interval_s
        except SensorAbsentError as exc:
            wait = self._on_absent(exc)
        except (OSError, NightcrampError) as exc:
            wait = self._on_error(exc)
        except Exception:  # noqa: BLE001 - nothing may kill the sampling loop
            log.exception("%s: unexpected error in the sampling loop", self.leg)
            self.stats.errors += 1
            wait = BACKOFF_MAX_S
        self.stats.transactions = self.driver.transactions
        self._check_fault(self.clock.monotonic())
        return wait

    def _initialise(self, now: float) -> None:
        self.driver.start()
        self._absent = ""
        self._need_init = False
        self._check_chip = False
        self._last_verify = now
        self._reanchor = True
        self.stats.reinits += 1
        if self.stats.reinits > 1:
            log.warning("%s: %s re-initialised", self.leg, self.driver.CHIP)

    def _verify(self, now: float) -> None:
        ok = self.driver.verify()
        self._last_verify = now
        self._check_chip = False
        if not ok:
            self.stats.resets_detected += 1
            self._gap_reason = "sensor reset"
            log.warning("%s: %s at %#04x has reset (power dip?); re-initialising", self.leg, self.driver.CHIP,
                        self.driver.address)
            self._need_init = True
            self._initialise(now)

    def _on_absent(self, exc: SensorAbsentError) -> float:
        """No chip answers yet: not an error of sampling.  Step again within a second (the watchdog
        sees the passes); the probing driver decides when the bus is tried again."""
        if exc.probed:
            log.debug("%s: still no accelerometer (next probe in %.0f s)", self.leg, exc.retry_in_s)
        self._absent = f"not found: {exc}"
        return min(BACKOFF_MAX_S, max(BACKOFF_FIRST_S, exc.retry_in_s))

    def _on_error(self, exc: BaseException) -> float:
        self.stats.errors += 1
        self._consecutive_errors += 1
        code = getattr(exc, "errno", None)
        message = f"{type(exc).__name__}: {exc}"
        if code in TRANSIENT_ERRNOS:
            log.debug("%s: transient I2C error %s (%d in a row)", self.leg, errno.errorcode.get(code, code),
                      self._consecutive_errors)
        elif message != self._last_error:
            log.warning("%s: %s", self.leg, message)
        else:  # the same error again (a bus that is gone, every second): said once is enough
            log.debug("%s: %s (again, %d in a row)", self.leg, message, self._consecutive_errors)
        self._last_error = message
        self._gap_reason = self._gap_reason or "I2C errors"
        # The chip may have browned out with the error: check it before trusting the FIFO again.
        self._check_chip = True
        if self._consecutive_errors >= REINIT_AFTER_ERRORS:
            self._need_init = True
        return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (self._consecutive_errors - 1))

    def _drain(self) -> None:
        t_before = self.clock.monotonic()
        result = self.driver.drain()
        self.progress += 1
        self.stats.drains += 1
        if result.overflowed:
            self.stats.overflows += 1
            self._gap_reason = self._gap_reason or "FIFO overflow"
        if len(result):
            self._accept(result.accel_g, t_before, possible_loss=result.overflowed)
        elif result.overflowed:
            self._reanchor = True  # the FIFO was reset: what comes next is not contiguous
        else:
            last = self._last_data_at if self._last_data_at is not None else self._started_at
            if t_before - last > max(IDLE_SUSPECT_S, self.interval_s + IDLE_SUSPECT_PERIODS * self._nominal_period):
                # A chip that reset sits in standby with an empty FIFO.  Suspected at the second empty
                # drain whatever the interval, so a reset costs about two intervals of data.
                self._check_chip = True

    # ------------------------------------------------------------ timestamps

    def _accept(self, accel_g: np.ndarray, t_before: float, possible_loss: bool) -> None:
        n = len(accel_g)
        period = self._period
        # The newest sample was converted in the last period before the count was read.
        est_first = t_before - period / 2 - (n - 1) * period
        residual = 0.0
        if self._t_last is None:
            first = est_first
            self._restart_baseline(t_before)
        else:
            pred_first = self._t_last + period
            lag = est_first - pred_first
            if self._reanchor:
                first = pred_first
                if lag > period / 2:
                    self._emit_gap(pred_first, est_first, self._gap_reason or "samples lost")
                    first = est_first
                self._restart_baseline(t_before)
            elif possible_loss or lag > LOSS_THRESHOLD_PERIODS * period:
                missing = int(round(lag / period))
                first = pred_first
                if missing >= 1:
                    first = pred_first + missing * period
                    self._emit_gap(pred_first, first, self._gap_reason or "samples lost")
                    self._restart_baseline(t_before)
                residual = lag - max(missing, 0) * period
            else:
                first = pred_first
                residual = lag
        self._reanchor = False
        self._gap_reason = ""
        gain = 1.0 - (1.0 - PHASE_GAIN) ** (self.interval_s / PHASE_GAIN_INTERVAL_S)
        step = period + gain * residual / n
        step = min(max(step, 0.5 * self._nominal_period), 1.5 * self._nominal_period)
        t = first + np.arange(n) * step
        self._t_last = float(t[-1])
        if self._baseline is not None and self._baseline[0] == t_before:
            self._count_since_baseline = 0  # the baseline starts at this batch's newest sample
        else:
            self._count_since_baseline += n
        self._update_period(t_before)
        self._last_data_at = t_before
        self.stats.samples += n
        accel_g = np.asarray(accel_g, dtype=float)
        self._check_stuck(accel_g, t)
        self._emit(AccelBatch(self.leg, t, accel_g))

    def _restart_baseline(self, t_before: float) -> None:
        self._baseline = (t_before, 0)
        self._count_since_baseline = 0

    def _update_period(self, t_before: float) -> None:
        """Measure the chip's real sample period against the monotonic clock over a long baseline."""
        if self._baseline is None:
            return
        t0, _ = self._baseline
        span = t_before - t0
        if self._count_since_baseline <= 0:
            return
        first = not self._period_measured and self._count_since_baseline >= PERIOD_FIRST_MIN_SAMPLES
        if span < PERIOD_BASELINE_MIN_S and not first:
            return
        measured = span / self._count_since_baseline
        lo, hi = self._nominal_period * (1 - PERIOD_TOLERANCE), self._nominal_period * (1 + PERIOD_TOLERANCE)
        if lo <= measured <= hi:
            self._period = measured
            self._period_measured = True
        if span >= PERIOD_BASELINE_RESTART_S:
            self._restart_baseline(t_before)

    # ------------------------------------------------------------ health

    def _check_stuck(self, accel_g: np.ndarray, t: np.ndarray) -> None:
        """Track when the readings last changed; identical readings for ``stuck_after_s`` mean a hung sensor.

        A live sensor's noise changes nearly every sample, so the newest two rows
        are compared first (one small comparison per drain); only when they are
        equal is the whole drain searched for its last change.
        """
        rows = accel_g
        t_last = float(t[-1])
        if len(rows) > 1 and rows[-1].tolist() != rows[-2].tolist():
            self._unchanged_since = t_last  # the newest sample is itself a change
        else:
            prev = self._last_row if self._last_row is not None else rows[0]
            changed = np.any(rows != np.vstack([prev[None, :], rows[:-1]]), axis=1)
            if changed.any():
                self._unchanged_since = float(t[np.flatnonzero(changed)[-1]])
            elif self._unchanged_since is None:
                self._unchanged_since = float(t[0])
        self._last_row = rows[-1].copy()
        self._stuck = t_last - self._unchanged_since >= self.stuck_after_s
        if self._stuck and (self._stuck_reinit_at is None or t_last - self._stuck_reinit_at >= self.stuck_after_s):
            self._stuck_reinit_at = t_last
            self._need_init = True  # a re-initialisation sometimes revives a hung converter

    def _check_fault(self, now: float) -> None:
        last = self._last_data_at if self._last_data_at is not None else self._started_at
        reason = ""
        if self._stuck:
            reason = f"stuck: identical readings for {self.stuck_after_s:g} s"
        elif self._absent:
            reason = self._absent  # known at the first pass: no need to wait fault_after_s
        elif last is not None and now - last >= self.fault_after_s:
            reason = f"no data for {now - last:.0f} s"
            if self._last_error:
                reason += f" ({self._last_error})"
        if reason and not self.in_fault:
            self.in_fault = True
            self.fault_reason = reason
            log.error("%s: sensor fault: %s", self.leg, reason)
            self._emit(SensorStatus(self.leg, now, False, reason, self._details()))
        elif not reason and self.in_fault:
            self.in_fault = False
            log.warning("%s: sensor back (after: %s)", self.leg, self.fault_reason)
            self._emit(SensorStatus(self.leg, now, True, "data returned", self._details()))
            self.fault_reason = ""
            self._last_error = ""

    def _details(self) -> dict:
        d = self.driver
        return {"chip": d.CHIP, "model": d.model, "address": d.address, "rate_hz": d.rate_hz,
                "errors": self.stats.errors, "last_error": self._last_error}

    # ------------------------------------------------------------ output

    def _emit_gap(self, t_start: float, t_end: float, reason: str) -> None:
        self.stats.gaps += 1
        self.stats.gap_s += t_end - t_start
        log.info("%s: gap of %.2f s (%s)", self.leg, t_end - t_start, reason)
        self._emit(Gap(self.leg, t_start, t_end, reason))

    def _emit(self, item: object) -> None:
        try:
            self.sink(item)
        except Exception:  # noqa: BLE001 - a broken consumer must not stop sampling
            log.exception("%s: the sample sink failed", self.leg)
