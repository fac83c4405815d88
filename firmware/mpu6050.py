"""InvenSense MPU-6050 (and the MPU-6500 / MPU-9250 sold on the same boards): accelerometer through the FIFO.

Sources: "MPU-6000 and MPU-6050 Register Map and Descriptions" rev 4.2 (RM),
"MPU-6000/MPU-6050 Product Specification" rev 3.4 (PS), and for the clones the
"MPU-6500 Register Map" rev 2.1 (RM6500).

The FIFO holds 1024 bytes (PS 7.17; 512 on the MPU-6500/9250): with only the
accelerometer enabled that is 170 samples, 3.4 s at 50 Hz.  A drain is two
transactions: the byte count, then one burst of the data port (``i2c_rdwr``
for more than 32 bytes).  The FIFO is a byte stream, so an overflow, or a
failed read that popped part of a frame, loses the 6-byte frame alignment: the
driver then resets the FIFO.  Whether a failed read popped a partial frame is
told by the next count (new samples only ever add whole frames).
"""

from __future__ import annotations

import logging
from enum import IntEnum

import numpy as np

from firmware.accelerometer import PI_I2C_PINS, DrainResult, FifoAccelerometer, empty_result

log = logging.getLogger(__name__)

ADDRESSES = (0x68, 0x69)  # PS 9.2: AD0 low / high

# ---------------------------------------------------------------- registers (RM section)
SMPLRT_DIV = 0x19  # RM 4.2: sample rate = gyro output rate / (1 + SMPLRT_DIV)
CONFIG = 0x1A  # RM 4.3: DLPF_CFG bits 2:0
ACCEL_CONFIG = 0x1C  # RM 4.5: AFS_SEL bits 4:3
ACCEL_CONFIG2 = 0x1D  # RM6500 4.7: A_DLPF_CFG bits 2:0 (MPU-6500/9250 only)
FIFO_EN = 0x23  # RM 4.7: ACCEL_FIFO_EN bit 3
INT_ENABLE = 0x38  # RM 4.15: FIFO_OFLOW_EN bit 4
INT_STATUS = 0x3A  # RM 4.16: FIFO_OFLOW_INT bit 4, cleared on read
ACCEL_XOUT_H = 0x3B  # RM 4.17: 6 bytes, big-endian X, Y, Z
USER_CTRL = 0x6A  # RM 4.27: FIFO_EN bit 6, FIFO_RESET bit 2
PWR_MGMT_1 = 0x6B  # RM 4.28: DEVICE_RESET bit 7, SLEEP bit 6, CLKSEL bits 2:0; resets to 0x40 (asleep)
FIFO_COUNTH = 0x72  # RM 4.30: count of bytes in the FIFO, big-endian with FIFO_COUNTL (0x73)
FIFO_R_W = 0x74  # RM 4.31: each read pops one byte; the register pointer stays on it
WHO_AM_I = 0x75  # RM 4.32: 0x68 whatever AD0 is

BYTES_PER_SAMPLE = 6
RESET_DELAY_S = 0.1  # RM 4.28 / PS 6.6: start-up time after DEVICE_RESET
GYRO_RATE_DLPF_ON_HZ = 1000  # RM 4.2: gyro output rate is 1 kHz when the DLPF is enabled


class Identity(IntEnum):
    MPU6050 = 0x68  # RM 4.32
    MPU6500 = 0x70  # RM6500 4.39
    MPU9250 = 0x71  # MPU-9250 register map 4.38


FIFO_BYTES = {Identity.MPU6050: 1024, Identity.MPU6500: 512, Identity.MPU9250: 512}  # PS 7.17 / MPU-6500 PS 4.16


class PowerMgmt1(IntEnum):
    DEVICE_RESET = 0x80
    SLEEP = 0x40
    CLKSEL_PLL_XGYRO = 0x01  # PS 6.6 recommends the gyro PLL over the 8 MHz oscillator


