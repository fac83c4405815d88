"""The one way to open hardware, for ``run``, ``record`` and ``doctor``: real or simulated, bus, chips and world.

:func:`open_hardware` is the only place that opens ``smbus2.SMBus``.  Whatever
the bus is (the Pi's, the simulated world's, one a test hands in), the drivers
get it wrapped in :class:`~firmware.bus.LockedBus`: the samplers (one thread
per leg) and the thermometer (a thread of its own) share one bus, and smbus2
selects the chip and transfers in two separate ioctls, so without the lock a
transfer can reach the other thread's chip.

With a :class:`~service.sim.world.SimOptions` the bus is the simulated world's
(:func:`service.sim.world.build_world`), built from the same configuration:
every leg, the configured room thermometer, the fault injection asked for.
"""

from __future__ import annotations

import errno
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from smbus2 import SMBus

from firmware.acquisition import Sampler
from firmware.bus import I2CBus, LockedBus
from firmware.clock import Clock, SystemClock
from firmware.errors import BusError, NightcrampError
from firmware.probe import ProbingAccelerometer, open_accelerometer
from firmware.thermometer import Thermometer, open_thermometer
from service.config import Config
from service.sim.world import SimOptions, SimWorld, build_world

log = logging.getLogger(__name__)

EMULATED_BUS_LABEL = "the emulated I2C bus"
_ENABLE_I2C = ("sudo raspi-config nonint do_i2c 0, or dtparam=i2c_arm=on in /boot/firmware/config.txt, "
               "then reboot")

Sink = Callable[[Any], None]


def open_i2c_bus(bus_number: int) -> LockedBus:
    """``LockedBus(SMBus(n))``, or a BusError that says how to enable I2C or get the permission."""
    return LockedBus(_open_smbus(bus_number))


def _open_smbus(bus_number: int, opener: Callable[[int], I2CBus] = SMBus) -> I2CBus:
    device = f"/dev/i2c-{bus_number}"
    try:
        return opener(bus_number)
    except FileNotFoundError:
        raise BusError(f"cannot open {device}: it does not exist. Enable I2C ({_ENABLE_I2C}), or try the command "
                       "with --simulate; `nightcramp doctor` checks all of this") from None
    except PermissionError:
        raise BusError(f"cannot open {device}: permission denied. Add the user to the i2c group "
                       "(`sudo adduser $USER i2c`, then log in again); `nightcramp doctor` checks all of this") from None
    except OSError as exc:
        raise BusError(f"cannot open {device}: {exc.strerror or exc}. Enable I2C ({_ENABLE_I2C}), check the user "
                       "is in the i2c group, or try the command with --simulate; `nightcramp doctor` checks all "
                       "of this") from None


class ReopeningBus:
    """A bus that was not there at start (``/dev/i2c-1`` missing, no permission yet): opened at first use.

    Every transaction first tries to open the bus; until that works it raises
    ``OSError(ENODEV)``, which the drivers treat as "no chip answers".  The
    probing accelerometer (:class:`firmware.probe.ProbingAccelerometer`) is
    what calls, with its back-off, so the open is retried at most every few
    seconds.  ``unavailable`` is why it is not open (empty once it is), the
    reason the sensor fault reports.  ``opener`` is ``smbus2.SMBus`` on a Pi;
    tests hand in one that fails until they "load the driver".
    """

    def __init__(self, bus_number: int, first_error: str, opener: Callable[[int], I2CBus] = SMBus):
        self.bus_number = bus_number
        self.unavailable = first_error
        self._opener = opener
        self._bus: I2CBus | None = None
        self._lock = threading.Lock()
        self.open_attempts = 0

    def _get(self) -> I2CBus:
        with self._lock:
            if self._bus is None:
                self.open_attempts += 1
                try:
                    self._bus = _open_smbus(self.bus_number, self._opener)
                except BusError as exc:
                    if str(exc) != self.unavailable:
                        log.error("%s", exc)
                    self.unavailable = str(exc)
                    raise OSError(errno.ENODEV, self.unavailable) from None
                log.warning("/dev/i2c-%d is open at last (after %d attempt(s)); probing for the accelerometer",
                            self.bus_number, self.open_attempts)
                self.unavailable = ""
            return self._bus

    def read_byte_data(self, i2c_addr: int, register: int) -> int:
        return self._get().read_byte_data(i2c_addr, register)

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None:
        self._get().write_byte_data(i2c_addr, register, value)

    def read_word_data(self, i2c_addr: int, register: int) -> int:
        return self._get().read_word_data(i2c_addr, register)

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        return self._get().read_i2c_block_data(i2c_addr, register, length)

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int]) -> None:
        self._get().write_i2c_block_data(i2c_addr, register, data)

    def i2c_rdwr(self, *i2c_msgs) -> None:
        self._get().i2c_rdwr(*i2c_msgs)

    def close(self) -> None:
        with self._lock:
            if self._bus is not None:
                self._bus.close()
                self._bus = None


