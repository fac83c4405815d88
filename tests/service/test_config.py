"""Configuration: defaults, the example, and every kind of mistake reported with its key path."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import time

import pytest

from firmware.errors import ConfigError
from service import config as cfg


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        cfg.parse(text, source="t.toml")
    return info.value.problems


def test_no_file_gives_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv(cfg.CONFIG_ENV, raising=False)
    monkeypatch.setattr(cfg, "DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    c = cfg.load(None)
    assert c.accelerometer.chip == "auto"
    assert c.accelerometer.rate_hz == 50
    assert c.night.start == time(22, 0) and c.night.end == time(7, 30)
    assert c.base_topic == "nightcramp/nightcramp"
    assert c.mqtt.host == ""


def test_example_is_accepted_and_equals_defaults():
    text = cfg.example()
    parsed = cfg.parse(text, source="example")
    assert dataclasses.replace(parsed, source="x") == dataclasses.replace(cfg.Config(), source="x")
    # every key of the schema is present and commented
    for section, specs in cfg.SCHEMA.items():
        assert f"[{section}]" in text
        for key, (_c, default, comment) in specs.items():
            assert comment in text
            assert (f"{key} = " in text) or (f"# {key} = " in text)


def test_full_config_parses_into_typed_values(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("hunter2\n")
    c = cfg.parse(f"""
