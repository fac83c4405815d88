"""ST LIS3DH: 3-axis accelerometer streamed through its 32-sample FIFO.

Sources: LIS3DH data sheet DocID17530 (DS), section 6.1.1 "I2C operation" and
section 8 "Register description"; application note AN3308 (AN), section 9
"First-in first-out (FIFO) buffer".

A drain is two transactions: FIFO_SRC_REG for the count, then one burst of
6 * n bytes from OUT_X_L with the auto-increment bit set (sub-address 0xA8).
With the FIFO enabled the register pointer wraps from OUT_Z_H (0x2D) back to
OUT_X_L (0x28) and each wrap pops the next sample (AN 9.x "Retrieving data
from FIFO": "the address automatically increments up to 2Dh and then rolls
back to 28h"; confirmed by ST on their community forum), so a whole FIFO comes
out of one read.  Bursts above 32 bytes go through ``i2c_rdwr``: one write of
the sub-address then one read, which the Raspberry Pi's controller accepts.
"""

from __future__ import annotations

import logging
from enum import IntEnum

from firmware.accelerometer import PI_I2C_PINS, DrainResult, FifoAccelerometer, empty_result, int16_le

log = logging.getLogger(__name__)

ADDRESSES = (0x18, 0x19)  # DS 6.1.1: SA0/SDO low / high

# ---------------------------------------------------------------- registers (DS section 8)
WHO_AM_I = 0x0F  # DS 8 "WHO_AM_I (0Fh)": 0x33
CTRL_REG1 = 0x20  # DS 8 "CTRL_REG1 (20h)": ODR bits 7:4, LPen bit 3, Z/Y/X enable bits 2:0; resets to 0x07
CTRL_REG4 = 0x23  # DS 8 "CTRL_REG4 (23h)": BDU bit 7, FS bits 5:4, HR bit 3
CTRL_REG5 = 0x24  # DS 8 "CTRL_REG5 (24h)": BOOT bit 7, FIFO_EN bit 6
OUT_X_L = 0x28  # DS 8 "OUT_X_L (28h)" .. OUT_Z_H (2Dh): little-endian, left-justified
FIFO_CTRL_REG = 0x2E  # DS 8 "FIFO_CTRL_REG (2Eh)": FM bits 7:6, FTH bits 4:0
FIFO_SRC_REG = 0x2F  # DS 8 "FIFO_SRC_REG (2Fh)": WTM bit 7, OVRN_FIFO bit 6, EMPTY bit 5, FSS bits 4:0

AUTO_INCREMENT = 0x80  # DS 6.1.1: MSB of the sub-address enables auto-increment
BYTES_PER_SAMPLE = 6
FIFO_CAPACITY = 32  # AN 9: 32 levels of X, Y, Z
FSS_MASK = 0x1F
FIFO_MODE_SHIFT = 6
FS_SHIFT = 4
ODR_SHIFT = 4
HR_SHIFT = 4  # 12-bit data are left-justified in 16 bits (DS 3.2.1)
WATERMARK_SAMPLES = 16  # unused (no interrupt pin is wired) but kept in a defined state


class Identity(IntEnum):
    LIS3DH = 0x33


class Odr(IntEnum):
    """CTRL_REG1 ODR bits (DS Table 31): output data rate."""

    HZ_25 = 0b0011
    HZ_50 = 0b0100
    HZ_100 = 0b0101
    HZ_200 = 0b0110


ODR_CODE = {25: Odr.HZ_25, 50: Odr.HZ_50, 100: Odr.HZ_100, 200: Odr.HZ_200}


class Ctrl1(IntEnum):
    XYZ_ENABLE = 0x07
    LOW_POWER = 0x08


class Ctrl4(IntEnum):
    BDU = 0x80
    HIGH_RESOLUTION = 0x08


class Ctrl5(IntEnum):
    BOOT = 0x80
    FIFO_EN = 0x40


class FullScale(IntEnum):
    """CTRL_REG4 FS bits (DS Table 36)."""

    G2 = 0
    G4 = 1
    G8 = 2
    G16 = 3


FS_CODE = {2: FullScale.G2, 4: FullScale.G4, 8: FullScale.G8, 16: FullScale.G16}


class FifoMode(IntEnum):
    """FIFO_CTRL_REG FM bits (DS Table 44)."""

    BYPASS = 0
    FIFO = 1
    STREAM = 2
    STREAM_TO_FIFO = 3


