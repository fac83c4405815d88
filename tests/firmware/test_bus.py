"""firmware.bus: LockedBus keeps threads sharing one smbus2-style bus from crossing transfers."""

from __future__ import annotations

import threading
import time

import pytest

from firmware.bus import LockedBus, burst_read
from firmware.emulated.bus import EmulatedBus, RegisterFile


class TwoStepBus:
    """Selects the chip, then transfers, in two steps, as smbus2's SMBus does (I2C_SLAVE ioctl, then I2C_SMBUS)."""

    def __init__(self, wire: EmulatedBus):
        self.wire = wire
        self.address = None

    def read_byte_data(self, i2c_addr, register):
        self.address = i2c_addr  # ioctl(I2C_SLAVE)
        time.sleep(0.0002)  # the window in which another thread can re-select
        return self.wire.read_byte_data(self.address, register)  # ioctl(I2C_SMBUS) goes to the current address

    def read_i2c_block_data(self, i2c_addr, register, length):
        self.address = i2c_addr
        time.sleep(0.0002)
        return self.wire.read_i2c_block_data(self.address, register, length)


def chip(identity):
    c = RegisterFile()
    c.regs[:] = bytes([identity]) * 256
    return c


def test_locked_bus_keeps_each_threads_chip():
    wire = EmulatedBus({0x68: chip(0x68), 0x76: chip(0x76)})
    bus = LockedBus(TwoStepBus(wire))
    wrong = []

    def hammer(address):
        for _ in range(150):
            if bus.read_byte_data(address, 0xD0) != address or burst_read(bus, address, 0, 4) != bytes([address]) * 4:
                wrong.append(address)

    threads = [threading.Thread(target=hammer, args=(a,)) for a in (0x68, 0x76)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_locked_bus_passes_emulated_extras_through():
    wire = EmulatedBus({0x48: chip(1)})
    bus = LockedBus(wire)
    bus.fail_next(1)
    with pytest.raises(OSError) as info:
        bus.read_byte_data(0x48, 0)
    assert info.value.errno == 121
    assert bus.failures == 1 and bus.read_byte_data(0x48, 0) == 1
    with bus:
        pass
    assert wire.closed
