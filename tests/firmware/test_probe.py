"""Auto-detection: what ``accelerometer = "auto"`` picks and what ``doctor`` lists."""

from __future__ import annotations

import pytest

from firmware.clock import ManualClock
from firmware.emulated.bus import RegisterFile
from firmware.emulated.rig import ChipSpec, build_rig
from firmware.errors import ConfigError, DeviceNotFoundError
from firmware.probe import missing_chips, open_accelerometer, scan_accelerometers


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
    assert (driver.CHIP, driver.address) == ("mpu6050", 0x69)


def test_bad_names_and_addresses_are_config_errors():
    bus = build_rig(ManualClock(), [])
    with pytest.raises(ConfigError, match="unknown chip"):
        open_accelerometer(bus, "bmi160")
    with pytest.raises(ConfigError, match="0x68 or 0x69"):
        open_accelerometer(bus, "mpu6050", 0x53)
