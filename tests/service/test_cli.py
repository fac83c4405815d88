"""The command line: every subcommand has --help, exit codes follow the contract."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.cli import COMMANDS, build_parser


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "service", *args], capture_output=True, text=True, timeout=120)


def test_version():
    out = run_cli("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("nightcramp ")


def test_the_version_is_written_once():
    """pyproject.toml reads the version from firmware.__version__, which --version prints."""
    import tomllib
    from pathlib import Path

    from firmware import __version__

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "firmware.__version__"}
    assert run_cli("--version").stdout.strip() == f"nightcramp {__version__}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help(command):
    out = run_cli(command, "--help")
    assert out.returncode == 0
    assert "usage: nightcramp " + command in out.stdout


def test_every_subcommand_is_implemented():
    """Each dispatch target exists: no subcommand is a placeholder."""
    import importlib

    for name, target in COMMANDS.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name


@pytest.mark.parametrize(
    "argv",
    [
        ["no-such-command"],
        ["run", "--speed", "-3"],
        ["run", "--cramps", "many"],
        ["simulate"],  # -o is required
        ["log", "--format", "pdf"],
    ],
)
def test_bad_usage_exits_2_without_traceback(argv):
    out = run_cli(*argv)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr


def test_no_command_prints_help_and_exits_2():
    out = run_cli()
    assert out.returncode == 2
    assert "COMMAND" in out.stderr


def test_bad_config_file_exits_2(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[accelerometer]\nrate_hz = 7\n")
    out = run_cli("replay", "--config", str(path), str(tmp_path / "x.csv"))
    assert out.returncode == 2
    assert "accelerometer.rate_hz" in out.stderr
    assert "Traceback" not in out.stderr


def test_parser_knows_issue_flags():
    parser = build_parser()
    args = parser.parse_args(["run", "--simulate", "--seed", "3", "--cramps", "2", "--speed", "60", "--duration", "600"])
    assert (args.simulate, args.seed, args.cramps, args.speed, args.duration) == (True, 3, 2, 60.0, 600.0)


# Every subcommand with absurd arguments: huge, negative, out-of-range dates, paths that do not exist or are
# directories, unusable configuration. Each must exit with the contract's code and a message, never a traceback.
# "{dir}" is a directory, "{cfg}" a config whose state directory holds a night, "{badpw}" one whose broker
# password file does not exist, "{badkey}" one with a wrong key.
BAD_ARGUMENTS = [
    (["history", "--days", "100000000", "--config", "{cfg}"], 2, "at most 36600"),
    (["history", "--days", "-1", "--config", "{cfg}"], 2, "must be at least 1"),
    (["history", "--days", "1e3", "--config", "{cfg}"], 2, "not an integer"),
    (["log", "--date", "9999-12-31", "--config", "{cfg}"], 2, "outside the calendar"),
    (["log", "--date", "0001-01-01", "--config", "{cfg}"], 2, "outside the calendar"),
    (["log", "--date", "2026-02-30", "--config", "{cfg}"], 2, "not a date"),
    (["log", "--date", "1999-01-01", "--config", "{cfg}"], 1, "no data recorded for the night of 1999-01-01"),
    (["log", "--config", "{dir}"], 2, "Is a directory"),
    (["log", "--config", "{badkey}"], 2, "config error"),
    (["record", "-o", "/nonexistent/r.csv", "--simulate"], 2, "the directory /nonexistent does not exist"),
    (["record", "-o", "{dir}", "--simulate"], 2, "is a directory"),
    (["record", "-o", "{dir}/r.csv", "--seconds", "1e300", "--simulate"], 2, "at most"),
    (["record", "-o", "{dir}/r.csv", "--seconds", "-1", "--simulate"], 2, "must be positive"),
    (["replay", "/nonexistent/r.csv"], 2, "No such file"),
    (["replay", "{dir}"], 2, "Is a directory"),
    (["replay", "/dev/zero"], 2, "a line longer than 4096 bytes"),
    (["simulate", "-o", "/nonexistent/x.csv"], 2, "does not exist"),
    (["simulate", "-o", "{dir}"], 2, "is a directory"),
    (["simulate", "-o", "{dir}/x.csv", "--hours", "1e300"], 2, "hours must be between"),
    (["simulate", "-o", "{dir}/x.csv", "--rate", "1e9"], 2, "sample rate"),
    (["simulate", "-o", "{dir}/x.csv", "--cramps", "100000000000"], 2, "cannot fit"),
    (["simulate", "-o", "{dir}/x.csv", "--cramps", "-1"], 2, "must not be negative"),
    (["run", "--simulate", "--speed", "1e308"], 2, "at most"),
    (["run", "--simulate", "--duration", "1e308"], 2, "at most"),
    (["run", "--simulate", "--duration", "nan"], 2, "must be positive"),
    (["run", "--simulate", "--cramps", "100000000000", "--duration", "1", "--config", "{cfg}"], 2, "cannot fit"),
    (["demo", "--seconds", "1e308"], 2, "at most"),
    (["demo", "--cramps", "10000000000", "--config", "{cfg}"], 2, "cannot fit"),
    (["doctor", "--simulate", "--config", "{badkey}"], 2, "configuration is invalid"),
    (["test-alert", "--config", "{badpw}"], 2, "mqtt.password_file"),
    (["test-alert", "--config", "{cfg}"], 2, "no MQTT broker configured"),
    (["forget", "--config", "{badpw}"], 2, "mqtt.password_file"),
    (["config", "check", "/nonexistent.toml"], 2, "no such file"),
    (["config", "check", "{dir}"], 2, "Is a directory"),
    (["config", "check", "/dev/zero"], 2, "larger than 1048576 bytes"),
    (["test-alert", "--config", "{zeropw}"], 2, "larger than 65536 bytes"),
]


@pytest.fixture
def sweep_paths(tmp_path, monkeypatch):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from support.nightbuilder import NightSpec, make

    monkeypatch.delenv("NIGHTCRAMP_CONFIG", raising=False)
    state = tmp_path / "state"
    store, *_, writer = make(state, datetime(2026, 11, 24, 22, tzinfo=ZoneInfo("Europe/Berlin")),
                             ZoneInfo("Europe/Berlin"))
    writer.run(NightSpec(minutes=570))
    store.close()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[storage]\nstate_dir = "{state}"\n[night]\ntimezone = "Europe/Berlin"\n')
    badpw = tmp_path / "pw.toml"
    badpw.write_text('[mqtt]\nhost = "127.0.0.1"\nport = 1\nusername = "u"\npassword_file = "/nonexistent/pw"\n')
    zeropw = tmp_path / "zeropw.toml"
    zeropw.write_text('[mqtt]\nhost = "127.0.0.1"\nport = 1\nusername = "u"\npassword_file = "/dev/zero"\n')
    badkey = tmp_path / "key.toml"
    badkey.write_text("[mqtt]\nhost = 5\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    return {"cfg": str(cfg), "badpw": str(badpw), "badkey": str(badkey), "dir": str(empty),
            "zeropw": str(zeropw)}


@pytest.mark.parametrize("argv, code, needle", BAD_ARGUMENTS, ids=[" ".join(a[:3]) for a, _, _ in BAD_ARGUMENTS])
def test_absurd_arguments_get_the_contract_exit_code_and_a_message(sweep_paths, capsys, argv, code, needle):
    from service.cli import main

    argv = [a.format(**sweep_paths) for a in argv]
    try:
        got = main(argv)
    except SystemExit as exc:  # argparse refuses the value itself
        got = exc.code
    captured = capsys.readouterr()
    err = captured.err + captured.out  # doctor reports on stdout
    assert got == code, err
    assert needle in err
    assert "Traceback" not in err and "internal error" not in err


def test_every_subcommand_is_swept_with_bad_arguments():
    swept = {argv[0] for argv, _, _ in BAD_ARGUMENTS}
    assert swept == set(COMMANDS), set(COMMANDS) - swept
