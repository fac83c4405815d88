"""Maxim DS18B20 1-wire thermometer, read through the Linux w1-therm sysfs interface.

Datasheet: Maxim DS18B20 (sections cited as "DS").  The kernel (dtoverlay=w1-gpio)
lists each sensor as ``<w1_devices>/28-<serial>/w1_slave``; reading that file
starts a conversion and blocks about 750 ms (DS "Operation - Measuring
Temperature": 750 ms at 12 bits), so a DS18B20 is only ever read from the
thermometer thread, never the sampling thread.  The file holds two lines::

    72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
    72 01 4b 46 7f ff 0e 10 57 t=23125

the nine scratchpad bytes, the kernel's CRC verdict, and the temperature in
millidegrees Celsius.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from firmware.clock import Clock, SystemClock
from firmware.errors import DeviceNotFoundError, SensorFaultError
from firmware.samples import TempReading

log = logging.getLogger(__name__)

DEFAULT_W1_DEVICES = "/sys/bus/w1/devices"
FAMILY_CODE = "28"  # DS "64-bit Lasered ROM Code": family code 28h
POWER_ON_MILLI_C = 85000  # DS Table 1 note / "Memory": the temperature register powers up as +85 C
SCRATCHPAD_LEN = 9  # DS "Memory", Figure 9: bytes 0..8, byte 8 is the CRC

W1_WIRING_HINT = ("enable 1-wire (sudo raspi-config nonint do_onewire 0, i.e. dtoverlay=w1-gpio in "
                  "/boot/firmware/config.txt, data on GPIO4) and fit a 4.7 kohm pull-up from DQ to 3.3 V")


def parse_w1_slave(text: str) -> float:
    """The contents of a ``w1_slave`` file -> degrees Celsius.

    Raises :class:`SensorFaultError` when the kernel's CRC verdict is ``NO``,
    when the scratchpad is all zeros (a shorted or missing sensor gives
    ``crc=00 YES t=0``), or when it holds the power-on value 85.000 C (no
    conversion happened: the sensor browned out or lacks power).
    """
    lines = text.strip().splitlines()
    if len(lines) < 2 or ":" not in lines[0] or "t=" not in lines[1]:
        raise SensorFaultError("DS18B20: unexpected w1_slave contents %r" % text[:120])
    verdict = lines[0].split()[-1]
    if verdict != "YES":
        raise SensorFaultError("DS18B20: CRC check failed (%s): noise on the 1-wire line or a weak pull-up"
                               % lines[0].strip())
    try:
        scratchpad = bytes.fromhex(lines[0].split(":")[0])
        milli_c = int(lines[1].rsplit("t=", 1)[1])
    except ValueError as exc:
        raise SensorFaultError("DS18B20: cannot parse w1_slave %r: %s" % (text[:120], exc)) from exc
    if len(scratchpad) != SCRATCHPAD_LEN or not any(scratchpad):
        raise SensorFaultError("DS18B20: scratchpad %s is empty: sensor disconnected or DQ shorted to GND"
                               % scratchpad.hex(" "))
    if milli_c == POWER_ON_MILLI_C:
        raise SensorFaultError("DS18B20: reads the power-on value 85.000 C (no conversion made): "
                               "check its power and use normal (not parasite) power")
    return milli_c / 1000.0


def find_ds18b20(w1_devices: str | os.PathLike = DEFAULT_W1_DEVICES) -> list[str]:
    """The DS18B20 device ids (``28-...``) the kernel lists, sorted; empty if 1-wire is off."""
    root = Path(w1_devices)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.glob(FAMILY_CODE + "-*") if (p / "w1_slave").exists())


class DS18B20:
    """One DS18B20 (the first one listed unless ``device_id`` says which)."""

    chip = "ds18b20"
    address = None  # not on I2C

    def __init__(self, w1_devices: str | os.PathLike = DEFAULT_W1_DEVICES, device_id: str | None = None,
                 clock: Clock | None = None):
        self.clock = clock or SystemClock()
        found = find_ds18b20(w1_devices)
        if device_id is None:
            if not found:
                raise DeviceNotFoundError("no DS18B20 (28-*) under %s; %s" % (w1_devices, W1_WIRING_HINT))
            device_id = found[0]
            if len(found) > 1:
                log.info("%d DS18B20 found (%s); using %s", len(found), ", ".join(found), device_id)
        elif device_id not in found:
            raise DeviceNotFoundError("DS18B20 %s is not listed under %s; %s" % (device_id, w1_devices, W1_WIRING_HINT))
        self.device_id = device_id
        self.path = Path(w1_devices) / device_id / "w1_slave"
        self.identity = "1-wire id %s" % device_id

    @property
    def name(self) -> str:
        return "ds18b20@" + self.device_id

    def read(self) -> TempReading:
        """One conversion through the kernel: blocks ~750 ms on a Pi."""
        try:
            text = self.path.read_text(errors="replace")
        except OSError as exc:
            raise SensorFaultError("%s: cannot read %s: %s (sensor unplugged?)" % (self.name, self.path, exc)) from exc
        return TempReading(t_mono=self.clock.monotonic(), temp_c=parse_w1_slave(text), sensor=self.chip)

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
