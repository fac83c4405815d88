"""MPU-6050 driver against the emulated chip: decoding, registers after start, FIFO, overflow, reset."""

from __future__ import annotations

import numpy as np
import pytest

from firmware import mpu6050 as rm
from firmware.clock import ManualClock
from firmware.emulated.bus import EmulatedBus, RegisterFile
from firmware.emulated.rig import ChipSpec, build_rig
from firmware.errors import ConfigError, DeviceNotFoundError
from firmware.mpu6050 import MPU6050, accel_counts_to_g, decode_fifo_g, sample_rate_divider
from support.accelrig import RampSource


@pytest.fixture
def rig():
    clock = ManualClock()
    source = RampSource()
    bus = build_rig(clock, [ChipSpec("mpu6050", 0x68, source=source)])
    return clock, bus, bus.devices[0x68], source


def expected_g(source, times, range_g):
    """What the chip should deliver: the source quantised to the range's LSB (PS 6.2)."""
    lsb = rm.LSB_PER_G[range_g]
    return np.clip(np.rint(source.accel_at(times) * lsb), -32768, 32767) / lsb


# ---------------------------------------------------------------- pure decoding (datasheet values)


def test_sensitivity_matches_product_specification():
    # PS 6.2: 16384 LSB/g at +-2 g, 8192 at +-4 g, 4096 at +-8 g.
    assert accel_counts_to_g(16384, 2) == 1.0
    assert accel_counts_to_g(-8192, 4) == -1.0
    assert accel_counts_to_g(4096, 8) == 1.0
    assert accel_counts_to_g(32767, 2) == pytest.approx(2.0, abs=1e-4)


def test_fifo_frames_are_big_endian_xyz():
    frame = bytes([0x40, 0x00, 0xC0, 0x00, 0x00, 0x01])  # +16384, -16384, +1
    g = decode_fifo_g(frame * 2, 2)
    assert g.shape == (2, 3)
    np.testing.assert_allclose(g[0], [1.0, -1.0, 1 / 16384])


def test_sample_rate_divider_with_dlpf():
    # RM 4.2: 1 kHz / (1 + div); docs/hardware.md: 100 Hz -> 9, 50 Hz -> 19.
    assert sample_rate_divider(100) == 9
    assert sample_rate_divider(50) == 19
    assert sample_rate_divider(25) == 39
    assert sample_rate_divider(200) == 4


# ---------------------------------------------------------------- the chip after start()


def test_power_on_the_chip_is_asleep_and_produces_nothing(rig):
    clock, bus, chip, _ = rig
    clock.advance(2.0)
    assert bus.read_byte_data(0x68, rm.PWR_MGMT_1) == 0x40
    assert bus.read_i2c_block_data(0x68, rm.FIFO_COUNTH, 2) == [0, 0]
    assert chip.samples_produced == 0


@pytest.mark.parametrize("rate_hz, range_g, div, dlpf, afs", [(50, 4, 19, 4, 0x08), (100, 8, 9, 3, 0x10),
                                                               (25, 2, 39, 5, 0x00), (200, 4, 4, 2, 0x08)])
def test_registers_after_start(rig, rate_hz, range_g, div, dlpf, afs):
    clock, bus, chip, _ = rig
    MPU6050(bus, 0x68, rate_hz, range_g, sleep=clock.sleep).start()
    regs = chip.regs
    assert regs[rm.PWR_MGMT_1] == 0x01  # awake, gyro PLL clock
    assert regs[rm.SMPLRT_DIV] == div
    assert regs[rm.CONFIG] == dlpf
    assert regs[rm.ACCEL_CONFIG] == afs
    assert regs[rm.FIFO_EN] == 0x08  # accelerometer only: 6 bytes per sample
    assert regs[rm.USER_CTRL] == 0x40  # FIFO enabled, reset bit cleared
    assert regs[rm.INT_ENABLE] == 0x10  # FIFO overflow flagged
    assert chip.output_rate_hz() == rate_hz


def test_drain_returns_every_sample_in_one_burst(rig):
    clock, bus, chip, source = rig
    drv = MPU6050(bus, 0x68, 50, 4, sleep=clock.sleep)
    drv.start()
    clock.advance(0.5)
    before = bus.transactions
    result = drv.drain()
    # 25 samples = 150 bytes: more than smbus2's 32-byte block, so one i2c_rdwr after the count read.
    assert bus.transactions - before == 2
    assert len(result) == 25 and not result.overflowed
    np.testing.assert_allclose(result.accel_g, expected_g(source, source.times(), 4))
    assert len(drv.drain()) == 0


