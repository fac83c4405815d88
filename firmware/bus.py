"""The I2C bus as drivers see it: anything shaped like ``smbus2.SMBus``.

Only the composition root opens a real ``SMBus(n)``; drivers, tests and the
simulator pass in whatever bus they have (:class:`firmware.emulated.bus.EmulatedBus`).
"""

from __future__ import annotations

import errno
import threading
from typing import Protocol, Sequence

from smbus2 import i2c_msg

# smbus2's read_i2c_block_data refuses more than 32 bytes (SMBus block limit);
# longer bursts go as one combined write+read transaction through i2c_rdwr.
SMBUS_BLOCK_MAX = 32

TRANSIENT_ERRNOS = (errno.EREMOTEIO, errno.EIO, errno.ETIMEDOUT)
"""121, 5, 110: what Linux i2c-dev raises for a NACK, a bus I/O error or a timeout (a tugged cable,
noise).  The sampler retries these quietly; the emulated bus injects exactly these."""


class I2CBus(Protocol):
    """The subset of ``smbus2.SMBus`` nightcramp uses."""

    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int]) -> None: ...

    def i2c_rdwr(self, *i2c_msgs) -> None: ...

    def close(self) -> None: ...


def burst_read(bus: I2CBus, address: int, register: int, length: int) -> bytes:
    """Read ``length`` bytes starting at ``register`` in one I2C transaction."""
    if length <= SMBUS_BLOCK_MAX:
        return bytes(bus.read_i2c_block_data(address, register, length))
    write = i2c_msg.write(address, [register])
    read = i2c_msg.read(address, length)
    bus.i2c_rdwr(write, read)
    return bytes(read)


def raw_read(bus: I2CBus, address: int, length: int) -> bytes:
    """A plain I2C read with no register byte first (SHT3x, TMP102 after its pointer is set)."""
    read = i2c_msg.read(address, length)
    bus.i2c_rdwr(read)
    return bytes(read)


def raw_write(bus: I2CBus, address: int, data: Sequence[int]) -> None:
    """A plain I2C write of ``data`` (a command, or a pointer followed by values)."""
    bus.i2c_rdwr(i2c_msg.write(address, list(data)))


class LockedBus:
    """One bus shared by several threads (a sampler per leg, the thermometer): one call at a time.

    smbus2's ``SMBus`` selects the chip with an ``I2C_SLAVE`` ioctl and then
    transfers with a second ioctl, so two threads using one ``SMBus`` can send
    a transfer to the other thread's chip.  The composition root wraps the
    ``SMBus`` it opens once, ``LockedBus(SMBus(1))``, and hands the wrapper to
    every driver.  Each call is atomic; a driver's sequence of calls is not
    (none needs it: the chips hold their state between transactions).
    Attributes other than the bus methods (an emulated bus's counters,
    ``fail_next``) pass through unlocked.
    """

    def __init__(self, bus: I2CBus):
        self.bus = bus
        self.lock = threading.RLock()

    def read_byte_data(self, i2c_addr: int, register: int) -> int:
        with self.lock:
            return self.bus.read_byte_data(i2c_addr, register)

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None:
        with self.lock:
            self.bus.write_byte_data(i2c_addr, register, value)

    def read_word_data(self, i2c_addr: int, register: int) -> int:
        with self.lock:
            return self.bus.read_word_data(i2c_addr, register)

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        with self.lock:
            return self.bus.read_i2c_block_data(i2c_addr, register, length)

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int]) -> None:
        with self.lock:
            self.bus.write_i2c_block_data(i2c_addr, register, data)

    def i2c_rdwr(self, *i2c_msgs) -> None:
        with self.lock:
            self.bus.i2c_rdwr(*i2c_msgs)

    def close(self) -> None:
        with self.lock:
            self.bus.close()

    def __getattr__(self, name):
        return getattr(self.bus, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
