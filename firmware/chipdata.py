"""Datasheet facts of the accelerometer chips, once: noise, output step and width per range, filter bandwidth.

Read by the emulated chips (:mod:`firmware.emulated`) and by the night
simulator's renderer, so an emulated chip and a simulated recording carry the
same noise and land on the same output grid.  The output steps are the
drivers' own conversion constants (the drivers turn counts into g with them);
this module adds what only a model needs: the noise and how it scales with the
output data rate (ODR).

Units: g, Hz, g/sqrt(Hz) for noise densities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from firmware import adxl345, lis3dh, mpu6050
from firmware.errors import ConfigError


def quantise(accel_g: np.ndarray, g_per_lsb: float, bits: int) -> np.ndarray:
    """Round to the nearest count and clip to a signed ``bits``-bit word, as the chip's ADC does.

    Returns int64 counts.  Rounding is half to even (``np.rint``).
    """
    top = 2 ** (bits - 1)
    return np.clip(np.rint(np.asarray(accel_g) / g_per_lsb), -top, top - 1).astype(np.int64)


def enbw_hz(rate_hz: float) -> float:
    """Equivalent noise bandwidth of the chips' digital filter at this ODR: pi/2 x the -3 dB point at ODR/2.

    The chips' filters track the output data rate; a first-order roll-off at
    ODR/2 passes white noise as a brick wall of pi/2 x ODR/2 would.
    """
    return math.pi / 2.0 * 0.5 * rate_hz


@dataclass(frozen=True)
class ChipData:
    """One chip's facts, in the mode the project's driver configures.

    ``g_per_lsb`` and ``bits`` are keyed by full-scale range in g (every range
    the chip offers).  ``noise_density_g_rthz`` is per axis (x, y, z); the
    noise standard deviation at an ODR is the density over :func:`enbw_hz`,
    except that below ``flat_noise_below_hz`` the noise stays what it is at
    that rate (the ADXL345's datasheet says so of its normal-power mode).
    """

    name: str
    g_per_lsb: Mapping[int, float]
    bits: Mapping[int, int]
    noise_density_g_rthz: tuple[float, float, float]
    flat_noise_below_hz: float = 0.0

    @property
    def ranges_g(self) -> tuple[int, ...]:
        return tuple(sorted(self.g_per_lsb))

    def lsb_g(self, range_g: float) -> float:
        """The output step in g at ``range_g``."""
        return float(self.g_per_lsb[int(range_g)])

    def bandwidth_hz(self, rate_hz: float) -> float:
        """-3 dB bandwidth of the chip's anti-alias filter at this ODR (about ODR/2)."""
        return 0.5 * rate_hz

    def noise_std_g(self, rate_hz: float) -> np.ndarray:
        """Per-axis noise standard deviation in g at ``rate_hz``, shape (3,)."""
        rate = max(float(rate_hz), self.flat_noise_below_hz)
        return np.asarray(self.noise_density_g_rthz) * math.sqrt(enbw_hz(rate))

    def counts(self, accel_g: np.ndarray, range_g: float) -> np.ndarray:
        """Acceleration in g to the chip's output counts at ``range_g`` (rounded, clipped)."""
        r = int(range_g)
        return quantise(accel_g, self.g_per_lsb[r], self.bits[r])

    def quantise(self, accel_g: np.ndarray, range_g: float) -> np.ndarray:
        """Acceleration in g as the driver reads it back from the chip: :meth:`counts` times the step."""
        return self.counts(accel_g, range_g) * self.lsb_g(range_g)


def _density_from_rms(rms_g: float, rate_hz: float) -> float:
    """The white-noise density that gives ``rms_g`` at ``rate_hz`` over :func:`enbw_hz`."""
    return rms_g / math.sqrt(enbw_hz(rate_hz))


_ADXL_LSB = adxl345.FULL_RES_G_PER_LSB
_ADXL_NOISE_ODR_HZ = 100.0

CHIPS: dict[str, ChipData] = {
    # MPU-6000/6050 product spec rev 3.4, 6.2: noise power spectral density
    # 400 ug/sqrt(Hz); sensitivity 16384/8192/4096/2048 LSB/g, 16-bit words.
    "mpu6050": ChipData(
        "mpu6050",
        g_per_lsb={r: 1.0 / lsb for r, lsb in mpu6050.LSB_PER_G.items()},
        bits={r: 16 for r in mpu6050.LSB_PER_G},
        noise_density_g_rthz=(400e-6, 400e-6, 400e-6),
    ),
    # ADXL345 data sheet rev E, table 1: noise 0.75 LSB rms (x, y) and 1.1 LSB
    # rms (z) at 100 Hz ODR, 3.9 mg/LSB in full resolution (10 + range bits:
    # 10/11/12/13 at 2/4/8/16 g).  "Noise performance": below 100 Hz the noise
    # in LSB stays that at 100 Hz; above it grows by about sqrt(2) per doubling
    # of the ODR (white noise: 330/484 ug/sqrt(Hz) over pi/2 x ODR/2).
    "adxl345": ChipData(
        "adxl345",
        g_per_lsb={r: _ADXL_LSB for r in adxl345.RANGE_CODE},
        bits={r: 10 + int(code) for r, code in adxl345.RANGE_CODE.items()},
        noise_density_g_rthz=tuple(_density_from_rms(lsb * _ADXL_LSB, _ADXL_NOISE_ODR_HZ)
                                   for lsb in (0.75, 0.75, 1.1)),
        flat_noise_below_hz=_ADXL_NOISE_ODR_HZ,
    ),
    # LIS3DH data sheet DocID17530 rev 2, table 4: noise density 220 ug/sqrt(Hz)
    # in high-resolution mode; 1/2/4/12 mg/digit at 2/4/8/16 g, 12-bit values.
    "lis3dh": ChipData(
        "lis3dh",
        g_per_lsb=dict(lis3dh.HR_G_PER_DIGIT),
        bits={r: 12 for r in lis3dh.HR_G_PER_DIGIT},
        noise_density_g_rthz=(220e-6, 220e-6, 220e-6),
    ),
}


def chip_data(name: str) -> ChipData:
    """The facts of chip ``name``; an unknown name is a :class:`ConfigError`."""
    try:
        return CHIPS[name]
    except KeyError:
        raise ConfigError(f"unknown sensor {name!r}: choose one of {', '.join(CHIPS)}") from None
