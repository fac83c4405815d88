"""An emulated MPU-6050 (or MPU-6500 / MPU-9250 by identity) as the register map describes it.

- Powers on asleep (PWR_MGMT_1 = 0x40): no samples until the driver wakes it.
- DEVICE_RESET puts every register back to its power-on value (asleep again).
- Sample rate = 1 kHz (8 kHz with the DLPF off) / (1 + SMPLRT_DIV).
- The FIFO is a byte stream of 1024 bytes (512 on the clones); when it is full
  the oldest bytes are overwritten one by one, so frames lose their alignment,
  and FIFO_OFLOW_INT is raised in INT_STATUS (cleared on read).
- FIFO_R_W pops a byte per read and the register pointer stays on it; an
  empty FIFO returns the last byte read again.
"""

from __future__ import annotations

import numpy as np

from firmware import mpu6050 as rm
from firmware.chipdata import CHIPS
from firmware.emulated.accelchip import EmulatedAccelChip

GYRO_RATE_DLPF_OFF_HZ = 8000  # RM 4.2
DLPF_CFG_MASK = 0x07
AFS_MASK = 0x03
CLKSEL_MASK = 0x07
CLKSEL_STOPPED = 7  # RM 4.28: stops the clock


class EmulatedMPU6050(EmulatedAccelChip):
    """MPU-6050 register file with its FIFO; ``identity`` 0x70/0x71 makes an MPU-6500/9250."""

    CHIP_DATA = CHIPS["mpu6050"]  # PS 6.2: 400 ug/sqrt(Hz)

    def __init__(self, clock, source=None, *, identity: int = rm.Identity.MPU6050, **kwargs):
        self.identity = int(identity)
        self.fifo_size = rm.FIFO_BYTES[rm.Identity(self.identity)]
        self.fifo = bytearray()
        self._last_fifo_byte = 0
        super().__init__(clock, source, **kwargs)

    # ------------------------------------------------------------ registers

    def _defaults(self) -> None:
        self.regs[rm.PWR_MGMT_1] = rm.PowerMgmt1.SLEEP
        self.regs[rm.WHO_AM_I] = self.identity

    def output_rate_hz(self) -> float | None:
        pwr = self.regs[rm.PWR_MGMT_1]
        if pwr & rm.PowerMgmt1.SLEEP or (pwr & CLKSEL_MASK) == CLKSEL_STOPPED:
            return None
        dlpf = self.regs[rm.CONFIG] & DLPF_CFG_MASK
        base = GYRO_RATE_DLPF_OFF_HZ if dlpf in (0, 7) else rm.GYRO_RATE_DLPF_ON_HZ
        return base / (1 + self.regs[rm.SMPLRT_DIV])

    def range_g(self) -> int:
        code = (self.regs[rm.ACCEL_CONFIG] >> rm.AFS_SHIFT) & AFS_MASK
        return {v: k for k, v in rm.RANGE_CODE.items()}[code]

    def write_register(self, reg: int, value: int) -> None:
        if reg == rm.PWR_MGMT_1 and value & rm.PowerMgmt1.DEVICE_RESET:
            pointer = self.pointer
            self._reset_registers()
            self.pointer = pointer
            return
        if reg in (rm.WHO_AM_I, rm.INT_STATUS, rm.FIFO_COUNTH, rm.FIFO_COUNTH + 1):
            return  # read-only
        if reg == rm.USER_CTRL:
            if value & rm.UserCtrl.FIFO_RESET:
                self.samples_lost += self.fifo_level()
                self._clear_fifo()
            value &= ~rm.UserCtrl.FIFO_RESET  # self-clearing
        if reg == rm.FIFO_R_W:
            return  # writing the FIFO is for the DMP; not modelled
        self.regs[reg] = value & 0xFF

    def read_register(self, reg: int) -> int:
        if reg == rm.FIFO_COUNTH:
            return len(self.fifo) >> 8
        if reg == rm.FIFO_COUNTH + 1:
            return len(self.fifo) & 0xFF
        if reg == rm.FIFO_R_W:
            if self.fifo:
                self._last_fifo_byte = self.fifo.pop(0)
            return self._last_fifo_byte
        if reg == rm.INT_STATUS:
            value = self.regs[reg]
            self.regs[reg] = 0  # RM 4.16: cleared on read
            return value
        return self.regs[reg]

    def _advance(self) -> None:
        if self.pointer != rm.FIFO_R_W:  # burst reads of the FIFO port keep popping it
            super()._advance()

    # ------------------------------------------------------------ samples

    def _fifo_enabled(self) -> bool:
        return bool(self.regs[rm.USER_CTRL] & rm.UserCtrl.FIFO_EN and self.regs[rm.FIFO_EN] & rm.FifoEnable.ACCEL)

    def _store(self, accel_g: np.ndarray) -> None:
        counts = self.CHIP_DATA.counts(accel_g, self.range_g())
        frames = counts.astype(">i2").tobytes()
        self.regs[rm.ACCEL_XOUT_H:rm.ACCEL_XOUT_H + 6] = frames[-6:]
        if not self._fifo_enabled():
            return
        self.fifo += frames
        excess = len(self.fifo) - self.fifo_size
        if excess > 0:
            del self.fifo[:excess]
            self.samples_lost += -(-excess // rm.BYTES_PER_SAMPLE)
            if self.regs[rm.INT_ENABLE] & rm.IntBits.FIFO_OFLOW:
                self.regs[rm.INT_STATUS] |= rm.IntBits.FIFO_OFLOW

    def fifo_level(self) -> int:
        return len(self.fifo) // rm.BYTES_PER_SAMPLE

    def _clear_fifo(self) -> None:
        self.fifo = bytearray()
