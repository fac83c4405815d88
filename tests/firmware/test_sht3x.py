"""SHT3x driver against the emulated chip: CRC, conversions, command protocol, NACKs, faults."""

from __future__ import annotations

import errno

import pytest

from firmware import sht3x as ds
from firmware.bus import raw_read, raw_write
from firmware.clock import ManualClock
from firmware.emulated.bus import EmulatedBus
from firmware.emulated.sht3x import EmulatedSHT3x
from firmware.errors import BusError, DeviceNotFoundError, SensorFaultError
from firmware.sht3x import SHT3x


def make(temp=22.25, humidity=51.0, address=0x44):
    clock = ManualClock()
    chip = EmulatedSHT3x(clock, lambda t: temp, lambda t: humidity)
    return clock, chip, EmulatedBus({address: chip})


def test_crc_datasheet_example():
    assert ds.crc8(b"\xbe\xef") == 0x92
    assert ds.crc8(b"\x00\x00") == 0x81


def test_conversion_formulas():
    assert ds.temperature_c(0) == -45.0
    assert ds.temperature_c(0xFFFF) == 130.0
    assert ds.temperature_c(0x6666) == pytest.approx(25.0, abs=0.01)
    assert ds.humidity_pct(0x8000) == pytest.approx(50.0, abs=0.001)


def test_reads_temperature_and_humidity():
    clock, chip, bus = make(temp=22.25, humidity=51.0)
    with SHT3x(bus, 0x44, clock=clock) as sensor:
        r = sensor.read()
    assert r.temp_c == pytest.approx(22.25, abs=0.003)
    assert r.humidity_pct == pytest.approx(51.0, abs=0.002)
    assert r.sensor == "sht3x"


def test_commands_on_the_wire():
    clock, chip, bus = make(address=0x45)
    sensor = SHT3x(bus, 0x45, clock=clock)
    assert chip.commands == [ds.Command.SOFT_RESET, ds.Command.READ_STATUS]
    assert sensor.identity == "status 0x8010 (CRC ok)"  # power-on: alert pending, reset detected
    sensor.read()
    assert chip.commands[-1] == 0x2400  # single shot, high repeatability, no clock stretching
    assert chip.measurements == 1


def test_read_before_measurement_done_is_nacked():
    clock, chip, bus = make()
    raw_write(bus, 0x44, [0x24, 0x00])
    clock.advance(0.010)  # datasheet max is 15 ms
    with pytest.raises(OSError) as info:
        raw_read(bus, 0x44, 6)
    assert info.value.errno == errno.EREMOTEIO
    clock.advance(0.006)
    data = raw_read(bus, 0x44, 6)
    assert ds.crc8(data[0:2]) == data[2] and ds.crc8(data[3:5]) == data[5]
    with pytest.raises(OSError):  # a result is read once
        raw_read(bus, 0x44, 6)


def test_driver_waits_at_least_15_ms():
    clock, chip, bus = make()
    sensor = SHT3x(bus, 0x44, clock=clock)
    t0 = clock.monotonic()
    sensor.read()
    assert clock.monotonic() - t0 >= 0.015


def test_crc_mismatch_raises_sensor_fault_then_recovers():
    clock, chip, bus = make()
    sensor = SHT3x(bus, 0x44, clock=clock)
    chip.corrupt_crc = 1
    with pytest.raises(SensorFaultError, match="CRC"):
        sensor.read()
    assert sensor.read().temp_c == pytest.approx(22.25, abs=0.003)


def test_unknown_command_nacked_and_flagged_in_status():
    clock, chip, bus = make()
    sensor = SHT3x(bus, 0x44, clock=clock)
    with pytest.raises(OSError):
        raw_write(bus, 0x44, [0x12, 0x34])
    assert sensor.read_status() & ds.STATUS_COMMAND_FAILED


def test_chip_left_in_periodic_mode_is_recovered_by_break():
    clock, chip, bus = make()
    raw_write(bus, 0x44, [0x21, 0x30])  # another program started periodic mode
    sensor = SHT3x(bus, 0x44, clock=clock)
    assert ds.Command.BREAK in chip.commands
    assert not chip.periodic
    assert sensor.read().humidity_pct == pytest.approx(51.0, abs=0.002)


def test_status_crc_failure_means_not_an_sht3x():
    clock, chip, bus = make()
    chip.corrupt_crc = 1
    with pytest.raises(DeviceNotFoundError, match="not an SHT3x"):
        SHT3x(bus, 0x44, clock=clock)


def test_absent():
    with pytest.raises(DeviceNotFoundError, match="0x45"):
        SHT3x(EmulatedBus(), 0x45, clock=ManualClock())


def test_injected_bus_error():
    clock, chip, bus = make()
    sensor = SHT3x(bus, 0x44, clock=clock)
    bus.fail_next(1, errno.ETIMEDOUT)
    with pytest.raises(BusError, match="sht3x at 0x44") as info:
        sensor.read()
    assert info.value.errno == errno.ETIMEDOUT


def test_slow_chip_is_retried_after_nack():
    """A part slower than the datasheet maximum NACKs the first read; the driver tries again."""
    clock, chip, bus = make()
    sensor = SHT3x(bus, 0x44, clock=clock)
    chip.slowdown = 1.3  # 19.5 ms instead of 15
    assert sensor.read().temp_c == pytest.approx(22.25, abs=0.003)


def test_sub_zero_and_hot():
    clock, chip, bus = make(temp=-12.5, humidity=99.0)
    r = SHT3x(bus, 0x44, clock=clock).read()
    assert r.temp_c == pytest.approx(-12.5, abs=0.003) and r.humidity_pct == pytest.approx(99.0, abs=0.002)


def test_chip_reset_mid_night_is_transparent():
    clock, chip, bus = make(temp=18.0)
    sensor = SHT3x(bus, 0x44, clock=clock)
    sensor.read()
    chip.power_on_reset()  # brown-out
    assert sensor.read().temp_c == pytest.approx(18.0, abs=0.003)
    assert sensor.read_status() & ds.STATUS_RESET_DETECTED
