"""``nightcramp record -o FILE``: write what the sensor delivers in the recording format.

So users can capture their own nights (or a test of the strap) and replay
them through the detector.  It runs the same acquisition as the service (the
FIFO drivers and :class:`firmware.acquisition.Sampler`), so the file holds
exactly what the detector would see: timestamps on the sensor's clock, gaps
as ``# gap: t0 t1 reason`` comments, sensor faults as comments too, and the
room temperature (when a thermometer answers) on the row after each reading.
Ctrl-C ends the recording early and keeps what was recorded.
"""

from __future__ import annotations

import argparse
import logging
import queue
import sys

from firmware import __version__
from firmware.acquisition import Sampler
from firmware.clock import Clock, SystemClock
from firmware.errors import BusError, NightcrampError
from firmware.probe import open_accelerometer
from firmware.samples import AccelBatch, Gap, SensorStatus, TempReading
from service import config as cfg
from service.recording.format import RecordingWriter

log = logging.getLogger(__name__)

QUEUE_POLL_S = 0.25


def open_i2c_bus(bus_number: int):
    """``smbus2.SMBus(n)``, or a BusError saying how to enable I2C when there is none."""
    from smbus2 import SMBus

    device = f"/dev/i2c-{bus_number}"
    try:
        return SMBus(bus_number)
    except FileNotFoundError:
        raise BusError(f"{device} does not exist: enable I2C (Raspberry Pi OS: `sudo raspi-config nonint do_i2c 0`, "
                       "or dtparam=i2c_arm=on in /boot/firmware/config.txt, then reboot), or use --simulate") from None
    except PermissionError:
        raise BusError(f"{device}: permission denied: add the user to the i2c group "
                       "(`sudo adduser $USER i2c`, then log in again)") from None
    except OSError as exc:
        raise BusError(f"{device}: cannot open: {exc.strerror or exc}") from None


def simulated_source(chip: str, seconds: float, t_origin: float, seed: int = 0):
    """The night simulator's renderer (postures, movements, the chip's noise) starting at ``t_origin``.

    None when the simulator is unavailable: the chip then feeds itself a still sensor with its noise.
    """
    try:
        from service.sim.render import night_source
    except ImportError:
        return None
    try:
        return night_source(hours=max(seconds, 60.0) / 3600.0, cramps=0, seed=seed, sensor=chip, t_origin=t_origin)
    except Exception:  # noqa: BLE001 - a simulator problem must not stop a recording of emulated hardware
        log.warning("the night simulator's source failed to build; recording a still sensor", exc_info=True)
        return None


def _simulated_rig(accel: cfg.AccelerometerConfig, clock: Clock, seconds: float):
    from firmware.emulated.rig import ChipSpec, build_rig, default_address

    leg = accel.sensors[0]
    chip = leg.chip if leg.chip != "auto" else "mpu6050"
    address = leg.address if leg.address is not None else default_address(chip)
    source = simulated_source(chip, seconds, clock.monotonic())
    return build_rig(clock, [ChipSpec(chip, address, source=source)])


def _open_thermometer(config: cfg.Config, bus, clock: Clock, sink):
    """A Thermometer thread feeding ``sink``, or None when there is no thermometer (it is optional)."""
    try:
        from firmware.thermometer import Thermometer, open_thermometer
    except ImportError:
        return None
    temp = config.temperature
    try:
        driver = open_thermometer(bus, temp.sensor, temp.address, temp.w1_devices, clock=clock)
    except (NightcrampError, OSError) as exc:
        log.warning("recording without room temperature: %s", exc)
        return None
    if driver is None:
        return None
    return Thermometer(driver, sink, clock=clock, interval_s=temp.interval_s)


