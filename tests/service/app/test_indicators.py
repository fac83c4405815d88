"""LED, buzzer and the local alert, with gpiozero's MockFactory pins under the whole service."""

from __future__ import annotations

import time

from service import events as ev
from service.app.daemon import RunOptions, Service
from service.mqtt import commands as cmds
from support.mqtt_helpers import make_config, wait_until

NIGHT = '[night]\nstart = "22:00"\nend = "23:30"\ntimezone = "Europe/Berlin"\n'
GPIO = "[gpio]\nbuzzer_pin = 22\nled_pin = 27\n"
TEST_BUZZ_S = 3.0  # a test alert sounds the buzzer this long


def _service(state_dir, duration_s: float, on_event=None) -> Service:
    """No broker configured: a cramp alert sounds locally at once."""
    config = make_config(None, state_dir, extra=NIGHT + GPIO)
    service = Service(config, RunOptions(simulate=True, speed=1e9, seed=3, cramps=1, duration_s=duration_s),
                      on_event=on_event)
    service.start()
    return service


def _buzzing(pin) -> bool:
    """The buzzer pattern is running: the pin goes high again within the pattern's 2 s period."""
    seen = len(pin.states)
    return wait_until(lambda: any(state for _, state in pin.states[seen:]), 3.0)


def _alert_time(state_dir) -> float:
    """Monotonic (simulated) time of the night's first cramp alert, from a run of the same seeded night."""
    starts: list[float] = []
    service = _service(state_dir / "probe", 600,
                       on_event=lambda s: starts.append(s.event.t) if s.event.type == ev.CRAMP_START else None)
    try:
        service.run()
    finally:
        service.stop()
    assert starts, "the seeded night has no cramp alert in its first 10 minutes"
    return starts[0]


def test_a_real_alarm_after_a_test_alert_keeps_the_buzzer_on(state_dir, mock_factory):
    """Test alert, then a real cramp alert 1 s later: when the test alert's 3 s are over, the buzzer sounds on."""
    t_alert = _alert_time(state_dir)
    buzzer = mock_factory.pin(22)
    buzzer.clear_states()
    service = _service(state_dir / "night", t_alert - 1.0)
    try:
        service.run()  # until 1 s before the cramp alert
        assert not any(state for _, state in buzzer.states)
        service.core.command(cmds.Command(cmds.TEST_ALERT, source="button"))
        assert service.gpio.alerting
        service.options.duration_s = 2 * TEST_BUZZ_S  # the cramp alert comes 1 s into this
        service.run()
        assert service.core.stats.events.get("cramp_start") == 1
        time.sleep(TEST_BUZZ_S + 0.5)  # past the test alert's buzz in real time too
        assert service.gpio.alerting, "the test alert's end silenced a real alarm"
        assert _buzzing(buzzer)
    finally:
        service.stop()


def test_a_test_alert_alone_buzzes_for_three_seconds(state_dir, mock_factory):
    service = _service(state_dir, 60)
    try:
        service.run()
        service.core.command(cmds.Command(cmds.TEST_ALERT, source="button"))
        assert service.gpio.alerting
        assert _buzzing(mock_factory.pin(22))
        service.options.duration_s = 2 * TEST_BUZZ_S
        service.run()
        assert wait_until(lambda: not service.gpio.alerting, TEST_BUZZ_S + 2.0), "the test alert never stopped"
    finally:
        service.stop()


def test_local_buzzer_when_no_broker_acknowledges(state_dir, mock_factory):
    """The broker is unreachable: within a few seconds of the alert the buzzer and LED sound locally."""
    from support.brokers import free_port

    config = make_config(None, state_dir, extra=NIGHT + GPIO,
                         mqtt_extra=f'host = "127.0.0.1"\nport = {free_port()}')
    service = Service(config, RunOptions(simulate=True, speed=1e9, seed=3, cramps=1, duration_s=300))
    service.start()
    try:
        service.run()  # quiet until the cramp
        buzzer = mock_factory.pin(22)
        assert not any(state for _, state in buzzer.states)
        service.options.duration_s = 100  # the cramp starts at 326 s; its alert is raised ~11 s later
        service.run()
        assert service.core.stats.events.get("cramp_start") == 1
        assert wait_until(lambda: any(state for _, state in buzzer.states), 5), "the buzzer never sounded"
        assert service.gpio.alerting
    finally:
        service.stop()


def test_the_buzzer_sounds_while_a_test_alert_or_a_local_alarm_wants_it(mock_factory):
    """Indicators alone, on MockFactory pins, with core-clock times: every deadline is checked in the periodic pass."""
    from firmware.gpio import Peripherals
    from service.app.indicators import Indicators

    with Peripherals(led_pin=27, buzzer_pin=22) as gpio:
        lights = Indicators(gpio, local_alert_after_s=30.0, has_broker=True)
        lights.test_alert(100.0)
        assert gpio.alerting
        lights.check(100.0 + TEST_BUZZ_S - 0.1, alerting=False, delivered=lambda event_id: False)
        assert gpio.alerting
        lights.check(100.0 + TEST_BUZZ_S, alerting=False, delivered=lambda event_id: False)
        assert not gpio.alerting  # the test alert is over

        lights.test_alert(200.0)
        lights.cramp_alert("e1", 170.0)  # raised 30 s before, never confirmed by the broker
        lights.check(201.0, alerting=True, delivered=lambda event_id: False)
        lights.check(200.0 + TEST_BUZZ_S + 1.0, alerting=True, delivered=lambda event_id: False)
        assert gpio.alerting  # the alarm goes on after the test alert's end
        lights.check(260.0, alerting=False, delivered=lambda event_id: False)
        assert not gpio.alerting  # the cramp alert ended (acknowledged)

        lights.cramp_alert("e2", 300.0)
        lights.check(331.0, alerting=True, delivered=lambda event_id: event_id == "e2")
        assert not gpio.alerting  # the broker confirmed it: nothing sounds locally
        lights.show(sensors_ok=False, alerting=True, in_window=True, armed=True)
        assert gpio.state == "sensor_fault"
