"""ADXL345 driver against the emulated chip: decoding, registers after start, FIFO, overflow, reset."""

from __future__ import annotations

import numpy as np
import pytest

from firmware import adxl345 as ds
from firmware.adxl345 import ADXL345, counts_to_g, decode_samples_g
from firmware.clock import ManualClock
from firmware.emulated.bus import EmulatedBus, RegisterFile
from firmware.emulated.rig import ChipSpec, build_rig
from firmware.errors import DeviceNotFoundError
from support.accelrig import RampSource


@pytest.fixture
def rig():
    clock = ManualClock()
    source = RampSource(span_g=3.0)
    bus = build_rig(clock, [ChipSpec("adxl345", 0x53, source=source)])
    return clock, bus, bus.devices[0x53], source


def expected_g(accel_g, range_g):
    """Full resolution: 3.9 mg/LSB, 10 + range-code bits (DS Table 1, DATA_FORMAT)."""
    bits = 10 + {2: 0, 4: 1, 8: 2}[range_g]
    top = 2 ** (bits - 1)
    return np.clip(np.rint(accel_g / 0.0039), -top, top - 1) * 0.0039


def test_full_resolution_scale_factor():
    # DS Table 1: 3.9 mg/LSB at every range in full resolution; 256 LSB is about 1 g.
    assert counts_to_g(256) == pytest.approx(0.9984)
    assert counts_to_g(-1) == pytest.approx(-0.0039)


def test_data_registers_are_little_endian():
    raw = bytes([0x00, 0x01, 0x00, 0xFF, 0x01, 0x00])  # +256, -256, +1
    np.testing.assert_allclose(decode_samples_g(raw), [[0.9984, -0.9984, 0.0039]])


def test_power_on_values(rig):
    clock, bus, chip, _ = rig
    clock.advance(1.0)
    assert bus.read_byte_data(0x53, ds.DEVID) == 0xE5
    assert bus.read_byte_data(0x53, ds.BW_RATE) == 0x0A  # 100 Hz
    assert bus.read_byte_data(0x53, ds.POWER_CTL) == 0x00  # standby: no samples
    assert chip.samples_produced == 0


@pytest.mark.parametrize("rate_hz, range_g, bw, fmt", [(50, 4, 0x09, 0x09), (25, 2, 0x08, 0x08),
                                                       (100, 8, 0x0A, 0x0A), (200, 4, 0x0B, 0x09)])
def test_registers_after_start(rig, rate_hz, range_g, bw, fmt):
    clock, bus, chip, _ = rig
    ADXL345(bus, 0x53, rate_hz, range_g).start()
    assert chip.regs[ds.BW_RATE] == bw
    assert chip.regs[ds.DATA_FORMAT] == fmt  # FULL_RES | range
    assert chip.regs[ds.FIFO_CTL] == 0x90  # stream mode, watermark 16
    assert chip.regs[ds.POWER_CTL] == 0x08  # measuring
    assert chip.output_rate_hz() == rate_hz


def test_a_longer_burst_runs_into_fifo_ctl_not_the_next_sample(rig):
    # Why the driver reads 6 bytes per sample: the datasheet's FIFO pops per data-register read.
    clock, bus, chip, _ = rig
    ADXL345(bus, 0x53, 50, 4).start()
    clock.advance(0.2)
    block = bus.read_i2c_block_data(0x53, ds.DATAX0, 8)
    assert block[6] == 0x90  # FIFO_CTL
    assert block[7] == 9  # FIFO_STATUS: one entry popped out of 10


def test_drain_reads_every_entry(rig):
    clock, bus, chip, source = rig
    drv = ADXL345(bus, 0x53, 50, 4)
    drv.start()
    clock.advance(0.4)
    result = drv.drain()
    assert len(result) == 20 and not result.overflowed
    np.testing.assert_allclose(result.accel_g, expected_g(source.accel_at(source.times()), 4))
    assert bus.read_byte_data(0x53, ds.FIFO_STATUS) == 0


def test_values_clip_at_the_range(rig):
    clock = ManualClock()
    bus = build_rig(clock, [ChipSpec("adxl345", 0x53, source=lambda t0, n, r: np.tile([5.0, -5.0, 1.0], (n, 1)))])
    drv = ADXL345(bus, 0x53, 50, 4)
    drv.start()
    clock.advance(0.1)
    g = drv.drain().accel_g
    np.testing.assert_allclose(g[0], [1023 * 0.0039, -1024 * 0.0039, 256 * 0.0039])  # 11 bits at +-4 g


def test_full_fifo_is_a_possible_overflow_with_the_newest_32(rig):
    clock, bus, chip, source = rig
    drv = ADXL345(bus, 0x53, 50, 4)
    drv.start()
    clock.advance(2.0)  # 100 samples into 32 entries
    result = drv.drain()
    assert result.overflowed and len(result) == 32
    newest = source.accel_at(source.times()[-32:])
    np.testing.assert_allclose(result.accel_g, expected_g(newest, 4))
    assert chip.samples_lost == 100 - 32


class FailOnceBus(EmulatedBus):
    """An EmulatedBus whose transaction number ``fail_at`` (counted from arming) fails with EIO."""

    fail_at = None

    def _begin(self, address):
        if self.fail_at is not None:
            self.fail_at -= 1
            if self.fail_at == 0:
                self.fail_at = None
                self.transactions += 1
                raise OSError(5, "Input/output error")
        return super()._begin(address)


def test_a_read_failing_mid_drain_keeps_the_samples_already_popped():
    clock = ManualClock()
    source = RampSource(span_g=3.0)
    bus = FailOnceBus()
    bus.attach(0x53, build_rig(clock, [ChipSpec("adxl345", 0x53, source=source)]).devices[0x53])
    drv = ADXL345(bus, 0x53, 50, 4)
    drv.start()
    clock.advance(0.2)
    bus.fail_at = 5  # FIFO_STATUS, three samples, then the fourth sample's read fails
    with pytest.raises(OSError):
        drv.drain()
    result = drv.drain()
    assert len(result) == 10  # 3 kept from the failed drain + the 7 still in the FIFO, in order
    np.testing.assert_allclose(result.accel_g, expected_g(source.accel_at(source.times()), 4))


def test_verify_detects_a_reset(rig):
    clock, bus, chip, _ = rig
    drv = ADXL345(bus, 0x53, 50, 4)
    drv.start()
    assert drv.verify()
    chip.power_on_reset()
    assert not drv.verify()
    drv.start()
    assert drv.verify()


def test_wrong_identity():
    other = RegisterFile()
    other.regs[ds.DEVID] = 0x12
    with pytest.raises(DeviceNotFoundError) as err:
        ADXL345(EmulatedBus({0x1D: other}), 0x1D, bus_label="/dev/i2c-1").start()
    assert "0x1d" in str(err.value) and "0xe5" in str(err.value) and "ALT" in str(err.value)
