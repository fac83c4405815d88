"""Build an emulated I2C bus with accelerometers on it, from plain parameters.

Used by the simulator, ``run --simulate``, ``demo``, ``record --simulate`` and
``doctor --simulate``::

    bus = build_rig(clock, [ChipSpec("mpu6050", 0x68, source=left), ChipSpec("mpu6050", 0x69, source=right)])
    bus.devices[0x68].power_on_reset()   # a brown-out mid-night
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from firmware.clock import Clock
from firmware.emulated.accelchip import EmulatedAccelChip, Source
from firmware.emulated.adxl345 import EmulatedADXL345
from firmware.emulated.bus import EmulatedBus
from firmware.emulated.lis3dh import EmulatedLIS3DH
from firmware.emulated.mpu6050 import EmulatedMPU6050
from firmware.errors import ConfigError
from firmware.mpu6050 import Identity

# chip name -> (class, extra arguments, default address)
CHIPS = {
    "mpu6050": (EmulatedMPU6050, {}, 0x68),
    "mpu6500": (EmulatedMPU6050, {"identity": Identity.MPU6500}, 0x68),
    "mpu9250": (EmulatedMPU6050, {"identity": Identity.MPU9250}, 0x68),
    "adxl345": (EmulatedADXL345, {}, 0x53),
    "lis3dh": (EmulatedLIS3DH, {}, 0x19),
}


@dataclass(frozen=True)
class ChipSpec:
    """One emulated chip: its name (``mpu6050``, ``mpu6500``, ``mpu9250``, ``adxl345``, ``lis3dh``), address, source.

    ``address`` None: the chip's usual address.  ``source`` None: a still
    sensor with the chip's datasheet noise.  ``odr_error``: oscillator error as
    a fraction (real chips are off by up to a few percent).
    """

    chip: str = "mpu6050"
    address: int | None = None
    source: Source | None = None
    odr_error: float = 0.0
    seed: int = 0


def make_chip(chip: str, clock: Clock, source: Source | None = None, *, odr_error: float = 0.0,
              seed: int = 0) -> EmulatedAccelChip:
    """One emulated accelerometer by name."""
    try:
        cls, extra, _ = CHIPS[chip]
    except KeyError:
        raise ConfigError(f"unknown emulated chip {chip!r} (known: {', '.join(CHIPS)})") from None
    return cls(clock, source, odr_error=odr_error, seed=seed, **extra)


def default_address(chip: str) -> int:
    return CHIPS[chip][2] if chip in CHIPS else CHIPS["mpu6050"][2]


def build_rig(clock: Clock, chips: Iterable[ChipSpec], *, fail_rate: float = 0.0, seed: int = 0) -> EmulatedBus:
    """An EmulatedBus with the given chips attached; ``bus.devices[address]`` is each chip."""
    bus = EmulatedBus(fail_rate=fail_rate, seed=seed)
    for spec in chips:
        address = spec.address if spec.address is not None else default_address(spec.chip)
        if address in bus.devices:
            raise ConfigError(f"two emulated chips at address {address:#04x}")
        bus.attach(address, make_chip(spec.chip, clock, spec.source, odr_error=spec.odr_error, seed=spec.seed))
    return bus
