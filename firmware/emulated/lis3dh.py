"""An emulated LIS3DH as its data sheet (DS) and AN3308 (AN) describe it.

- Powers on in power-down (CTRL_REG1 = 0x07: ODR 0, axes enabled), FIFO off.
- The sub-address MSB enables auto-increment (DS 6.1.1).
- Resolution by mode: high-resolution 12 bit, normal 10 bit, low-power 8 bit,
  left-justified in 16-bit little-endian words (DS 3.2.1, Table 4).
- FIFO of 32 samples (AN 9): bypass empties it, stream overwrites the oldest,
  FIFO mode stops when full.  FIFO_SRC_REG: FSS = unread samples (0-31),
  OVRN_FIFO when all 32 slots are full, EMPTY, WTM above the threshold.
- With the FIFO enabled, reading on past OUT_Z_H (0x2D) with auto-increment
  wraps back to OUT_X_L (0x28) and pops the next sample.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from firmware import lis3dh as ds
from firmware.chipdata import CHIPS, quantise
from firmware.emulated.accelchip import EmulatedAccelChip, push_samples

OUT_Z_H = ds.OUT_X_L + 5
ODR_HZ = {1: 1.0, 2: 10.0, 3: 25.0, 4: 50.0, 5: 100.0, 6: 200.0, 7: 400.0}  # DS Table 31
REGISTER_MASK = 0x7F
FS_MASK = 0x03
FTH_MASK = 0x1F
CTRL_REG1_POWER_ON = 0x07
RANGE_G = {int(code): g for g, code in ds.FS_CODE.items()}
# DS Table 4 "So" by FS code in the modes the driver does not use (high resolution: firmware/chipdata.py).
NORMAL_G_PER_DIGIT = {0: 0.004, 1: 0.008, 2: 0.016, 3: 0.048}
LOW_POWER_G_PER_DIGIT = {0: 0.016, 1: 0.032, 2: 0.064, 3: 0.192}


class EmulatedLIS3DH(EmulatedAccelChip):
    """LIS3DH register file with its 32-sample FIFO."""

    CHIP_DATA = CHIPS["lis3dh"]  # DS Table 4: 220 ug/sqrt(Hz) in high-resolution mode

    def __init__(self, clock, source=None, **kwargs):
        self.fifo: deque = deque()
        self.latest = np.zeros(3, dtype=np.int64)
        self._autoinc = False
        super().__init__(clock, source, **kwargs)

    def _defaults(self) -> None:
        self.regs[ds.WHO_AM_I] = ds.Identity.LIS3DH
        self.regs[ds.CTRL_REG1] = CTRL_REG1_POWER_ON

    def output_rate_hz(self) -> float | None:
        return ODR_HZ.get(self.regs[ds.CTRL_REG1] >> ds.ODR_SHIFT)

    def _mode(self) -> int:
        return self.regs[ds.FIFO_CTRL_REG] >> ds.FIFO_MODE_SHIFT

    def _fifo_active(self) -> bool:
        return bool(self.regs[ds.CTRL_REG5] & ds.Ctrl5.FIFO_EN) and self._mode() != ds.FifoMode.BYPASS

    # ------------------------------------------------------------ wire

    def write(self, data: bytes) -> None:
        if data:
            self._autoinc = bool(data[0] & ds.AUTO_INCREMENT)
            data = bytes([data[0] & REGISTER_MASK]) + data[1:]
        super().write(data)

    def _advance(self) -> None:
        if not self._autoinc:
            return
        if self.pointer == OUT_Z_H and self.regs[ds.CTRL_REG5] & ds.Ctrl5.FIFO_EN:
            self._pop()
            self.pointer = ds.OUT_X_L
            return
        super()._advance()

    def write_register(self, reg: int, value: int) -> None:
        if reg in (ds.WHO_AM_I, ds.FIFO_SRC_REG) or ds.OUT_X_L <= reg <= OUT_Z_H:
            return  # read-only
        if reg == ds.CTRL_REG5:
            value &= ~ds.Ctrl5.BOOT  # reloads trimming and clears itself; registers are unchanged
        self.regs[reg] = value & 0xFF
        if (reg == ds.FIFO_CTRL_REG and self._mode() == ds.FifoMode.BYPASS) or (
            reg == ds.CTRL_REG5 and not value & ds.Ctrl5.FIFO_EN
        ):
            self.samples_lost += len(self.fifo)
            self._clear_fifo()

    def read_register(self, reg: int) -> int:
        if ds.OUT_X_L <= reg <= OUT_Z_H:
            head = self.fifo[0] if self.fifo else self.latest
            return int(head.astype("<i2").tobytes()[reg - ds.OUT_X_L])
        if reg == ds.FIFO_SRC_REG:
            n = len(self.fifo)
            value = min(n, ds.FIFO_CAPACITY - 1)
            if n >= ds.FIFO_CAPACITY:
                value |= ds.FifoSrc.OVRN_FIFO
            if n == 0:
                value |= ds.FifoSrc.EMPTY
            if n > (self.regs[ds.FIFO_CTRL_REG] & FTH_MASK):
                value |= ds.FifoSrc.WTM
            return value
        return self.regs[reg]

    def _pop(self) -> None:
        if self.fifo:
            self.fifo.popleft()

    # ------------------------------------------------------------ samples

    def _counts(self, accel_g: np.ndarray) -> np.ndarray:
        fs = (self.regs[ds.CTRL_REG4] >> ds.FS_SHIFT) & FS_MASK
        if self.regs[ds.CTRL_REG1] & ds.Ctrl1.LOW_POWER:
            counts, bits = quantise(accel_g, LOW_POWER_G_PER_DIGIT[fs], 8), 8
        elif self.regs[ds.CTRL_REG4] & ds.Ctrl4.HIGH_RESOLUTION:
            range_g = RANGE_G[fs]
            counts, bits = self.CHIP_DATA.counts(accel_g, range_g), self.CHIP_DATA.bits[range_g]
        else:
            counts, bits = quantise(accel_g, NORMAL_G_PER_DIGIT[fs], 10), 10
        return counts << (16 - bits)

    def _store(self, accel_g: np.ndarray) -> None:
        counts = self._counts(accel_g)
        self.latest = counts[-1]
        if not self._fifo_active():
            return
        stop_when_full = self._mode() == ds.FifoMode.FIFO
        self.samples_lost += push_samples(self.fifo, counts, ds.FIFO_CAPACITY, stop_when_full)

    def fifo_level(self) -> int:
        return len(self.fifo)

    def _clear_fifo(self) -> None:
        self.fifo = deque()
