"""Chip facts against their datasheets, one rounding rule, and the drivers reading exactly what chipdata quantises."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.adxl345 import ADXL345
from firmware.chipdata import CHIPS, chip_data, quantise
from firmware.clock import ManualClock
from firmware.emulated.rig import ChipSpec, build_rig, make_chip
from firmware.errors import ConfigError
from firmware.lis3dh import LIS3DH
from firmware.mpu6050 import MPU6050
from support.accelrig import RampSource

DRIVERS = {"mpu6050": (MPU6050, 0x68), "adxl345": (ADXL345, 0x53), "lis3dh": (LIS3DH, 0x19)}


@pytest.mark.parametrize("rate_hz", [25.0, 50.0, 100.0])
def test_adxl345_noise_is_the_datasheet_figure_at_and_below_100_hz(rate_hz):
    # DS Table 1: 0.75 LSB rms (x, y), 1.1 LSB rms (z) at 100 Hz, 3.9 mg/LSB; the same in LSB below 100 Hz.
    np.testing.assert_allclose(CHIPS["adxl345"].noise_std_g(rate_hz) / 0.0039, [0.75, 0.75, 1.1], rtol=1e-9)


def test_adxl345_noise_grows_by_root_two_per_doubling_above_100_hz():
    # DS "Noise performance": at 400 Hz about 1.5 LSB rms (x, y) and 2.2 LSB rms (z).
    np.testing.assert_allclose(CHIPS["adxl345"].noise_std_g(400.0) / 0.0039, [1.5, 1.5, 2.2], rtol=1e-9)


@pytest.mark.parametrize("chip, density", [("mpu6050", 400e-6), ("lis3dh", 220e-6)])
def test_density_chips_integrate_over_the_equivalent_noise_bandwidth(chip, density):
    # pi/2 x ODR/2: at 100 Hz, 78.5 Hz of white noise.
    expected = density * np.sqrt(np.pi / 2 * 50.0)
    np.testing.assert_allclose(CHIPS[chip].noise_std_g(100.0), [expected] * 3, rtol=1e-12)
    np.testing.assert_allclose(CHIPS[chip].noise_std_g(25.0), [expected / 2] * 3, rtol=1e-12)


def test_quantise_rounds_half_to_even_and_clips_to_the_signed_word():
    counts = quantise(np.array([0.5, 1.5, -0.5, -1.4, 1e6, -1e6]), 1.0, 10)
    np.testing.assert_array_equal(counts, [0, 2, 0, -1, 511, -512])
    assert counts.dtype == np.int64


def test_output_words_by_range():
    assert {r: CHIPS["adxl345"].bits[r] for r in (2, 4, 8, 16)} == {2: 10, 4: 11, 8: 12, 16: 13}
    assert CHIPS["adxl345"].lsb_g(8) == pytest.approx(0.0039)
    assert CHIPS["mpu6050"].lsb_g(2) == 1 / 16384 and CHIPS["mpu6050"].bits[8] == 16
    assert [CHIPS["lis3dh"].lsb_g(r) for r in (2, 4, 8, 16)] == [0.001, 0.002, 0.004, 0.012]


def test_unknown_chip_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown sensor 'bma180'"):
        chip_data("bma180")


@pytest.mark.parametrize("name", sorted(CHIPS))
@pytest.mark.parametrize("range_g", [2, 4, 8])
def test_the_driver_reads_what_chipdata_quantises(name, range_g):
    """The simulator's recordings (chip.quantise) and an emulated chip behind its real driver agree to the bit."""
    clock = ManualClock()
    source = RampSource(span_g=2.6 * range_g, period_s=0.3)  # runs past both ends of the range: clipping included
    driver_cls, address = DRIVERS[name]
    bus = build_rig(clock, [ChipSpec(name, address, source=source)])
    drv = driver_cls(bus, address, 50, range_g)
    drv.start()
    clock.advance(0.5)
    got = drv.drain().accel_g
    expected = CHIPS[name].quantise(source.accel_at(source.times()), range_g)
    assert len(got) == 25
    word = 2 ** (CHIPS[name].bits[range_g] - 1)
    assert got[:, 0].max() == pytest.approx((word - 1) * CHIPS[name].lsb_g(range_g))  # clipped at the top
    assert got[:, 0].min() == pytest.approx(-word * CHIPS[name].lsb_g(range_g))  # and at the bottom
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", sorted(CHIPS))
def test_an_emulated_chip_left_alone_has_its_datasheet_noise(name):
    chip = make_chip(name, ManualClock(), seed=3)
    still = chip.source(0.0, 20000, 50.0)
    np.testing.assert_allclose(still.std(axis=0), CHIPS[name].noise_std_g(50.0), rtol=0.04)
    np.testing.assert_allclose(still.mean(axis=0), [0.0, 0.0, 1.0], atol=2e-4)
