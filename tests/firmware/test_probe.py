"""Auto-detection: what ``accelerometer = "auto"`` picks and what ``doctor`` lists."""

from __future__ import annotations

import pytest

from firmware.clock import ManualClock
from firmware.emulated.bus import RegisterFile
from firmware.emulated.rig import ChipSpec, build_rig
from firmware.errors import ConfigError, DeviceNotFoundError, SensorAbsentError
from firmware.probe import PROBE_MAX_S, ProbingAccelerometer, missing_chips, open_accelerometer, scan_accelerometers


def test_scan_finds_every_chip_with_a_reading():
    clock = ManualClock()
    bus = build_rig(clock, [ChipSpec("mpu9250", 0x69), ChipSpec("lis3dh", 0x18), ChipSpec("adxl345", 0x1D)])
    found = scan_accelerometers(bus, sleep=clock.sleep)
    assert [(f.chip, f.address, f.model) for f in found] == [
        ("mpu6050", 0x69, "MPU-9250"), ("lis3dh", 0x18, "LIS3DH"), ("adxl345", 0x1D, "ADXL345")]
    assert [f.identity for f in found] == [0x71, 0x33, 0xE5]
    for f in found:
        assert f.error == ""
        assert f.magnitude_g == pytest.approx(1.0, abs=0.02)  # still sensors: gravity only
    assert missing_chips(found) == {}


def test_an_impostor_at_a_known_address_is_not_an_accelerometer():
    clock = ManualClock()
    bus = build_rig(clock, [ChipSpec("lis3dh", 0x19)])
    bus.attach(0x68, RegisterFile())  # a DS3231 real-time clock module also answers at 0x68
    found = scan_accelerometers(bus, sleep=clock.sleep)
    assert [(f.chip, f.address) for f in found] == [("lis3dh", 0x19)]
    hints = missing_chips(found)
    assert set(hints) == {"mpu6050", "adxl345"}
    assert "AD0" in hints["mpu6050"] and "0x69" in hints["mpu6050"]
    assert "ALT" in hints["adxl345"] and "0x1D" in hints["adxl345"]


def test_auto_picks_what_it_finds_and_the_second_leg_gets_the_other_chip():
    clock = ManualClock()
    bus = build_rig(clock, [ChipSpec("mpu6050", 0x68), ChipSpec("mpu6050", 0x69)])
    left = open_accelerometer(bus, "auto", sleep=clock.sleep)
    right = open_accelerometer(bus, "auto", exclude=[left.address], sleep=clock.sleep)
    assert (left.CHIP, left.address, right.CHIP, right.address) == ("mpu6050", 0x68, "mpu6050", 0x69)
    assert not left.started  # the Sampler starts it
    with pytest.raises(DeviceNotFoundError) as err:
        open_accelerometer(bus, "auto", exclude=[0x68, 0x69], bus_label="/dev/i2c-1")
    assert "/dev/i2c-1" in str(err.value) and "Wiring" in str(err.value)


def test_named_chip_at_any_of_its_addresses():
    clock = ManualClock()
    bus = build_rig(clock, [ChipSpec("adxl345", 0x1D)])
    assert open_accelerometer(bus, "adxl345").address == 0x1D
    with pytest.raises(DeviceNotFoundError) as err:
        open_accelerometer(bus, "lis3dh", bus_label="/dev/i2c-1")
    assert "0x18" in str(err.value) and "0x19" in str(err.value) and "SA0" in str(err.value)


def test_a_missing_named_sensor_can_be_waited_for():
    bus = build_rig(ManualClock(), [])
    driver = open_accelerometer(bus, "mpu6050", 0x69, require=False)
    assert isinstance(driver, ProbingAccelerometer)
    assert (driver.CHIP, driver.address) == ("mpu6050", 0x69)


def _probe_times(driver, clock, until_s):
    """Step the clock in 0.5 s and call start() as the sampler does; the times a probe reached the bus."""
    times = []
    while clock.monotonic() < until_s:
        clock.advance(0.5)
        before = driver.transactions
        try:
            driver.start()
            return times, clock.monotonic()
        except SensorAbsentError as exc:
            assert exc.probed == (driver.transactions > before)
        if driver.transactions > before:
            times.append(clock.monotonic())
    return times, None


def test_auto_with_nothing_on_the_bus_probes_with_a_back_off_until_a_chip_is_plugged_in():
    clock = ManualClock(t0=0.0)
    plugged = build_rig(clock, [ChipSpec("lis3dh", 0x19)])
    bus = build_rig(clock, [])
    bus.attach_later(0x19, plugged.devices[0x19], lambda: clock.monotonic() >= 200.0)
    driver = open_accelerometer(bus, "auto", require=False, monotonic=clock.monotonic, sleep=clock.sleep)
    assert isinstance(driver, ProbingAccelerometer) and driver.model == "not found yet"
    assert "no accelerometer answers" in driver.last_error and "AD0" in driver.last_error  # with the wiring
    times, found_at = _probe_times(driver, clock, 400.0)
    gaps = [b - a for a, b in zip([0.0, *times], times)]
    assert gaps[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]  # 1 s, doubling ...
    assert all(g == PROBE_MAX_S for g in gaps[5:]) and len(gaps) > 6  # ... up to 30 s
    assert found_at is not None and 200.0 <= found_at <= 200.0 + PROBE_MAX_S
    assert (driver.CHIP, driver.address, driver.model) == ("lis3dh", 0x19, "LIS3DH")
    assert driver.started and driver.drain() is not None  # the real driver from now on


def test_two_legs_probing_do_not_take_the_same_chip():
    clock = ManualClock(t0=0.0)
    bus = build_rig(clock, [])
    taken: list[int] = []
    left = open_accelerometer(bus, "mpu6050", exclude=taken, require=False, monotonic=clock.monotonic,
                              sleep=clock.sleep)
    right = open_accelerometer(bus, "mpu6050", exclude=taken, require=False, monotonic=clock.monotonic,
                               sleep=clock.sleep)
    chips = build_rig(clock, [ChipSpec("mpu6050", 0x68), ChipSpec("mpu6050", 0x69)])
    bus.attach(0x68, chips.devices[0x68])
    bus.attach(0x69, chips.devices[0x69])
    clock.advance(1.0)
    left.start()
    right.start()
    assert {left.address, right.address} == {0x68, 0x69} and sorted(taken) == [0x68, 0x69]


def test_a_probing_driver_refuses_a_bad_chip_name_at_once():
    with pytest.raises(ConfigError, match="unknown chip"):
        ProbingAccelerometer(build_rig(ManualClock(), []), "bmi160", None, 50, 4)


def test_bad_names_and_addresses_are_config_errors():
    bus = build_rig(ManualClock(), [])
    with pytest.raises(ConfigError, match="unknown chip"):
        open_accelerometer(bus, "bmi160")
    with pytest.raises(ConfigError, match="0x68 or 0x69"):
        open_accelerometer(bus, "mpu6050", 0x53)
