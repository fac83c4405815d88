"""The Sampler: timestamps, gaps, faults and recovery, with real drivers on emulated chips.

Time is stepped (ManualClock) so nothing depends on the scheduler; one test
runs the real thread on a SimClock and only waits for data to arrive.
"""

from __future__ import annotations

import queue
from datetime import datetime, timezone

import numpy as np
import pytest

from firmware import mpu6050 as rm
from firmware.acquisition import Sampler
from firmware.adxl345 import ADXL345
from firmware.clock import ManualClock, SimClock
from firmware.emulated.accelchip import constant_source, gravity_source
from firmware.emulated.rig import ChipSpec, build_rig
from firmware.lis3dh import LIS3DH
from firmware.mpu6050 import MPU6050
from firmware.samples import AccelBatch, Gap, SensorStatus
from support.accelrig import RampSource, collect, run_samplers

DRIVERS = {"mpu6050": (MPU6050, 0x68), "adxl345": (ADXL345, 0x53), "lis3dh": (LIS3DH, 0x19)}


def make(chip="mpu6050", *, source=None, odr_error=0.0, fail_rate=0.0, rate_hz=50, **sampler_kwargs):
    clock = ManualClock()
    cls, address = DRIVERS[chip]
    source = source if source is not None else RampSource()
    bus = build_rig(clock, [ChipSpec(chip, address, source=source, odr_error=odr_error)], fail_rate=fail_rate, seed=1)
    items: list = []
    sampler = Sampler(cls(bus, address, rate_hz, 4, sleep=clock.sleep), items.append, clock, leg="left",
                      **sampler_kwargs)
    return clock, bus, bus.devices[address], source, sampler, items


def timestamps(items, leg=None):
    return np.concatenate([b.t_mono for b in collect(items, AccelBatch, leg)])


def coverage_s(items, rate_hz, leg=None):
    """Seconds accounted for: samples times their period plus every gap."""
    return len(timestamps(items, leg)) / rate_hz + sum(g.duration_s for g in collect(items, Gap, leg))


@pytest.mark.parametrize("chip", sorted(DRIVERS))
@pytest.mark.parametrize("odr_error", [0.0, 0.02, -0.03])
@pytest.mark.parametrize("drain_interval_s", [0.2, 1.0])
def test_timestamps_follow_the_true_sample_times(chip, odr_error, drain_interval_s):
    """Continuous, increasing, and within one sample period of when the chip converted each sample,
    even when the chip's oscillator is a few percent off (the period is measured), at a short drain
    interval and at the service's default."""
    clock, bus, chipdev, source, sampler, items = make(chip, odr_error=odr_error, drain_interval_s=drain_interval_s)
    run_samplers(clock, [sampler], 120.0)
    t = timestamps(items)
    true = source.times()
    assert not collect(items, Gap)
    assert len(t) == len(true) >= 0.95 * 120 * 50 * (1 + odr_error)
    assert np.all(np.diff(t) > 0)
    period = 1 / (50 * (1 + odr_error))
    settled = true > 5.0
    assert np.max(np.abs(t - true)[settled]) < period
    # batches join without a seam: the step across a drain boundary is a normal step
    batches = collect(items, AccelBatch)
    seams = np.array([b2.t_mono[0] - b1.t_mono[-1] for b1, b2 in zip(batches, batches[1:])])
    assert np.all(np.abs(seams - period) < 0.5 * period)


def test_the_configured_interval_is_shortened_to_fit_the_fifo():
    *_, sampler, _ = make("lis3dh", rate_hz=200, drain_interval_s=0.5)
    assert sampler.interval_s == pytest.approx(0.5 * 32 / 200)


