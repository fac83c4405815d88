"""Acquisition cost and losses for a simulated hour at 50 Hz, FIFO draining against per-sample polling.

For each chip, the real driver and :class:`firmware.acquisition.Sampler` run
against the emulated chip for one hour of stepped time (ManualClock), and
report:

- I2C transactions per second (every call that reached the bus; one
  ``i2c_rdwr`` is one transaction), at drain intervals of 0.2 s, 0.5 s and
  the configuration's default (shortened automatically where the FIFO is small);
- CPU seconds per hour: the whole run, and the emulated chip alone (the same
  drains done with bare register reads), whose difference is the cost of the
  driver and the sampler that a Pi would pay;
- samples lost (produced by the chip but never delivered), gaps, and the
  worst timestamp error against the true conversion time, with the chip's
  oscillator 1 % fast;
- per-sample polling of the MPU-6050 in the same run: one 6-byte read of the
  output registers every 1/50 s, with sleep overshoot drawn from what
  ``time.sleep(0.02)`` really does on this machine; samples it missed or read
  twice.
- the fault-injection hour: 1 % of transactions failing and a chip reset.

    .venv/bin/python -m benchmarks.acquisition

Prints a Markdown table (pasted into docs/hardware.md).
"""

from __future__ import annotations

import logging
import platform
import time

import numpy as np

from firmware import adxl345, lis3dh, mpu6050
from firmware.acquisition import Sampler
from firmware.adxl345 import ADXL345
from firmware.clock import ManualClock
from firmware.emulated.rig import ChipSpec, build_rig
from firmware.lis3dh import LIS3DH
from firmware.mpu6050 import MPU6050
from firmware.samples import AccelBatch, Gap
from service.config import AccelerometerConfig

HOUR_S = 3600.0
RATE_HZ = 50
ODR_ERROR = 0.01
CHIPS = {"mpu6050": (MPU6050, 0x68), "lis3dh": (LIS3DH, 0x19), "adxl345": (ADXL345, 0x53)}