def test_overflow_is_reported_and_the_fifo_resynchronised(rig):
    clock, bus, chip, source = rig
    drv = MPU6050(bus, 0x68, 50, 4, sleep=clock.sleep)
    drv.start()
    clock.advance(5.0)  # 250 samples into a 170-sample FIFO
    result = drv.drain()
    assert result.overflowed and len(result) == 0
    assert chip.samples_lost > 0
    produced = chip.samples_produced
    clock.advance(0.3)
    result = drv.drain()
    assert not result.overflowed and len(result) == 15
    # Frames are aligned again: the values are exactly the newest 15 samples.
    np.testing.assert_allclose(result.accel_g, expected_g(source, source.times()[produced:], 4))


def test_verify_detects_a_reset_and_start_restores_it(rig):
    clock, bus, chip, _ = rig
    drv = MPU6050(bus, 0x68, 100, 8, sleep=clock.sleep)
    drv.start()
    assert drv.verify()
    chip.power_on_reset()
    assert not drv.verify()
    clock.advance(1.0)
    assert len(drv.drain()) == 0  # asleep again: nothing to drain
    drv.start()
    assert drv.verify()
    clock.advance(0.2)
    assert len(drv.drain()) == 20


def test_clone_identities_are_accepted_with_their_smaller_fifo():
    clock = ManualClock()
    bus = build_rig(clock, [ChipSpec("mpu6500", 0x69)])
    drv = MPU6050(bus, 0x69, 50, 4, sleep=clock.sleep)
    drv.start()
    assert drv.model == "MPU-6500"
    assert drv.fifo_capacity_samples == 85
    assert bus.devices[0x69].regs[rm.ACCEL_CONFIG2] == rm.Dlpf.BW_21HZ  # the clone's separate accel filter
    clock.advance(1.0)
    assert len(drv.drain()) == 50


def test_wrong_identity_names_bus_address_and_wiring():
    impostor = RegisterFile()  # a DS3231 clock also lives at 0x68; its 0x75 reads 0
    bus = EmulatedBus({0x68: impostor})
    with pytest.raises(DeviceNotFoundError) as err:
        MPU6050(bus, 0x68, bus_label="/dev/i2c-1").start()
    text = str(err.value)
    assert "0x68" in text and "/dev/i2c-1" in text and "0x00" in text and "AD0" in text


def test_missing_chip_is_device_not_found():
    with pytest.raises(DeviceNotFoundError, match="no answer"):
        MPU6050(EmulatedBus(), 0x69).start()


def test_unsupported_settings_are_config_errors():
    with pytest.raises(ConfigError):
        MPU6050(EmulatedBus(), 0x68, rate_hz=60)
    with pytest.raises(ConfigError):
        MPU6050(EmulatedBus(), 0x68, range_g=16)


def test_close_puts_the_chip_to_sleep(rig):
    clock, bus, chip, _ = rig
    with MPU6050(bus, 0x68, sleep=clock.sleep):
        assert not chip.regs[rm.PWR_MGMT_1] & 0x40
    assert chip.regs[rm.PWR_MGMT_1] & 0x40


class TimeoutMidReadBus(EmulatedBus):
    """A bus whose next long read times out (errno 110) after ``popped`` bytes really left the chip."""

    popped = None

    def i2c_rdwr(self, *msgs):
        if self.popped is not None and msgs[-1].flags & 1:
            with self._lock:
                dev = self._begin(msgs[0].addr)
                dev.write(bytes(list(msgs[0])))
                dev.read(self.popped)
                self.popped = None
                raise OSError(110, "Connection timed out")
        super().i2c_rdwr(*msgs)


@pytest.mark.parametrize("popped, realigned", [(0, False), (3, True), (12, False)])
def test_a_failed_read_resets_the_fifo_only_if_it_broke_a_frame(popped, realigned):
    clock = ManualClock()
    source = RampSource()
    bus = TimeoutMidReadBus()
    chip = build_rig(clock, [ChipSpec("mpu6050", 0x68, source=source)]).devices[0x68]
    bus.attach(0x68, chip)
    drv = MPU6050(bus, 0x68, 50, 4, sleep=clock.sleep)
    drv.start()
    clock.advance(0.4)
    bus.popped = popped
    with pytest.raises(OSError):
        drv.drain()
    clock.advance(0.2)
    result = drv.drain()
    assert result.overflowed == realigned
    if realigned:
        assert len(result) == 0
        produced = chip.samples_produced
        clock.advance(0.2)
        result = drv.drain()
        np.testing.assert_allclose(result.accel_g, expected_g(source, source.times()[produced:], 4))
    else:
        # whole frames (or nothing) were popped: the rest is still aligned and exact
        assert len(result) == 30 - popped // 6
        np.testing.assert_allclose(result.accel_g, expected_g(source, source.times()[popped // 6:], 4))