class UserCtrl(IntEnum):
    FIFO_EN = 0x40
    FIFO_RESET = 0x04


class FifoEnable(IntEnum):
    ACCEL = 0x08


class IntBits(IntEnum):
    FIFO_OFLOW = 0x10


class AccelRange(IntEnum):
    """AFS_SEL values (RM 4.5); sensitivity in LSB/g in ``LSB_PER_G``."""

    G2 = 0
    G4 = 1
    G8 = 2
    G16 = 3


AFS_SHIFT = 3
LSB_PER_G = {2: 16384.0, 4: 8192.0, 8: 4096.0, 16: 2048.0}  # PS 6.2
RANGE_CODE = {2: AccelRange.G2, 4: AccelRange.G4, 8: AccelRange.G8, 16: AccelRange.G16}


class Dlpf(IntEnum):
    """DLPF_CFG (RM 4.3): accelerometer bandwidth.  Chosen below half the sample rate against aliasing."""

    BW_260HZ = 0
    BW_184HZ = 1
    BW_94HZ = 2
    BW_44HZ = 3
    BW_21HZ = 4
    BW_10HZ = 5
    BW_5HZ = 6


DLPF_FOR_RATE = {25: Dlpf.BW_10HZ, 50: Dlpf.BW_21HZ, 100: Dlpf.BW_44HZ, 200: Dlpf.BW_94HZ}
DLPF_BANDWIDTH_HZ = {Dlpf.BW_260HZ: 260, Dlpf.BW_184HZ: 184, Dlpf.BW_94HZ: 94, Dlpf.BW_44HZ: 44,
                     Dlpf.BW_21HZ: 21, Dlpf.BW_10HZ: 10, Dlpf.BW_5HZ: 5}

WIRING_HINT = (
    f"{PI_I2C_PINS}; AD0 to GND gives 0x68, AD0 to 3.3 V gives 0x69 (two sensors: one of each); "
    "check with `i2cdetect -y 1`"
)


def accel_counts_to_g(counts, range_g: int):
    """Raw accelerometer counts (big-endian int16 already decoded) to g at ``range_g`` (PS 6.2)."""
    return counts / LSB_PER_G[range_g]


def decode_fifo_g(data: bytes, range_g: int):
    """FIFO bytes holding whole accelerometer frames (X, Y, Z big-endian int16) to an (n, 3) array in g.

    The int16 words are divided as they are (numpy promotes them to float64, exactly): one array
    operation per drain instead of a widening copy first.
    """
    return accel_counts_to_g(np.frombuffer(data, dtype=">i2").reshape(-1, 3), range_g)


def sample_rate_divider(rate_hz: int) -> int:
    """SMPLRT_DIV for ``rate_hz`` with the DLPF on (RM 4.2): 1 kHz / (1 + div)."""
    return GYRO_RATE_DLPF_ON_HZ // rate_hz - 1


