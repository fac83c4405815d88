"""An emulated BME280 / BMP280: identity, calibration in NVM, forced-mode conversions on a clock.

It behaves as the datasheet (BST-BME280-DS002) says, not as our driver happens
to use it: data registers hold their reset values (0x80000 / 0x8000) until a
measurement completes; a write of ctrl_meas with mode forced starts one
conversion that takes the worst-case time of DS 9.1, during which status bit 3
is set, after which the chip returns to sleep; osrs_h only takes effect at the
next ctrl_meas write (DS 5.4.3); a soft reset (0xB6 to 0xE0) clears the
control registers but not the NVM.  The temperature comes from
``temp_source(t_mono) -> temp_c`` and the humidity from
``humidity_source(t_mono) -> %RH``, sampled when the conversion ends; the ADC
values are found by inverting the datasheet compensation, so the driver's
compensation is checked against the exact integer formulas.
"""

from __future__ import annotations

import struct
import threading
from typing import Callable

from firmware import bme280 as ds
from firmware.clock import Clock
from firmware.emulated.bus import RegisterFile

# Typical trimming values: T and P from the datasheet example (DS 8.1/8.2), H from a real part.
DEFAULT_CALIBRATION = ds.Calibration(
    t1=27504, t2=26435, t3=-1000,
    p=(36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000),
    h1=75, h2=362, h3=0, h4=313, h5=50, h6=30,
)

_OSRS_FACTOR = {0: 0, 1: 1, 2: 2, 3: 4, 4: 8}  # DS Table 20/22/23; 5..7 = x16


def encode_calibration(cal: ds.Calibration) -> tuple[bytes, bytes]:
    """The NVM bytes at 0x88 (26) and 0xE1 (7) that :func:`firmware.bme280.parse_calibration` decodes."""
    calib00 = bytearray(struct.pack("<Hhh", cal.t1, cal.t2, cal.t3))
    calib00 += struct.pack("<H8h", *cal.p) if cal.p else bytes(18)
    calib00 += bytes([0, (cal.h1 or 0) & 0xFF])  # 0xA0 unused, 0xA1 dig_H1
    h4, h5 = cal.h4 or 0, cal.h5 or 0
    calib26 = struct.pack("<hB", cal.h2 or 0, cal.h3 or 0) + bytes([
        (h4 >> 4) & 0xFF, (h4 & 0x0F) | ((h5 & 0x0F) << 4), (h5 >> 4) & 0xFF, (cal.h6 or 0) & 0xFF])
    return bytes(calib00), bytes(calib26)