class FifoSrc(IntEnum):
    WTM = 0x80
    OVRN_FIFO = 0x40
    EMPTY = 0x20


# DS Table 4 "So", high-resolution mode: mg per digit of the 12-bit value.
HR_G_PER_DIGIT = {2: 0.001, 4: 0.002, 8: 0.004, 16: 0.012}

WIRING_HINT = (
    f"{PI_I2C_PINS}; CS to 3.3 V selects I2C; SDO/SA0 to GND gives 0x18, to 3.3 V gives 0x19 "
    "(breakout boards strap it differently: both are probed); check with `i2cdetect -y 1`"
)


def counts_to_g(raw16, range_g: int):
    """Left-justified 16-bit output words in high-resolution mode to g (DS Table 4, 3.2.1).

    The 12-bit value is the word shifted right by 4 (arithmetic), then 1/2/4/12 mg per digit.
    """
    return (raw16 >> HR_SHIFT) * HR_G_PER_DIGIT[range_g]


def decode_fifo_g(data: bytes, range_g: int):
    """A burst of whole OUT_X_L..OUT_Z_H samples to an (n, 3) array in g."""
    return counts_to_g(int16_le(data), range_g)


def fifo_level(src: int) -> tuple[int, bool]:
    """(unread samples, overrun) from FIFO_SRC_REG.  FSS counts 0-31: OVRN_FIFO set means all 32 are full."""
    overrun = bool(src & FifoSrc.OVRN_FIFO)
    return (FIFO_CAPACITY if overrun else src & FSS_MASK), overrun


class LIS3DH(FifoAccelerometer):
    """LIS3DH in high-resolution (12-bit) mode, block data update, FIFO in stream mode."""

    CHIP = "lis3dh"
    IDENTITY_REGISTER = WHO_AM_I
    IDENTITIES = {Identity.LIS3DH: "LIS3DH"}
    WIRING_HINT = WIRING_HINT
    FIFO_CAPACITY_SAMPLES = FIFO_CAPACITY

    def __init__(self, bus, address: int = 0x19, rate_hz: int = 50, range_g: int = 4, **kwargs):
        super().__init__(bus, address, rate_hz, range_g, **kwargs)

    def _ctrl1(self) -> int:
        return (ODR_CODE[self.rate_hz] << ODR_SHIFT) | Ctrl1.XYZ_ENABLE

    def _ctrl4(self) -> int:
        return Ctrl4.BDU | (FS_CODE[self.range_g] << FS_SHIFT) | Ctrl4.HIGH_RESOLUTION

    def _fifo_ctrl(self) -> int:
        return (FifoMode.STREAM << FIFO_MODE_SHIFT) | WATERMARK_SAMPLES

    def _configure(self) -> None:
        self._write(CTRL_REG1, Ctrl1.XYZ_ENABLE)  # ODR 0: power-down while configuring
        self._write(CTRL_REG4, self._ctrl4())
        self._write(CTRL_REG5, Ctrl5.FIFO_EN)
        self._write(FIFO_CTRL_REG, FifoMode.BYPASS << FIFO_MODE_SHIFT)  # AN 9: bypass empties the FIFO
        self._write(FIFO_CTRL_REG, self._fifo_ctrl())
        self._write(CTRL_REG1, self._ctrl1())

    def _config_snapshot(self) -> dict[int, int]:
        return {
            CTRL_REG1: self._ctrl1(),
            CTRL_REG4: self._ctrl4(),
            CTRL_REG5: Ctrl5.FIFO_EN,
            FIFO_CTRL_REG: self._fifo_ctrl(),
        }

    def _read_config(self) -> dict[int, int]:
        regs = self._read_span(CTRL_REG1 | AUTO_INCREMENT, CTRL_REG5 | AUTO_INCREMENT)
        regs = {reg & ~AUTO_INCREMENT: value for reg, value in regs.items()}
        regs[FIFO_CTRL_REG] = self._read(FIFO_CTRL_REG)
        return regs

    def _power_down(self) -> None:
        self._write(CTRL_REG1, Ctrl1.XYZ_ENABLE)

    def drain(self) -> DrainResult:
        """Every sample in the FIFO in one burst; OVRN_FIFO (full) is reported as a possible overflow."""
        n, overrun = fifo_level(self._read(FIFO_SRC_REG))
        if n == 0:
            return empty_result()
        data = self._burst(OUT_X_L | AUTO_INCREMENT, n * BYTES_PER_SAMPLE)
        return DrainResult(decode_fifo_g(data, self.range_g), overflowed=overrun)
