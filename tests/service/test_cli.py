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


# ---------------------------------------------------------------- config check: the same verdict as run


def test_config_check_and_run_refuse_the_same_file_with_exit_2(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f'[mqtt]\nhost = "127.0.0.1"\nusername = "u"\npassword_file = "{tmp_path / "gone"}"\n'
                    f'[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    check = run_cli("config", "check", str(path))
    run = run_cli("run", "--simulate", "--duration", "1", "--config", str(path))
    for out in (check, run):
        assert out.returncode == 2, out.stderr
        assert "config error" in out.stderr and "mqtt.password_file: cannot read" in out.stderr
        assert "Traceback" not in out.stderr
    assert check.stdout == ""  # nothing printed as if it were the effective configuration


def test_config_check_accepts_a_good_file_quietly_with_exit_0(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    path = tmp_path / "c.toml"
    path.write_text(f'[mqtt]\nhost = "127.0.0.1"\nusername = "u"\npassword_file = "{pw}"\n')
    out = run_cli("config", "check", "--quiet", str(path))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr.strip() == f"{path}: ok"
    loud = run_cli("config", "check", str(path))
    assert loud.returncode == 0 and '"password_file"' in loud.stdout and "secret" not in loud.stdout


# ---------------------------------------------------------------- priorities for the journal


def run_as_under_journal(tmp_path, *args, journal: bool = True) -> list[str]:
    """Run the CLI with stderr on a file that JOURNAL_STREAM names, as systemd connects it to journald."""
    import os

    err = tmp_path / "stderr.txt"
    with open(err, "wb") as f:
        st = os.fstat(f.fileno())
        env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}" if journal else "1:1")
        subprocess.run([sys.executable, "-m", "service", *args], stdout=subprocess.DEVNULL, stderr=f, env=env,
                       timeout=120)
    return err.read_text().splitlines()


@pytest.mark.parametrize("case,fragment", [
    ("config error at start", "config error: "),
    ("fatal error of the command line", "error: "),
    ("a subcommand's own error line", "error: --date"),
    ("argparse usage error", "error: unrecognized arguments"),
])
def test_every_fatal_line_reaches_the_journal_at_error_priority(tmp_path, case, fragment):
    bad = tmp_path / "bad.toml"
    bad.write_text("[accelerometer]\nrate_hz = 7\n")
    good = tmp_path / "good.toml"
    good.write_text(f'[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    argv = {
        "config error at start": ["run", "--config", str(bad)],
        "fatal error of the command line": ["replay", str(tmp_path / "missing.csv")],
        "a subcommand's own error line": ["log", "--date", "yesterday-ish", "--config", str(good)],
        "argparse usage error": ["run", "--bogus"],
    }[case]
    lines = run_as_under_journal(tmp_path, *argv)
    assert lines, "nothing on stderr"
    assert all(line[:3] in ("<3>", "<4>", "<6>", "<7>") for line in lines), lines  # journald reads each prefix
    wanted = [line for line in lines if fragment in line]
    assert wanted and all(line.startswith("<3>") for line in wanted), lines


def test_information_and_warnings_keep_their_own_priority(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text('[mqtt]\nhost = "broker.example"\nusername = "u"\npassword = "p"\n')
    lines = run_as_under_journal(tmp_path, "config", "check", "--quiet", str(conf))
    assert lines[0] == f"<6>{conf}: ok"
    assert lines[1].startswith("<4>warning: the mqtt credentials would travel unencrypted")


def test_a_terminal_that_merely_inherited_journal_stream_gets_plain_lines(tmp_path):
    lines = run_as_under_journal(tmp_path, "run", "--bogus", journal=False)
    assert lines and not any(line.startswith("<") for line in lines)


def test_log_records_and_tracebacks_carry_a_prefix_on_every_line(tmp_path):
    script = ("import logging, sys\nfrom service import logsetup\nlogsetup.install_stderr_priorities()\n"
              "logsetup.setup()\nlog = logging.getLogger('t')\nlog.info('hello')\nlog.warning('careful')\n"
              "try:\n    1 / 0\nexcept ZeroDivisionError:\n    log.exception('boom')\n"
              "print('partial', end='', file=sys.stderr)\n")
    import os

    err = tmp_path / "stderr.txt"
    with open(err, "wb") as f:
        st = os.fstat(f.fileno())
        subprocess.run([sys.executable, "-c", script], stderr=f, timeout=60,
                       env=dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}"))
    lines = err.read_text().splitlines()
    assert lines[0] == "<6>t: hello" and lines[1] == "<4>t: careful" and lines[2] == "<3>t: boom"
    assert "Traceback" in lines[3] and all(line.startswith("<3>") for line in lines[2:])
    assert lines[-1] == "<3>partial"  # flushed at exit with a prefix, never lost


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
