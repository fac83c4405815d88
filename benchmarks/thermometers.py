"""What one room-temperature reading costs: I2C transactions, time the read blocks, CPU.

Each driver reads its emulated twin (an :class:`EmulatedBus` counts the
transactions) on a :class:`ManualClock`, so "blocks" is the clock time the
driver waits for the conversion (the datasheet's worst case), identical on a
Pi; CPU is this machine's process time per reading, driver and emulated chip
together (an upper bound for the driver alone).  A night is 8 h at one
reading a minute.

    .venv/bin/python -m benchmarks.thermometers

Prints a Markdown table (pasted into docs/hardware-temperature-gpio.md).
"""

from __future__ import annotations

import tempfile
import time

from firmware.bme280 import BME280, ChipId
from firmware.clock import ManualClock
from firmware.ds18b20 import DS18B20
from firmware.emulated.bme280 import EmulatedBME280
from firmware.emulated.bus import EmulatedBus
from firmware.emulated.ds18b20 import EmulatedDS18B20
from firmware.emulated.sht3x import EmulatedSHT3x
from firmware.emulated.tmp102 import EmulatedTMP102
from firmware.sht3x import SHT3x
from firmware.tmp102 import TMP102

READS = 500
NIGHT_READS = 8 * 60


def room(t_mono: float) -> float:
    """A slowly varying bedroom: 20..21 C over ten minutes."""
    return 20.0 + (t_mono % 600) / 600.0


def i2c_setup(address, make_chip, driver_cls):
    """(bus, make_driver(clock)) for one emulated chip behind its real driver."""
    bus = EmulatedBus()

    def make_driver(clock):
        bus.attach(address, make_chip(clock))
        clock.advance(1.0)  # past any power-on conversion
        return driver_cls(bus, address, clock=clock)

    return bus, make_driver


def measure(make_driver, bus):
    """(transactions, clock seconds waited, CPU seconds) per reading, averaged over READS."""
    clock = ManualClock()
    driver = make_driver(clock)
    n0 = bus.transactions if bus else 0
    t0 = clock.monotonic()
    cpu0 = time.process_time()
    for _ in range(READS):
        driver.read()
        clock.advance(60.0)
    cpu = (time.process_time() - cpu0) / READS
    per_read = (bus.transactions - n0) / READS if bus else 0.0
    waited = (clock.monotonic() - t0 - 60.0 * READS) / READS
    return per_read, waited, cpu


def main() -> None:
    setups = {
        "BME280": i2c_setup(0x76, lambda c: EmulatedBME280(c, room), BME280),
        "BMP280": i2c_setup(0x76, lambda c: EmulatedBME280(c, room, chip_id=ChipId.BMP280), BME280),
        "SHT3x": i2c_setup(0x44, lambda c: EmulatedSHT3x(c, room), SHT3x),
        "TMP102": i2c_setup(0x48, lambda c: EmulatedTMP102(c, room), TMP102),
    }
    rows = [(name, *measure(make_driver, bus)) for name, (bus, make_driver) in setups.items()]
    with tempfile.TemporaryDirectory() as d:
        def make_ds18b20(clock):
            EmulatedDS18B20(d, clock, room)
            return DS18B20(d, clock=clock)

        rows.append(("DS18B20 (sysfs parse only)", *measure(make_ds18b20, None)))
    print("| sensor | I2C transactions / reading | per 8 h night | driver waits / reading | CPU / reading |")
    print("|---|---|---|---|---|")
    for name, per_read, waited, cpu in rows:
        tx = "%.0f" % per_read if per_read else "-"
        night = "%.0f" % (per_read * NIGHT_READS) if per_read else "-"
        print("| %s | %s | %s | %.1f ms | %.0f us |" % (name, tx, night, waited * 1000, cpu * 1e6))
    print("\nDS18B20: the kernel's read blocks ~750 ms (12-bit conversion) on a Pi; not modelled here.")
    i2c = [r for r in rows if r[1]]
    print("summary: I2C transactions per reading " + ", ".join("%s %.0f" % (name, tx) for name, tx, _w, _c in i2c)
          + "; longest wait %.1f ms; CPU per reading at most %.0f us"
          % (max(w for _n, _t, w, _c in rows) * 1000, max(c for _n, _t, _w, c in rows) * 1e6))


if __name__ == "__main__":
    main()