@pytest.mark.parametrize("chip", sorted(DRIVERS))
def test_a_stalled_sampler_reports_the_overflow_as_a_gap(chip):
    clock, bus, chipdev, source, sampler, items = make(chip)
    run_samplers(clock, [sampler], 10.0, finish=False)
    clock.advance(5.0)  # the thread was starved for 5 s: the FIFO overflowed
    run_samplers(clock, [sampler], 20.0)
    gaps = collect(items, Gap)
    assert len(gaps) == 1
    t = timestamps(items)
    # Never stitched: the gap sits between two samples and the timestamps jump over it.
    before, after = t[t < gaps[0].t_start], t[t >= gaps[0].t_end]
    assert len(before) + len(after) == len(t)
    assert after[0] - before[-1] > 3.0
    assert gaps[0].duration_s == pytest.approx(chipdev.samples_lost / 50, abs=0.05)
    assert coverage_s(items, 50) == pytest.approx(t[-1] - t[0] + 0.02, abs=0.05)
    delivered = source.times()[:len(source.times()) - chipdev.fifo_level()]
    assert np.max(np.abs(t[-100:] - delivered[-100:])) < 0.02  # re-anchored on the true sample times


def test_transient_errors_are_retried_without_losing_samples():
    clock, bus, chipdev, source, sampler, items = make("mpu6050")
    run_samplers(clock, [sampler], 5.0, finish=False)
    bus.fail_next(2)
    run_samplers(clock, [sampler], 10.0)
    assert sampler.stats.errors == 2
    assert not collect(items, Gap)
    assert len(timestamps(items)) == len(source.times()) - chipdev.fifo_level()


def test_a_chip_reset_is_detected_and_reinitialised():
    clock, bus, chipdev, source, sampler, items = make("mpu6050", rate_hz=100)
    run_samplers(clock, [sampler], 10.0, events=[(5.0, chipdev.power_on_reset)], finish=False)
    assert chipdev.regs[rm.PWR_MGMT_1] == 0x01 and chipdev.regs[rm.SMPLRT_DIV] == 9
    gaps = collect(items, Gap)
    assert len(gaps) == 1 and gaps[0].reason == "sensor reset"
    assert 5.0 <= gaps[0].t_end and gaps[0].t_start <= 5.05 and gaps[0].duration_s < 2.0
    assert sampler.stats.resets_detected == 1
    assert not collect(items, SensorStatus)  # back well before fault_after_s


def test_a_chip_reset_is_noticed_at_the_second_empty_drain_of_a_long_interval():
    """At a 1 s drain the empty FIFO of a reset chip is suspected at the second empty drain and the chip is
    checked at the next: the FIFO's unread samples plus about three intervals, not five."""
    clock, bus, chipdev, source, sampler, items = make("mpu6050", drain_interval_s=1.0)
    assert sampler.interval_s == 1.0
    run_samplers(clock, [sampler], 20.0, events=[(10.5, chipdev.power_on_reset)], finish=False)
    gaps = collect(items, Gap)
    assert len(gaps) == 1 and gaps[0].reason == "sensor reset"
    assert gaps[0].t_start <= 10.55 and gaps[0].duration_s < 3.5
    assert sampler.stats.resets_detected == 1


def test_an_unplugged_sensor_enters_and_leaves_the_fault_state():
    clock, bus, chipdev, source, sampler, items = make("lis3dh")

    def replug():
        chipdev.power_on_reset()  # pulling the cable powered it down
        bus.attach(0x19, chipdev)

    run_samplers(clock, [sampler], 60.0, events=[(20.0, lambda: bus.detach(0x19)), (45.0, replug)])
    status = collect(items, SensorStatus)
    assert [s.ok for s in status] == [False, True]
    assert 29.0 <= status[0].t_mono <= 31.5 and "no data" in status[0].reason
    assert 45.0 <= status[1].t_mono <= 47.0
    gaps = collect(items, Gap)
    assert len(gaps) == 1 and gaps[0].duration_s == pytest.approx(25.0, abs=1.5)
    assert coverage_s(items, 50) == pytest.approx(60.0, abs=1.0)


