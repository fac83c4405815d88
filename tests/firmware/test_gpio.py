"""Button, LED and buzzer through gpiozero's MockFactory (pins driven and observed, no real GPIO)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from firmware.errors import GPIOUnavailableError
from firmware.gpio import LED_PATTERNS, NullPeripherals, Peripherals, open_peripherals

BUTTON, LED, BUZZER = 17, 27, 22


def wait_for(condition, timeout=5.0):
    """Poll until ``condition()`` is true; gpiozero's hold timer and our pattern threads run in real time."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


class Events:
    def __init__(self):
        self.acks, self.tests = [], []
        self.test_alert = threading.Event()

    def ack(self):
        self.acks.append(time.monotonic())

    def test(self):
        self.tests.append(time.monotonic())
        self.test_alert.set()


@pytest.fixture
def periph(mock_factory):
    events = Events()
    p = Peripherals(BUTTON, LED, BUZZER, long_press_s=0.2, on_acknowledge=events.ack,
                    on_test_alert=events.test, min_press_s=0.01)
    p.events = events
    yield p
    p.close()


def press(pin, seconds):
    pin.drive_low()  # the button pulls the pin to GND against the internal pull-up
    time.sleep(seconds)
    pin.drive_high()


def test_nothing_configured_needs_no_gpio():
    p = open_peripherals()
    assert isinstance(p, NullPeripherals)
    p.set_state("armed")
    p.alert(True)
    p.close()


def test_button_uses_internal_pull_up(periph, mock_factory):
    pin = mock_factory.pin(BUTTON)
    assert pin.pull == "up" and pin.state  # idle high
    assert not periph.button.is_pressed


def test_short_press_acknowledges_and_silences_buzzer(periph, mock_factory):
    periph.alert(True)
    buzzer = mock_factory.pin(BUZZER)
    assert wait_for(lambda: buzzer.state)
    press(mock_factory.pin(BUTTON), 0.03)
    assert wait_for(lambda: len(periph.events.acks) == 1)
    assert not periph.alerting and not buzzer.state
    assert periph.events.tests == []


def test_long_press_sends_test_alert_and_no_acknowledge(periph, mock_factory):
    pin = mock_factory.pin(BUTTON)
    pin.drive_low()
    assert periph.events.test_alert.wait(5), "no test alert while held"
    pin.drive_high()
    time.sleep(0.05)
    assert len(periph.events.tests) == 1 and periph.events.acks == []


def test_bounce_glitch_is_not_a_press(mock_factory):
    events = Events()
    with Peripherals(BUTTON, long_press_s=30.0, on_acknowledge=events.ack, min_press_s=2.0) as p:
        pin = mock_factory.pin(BUTTON)
        for _ in range(5):  # contact chatter: very short lows
            pin.drive_low()
            pin.drive_high()
        assert events.acks == []
        assert p.state == "idle"


def test_led_patterns(periph, mock_factory):
    led = mock_factory.pin(LED)
    assert not led.state  # idle: off
    periph.set_state("alert")
    assert wait_for(lambda: len(led.states) >= 5)
    seq = [s.state for s in led.states[:5]]
    assert seq == [False, True, False, True, False]
    periph.set_state("idle")
    assert wait_for(lambda: not led.state)
    n = len(led.states)
    time.sleep(0.3)
    assert len(led.states) == n  # off stays off
    periph.set_state("armed")
    assert wait_for(lambda: led.state)  # heartbeat starts with a flash
    with pytest.raises(ValueError):
        periph.set_state("party")


def test_pattern_table_documents_distinct_states():
    on_times = {s: tuple(d for v, d in p if v) for s, p in LED_PATTERNS.items()}
    assert on_times["idle"] == ()
    assert len(on_times["sensor_fault"]) == 2  # double blink
    assert len(on_times["armed"]) == len(on_times["alert"]) == 1
    period = {s: sum(d for _, d in p) for s, p in LED_PATTERNS.items() if p}
    assert period["alert"] < period["sensor_fault"] < period["armed"]


def test_alert_overrides_led_then_restores_state(periph, mock_factory):
    led, buzzer = mock_factory.pin(LED), mock_factory.pin(BUZZER)
    periph.set_state("idle")
    periph.alert(True)
    assert wait_for(lambda: buzzer.state) and wait_for(lambda: led.state)
    periph.alert(False)
    assert wait_for(lambda: not buzzer.state and not led.state)
    assert periph.state == "idle"


def test_buzzer_gives_up_after_max_time(mock_factory):
    with Peripherals(buzzer_pin=BUZZER, buzzer_max_s=0.1) as p:
        buzzer = mock_factory.pin(BUZZER)
        p.alert(True)
        assert wait_for(lambda: len(buzzer.states) >= 2)
        assert wait_for(lambda: not p._buzzer_player._thread.is_alive())
        assert not buzzer.state


def test_callback_error_does_not_break_the_button(periph, mock_factory, caplog):
    def broken():
        raise RuntimeError("daemon bug")

    periph.on_acknowledge = broken
    with caplog.at_level(logging.ERROR):
        press(mock_factory.pin(BUTTON), 0.03)
        assert wait_for(lambda: "acknowledge callback failed" in caplog.text)
    periph.on_acknowledge = periph.events.ack
    press(mock_factory.pin(BUTTON), 0.03)
    assert wait_for(lambda: len(periph.events.acks) == 1)


def test_same_pin_twice_is_a_clear_error(mock_factory, caplog):
    with pytest.raises(GPIOUnavailableError, match=r"led GPIO27, buzzer GPIO27.*GPIOPinInUse"):
        Peripherals(led_pin=27, buzzer_pin=27)
    with caplog.at_level(logging.ERROR):
        p = open_peripherals(led_pin=27, buzzer_pin=27)
    assert isinstance(p, NullPeripherals)
    assert "continuing without button, LED and buzzer" in caplog.text
    with Peripherals(led_pin=27) as ok:  # the failed attempt released its pins
        ok.set_state("armed")


def test_no_pin_library_is_a_clear_error(monkeypatch):
    from gpiozero import Device

    old = Device.pin_factory
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no_such_factory")
    Device.pin_factory = None
    try:
        with pytest.raises(GPIOUnavailableError, match=r"button GPIO17.*python3-lgpio"):
            Peripherals(button_pin=17)
        assert isinstance(open_peripherals(button_pin=17), NullPeripherals)
    finally:
        Device.pin_factory = old


def test_close_releases_pins(mock_factory):
    p = Peripherals(BUTTON, LED, BUZZER)
    p.alert(True)
    p.close()
    assert not mock_factory.pin(BUZZER).state and not mock_factory.pin(LED).state
    Peripherals(BUTTON, LED, BUZZER).close()  # pins free again
