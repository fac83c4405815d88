"""Button, status LED and buzzer on GPIO through gpiozero; every part optional.

Each part is configured by its BCM pin number, None meaning absent.  Wiring
(docs/hardware-temperature-gpio.md): a push button from the pin to GND (the
Pi's internal pull-up holds it high), an LED with a 330 ohm resistor to GND,
an *active* buzzer (it sounds when its pin is high).

- Button: a short press acknowledges the current alert (and silences the
  buzzer at once, before the service even hears of it); holding it for
  ``long_press_s`` sends a test alert.  Presses shorter than ``min_press_s``
  are contact bounce or interference and are ignored; the acknowledge fires on
  release, so a long press never also acknowledges.  Three short presses within
  ``triple_press_s`` also report "that was a cramp" (a cramp that raised no alarm); each press
  still acknowledges, which is harmless when nothing is alerting.
- Status LED patterns (times in seconds), see :data:`LED_PATTERNS`:

  - idle: off (outside the night window);
  - armed: 0.05 on, 2.95 off, a faint heartbeat every 3 s (watching; dim enough to sleep by);
  - alert: 0.2 on, 0.2 off, fast blink (a cramp alert is active);
  - sensor_fault: 0.15 on, 0.15 off, 0.15 on, 1.55 off, a double blink every 2 s
    (no data from the leg sensor).

  While a local alert sounds (``alert(True)``) the LED shows ``alert``
  whatever the state; afterwards it returns to the state.
- Buzzer: while alerting, 0.3 on, 0.2 off, 0.3 on, 1.2 off, repeated, until
  ``alert(False)``, a button acknowledge, or ``buzzer_max_s`` (a forgotten
  alarm must not beep all night).

Patterns run on a small thread of their own; no method blocks the caller, so
the daemon may call them from any thread.  If pins are configured but gpiozero
cannot drive them (not a Pi, no pin library, pin in use), the constructor
raises :class:`GPIOUnavailableError`; :func:`open_peripherals` logs that and
returns :class:`NullPeripherals`, so the service runs on without GPIO.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from typing import Callable, Sequence

from firmware.errors import GPIOUnavailableError

log = logging.getLogger(__name__)

STATES = ("idle", "armed", "alert", "sensor_fault")

# (value, seconds) steps, repeated.  An empty pattern means off.
LED_PATTERNS: dict[str, tuple[tuple[int, float], ...]] = {
    "idle": (),
    "armed": ((1, 0.05), (0, 2.95)),
    "alert": ((1, 0.2), (0, 0.2)),
    "sensor_fault": ((1, 0.15), (0, 0.15), (1, 0.15), (0, 1.55)),
}
BUZZER_PATTERN = ((1, 0.3), (0, 0.2), (1, 0.3), (0, 1.2))

GPIO_HINT = ("run on a Raspberry Pi with python3-lgpio installed and the service user in the gpio group, "
             "check no two [gpio] pins are the same and no other program uses them, "
             "or remove the [gpio] pins from the configuration")


class _PatternPlayer:
    """Plays a repeating (value, seconds) pattern on one output device, on its own thread."""

    def __init__(self, device, name: str):
        self.device = device
        self.name = name
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def play(self, pattern: Sequence[tuple[int, float]], max_s: float | None = None) -> None:
        """Start ``pattern`` (replacing the current one); an empty pattern switches the device off."""
        with self._lock:
            self._halt()
            if not pattern:
                return
            stop = threading.Event()
            self._stop = stop
            self._thread = threading.Thread(target=self._loop, args=(tuple(pattern), stop, max_s),
                                            name="gpio-" + self.name, daemon=True)
            self._thread.start()

    def off(self) -> None:
        self.play(())

    def _halt(self) -> None:
        if self._stop is not None:
            self._stop.set()
            if self._thread is not threading.current_thread():
                self._thread.join(1.0)
            self._stop = self._thread = None
        self.device.off()

    def _loop(self, pattern, stop: threading.Event, max_s: float | None) -> None:
        end = None if max_s is None else time.monotonic() + max_s
        try:
            while not stop.is_set():
                for value, seconds in pattern:
                    if end is not None and time.monotonic() >= end:
                        log.warning("%s pattern stopped after %.0f s", self.name, max_s)
                        return
                    self.device.value = value
                    if stop.wait(seconds):
                        return
        except Exception:  # a closed device (shutdown race) must not print a thread traceback
            log.debug("%s pattern ended", self.name, exc_info=True)
        finally:
            if not stop.is_set():
                try:
                    self.device.off()
                except Exception:  # noqa: BLE001
                    pass


class Peripherals:
    """The configured button, status LED and buzzer (any of them may be None = absent)."""

    def __init__(self, button_pin: int | None = None, led_pin: int | None = None, buzzer_pin: int | None = None,
                 long_press_s: float = 3.0, on_acknowledge: Callable[[], None] | None = None,
                 on_test_alert: Callable[[], None] | None = None, min_press_s: float = 0.05,
                 buzzer_max_s: float | None = 300.0, pin_factory=None,
                 on_missed_cramp: Callable[[], None] | None = None, triple_press_s: float = 1.5):
        if long_press_s <= min_press_s:
            raise ValueError("long_press_s must be longer than min_press_s")
        self.on_acknowledge = on_acknowledge
        self.on_test_alert = on_test_alert
        self.on_missed_cramp = on_missed_cramp
        self.triple_press_s = triple_press_s
        self._short_presses: list[float] = []
        self.long_press_s = long_press_s
        self.min_press_s = min_press_s
        self.buzzer_max_s = buzzer_max_s
        self.state = "idle"
        self.alerting = False
        self.button = self.led = self.buzzer = None
        self._led_player = self._buzzer_player = None
        self._lock = threading.RLock()
        self._pressed_at: float | None = None
        self._held = False
        pins = {"button": button_pin, "led": led_pin, "buzzer": buzzer_pin}
        wanted = ", ".join("%s GPIO%d" % (k, v) for k, v in pins.items() if v is not None)
        if not wanted:
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # gpiozero's PinFactoryFallback chatter; we report the outcome
                from gpiozero import LED, Button, Buzzer

                kw = {} if pin_factory is None else {"pin_factory": pin_factory}
                if button_pin is not None:
                    # bounce_time=None: gpiozero's bounce filter can swallow a real release and leave the
                    # button "pressed"; bounce is rejected below by press duration instead.
                    self.button = Button(button_pin, pull_up=True, bounce_time=None, hold_time=long_press_s, **kw)
                if led_pin is not None:
                    self.led = LED(led_pin, **kw)
                if buzzer_pin is not None:
                    self.buzzer = Buzzer(buzzer_pin, **kw)
        except Exception as exc:  # ImportError, BadPinFactory, PinInvalidPin, GPIOPinInUse, OSError ...
            self.close()
            raise GPIOUnavailableError("GPIO is configured (%s) but cannot be used: %s: %s; %s"
                                       % (wanted, type(exc).__name__, exc, GPIO_HINT)) from exc
        if self.button is not None:
            self.button.when_pressed = self._pressed
            self.button.when_held = self._held_long
            self.button.when_released = self._released
        if self.led is not None:
            self._led_player = _PatternPlayer(self.led, "led")
        if self.buzzer is not None:
            self._buzzer_player = _PatternPlayer(self.buzzer, "buzzer")
        log.info("GPIO ready: %s", wanted)

    # ------------------------------------------------------------ outputs

    def set_state(self, state: str) -> None:
        """Show ``state`` (idle, armed, alert, sensor_fault) on the LED; returns at once."""
        if state not in STATES:
            raise ValueError("unknown LED state %r (one of %s)" % (state, ", ".join(STATES)))
        with self._lock:
            changed = state != self.state
            self.state = state
            if changed and not self.alerting:
                self._show_led()

    def alert(self, on: bool) -> None:
        """Start (True) or stop (False) the local alert: buzzer pattern, LED fast blink."""
        with self._lock:
            if bool(on) == self.alerting:
                return
            self.alerting = bool(on)
            if self._buzzer_player is not None:
                if on:
                    self._buzzer_player.play(BUZZER_PATTERN, self.buzzer_max_s)
                else:
                    self._buzzer_player.off()
            self._show_led()

    def _show_led(self) -> None:
        if self._led_player is not None:
            self._led_player.play(LED_PATTERNS["alert" if self.alerting else self.state])

    # ------------------------------------------------------------ button (gpiozero's event thread)

    def _pressed(self) -> None:
        self._pressed_at = time.monotonic()
        self._held = False

    def _held_long(self) -> None:
        self._held = True
        log.info("button held %.1f s: test alert", self.long_press_s)
        self._call(self.on_test_alert, "test alert")

    def _released(self) -> None:
        pressed_at, self._pressed_at = self._pressed_at, None
        if self._held or pressed_at is None:
            return
        if time.monotonic() - pressed_at < self.min_press_s:
            log.debug("button pulse shorter than %.0f ms ignored (bounce)", 1000 * self.min_press_s)
            return
        log.info("button pressed: acknowledge")
        self.alert(False)
        self._call(self.on_acknowledge, "acknowledge")
        now = time.monotonic()
        self._short_presses = [t for t in self._short_presses if now - t <= self.triple_press_s] + [now]
        if len(self._short_presses) >= 3:
            self._short_presses = []
            log.info("button pressed three times: that was a cramp")
            self._call(self.on_missed_cramp, "missed cramp")

    @staticmethod
    def _call(callback: Callable[[], None] | None, what: str) -> None:
        if callback is None:
            return
        try:
            callback()
        except Exception:  # noqa: BLE001 - a consumer's bug must not kill gpiozero's event thread
            log.exception("button %s callback failed", what)

    # ------------------------------------------------------------ life cycle

    def close(self) -> None:
        """Stop the patterns, switch outputs off and release the pins."""
        for player in (self._led_player, self._buzzer_player):
            if player is not None:
                try:
                    player.off()
                except Exception:  # noqa: BLE001 - closing goes on
                    log.debug("switching %s off failed", player.name, exc_info=True)
        for device in (self.button, self.led, self.buzzer):
            if device is not None:
                device.close()
        self.button = self.led = self.buzzer = None
        self._led_player = self._buzzer_player = None

    def __enter__(self) -> "Peripherals":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NullPeripherals:
    """The no-op stand-in when no GPIO is configured or it cannot be used."""

    state = "idle"
    alerting = False

    def set_state(self, state: str) -> None:
        if state not in STATES:
            raise ValueError("unknown LED state %r (one of %s)" % (state, ", ".join(STATES)))
        self.state = state

    def alert(self, on: bool) -> None:
        self.alerting = bool(on)

    def close(self) -> None:
        pass

    def __enter__(self) -> "NullPeripherals":
        return self

    def __exit__(self, *exc) -> None:
        pass


def open_peripherals(button_pin: int | None = None, led_pin: int | None = None, buzzer_pin: int | None = None,
                     long_press_s: float = 3.0, on_acknowledge: Callable[[], None] | None = None,
                     on_test_alert: Callable[[], None] | None = None, **kwargs) -> Peripherals | NullPeripherals:
    """:class:`Peripherals` if any pin is configured and usable; otherwise :class:`NullPeripherals`.

    Unusable GPIO is logged as an error (with the reason and a hint) and never
    stops the service.
    """
    if button_pin is None and led_pin is None and buzzer_pin is None:
        return NullPeripherals()
    try:
        return Peripherals(button_pin, led_pin, buzzer_pin, long_press_s, on_acknowledge, on_test_alert, **kwargs)
    except GPIOUnavailableError as exc:
        log.error("%s; continuing without button, LED and buzzer", exc)
        return NullPeripherals()
