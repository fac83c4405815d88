"""A simulated bedroom for ``run --simulate``, ``demo``, ``record --simulate`` and ``doctor --simulate``.

It builds what a real Pi would have on its I2C bus — one emulated accelerometer
per configured leg and an emulated BME280 — fed by the night simulator, on a
stepped :class:`~firmware.clock.ManualClock` that starts at the beginning of the
configured night window.  The real drivers, sampler and thermometer then run
unchanged on top of it; the service steps them in simulated time (see
:meth:`service.app.daemon.Service.run`), so a night at 480x real time loses no
sample to thread scheduling.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from firmware.clock import ManualClock
from firmware.emulated.bme280 import EmulatedBME280
from firmware.emulated.bus import EmulatedBus
from firmware.emulated.rig import ChipSpec, build_rig, default_address
from service.pipeline.nightwindow import NightWindow
from service.sim.night import make_night
from service.sim.render import NightSource

log = logging.getLogger(__name__)

BME280_ADDRESS = 0x76
# Two MPU-6050s share a bus at 0x68 and 0x69 (AD0 high); a single leg uses the chip's usual address.
_SECOND_ADDRESS = {"mpu6050": 0x69, "adxl345": 0x1D, "lis3dh": 0x18}


@dataclass
class SimWorld:
    """The emulated hardware and the clock it runs on."""

    clock: ManualClock
    bus: EmulatedBus
    sources: dict[str, NightSource]  # leg -> its night
    night_start: datetime
    night_hours: float
    seed: int
    addresses: dict[str, int]  # leg -> I2C address of its emulated chip
    chips: dict[str, str]  # leg -> chip name

    def episodes(self) -> dict[str, list[tuple[float, float]]]:
        """The simulated cramps per leg, as (onset, end) in monotonic seconds of :attr:`clock`."""
        return {leg: [(a, b) for a, b in src.timeline.episodes] for leg, src in self.sources.items()}


def last_night_start(window: NightWindow, now: datetime) -> datetime:
    """The start of the most recent night window at or before ``now``."""
    return window.next_start(now - timedelta(days=1))


def build_world(config, *, seed: int | None = None, cramps: int = 2, sleeper: str = "normal", start: datetime | None = None, fail_rate: float = 0.0) -> SimWorld:
    """Emulated chips for every configured leg, and a room thermometer, on a SimClock.

    ``cramps`` are spread over the legs (the first leg gets the odd one);
    ``seed`` None picks one at random (logged, so a night can be replayed).
    """
    if seed is None:
        seed = random.randrange(1, 2**31)
    window = NightWindow.from_config(config.night)
    night_start = start or last_night_start(window, datetime.now(timezone.utc))
    night_date = window.night_of(night_start)
    lo, hi = window.bounds(night_date)
    hours = (hi - lo).total_seconds() / 3600.0
    clock = ManualClock(night_start.astimezone(timezone.utc), t0=0.0)
    sensors = config.accelerometer.sensors
    sources: dict[str, NightSource] = {}
    specs: list[ChipSpec] = []
    addresses: dict[str, int] = {}
    chips: dict[str, str] = {}
    for i, sensor in enumerate(sensors):
        chip = sensor.chip if sensor.chip != "auto" else "mpu6050"
        address = sensor.address
        if address is None:
            address = default_address(chip) if i == 0 else _SECOND_ADDRESS.get(chip, default_address(chip) + 1)
        share = cramps // len(sensors) + (1 if i < cramps % len(sensors) else 0)
        timeline = make_night(hours, share, seed + 7919 * i, sleeper)
        source = NightSource(timeline, chip, noise=True, t_origin=0.0)
        sources[sensor.name] = source
        addresses[sensor.name] = address
        chips[sensor.name] = chip
        specs.append(ChipSpec(chip=chip, address=address, source=source, seed=seed + i))
    bus = build_rig(clock, specs, fail_rate=fail_rate, seed=seed)
    first = next(iter(sources.values()))
    if config.temperature.sensor in ("auto", "bme280"):
        bus.attach(BME280_ADDRESS, EmulatedBME280(clock, first.temp_at))
    log.info("simulated night: %s, %.1f h, %d cramp(s), seed %d",
             night_start.astimezone(window.tz).isoformat(timespec="minutes"), hours, cramps, seed)
    return SimWorld(clock=clock, bus=bus, sources=sources, night_start=night_start, night_hours=hours, seed=seed,
                    addresses=addresses, chips=chips)
