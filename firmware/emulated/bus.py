"""An smbus2-shaped bus that forwards every transaction to emulated devices.

It models the wire, not the smbus2 calls: every smbus2 method becomes the I2C
messages it would put on the bus (a write of the register pointer, then a read
or a write of data), so a device only implements :meth:`EmulatedDevice.write`
and :meth:`EmulatedDevice.read`, as a real chip does.

Errors can be injected per transaction: ``fail_rate`` (random, seeded), or
``fail_next(n, errno)``; they raise ``OSError`` with errno 121 (EREMOTEIO, a
NACK), 5 (EIO) or 110 (ETIMEDOUT), as the Linux i2c-dev driver does.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import random
import threading
from typing import Callable, Protocol, Sequence

from firmware.bus import TRANSIENT_ERRNOS


class EmulatedDevice(Protocol):
    """One chip on the emulated bus."""

    def write(self, data: bytes) -> None:
        """An I2C write message addressed to this chip (usually a register pointer, then data)."""

    def read(self, n: int) -> bytes:
        """An I2C read message of ``n`` bytes addressed to this chip."""


class EmulatedBus:
    """A bus with emulated devices at their addresses; thread-safe like the kernel's i2c-dev."""

    def __init__(self, devices: dict[int, EmulatedDevice] | None = None, fail_rate: float = 0.0, seed: int = 0):
        self.devices: dict[int, EmulatedDevice] = dict(devices or {})
        self.fail_rate = fail_rate
        self._rng = random.Random(seed)
        self._forced: list[int] = []
        self._later: dict[int, tuple[EmulatedDevice, Callable[[], bool]]] = {}
        self._lock = threading.RLock()
        self.transactions = 0  # every call that reached the bus (what a benchmark counts)
        self.failures = 0
        self.bytes_read = 0
        self.closed = False

    # ------------------------------------------------------------ set-up

    def attach(self, address: int, device: EmulatedDevice) -> None:
        with self._lock:
            self.devices[address] = device

    def detach(self, address: int) -> None:
        """Unplug a device: it stops answering (NACK, errno 121)."""
        with self._lock:
            self.devices.pop(address, None)
            self._later.pop(address, None)

    def attach_later(self, address: int, device: EmulatedDevice, plugged: Callable[[], bool]) -> None:
        """A device that is not plugged in yet: its address NACKs until ``plugged()`` first returns true.

        Checked at every transaction to that address, so the device appears
        exactly when a driver would first notice it on a real bus (a sensor
        plugged in after boot, a connector that seats at last).
        """
        with self._lock:
            self.devices.pop(address, None)
            self._later[address] = (device, plugged)

    def fail_next(self, count: int = 1, err: int = errno_mod.EREMOTEIO) -> None:
        """Make the next ``count`` transactions fail with ``err``."""
        with self._lock:
            self._forced.extend([err] * count)

    # ------------------------------------------------------------ wire

    def _begin(self, address: int) -> EmulatedDevice:
        if self.closed:
            raise OSError(errno_mod.EBADF, "bus is closed")
        self.transactions += 1
        if self._forced:
            err = self._forced.pop(0)
            self.failures += 1
            raise OSError(err, errno_mod.errorcode.get(err, "I2C error"))
        if self.fail_rate and self._rng.random() < self.fail_rate:
            err = self._rng.choice(TRANSIENT_ERRNOS)
            self.failures += 1
            raise OSError(err, errno_mod.errorcode.get(err, "I2C error"))
        device = self.devices.get(address)
        if device is None and address in self._later:
            waiting, plugged = self._later[address]
            if plugged():
                del self._later[address]
                self.devices[address] = device = waiting
        if device is None:
            raise OSError(errno_mod.EREMOTEIO, "Remote I/O error (no device at %#04x)" % address)
        return device

    def _read(self, device: EmulatedDevice, n: int) -> bytes:
        data = bytes(device.read(n))
        if len(data) != n:
            raise AssertionError(f"emulated device returned {len(data)} bytes, not {n}")
        self.bytes_read += n
        return data

    # ------------------------------------------------------------ smbus2 API

    def read_byte(self, i2c_addr: int, force=None) -> int:
        with self._lock:
            dev = self._begin(i2c_addr)
            return self._read(dev, 1)[0]

    def write_byte(self, i2c_addr: int, value: int, force=None) -> None:
        with self._lock:
            self._begin(i2c_addr).write(bytes([value & 0xFF]))

    def read_byte_data(self, i2c_addr: int, register: int, force=None) -> int:
        with self._lock:
            dev = self._begin(i2c_addr)
            dev.write(bytes([register & 0xFF]))
            return self._read(dev, 1)[0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force=None) -> None:
        with self._lock:
            self._begin(i2c_addr).write(bytes([register & 0xFF, value & 0xFF]))

    def read_word_data(self, i2c_addr: int, register: int, force=None) -> int:
        with self._lock:
            dev = self._begin(i2c_addr)
            dev.write(bytes([register & 0xFF]))
            lo, hi = self._read(dev, 2)  # SMBus words are little-endian on the wire
            return lo | (hi << 8)

    def write_word_data(self, i2c_addr: int, register: int, value: int, force=None) -> None:
        with self._lock:
            self._begin(i2c_addr).write(bytes([register & 0xFF, value & 0xFF, (value >> 8) & 0xFF]))

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int, force=None) -> list[int]:
        if length > 32:
            raise ValueError("Desired block length over 32 bytes")  # as smbus2 does
        with self._lock:
            dev = self._begin(i2c_addr)
            dev.write(bytes([register & 0xFF]))
            return list(self._read(dev, length))

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int], force=None) -> None:
        if len(data) > 32:
            raise ValueError("Data length cannot exceed 32 bytes")
        with self._lock:
            self._begin(i2c_addr).write(bytes([register & 0xFF, *[b & 0xFF for b in data]]))

    def i2c_rdwr(self, *i2c_msgs) -> None:
        """Combined transaction: each smbus2 ``i2c_msg`` in turn (flags 1 = read)."""
        with self._lock:
            if not i2c_msgs:
                return
            dev = self._begin(i2c_msgs[0].addr)
            for msg in i2c_msgs:
                if msg.addr != i2c_msgs[0].addr:
                    dev = self.devices.get(msg.addr)
                    if dev is None:
                        raise OSError(errno_mod.EREMOTEIO, "Remote I/O error")
                if msg.flags & 1:
                    data = self._read(dev, msg.len)
                    ctypes.memmove(msg.buf, data, msg.len)
                else:
                    dev.write(bytes(list(msg)))

    def close(self) -> None:
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RegisterFile:
    """A chip's register map with an auto-incrementing pointer, the usual I2C device model.

    Subclasses override :meth:`read_register` / :meth:`write_register` for
    registers with side effects (a FIFO data port pops a byte on every read).
    """

    def __init__(self, size: int = 256, auto_increment: bool = True):
        self.regs = bytearray(size)
        self.pointer = 0
        self.auto_increment = auto_increment

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.pointer = data[0]
        for value in data[1:]:
            self.write_register(self.pointer, value)
            self._advance()

    def read(self, n: int) -> bytes:
        out = bytearray()
        for _ in range(n):
            out.append(self.read_register(self.pointer) & 0xFF)
            self._advance()
        return bytes(out)

    def _advance(self) -> None:
        if self.auto_increment:
            self.pointer = (self.pointer + 1) % len(self.regs)

    def read_register(self, reg: int) -> int:
        return self.regs[reg]

    def write_register(self, reg: int, value: int) -> None:
        self.regs[reg] = value
