"""Bosch BME280 (temperature, humidity, pressure) and BMP280 (no humidity) room thermometer.

Datasheets: BME280 BST-BME280-DS002 (sections cited as "DS x.y"); BMP280
BST-BMP280-DS001 (same register map for temperature, no humidity registers).
Boards sold as "BME280" are often BMP280s: both are accepted, the BMP280
simply reports no humidity.

One forced-mode measurement per :meth:`BME280.read`: the chip sleeps between
readings, so one reading a minute causes no measurable self-heating
(DS 3.5.1, "weather monitoring").  Pressure is skipped: nightcramp does not use
it, and skipping it shortens the measurement.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import IntEnum

from firmware.bus import I2CBus, burst_read
from firmware.clock import Clock
from firmware.errors import SensorFaultError
from firmware.samples import TempReading
from firmware.tempsensor import I2CThermometer

log = logging.getLogger(__name__)

ADDRESSES = (0x76, 0x77)  # DS 6.2: SDO to GND -> 0x76, SDO to VDDIO -> 0x77

REG_CALIB_00 = 0x88  # DS 4.2.2 Table 16: dig_T1..dig_P9 at 0x88..0x9F, dig_H1 at 0xA1
CALIB_00_LEN = 26  # 0x88..0xA1
REG_CALIB_26 = 0xE1  # DS 4.2.2 Table 16: dig_H2..dig_H6 at 0xE1..0xE7 (BME280 only)
CALIB_26_LEN = 7
REG_ID = 0xD0  # DS 5.4.1 chip identification number
REG_RESET = 0xE0  # DS 5.4.2: writing RESET_WORD performs a power-on reset
RESET_WORD = 0xB6  # DS 5.4.2
REG_CTRL_HUM = 0xF2  # DS 5.4.3 osrs_h[2:0]; only takes effect after a write to ctrl_meas
REG_STATUS = 0xF3  # DS 5.4.4
REG_CTRL_MEAS = 0xF4  # DS 5.4.5 osrs_t[7:5] osrs_p[4:2] mode[1:0]
REG_DATA = 0xF7  # DS 5.4.7-5.4.9: press 0xF7..0xF9, temp 0xFA..0xFC, hum 0xFD..0xFE
DATA_LEN_BME280 = 8  # 0xF7..0xFE
DATA_LEN_BMP280 = 6  # 0xF7..0xFC (the BMP280 has no humidity registers)

STATUS_MEASURING = 0x08  # DS 5.4.4 bit 3: a conversion is running
STATUS_IM_UPDATE = 0x01  # DS 5.4.4 bit 0: NVM data being copied to image registers

ADC_T_SKIPPED = 0x80000  # DS 5.4.8: reset value / value when temperature is skipped
ADC_H_SKIPPED = 0x8000  # DS 5.4.9: reset value / value when humidity is skipped

STARTUP_S = 0.002  # DS 1.1 Table 1: start-up time 2 ms (also after a soft reset)


class ChipId(IntEnum):
    """Contents of REG_ID (DS 5.4.1; BMP280 DS 4.3.1)."""

    BME280 = 0x60
    BMP280 = 0x58


class Mode(IntEnum):
    """ctrl_meas mode[1:0] (DS 5.4.5 Table 25)."""

    SLEEP = 0b00
    FORCED = 0b01
    NORMAL = 0b11


class Oversampling(IntEnum):
    """osrs_t / osrs_p / osrs_h field values (DS 5.4.3 Table 20, 5.4.5 Tables 22-23)."""

    SKIPPED = 0
    X1 = 1
    X2 = 2
    X4 = 3
    X8 = 4
    X16 = 5


def ctrl_meas_value(osrs_t: Oversampling, osrs_p: Oversampling, mode: Mode) -> int:
    """The ctrl_meas byte (DS 5.4.5)."""
    return (int(osrs_t) << 5) | (int(osrs_p) << 2) | int(mode)


# One reading: temperature x1, pressure skipped, humidity x1, forced mode.
CTRL_HUM_READING = int(Oversampling.X1)
CTRL_MEAS_READING = ctrl_meas_value(Oversampling.X1, Oversampling.SKIPPED, Mode.FORCED)


def max_measurement_s(osrs_t: int, osrs_p: int, osrs_h: int) -> float:
    """Worst-case forced-mode conversion time in seconds (DS 9.1, Appendix B).

    ``osrs_*`` are oversampling *factors* (0 = skipped, 1, 2, 4, 8, 16).
    """
    ms = 1.25 + 2.3 * osrs_t
    if osrs_p:
        ms += 2.3 * osrs_p + 0.575
    if osrs_h:
        ms += 2.3 * osrs_h + 0.575
    return ms / 1000.0


def _u16(data: bytes, i: int) -> int:
    return data[i] | (data[i + 1] << 8)


def _s16(data: bytes, i: int) -> int:
    v = _u16(data, i)
    return v - 0x10000 if v & 0x8000 else v


def _s8(v: int) -> int:
    return v - 0x100 if v & 0x80 else v


@dataclass(frozen=True)
class Calibration:
    """Trimming parameters from NVM (DS 4.2.2 Table 16); humidity fields None on a BMP280."""

    t1: int
    t2: int
    t3: int
    p: tuple[int, ...] = ()  # dig_P1..dig_P9, kept for completeness (pressure is not used)
    h1: int | None = None
    h2: int | None = None
    h3: int | None = None
    h4: int | None = None
    h5: int | None = None
    h6: int | None = None


def parse_calibration(calib00: bytes, calib26: bytes | None = None) -> Calibration:
    """Decode the 26 bytes at 0x88 and (BME280) the 7 bytes at 0xE1 (DS 4.2.2 Table 16).

    dig_H4 is E4[7:0] then E5[3:0]; dig_H5 is E6[7:0] then E5[7:4]; both are
    signed 12-bit values whose sign is in the E4 / E6 byte.
    """
    if len(calib00) != CALIB_00_LEN:
        raise ValueError("calibration block at 0x88 must be %d bytes" % CALIB_00_LEN)
    p = (_u16(calib00, 6),) + tuple(_s16(calib00, 8 + 2 * i) for i in range(8))
    fields = dict(t1=_u16(calib00, 0), t2=_s16(calib00, 2), t3=_s16(calib00, 4), p=p)
    if calib26 is not None:
        if len(calib26) != CALIB_26_LEN:
            raise ValueError("calibration block at 0xE1 must be %d bytes" % CALIB_26_LEN)
        e4, e5, e6 = calib26[3], calib26[4], calib26[5]
        fields.update(
            h1=calib00[25],  # 0xA1
            h2=_s16(calib26, 0),  # 0xE1/0xE2
            h3=calib26[2],  # 0xE3
            h4=(_s8(e4) * 16) | (e5 & 0x0F),
            h5=(_s8(e6) * 16) | (e5 >> 4),
            h6=_s8(calib26[6]),  # 0xE7
        )
    return Calibration(**fields)


def compensate_temperature(adc_t: int, cal: Calibration) -> tuple[int, int]:
    """Datasheet integer compensation (DS 4.2.3): returns (temperature in 0.01 C, t_fine).

    Example from the datasheet: T1=27504, T2=26435, T3=-1000, adc_T=519888 -> 2508 (25.08 C).
    Python's ``>>`` on negative ints is arithmetic, as the reference C code assumes.
    """
    var1 = (((adc_t >> 3) - (cal.t1 << 1)) * cal.t2) >> 11
    var2 = (((((adc_t >> 4) - cal.t1) * ((adc_t >> 4) - cal.t1)) >> 12) * cal.t3) >> 14
    t_fine = var1 + var2
    return (t_fine * 5 + 128) >> 8, t_fine


def compensate_humidity(adc_h: int, t_fine: int, cal: Calibration) -> int:
    """Datasheet integer humidity compensation (DS 4.2.3): relative humidity in %RH * 1024 (Q22.10).

    The result is clamped to 0..100 %RH as the reference code does.
    """
    v = t_fine - 76800
    v = (((((adc_h << 14) - (cal.h4 << 20) - (cal.h5 * v)) + 16384) >> 15)
         * (((((((v * cal.h6) >> 10) * (((v * cal.h3) >> 11) + 32768)) >> 10) + 2097152) * cal.h2 + 8192) >> 14))
    v = v - (((((v >> 15) * (v >> 15)) >> 7) * cal.h1) >> 4)
    v = min(max(v, 0), 419430400)
    return v >> 12


def temperature_c(adc_t: int, cal: Calibration) -> float:
    """adc_T -> degrees Celsius (0.01 C resolution)."""
    return compensate_temperature(adc_t, cal)[0] / 100.0


def humidity_pct(adc_h: int, adc_t: int, cal: Calibration) -> float:
    """adc_H (with the adc_T of the same measurement, for t_fine) -> %RH."""
    return compensate_humidity(adc_h, compensate_temperature(adc_t, cal)[1], cal) / 1024.0


def decode_data(data: bytes) -> tuple[int, int, int | None]:
    """The burst from 0xF7 -> (adc_P, adc_T, adc_H or None); 20-bit P and T, 16-bit H (DS 5.4.7-5.4.9)."""
    adc_p = (data[0] << 12) | (data[1] << 4) | (data[2] >> 4)
    adc_t = (data[3] << 12) | (data[4] << 4) | (data[5] >> 4)
    adc_h = (data[6] << 8) | data[7] if len(data) >= 8 else None
    return adc_p, adc_t, adc_h


class BME280(I2CThermometer):
    """A BME280 or BMP280: identity checked, reset, calibration read once, one forced reading per call."""

    ADDRESSES = ADDRESSES
    chip = "bme280"  # "bmp280" once the identity says so
    POLL_S = 0.002  # status poll interval after the worst-case conversion time
    POLLS = 10

    def __init__(self, bus: I2CBus, address: int = 0x76, clock: Clock | None = None, bus_label: str = "the I2C bus"):
        super().__init__(bus, address, clock, bus_label)
        try:
            with self._io("reading the chip id"):
                chip_id = bus.read_byte_data(self.address, REG_ID)
        except OSError as exc:
            raise self._not_found("no answer: %s" % exc) from exc
        if chip_id not in (ChipId.BME280, ChipId.BMP280):
            raise self._not_found("chip id %#04x is neither BME280 (0x60) nor BMP280 (0x58)" % chip_id)
        self.chip_id = ChipId(chip_id)
        self.has_humidity = self.chip_id is ChipId.BME280
        self.chip = "bme280" if self.has_humidity else "bmp280"
        self.identity = "chip id %#04x (%s)" % (chip_id, self.chip.upper())
        self.reset()
        with self._io("reading the calibration"):
            calib00 = burst_read(bus, self.address, REG_CALIB_00, CALIB_00_LEN)
            calib26 = burst_read(bus, self.address, REG_CALIB_26, CALIB_26_LEN) if self.has_humidity else None
        if calib00[:2] in (b"\x00\x00", b"\xff\xff"):
            raise SensorFaultError("%s: calibration NVM reads blank (dig_T1 = %#06x): the chip is damaged or not a %s"
                                   % (self.name, _u16(calib00, 0), self.chip.upper()))
        self.calibration = parse_calibration(calib00, calib26)
        self._osrs_h = 1 if self.has_humidity else 0
        self._data_len = DATA_LEN_BME280 if self.has_humidity else DATA_LEN_BMP280
        log.debug("%s ready: %s, %s", self.name, self.identity, self.calibration)

    def reset(self) -> None:
        """Soft reset (DS 5.4.2), then wait for the NVM copy (status im_update) to finish."""
        with self._io("soft reset"):
            self.bus.write_byte_data(self.address, REG_RESET, RESET_WORD)
            self.clock.sleep(STARTUP_S)
            for _ in range(self.POLLS):
                if not self.bus.read_byte_data(self.address, REG_STATUS) & STATUS_IM_UPDATE:
                    return
                self.clock.sleep(self.POLL_S)
        raise SensorFaultError("%s: NVM copy still running %.0f ms after a soft reset"
                               % (self.name, 1000 * (STARTUP_S + self.POLLS * self.POLL_S)))

    def read(self) -> TempReading:
        """Start a forced measurement, wait for it, read and compensate it.

        ctrl_hum and ctrl_meas are written on every call, so a chip that browned
        out and reset since the last reading is simply re-configured.
        """
        with self._io("forced measurement"):
            if self.has_humidity:
                self.bus.write_byte_data(self.address, REG_CTRL_HUM, CTRL_HUM_READING)
            self.bus.write_byte_data(self.address, REG_CTRL_MEAS, CTRL_MEAS_READING)
            self.clock.sleep(max_measurement_s(1, 0, self._osrs_h))
            for _ in range(self.POLLS):
                if not self.bus.read_byte_data(self.address, REG_STATUS) & STATUS_MEASURING:
                    break
                self.clock.sleep(self.POLL_S)
            else:
                raise SensorFaultError("%s: measurement still running after %.0f ms"
                                       % (self.name, 1000 * (max_measurement_s(1, 0, self._osrs_h)
                                                             + self.POLLS * self.POLL_S)))
            data = burst_read(self.bus, self.address, REG_DATA, self._data_len)
        _, adc_t, adc_h = decode_data(data)
        if adc_t == ADC_T_SKIPPED:
            raise SensorFaultError("%s: temperature register holds its reset value 0x80000 (no measurement made)"
                                   % self.name)
        temp_centi, t_fine = compensate_temperature(adc_t, self.calibration)
        humidity = None
        if self.has_humidity:
            if adc_h == ADC_H_SKIPPED:
                raise SensorFaultError("%s: humidity register holds its reset value 0x8000 (no measurement made)"
                                       % self.name)
            humidity = compensate_humidity(adc_h, t_fine, self.calibration) / 1024.0
        return self._reading(temp_centi / 100.0, humidity)
