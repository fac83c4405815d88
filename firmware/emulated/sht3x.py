"""An emulated SHT3x: the command protocol, CRCs, and a NACK when read before the data is ready.

Behaves as the datasheet (Sensirion SHT3x-DIS) says: the chip takes 16-bit
commands; after a single-shot command it does not acknowledge a read header
until the measurement is done (DS 4.4), and a result can be read once; an
unknown command, or any command other than break/fetch/soft reset while
measuring, is not acknowledged and sets status bit 1; the status register
powers up as 0x8010 (alert pending, reset detected; DS 4.11 Table 17).
Periodic mode (0x2130, 1 measurement/s high repeatability) is modelled only
so far as to require a break before other commands.  ``corrupt_crc`` flips
CRC bytes on the next reads to test the driver's check.
"""

from __future__ import annotations

import errno
import threading
from typing import Callable

from firmware import sht3x as ds
from firmware.clock import Clock

# DS 2.2 Table 4, maximum measurement durations (we model the worst case).
_DURATION_S = {ds.Command.MEASURE_HIGH: 0.015, ds.Command.MEASURE_MEDIUM: 0.006, ds.Command.MEASURE_LOW: 0.004}
PERIODIC_1MPS_HIGH = 0x2130  # DS 4.5 Table 10
FETCH_DATA = 0xE000  # DS 4.6
POWER_ON_STATUS = ds.STATUS_ALERT_PENDING | ds.STATUS_RESET_DETECTED  # 0x8010


def _nack(why: str) -> OSError:
    return OSError(errno.EREMOTEIO, "Remote I/O error (SHT3x NACK: %s)" % why)


def raw_for_temperature(temp_c: float) -> int:
    """The 16-bit S_T for ``temp_c`` (inverse of DS 4.13), clipped to the sensor's range."""
    return min(max(round((temp_c + 45.0) * 65535.0 / 175.0), 0), 0xFFFF)


def raw_for_humidity(humidity_pct: float) -> int:
    return min(max(round(humidity_pct * 65535.0 / 100.0), 0), 0xFFFF)


class EmulatedSHT3x:
    """An SHT3x on an :class:`EmulatedBus`, fed by ``temp_source`` / ``humidity_source`` on ``clock``."""

    def __init__(self, clock: Clock, temp_source: Callable[[float], float],
                 humidity_source: Callable[[float], float] | None = None, slowdown: float = 1.0):
        self.clock = clock
        self.slowdown = slowdown  # > 1 models a part slower than the datasheet maximum
        self.temp_source = temp_source
        self.humidity_source = humidity_source or (lambda t: 45.0)
        self.corrupt_crc = 0  # number of coming reads whose CRC bytes are flipped
        self.commands: list[int] = []  # every command acknowledged, in order (what a test inspects)
        self.measurements = 0
        self._lock = threading.Lock()
        self.power_on_reset()

    def power_on_reset(self) -> None:
        """What a power cycle or brown-out does: idle, status 0x8010, no data."""
        with self._lock:
            self._reset_state()

    def _reset_state(self) -> None:
        self.status = POWER_ON_STATUS
        self.periodic = False
        self._ready_at: float | None = None
        self._measure_t: float | None = None
        self._out = b""

    def _words(self, *words: int) -> bytes:
        out = bytearray()
        for w in words:
            pair = bytes([(w >> 8) & 0xFF, w & 0xFF])
            out += pair + bytes([ds.crc8(pair)])
        return bytes(out)

    # ------------------------------------------------------------ the wire

    def write(self, data: bytes) -> None:
        with self._lock:
            if len(data) != 2:
                self.status |= ds.STATUS_COMMAND_FAILED
                raise _nack("expected a 2-byte command, got %d bytes" % len(data))
            command = (data[0] << 8) | data[1]
            busy = self._ready_at is not None and self.clock.monotonic() < self._ready_at
            if command == ds.Command.SOFT_RESET and not self.periodic:
                self.commands.append(command)
                self._reset_state()
                return
            if self.periodic and command not in (ds.Command.BREAK, FETCH_DATA):
                self.status |= ds.STATUS_COMMAND_FAILED
                raise _nack("in periodic mode only break/fetch are accepted")
            if busy:
                raise _nack("measurement in progress")
            self.commands.append(command)
            self._out = b""
            if command in _DURATION_S:
                self._ready_at = self.clock.monotonic() + _DURATION_S[command] * self.slowdown
                self._measure_t = self._ready_at
            elif command == ds.Command.READ_STATUS:
                self._out = self._words(self.status)
            elif command == ds.Command.CLEAR_STATUS:
                self.status &= ~(ds.STATUS_ALERT_PENDING | ds.STATUS_RESET_DETECTED
                                 | ds.STATUS_COMMAND_FAILED | ds.STATUS_WRITE_CRC_FAILED)
            elif command == ds.Command.HEATER_ENABLE:
                self.status |= ds.STATUS_HEATER_ON
            elif command == ds.Command.HEATER_DISABLE:
                self.status &= ~ds.STATUS_HEATER_ON
            elif command == ds.Command.BREAK:
                self.periodic = False
            elif command == PERIODIC_1MPS_HIGH:
                self.periodic = True
            else:
                self.commands.pop()
                self.status |= ds.STATUS_COMMAND_FAILED
                raise _nack("unknown command %#06x" % command)
            self.status &= ~ds.STATUS_COMMAND_FAILED

    def read(self, n: int) -> bytes:
        with self._lock:
            if self._measure_t is not None:
                if self.clock.monotonic() < self._ready_at:
                    raise _nack("read header before the measurement is done")
                t = self._measure_t
                self._out = self._words(raw_for_temperature(self.temp_source(t)),
                                        raw_for_humidity(self.humidity_source(t)))
                self._measure_t = self._ready_at = None
                self.measurements += 1
            if not self._out:
                raise _nack("no data to read")
            out = bytearray(self._out[:n].ljust(n, b"\xff"))  # past the data the bus floats high
            self._out = b""  # a result is read once
            if self.corrupt_crc:
                self.corrupt_crc -= 1
                for i in range(2, len(out), 3):
                    out[i] ^= 0x5A
            return bytes(out)
