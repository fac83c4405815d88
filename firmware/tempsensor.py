"""What every room-temperature driver shares: the bus, an address, a clock, error wording.

A room thermometer is read once a minute off the sampling thread.  Drivers
translate the kernel's ``OSError`` into :class:`BusError` naming the chip and
address, so the log says which cable to check; they never retry themselves
(the :class:`firmware.thermometer.Thermometer` thread retries next interval).
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Protocol

from firmware.bus import I2CBus
from firmware.clock import Clock, SystemClock
from firmware.errors import BusError, DeviceNotFoundError, NightcrampError
from firmware.samples import TempReading

I2C_WIRING_HINT = (
    "check the wiring: SDA to GPIO2 (pin 3), SCL to GPIO3 (pin 5), 3.3 V and GND, "
    "I2C enabled (sudo raspi-config nonint do_i2c 0); `i2cdetect -y 1` lists what answers"
)


class ThermometerDriver(Protocol):
    """What :mod:`firmware.thermometer` needs from a room-temperature driver."""

    chip: str
    address: int | None

    def read(self) -> TempReading:
        """One fresh measurement, stamped with the clock's monotonic time."""

    def close(self) -> None: ...


class I2CThermometer:
    """Base of the I2C room thermometers: holds the bus, address and clock; a context manager."""

    chip = "?"
    ADDRESSES: tuple[int, ...] = ()

    def __init__(self, bus: I2CBus, address: int, clock: Clock | None = None, bus_label: str = "the I2C bus"):
        self.bus = bus
        self.address = int(address)
        self.clock = clock or SystemClock()
        self.bus_label = bus_label

    @property
    def name(self) -> str:
        """``chip@0xNN``, as logs and the doctor print it."""
        return "%s@%#04x" % (self.chip, self.address)

    @contextlib.contextmanager
    def _io(self, what: str) -> Iterator[None]:
        """Turn an ``OSError`` from the bus into a :class:`BusError` naming chip, address and step."""
        try:
            yield
        except NightcrampError:
            raise
        except OSError as exc:
            raise BusError(exc.errno, "%s at %#04x on %s: %s failed: %s"
                           % (self.chip, self.address, self.bus_label, what, exc.strerror or exc)) from exc

    def _not_found(self, why: str) -> DeviceNotFoundError:
        return DeviceNotFoundError("no %s at %#04x on %s (%s); %s"
                                   % (self.chip, self.address, self.bus_label, why, I2C_WIRING_HINT))

    def _reading(self, temp_c: float, humidity_pct: float | None = None) -> TempReading:
        return TempReading(t_mono=self.clock.monotonic(), temp_c=temp_c, sensor=self.chip,
                           humidity_pct=humidity_pct)

    def close(self) -> None:
        """Nothing to release: the bus belongs to whoever opened it."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, self.name)
