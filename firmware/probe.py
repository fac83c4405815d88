"""Find the accelerometers on a bus: ``accelerometer = "auto"`` and ``nightcramp doctor``.

Every supported chip has two possible addresses, set by one strap pin, and an
identity register; a probe reads that register at each address, so a
different chip that happens to share an address (a DS3231 clock at 0x68) is
not mistaken for an accelerometer.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from firmware import adxl345, lis3dh, mpu6050
from firmware.accelerometer import FifoAccelerometer
from firmware.bus import I2CBus
from firmware.errors import ConfigError, DeviceNotFoundError, NightcrampError

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
                       bus_label: str = "the I2C bus",
                       sleep: Callable[[float], None] = time.sleep) -> FifoAccelerometer:
    """The accelerometer the configuration names, identity checked, not started (the Sampler starts it).

    ``chip`` ``"auto"`` picks the first supported chip that answers (MPU-6050,
    LIS3DH, ADXL345, each at both addresses; ``address`` narrows the search).
    ``exclude``: addresses already taken by the other leg.  ``require=False``
    with a named chip and address returns the driver even if the chip does not
    answer yet (a loose cable at boot: the Sampler keeps retrying and reports
    ``sensor_fault``).  Raises DeviceNotFoundError with wiring hints when
    nothing suitable answers, ConfigError for a bad chip name or address.
    """
    candidates = _candidates(chip, address, exclude)
    kwargs = {"rate_hz": rate_hz, "range_g": range_g, "bus_label": bus_label, "sleep": sleep}
    for name, addr in candidates:
        driver = _identify(bus, name, addr, **kwargs)
        if driver is not None:
            log.info("accelerometer: %s (%s) at %#04x", name, driver.model, addr)
            return driver
    if not require and chip != "auto" and address is not None:
        log.warning("%s at %#04x does not answer yet; sampling will keep trying", chip, address)
        return DRIVERS[chip](bus, address, **kwargs)
    tried = ", ".join(f"{name} {addr:#04x}" for name, addr in candidates) or "nothing (every address excluded)"
    names = list(DRIVERS) if chip == "auto" else [chip]
    hints = " | ".join(f"{name}: {WIRING_HINTS[name]}" for name in names)
    raise DeviceNotFoundError(f"no accelerometer answers on {bus_label} (tried {tried}). Wiring: {hints}")
