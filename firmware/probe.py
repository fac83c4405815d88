"""Find the accelerometers on a bus: ``accelerometer = "auto"`` and ``nightcramp doctor``.

Every supported chip has two possible addresses, set by one strap pin, and an
identity register; a probe reads that register at each address, so a
different chip that happens to share an address (a DS3231 clock at 0x68) is
not mistaken for an accelerometer.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from firmware import adxl345, lis3dh, mpu6050
from firmware.accelerometer import FifoAccelerometer
from firmware.bus import I2CBus
from firmware.errors import ConfigError, DeviceNotFoundError, NightcrampError, SensorAbsentError

log = logging.getLogger(__name__)

# Probed in this order by "auto" (the MPU-6050 first: the commonest board, the deepest FIFO).
DRIVERS: dict[str, type[FifoAccelerometer]] = {
    "mpu6050": mpu6050.MPU6050,
    "lis3dh": lis3dh.LIS3DH,
    "adxl345": adxl345.ADXL345,
}
ADDRESSES = {"mpu6050": mpu6050.ADDRESSES, "lis3dh": lis3dh.ADDRESSES, "adxl345": adxl345.ADDRESSES}
WIRING_HINTS = {name: cls.WIRING_HINT for name, cls in DRIVERS.items()}
CHIP_NAMES = ("auto", *DRIVERS)
PROBE_FIRST_S = 1.0  # a sensor missing at start is probed for again after 1 s, then 2, 4, ... up to 30 s
PROBE_MAX_S = 30.0


@dataclass(frozen=True)
class FoundAccelerometer:
    """One accelerometer that answered a scan, with one reading (or why there is none)."""

    chip: str  # driver name: mpu6050, lis3dh, adxl345
    address: int
    model: str  # what the identity register says: MPU-6050, MPU-6500, ...
    identity: int
    accel_g: tuple[float, float, float] | None
    error: str = ""

    @property
    def magnitude_g(self) -> float | None:
        """|a| in g: about 1 for a sensor lying still."""
        return float(np.linalg.norm(self.accel_g)) if self.accel_g is not None else None


def _candidates(chip: str, address: int | None, exclude: Iterable[int]) -> list[tuple[str, int]]:
    if chip not in CHIP_NAMES:
        raise ConfigError(f"accelerometer.chip: unknown chip {chip!r} (one of {', '.join(CHIP_NAMES)})")
    names = list(DRIVERS) if chip == "auto" else [chip]
    if address is not None and chip != "auto" and address not in ADDRESSES[chip]:
        raise ConfigError(f"accelerometer.address: a {chip} can only be at "
                          f"{' or '.join(f'{a:#04x}' for a in ADDRESSES[chip])}, not {address:#04x}")
    skip = set(exclude)
    return [(name, a) for name in names for a in ADDRESSES[name]
            if (address is None or a == address) and a not in skip]


def _identify(bus: I2CBus, name: str, address: int, **kwargs) -> FifoAccelerometer | None:
    driver = DRIVERS[name](bus, address, **kwargs)
    try:
        driver.check_identity()
    except DeviceNotFoundError as exc:
        log.debug("probe %s at %#04x: %s", name, address, exc)
        return None
    return driver


def _one_reading(driver: FifoAccelerometer, sleep: Callable[[float], None]) -> tuple[float, float, float]:
    """Start the chip, let a few samples arrive, and average them."""
    driver.start()
    try:
        sleep(5.0 / driver.rate_hz)
        result = driver.drain()
        if not len(result):
            raise DeviceNotFoundError(f"{driver.CHIP} at {driver.address:#04x} answers but delivers no samples")
        return tuple(float(v) for v in result.accel_g.mean(axis=0))
    finally:
        driver.close()


def scan_accelerometers(bus: I2CBus, *, bus_label: str = "the I2C bus",
                        sleep: Callable[[float], None] = time.sleep) -> list[FoundAccelerometer]:
    """Every supported accelerometer that answers, each with one reading (about 0.1 s each).

    Taking the reading reconfigures the chip; a running service notices
    (``verify()``) and re-initialises it, with a short gap.
    """
    found = []
    for name, address in _candidates("auto", None, ()):
        driver = _identify(bus, name, address, bus_label=bus_label, sleep=sleep)
        if driver is None:
            continue
        try:
            accel, error = _one_reading(driver, sleep), ""
        except (NightcrampError, OSError) as exc:
            accel, error = None, str(exc)
        found.append(FoundAccelerometer(name, address, driver.model, int(driver.identity), accel, error))
    return found


def missing_chips(found: Iterable[FoundAccelerometer]) -> dict[str, str]:
    """Chip name -> wiring hint for every supported chip not found (what ``doctor`` prints)."""
    present = {f.chip for f in found}
    return {name: hint for name, hint in WIRING_HINTS.items() if name not in present}


def open_accelerometer(bus: I2CBus, chip: str = "auto", address: int | None = None, rate_hz: int = 50,
                       range_g: int = 4, *, exclude: Iterable[int] = (), require: bool = True,
                       bus_label: str = "the I2C bus", sleep: Callable[[float], None] = time.sleep,
                       monotonic: Callable[[], float] = time.monotonic) -> FifoAccelerometer:
    """The accelerometer the configuration names, identity checked, not started (the Sampler starts it).

    ``chip`` ``"auto"`` picks the first supported chip that answers (MPU-6050,
    LIS3DH, ADXL345, each at both addresses; ``address`` narrows the search).
    ``exclude``: addresses already taken by the other leg (a list is read at
    every probe, so a leg found later is excluded too).  Raises
    DeviceNotFoundError with wiring hints when nothing suitable answers,
    ConfigError for a bad chip name or address.  ``require=False``: instead of
    DeviceNotFoundError, a :class:`ProbingAccelerometer` that keeps looking
    (a sensor unplugged or a bus missing at boot: the Sampler reports
    ``sensor_fault`` until it answers).
    """
    candidates = _candidates(chip, address, exclude)
    kwargs = {"rate_hz": rate_hz, "range_g": range_g, "bus_label": bus_label, "sleep": sleep}
    for name, addr in candidates:
        driver = _identify(bus, name, addr, **kwargs)
        if driver is not None:
            log.info("accelerometer: %s (%s) at %#04x", name, driver.model, addr)
            return driver
    error = getattr(bus, "unavailable", "") or _not_found(chip, candidates, bus_label)
    if require:
        raise DeviceNotFoundError(error)
    return ProbingAccelerometer(bus, chip, address, rate_hz, range_g, exclude=exclude, bus_label=bus_label,
                                sleep=sleep, monotonic=monotonic, first_error=error)


def _not_found(chip: str, candidates: list[tuple[str, int]], bus_label: str) -> str:
    tried = ", ".join(f"{name} {addr:#04x}" for name, addr in candidates) or "nothing (every address excluded)"
    names = list(DRIVERS) if chip == "auto" else [chip]
    hints = " | ".join(f"{name}: {WIRING_HINTS[name]}" for name in names)
    return f"no accelerometer answers on {bus_label} (tried {tried}). Wiring: {hints}"


_CLAIM_LOCK = threading.Lock()  # two legs probing at once must not both take the chip at one address


class ProbingAccelerometer:
    """An accelerometer that did not answer at start: probed for again with a back-off until one does.

    It stands in for the driver in a :class:`~firmware.acquisition.Sampler`.
    Until a chip answers, :meth:`start` raises :class:`SensorAbsentError`:
    at once, without touching the bus, while the next probe is not due; after
    a probe that found nothing, with the wiring hints.  Probes come after
    ``PROBE_FIRST_S``, then twice as long each time up to ``PROBE_MAX_S``, so
    a missing sensor costs a few failed transactions a minute.  The first chip
    that answers (as ``open_accelerometer`` would pick it, minus the addresses
    in ``exclude``, read at every probe) becomes the driver: every attribute
    and call goes to it from then on, and a later unplug is an ordinary
    sampling fault.
    """

    def __init__(self, bus: I2CBus, chip: str, address: int | None, rate_hz: int, range_g: int, *,
                 exclude: Iterable[int] = (), bus_label: str = "the I2C bus",
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
                 first_error: str = "", first_s: float = PROBE_FIRST_S, max_s: float = PROBE_MAX_S):
        _candidates(chip, address, ())  # a bad name or address is a ConfigError now, not at the first probe
        self.bus = bus
        self.chip = chip
        self.wanted_address = address
        self.rate_hz = rate_hz
        self.range_g = range_g
        self.bus_label = bus_label
        self._exclude = exclude
        self._kwargs = {"rate_hz": rate_hz, "range_g": range_g, "bus_label": bus_label, "sleep": sleep}
        self._monotonic = monotonic
        self.first_s = float(first_s)
        self.max_s = float(max_s)
        self._delay = self.first_s
        self._next_probe = monotonic() + self._delay
        self.last_error = first_error or _not_found(chip, _candidates(chip, address, ()), bus_label)
        self.probes = 1 if first_error else 0
        self.found: FifoAccelerometer | None = None
        self._probe_transactions = 0

    # ------------------------------------------------------------ what the Sampler reads before a chip answers

    @property
    def CHIP(self) -> str:  # noqa: N802 - the drivers' class attribute
        return self.found.CHIP if self.found is not None else self.chip

    @property
    def address(self) -> int | None:
        return self.found.address if self.found is not None else self.wanted_address

    @property
    def model(self) -> str:
        return self.found.model if self.found is not None else "not found yet"

    @property
    def fifo_capacity_samples(self) -> int:
        # Before a chip answers there is nothing to drain: let the configured interval decide.
        return self.found.fifo_capacity_samples if self.found is not None else 1 << 20

    @property
    def transactions(self) -> int:
        return self._probe_transactions + (self.found.transactions if self.found is not None else 0)

    @property
    def description(self) -> str:
        if self.found is not None:
            return self.found.description
        where = f" at {self.wanted_address:#04x}" if self.wanted_address is not None else ""
        what = "an accelerometer" if self.chip == "auto" else f"a {self.chip}"
        return f"waiting for {what}{where} (not found yet)"

    @property
    def next_probe_in_s(self) -> float:
        return max(0.0, self._next_probe - self._monotonic())

    # ------------------------------------------------------------ the driver's calls

    def start(self) -> None:
        if self.found is None:
            self._probe()
        self.found.start()

    def _probe(self) -> None:
        now = self._monotonic()
        if now < self._next_probe:
            raise SensorAbsentError(self.last_error, retry_in_s=self._next_probe - now, probed=False)
        self.probes += 1
        with _CLAIM_LOCK:
            candidates = _candidates(self.chip, self.wanted_address, self._exclude)
            for name, addr in candidates:
                driver = _identify(self.bus, name, addr, **self._kwargs)
                if driver is None:
                    self._probe_transactions += 1
                    continue
                self.found = driver
                if isinstance(self._exclude, list):
                    self._exclude.append(addr)  # the other leg's probe must not take it too
                break
        if self.found is None:
            # A bus that is not there at all (/dev/i2c-1 missing) says so: that is the thing to fix.
            self.last_error = getattr(self.bus, "unavailable", "") or _not_found(self.chip, candidates,
                                                                                 self.bus_label)
            self._delay = min(self.max_s, self._delay * 2)
            self._next_probe = self._monotonic() + self._delay
            raise SensorAbsentError(self.last_error, retry_in_s=self._delay, probed=True)
        log.warning("accelerometer found at last: %s (%s) at %#04x on %s, after %d probe(s)", self.found.CHIP,
                    self.found.model, self.found.address, self.bus_label, self.probes)

    def verify(self) -> bool:
        return self.found.verify() if self.found is not None else False

    def drain(self):
        if self.found is None:
            raise SensorAbsentError(self.last_error, retry_in_s=self.next_probe_in_s, probed=False)
        return self.found.drain()

    def close(self) -> None:
        if self.found is not None:
            self.found.close()

    def __getattr__(self, name):
        found = self.__dict__.get("found")
        if found is None:
            raise AttributeError(name)
        return getattr(found, name)
