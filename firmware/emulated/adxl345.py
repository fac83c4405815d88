"""An emulated ADXL345 as its data sheet describes it.

- Powers on in standby (POWER_CTL = 0x00), BW_RATE = 0x0A (100 Hz), FIFO in bypass.
- Output data rate = 3200 Hz / 2^(15 - rate code) (DS Table 7).
- FIFO of 32 entries; in stream mode a full FIFO drops its oldest entry, in
  FIFO mode it refuses new ones; bypass empties it.
- DATAX0..DATAZ1 show the oldest entry; the entry is popped when a read of
  the data registers ends (at the end of the I2C read message, or when the
  read runs on from 0x37 to 0x38), so a 12-byte burst from 0x32 returns one
  sample followed by FIFO_CTL, FIFO_STATUS and so on, as on the real chip.
- Full resolution: 3.9 mg/LSB with 10 + range bits; 10-bit mode otherwise.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from firmware import adxl345 as ds
from firmware.chipdata import CHIPS, quantise
from firmware.emulated.accelchip import EmulatedAccelChip, push_samples

RATE_MASK = 0x0F
RANGE_MASK = 0x03
DATAZ1 = ds.DATAX0 + 5
INT_SOURCE_POWER_ON = 0x02  # DS Table 19: INT_SOURCE resets to 0x02
OVERRUN = 0x01  # INT_SOURCE bit 0
MAX_RATE_HZ = 3200
RANGE_G = {int(code): g for g, code in ds.RANGE_CODE.items()}


class EmulatedADXL345(EmulatedAccelChip):
    """ADXL345 register file with its 32-entry FIFO."""

    CHIP_DATA = CHIPS["adxl345"]  # DS Table 1: 0.75 (X, Y) and 1.1 (Z) LSB rms at 100 Hz

    def __init__(self, clock, source=None, **kwargs):
        self.fifo: deque = deque()
        self.latest = np.zeros(3, dtype=np.int64)
        super().__init__(clock, source, **kwargs)

    def _defaults(self) -> None:
        self.regs[ds.DEVID] = ds.Identity.ADXL345
        self.regs[ds.BW_RATE] = ds.Rate.HZ_100
        self.regs[ds.INT_SOURCE] = INT_SOURCE_POWER_ON

    def output_rate_hz(self) -> float | None:
        if not self.regs[ds.POWER_CTL] & ds.PowerCtl.MEASURE:
            return None
        return MAX_RATE_HZ / 2 ** (15 - (self.regs[ds.BW_RATE] & RATE_MASK))

    def _mode(self) -> int:
        return self.regs[ds.FIFO_CTL] >> ds.FIFO_MODE_SHIFT

    # ------------------------------------------------------------ registers

    def write_register(self, reg: int, value: int) -> None:
        if reg in (ds.DEVID, ds.INT_SOURCE, ds.FIFO_STATUS) or ds.DATAX0 <= reg <= DATAZ1:
            return  # read-only
        self.regs[reg] = value & 0xFF
        if reg == ds.FIFO_CTL and self._mode() == ds.FifoMode.BYPASS:
            self.samples_lost += len(self.fifo)
            self._clear_fifo()

    def _head(self) -> np.ndarray:
        return self.fifo[0] if self.fifo else self.latest

    def read_register(self, reg: int) -> int:
        if ds.DATAX0 <= reg <= DATAZ1:
            return int(self._head().astype("<i2").tobytes()[reg - ds.DATAX0])
        if reg == ds.FIFO_STATUS:
            return min(len(self.fifo), ds.FIFO_CAPACITY)
        if reg == ds.INT_SOURCE:
            full = len(self.fifo) >= ds.FIFO_CAPACITY
            return (self.regs[reg] & ~OVERRUN) | (OVERRUN if full else 0)
        return self.regs[reg]

    def read(self, n: int) -> bytes:
        with self.lock:
            self.catch_up()
            out = bytearray()
            touched = False
            for _ in range(n):
                reg = self.pointer
                out.append(self.read_register(reg) & 0xFF)
                self._advance()
                touched = touched or ds.DATAX0 <= reg <= DATAZ1
                if reg == DATAZ1 and touched:
                    self._pop()
                    touched = False
            if touched:
                self._pop()  # the end of the message (STOP or repeated START) ends the data read
            return bytes(out)

    def _pop(self) -> None:
        if self.fifo and self._mode() != ds.FifoMode.BYPASS:
            self.fifo.popleft()

    # ------------------------------------------------------------ samples

    def _counts(self, accel_g: np.ndarray) -> np.ndarray:
        fmt = self.regs[ds.DATA_FORMAT]
        code = fmt & RANGE_MASK
        if fmt & ds.DataFormat.FULL_RES:
            return self.CHIP_DATA.counts(accel_g, RANGE_G[code])
        return quantise(accel_g, ds.FULL_RES_G_PER_LSB * 2**code, 10)

    def _store(self, accel_g: np.ndarray) -> None:
        counts = self._counts(accel_g)
        self.latest = counts[-1]
        mode = self._mode()
        if mode != ds.FifoMode.BYPASS:
            self.samples_lost += push_samples(self.fifo, counts, ds.FIFO_CAPACITY, mode == ds.FifoMode.FIFO)

    def fifo_level(self) -> int:
        return len(self.fifo)

    def _clear_fifo(self) -> None:
        self.fifo = deque()
