"""The one simulated bedroom: ``run --simulate``, ``demo``, ``record --simulate`` and ``doctor --simulate``.

It builds what a real Pi would have, from the same configuration: one emulated
accelerometer per configured leg, fed by the night simulator, and the
configured room thermometer (BME280/BMP280, SHT3x or TMP102 on the emulated
I2C bus, a DS18B20 in an emulated 1-wire directory), with the fault injection
asked for.  The real drivers, sampler and thermometer then run unchanged on top
of it.

The clock decides how time passes.  Without one the world runs on a stepped
:class:`~firmware.clock.ManualClock` that starts at the beginning of the
configured night window; the service steps it (see
:meth:`service.app.daemon.Service.run`), so a night at 480x real time loses no
sample to thread scheduling.  ``record`` and ``doctor`` pass the system clock:
the night then starts now and plays in real time.
"""

from __future__ import annotations

import logging
import random
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from firmware.clock import Clock, ManualClock
from firmware.emulated.bme280 import EmulatedBME280
from firmware.emulated.bus import EmulatedBus
from firmware.emulated.ds18b20 import EmulatedDS18B20
from firmware.emulated.rig import ChipSpec, build_rig, default_address
from firmware.emulated.sht3x import EmulatedSHT3x
from firmware.emulated.tmp102 import EmulatedTMP102
from service.pipeline.nightwindow import NightWindow
from service.sim.night import make_night
from service.sim.render import NightSource

log = logging.getLogger(__name__)

# Two MPU-6050s share a bus at 0x68 and 0x69 (AD0 high); a single leg uses the chip's usual address.
_SECOND_ADDRESS = {"mpu6050": 0x69, "adxl345": 0x1D, "lis3dh": 0x18}
# temperature.sensor -> the emulated chip and the address it has when temperature.address is unset
_I2C_THERMOMETERS = {"auto": (EmulatedBME280, 0x76), "bme280": (EmulatedBME280, 0x76),
                     "bmp280": (EmulatedBME280, 0x76), "sht3x": (EmulatedSHT3x, 0x44),
                     "tmp102": (EmulatedTMP102, 0x48)}


@dataclass(frozen=True)
class SimOptions:
    """What to simulate, from ``--seed``, ``--cramps`` and the test knobs.

    ``seed`` None picks one at random (logged, so a night can be replayed);
    ``cramps`` are spread over the legs (the first leg gets the odd one);
    ``fail_rate`` is the fraction of bus transactions that fail (NACK, EIO,
    timeout); ``room_c`` a constant room temperature in C instead of the
    simulated night's (the doctor's fixed reading); ``lookalikes`` adds the
    look-alikes measured on real recordings (``--lookalikes``, default off).
    ``sensor_absent_s``: the accelerometers are not plugged in at the start;
    their addresses NACK, as a missing sensor's do, until that many simulated
    seconds have passed (``math.inf``: never).
    """

    seed: int | None = None
    cramps: int = 2
    sleeper: str = "normal"
    start: datetime | None = None
    fail_rate: float = 0.0
    room_c: float | None = None
    sensor_absent_s: float | None = None
    lookalikes: bool = False


@dataclass
class SimWorld:
    """The emulated hardware and the clock it runs on."""

    clock: Clock
    bus: EmulatedBus
    sources: dict[str, NightSource]  # leg -> its night
    night_start: datetime
    night_hours: float
    seed: int
    addresses: dict[str, int]  # leg -> I2C address of its emulated chip
    chips: dict[str, str]  # leg -> chip name
    w1_devices: str | None = None  # the emulated 1-wire directory, when the thermometer is a DS18B20
    _w1_dir: tempfile.TemporaryDirectory | None = None

    def episodes(self) -> dict[str, list[tuple[float, float]]]:
        """The simulated cramps per leg, as (onset, end) in monotonic seconds of :attr:`clock`."""
        return {leg: [(a, b) for a, b in src.timeline.episodes] for leg, src in self.sources.items()}

    def close(self) -> None:
        """Remove the emulated 1-wire directory (the bus needs no closing of its own)."""
        if self._w1_dir is not None:
            self._w1_dir.cleanup()
            self._w1_dir = None


def last_night_start(window: NightWindow, now: datetime) -> datetime:
    """The start of the most recent night window at or before ``now``."""
    return window.next_start(now - timedelta(days=1))


def build_world(config, options: SimOptions | None = None, clock: Clock | None = None) -> SimWorld:
    """Emulated chips for every configured leg, and the configured room thermometer.

    ``clock`` None: a ManualClock at the start of the last night window
    (``options.start`` overrides it); otherwise the night starts at ``clock``'s now.
    """
    options = options or SimOptions()
    seed = options.seed if options.seed is not None else random.randrange(1, 2**31)
    window = NightWindow.from_config(config.night)
    if clock is None:
        night_start = options.start or last_night_start(window, datetime.now(timezone.utc))
        clock = ManualClock(night_start.astimezone(timezone.utc), t0=0.0)
    else:
        night_start = clock.wall()
    lo, hi = window.bounds(window.night_of(night_start))
    hours = (hi - lo).total_seconds() / 3600.0
    t_origin = clock.monotonic()
    sensors = config.accelerometer.sensors
    cramps = options.cramps
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
        timeline = make_night(hours, share, seed + 7919 * i, options.sleeper, lookalikes=options.lookalikes)
        source = NightSource(timeline, chip, noise=True, t_origin=t_origin)
        sources[sensor.name] = source
        addresses[sensor.name] = address
        chips[sensor.name] = chip
        specs.append(ChipSpec(chip=chip, address=address, source=source, seed=seed + i))
    bus = build_rig(clock, specs, fail_rate=options.fail_rate, seed=seed)
    if options.sensor_absent_s is not None:
        plug_at = t_origin + float(options.sensor_absent_s)
        for address in addresses.values():
            bus.attach_later(address, bus.devices[address], lambda: clock.monotonic() >= plug_at)
    first = next(iter(sources.values()))
    room: Callable[[float], float] = first.temp_at if options.room_c is None else (lambda t: options.room_c)
    world = SimWorld(clock=clock, bus=bus, sources=sources, night_start=night_start, night_hours=hours, seed=seed,
                     addresses=addresses, chips=chips)
    _attach_thermometer(world, config.temperature, room)
    log.info("simulated night: %s, %.1f h, %d cramp(s), seed %d",
             night_start.astimezone(window.tz).isoformat(timespec="minutes"), hours, cramps, seed)
    return world


def _attach_thermometer(world: SimWorld, temp, room: Callable[[float], float]) -> None:
    """The configured room thermometer: on the emulated bus, or a DS18B20 in a 1-wire directory of its own."""
    if temp.sensor in _I2C_THERMOMETERS:
        cls, address = _I2C_THERMOMETERS[temp.sensor]
        world.bus.attach(temp.address or address, cls(world.clock, room))
    elif temp.sensor == "ds18b20":
        world._w1_dir = tempfile.TemporaryDirectory(prefix="nightcramp-w1-")
        world.w1_devices = world._w1_dir.name
        EmulatedDS18B20(world.w1_devices, world.clock, room)
