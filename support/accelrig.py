"""Helpers for the accelerometer tests: sources that remember the true sample times, stepping samplers."""

from __future__ import annotations

import numpy as np


class RampSource:
    """A sample source whose x axis encodes the true sample time, so tests can check values and timestamps.

    x = (t mod period_s) / period_s * span_g - span_g / 2 (a sawtooth), y = -0.5 g, z = 1 g.
    Every call is remembered: ``times()`` gives the true time of every sample produced.
    """

    def __init__(self, span_g: float = 1.0, period_s: float = 7.0):
        self.span_g = span_g
        self.period_s = period_s
        self.calls: list[tuple[float, int, float]] = []

    def accel_at(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        x = (t % self.period_s) / self.period_s * self.span_g - self.span_g / 2
        return np.column_stack([x, np.full_like(t, -0.5), np.full_like(t, 1.0)])

    def __call__(self, t0: float, n: int, rate_hz: float) -> np.ndarray:
        self.calls.append((t0, n, rate_hz))
        return self.accel_at(t0 + np.arange(n) / rate_hz)

    def times(self) -> np.ndarray:
        return np.concatenate([t0 + np.arange(n) / r for t0, n, r in self.calls]) if self.calls else np.zeros(0)


def run_samplers(clock, samplers, until_s: float, events=(), finish: bool = True):
    """Step several samplers on one ManualClock until ``until_s``, each on its own schedule.

    ``events``: (time, callable) pairs run once when the clock passes their time
    (a chip reset, a cable pulled).  ``finish``: close the samplers at the end (as stopping the thread does).
    """
    due = {id(s): clock.monotonic() for s in samplers}
    pending = sorted(events, key=lambda e: e[0])
    while True:
        s = min(samplers, key=lambda x: due[id(x)])
        t_next = due[id(s)]
        while pending and pending[0][0] <= t_next:
            t_ev, action = pending.pop(0)
            if t_ev > clock.monotonic():
                clock.advance(t_ev - clock.monotonic())
            action()
        if t_next >= until_s:
            break
        if t_next > clock.monotonic():
            clock.advance(t_next - clock.monotonic())
        wait = s.step()
        due[id(s)] = clock.monotonic() + wait
    if finish:
        for s in samplers:
            s.finish()


def collect(items, kind, leg=None):
    return [x for x in items if isinstance(x, kind) and (leg is None or x.leg == leg)]
