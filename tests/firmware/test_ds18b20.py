"""DS18B20 through fake sysfs files: datasheet example, CRC NO, all-zero, 85000, missing sensor."""

from __future__ import annotations

import pytest

from firmware.clock import ManualClock
from firmware.ds18b20 import DS18B20, find_ds18b20, parse_w1_slave
from firmware.emulated.ds18b20 import EmulatedDS18B20, maxim_crc8, w1_slave_text
from firmware.errors import DeviceNotFoundError, SensorFaultError

DATASHEET = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"


def test_parse_example():
    assert parse_w1_slave(DATASHEET) == 23.125


def test_fake_writer_produces_the_kernel_format():
    assert w1_slave_text(23.125) == DATASHEET
    assert maxim_crc8(bytes.fromhex("72014b467fff0e10")) == 0x57
    assert parse_w1_slave(w1_slave_text(-10.0625)) == -10.062  # kernel truncates to whole millidegrees


@pytest.mark.parametrize("fault, message", [("crc", "CRC"), ("all_zero", "empty"), ("power_on", "85.000")])
def test_faults_rejected(fault, message):
    with pytest.raises(SensorFaultError, match=message):
        parse_w1_slave(w1_slave_text(21.0, fault))


def test_garbage_rejected():
    with pytest.raises(SensorFaultError):
        parse_w1_slave("")
    with pytest.raises(SensorFaultError):
        parse_w1_slave("zz : crc=00 YES\nzz t=abc\n")


def test_driver_reads_from_injected_directory(tmp_path):
    clock = ManualClock()
    temp = {"c": 19.5}
    fake = EmulatedDS18B20(tmp_path, clock, lambda t: temp["c"])
    (tmp_path / "w1_bus_master1").mkdir()  # the kernel also lists the bus master
    assert find_ds18b20(tmp_path) == [fake.device_id]
    sensor = DS18B20(tmp_path, clock=clock)
    r = sensor.read()
    assert (r.temp_c, r.sensor, r.humidity_pct) == (19.5, "ds18b20", None)
    temp["c"] = 20.25
    fake.refresh()
    assert sensor.read().temp_c == 20.25
    fake.fault = "power_on"
    fake.refresh()
    with pytest.raises(SensorFaultError, match="power-on"):
        sensor.read()


def test_unplugged_sensor_is_a_fault_not_a_crash(tmp_path):
    clock = ManualClock()
    fake = EmulatedDS18B20(tmp_path, clock, lambda t: 21.0)
    sensor = DS18B20(tmp_path, clock=clock)
    fake.unplug()
    with pytest.raises(SensorFaultError, match="unplugged"):
        sensor.read()


def test_no_sensor_or_no_1wire(tmp_path):
    with pytest.raises(DeviceNotFoundError, match="w1-gpio"):
        DS18B20(tmp_path / "does-not-exist")
    assert find_ds18b20(tmp_path / "does-not-exist") == []
    EmulatedDS18B20(tmp_path, ManualClock(), lambda t: 21.0, device_id="28-00000a1b2c3d")
    with pytest.raises(DeviceNotFoundError, match="28-ffffffffffff"):
        DS18B20(tmp_path, device_id="28-ffffffffffff")


def test_picks_named_sensor_among_several(tmp_path):
    clock = ManualClock()
    EmulatedDS18B20(tmp_path, clock, lambda t: 17.0, device_id="28-000000000001")
    EmulatedDS18B20(tmp_path, clock, lambda t: 23.0, device_id="28-000000000002")
    assert DS18B20(tmp_path, clock=clock).read().temp_c == 17.0
    assert DS18B20(tmp_path, "28-000000000002", clock=clock).read().temp_c == 23.0