@dataclass
class Hardware:
    """An open bus, and the acquisition on it: a sampler per leg, the room thermometer, the world when simulated.

    Nothing runs until :meth:`start` (``run --simulate`` never starts the
    threads: it steps the samplers itself).  A context manager: leaving it
    stops the threads and closes the bus.
    """

    bus: LockedBus
    clock: Clock
    bus_label: str
    w1_devices: str  # where DS18B20s are listed (the world's emulated directory when simulated)
    world: SimWorld | None = None
    samplers: list[Sampler] = field(default_factory=list)
    thermometer: Thermometer | None = None

    @property
    def simulated(self) -> bool:
        return self.world is not None

    def start(self) -> None:
        """Start the sampler and thermometer threads (real time)."""
        for sampler in self.samplers:
            sampler.start()
        if self.thermometer is not None:
            self.thermometer.start()

    def stop(self) -> None:
        """Stop the threads (they close their drivers); the bus stays open."""
        for sampler in self.samplers:
            sampler.stop()
        if self.thermometer is not None:
            self.thermometer.stop()

    def close(self) -> None:
        """Stop everything and close the bus (and the world's emulated 1-wire directory)."""
        self.stop()
        try:
            self.bus.close()
        except OSError:
            pass
        if self.world is not None:
            self.world.close()

    def __enter__(self) -> "Hardware":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_hardware(config: Config, simulate: SimOptions | None = None, sink: Sink | None = None, *,
                  clock: Clock | None = None, bus: I2CBus | None = None, legs: Sequence[str] | None = None,
                  require: bool = False, opener: Callable[[int], I2CBus] = SMBus) -> Hardware:
    """Open the bus and set up acquisition on it, as the configuration says.

    ``simulate``: build the simulated world instead of opening ``/dev/i2c-N``;
    its clock is a stepped ManualClock unless ``clock`` is given (``record``
    and ``doctor`` pass the system clock and run in real time).  ``bus``: an
    already built bus (tests), used instead of either.  ``sink`` None opens the
    bus only (``doctor`` probes the chips itself); otherwise a
    :class:`~firmware.acquisition.Sampler` per leg (``legs`` names a subset)
    and the room thermometer feed ``sink``.  ``require``: every leg's chip must
    answer now (``record``).  Otherwise (``run``) nothing missing stops the
    start: a leg whose chip does not answer gets a
    :class:`~firmware.probe.ProbingAccelerometer` (the sampler reports
    ``sensor_fault`` at once and the chip is probed for with a back-off of
    1 s growing to 30 s), and a bus that cannot be opened is a
    :class:`ReopeningBus`, opened at a later probe.  ``opener`` stands in for
    ``smbus2.SMBus`` (tests).

    Raises BusError when the bus cannot be opened and ``sink`` is None or
    ``require`` is set, DeviceNotFoundError when an accelerometer does not
    answer and ``require`` is set; a missing room thermometer is only logged.
    """
    acc = config.accelerometer
    world = None
    w1_devices = config.temperature.w1_devices
    if bus is not None:
        hw_clock, label, bus = clock or SystemClock(), "the given bus", LockedBus(bus)
    elif simulate is not None:
        world = build_world(config, simulate, clock)
        hw_clock, label, bus = world.clock, EMULATED_BUS_LABEL, LockedBus(world.bus)
        w1_devices = world.w1_devices or w1_devices
    else:
        hw_clock, label = clock or SystemClock(), f"/dev/i2c-{acc.i2c_bus}"
        try:
            bus = LockedBus(_open_smbus(acc.i2c_bus, opener))
        except BusError as exc:
            if sink is None or require:
                raise
            log.error("%s; starting without the sensor and trying again (sensor_fault until it answers)", exc)
            bus = LockedBus(ReopeningBus(acc.i2c_bus, str(exc), opener))
    hardware = Hardware(bus=bus, clock=hw_clock, bus_label=label, w1_devices=w1_devices, world=world)
    if sink is None:
        return hardware
    try:
        _open_acquisition(hardware, config, sink, legs, require)
    except BaseException:
        hardware.close()
        raise
    return hardware


def _open_acquisition(hardware: Hardware, config: Config, sink: Sink, legs: Sequence[str] | None,
                      require: bool) -> None:
    acc = config.accelerometer
    clock = hardware.clock
    taken: list[int] = []
    for sensor in acc.sensors:
        if legs is not None and sensor.name not in legs:
            continue
        driver = open_accelerometer(hardware.bus, sensor.chip, sensor.address, acc.rate_hz, acc.range_g,
                                    exclude=taken, require=require, bus_label=hardware.bus_label, sleep=clock.sleep,
                                    monotonic=clock.monotonic)
        if isinstance(driver, ProbingAccelerometer):
            # The sampler reports it (error priority, sensor_fault) at its first pass.
            log.info("%s leg: no accelerometer yet; probing again after 1 s, backing off to 30 s", sensor.name)
        else:
            taken.append(driver.address)
        hardware.samplers.append(Sampler(driver, sink, clock, leg=sensor.name,
                                         drain_interval_s=acc.drain_interval_s, fault_after_s=acc.fault_after_s,
                                         stuck_after_s=acc.stuck_after_s))
    temp = config.temperature
    try:
        thermo = open_thermometer(hardware.bus, temp.sensor, temp.address, hardware.w1_devices, clock=clock)
    except (NightcrampError, OSError) as exc:
        log.error("room thermometer: %s; running without room temperature", exc)
        thermo = None
    if thermo is not None:
        hardware.thermometer = Thermometer(thermo, sink, clock, interval_s=temp.interval_s)