def _invert(f: Callable[[int], float], target: float, lo: int, hi: int) -> int:
    """The integer x in [lo, hi] whose increasing f(x) is closest to target (binary search)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if f(mid) <= target:
            lo = mid
        else:
            hi = mid
    return lo if abs(f(lo) - target) <= abs(f(hi) - target) else hi


def adc_for_temperature(temp_c: float, cal: ds.Calibration) -> int:
    """The 20-bit adc_T a chip with ``cal`` produces at ``temp_c``."""
    return _invert(lambda a: ds.temperature_c(a, cal), temp_c, 0, (1 << 20) - 1)


def adc_for_humidity(humidity_pct: float, adc_t: int, cal: ds.Calibration) -> int:
    """The 16-bit adc_H a chip with ``cal`` produces at ``humidity_pct`` (and the temperature of adc_t)."""
    t_fine = ds.compensate_temperature(adc_t, cal)[1]
    return _invert(lambda a: ds.compensate_humidity(a, t_fine, cal) / 1024.0, humidity_pct, 0, 0xFFFF)


class EmulatedBME280(RegisterFile):
    """A BME280 (``chip_id=0x60``) or BMP280 (``0x58``) on an :class:`EmulatedBus`."""

    def __init__(self, clock: Clock, temp_source: Callable[[float], float],
                 humidity_source: Callable[[float], float] | None = None,
                 chip_id: int = ds.ChipId.BME280, calibration: ds.Calibration = DEFAULT_CALIBRATION):
        super().__init__(256)
        self.clock = clock
        self.temp_source = temp_source
        self.humidity_source = humidity_source or (lambda t: 45.0)
        self.chip_id = int(chip_id)
        self.calibration = calibration
        self.measurements = 0  # completed conversions (what a test counts)
        self._lock = threading.Lock()
        self._busy_until: float | None = None
        self._pending_osrs = (0, 0, 0)
        calib00, calib26 = encode_calibration(calibration)
        self._nvm = {ds.REG_CALIB_00 + i: b for i, b in enumerate(calib00)}
        if self.chip_id == ds.ChipId.BME280:
            self._nvm.update({ds.REG_CALIB_26 + i: b for i, b in enumerate(calib26)})
        self.power_on_reset()

    # ------------------------------------------------------------ state

    def power_on_reset(self) -> None:
        """What a power cycle or a brown-out does: control registers and data back to reset values."""
        with self._lock:
            self.regs[:] = bytes(len(self.regs))
            for reg, value in self._nvm.items():
                self.regs[reg] = value
            self.regs[ds.REG_ID] = self.chip_id
            self._set_data(ds.ADC_T_SKIPPED, ds.ADC_T_SKIPPED, ds.ADC_H_SKIPPED)
            self._busy_until = None
            self._osrs_h_active = 0

    def _set_data(self, adc_p: int, adc_t: int, adc_h: int) -> None:
        r = ds.REG_DATA
        self.regs[r:r + 3] = bytes([(adc_p >> 12) & 0xFF, (adc_p >> 4) & 0xFF, (adc_p << 4) & 0xF0])
        self.regs[r + 3:r + 6] = bytes([(adc_t >> 12) & 0xFF, (adc_t >> 4) & 0xFF, (adc_t << 4) & 0xF0])
        if self.chip_id == ds.ChipId.BME280:
            self.regs[r + 6:r + 8] = bytes([(adc_h >> 8) & 0xFF, adc_h & 0xFF])

    def _complete(self) -> None:
        """Finish a conversion whose time has come: sample the sources, update data, back to sleep."""
        if self._busy_until is None or self.clock.monotonic() < self._busy_until:
            return
        osrs_t, osrs_p, osrs_h = self._pending_osrs
        t = self._busy_until
        adc_t = adc_for_temperature(self.temp_source(t), self.calibration) if osrs_t else ds.ADC_T_SKIPPED
        adc_h = ds.ADC_H_SKIPPED
        if osrs_h and osrs_t and self.chip_id == ds.ChipId.BME280:
            adc_h = adc_for_humidity(self.humidity_source(t), adc_t, self.calibration)
        # Pressure is not modelled: when enabled it reads a fixed mid-scale value.
        self._set_data(0x60000 if osrs_p else ds.ADC_T_SKIPPED, adc_t, adc_h)
        self.regs[ds.REG_CTRL_MEAS] &= ~0x03  # forced mode returns to sleep (DS 3.3.3)
        self._busy_until = None
        self.measurements += 1

    # ------------------------------------------------------------ register side effects

    def read_register(self, reg: int) -> int:
        with self._lock:
            self._complete()
            if reg == ds.REG_STATUS:
                return ds.STATUS_MEASURING if self._busy_until is not None else 0
            if reg == ds.REG_RESET:
                return 0x00  # DS 5.4.2: reads as 0x00
            if self.chip_id == ds.ChipId.BMP280 and reg in (ds.REG_CTRL_HUM, ds.REG_DATA + 6, ds.REG_DATA + 7):
                return 0x00  # not implemented on the BMP280
            return self.regs[reg]

    def write_register(self, reg: int, value: int) -> None:
        if reg == ds.REG_RESET:
            if value == ds.RESET_WORD:
                self.power_on_reset()
            return
        with self._lock:
            self._complete()
            if reg == ds.REG_CTRL_HUM:
                if self.chip_id == ds.ChipId.BME280:
                    self.regs[reg] = value & 0x07
            elif reg == ds.REG_CTRL_MEAS:
                self.regs[reg] = value
                self._osrs_h_active = self.regs[ds.REG_CTRL_HUM] & 0x07  # DS 5.4.3
                if value & 0x03 in (0b01, 0b10) and self._busy_until is None:
                    self._start(value)
            elif reg == ds.REG_CONFIG:
                self.regs[reg] = value
            # every other register (ID, calibration, status, data) is read-only

    def _start(self, ctrl_meas: int) -> None:
        osrs = tuple(_OSRS_FACTOR.get(v, 16) for v in ((ctrl_meas >> 5) & 7, (ctrl_meas >> 2) & 7,
                                                         self._osrs_h_active))
        self._pending_osrs = osrs
        self._busy_until = self.clock.monotonic() + ds.max_measurement_s(*osrs)
