"""``nightcramp doctor`` against emulated chips behind the real drivers and real mosquitto brokers.

Permission checks are judged from mode bits for a given user (``Identity``), so
they are tested with files made here and a made-up unprivileged user, even when
the tests run as root.
"""

from __future__ import annotations

from pathlib import Path


from firmware.clock import SystemClock
from firmware.emulated.rig import ChipSpec, build_rig
from firmware.probe import WIRING_HINTS
from service import config as cfg
from service.app import doctor
from service.cli import main
from service.app.doctor import FAIL, NA, OK, WARN, Identity

SERVICE = Identity("nightcramp", 54321, frozenset({54321}))


def write_config(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def lines_of(output: str, name: str) -> list[str]:
    """The result line for check ``name`` and its indented detail/fix lines."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line[6:].startswith(f"{name}:"):
            block = [line]
            for more in lines[i + 1:]:
                if not more.startswith("        "):
                    break
                block.append(more.strip())
            return block
    raise AssertionError(f"no {name!r} check in:\n{output}")


def test_simulated_rig_and_real_broker_all_ok(tmp_path, broker, state_dir, capsys):
    conf = write_config(tmp_path / "c.toml", f"""
[mqtt]
host = "{broker.host}"
port = {broker.port}
[storage]
state_dir = "{state_dir}"
""")
    rc = main(["doctor", "--simulate", "--config", conf])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert lines_of(out, "config")[0].startswith("OK")
    accel = lines_of(out, "accelerometer")
    assert accel[0].startswith("OK")
    # the emulated MPU-6050 lies still: its reading is gravity, 1 g
    assert any(d.startswith("0x68  mpu6050  MPU-6050 (identity 0x68)") and "|a|=1.00 g" in d for d in accel[1:])
    thermo = lines_of(out, "thermometer")
    assert thermo[0].startswith("OK") and "bme280" in thermo[0] and "reads 19.5 C" in thermo[0]
    assert lines_of(out, "broker")[0] == f"OK    broker: connected to {broker.host}:{broker.port} (no TLS, anonymous)"
    assert lines_of(out, "state directory")[0].startswith("OK")
    assert out.rstrip().endswith("warnings") and "0 failed" in out


def test_wrong_password_fails_the_broker_check_and_says_how_to_fix(tmp_path, secure_broker, state_dir, capsys):
    conf = write_config(tmp_path / "c.toml", f"""
[mqtt]
host = "127.0.0.1"
port = {secure_broker.port}
tls = true
ca_file = "{secure_broker.ca_file}"
username = "{secure_broker.username}"
password = "not-the-password"
[storage]
state_dir = "{state_dir}"
""")
    rc = main(["doctor", "--simulate", "--config", conf])
    out = capsys.readouterr().out
    assert rc == 1
    block = lines_of(out, "broker")
    assert block[0].startswith("FAIL") and "refused the login" in block[0]
    assert "check mqtt.username and mqtt.password" in block[0]
    assert any(line.startswith("fix:") for line in block[1:])
    assert "not-the-password" not in out  # never print the secret


def test_right_password_over_tls(tmp_path, secure_broker, state_dir, capsys):
    pwfile = tmp_path / "mqtt-password"
    pwfile.write_text(secure_broker.password + "\n")
    conf = write_config(tmp_path / "c.toml", f"""
[mqtt]
host = "127.0.0.1"
port = {secure_broker.port}
tls = true
ca_file = "{secure_broker.ca_file}"
username = "{secure_broker.username}"
password_file = "{pwfile}"
[storage]
state_dir = "{state_dir}"
""")
    rc = main(["doctor", "--simulate", "--config", conf])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert lines_of(out, "broker")[0].startswith("OK") and "TLS" in lines_of(out, "broker")[0]
    assert lines_of(out, "tls/password files")[0].startswith("OK")


def test_invalid_config_fails_with_key_path_and_other_checks_still_run(tmp_path, capsys):
    conf = write_config(tmp_path / "c.toml", "[mqtt]\nport = 0\n")
    rc = main(["doctor", "--simulate", "--config", conf])
    out = capsys.readouterr().out
    assert rc == 2  # a configuration error is bad usage (the other checks still ran)
    block = lines_of(out, "config")
    assert block[0].startswith("FAIL")
    assert any("mqtt.port" in line for line in block[1:])
    assert lines_of(out, "accelerometer")[0].startswith("OK")  # on the defaults


def test_missing_accelerometer_is_named_with_a_wiring_hint():
    config = cfg.parse('[accelerometer]\nchip = "adxl345"\n')
    bus = build_rig(SystemClock(), [ChipSpec("mpu6050")])  # the wrong board is wired
    result = doctor.check_accelerometers(config, bus)
    assert result.status == FAIL
    assert "adxl345" in result.message
    assert any(d.startswith("0x68  mpu6050") for d in result.details)  # what did answer is listed
    assert WIRING_HINTS["adxl345"] in result.fix


def test_two_legs_one_unplugged():
    config = cfg.parse("""
[[legs]]
name = "left"
chip = "mpu6050"
address = 0x68
[[legs]]
name = "right"
chip = "mpu6050"
address = 0x69
""")
    both = build_rig(SystemClock(), [ChipSpec("mpu6050", 0x68), ChipSpec("mpu6050", 0x69)])
    ok = doctor.check_accelerometers(config, both)
    assert ok.status == OK and len(ok.details) == 2
    both.detach(0x69)  # the right leg's cable comes loose
    result = doctor.check_accelerometers(config, both)
    assert result.status == FAIL
    assert "right" in result.message and "left" not in result.message


def test_thermometer_named_but_absent(tmp_path):
    config = cfg.parse('[temperature]\nsensor = "sht3x"\n')
    bus = build_rig(SystemClock(), [ChipSpec("mpu6050")])
    result = doctor.check_thermometer(config, bus, str(tmp_path))
    assert result.status == FAIL and "sht3x" in result.message
    auto = doctor.check_thermometer(cfg.parse(""), bus, str(tmp_path))
    assert auto.status == WARN  # optional when not asked for
    assert doctor.check_thermometer(cfg.parse('[temperature]\nsensor = "none"\n'), bus, str(tmp_path)).status == NA


def test_i2c_not_enabled(tmp_path):
    results = doctor.check_i2c_device(1, SERVICE, dev_dir=str(tmp_path))
    assert [r.status for r in results] == [FAIL]
    assert "raspi-config nonint do_i2c 0" in results[0].fix
    (tmp_path / "i2c-20").touch()
    results = doctor.check_i2c_device(1, SERVICE, dev_dir=str(tmp_path))
    assert "i2c-20" in results[0].message  # points at the bus that does exist


def test_i2c_permission_is_judged_for_the_service_user(tmp_path):
    node = tmp_path / "i2c-1"
    node.touch()
    node.chmod(0o660)  # root:<some group> 0660 as udev makes it; SERVICE is not in that group
    gid = node.stat().st_gid
    outsider = doctor.check_i2c_device(1, SERVICE, dev_dir=str(tmp_path))
    assert [r.status for r in outsider] == [OK, FAIL]
    assert outsider[1].fix.startswith("sudo adduser nightcramp ")
    member = Identity("nightcramp", 54321, frozenset({54321, gid}))
    assert [r.status for r in doctor.check_i2c_device(1, member, dev_dir=str(tmp_path))] == [OK, OK]


def test_unreadable_and_hidden_tls_files(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    ca.chmod(0o600)
    config = cfg.parse(f'[mqtt]\nhost = "h"\ntls = true\nca_file = "{ca}"\n')
    result = doctor.check_files(config, SERVICE)
    assert result.status == FAIL and "cannot read" in result.message
    assert "chmod 0640" in result.fix
    ca.chmod(0o644)
    assert doctor.check_files(config, SERVICE).status == OK
    missing = cfg.parse(f'[mqtt]\nhost = "h"\ntls = true\nca_file = "{tmp_path / "nope.crt"}"\n')
    assert "does not exist" in doctor.check_files(missing, SERVICE).message
    home = cfg.parse('[mqtt]\nhost = "h"\npassword_file = "/home/pi/mqtt.pw"\n')
    assert "ProtectHome" in doctor.check_files(home, SERVICE).message


def test_world_readable_password_is_flagged(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[mqtt]\nhost = "h"\npassword = "pw"\n')
    path.chmod(0o644)
    config = cfg.load(path)
    result = doctor.check_config_secrecy(config, SERVICE)
    assert result.status == WARN and "0640" in result.fix
    path.chmod(0o600)  # root-only: now the service cannot read it at all
    assert doctor.check_config_secrecy(cfg.load(path), SERVICE).status == FAIL


def test_state_dir_outside_the_units_writable_paths(tmp_path):
    config = cfg.parse(f'[storage]\nstate_dir = "{tmp_path}/state"\n')
    result = doctor.check_state_dir(config, SERVICE)
    assert result.status == WARN and "ReadWritePaths" in result.fix
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o755)
    someone = Identity("sleeper", 54321, frozenset({54321}))
    result = doctor.check_state_dir(cfg.parse(f'[storage]\nstate_dir = "{locked}"\n'), someone)
    assert result.status == FAIL


def test_gpio_pins_checked_with_mock_factory(mock_factory):
    config = cfg.parse("[gpio]\nbutton_pin = 17\nled_pin = 27\n")
    assert doctor.check_gpio(config, mock_factory).status == OK
    assert doctor.check_gpio(cfg.parse(""), mock_factory).status == NA
    clash = cfg.parse("[gpio]\nbutton_pin = 17\nled_pin = 17\n")
    result = doctor.check_gpio(clash, mock_factory)
    assert result.status == FAIL and "gpio" in result.fix


def test_gpio_device_permission_for_the_service_user(tmp_path):
    assert doctor.check_gpio_access(SERVICE, str(tmp_path)).status == FAIL  # no gpiochip at all: not a Pi
    chip = tmp_path / "gpiochip0"
    chip.touch()
    chip.chmod(0o660)
    result = doctor.check_gpio_access(SERVICE, str(tmp_path))
    assert result.status == FAIL and result.fix.startswith("sudo adduser nightcramp ")
    member = Identity("nightcramp", 54321, frozenset({54321, chip.stat().st_gid}))
    assert doctor.check_gpio_access(member, str(tmp_path)).status == OK


def test_time_sync_flag(tmp_path):
    flag = tmp_path / "synchronized"
    flag.touch()
    assert doctor.check_time_sync(flag).status == OK


def test_no_broker_configured_is_a_warning_not_a_failure(tmp_path):
    results = doctor.check_broker(cfg.parse(""))
    assert [r.status for r in results] == [WARN]
    assert "mqtt.host" in results[0].fix