class MPU6050(FifoAccelerometer):
    """MPU-6050 accelerometer streamed through its FIFO; the gyroscope is not used."""

    CHIP = "mpu6050"
    IDENTITY_REGISTER = WHO_AM_I
    IDENTITIES = {Identity.MPU6050: "MPU-6050", Identity.MPU6500: "MPU-6500", Identity.MPU9250: "MPU-9250"}
    WIRING_HINT = WIRING_HINT

    def __init__(self, bus, address: int = 0x68, rate_hz: int = 50, range_g: int = 4, **kwargs):
        super().__init__(bus, address, rate_hz, range_g, **kwargs)
        self._count_before_failure: int | None = None  # FIFO count when the last data read failed

    @property
    def fifo_bytes(self) -> int:
        return FIFO_BYTES.get(self.identity, FIFO_BYTES[Identity.MPU6050])

    @property
    def fifo_capacity_samples(self) -> int:
        return self.fifo_bytes // BYTES_PER_SAMPLE

    def _configure(self) -> None:
        self._write(PWR_MGMT_1, PowerMgmt1.DEVICE_RESET)
        self._sleep(RESET_DELAY_S)
        self._write(PWR_MGMT_1, PowerMgmt1.CLKSEL_PLL_XGYRO)  # wakes it: it resets asleep
        dlpf = DLPF_FOR_RATE[self.rate_hz]
        self._write(CONFIG, dlpf)
        self._write(SMPLRT_DIV, sample_rate_divider(self.rate_hz))
        self._write(ACCEL_CONFIG, RANGE_CODE[self.range_g] << AFS_SHIFT)
        if self.identity != Identity.MPU6050:
            self._write(ACCEL_CONFIG2, dlpf)  # the clones filter the accelerometer separately
        self._write(INT_ENABLE, IntBits.FIFO_OFLOW)
        self._write(FIFO_EN, FifoEnable.ACCEL)
        self._reset_fifo()

    def _reset_fifo(self) -> None:
        """Empty the FIFO and restart it on a frame boundary (RM 4.27: reset while disabled)."""
        self._write(USER_CTRL, 0)
        self._write(USER_CTRL, UserCtrl.FIFO_RESET)
        self._write(USER_CTRL, UserCtrl.FIFO_EN)
        self._read(INT_STATUS)  # clears a stale overflow flag
        self._count_before_failure = None

    def _config_snapshot(self) -> dict[int, int]:
        snap = {
            SMPLRT_DIV: sample_rate_divider(self.rate_hz),
            CONFIG: DLPF_FOR_RATE[self.rate_hz],
            ACCEL_CONFIG: RANGE_CODE[self.range_g] << AFS_SHIFT,
            FIFO_EN: FifoEnable.ACCEL,
            USER_CTRL: UserCtrl.FIFO_EN,
            PWR_MGMT_1: PowerMgmt1.CLKSEL_PLL_XGYRO,
        }
        if self.identity != Identity.MPU6050:
            snap[ACCEL_CONFIG2] = DLPF_FOR_RATE[self.rate_hz]
        return snap

    def _read_config(self) -> dict[int, int]:
        regs = self._read_span(SMPLRT_DIV, FIFO_EN)
        regs.update(self._read_span(USER_CTRL, PWR_MGMT_1))
        return regs

    def _power_down(self) -> None:
        self._write(PWR_MGMT_1, PowerMgmt1.SLEEP)

    def drain(self) -> DrainResult:
        """Everything in the FIFO as whole samples; overflow or lost alignment -> FIFO reset and ``overflowed``."""
        count_bytes = self._burst(FIFO_COUNTH, 2)
        count = (count_bytes[0] << 8) | count_bytes[1]
        if count >= self.fifo_bytes:
            if count > self.fifo_bytes or self._read(INT_STATUS) & IntBits.FIFO_OFLOW:
                # The oldest bytes were overwritten one by one: frame alignment is gone.
                log.warning("%s at %#04x: FIFO overflow, resetting it", self.CHIP, self.address)
                self._reset_fifo()
                return empty_result(overflowed=True)
        if self._count_before_failure is not None:
            # The last data read failed.  New samples add whole frames, so the count only moved by a
            # multiple of 6 if the failed read popped whole frames or nothing (a NACK pops nothing).
            popped_part_of_a_frame = (count - self._count_before_failure) % BYTES_PER_SAMPLE
            self._count_before_failure = None
            if popped_part_of_a_frame:
                log.warning("%s at %#04x: a failed read left the FIFO mid-frame, resetting it", self.CHIP,
                            self.address)
                self._reset_fifo()
                return empty_result(overflowed=True)
        n = count // BYTES_PER_SAMPLE
        if n == 0:
            return empty_result()
        try:
            data = self._burst(FIFO_R_W, n * BYTES_PER_SAMPLE)
        except OSError:
            self._count_before_failure = count
            raise
        return DrainResult(decode_fifo_g(data, self.range_g))
