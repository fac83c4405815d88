"""What the bedroom sees and hears: the status LED, the buzzer, and the local alert when no broker confirms one.

Called only from the core thread, so it needs no locks, and every deadline is
checked in the core's periodic pass on the core's clock (monotonic seconds).
The buzzer sounds while anyone still wants it: a test alert's few seconds end
without silencing a real alarm that began meanwhile.
"""

from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger(__name__)

TEST_ALERT_BUZZ_S = 3.0  # a test alert sounds the buzzer this long


class Indicators:
    """The LED state, the local-alert fallback and the test-alert buzz over ``gpio``.

    ``gpio`` is :class:`~firmware.gpio.Peripherals` or ``NullPeripherals``;
    ``local_alert_after_s`` is how long a cramp alert waits for the broker to
    confirm delivery before it sounds locally; without a broker it sounds at once.
    """

    def __init__(self, gpio, local_alert_after_s: float, has_broker: bool):
        self.gpio = gpio
        self.local_alert_after_s = local_alert_after_s
        self.has_broker = has_broker
        self._local_deadlines: dict[str, float] = {}  # event_id of a cramp_start -> monotonic deadline
        self._local_alerting = False
        self._test_until: float | None = None  # monotonic end of a test alert's buzz

    def show(self, *, sensors_ok: bool, alerting: bool, in_window: bool, armed: bool) -> None:
        """The LED: sensor fault over alert over armed over idle."""
        if self.gpio is None:
            return
        if not sensors_ok:
            state = "sensor_fault"
        elif alerting:
            state = "alert"
        elif in_window and armed:
            state = "armed"
        else:
            state = "idle"
        self.gpio.set_state(state)

    def cramp_alert(self, event_id: str, t: float) -> None:
        """A cramp alert at monotonic ``t``: sound locally unless the broker confirms it in time."""
        self._local_deadlines[event_id] = t + (self.local_alert_after_s if self.has_broker else 0.0)

    def answered(self) -> None:
        """Acknowledged or snoozed: no pending alert needs to sound locally."""
        self._local_deadlines.clear()

    def test_alert(self, t: float) -> None:
        """A test alert at monotonic ``t``: the buzzer sounds for TEST_ALERT_BUZZ_S (when there is one)."""
        if getattr(self.gpio, "buzzer", None) is None:  # NullPeripherals has none; Peripherals may lack one
            return
        self._test_until = t + TEST_ALERT_BUZZ_S
        self.gpio.alert(True)

    def check(self, now: float, alerting: bool, delivered: Callable[[str], bool] | None) -> None:
        """The periodic pass: sound undelivered alerts locally, end finished buzzes.

        ``alerting``: any leg's alert is active; ``delivered(event_id)``: the
        broker confirmed that event (None without a broker).
        """
        for event_id, deadline in list(self._local_deadlines.items()):
            if delivered is not None and delivered(event_id):
                del self._local_deadlines[event_id]
            elif now >= deadline:
                del self._local_deadlines[event_id]
                if alerting:
                    log.warning("no broker acknowledged the cramp alert within %.0f s: alerting locally",
                                self.local_alert_after_s)
                    self._local_alerting = True
                    if self.gpio is not None:
                        self.gpio.alert(True)
        if self._local_alerting and not alerting:
            self._local_alerting = False
            self._silence_unless_wanted()
        if self._test_until is not None and now >= self._test_until:
            self._test_until = None
            self._silence_unless_wanted()

    def _silence_unless_wanted(self) -> None:
        if self._local_alerting or self._test_until is not None or self.gpio is None:
            return
        self.gpio.alert(False)
