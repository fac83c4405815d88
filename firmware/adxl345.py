"""Analog Devices ADXL345: 3-axis accelerometer streamed through its 32-sample FIFO.

Source: ADXL345 data sheet Rev. G (DS), sections "Register Map" (Table 19),
"Register Definitions" and "FIFO".

One sample per read: the FIFO pops one X/Y/Z entry into DATAX0..DATAZ1 each
time a read of those registers ends (DS "Retrieving Data from FIFO": the end is
the transition from 0x37 to 0x38, or the end of the transfer), so a burst
longer than 6 bytes runs on into FIFO_CTL and FIFO_STATUS instead of the next
sample.  Several pointer-write/read pairs in one combined ``i2c_rdwr`` would
do, but the Raspberry Pi's I2C controller (Linux i2c-bcm2835) refuses any
transfer with a read message that is not the last one (EOPNOTSUPP).  So a drain
is one FIFO_STATUS read plus one 6-byte read per sample: about 50 transactions
a second at 50 Hz.  The FIFO still clocks the samples, so timing is as good as
with the other chips; only the bus is busier.  Prefer the MPU-6050 or LIS3DH
when choosing hardware.
"""

from __future__ import annotations

import logging
from enum import IntEnum

from firmware.accelerometer import PI_I2C_PINS, DrainResult, FifoAccelerometer, empty_result, int16_le

log = logging.getLogger(__name__)

ADDRESSES = (0x53, 0x1D)  # DS "Serial Communications / I2C": ALT ADDRESS low / high

# ---------------------------------------------------------------- registers (DS Table 19)
DEVID = 0x00  # DS "Register 0x00—DEVID": 0xE5
BW_RATE = 0x2C  # DS "Register 0x2C—BW_RATE": LOW_POWER bit 4, rate bits 3:0 (Table 7); resets to 0x0A
POWER_CTL = 0x2D  # DS "Register 0x2D—POWER_CTL": Measure bit 3; resets to 0x00 (standby)
INT_ENABLE = 0x2E  # DS "Register 0x2E—INT_ENABLE"
INT_SOURCE = 0x30  # DS "Register 0x30—INT_SOURCE": Overrun bit 0
DATA_FORMAT = 0x31  # DS "Register 0x31—DATA_FORMAT": FULL_RES bit 3, Justify bit 2, Range bits 1:0
DATAX0 = 0x32  # DS "Register 0x32 to Register 0x37": X, Y, Z little-endian, two's complement
FIFO_CTL = 0x38  # DS "Register 0x38—FIFO_CTL": FIFO_MODE bits 7:6, Samples bits 4:0
FIFO_STATUS = 0x39  # DS "Register 0x39—FIFO_STATUS": Entries bits 5:0

BYTES_PER_SAMPLE = 6
FIFO_CAPACITY = 32  # DS "FIFO": 32 entries
ENTRIES_MASK = 0x3F
FIFO_MODE_SHIFT = 6
WATERMARK_SAMPLES = 16  # unused (no interrupt pin is wired) but kept in a defined state


class Identity(IntEnum):
    ADXL345 = 0xE5


class Rate(IntEnum):
    """BW_RATE rate codes (DS Table 7): output data rate in Hz."""

    HZ_25 = 0x08
    HZ_50 = 0x09
    HZ_100 = 0x0A
    HZ_200 = 0x0B


RATE_CODE = {25: Rate.HZ_25, 50: Rate.HZ_50, 100: Rate.HZ_100, 200: Rate.HZ_200}


class PowerCtl(IntEnum):
    STANDBY = 0x00
    MEASURE = 0x08


class DataFormat(IntEnum):
    FULL_RES = 0x08


class RangeCode(IntEnum):
    """DATA_FORMAT range bits (DS Table 21)."""

    G2 = 0
    G4 = 1
    G8 = 2
    G16 = 3


RANGE_CODE = {2: RangeCode.G2, 4: RangeCode.G4, 8: RangeCode.G8, 16: RangeCode.G16}


