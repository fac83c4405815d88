"""Sensirion SHT3x (SHT30/31/35) temperature and humidity sensor.

Datasheet: Sensirion "Datasheet SHT3x-DIS" (sections cited as "DS x.y").  The
SHT3x has no registers: it takes 16-bit commands and answers reads with data
words, each followed by a CRC-8.  We use the single-shot, high-repeatability
command *without* clock stretching (0x2400): the Raspberry Pi's I2C controller
mishandles clock stretching, so instead we wait the worst-case conversion time
and then read.  All transfers are plain I2C messages (``i2c_rdwr``): an SMBus
block read would first send a register byte the chip would take as a command.
"""

from __future__ import annotations

import errno
import logging
from enum import IntEnum

from firmware.bus import I2CBus, raw_read, raw_write
from firmware.clock import Clock
from firmware.errors import SensorFaultError
from firmware.samples import TempReading
from firmware.tempsensor import I2CThermometer

log = logging.getLogger(__name__)

ADDRESSES = (0x44, 0x45)  # DS Table 7 (I2C device address): ADDR pin to VSS -> 0x44, to VDD -> 0x45


class Command(IntEnum):
    """16-bit commands, sent MSB first (DS 4.3 Table 9, 4.8, 4.9, 4.10, 4.11)."""

    MEASURE_HIGH = 0x2400  # DS 4.3 Table 9: single shot, high repeatability, clock stretching disabled
    MEASURE_MEDIUM = 0x240B  # DS 4.3 Table 9
    MEASURE_LOW = 0x2416  # DS 4.3 Table 9
    BREAK = 0x3093  # DS 4.8: break, stop periodic data acquisition
    SOFT_RESET = 0x30A2  # DS 4.9
    HEATER_ENABLE = 0x306D  # DS 4.10
    HEATER_DISABLE = 0x3066  # DS 4.10
    READ_STATUS = 0xF32D  # DS 4.11: status word + CRC
    CLEAR_STATUS = 0x3041  # DS 4.11


MEASURE_HIGH_MAX_S = 0.015  # DS 2.2 Table 4: measurement duration, high repeatability, max 15 ms
MEASURE_MARGIN_S = 0.001  # a little more than the worst case before the first read attempt
SOFT_RESET_S = 0.0015  # DS 2.2 Table 4: soft reset time, max 1.5 ms
READ_RETRIES = 2  # a read NACKed because the data is not ready yet is retried this many times
RETRY_WAIT_S = 0.005

STATUS_ALERT_PENDING = 0x8000  # DS 4.11 Table 17, bit 15
STATUS_HEATER_ON = 0x2000  # bit 13
STATUS_RESET_DETECTED = 0x0010  # bit 4: power-on, soft or hard reset since the last clear
STATUS_COMMAND_FAILED = 0x0002  # bit 1: last command not processed (invalid or bad checksum)
STATUS_WRITE_CRC_FAILED = 0x0001  # bit 0

CRC_POLYNOMIAL = 0x31  # DS 4.12 Table 19: x^8 + x^5 + x^4 + 1
CRC_INIT = 0xFF  # DS 4.12 Table 19; no reflection, no final XOR


def crc8(data: bytes) -> int:
    """Sensirion CRC-8 of a data word (DS 4.12): crc8(b"\\xbe\\xef") == 0x92."""
    crc = CRC_INIT
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLYNOMIAL) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def temperature_c(raw: int) -> float:
    """S_T -> degrees Celsius: T = -45 + 175 * S_T / (2^16 - 1) (DS 4.13)."""
    return -45.0 + 175.0 * raw / 65535.0


def humidity_pct(raw: int) -> float:
    """S_RH -> %RH: RH = 100 * S_RH / (2^16 - 1) (DS 4.13)."""
    return 100.0 * raw / 65535.0


def command_bytes(command: int) -> list[int]:
    return [(command >> 8) & 0xFF, command & 0xFF]


def check_words(data: bytes, what: str) -> list[int]:
    """Split ``data`` (word, word, CRC)* into words, raising SensorFaultError on a CRC mismatch."""
    words = []
    for i in range(0, len(data) - 2, 3):
        word, crc = data[i:i + 2], data[i + 2]
        if crc8(word) != crc:
            raise SensorFaultError("%s: CRC mismatch in word %d (%s, CRC %#04x, expected %#04x): "
                                   "noise on the I2C lines?" % (what, i // 3, word.hex(), crc, crc8(word)))
        words.append((word[0] << 8) | word[1])
    return words


class SHT3x(I2CThermometer):
    """An SHT30/31/35: soft reset and status check at start, one single-shot measurement per read."""

    ADDRESSES = ADDRESSES
    chip = "sht3x"

    def __init__(self, bus: I2CBus, address: int = 0x44, clock: Clock | None = None, bus_label: str = "the I2C bus"):
        super().__init__(bus, address, clock, bus_label)
        try:
            self.soft_reset()
            status = self.read_status()
        except SensorFaultError as exc:
            raise self._not_found("the status word fails its CRC, so this is not an SHT3x: %s" % exc) from exc
        except OSError as exc:
            raise self._not_found("no answer: %s" % exc) from exc
        self.identity = "status %#06x (CRC ok)" % status

    def _command(self, command: Command) -> None:
        raw_write(self.bus, self.address, command_bytes(command))

    def soft_reset(self) -> None:
        """Soft reset (DS 4.9); if the chip is in periodic mode it ignores it, so send a break first."""
        with self._io("soft reset"):
            try:
                self._command(Command.SOFT_RESET)
            except OSError:
                self._command(Command.BREAK)  # DS 4.8: only break/fetch are accepted in periodic mode
                self.clock.sleep(0.001)
                self._command(Command.SOFT_RESET)
            self.clock.sleep(SOFT_RESET_S)

    def read_status(self) -> int:
        """The 16-bit status register (DS 4.11), CRC checked."""
        with self._io("reading the status register"):
            self._command(Command.READ_STATUS)
            data = raw_read(self.bus, self.address, 3)
        return check_words(data, self.name + " status")[0]

    def read(self) -> TempReading:
        """Single-shot measurement: command 0x2400, wait >= 15 ms, read T, CRC, RH, CRC.

        Until the measurement is done the chip does not acknowledge its read
        header (DS 4.4), so an early read NACKs; it is retried briefly.
        """
        with self._io("single-shot measurement"):
            self._command(Command.MEASURE_HIGH)
            self.clock.sleep(MEASURE_HIGH_MAX_S + MEASURE_MARGIN_S)
            for attempt in range(READ_RETRIES + 1):
                try:
                    data = raw_read(self.bus, self.address, 6)
                    break
                except OSError as exc:
                    if exc.errno != errno.EREMOTEIO or attempt == READ_RETRIES:
                        raise
                    self.clock.sleep(RETRY_WAIT_S)
        raw_t, raw_rh = check_words(data, self.name + " measurement")
        return self._reading(temperature_c(raw_t), humidity_pct(raw_rh))
