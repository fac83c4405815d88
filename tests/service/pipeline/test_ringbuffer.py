"""The per-leg ring of raw samples behind the snippets' lead-in."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from service.pipeline.ringbuffer import SampleRing


def _batch(t0: int, n: int):
    t = np.arange(t0, t0 + n, dtype=float)
    return t, np.column_stack([t, -t, 2 * t])


def test_keeps_the_newest_samples_in_order_across_the_wrap():
    ring = SampleRing(10)
    for t0 in range(0, 23, 3):
        ring.add(*_batch(t0, 3))
    t, a = ring.window(-np.inf, np.inf)
    assert t.tolist() == list(range(14, 24)) and np.array_equal(a[:, 1], -t)
    assert len(ring) == 10 and ring.oldest_t == 14 and ring.newest_t == 23


def test_a_batch_longer_than_the_ring_keeps_its_end():
    ring = SampleRing(4)
    ring.add(*_batch(0, 9))
    assert ring.window(-np.inf, np.inf)[0].tolist() == [5, 6, 7, 8]


def test_window_selects_by_time_and_returns_copies():
    ring = SampleRing(50)
    ring.add(*_batch(0, 30))
    t, a = ring.window(10, 12)
    assert t.tolist() == [10, 11, 12]
    a[:] = 0
    assert ring.window(10, 10)[1][0, 0] == 10


def test_empty_ring_and_bad_capacity():
    ring = SampleRing.for_seconds(720, 50)
    assert ring.capacity == 45000 and ring.oldest_t is None and ring.window(0, 1)[0].size == 0
    with pytest.raises(ValueError):
        SampleRing(1)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.lists(st.integers(0, 25), min_size=1, max_size=30))
def test_same_as_keeping_everything_and_taking_the_tail(capacity, sizes):
    ring = SampleRing(capacity)
    t0 = 0
    for n in sizes:
        ring.add(*_batch(t0, n))
        t0 += n
    expect = np.arange(max(0, t0 - capacity), t0, dtype=float)
    assert ring.window(-np.inf, np.inf)[0].tolist() == expect.tolist()
