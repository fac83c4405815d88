"""Finding the room thermometer, and the thread that reads it: emulated chips behind the real drivers."""

from __future__ import annotations

import errno
import logging
import threading
from datetime import datetime, timezone

import pytest

from firmware import bme280
from firmware.clock import ManualClock, SimClock
from firmware.emulated.bme280 import EmulatedBME280
from firmware.emulated.bus import EmulatedBus
from firmware.emulated.ds18b20 import EmulatedDS18B20
from firmware.emulated.sht3x import EmulatedSHT3x
from firmware.emulated.tmp102 import EmulatedTMP102
from firmware.errors import ConfigError, DeviceNotFoundError
from firmware.sht3x import SHT3x
from firmware.thermometer import Thermometer, open_thermometer, scan_thermometers


class Room:
    """A controllable room temperature: ``room.temp_c`` is what every emulated sensor measures."""

    def __init__(self, temp_c=20.0):
        self.temp_c = temp_c

    def __call__(self, t_mono):
        return self.temp_c


@pytest.fixture
def clock():
    return ManualClock()


def test_scan_lists_every_sensor_with_a_reading(clock, tmp_path):
    room = Room(21.0)
    bus = EmulatedBus({0x77: EmulatedBME280(clock, room), 0x44: EmulatedSHT3x(clock, room),
                       0x49: EmulatedTMP102(clock, room)})
    EmulatedDS18B20(tmp_path, clock, room)
    clock.advance(1.0)
    found = scan_thermometers(bus, str(tmp_path), clock=clock)
    assert [(f.chip, f.location) for f in found] == [
        ("bme280", "I2C 0x77"), ("sht3x", "I2C 0x44"), ("tmp102", "I2C 0x49"), ("ds18b20", "1-wire")]
    for f in found:
        assert f.reading is not None and f.reading.temp_c == pytest.approx(21.0, abs=0.07), f
        assert f.identity and not f.error
    assert found[0].identity == "chip id 0x60 (BME280)"
    assert found[0].summary().startswith("I2C 0x77  bme280   chip id 0x60 (BME280): 21.00 C, 45.0 %RH")
    assert "1-wire id 28-" in found[3].summary()


def test_scan_reports_a_sensor_that_answers_but_fails(clock, tmp_path):
    blank = bme280.Calibration(t1=0, t2=0, t3=0, p=(0,) * 9, h1=0, h2=0, h3=0, h4=0, h5=0, h6=0)
    bus = EmulatedBus({0x76: EmulatedBME280(clock, Room(), calibration=blank), 0x45: EmulatedSHT3x(clock, Room())})
    found = scan_thermometers(bus, str(tmp_path / "no-w1"), clock=clock)
    assert [f.chip for f in found] == ["bme280", "sht3x"]
    assert found[0].reading is None and "blank" in found[0].error
    assert found[1].reading is not None and not found[1].error
    with pytest.raises(DeviceNotFoundError, match="answered at 0x76 but could not be set up.*blank"):
        open_thermometer(bus, "bme280", 0x76, w1_devices=str(tmp_path), clock=clock)
    assert open_thermometer(bus, "auto", w1_devices=str(tmp_path), clock=clock).chip == "sht3x"


def test_scan_without_i2c_bus_or_sensors(clock, tmp_path):
    assert scan_thermometers(None, str(tmp_path), clock=clock) == []
    assert scan_thermometers(EmulatedBus(), str(tmp_path), clock=clock) == []


def test_open_auto_prefers_bme280_then_sht3x_then_tmp102_then_ds18b20(clock, tmp_path):
    room = Room()
    bus = EmulatedBus({0x48: EmulatedTMP102(clock, room), 0x45: EmulatedSHT3x(clock, room)})
    assert open_thermometer(bus, "auto", w1_devices=str(tmp_path), clock=clock).chip == "sht3x"
    bus.attach(0x76, EmulatedBME280(clock, room, chip_id=bme280.ChipId.BMP280))
    assert open_thermometer(bus, "auto", w1_devices=str(tmp_path), clock=clock).chip == "bmp280"
    EmulatedDS18B20(tmp_path, clock, room)
    assert open_thermometer(EmulatedBus(), "auto", w1_devices=str(tmp_path), clock=clock).chip == "ds18b20"
    assert open_thermometer(None, "auto", w1_devices=str(tmp_path), clock=clock).chip == "ds18b20"