class TrueTimes:
    """A still-sensor source that remembers when each sample was converted."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.t0s: list[float] = []
        self.ns: list[int] = []
        self.rate = 0.0

    def __call__(self, t0: float, n: int, rate_hz: float) -> np.ndarray:
        self.t0s.append(t0)
        self.ns.append(n)
        self.rate = rate_hz
        return np.array([0.0, 0.0, 1.0]) + self.rng.normal(0.0, 0.003, size=(n, 3))

    def times(self) -> np.ndarray:
        return np.concatenate([t0 + np.arange(n) / self.rate for t0, n in zip(self.t0s, self.ns)])


def run_hour(chip: str, drain_interval_s: float, *, fail_rate: float = 0.0, reset_at: float | None = None):
    clock = ManualClock()
    source = TrueTimes()
    cls, address = CHIPS[chip]
    bus = build_rig(clock, [ChipSpec(chip, address, source=source, odr_error=ODR_ERROR)], fail_rate=fail_rate, seed=3)
    dev = bus.devices[address]
    batches: list[AccelBatch] = []
    gaps: list[Gap] = []

    def sink(item):
        if isinstance(item, AccelBatch):
            batches.append(item)
        elif isinstance(item, Gap):
            gaps.append(item)

    sampler = Sampler(cls(bus, address, RATE_HZ, 4, sleep=clock.sleep), sink, clock, leg="leg",
                      drain_interval_s=drain_interval_s)
    cpu0 = time.process_time()
    while clock.monotonic() < HOUR_S:
        if reset_at is not None and clock.monotonic() >= reset_at:
            dev.power_on_reset()
            reset_at = None
        clock.advance(sampler.step())
    cpu = time.process_time() - cpu0
    t = np.concatenate([b.t_mono for b in batches])
    true = source.times()
    delivered = len(t)
    lost = len(true) - dev.fifo_level() - delivered
    err_ms = float("nan")
    if not gaps and lost == 0:
        settled = true[:delivered] > 10.0
        err_ms = float(np.max(np.abs(t - true[:delivered])[settled])) * 1000
    return {
        "chip": chip, "interval_s": sampler.interval_s, "tx_per_s": bus.transactions / HOUR_S, "cpu_s": cpu,
        "samples": delivered, "lost": lost, "gaps": len(gaps), "gap_s": sum(g.duration_s for g in gaps),
        "errors": sampler.stats.errors, "ts_err_ms": err_ms, "drains": sampler.stats.drains,
        "coverage_s": delivered / (RATE_HZ * (1 + ODR_ERROR)) + sum(g.duration_s for g in gaps),
    }


def emulator_only_cpu(chip: str, interval_s: float) -> float:
    """CPU seconds the emulated chip alone needs for the same hour of drains (bare register reads)."""
    clock = ManualClock()
    cls, address = CHIPS[chip]
    bus = build_rig(clock, [ChipSpec(chip, address, source=TrueTimes(), odr_error=ODR_ERROR)])
    cls(bus, address, RATE_HZ, 4, sleep=clock.sleep).start()
    dev = bus.devices[address]
    cpu0 = time.process_time()
    while clock.monotonic() < HOUR_S:
        clock.advance(interval_s)
        with dev.lock:
            dev.catch_up()
            n = dev.fifo_level()
        if chip == "mpu6050":
            dev.write(bytes([mpu6050.FIFO_R_W]))
            dev.read(n * 6)
        elif chip == "lis3dh":
            dev.write(bytes([lis3dh.OUT_X_L | lis3dh.AUTO_INCREMENT]))
            dev.read(n * 6)
        else:
            for _ in range(n):
                dev.write(bytes([adxl345.DATAX0]))
                dev.read(6)
    return time.process_time() - cpu0


def measured_sleep_overshoot_s(period_s: float = 1.0 / RATE_HZ, n: int = 100) -> np.ndarray:
    """How late ``time.sleep(period)`` really wakes on this machine (seconds, n samples)."""
    late = []
    for _ in range(n):
        t0 = time.monotonic()
        time.sleep(period_s)
        late.append(time.monotonic() - t0 - period_s)
    return np.array(late)


def polling_hour(overshoot_s: np.ndarray) -> dict:
    """MPU-6050 read one sample at a time from its output registers on a sleep-timed loop."""
    clock = ManualClock()
    bus = build_rig(clock, [ChipSpec("mpu6050", 0x68, source=TrueTimes(), odr_error=ODR_ERROR)])
    MPU6050(bus, 0x68, RATE_HZ, 4, sleep=clock.sleep).start()
    dev = bus.devices[0x68]
    rng = np.random.default_rng(1)
    period = 1.0 / RATE_HZ
    tx0 = bus.transactions
    cpu0 = time.process_time()
    last = dev.samples_produced
    missed = duplicated = reads = 0
    while clock.monotonic() < HOUR_S:
        t_read = time.process_time()
        bus.read_i2c_block_data(0x68, mpu6050.ACCEL_XOUT_H, 6)
        reads += 1
        now = dev.samples_produced
        if now == last:
            duplicated += 1
        else:
            missed += now - last - 1
        last = now
        work = time.process_time() - t_read
        clock.advance(period + work + float(rng.choice(overshoot_s)))  # sleep(period) after the read
    cpu = time.process_time() - cpu0
    return {"tx_per_s": (bus.transactions - tx0) / HOUR_S, "cpu_s": cpu, "reads": reads,
            "missed": missed, "duplicated": duplicated, "produced": dev.samples_produced}


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    print(f"one simulated hour at {RATE_HZ} Hz per chip, chip oscillator {ODR_ERROR:+.0%}\n")
    print("| chip | drain interval | I2C tx/s | CPU s/h (all) | CPU s/h (emulated chip) | "
          "CPU s/h (driver+sampler) | samples | lost | gaps | worst timestamp error |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    default_drain = []
    default_s = AccelerometerConfig().drain_interval_s
    for chip in CHIPS:
        shown = set()
        for interval in sorted({0.2, 0.5, default_s}):
            r = run_hour(chip, interval)
            emu = emulator_only_cpu(chip, r["interval_s"])
            if interval == default_s:
                default_drain.append(dict(r, driver_cpu_s=r["cpu_s"] - emu))
            if r["interval_s"] in shown:
                continue  # a small FIFO shortened this interval to one already shown
            shown.add(r["interval_s"])
            print(f"| {chip} | {r['interval_s']:.2f} s | {r['tx_per_s']:.2f} | {r['cpu_s']:.2f} | {emu:.2f} | "
                  f"{r['cpu_s'] - emu:.2f} | {r['samples']} | {r['lost']} | {r['gaps']} | {r['ts_err_ms']:.1f} ms |")
    overshoot = measured_sleep_overshoot_s()
    p = polling_hour(overshoot)
    print(f"\nper-sample polling, MPU-6050 output registers, sleep(1/{RATE_HZ}) with this machine's overshoot "
          f"(median {np.median(overshoot) * 1e3:.2f} ms, max {overshoot.max() * 1e3:.2f} ms):")
    print("| I2C tx/s | CPU s/h | samples produced | missed | read twice |")
    print("|---|---|---|---|---|")
    print(f"| {p['tx_per_s']:.2f} | {p['cpu_s']:.2f} | {p['produced']} | {p['missed']} | {p['duplicated']} |")
    print(f"\nfault injection: 1 % of I2C transactions fail, the chip resets at 30 min (drain {default_s:g} s):")
    print("| chip | I2C errors | gaps | gap s | samples+gaps cover (s of 3600) |")
    print("|---|---|---|---|---|")
    faulty = []
    for chip in CHIPS:
        r = run_hour(chip, default_s, fail_rate=0.01, reset_at=1800.0)
        faulty.append(r)
        print(f"| {chip} | {r['errors']} | {r['gaps']} | {r['gap_s']:.2f} | {r['coverage_s']:.1f} |")
    print(f"\nsummary: FIFO drained every {default_s:g} s (the default): {min(r['tx_per_s'] for r in default_drain):.1f}-"
          f"{max(r['tx_per_s'] for r in default_drain):.1f} I2C tx/s, driver+sampler up to "
          f"{max(r['driver_cpu_s'] for r in default_drain):.2f} CPU s/h, "
          f"{sum(r['lost'] for r in default_drain)} samples lost; polling {p['tx_per_s']:.0f} tx/s, "
          f"{p['missed']} missed, {p['duplicated']} read twice; with faults, samples+gaps cover at least "
          f"{min(r['coverage_s'] for r in faulty):.1f} s of 3600")


if __name__ == "__main__":
    main()