def record(config: cfg.Config, output: str, seconds: float, *, simulate: bool = False,
           clock: Clock | None = None, bus=None) -> dict:
    """Record ``seconds`` of the first configured leg into ``output``; returns a summary dict.

    ``bus``: an already built bus (tests, the demo); otherwise the emulated rig
    with ``simulate``, else ``SMBus(accelerometer.i2c_bus)``.
    """
    clock = clock or SystemClock()
    accel = config.accelerometer
    leg = accel.sensors[0]
    if len(accel.sensors) > 1:
        log.warning("two legs configured: recording the first one (%s)", leg.name)
    if bus is not None:
        bus_label = "the given bus"
    elif simulate:
        bus, bus_label = _simulated_rig(accel, clock, seconds), "the emulated bus"
    else:
        bus, bus_label = open_i2c_bus(accel.i2c_bus), f"/dev/i2c-{accel.i2c_bus}"
    items: queue.Queue = queue.Queue()
    summary = {"rows": 0, "gaps": 0, "gap_s": 0.0, "faults": 0, "temps": 0, "output": output}
    try:
        driver = open_accelerometer(bus, leg.chip, leg.address, accel.rate_hz, accel.range_g,
                                    bus_label=bus_label, sleep=clock.sleep)
        sampler = Sampler(driver, items.put, clock, leg=leg.name, drain_interval_s=accel.drain_interval_s,
                          fault_after_s=accel.fault_after_s, stuck_after_s=accel.stuck_after_s)
        thermometer = _open_thermometer(config, bus, clock, items.put)
        t_origin = clock.monotonic()
        with RecordingWriter(output, start_wall=clock.wall().astimezone()) as writer:
            writer.comment(f"recorded by nightcramp {__version__}: {driver.model} at {driver.address:#04x} "
                           f"on {bus_label}, {accel.rate_hz} Hz, +-{accel.range_g} g, leg {leg.name}"
                           + (", emulated hardware" if simulate else ""))
            sampler.start()
            if thermometer is not None:
                thermometer.start()
            try:
                deadline = t_origin + seconds
                while clock.monotonic() < deadline:
                    _write_items(writer, items, t_origin, seconds, summary, timeout=QUEUE_POLL_S)
            except KeyboardInterrupt:
                log.warning("interrupted: keeping what was recorded")
            finally:
                sampler.stop()
                if thermometer is not None:
                    thermometer.stop()
                _write_items(writer, items, t_origin, seconds, summary, timeout=0)
            summary["samples_per_s"] = summary["rows"] / seconds
            summary["stats"] = sampler.stats
    finally:
        bus.close()
    return summary


def _write_items(writer: RecordingWriter, items: queue.Queue, t_origin: float, seconds: float, summary: dict,
                 timeout: float) -> None:
    """Move everything queued into the file (waiting up to ``timeout`` for the first item).

    Only what falls within ``0 < t <= seconds`` is kept: the recording is as long as asked.
    """
    block = timeout > 0
    while True:
        try:
            item = items.get(block, timeout) if block else items.get_nowait()
        except queue.Empty:
            return
        block = False
        if isinstance(item, AccelBatch):
            t = item.t_mono - t_origin
            keep = (t > 0) & (t <= seconds)  # samples converted before the start belong to no one
            writer.write(t[keep], item.accel_g[keep])
            summary["rows"] += int(keep.sum())
        elif isinstance(item, Gap):
            if item.t_start - t_origin > seconds:
                continue
            writer.comment(f"gap: {item.t_start - t_origin:.4f} {item.t_end - t_origin:.4f} {item.reason}")
            summary["gaps"] += 1
            summary["gap_s"] += item.duration_s
        elif isinstance(item, SensorStatus):
            state = "ok" if item.ok else "fault"
            writer.comment(f"sensor {item.leg} {state} at {item.t_mono - t_origin:.4f}: {item.reason}")
            summary["faults"] += 0 if item.ok else 1
        elif isinstance(item, TempReading):
            writer.add_temp(item.temp_c)
            summary["temps"] += 1


def cmd_record(args: argparse.Namespace) -> int:
    config = cfg.load(getattr(args, "config", None))
    summary = record(config, args.output, args.seconds, simulate=getattr(args, "simulate", False))
    print(f"{summary['output']}: {summary['rows']} samples ({summary['samples_per_s']:.1f}/s), "
          f"{summary['gaps']} gaps ({summary['gap_s']:.2f} s), {summary['faults']} sensor faults, "
          f"{summary['temps']} temperature readings", file=sys.stderr)
    return 0
