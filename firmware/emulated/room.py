"""A simulated bedroom for the emulated thermometers: a temperature that cools through the night.

``run --simulate``, ``demo`` and ``record --simulate`` attach one emulated
thermometer next to the emulated accelerometer, so the real thermometer
driver and thread run end to end::

    attach_thermometer(bus, clock, "bme280", temp_source=night_room(t0=clock.monotonic()))
"""

from __future__ import annotations

import math
from typing import Callable

from firmware.clock import Clock
from firmware.emulated.bme280 import EmulatedBME280
from firmware.emulated.bus import EmulatedBus
from firmware.emulated.sht3x import EmulatedSHT3x
from firmware.emulated.tmp102 import EmulatedTMP102
from firmware.errors import ConfigError

DEFAULT_ADDRESS = {"bme280": 0x76, "bmp280": 0x76, "sht3x": 0x44, "tmp102": 0x48}


def night_room(t0: float = 0.0, start_c: float = 21.0, end_c: float = 17.5, hours: float = 8.0,
               humidity_pct: float = 50.0) -> tuple[Callable[[float], float], Callable[[float], float]]:
    """(temp_source, humidity_source): air cooling exponentially from ``start_c`` towards ``end_c``.

    The time constant is a third of the night, so most of the drop happens
    in the first hours, as in an unheated bedroom; relative humidity rises
    slightly as the air cools (same absolute humidity, ~ +3 %RH per -1 C near 20 C).
    """
    tau = hours * 3600.0 / 3.0

    def temp_c(t_mono: float) -> float:
        return end_c + (start_c - end_c) * math.exp(-max(0.0, t_mono - t0) / tau)

    def humidity(t_mono: float) -> float:
        return min(100.0, humidity_pct + 3.0 * (start_c - temp_c(t_mono)))

    return temp_c, humidity


def attach_thermometer(bus: EmulatedBus, clock: Clock, chip: str = "bme280", address: int | None = None,
                       temp_source: Callable[[float], float] | None = None,
                       humidity_source: Callable[[float], float] | None = None):
    """Attach an emulated room thermometer to ``bus``; returns the emulated chip."""
    if temp_source is None:
        temp_source, default_humidity = night_room(t0=clock.monotonic())
        humidity_source = humidity_source or default_humidity
    if chip in ("bme280", "bmp280"):
        device = EmulatedBME280(clock, temp_source, humidity_source, chip_id=0x60 if chip == "bme280" else 0x58)
    elif chip == "sht3x":
        device = EmulatedSHT3x(clock, temp_source, humidity_source)
    elif chip == "tmp102":
        device = EmulatedTMP102(clock, temp_source)
    else:
        raise ConfigError("no emulated room thermometer %r (one of %s)" % (chip, ", ".join(DEFAULT_ADDRESS)))
    bus.attach(DEFAULT_ADDRESS[chip] if address is None else address, device)
    return device