class FifoMode(IntEnum):
    """FIFO_CTL FIFO_MODE (DS Table 22)."""

    BYPASS = 0
    FIFO = 1
    STREAM = 2
    TRIGGER = 3


# DS Table 1, "Scale factor ... all g-ranges, full resolution": 3.9 mg/LSB (typical).
FULL_RES_G_PER_LSB = 0.0039

WIRING_HINT = (
    f"{PI_I2C_PINS}; CS to 3.3 V selects I2C; SDO/ALT ADDRESS to GND gives 0x53, to 3.3 V gives 0x1D; "
    "check with `i2cdetect -y 1`"
)


def counts_to_g(counts):
    """Full-resolution counts (right-justified, sign-extended) to g: 3.9 mg/LSB at every range (DS Table 1)."""
    return counts * FULL_RES_G_PER_LSB


def decode_samples_g(data: bytes):
    """Consecutive 6-byte DATAX0..DATAZ1 reads to an (n, 3) array in g (full resolution)."""
    return counts_to_g(int16_le(data))


class ADXL345(FifoAccelerometer):
    """ADXL345 in full resolution, FIFO in stream mode."""

    CHIP = "adxl345"
    IDENTITY_REGISTER = DEVID
    IDENTITIES = {Identity.ADXL345: "ADXL345"}
    WIRING_HINT = WIRING_HINT
    FIFO_CAPACITY_SAMPLES = FIFO_CAPACITY

    def __init__(self, bus, address: int = 0x53, rate_hz: int = 50, range_g: int = 4, **kwargs):
        super().__init__(bus, address, rate_hz, range_g, **kwargs)
        self._popped = bytearray()  # samples already popped when a later read of the drain failed

    def _fifo_ctl(self) -> int:
        return (FifoMode.STREAM << FIFO_MODE_SHIFT) | WATERMARK_SAMPLES

    def _configure(self) -> None:
        self._popped = bytearray()
        self._write(POWER_CTL, PowerCtl.STANDBY)  # DS: configure in standby
        self._write(BW_RATE, RATE_CODE[self.rate_hz])
        self._write(DATA_FORMAT, DataFormat.FULL_RES | RANGE_CODE[self.range_g])
        self._write(INT_ENABLE, 0)
        self._write(FIFO_CTL, FifoMode.BYPASS << FIFO_MODE_SHIFT)  # bypass empties the FIFO
        self._write(FIFO_CTL, self._fifo_ctl())
        self._write(POWER_CTL, PowerCtl.MEASURE)

    def _config_snapshot(self) -> dict[int, int]:
        return {
            BW_RATE: RATE_CODE[self.rate_hz],
            POWER_CTL: PowerCtl.MEASURE,
            DATA_FORMAT: DataFormat.FULL_RES | RANGE_CODE[self.range_g],
            FIFO_CTL: self._fifo_ctl(),
        }

    def _read_config(self) -> dict[int, int]:
        regs = self._read_span(BW_RATE, INT_ENABLE)
        regs[DATA_FORMAT] = self._read(DATA_FORMAT)  # not INT_SOURCE in between: reading it clears flags
        regs[FIFO_CTL] = self._read(FIFO_CTL)
        return regs

    def _power_down(self) -> None:
        self._write(POWER_CTL, PowerCtl.STANDBY)

    def drain(self) -> DrainResult:
        """Every FIFO entry, one 6-byte read each.  32 entries (full) is reported as a possible overflow."""
        entries = self._read(FIFO_STATUS) & ENTRIES_MASK
        if entries == 0 and not self._popped:
            return empty_result()
        for _ in range(entries):
            # Each read pops a sample: keep what was popped if a later read fails, for the next drain.
            self._popped += self._burst(DATAX0, BYTES_PER_SAMPLE)
        raw, self._popped = bytes(self._popped), bytearray()
        full = entries >= FIFO_CAPACITY  # DS "Stream mode": the oldest entry is then overwritten
        return DrainResult(decode_samples_g(raw), overflowed=full)

