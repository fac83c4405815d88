"""When the bridge reconnects, and how it tells a lost connection from a taken-over one (pure).

Two different reasons make the broker go away:

* **The broker is gone** (restarted, Wi-Fi down).  Connecting fails until it is
  back, and an alert may be waiting in the outbox: the bridge retries every
  1, 2, then :data:`RECONNECT_MAX_S` seconds, never longer.  paho cannot cut a
  wait short when an event arrives in the middle of it, so the cap holds
  whether the outbox is empty or not: the first queued event leaves at most
  ``RECONNECT_MAX_S`` plus one connect after the broker is back.  An attempt
  to a broker that is down costs one TCP handshake, nothing a Pi notices.
* **Another client took the session over.**  MQTT allows one connection per
  client id: a second service with the same ``device.id`` (so the same client
  id) makes the broker drop the older one, which reconnects and drops the
  newer one, and so on (dozens of flaps a minute, each re-sending status and
  discovery).  MQTT 5 names this (reason code 0x8E, "session taken over");
  MQTT 3.1.1 says nothing, so it is recognised by its pattern: the broker
  accepts the connection and closes it within :data:`SHORT_CONNECTION_S`,
  :data:`TAKEOVER_AFTER` times in a row, and every reconnect in between
  succeeds at once.  That last part tells it from a broker that restarts
  (even one that restarts again and again): then an attempt fails while it
  is away, and a failed attempt clears the count.  Then the bridge waits
  :data:`TAKEOVER_DELAYS_S` (growing) before each new attempt, so the other
  service keeps the broker and the flapping stops; a connection that lasts
  ends the take-over.
"""

from __future__ import annotations

from dataclasses import dataclass

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 3
"""Seconds between attempts while the broker is unreachable, at most: the latency budget of a queued
alert after the broker returns is 5 s, and paho cannot shorten a wait that has begun."""

SHORT_CONNECTION_S = 10.0
"""A connection the broker closes within this many seconds of accepting it counts as taken over."""

TAKEOVER_AFTER = 3
"""Short connections in a row that mean another client uses our client id."""

TAKEOVER_DELAYS_S = (30, 60, 120, 300)
"""Seconds to wait before reconnecting after the 1st, 2nd, ... taken-over connection (then the last)."""

SESSION_TAKEN_OVER = 0x8E  # MQTT 5 reason code


@dataclass(frozen=True)
class Delay:
    """What paho should be told: ``reconnect_delay_set(min_s, max_s)``."""

    min_s: int
    max_s: int


NORMAL = Delay(RECONNECT_MIN_S, RECONNECT_MAX_S)


class TakeoverDetector:
    """Watches accepted connections and their ends; says when another client holds our client id.

    Times are seconds on any monotonic clock.  :meth:`connected` at each
    accepted CONNACK, :meth:`lost` when the connection ends without our asking.
    """

    def __init__(self) -> None:
        self._connected_at: float | None = None
        self.short_in_a_row = 0
        self.taken_over = False
        self.takeovers = 0  # taken-over connections since the take-over was recognised

    def connected(self, now: float) -> None:
        self._connected_at = now

    def attempt_failed(self) -> None:
        """A connection attempt failed: the broker was away (or refused us), which is no take-over."""
        self._connected_at = None
        self.short_in_a_row = 0
        self.taken_over = False
        self.takeovers = 0

    def lost(self, now: float, reason_value: int | None = None) -> bool:
        """Record the end of a connection; True when it newly shows a take-over (report it then, once)."""
        lasted = None if self._connected_at is None else now - self._connected_at
        self._connected_at = None
        if lasted is None:
            return False
        if reason_value == SESSION_TAKEN_OVER or lasted < SHORT_CONNECTION_S:
            self.short_in_a_row += 1
        else:
            self.short_in_a_row = 0
            self.taken_over = False
            self.takeovers = 0
            return False
        newly = False
        if not self.taken_over and (reason_value == SESSION_TAKEN_OVER or self.short_in_a_row >= TAKEOVER_AFTER):
            self.taken_over = True
            newly = True
        if self.taken_over:
            self.takeovers += 1
        return newly

    def delay(self) -> Delay:
        """The reconnect delays to use now."""
        if not self.taken_over:
            return NORMAL
        wait = TAKEOVER_DELAYS_S[min(self.takeovers, len(TAKEOVER_DELAYS_S)) - 1]
        return Delay(wait, wait)