def test_open_named_and_addressed(clock, tmp_path):
    room = Room()
    bus = EmulatedBus({0x48: EmulatedTMP102(clock, room), 0x4B: EmulatedTMP102(clock, room),
                       0x76: EmulatedBME280(clock, room)})
    assert open_thermometer(bus, "tmp102", w1_devices=str(tmp_path), clock=clock).address == 0x48
    assert open_thermometer(bus, "tmp102", 0x4B, w1_devices=str(tmp_path), clock=clock).address == 0x4B
    assert open_thermometer(bus, "auto", 0x4B, w1_devices=str(tmp_path), clock=clock).chip == "tmp102"
    assert open_thermometer(bus, "bmp280", w1_devices=str(tmp_path), clock=clock).chip == "bme280"
    assert open_thermometer(bus, "none", w1_devices=str(tmp_path), clock=clock) is None


def test_open_reports_what_is_missing(clock, tmp_path, caplog):
    bus = EmulatedBus()
    with caplog.at_level(logging.WARNING):
        assert open_thermometer(bus, "auto", w1_devices=str(tmp_path), clock=clock) is None
    assert "no room thermometer found" in caplog.text
    with pytest.raises(DeviceNotFoundError, match=r"sht3x answers at 0x44/0x45.*SDA"):
        open_thermometer(bus, "sht3x", w1_devices=str(tmp_path), clock=clock)
    with pytest.raises(DeviceNotFoundError, match="w1-gpio"):
        open_thermometer(bus, "ds18b20", w1_devices=str(tmp_path), clock=clock)
    with pytest.raises(ConfigError, match="0x76"):
        open_thermometer(bus, "sht3x", 0x76, w1_devices=str(tmp_path), clock=clock)
    with pytest.raises(ConfigError, match="unknown sensor"):
        open_thermometer(bus, "dht22", w1_devices=str(tmp_path), clock=clock)


# ---------------------------------------------------------------- the thread


def sht3x_on(clock, room):
    chip = EmulatedSHT3x(clock, room)
    bus = EmulatedBus({0x44: chip})
    return SHT3x(bus, 0x44, clock=clock), chip, bus


class Collector:
    def __init__(self, want):
        self.readings, self.want, self.done = [], want, threading.Event()

    def __call__(self, reading):
        self.readings.append(reading)
        if len(self.readings) >= self.want:
            self.done.set()


def test_thread_reads_every_interval_on_the_injected_clock(clock):
    room = Room(19.0)
    driver, chip, bus = sht3x_on(clock, room)
    sink = Collector(5)
    with Thermometer(driver, sink, clock=clock, interval_s=60.0) as thermo:
        assert sink.done.wait(10), "no readings delivered"
    times = [r.t_mono for r in sink.readings[:5]]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps == pytest.approx([60.0] * 4, abs=0.05)
    assert all(r.temp_c == pytest.approx(19.0, abs=0.003) for r in sink.readings)
    assert thermo.delivered >= 5 and thermo.failures == 0


def test_thread_on_fast_simclock_survives_bus_errors(caplog):
    clock = SimClock(datetime(2026, 1, 1, tzinfo=timezone.utc), speed=2000.0)
    room = Room(20.5)
    driver, chip, bus = sht3x_on(clock, room)
    bus.fail_next(3, errno.EREMOTEIO)  # a tugged cable: the first reads fail
    sink = Collector(3)
    with caplog.at_level(logging.WARNING):
        with Thermometer(driver, sink, clock=clock, interval_s=60.0) as thermo:
            assert sink.done.wait(30), "no readings after the bus errors"
    assert thermo.failures >= 1
    assert "room thermometer read failed" in caplog.text
    assert sink.readings[0].temp_c == pytest.approx(20.5, abs=0.003)


