"""service.app.hardware: one factory opens the Pi's bus or the simulated world, with every configured part."""

from __future__ import annotations

import pytest

from firmware.bus import LockedBus
from firmware.clock import ManualClock, SystemClock
from firmware.emulated.rig import ChipSpec, build_rig
from firmware.errors import BusError
from firmware.samples import AccelBatch, SensorStatus
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
    """``record`` (require) and ``doctor`` (no sink) stop with the message; ``run`` does not (next test)."""
    config = cfg.parse("[accelerometer]\ni2c_bus = 97\n")
    with pytest.raises(BusError) as info:
        open_hardware(config, None, lambda item: None, require=True)
    assert "/dev/i2c-97" in str(info.value) and "raspi-config" in str(info.value)
    with pytest.raises(BusError):
        open_hardware(config)


def test_run_starts_without_the_bus_reports_the_fault_and_samples_once_the_bus_appears():
    """No /dev/i2c-N at boot (I2C not enabled yet, the module loads late): a sensor fault, then sampling."""
    clock = ManualClock(t0=0.0)
    rig = build_rig(clock, [ChipSpec("mpu6050", 0x68)])
    loaded = []

    def opener(n):  # smbus2.SMBus(n) as a Pi without i2c-dev behaves, until the module is loaded
        if not loaded:
            raise FileNotFoundError(2, "No such file or directory", f"/dev/i2c-{n}")
        return rig

    config = cfg.parse('[accelerometer]\ni2c_bus = 97\n[temperature]\nsensor = "none"\n')
    items = []
    with open_hardware(config, None, items.append, clock=clock, opener=opener) as hw:
        (sampler,) = hw.samplers
        sampler.step()
        faults = [i for i in items if isinstance(i, SensorStatus)]
        assert len(faults) == 1 and not faults[0].ok  # reported at the first pass, not after fault_after_s
        assert "/dev/i2c-97" in faults[0].reason and "does not exist" in faults[0].reason
        for _ in range(20):  # 20 s with nothing: passes go on (the watchdog), no second report
            clock.advance(sampler.step())
        assert sampler.stats.passes >= 20
        assert [i for i in items if isinstance(i, SensorStatus)] == faults
        loaded.append(True)
        for _ in range(200):
            clock.advance(sampler.step())
            if any(isinstance(i, AccelBatch) for i in items):
                break
        statuses = [i for i in items if isinstance(i, SensorStatus)]
        assert [s.ok for s in statuses] == [False, True]
        assert sampler.driver.CHIP == "mpu6050" and sampler.driver.address == 0x68
        assert any(isinstance(i, AccelBatch) for i in items)


def test_run_starts_with_the_sensor_unplugged_in_the_simulated_world():
    config = cfg.parse("")
    items = []
    with open_hardware(config, SimOptions(seed=2, cramps=0, sensor_absent_s=45.0), items.append) as hw:
        (sampler,) = hw.samplers
        clock = hw.clock
        t0 = clock.monotonic()
        while clock.monotonic() < t0 + 120 and not any(isinstance(i, AccelBatch) for i in items):
            clock.advance(sampler.step())
        statuses = [i for i in items if isinstance(i, SensorStatus)]
        assert [s.ok for s in statuses] == [False, True]
        assert statuses[0].reason.startswith("not found: no accelerometer answers on the emulated I2C bus")
        assert 45.0 <= statuses[1].t_mono - t0 <= 45.0 + 30.0  # found at the first probe after the plug