[device]
id = "bed-2"
name = "Guest bed"
[accelerometer]
rate_hz = 100
range_g = 8
[[legs]]
name = "left"
chip = "mpu6050"
address = 0x68
[[legs]]
name = "right"
chip = "mpu6050"
address = 0x69
[night]
start = "23:15"
end = "06:45"
timezone = "Europe/Berlin"
[gpio]
button_pin = 17
[mqtt]
host = "broker.lan"
password_file = "{pw}"
base_topic = "home/bedroom/cramps"
""")
    assert c.device.id == "bed-2"
    assert [s.name for s in c.accelerometer.sensors] == ["left", "right"]
    assert [s.address for s in c.accelerometer.sensors] == [0x68, 0x69]
    assert c.night.start == time(23, 15)
    assert c.night.tzinfo().key == "Europe/Berlin"
    assert c.gpio.button_pin == 17 and c.gpio.led_pin is None
    assert c.base_topic == "home/bedroom/cramps"
    assert c.mqtt_password() == "hunter2"
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.device.id = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[mqtt]\nport = 0", "mqtt.port: must be between 1 and 65535, got 0"),
        ("[mqtt]\nport = \"1883\"", "mqtt.port: must be an integer, got a string"),
        ("[mqtt]\nhots = \"x\"", "mqtt.hots: unknown key"),
        ("[mqtts]\nhost = \"x\"", "mqtts: unknown section"),
        ("[accelerometer]\nchip = \"bmi160\"", "accelerometer.chip: must be one of"),
        ("[accelerometer]\nrate_hz = 60", "accelerometer.rate_hz: must be one of"),
        ("[accelerometer]\naddress = 0x99", "accelerometer.address: must be a 7-bit I2C address"),
        ("[night]\nstart = \"25:00\"", "night.start: must be a 24-hour time"),
        ("[night]\ntimezone = \"Mars/Olympus\"", "night.timezone: unknown time zone"),
        ("[night]\nstart = \"22:00\"\nend = \"22:00\"", "night: start and end must differ"),
        ("[gpio]\nbutton_pin = 40", "gpio.button_pin: must be a BCM GPIO number"),
        ("[gpio]\nbutton_pin = true", "gpio.button_pin: must be a BCM GPIO number"),
        ("[detection]\nsensitivity = \"max\"", "detection.sensitivity: must be one of low, normal, high"),
        ("[prompts]\nstretch = \"yes\"", "prompts.stretch: must be true or false"),
        ("[prompts]\ncold_room_c = 30.0", "prompts: cold_room_c (30) must be below hot_room_c"),
        ("[prompts]\nupdate_interval_s = 5", "prompts.update_interval_s: must be between 15"),
        ("[device]\nid = \"My Bed\"", "device.id: must be lowercase"),
        ("[mqtt]\nbase_topic = \"a/#\"", "mqtt.base_topic: must be an MQTT topic without wildcards"),
        ("[mqtt]\npassword = \"a\"\npassword_file = \"/x\"", "mqtt: give password or password_file, not both"),
        ("[mqtt]\ncert_file = \"/c.pem\"", "mqtt: cert_file and key_file go together"),
        ("mqtt = 3", "mqtt: must be a table"),
        ("[[legs]]\nchip = \"mpu6050\"", "legs[0].name: required"),
        ("[[legs]]\nname = \"left\"\naddress = 0x68\n[[legs]]\nname = \"right\"\naddress = 0x68",
         "legs: two sensors cannot share one I2C address"),
        ("[[legs]]\nname = \"left\"\n[[legs]]\nname = \"left\"", "legs: leg names must differ"),
        ("[storage]\nretention_days = 0", "storage.retention_days: must be between 1"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_each_kind_of_mistake_is_caught(text, expected):
    problems = problems_of(text)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("t.toml: ") for p in problems)


def test_all_problems_reported_at_once():
    problems = problems_of("[mqtt]\nport = 0\nhots = 1\n[night]\nstart = \"x\"\n[bogus]\na = 1\n")
    assert len(problems) == 4


def test_password_never_in_repr_or_redacted_output():
    c = cfg.parse('[mqtt]\nhost = "localhost"\npassword = "topsecret"\n')
    assert "topsecret" not in repr(c)
    assert "topsecret" not in str(cfg.redacted(c))
    assert c.mqtt_password() == "topsecret"


def test_unreadable_password_file_is_a_config_error(tmp_path):
    c = cfg.parse(f'[mqtt]\npassword_file = "{tmp_path / "missing"}"\n')
    with pytest.raises(ConfigError, match="mqtt.password_file: cannot read"):
        c.mqtt_password()


def test_env_var_names_the_file(monkeypatch, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[device]\nid = "from-env"\n')
    monkeypatch.setenv(cfg.CONFIG_ENV, str(path))
    assert cfg.load(None).device.id == "from-env"
    monkeypatch.setenv(cfg.CONFIG_ENV, str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="no such file"):
        cfg.load(None)


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "service", *args], capture_output=True, text=True, env=env, timeout=60)


def test_cli_config_example_then_check(tmp_path):
    out = run_cli("config", "example")
    assert out.returncode == 0
    path = tmp_path / "example.toml"
    path.write_text(out.stdout)
    checked = run_cli("config", "check", str(path))
    assert checked.returncode == 0, checked.stderr
    assert '"rate_hz": 50' in checked.stdout


def test_cli_config_check_reports_all_problems_and_exits_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[mqtt]\nport = 0\npassword = "pw-xyz"\n[night]\ntimezone = "Nowhere/Land"\n')
    out = run_cli("config", "check", str(path))
    assert out.returncode == 2
    assert "mqtt.port" in out.stderr and "night.timezone" in out.stderr
    assert "Traceback" not in out.stderr
    assert "pw-xyz" not in out.stderr + out.stdout


def test_cli_config_check_warns_about_cleartext_password(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[mqtt]\nhost = "broker.lan"\nusername = "u"\npassword = "pw-xyz"\n')
    out = run_cli("config", "check", str(path))
    assert out.returncode == 0
    assert "unencrypted" in out.stderr
    assert "pw-xyz" not in out.stderr + out.stdout


# ---------------------------------------------------------------- what only the machine can answer (load_checked)


def checked_problems(tmp_path, text: str) -> list[str]:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        cfg.load_checked(path)
    return info.value.problems


def test_a_missing_or_unreadable_password_file_is_a_config_error(tmp_path):
    missing = tmp_path / "nope"
    problems = checked_problems(tmp_path, f'[mqtt]\nhost = "h"\nusername = "u"\npassword_file = "{missing}"\n')
    assert len(problems) == 1 and "mqtt.password_file: cannot read" in problems[0] and str(missing) in problems[0]
    unreadable = tmp_path / "pw"
    unreadable.write_text("secret\n")
    unreadable.chmod(0)
    if not os.access(unreadable, os.R_OK):  # root reads everything
        problems = checked_problems(tmp_path, f'[mqtt]\nhost = "h"\nusername = "u"\npassword_file = "{unreadable}"\n')
        assert "mqtt.password_file" in problems[0] and "secret" not in " ".join(problems)


def test_a_password_without_a_user_name_is_refused_before_any_connection(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    problems = checked_problems(tmp_path, f'[mqtt]\nhost = "h"\npassword_file = "{pw}"\n')
    assert problems == [f"{tmp_path / 'c.toml'}: mqtt.password: a password needs mqtt.username "
                        "(MQTT sends no password alone)"]


def test_tls_files_must_exist_and_be_usable(tmp_path):
    problems = checked_problems(tmp_path, f'[mqtt]\nhost = "h"\ntls = true\nca_file = "{tmp_path / "ca.crt"}"\n'
                                          f'cert_file = "{tmp_path / "c.crt"}"\nkey_file = "{tmp_path / "c.key"}"\n')
    assert [p.split(": ", 1)[1].split(" ")[0] for p in problems] == ["mqtt.ca_file:", "mqtt.cert_file:",
                                                                     "mqtt.key_file:"]
    assert all("no such file" in p for p in problems)
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate\n")
    problems = checked_problems(tmp_path, f'[mqtt]\nhost = "h"\ntls = true\nca_file = "{garbage}"\n')
    assert len(problems) == 1 and "cannot use the TLS files" in problems[0]


def test_good_tls_files_and_password_pass(tmp_path):
    from support.brokers import make_ca_and_server_cert

    certs = make_ca_and_server_cert(tmp_path / "certs")
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    path = tmp_path / "c.toml"
    path.write_text(f'[mqtt]\nhost = "h"\ntls = true\nusername = "u"\npassword_file = "{pw}"\n'
                    f'ca_file = "{certs["ca"]}"\ncert_file = "{certs["cert"]}"\nkey_file = "{certs["key"]}"\n')
    assert cfg.load_checked(path).mqtt.tls


def test_without_a_broker_the_mqtt_files_are_not_used_and_not_checked(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f'[mqtt]\npassword_file = "{tmp_path / "nope"}"\n')
    assert cfg.load_checked(path).mqtt.host == ""


def test_one_gpio_pin_for_two_jobs_is_refused():
    problems = problems_of("[gpio]\nbutton_pin = 17\nled_pin = 17\nbuzzer_pin = 17\n")
    assert problems == ["t.toml: gpio: button_pin and led_pin and buzzer_pin are both GPIO 17; "
                        "each needs a pin of its own"]
    assert problems_of("[gpio]\nbutton_pin = 17\nled_pin = 27\nbuzzer_pin = 27\n") == [
        "t.toml: gpio: led_pin and buzzer_pin are both GPIO 27; each needs a pin of its own"]
    assert cfg.parse("[gpio]\nbutton_pin = 17\nled_pin = 27\nbuzzer_pin = 22\n").gpio.buzzer_pin == 22


def test_a_named_chip_at_an_address_it_cannot_have_is_refused(tmp_path):
    problems = checked_problems(tmp_path, '[accelerometer]\nchip = "mpu6050"\naddress = 0x53\n')
    assert problems == [f"{tmp_path / 'c.toml'}: accelerometer.address: a mpu6050 can only be at 0x68 or 0x69, "
                        "not 0x53"]
    problems = checked_problems(tmp_path, '[[legs]]\nname = "left"\nchip = "adxl345"\naddress = 0x68\n'
                                          '[[legs]]\nname = "right"\nchip = "mpu6050"\naddress = 0x69\n')
    assert len(problems) == 1 and problems[0].split(": ", 1)[1].startswith("legs[0].address: a adxl345")


def test_every_problem_is_reported_at_once(tmp_path):
    problems = checked_problems(tmp_path, f'[accelerometer]\nchip = "mpu6050"\naddress = 0x53\n'
                                          f'[mqtt]\nhost = "h"\nusername = "u"\npassword_file = "{tmp_path / "x"}"\n')
    assert len(problems) == 2
