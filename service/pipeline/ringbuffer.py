"""The last few minutes of one leg's raw samples, in preallocated numpy arrays.

A snippet (docs/learning.md) keeps the samples from 2 minutes before an alarm or
a report, so that lead-in must still be in memory when the alarm comes.  Pure and
bounded: :meth:`SampleRing.add` copies a batch into fixed arrays (one slice
assignment, two when it wraps), nothing grows, and nothing is ever written to disk
here.  Times are the samples' monotonic seconds.
"""

from __future__ import annotations

import numpy as np


class SampleRing:
    """The newest ``capacity`` samples (t in s, acceleration in g) of one leg."""

    def __init__(self, capacity: int):
        if capacity < 2:
            raise ValueError(f"capacity must be at least 2 samples, got {capacity}")
        self.capacity = int(capacity)
        self._t = np.empty(self.capacity)
        self._a = np.empty((self.capacity, 3))
        self._next = 0  # where the next sample goes
        self._count = 0  # how many slots hold a sample

    @classmethod
    def for_seconds(cls, seconds: float, rate_hz: float, margin: float = 1.25) -> "SampleRing":
        """Room for ``seconds`` of samples at ``rate_hz``, with a margin for a chip running fast."""
        return cls(max(2, int(np.ceil(seconds * rate_hz * margin))))

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        return int(self._t.nbytes + self._a.nbytes)

    def add(self, t: np.ndarray, accel_g: np.ndarray) -> None:
        """Append a batch (``t`` (n,), ``accel_g`` (n, 3)); the oldest samples make room."""
        n = len(t)
        if n == 0:
            return
        if n >= self.capacity:
            t, accel_g, n = t[-self.capacity:], accel_g[-self.capacity:], self.capacity
        end = self._next + n
        if end <= self.capacity:
            self._t[self._next:end] = t
            self._a[self._next:end] = accel_g
        else:
            first = self.capacity - self._next
            self._t[self._next:] = t[:first]
            self._a[self._next:] = accel_g[:first]
            self._t[:n - first] = t[first:]
            self._a[:n - first] = accel_g[first:]
        self._next = end % self.capacity
        self._count = min(self.capacity, self._count + n)

    @property
    def oldest_t(self) -> float | None:
        if not self._count:
            return None
        return float(self._t[(self._next - self._count) % self.capacity])

    @property
    def newest_t(self) -> float | None:
        if not self._count:
            return None
        return float(self._t[(self._next - 1) % self.capacity])

    def window(self, t_from: float, t_until: float) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the samples with ``t_from <= t <= t_until``, oldest first (times increase, as fed)."""
        if not self._count:
            return np.empty(0), np.empty((0, 3))
        start = (self._next - self._count) % self.capacity
        if start + self._count <= self.capacity:  # one stretch
            t, a = self._t[start:start + self._count], self._a[start:start + self._count]
            lo, hi = np.searchsorted(t, t_from, side="left"), np.searchsorted(t, t_until, side="right")
            return t[lo:hi].copy(), a[lo:hi].copy()
        t = np.concatenate((self._t[start:], self._t[:self._next]))
        a = np.concatenate((self._a[start:], self._a[:self._next]))
        lo, hi = np.searchsorted(t, t_from, side="left"), np.searchsorted(t, t_until, side="right")
        return t[lo:hi].copy(), a[lo:hi].copy()

    def clear(self) -> None:
        self._next = self._count = 0