def test_sink_errors_do_not_stop_the_thread(clock, caplog):
    driver, chip, bus = sht3x_on(clock, Room(20.0))
    calls = []

    def bad_sink(reading):
        calls.append(reading)
        raise RuntimeError("consumer bug")

    thermo = Thermometer(driver, bad_sink, clock=clock, interval_s=60.0)
    with caplog.at_level(logging.ERROR):
        thermo.read_once()
        thermo.read_once()
    assert len(calls) == 2 and "temperature sink failed" in caplog.text


def test_crc_fault_is_logged_and_retried(clock, caplog):
    driver, chip, bus = sht3x_on(clock, Room(20.0))
    got = []
    thermo = Thermometer(driver, got.append, clock=clock)
    chip.corrupt_crc = 1
    with caplog.at_level(logging.WARNING):
        assert thermo.read_once() is None
    assert "CRC" in caplog.text and thermo.consecutive_failures == 1
    assert thermo.read_once() is not None and thermo.consecutive_failures == 0
    assert len(got) == 1


def test_implausible_values_rejected(clock, caplog):
    room = Room(20.0)
    driver, chip, bus = sht3x_on(clock, room)
    got = []
    thermo = Thermometer(driver, got.append, clock=clock)
    with caplog.at_level(logging.WARNING):
        thermo.read_once()
        room.temp_c = 100.0  # outside -40..85
        clock.advance(60)
        assert thermo.read_once() is None
        room.temp_c = -42.0
        assert thermo.read_once() is None
        room.temp_c = 35.0  # +15 C in the minute since the last good reading
        assert thermo.read_once() is None
    assert [round(r.temp_c, 1) for r in got] == [20.0]
    assert thermo.rejected == 3
    assert "outside -40..85" in caplog.text and "implausible" in caplog.text


def test_slow_change_and_confirmed_step_are_accepted(clock):
    room = Room(20.0)
    driver, chip, bus = sht3x_on(clock, room)
    got = []
    thermo = Thermometer(driver, got.append, clock=clock)
    thermo.read_once()
    room.temp_c = 28.0  # +8 C in a minute: fast, but possible (heater, window)
    clock.advance(60)
    assert thermo.read_once() is not None
    # The sensor was moved from a radiator shelf to the bedside: a real 15 C step, read every
    # 20 s here, so time alone never excuses it; three agreeing readings confirm it.
    room.temp_c = 13.0
    results = []
    for _ in range(3):
        clock.advance(20)
        results.append(thermo.read_once())
    assert results[0] is None and results[1] is None and results[2] is not None
    assert got[-1].temp_c == pytest.approx(13.0, abs=0.003)


def test_stop_closes_the_driver_and_ends_the_thread(clock):
    driver, chip, bus = sht3x_on(clock, Room())
    closed = []
    driver.close = lambda: closed.append(True)
    thermo = Thermometer(driver, lambda r: None, clock=clock, interval_s=60.0).start()
    thermo.stop()
    assert closed == [True]
    assert not thermo._thread.is_alive()


def test_simulated_bedroom_end_to_end(clock):
    """What ``run --simulate`` does: an emulated BME280 in a cooling room, the real driver and thread."""
    from firmware.emulated.room import attach_thermometer, night_room

    temp, humidity = night_room(t0=0.0, start_c=21.0, end_c=17.5)
    assert temp(0) == 21.0 and 17.5 < temp(8 * 3600) < 17.7 and humidity(8 * 3600) > humidity(0)
    bus = EmulatedBus()
    attach_thermometer(bus, clock, "bme280")
    driver = open_thermometer(bus, "auto", w1_devices="/nonexistent", clock=clock)
    sink = Collector(4 * 60)  # four hours
    with Thermometer(driver, sink, clock=clock, interval_s=60.0):
        assert sink.done.wait(30)
    night = sink.readings[:4 * 60]
    assert night[0].temp_c == pytest.approx(21.0, abs=0.02)
    assert night[-1].temp_c == pytest.approx(temp(night[-1].t_mono), abs=0.02)
    assert all(b.temp_c <= a.temp_c + 0.011 for a, b in zip(night, night[1:]))  # cooling, never a jump
    with pytest.raises(ConfigError):
        attach_thermometer(bus, clock, "dht22")
