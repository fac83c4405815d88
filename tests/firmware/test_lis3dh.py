"""LIS3DH driver against the emulated chip: decoding, registers after start, FIFO burst, overflow, reset."""

from __future__ import annotations

import numpy as np
import pytest

from firmware import lis3dh as ds
from firmware.clock import ManualClock
from firmware.emulated.bus import EmulatedBus, RegisterFile
from firmware.emulated.rig import ChipSpec, build_rig
from firmware.errors import DeviceNotFoundError
from firmware.lis3dh import LIS3DH, counts_to_g, decode_fifo_g, fifo_level
from support.accelrig import RampSource


@pytest.fixture
def rig():
    clock = ManualClock()
    source = RampSource(span_g=1.5)
    bus = build_rig(clock, [ChipSpec("lis3dh", 0x19, source=source)])
    return clock, bus, bus.devices[0x19], source


def expected_g(accel_g, range_g):
    """High resolution: 12 bits, 1/2/4 mg per digit (DS Table 4)."""
    mg = {2: 0.001, 4: 0.002, 8: 0.004}[range_g]
    return np.clip(np.rint(accel_g / mg), -2048, 2047) * mg


def test_left_justified_high_resolution_decoding():
    # DS 3.2.1 / Table 4: the 12-bit value sits in the top bits; 1 mg/digit at +-2 g.
    assert counts_to_g(np.int32(0x4000), 2) == pytest.approx(1.024)
    assert counts_to_g(np.int32(0x4000), 4) == pytest.approx(2.048)
    assert counts_to_g(np.int32(-0x4000), 2) == pytest.approx(-1.024)
    assert counts_to_g(np.int32(0x0010), 8) == pytest.approx(0.004)
    raw = bytes([0x00, 0x40, 0x00, 0xC0, 0x10, 0x00])
    np.testing.assert_allclose(decode_fifo_g(raw, 2), [[1.024, -1.024, 0.001]])


def test_fifo_source_register():
    assert fifo_level(0x20) == (0, False)  # EMPTY
    assert fifo_level(0x85) == (5, False)  # WTM, 5 unread
    assert fifo_level(0x40 | 0x1F) == (32, True)  # OVRN: all 32 slots full


def test_power_on_is_power_down(rig):
    clock, bus, chip, _ = rig
    clock.advance(1.0)
    assert bus.read_byte_data(0x19, ds.WHO_AM_I) == 0x33
    assert bus.read_byte_data(0x19, ds.CTRL_REG1) == 0x07
    assert chip.samples_produced == 0


@pytest.mark.parametrize("rate_hz, range_g, ctrl1, ctrl4", [(50, 4, 0x47, 0x98), (25, 2, 0x37, 0x88),
                                                            (100, 8, 0x57, 0xA8), (200, 2, 0x67, 0x88)])
def test_registers_after_start(rig, rate_hz, range_g, ctrl1, ctrl4):
    clock, bus, chip, _ = rig
    LIS3DH(bus, 0x19, rate_hz, range_g).start()
    assert chip.regs[ds.CTRL_REG1] == ctrl1  # ODR, normal power, X/Y/Z on
    assert chip.regs[ds.CTRL_REG4] == ctrl4  # BDU | FS | HR
    assert chip.regs[ds.CTRL_REG5] == 0x40  # FIFO enabled
    assert chip.regs[ds.FIFO_CTRL_REG] == 0x90  # stream mode, threshold 16
    assert chip.output_rate_hz() == rate_hz


def test_auto_increment_wraps_to_the_next_sample(rig):
    # AN3308: with the FIFO on, a burst from 0xA8 rolls from 0x2D back to 0x28 and pops the next sample.
    clock, bus, chip, source = rig
    LIS3DH(bus, 0x19, 50, 2).start()
    clock.advance(0.1)
    block = bytes(bus.read_i2c_block_data(0x19, ds.OUT_X_L | ds.AUTO_INCREMENT, 12))
    np.testing.assert_allclose(decode_fifo_g(block, 2), expected_g(source.accel_at(source.times()[:2]), 2))


def test_drain_is_one_burst(rig):
    clock, bus, chip, source = rig
    drv = LIS3DH(bus, 0x19, 50, 4)
    drv.start()
    clock.advance(0.5)
    before = bus.transactions
    result = drv.drain()
    assert bus.transactions - before == 2  # FIFO_SRC_REG, then 150 bytes through i2c_rdwr
    assert len(result) == 25 and not result.overflowed
    np.testing.assert_allclose(result.accel_g, expected_g(source.accel_at(source.times()), 4))


def test_overrun_reports_a_possible_overflow_with_the_newest_32(rig):
    clock, bus, chip, source = rig
    drv = LIS3DH(bus, 0x19, 100, 2)
    drv.start()
    clock.advance(1.0)
    result = drv.drain()
    assert result.overflowed and len(result) == 32
    np.testing.assert_allclose(result.accel_g, expected_g(source.accel_at(source.times()[-32:]), 2))
    clock.advance(0.1)
    result = drv.drain()
    assert not result.overflowed and len(result) == 10


def test_verify_detects_a_reset(rig):
    clock, bus, chip, _ = rig
    drv = LIS3DH(bus, 0x19, 50, 4)
    drv.start()
    assert drv.verify()
    chip.power_on_reset()
    assert not drv.verify()
    drv.start()
    assert drv.verify()


def test_wrong_identity():
    other = RegisterFile()
    other.regs[ds.WHO_AM_I] = 0x44  # e.g. an LIS2DW12 on the same address
    with pytest.raises(DeviceNotFoundError) as err:
        LIS3DH(EmulatedBus({0x18: other}), 0x18).start()
    assert "0x18" in str(err.value) and "0x44" in str(err.value) and "SA0" in str(err.value)
