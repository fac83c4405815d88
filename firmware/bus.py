"""The I2C bus as drivers see it: anything shaped like ``smbus2.SMBus``.

Only the composition root opens a real ``SMBus(n)``; drivers, tests and the
simulator pass in whatever bus they have (:class:`firmware.emulated.bus.EmulatedBus`).
"""

from __future__ import annotations

from typing import Protocol, Sequence

from smbus2 import i2c_msg

# smbus2's read_i2c_block_data refuses more than 32 bytes (SMBus block limit);
# longer bursts go as one combined write+read transaction through i2c_rdwr.
SMBUS_BLOCK_MAX = 32


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
