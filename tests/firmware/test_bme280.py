"""BME280/BMP280 driver against the emulated chip: datasheet decodes, registers after calls, faults."""

from __future__ import annotations

import errno

import pytest

from firmware import bme280 as ds
from firmware.bme280 import BME280
from firmware.clock import ManualClock
from firmware.emulated.bme280 import DEFAULT_CALIBRATION, EmulatedBME280, encode_calibration
from firmware.emulated.bus import EmulatedBus
from firmware.errors import BusError, DeviceNotFoundError, SensorFaultError


def make(chip_id=ds.ChipId.BME280, temp=21.5, humidity=48.0, address=0x76, **kw):
    clock = ManualClock()
    chip = EmulatedBME280(clock, lambda t: temp, lambda t: humidity, chip_id=chip_id, **kw)
    bus = EmulatedBus({address: chip})
    return clock, chip, bus


def test_datasheet_temperature_example():
    cal = ds.Calibration(t1=27504, t2=26435, t3=-1000)
    assert ds.compensate_temperature(519888, cal) == (2508, 128422)
    assert ds.temperature_c(519888, cal) == 25.08


def test_calibration_layout_incl_signed_h4_h5():
    cal = ds.Calibration(t1=28000, t2=26000, t3=-900, p=tuple(range(1, 10)),
                         h1=70, h2=-350, h3=12, h4=-300, h5=-7, h6=-30)
    calib00, calib26 = encode_calibration(cal)
    assert len(calib00) == 26 and len(calib26) == 7
    assert ds.parse_calibration(calib00, calib26) == cal
    # dig_T1 is the little-endian word at 0x88/0x89 (DS Table 16)
    assert calib00[0] | calib00[1] << 8 == 28000


def _double_precision(adc_t, adc_h, cal):
    """The datasheet's floating-point formulas (DS 8.1), written independently of the integer ones."""
    var1 = (adc_t / 16384.0 - cal.t1 / 1024.0) * cal.t2
    var2 = (adc_t / 131072.0 - cal.t1 / 8192.0) ** 2 * cal.t3
    t_fine = var1 + var2
    h = t_fine - 76800.0
    h = (adc_h - (cal.h4 * 64.0 + cal.h5 / 16384.0 * h)) * (
        cal.h2 / 65536.0 * (1.0 + cal.h6 / 67108864.0 * h * (1.0 + cal.h3 / 67108864.0 * h)))
    h = h * (1.0 - cal.h1 * h / 524288.0)
    return t_fine / 5120.0, min(max(h, 0.0), 100.0)


@pytest.mark.parametrize("cal", [DEFAULT_CALIBRATION,
                                 ds.Calibration(t1=28126, t2=26531, t3=50, h1=75, h2=354, h3=0, h4=340, h5=0, h6=30)])
def test_integer_compensation_agrees_with_double_precision(cal):
    for adc_t in range(440000, 620001, 20000):  # about 0..45 C
        for adc_h in range(20000, 40001, 2500):
            temp_ref, rh_ref = _double_precision(adc_t, adc_h, cal)
            assert ds.temperature_c(adc_t, cal) == pytest.approx(temp_ref, abs=0.01)
            assert ds.humidity_pct(adc_h, adc_t, cal) == pytest.approx(rh_ref, abs=0.05)


def test_humidity_is_clamped():
    assert ds.compensate_humidity(0, 128422, DEFAULT_CALIBRATION) == 0
    assert ds.compensate_humidity(0xFFFF, 128422, DEFAULT_CALIBRATION) == 100 * 1024


def test_bme280_reads_temperature_and_humidity():
    clock, chip, bus = make(temp=21.5, humidity=48.0)
    with BME280(bus, 0x76, clock=clock) as sensor:
        assert sensor.chip == "bme280" and sensor.has_humidity
        r = sensor.read()
    assert r.temp_c == pytest.approx(21.5, abs=0.011)
    assert r.humidity_pct == pytest.approx(48.0, abs=0.05)
    assert r.sensor == "bme280"
    assert chip.measurements == 1


def test_registers_after_read_forced_mode_returns_to_sleep():
    clock, chip, bus = make()
    sensor = BME280(bus, 0x76, clock=clock)
    sensor.read()
    assert chip.regs[ds.REG_CTRL_HUM] == 0x01  # humidity oversampling x1
    # osrs_t x1, osrs_p skipped, mode back to sleep after the forced conversion
    assert chip.regs[ds.REG_CTRL_MEAS] == 0b001_000_00
    assert sensor.read().temp_c == pytest.approx(21.5, abs=0.011)
    assert chip.measurements == 2  # one conversion per read


