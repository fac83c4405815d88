"""The reconnect policy and the recognition of a taken-over client id (pure)."""

from __future__ import annotations

from service.mqtt import backoff as b


def test_an_unreachable_broker_is_retried_within_a_few_seconds_whatever_waits():
    # A queued alert must leave at most 5 s after the broker returns; paho cannot cut a wait short,
    # so no wait may be longer than that, idle or not.
    assert b.NORMAL == b.Delay(1, 3)
    assert b.RECONNECT_MIN_S <= b.RECONNECT_MAX_S < 5
    assert b.TakeoverDetector().delay() == b.NORMAL


def test_connections_closed_right_after_they_were_accepted_mean_a_takeover():
    d = b.TakeoverDetector()
    t = 100.0
    newly = []
    for _ in range(b.TAKEOVER_AFTER + 3):
        d.connected(t)
        t += 1.0  # the other client took the id over a second later
        newly.append(d.lost(t))
        t += 1.0
    assert newly == [False] * (b.TAKEOVER_AFTER - 1) + [True] + [False] * 3  # reported once
    assert d.taken_over
    assert d.delay() == b.Delay(b.TAKEOVER_DELAYS_S[3], b.TAKEOVER_DELAYS_S[3])
    assert [b.TAKEOVER_DELAYS_S[0], b.TAKEOVER_DELAYS_S[-1]] == [30, 300]


def test_the_first_takeover_waits_the_shortest_back_off_and_a_lasting_connection_ends_it():
    d = b.TakeoverDetector()
    for i in range(b.TAKEOVER_AFTER):
        d.connected(10.0 * i)
        d.lost(10.0 * i + 0.5)
    assert d.taken_over and d.delay() == b.Delay(30, 30)
    d.connected(1000.0)
    assert not d.lost(1000.0 + b.SHORT_CONNECTION_S + 1)  # the other service went away: normal again
    assert not d.taken_over and d.delay() == b.NORMAL and d.short_in_a_row == 0


def test_broker_restarts_are_not_takeovers():
    d = b.TakeoverDetector()
    t = 0.0
    for _ in range(10):
        d.connected(t)
        t += 600.0  # a long night's connection, then the broker restarts
        assert not d.lost(t)
    assert not d.taken_over
    assert not d.lost(t + 5)  # a loss without an accepted connection (a failed attempt) counts for nothing


def test_mqtt5_session_taken_over_reason_is_recognised_at_once():
    d = b.TakeoverDetector()
    d.connected(0.0)
    assert d.lost(500.0, reason_value=b.SESSION_TAKEN_OVER)
    assert d.taken_over and d.delay().min_s == 30


def test_a_broker_that_keeps_restarting_is_not_a_takeover():
    """Short connections with failed attempts between them: the broker was away each time."""
    d = b.TakeoverDetector()
    t = 0.0
    for _ in range(2 * b.TAKEOVER_AFTER):
        d.connected(t)
        t += 2.0
        assert not d.lost(t)
        d.attempt_failed()  # connection refused while it restarts
        t += 1.0
    assert not d.taken_over and d.delay() == b.NORMAL
    for _ in range(b.TAKEOVER_AFTER):  # a real take-over later is still recognised
        d.connected(t)
        t += 1.0
        d.lost(t)
    assert d.taken_over
    d.attempt_failed()  # and the broker going away ends it: nobody holds the id now
    assert d.delay() == b.NORMAL
