"""Texas Instruments TMP102 room thermometer.

Datasheet: TI SBOS397 "TMP102 Low-Power Digital Temperature Sensor" (sections
cited as "DS x.y.z").  The TMP102 converts continuously (4 Hz by default) into
a temperature register selected by a pointer register.  It has no identity
register, so :class:`TMP102` recognises it by plausibility only: the
configuration register's read-only resolution bits R1:R0 read 11 and its low
four bits read 0 (power-on value 0x60A0).  Other chips at 0x48..0x4B (an
ADS1115 ADC powers up with 0x8583, an LM75 with an 8-bit 0x00) fail that test,
but a chip that mimics the TMP102's register map would pass it.

The temperature is read as two bytes after setting the pointer (an I2C block
read), not with ``read_word_data``: SMBus words are little-endian and the
TMP102 sends its most significant byte first.
"""

from __future__ import annotations

import logging
from enum import IntEnum

from firmware.bus import I2CBus, burst_read
from firmware.clock import Clock
from firmware.samples import TempReading
from firmware.tempsensor import I2CThermometer

log = logging.getLogger(__name__)

ADDRESSES = (0x48, 0x49, 0x4A, 0x4B)  # DS "Serial Bus Address", Table 4: ADD0 to GND, V+, SDA, SCL


class Pointer(IntEnum):
    """Pointer register values P1:P0 (DS 7.5.1, Table 7/8)."""

    TEMPERATURE = 0b00  # read-only, DS 7.5.2
    CONFIG = 0b01  # DS 7.5.3
    T_LOW = 0b10  # DS 7.5.4
    T_HIGH = 0b11  # DS 7.5.4


# Configuration register bits, as one big-endian 16-bit word (DS 7.5.3, Tables 10-11).
CONFIG_OS = 0x8000  # one-shot conversion (write) / conversion ready (read in shutdown)
CONFIG_RESOLUTION = 0x6000  # R1:R0, read-only 11 = 12-bit
CONFIG_FAULT_QUEUE = 0x1800
CONFIG_POLARITY = 0x0400
CONFIG_THERMOSTAT = 0x0200
CONFIG_SHUTDOWN = 0x0100
CONFIG_RATE = 0x00C0  # CR1:CR0: 00 0.25 Hz, 01 1 Hz, 10 4 Hz (default), 11 8 Hz
CONFIG_ALERT = 0x0020  # read-only comparator output (inverted by POL=0)
CONFIG_EXTENDED = 0x0010  # EM: 13-bit format to 150 C
CONFIG_RESERVED = 0x000F  # always read 0
CONFIG_POWER_ON = 0x60A0  # DS 7.5.3: 12-bit, 4 Hz, comparator, AL = 1
T_LOW_POWER_ON = 0x4B00  # DS 7.5.4: 75 C
T_HIGH_POWER_ON = 0x5000  # DS 7.5.4: 80 C

CELSIUS_PER_LSB = 0.0625  # DS 7.5.2
CONVERSION_S = 0.035  # DS 6.5 electrical characteristics: conversion time, max 35 ms


def word(data: bytes) -> int:
    """Two bytes as the TMP102 sends them: most significant byte first."""
    return (data[0] << 8) | data[1]


def temperature_c(raw: int) -> float:
    """Temperature register word -> degrees Celsius (DS 7.5.2, Tables 5-6).

    Bit 0 is 1 in extended mode (13-bit, value in bits 15:3) and 0 in normal
    mode (12-bit, value in bits 15:4); both are two's complement, 0.0625 C/LSB.
    0x1900 -> 25.0, 0xFFC0 -> -0.25, 0xE700 -> -25.0.
    """
    bits = 13 if raw & 0x0001 else 12
    value = raw >> (16 - bits)
    if value & (1 << (bits - 1)):
        value -= 1 << bits
    return value * CELSIUS_PER_LSB


def looks_like_tmp102(config: int) -> bool:
    """True if a configuration register word can come from a TMP102 (read-only bits as DS 7.5.3 fixes them)."""
    return (config & CONFIG_RESOLUTION) == CONFIG_RESOLUTION and (config & CONFIG_RESERVED) == 0


class TMP102(I2CThermometer):
    """A TMP102: recognised by its configuration register, woken if shut down, read from pointer 0."""

    ADDRESSES = ADDRESSES
    chip = "tmp102"

    def __init__(self, bus: I2CBus, address: int = 0x48, clock: Clock | None = None, bus_label: str = "the I2C bus"):
        super().__init__(bus, address, clock, bus_label)
        try:
            config = self.read_register(Pointer.CONFIG)
        except OSError as exc:
            raise self._not_found("no answer: %s" % exc) from exc
        if not looks_like_tmp102(config):
            raise self._not_found("configuration word %#06x has R1:R0 != 11 or reserved bits set; "
                                  "another chip uses this address" % config)
        self.identity = "config %#06x (%s; the TMP102 has no identity register, recognised by its config bits)" % (
            config, "power-on value" if config == CONFIG_POWER_ON else "configured")
        if config & CONFIG_SHUTDOWN:
            log.info("%s was in shutdown mode: switching it to continuous conversion", self.name)
            with self._io("leaving shutdown"):
                self.bus.write_i2c_block_data(self.address, Pointer.CONFIG,
                                              [((config & ~CONFIG_SHUTDOWN) >> 8) & 0xFF, config & 0xFF])
            self.clock.sleep(CONVERSION_S)

    def read_register(self, pointer: Pointer) -> int:
        """Set the pointer and read its two bytes in one transaction."""
        with self._io("reading register %d" % pointer):
            return word(burst_read(self.bus, self.address, pointer, 2))

    def read(self) -> TempReading:
        """The latest continuous conversion (at most 0.25 s old at the default 4 Hz)."""
        return self._reading(temperature_c(self.read_register(Pointer.TEMPERATURE)))
