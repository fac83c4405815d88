"""What the three accelerometer drivers share: settings, the drain result, bus access.

Each driver (:mod:`firmware.mpu6050`, :mod:`firmware.adxl345`,
:mod:`firmware.lis3dh`) streams through its chip's hardware FIFO: the chip
clocks the samples, the driver only empties the FIFO a few times a second.
Drivers know nothing of time: :mod:`firmware.acquisition` timestamps samples.
"""

from __future__ import annotations

import errno
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from firmware.bus import I2CBus, burst_read
from firmware.errors import ConfigError, DeviceNotFoundError

log = logging.getLogger(__name__)

RATES_HZ = (25, 50, 100, 200)
RANGES_G = (2, 4, 8)

# Raspberry Pi pin names for the wiring hints (40-pin header, I2C1).
PI_I2C_PINS = "SDA to GPIO2 (pin 3), SCL to GPIO3 (pin 5), VCC to 3.3 V (pin 1), GND (pin 6)"


@dataclass(frozen=True)
class DrainResult:
    """What one FIFO drain delivered.

    ``accel_g``: shape (n, 3), in g, oldest sample first.  ``overflowed``: the
    FIFO filled up (or was re-synchronised) since the last drain, so samples may
    be missing before these; the sampler decides from the clock how many.
    """

    accel_g: np.ndarray
    overflowed: bool = False

    def __len__(self) -> int:
        return int(self.accel_g.shape[0])


def empty_result(overflowed: bool = False) -> DrainResult:
    return DrainResult(np.zeros((0, 3)), overflowed)


class FifoAccelerometer(ABC):
    """Base class: settings checks, counted bus access, context manager.

    Subclasses set ``CHIP``, ``IDENTITY_REGISTER``, ``IDENTITIES``,
    ``WIRING_HINT`` and implement :meth:`_configure`, :meth:`drain`,
    :meth:`_config_snapshot`.
    """

    CHIP: ClassVar[str] = ""
    IDENTITY_REGISTER: ClassVar[int] = 0
    IDENTITIES: ClassVar[dict[int, str]] = {}
    WIRING_HINT: ClassVar[str] = ""
    FIFO_CAPACITY_SAMPLES: ClassVar[int] = 32

    def __init__(
        self,
        bus: I2CBus,
        address: int,
        rate_hz: int = 50,
        range_g: int = 4,
        *,
        bus_label: str = "the I2C bus",
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate_hz not in RATES_HZ:
            raise ConfigError(f"{self.CHIP}: rate_hz must be one of {', '.join(map(str, RATES_HZ))}, got {rate_hz!r}")
        if range_g not in RANGES_G:
            raise ConfigError(f"{self.CHIP}: range_g must be one of {', '.join(map(str, RANGES_G))}, got {range_g!r}")
        self.bus = bus
        self.address = address
        self.rate_hz = rate_hz
        self.range_g = range_g
        self.bus_label = bus_label
        self._sleep = sleep
        self.identity: int | None = None
        self.transactions = 0
        self.started = False
        self._expected: dict[int, int] = {}

    # ------------------------------------------------------------ identity and set-up

    @property
    def fifo_capacity_samples(self) -> int:
        """Samples the FIFO holds before the oldest are lost (the sampler drains well before)."""
        return self.FIFO_CAPACITY_SAMPLES

    @property
    def description(self) -> str:
        """``MPU-6050 at 0x68``: what the log and ``systemctl status`` say is being sampled."""
        return f"{self.model} at {self.address:#04x}"

    @property
    def model(self) -> str:
        """The chip model the identity register named (e.g. ``MPU-6500`` for a clone)."""
        return self.IDENTITIES.get(self.identity, self.CHIP) if self.identity is not None else self.CHIP

    def read_identity(self) -> int:
        """Read the identity register; raise DeviceNotFoundError when nothing answers."""
        try:
            return self._read(self.IDENTITY_REGISTER)
        except OSError as exc:
            raise DeviceNotFoundError(self._not_found(f"no answer ({errno.errorcode.get(exc.errno, exc.errno)})")) from exc

    def check_identity(self) -> int:
        ident = self.read_identity()
        if ident not in self.IDENTITIES:
            raise DeviceNotFoundError(
                self._not_found(
                    f"identity register {self.IDENTITY_REGISTER:#04x} reads {ident:#04x}, "
                    f"expected {' or '.join(f'{v:#04x}' for v in self.IDENTITIES)}"
                )
            )
        self.identity = ident
        return ident

    def _not_found(self, why: str) -> str:
        return f"{self.CHIP} not found at address {self.address:#04x} on {self.bus_label}: {why}. Wiring: {self.WIRING_HINT}"

    def start(self) -> None:
        """Check the identity, then configure range, data rate and the FIFO (stream mode).

        Raises DeviceNotFoundError (wrong or missing chip) or OSError (bus error
        while configuring).  Calling it again re-initialises the chip.
        """
        self.check_identity()
        self._configure()
        self._expected = self._config_snapshot()
        self.started = True
        log.info("%s (%s) at %#04x on %s: %d Hz, +-%d g", self.CHIP, self.model, self.address, self.bus_label,
                 self.rate_hz, self.range_g)

    def verify(self) -> bool:
        """Re-read identity and configuration: False when the chip reset (brown-out) or was replaced."""
        if self.read_identity() != self.identity:
            return False
        actual = self._read_config()
        bad = {reg: (actual.get(reg), want) for reg, want in self._expected.items() if actual.get(reg) != want}
        if bad:
            log.warning("%s at %#04x lost its configuration: %s", self.CHIP, self.address,
                        ", ".join(f"reg {r:#04x} = {a} (wanted {w:#04x})" for r, (a, w) in bad.items()))
            return False
        return True

    def close(self) -> None:
        """Stop measuring (best effort: the bus may already be gone)."""
        if self.started:
            try:
                self._power_down()
            except OSError as exc:
                log.debug("%s at %#04x: power-down failed: %s", self.CHIP, self.address, exc)
        self.started = False

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ for subclasses

    @abstractmethod
    def _configure(self) -> None:
        ...

    @abstractmethod
    def _config_snapshot(self) -> dict[int, int]:
        """Register -> value that :meth:`verify` expects to read back."""
        ...

    @abstractmethod
    def _read_config(self) -> dict[int, int]:
        """Read the registers named by :meth:`_config_snapshot` (as few transactions as possible)."""
        ...

    @abstractmethod
    def _power_down(self) -> None:
        ...

    @abstractmethod
    def drain(self) -> DrainResult:
        ...

    # ------------------------------------------------------------ counted bus access

    def _read(self, register: int) -> int:
        self.transactions += 1
        return self.bus.read_byte_data(self.address, register)

    def _write(self, register: int, value: int) -> None:
        self.transactions += 1
        self.bus.write_byte_data(self.address, register, int(value))

    def _burst(self, register: int, length: int) -> bytes:
        self.transactions += 1
        return burst_read(self.bus, self.address, register, length)

    def _read_span(self, first: int, last: int) -> dict[int, int]:
        """Registers ``first..last`` in one burst, as a dict."""
        data = self._burst(first, last - first + 1)
        return {first + i: b for i, b in enumerate(data)}


def int16_le(data: bytes) -> np.ndarray:
    """Little-endian signed 16-bit words as an int array (n*6 bytes -> shape (n, 3))."""
    return np.frombuffer(bytes(data), dtype="<i2").reshape(-1, 3).astype(np.int32)