def test_bmp280_accepted_without_humidity():
    clock, chip, bus = make(chip_id=ds.ChipId.BMP280, temp=-3.2)
    sensor = BME280(bus, 0x76, clock=clock)
    assert sensor.chip == "bmp280" and not sensor.has_humidity
    r = sensor.read()
    assert r.temp_c == pytest.approx(-3.2, abs=0.011) and r.humidity_pct is None
    assert r.sensor == "bmp280"


def test_follows_temperature_source_over_time():
    clock = ManualClock()
    chip = EmulatedBME280(clock, lambda t: 18.0 + t / 600.0)  # warming 0.1 C/min
    sensor = BME280(EmulatedBus({0x77: chip}), 0x77, clock=clock)
    first = sensor.read()
    clock.advance(3600)
    later = sensor.read()
    assert later.temp_c - first.temp_c == pytest.approx(6.0, abs=0.02)


def test_wrong_identity_is_not_a_bme280():
    clock, chip, bus = make(chip_id=0x61)  # a BME680
    with pytest.raises(DeviceNotFoundError, match="0x61"):
        BME280(bus, 0x76, clock=clock)


def test_absent_chip_names_address_and_wiring():
    with pytest.raises(DeviceNotFoundError, match=r"0x77.*SDA"):
        BME280(EmulatedBus(), 0x77, clock=ManualClock())


def test_blank_nvm_is_a_fault():
    blank = ds.Calibration(t1=0, t2=0, t3=0, p=(0,) * 9, h1=0, h2=0, h3=0, h4=0, h5=0, h6=0)
    clock, chip, bus = make(calibration=blank)
    with pytest.raises(SensorFaultError, match="blank"):
        BME280(bus, 0x76, clock=clock)


def test_bus_error_during_read_is_bus_error_naming_chip():
    clock, chip, bus = make()
    sensor = BME280(bus, 0x76, clock=clock)
    bus.fail_next(1, errno.EIO)
    with pytest.raises(BusError, match=r"bme280 at 0x76") as info:
        sensor.read()
    assert info.value.errno == errno.EIO
    assert sensor.read().temp_c == pytest.approx(21.5, abs=0.011)  # next read works


def test_chip_reset_between_reads_is_reconfigured():
    clock, chip, bus = make()
    sensor = BME280(bus, 0x76, clock=clock)
    sensor.read()
    chip.power_on_reset()  # brown-out: ctrl_hum back to 0, data back to 0x80000
    r = sensor.read()
    assert r.humidity_pct == pytest.approx(48.0, abs=0.05)
    assert chip.regs[ds.REG_CTRL_HUM] == 0x01


class StuckMeasuring(EmulatedBME280):
    stuck = False

    def read_register(self, reg):
        if self.stuck and reg == ds.REG_STATUS:
            return ds.STATUS_MEASURING
        return super().read_register(reg)


def test_conversion_that_never_finishes_is_a_fault():
    clock = ManualClock()
    chip = StuckMeasuring(clock, lambda t: 20.0)
    sensor = BME280(EmulatedBus({0x76: chip}), 0x76, clock=clock)
    chip.stuck = True
    with pytest.raises(SensorFaultError, match="still running"):
        sensor.read()


def test_data_at_reset_value_is_rejected():
    """A chip that ignores the forced-mode write leaves 0x80000 in the data registers."""

    class IgnoresCtrlMeas(EmulatedBME280):
        def write_register(self, reg, value):
            if reg != ds.REG_CTRL_MEAS:
                super().write_register(reg, value)

    clock = ManualClock()
    sensor = BME280(EmulatedBus({0x76: IgnoresCtrlMeas(clock, lambda t: 20.0)}), 0x76, clock=clock)
    with pytest.raises(SensorFaultError, match="0x80000"):
        sensor.read()


def test_measurement_time_from_datasheet_appendix():
    assert ds.max_measurement_s(1, 1, 1) == pytest.approx(0.009300)  # DS 9.1: 9.3 ms at x1/x1/x1
    assert ds.max_measurement_s(1, 0, 1) == pytest.approx(0.006425)
