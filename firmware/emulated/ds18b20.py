"""Fake DS18B20 sysfs entries: writes ``<dir>/28-<serial>/w1_slave`` as the w1-therm kernel driver does.

The file is written with the scratchpad a real DS18B20 holds (DS "Memory":
temperature LSB/MSB, TH, TL, configuration 0x7F for 12 bits, 0xFF, a
reserved byte, 0x10, and the Dallas/Maxim CRC-8) and the kernel's verdict and
millidegrees, so the driver parses exactly what a Pi would show.  Faults the
kernel really reports can be written too: a failed CRC (``NO``), an all-zero
scratchpad (disconnected sensor) and the 85 C power-on value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from firmware.clock import Clock

FAULTS = (None, "crc", "all_zero", "power_on")


def maxim_crc8(data: bytes) -> int:
    """Dallas/Maxim 1-wire CRC-8 (x^8 + x^5 + x^4 + 1, reflected, init 0; DS "CRC Generation")."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 0x01
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def scratchpad_for(temp_c: float) -> bytes:
    """The 9 scratchpad bytes of a 12-bit DS18B20 at ``temp_c`` (0.0625 C steps, TH 75, TL 70)."""
    raw = int(round(temp_c * 16)) & 0xFFFF
    body = bytes([raw & 0xFF, raw >> 8, 0x4B, 0x46, 0x7F, 0xFF, 0x10 - (raw & 0x0F), 0x10])
    return body + bytes([maxim_crc8(body)])


def w1_slave_text(temp_c: float, fault: str | None = None) -> str:
    """The two lines the kernel's w1_slave shows for a sensor at ``temp_c`` (or with ``fault``)."""
    if fault not in FAULTS:
        raise ValueError("fault must be one of %s" % (FAULTS,))
    if fault == "all_zero":
        pad = bytes(9)
    elif fault == "power_on":
        body = bytes([0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10])  # DS "Memory": power-on state
        pad = body + bytes([maxim_crc8(body)])
    else:
        pad = scratchpad_for(temp_c)
    crc = maxim_crc8(pad[:8])
    if fault == "crc":
        pad = pad[:8] + bytes([pad[8] ^ 0xFF])
    verdict = "YES" if crc == pad[8] else "NO"
    raw = int.from_bytes(pad[:2], "little", signed=True)
    hexed = " ".join("%02x" % b for b in pad)
    return "%s : crc=%02x %s\n%s t=%d\n" % (hexed, crc, verdict, hexed, int(raw * 1000 / 16))  # C division truncates


class EmulatedDS18B20:
    """A DS18B20 as sysfs shows it; call :meth:`refresh` to write the current temperature."""

    def __init__(self, w1_devices: str | os.PathLike, clock: Clock, temp_source: Callable[[float], float],
                 device_id: str = "28-0316a2791bff"):
        self.clock = clock
        self.temp_source = temp_source
        self.device_id = device_id
        self.fault: str | None = None
        self.dir = Path(w1_devices) / device_id
        self.path = self.dir / "w1_slave"
        self.refresh()

    def refresh(self) -> str:
        """Write w1_slave for the temperature at the clock's current time; returns the text."""
        text = w1_slave_text(self.temp_source(self.clock.monotonic()), self.fault)
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.path)
        return text

    def unplug(self) -> None:
        """The kernel removes the entry when the sensor stops answering the search."""
        if self.path.exists():
            self.path.unlink()
        if self.dir.exists():
            self.dir.rmdir()
