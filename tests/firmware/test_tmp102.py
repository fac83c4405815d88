"""TMP102 driver against the emulated chip: datasheet decodes, pointer register, plausibility identity."""

from __future__ import annotations

import errno

import pytest

from firmware import tmp102 as ds
from firmware.clock import ManualClock
from firmware.emulated.bus import EmulatedBus
from firmware.emulated.tmp102 import EmulatedTMP102, raw_for_temperature
from firmware.errors import BusError, DeviceNotFoundError
from firmware.tmp102 import TMP102


def make(temp=20.0, address=0x48):
    clock = ManualClock()
    chip = EmulatedTMP102(clock, lambda t: temp if not callable(temp) else temp(t))
    clock.advance(0.5)  # past the first conversion
    return clock, chip, EmulatedBus({address: chip})


@pytest.mark.parametrize("raw, temp_c", [(0x1900, 25.0), (0xFFC0, -0.25), (0xE700, -25.0),
                                         (0x7FF0, 127.9375), (0x0010, 0.0625), (0x0000, 0.0)])
def test_datasheet_examples_12_bit(raw, temp_c):
    assert ds.temperature_c(raw) == temp_c


def test_extended_mode_13_bit():
    assert ds.temperature_c(0x4B01) == 150.0  # DS Table 6: 150 C = 0x4B0 in 13-bit (bits 15:3), EM flag bit 0
    assert ds.temperature_c(raw_for_temperature(-40.0, extended=True)) == -40.0


def test_reads_msb_first_not_smbus_word():
    clock, chip, bus = make(temp=25.0)
    sensor = TMP102(bus, 0x48, clock=clock)
    assert sensor.read().temp_c == 25.0
    # read_word_data would have swapped the bytes: 0x0019 -> 1.5625 C
    assert ds.temperature_c(bus.read_word_data(0x48, 0)) != 25.0


def test_pointer_register_left_at_temperature():
    clock, chip, bus = make()
    sensor = TMP102(bus, 0x48, clock=clock)
    assert chip.pointer == ds.Pointer.CONFIG  # identity check read the configuration
    sensor.read()
    assert chip.pointer == ds.Pointer.TEMPERATURE


def test_identity_from_power_on_config():
    clock, chip, bus = make()
    sensor = TMP102(bus, 0x48, clock=clock)
    assert "0x60a0" in sensor.identity and "power-on" in sensor.identity
    assert ds.looks_like_tmp102(0x60A0)
    assert not ds.looks_like_tmp102(0x8583)  # ADS1115 power-on config
    assert not ds.looks_like_tmp102(0x0000)  # LM75 config byte


def test_other_chip_at_tmp102_address_rejected():
    with pytest.raises(DeviceNotFoundError, match="another chip"):  # an ADS1115 powers up with config 0x8583
        TMP102(EmulatedBus({0x48: _WordChip({1: 0x8583})}), 0x48, clock=ManualClock())


class _WordChip:
    """A chip with 16-bit registers behind a pointer (ADS1115-like)."""

    def __init__(self, regs):
        self.regs, self.pointer = regs, 0

    def write(self, data):
        self.pointer = data[0]

    def read(self, n):
        v = self.regs.get(self.pointer, 0)
        return bytes([v >> 8, v & 0xFF])[:n]


def test_follows_temperature_at_conversion_rate():
    clock, chip, bus = make(temp=lambda t: 18.0 + t)  # +1 C per second
    sensor = TMP102(bus, 0x48, clock=clock)
    a = sensor.read().temp_c
    clock.advance(0.02)  # conversions at 26 ms + k * 250 ms: 0.5 s and 0.52 s share one
    assert sensor.read().temp_c == a
    clock.advance(2.0)
    assert sensor.read().temp_c == pytest.approx(a + 2.0, abs=0.3)


def test_shutdown_chip_is_woken():
    clock, chip, bus = make(temp=19.0)
    bus.write_i2c_block_data(0x48, 1, [0x61, 0xA0])  # SD = 1
    assert chip.config & ds.CONFIG_SHUTDOWN
    sensor = TMP102(bus, 0x48, clock=clock)
    assert not chip.config & ds.CONFIG_SHUTDOWN
    assert sensor.read().temp_c == 19.0


def test_comparator_alert_bit():
    clock, chip, bus = make(temp=81.0)
    sensor = TMP102(bus, 0x48, clock=clock)
    assert not sensor.read_register(ds.Pointer.CONFIG) & ds.CONFIG_ALERT  # POL=0: AL reads 0 when active
    assert sensor.read_register(ds.Pointer.T_HIGH) == ds.T_HIGH_POWER_ON


def test_absent_and_bus_errors():
    with pytest.raises(DeviceNotFoundError, match="0x4b"):
        TMP102(EmulatedBus(), 0x4B, clock=ManualClock())
    clock, chip, bus = make()
    sensor = TMP102(bus, 0x48, clock=clock)
    bus.fail_next(1, errno.EREMOTEIO)
    with pytest.raises(BusError, match="tmp102 at 0x48"):
        sensor.read()


def test_reset_reads_zero_until_first_conversion():
    """After a power-on reset the register holds 0x0000 until the first conversion (~26 ms)."""
    clock, chip, bus = make(temp=21.0)
    sensor = TMP102(bus, 0x48, clock=clock)
    chip.power_on_reset()
    assert sensor.read().temp_c == 0.0  # the thermometer thread's jump check rejects this
    clock.advance(0.05)
    assert sensor.read().temp_c == 21.0