def test_a_stuck_sensor_is_a_fault():
    clock, bus, chipdev, source, sampler, items = make("mpu6050", source=constant_source((0.1, 0.2, 0.97)),
                                                       stuck_after_s=30.0)
    run_samplers(clock, [sampler], 45.0)
    status = collect(items, SensorStatus)
    assert len(status) == 1 and not status[0].ok and "stuck" in status[0].reason
    assert 30.0 <= status[0].t_mono <= 32.0


def test_real_noise_is_never_stuck():
    clock, bus, chipdev, source, sampler, items = make("mpu6050", source=gravity_source(400e-6), stuck_after_s=5.0)
    run_samplers(clock, [sampler], 30.0)
    assert not collect(items, SensorStatus)


def test_a_failing_sink_does_not_stop_sampling():
    clock, bus, chipdev, source, sampler, items = make("mpu6050")
    calls = []

    def bad_sink(item):
        calls.append(item)
        raise RuntimeError("consumer bug")

    sampler.sink = bad_sink
    run_samplers(clock, [sampler], 5.0)
    assert sampler.progress >= 20 and len(calls) >= 20


def test_an_hour_with_one_percent_bus_errors_a_reset_and_a_pulled_cable():
    """Two legs on one bus, 1 % of I2C transactions failing, the left chip browning out at 30 min,
    the right cable pulled for 20 s at 40 min: no crash, every second accounted for, fault entered and left."""
    clock = ManualClock()
    bus = build_rig(clock, [ChipSpec("mpu6050", 0x68, seed=1), ChipSpec("mpu6050", 0x69, seed=2)],
                    fail_rate=0.01, seed=7)
    items: list = []
    left = Sampler(MPU6050(bus, 0x68, 50, 4, sleep=clock.sleep), items.append, clock, leg="left")
    right = Sampler(MPU6050(bus, 0x69, 50, 4, sleep=clock.sleep), items.append, clock, leg="right")
    right_chip = bus.devices[0x69]

    def replug():
        right_chip.power_on_reset()
        bus.attach(0x69, right_chip)

    events = [(1800.0, bus.devices[0x68].power_on_reset), (2400.0, lambda: bus.detach(0x69)), (2420.0, replug)]
    run_samplers(clock, [left, right], 3600.0, events=events)

    assert bus.failures > 100  # the error injection really happened
    for leg, sampler in (("left", left), ("right", right)):
        t = timestamps(items, leg)
        assert np.all(np.diff(t) > 0)
        assert coverage_s(items, 50, leg) == pytest.approx(3600.0, abs=2.0)
        for gap in collect(items, Gap, leg):  # every gap lies between samples, none overlaps one
            assert not np.any((t > gap.t_start + 1e-9) & (t < gap.t_end - 1e-9))
        assert sampler.stats.errors > 0
    assert any(g.reason == "sensor reset" for g in collect(items, Gap, "left"))
    status = collect(items, SensorStatus, "right")
    assert [s.ok for s in status] == [False, True]
    assert 2409.0 <= status[0].t_mono <= 2412.0 and 2420.0 <= status[1].t_mono <= 2423.0
    assert not collect(items, SensorStatus, "left")


def test_the_thread_delivers_batches_and_stops():
    clock = SimClock(datetime(2026, 1, 1, tzinfo=timezone.utc), speed=20.0)
    bus = build_rig(clock, [ChipSpec("mpu6050", 0x68)])
    q: queue.Queue = queue.Queue()
    with Sampler(MPU6050(bus, 0x68, 50, 4, sleep=clock.sleep), q.put, clock, leg="right") as sampler:
        got = 0
        while got < 200:
            item = q.get(timeout=30)
            if isinstance(item, AccelBatch):
                assert item.leg == "right"
                got += len(item)
    assert sampler._thread is None
    assert bus.devices[0x68].regs[rm.PWR_MGMT_1] & 0x40  # closed: the chip sleeps again
