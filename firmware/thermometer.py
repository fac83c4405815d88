"""Room temperature: find the thermometer, and read it once a minute on its own thread.

``scan_thermometers`` lists every supported thermometer that answers (for
``nightcramp doctor``); ``open_thermometer`` picks one as the configuration
says; :class:`Thermometer` reads it every ``interval_s`` on a thread of its
own (a DS18B20 read blocks ~750 ms, and no room thermometer may ever hold up
the accelerometer's sampling thread), rejects readings that cannot be a
bedroom's air, and hands the rest to a sink callable as
:class:`firmware.samples.TempReading`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

from firmware.bme280 import BME280
from firmware.bus import I2CBus
from firmware.clock import Clock, SystemClock
from firmware.ds18b20 import DEFAULT_W1_DEVICES, DS18B20, W1_WIRING_HINT, find_ds18b20
from firmware.errors import ConfigError, DeviceNotFoundError, NightcrampError
from firmware.samples import TempReading
from firmware.sht3x import SHT3x
from firmware.tempsensor import I2C_WIRING_HINT, ThermometerDriver
from firmware.tmp102 import TMP102

log = logging.getLogger(__name__)

I2C_DRIVERS = {"bme280": BME280, "sht3x": SHT3x, "tmp102": TMP102}  # probed in this order by "auto"
SENSOR_NAMES = ("auto", "bme280", "bmp280", "sht3x", "tmp102", "ds18b20", "none")

PLAUSIBLE_MIN_C = -40.0  # below every supported sensor's range: a broken read, not a bedroom
PLAUSIBLE_MAX_C = 85.0
MAX_JUMP_C_PER_MIN = 10.0  # room air does not change 10 C in a minute; a loose wire or a bad read does
CONFIRMATIONS = 3  # this many consistent readings away from the old value are a real change


@dataclass(frozen=True)
class FoundThermometer:
    """One thermometer that answered a scan: where, what, its identity, and a reading (or why not)."""

    chip: str
    address: int | None  # I2C address; None for 1-wire
    identity: str
    reading: TempReading | None
    error: str = ""

    @property
    def location(self) -> str:
        return "I2C %#04x" % self.address if self.address is not None else "1-wire"

    def summary(self) -> str:
        """One line for ``nightcramp doctor``: where, chip, identity, reading or error."""
        if self.reading is None:
            result = "read failed: %s" % self.error
        else:
            result = "%.2f C" % self.reading.temp_c
            if self.reading.humidity_pct is not None:
                result += ", %.1f %%RH" % self.reading.humidity_pct
        return "%-9s %-8s %s: %s" % (self.location, self.chip, self.identity, result)


NOT_FOUND_HINT = ("no room thermometer: connect a BME280/BMP280 (0x76/0x77), SHT3x (0x44/0x45) or TMP102 "
                  "(0x48-0x4B) to I2C (%s), or a DS18B20 to 1-wire (%s)" % (I2C_WIRING_HINT, W1_WIRING_HINT))


def _try_open(cls, bus: I2CBus, address: int, clock: Clock | None):
    """(driver, "") if the chip answers and sets up; (None, "") if absent; (None, why) if it answered but failed."""
    try:
        return cls(bus, address, clock=clock), ""
    except DeviceNotFoundError as exc:
        log.debug("probe %s at %#04x: %s", cls.__name__, address, exc)
        return None, ""
    except (NightcrampError, OSError) as exc:
        return None, str(exc)


def _describe(driver) -> FoundThermometer:
    try:
        reading, error = driver.read(), ""
    except (NightcrampError, OSError) as exc:
        reading, error = None, str(exc)
    return FoundThermometer(driver.chip, driver.address, driver.identity, reading, error)


def scan_thermometers(bus: I2CBus | None, w1_devices: str = DEFAULT_W1_DEVICES,
                      clock: Clock | None = None) -> list[FoundThermometer]:
    """Every supported thermometer that answers, each with one reading (for ``nightcramp doctor``).

    Probes BME280/BMP280 at 0x76/0x77, SHT3x at 0x44/0x45, TMP102 at
    0x48..0x4B (``bus`` None skips I2C), then every DS18B20 under ``w1_devices``.
    """
    found = []
    if bus is not None:
        for cls in I2C_DRIVERS.values():
            for address in cls.ADDRESSES:
                driver, error = _try_open(cls, bus, address, clock)
                if driver is not None:
                    with driver:
                        found.append(_describe(driver))
                elif error:
                    found.append(FoundThermometer(cls.chip, address, "answered, but set-up failed", None, error))
    for device_id in find_ds18b20(w1_devices):
        with DS18B20(w1_devices, device_id, clock=clock) as driver:
            found.append(_describe(driver))
    return found


def open_thermometer(bus: I2CBus | None, sensor: str = "auto", address: int | None = None,
                     w1_devices: str = DEFAULT_W1_DEVICES, clock: Clock | None = None) -> ThermometerDriver | None:
    """The room thermometer the configuration asks for, identity checked.

    ``sensor`` is ``"auto"`` (the first found: BME280/BMP280, SHT3x, TMP102,
    then DS18B20), a chip name (``"bmp280"`` is the same driver as
    ``"bme280"``), or ``"none"``.  ``address`` restricts the I2C addresses
    probed.  Returns None for ``"none"``, and for ``"auto"`` when nothing
    answers (the service runs without room temperature and logs why); raises
    :class:`DeviceNotFoundError` with a wiring hint when a named sensor is
    missing, :class:`ConfigError` for an unknown name or an address the chip
    cannot have.
    """
    if sensor not in SENSOR_NAMES:
        raise ConfigError("temperature.sensor: unknown sensor %r (one of %s)" % (sensor, ", ".join(SENSOR_NAMES)))
    if sensor == "none":
        return None
    names = list(I2C_DRIVERS) + ["ds18b20"] if sensor == "auto" else ["bme280" if sensor == "bmp280" else sensor]
    failures = []  # chips that answered but could not be set up
    for name in names:
        if name == "ds18b20":
            if find_ds18b20(w1_devices):
                return DS18B20(w1_devices, clock=clock)
            continue
        cls = I2C_DRIVERS[name]
        if address is not None and address not in cls.ADDRESSES:
            if sensor != "auto":
                raise ConfigError("temperature.address: a %s can only be at %s, not %#04x"
                                  % (name, ", ".join("%#04x" % a for a in cls.ADDRESSES), address))
            continue
        if bus is None:
            continue
        for addr in [address] if address is not None else cls.ADDRESSES:
            driver, error = _try_open(cls, bus, addr, clock)
            if error:
                log.warning("%s at %#04x answered but could not be set up: %s", name, addr, error)
                failures.append(error)
            if driver is not None:
                log.info("room thermometer: %s (%s)", driver.name, driver.identity)
                return driver
    if sensor == "auto":
        log.warning("no room thermometer found (probed BME280/BMP280 0x76/0x77, SHT3x 0x44/0x45, "
                    "TMP102 0x48-0x4B, DS18B20 under %s): running without room temperature", w1_devices)
        return None
    if sensor == "ds18b20":
        raise DeviceNotFoundError("no DS18B20 (28-*) under %s; %s" % (w1_devices, W1_WIRING_HINT))
    where = "%#04x" % address if address is not None else "/".join("%#04x" % a for a in I2C_DRIVERS[names[0]].ADDRESSES)
    if bus is None:
        raise DeviceNotFoundError("temperature.sensor is %s but no I2C bus is open" % sensor)
    if failures:
        raise DeviceNotFoundError("%s answered at %s but could not be set up: %s" % (sensor, where, failures[-1]))
    raise DeviceNotFoundError("no %s answers at %s; %s" % (sensor, where, I2C_WIRING_HINT))


class Thermometer:
    """Reads a thermometer driver every ``interval_s`` on its own thread and feeds ``sink(TempReading)``.

    The first reading is taken at start.  Errors are logged and the read is
    simply tried again next interval: a loose cable never stops the thread.
    Readings outside ``min_c..max_c``, or changing faster than
    ``max_jump_c_per_min`` from the last accepted one, are rejected with a
    warning, unless ``CONFIRMATIONS`` consecutive rejected readings agree with
    each other (the temperature really changed, or the old value was the bad
    one).  The thread owns the driver and closes it on :meth:`stop`.
    """

    def __init__(self, driver: ThermometerDriver, sink: Callable[[TempReading], None], clock: Clock | None = None,
                 interval_s: float = 60.0, min_c: float = PLAUSIBLE_MIN_C, max_c: float = PLAUSIBLE_MAX_C,
                 max_jump_c_per_min: float = MAX_JUMP_C_PER_MIN):
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.driver = driver
        self.sink = sink
        self.clock = clock or SystemClock()
        self.interval_s = float(interval_s)
        self.min_c, self.max_c = min_c, max_c
        self.max_jump_c_per_min = max_jump_c_per_min
        self.last_reading: TempReading | None = None  # the last accepted reading
        self.delivered = 0  # readings handed to the sink
        self.rejected = 0  # implausible readings dropped
        self.failures = 0  # reads that raised
        self.consecutive_failures = 0
        self.progress = 0  # read attempts, for a watchdog
        self._pending: list[TempReading] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ life cycle

    def start(self) -> "Thermometer":
        if self._thread is not None:
            raise RuntimeError("Thermometer already started")
        self._thread = threading.Thread(target=self._run, name="thermometer", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (within about one read) and close the driver."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("thermometer thread still busy in a read after %.1f s", timeout)
        try:
            self.driver.close()
        except Exception:  # closing must not mask the reason we are stopping
            log.exception("closing %s failed", getattr(self.driver, "chip", self.driver))

    def __enter__(self) -> "Thermometer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        next_t = self.clock.monotonic()
        while not self._stop.is_set():
            self.read_once()
            next_t += self.interval_s
            now = self.clock.monotonic()
            if next_t <= now:  # a read overran whole intervals: skip them rather than burst
                next_t = now + self.interval_s - (now - next_t) % self.interval_s
            self._sleep_until(next_t)

    def _sleep_until(self, t: float) -> None:
        """Sleep on the injected clock in short slices, so stop() is honoured promptly."""
        while not self._stop.is_set():
            remaining = t - self.clock.monotonic()
            if remaining <= 0:
                return
            self.clock.sleep(min(remaining, 0.25))

    def read_once(self) -> TempReading | None:
        """Read, check and deliver one reading; returns it, or None if it failed or was rejected."""
        self.progress += 1
        try:
            reading = self.driver.read()
        except Exception as exc:  # noqa: BLE001 - any failure is retried next interval
            self.failures += 1
            self.consecutive_failures += 1
            name = getattr(self.driver, "name", self.driver.chip)
            if not isinstance(exc, (NightcrampError, OSError)):
                log.exception("room thermometer %s: unexpected error (retrying in %.0f s)", name, self.interval_s)
            elif self.consecutive_failures == 1 or self.consecutive_failures % 10 == 0:
                log.warning("room thermometer read failed (%d in a row, retrying every %.0f s): %s",
                            self.consecutive_failures, self.interval_s, exc)
            return None
        if self.consecutive_failures:
            log.info("room thermometer back after %d failed reads", self.consecutive_failures)
            self.consecutive_failures = 0
        if not self._plausible(reading):
            self.rejected += 1
            return None
        self.last_reading = reading
        self.delivered += 1
        try:
            self.sink(reading)
        except Exception:  # noqa: BLE001 - the consumer's bug must not stop the readings
            log.exception("temperature sink failed on %s", reading)
        return reading

    def _plausible(self, reading: TempReading) -> bool:
        if not self.min_c <= reading.temp_c <= self.max_c:
            log.warning("room thermometer %s: %.2f C is outside %.0f..%.0f C: rejected",
                        reading.sensor, reading.temp_c, self.min_c, self.max_c)
            return False
        last = self.last_reading
        if last is None or self._consistent(last, reading):
            self._pending.clear()
            return True
        if self._pending and not self._consistent(self._pending[-1], reading):
            self._pending.clear()
        self._pending.append(reading)
        if len(self._pending) >= CONFIRMATIONS:
            log.warning("room thermometer %s: %d readings agree on %.2f C (was %.2f C): accepting the change",
                        reading.sensor, len(self._pending), reading.temp_c, last.temp_c)
            self._pending.clear()
            return True
        log.warning("room thermometer %s: jump from %.2f C to %.2f C in %.0f s is implausible: rejected",
                    reading.sensor, last.temp_c, reading.temp_c, reading.t_mono - last.t_mono)
        return False

    def _consistent(self, a: TempReading, b: TempReading) -> bool:
        """True if b may follow a: within max_jump_c_per_min per minute (at least one minute's worth)."""
        minutes = max(1.0, abs(b.t_mono - a.t_mono) / 60.0)
        return abs(b.temp_c - a.temp_c) <= self.max_jump_c_per_min * minutes
