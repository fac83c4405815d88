"""service.app.hardware: one factory opens the Pi's bus or the simulated world, with every configured part."""

from __future__ import annotations

import pytest

from firmware.bus import LockedBus
from firmware.clock import ManualClock, SystemClock
from firmware.errors import BusError
from service import config as cfg
from service.app.hardware import open_hardware
from service.sim.world import SimOptions

TWO_LEGS = """
[[legs]]
name = "left"
chip = "mpu6050"
[[legs]]
name = "right"
chip = "mpu6050"
"""


@pytest.mark.parametrize("sensor, chip", [("auto", "bme280"), ("sht3x", "sht3x"), ("tmp102", "tmp102"),
                                          ("ds18b20", "ds18b20")])
def test_the_simulated_world_has_the_configured_thermometer(sensor, chip):
    config = cfg.parse(f'[temperature]\nsensor = "{sensor}"\n')
    items = []
    with open_hardware(config, SimOptions(seed=1, cramps=0, room_c=21.0), items.append) as hw:
        assert hw.thermometer is not None and hw.thermometer.driver.chip == chip
        hw.clock.advance(1.0)  # a first conversion (the TMP102 converts 4 times a second)
        reading = hw.thermometer.read_once()
        assert reading is not None and reading.temp_c == pytest.approx(21.0, abs=0.1)
        w1 = hw.w1_devices
    if sensor == "ds18b20":
        assert w1 != config.temperature.w1_devices  # an emulated 1-wire directory, removed on close
        assert not __import__("os").path.exists(w1)


def test_every_leg_gets_a_sampler_on_a_locked_bus():
    config = cfg.parse(TWO_LEGS)
    with open_hardware(config, SimOptions(seed=2, cramps=0), lambda item: None) as hw:
        assert isinstance(hw.bus, LockedBus) and isinstance(hw.clock, ManualClock)
        assert [s.leg for s in hw.samplers] == ["left", "right"]
        assert sorted(s.driver.address for s in hw.samplers) == [0x68, 0x69]
        assert hw.world is not None and set(hw.world.addresses) == {"left", "right"}
        assert hw.bus_label == "the emulated I2C bus"


def test_legs_narrows_and_no_sink_opens_the_bus_only():
    config = cfg.parse(TWO_LEGS)
    with open_hardware(config, SimOptions(seed=2), lambda item: None, legs=["right"]) as hw:
        assert [s.leg for s in hw.samplers] == ["right"]
    with open_hardware(config, SimOptions(seed=2), clock=SystemClock()) as hw:
        assert hw.samplers == [] and hw.thermometer is None
        assert isinstance(hw.clock, SystemClock) and isinstance(hw.bus, LockedBus)


def test_fault_injection_reaches_the_bus():
    config = cfg.parse("")
    with open_hardware(config, SimOptions(seed=3, fail_rate=0.5), clock=SystemClock()) as hw:
        errors = 0
        for _ in range(40):
            try:
                hw.bus.read_byte_data(0x68, 0x75)
            except OSError:
                errors += 1
        assert 5 <= errors <= 35


def test_no_i2c_bus_says_how_to_enable_it():
    config = cfg.parse("[accelerometer]\ni2c_bus = 97\n")
    with pytest.raises(BusError) as info:
        open_hardware(config, None, lambda item: None)
    assert "/dev/i2c-97" in str(info.value) and "raspi-config" in str(info.value)
