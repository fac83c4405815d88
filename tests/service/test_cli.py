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
