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
