"""The command line: every subcommand has --help, exit codes follow the contract."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.cli import COMMANDS, build_parser

# Root without the capabilities that override file modes reads another user's files as a stranger
# would; this needs no access for an unprivileged user to the checkout or its venv.
NO_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
NOBODY = 65534


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


def _subcommand_actions():
    """(command path, action) for every option and argument of every subcommand, walked from the parser."""
    import argparse

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    yield from walk(child, (*path, name))
            elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                yield path, action

    return list(walk(build_parser(), ()))


def test_every_option_says_what_it_does_and_its_default():
    import argparse

    actions = _subcommand_actions()
    assert len({path for path, _ in actions}) >= len(COMMANDS)  # the walk reached every subcommand
    for path, action in actions:
        if not path:
            continue
        where = f"nightcramp {' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
        assert action.help and len(action.help) >= 10, f"{where}: no help text"
        optional = bool(action.option_strings) and not action.required
        if not optional and not action.nargs == "?":
            continue
        assert "default" in action.help, f"{where}: help does not give the default"
        if isinstance(action, argparse._StoreTrueAction):
            assert "default: off" in action.help, where
        elif action.default not in (None, argparse.SUPPRESS):
            assert f"default: {action.default}" in action.help, f"{where}: default {action.default!r} not in help"


@pytest.mark.parametrize("command, option, default", [
    (("history",), "--days", "30"), (("history",), "--format", "text"), (("record",), "--seconds", "60.0"),
    (("simulate",), "--hours", "8.0"), (("simulate",), "--cramps", "2"), (("simulate",), "--seed", "0"),
    (("run",), "--speed", "1.0"), (("demo",), "--seconds", "60.0"),
])
def test_help_output_shows_the_defaults_newcomers_asked_about(command, option, default):
    out = run_cli(*command, "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    after = text.split(option, 2)[-1]
    assert f"(default: {default}" in after.split(" --")[0] or f"default: {default}" in after[:400]


def test_a_config_the_user_may_not_read_says_how_to_get_access(tmp_path):
    import os
    import shutil

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop the capabilities that override file modes")
    import tempfile

    home = tempfile.mkdtemp(prefix="nightcramp-perm-", dir="/tmp")
    os.chmod(home, 0o755)
    conf = os.path.join(home, "config.toml")
    with open(conf, "w") as f:
        f.write('[device]\nid = "bed1"\n')
    os.chown(conf, NOBODY, NOBODY)
    os.chmod(conf, 0o600)  # another user's file, as root:nightcramp 0640 is for someone outside the group
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        for argv in (["config", "check", conf], ["log", "--config", conf], ["history", "--config", conf],
                     ["doctor", "--config", conf]):
            out = subprocess.run([*NO_OVERRIDE, sys.executable,
                                  "-m", "service", *argv], capture_output=True, text=True, timeout=120, cwd=root,
                                 env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": root,
                                      "HOME": home})
            said = out.stderr + out.stdout  # the doctor reports it as its config line
            assert out.returncode in (1, 2), (argv, said)
            assert "permission denied" in said and "nightcramp group" in said, (argv, said)
            assert "internal error" not in said and "Traceback" not in said, (argv, said)
    finally:
        shutil.rmtree(home)


def test_a_state_directory_the_user_may_not_read_says_how_to_get_access(tmp_path):
    import os
    import shutil
    import tempfile

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop the capabilities that override file modes")
    home = tempfile.mkdtemp(prefix="nightcramp-perm-", dir="/tmp")
    os.chmod(home, 0o755)
    state = os.path.join(home, "state")
    os.mkdir(state, 0o700)  # as /var/lib/nightcramp was before it became group-readable
    open(os.path.join(state, "night.sqlite3"), "w").close()
    os.chown(os.path.join(state, "night.sqlite3"), NOBODY, NOBODY)
    os.chown(state, NOBODY, NOBODY)
    conf = os.path.join(home, "config.toml")
    with open(conf, "w") as f:
        f.write(f'[storage]\nstate_dir = "{state}"\n')
    os.chmod(conf, 0o644)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        for argv in (["log", "--config", conf], ["history", "--config", conf]):
            out = subprocess.run([*NO_OVERRIDE, sys.executable,
                                  "-m", "service", *argv], capture_output=True, text=True, timeout=120, cwd=root,
                                 env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": root,
                                      "HOME": home})
            assert out.returncode == 1, (argv, out.stderr)
            assert "permission denied: run with sudo or join the nightcramp group" in out.stderr, (argv, out.stderr)
            assert "internal error" not in out.stderr, (argv, out.stderr)
    finally:
        shutil.rmtree(home)


def test_record_on_a_terminal_shows_progress_and_in_a_pipe_stays_quiet(tmp_path):
    import os
    import pty

    argv = [sys.executable, "-m", "service", "record", "--simulate", "--seconds", "11", "-o"]
    quiet = subprocess.run([*argv, str(tmp_path / "a.csv")], capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0, quiet.stderr
    assert "recording:" not in quiet.stderr and "samples" in quiet.stderr  # the summary only

    leader, follower = pty.openpty()
    proc = subprocess.Popen([*argv, str(tmp_path / "b.csv")], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the pty closes when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(60)
    os.close(leader)
    text = b"".join(chunks).decode()
    assert proc.returncode == 0, text
    assert "recording: 10 s of 11 s" in text and " samples, " in text


def test_config_example_shows_the_readme_pins_and_where_the_record_lives():
    out = run_cli("config", "example")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert {"# button_pin = 17", "# led_pin = 27", "# buzzer_pin = 22"} <= set(lines)
    state_comment = " ".join(lines[lines.index('state_dir = ""') - 3:lines.index('state_dir = ""')])
    assert "~/.local/state/nightcramp" in state_comment and "/var/lib/nightcramp" in state_comment
    assert "simulated = false" in lines


def test_the_example_with_the_try_it_switch_on_is_valid(tmp_path):
    from service import config as cfg

    example = cfg.example()
    on = cfg.parse(example.replace("\nsimulated = false\n", "\nsimulated = true\n"))
    assert on.device.simulated and not cfg.parse(example).device.simulated
    assert on.state_dir == on.base_state_dir / "simulated"


def test_a_config_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + '[device]\nid = "bedroom"\n'.encode())
    out = run_cli("config", "check", str(path))
    assert out.returncode == 0, out.stderr
    assert '"id": "bedroom"' in out.stdout


def test_test_alert_says_offline_at_once_when_the_retained_status_says_so(broker, tmp_path, capsys):
    from service.cli import main
    from support.mqtt_helpers import Subscriber, publisher

    conf = tmp_path / "c.toml"
    conf.write_text(f'[device]\nid = "bed1"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n')
    pub = publisher(broker.host, broker.port)
    pub.publish("nightcramp/bed1/status", b"offline", qos=1, retain=True).wait_for_publish(5)
    watch = Subscriber(broker.host, broker.port, ["nightcramp/bed1/status"])
    assert watch.wait_payload("nightcramp/bed1/status", b"offline")
    commands = Subscriber(broker.host, broker.port, ["nightcramp/bed1/cmd/#", "nightcramp/bed1/probe"])
    assert main(["test-alert", "--config", str(conf)]) == 1
    err = capsys.readouterr().err
    assert "service is offline" in err and "systemctl start nightcramp" in err
    assert "no nightcramp service answered" not in err  # it did not sit out the 5 s wait
    pub.publish("nightcramp/bed1/probe", b"x", qos=1).wait_for_publish(5)
    assert commands.wait_payload("nightcramp/bed1/probe", b"x")  # anything published before it is in by now
    assert [m.topic for m in commands.messages if "/cmd" in m.topic] == []  # nothing was asked of a service that is not there
    for client in (watch, commands):
        client.close()
    pub.loop_stop()
    pub.disconnect()


def test_the_morning_log_counts_one_posture_change_in_the_singular():
    from service.night.formatting import plural

    assert plural(1, "posture change") == "1 posture change"
    assert plural(0, "posture change") == "0 posture changes"
    assert plural(3, "posture change") == "3 posture changes"


def test_the_room_reminder_gives_degrees_celsius():
    from service.pipeline import alerts

    assert "17.0 °C" in alerts.COLD_ROOM_TEXT.format(temp=17.0)
    assert "26.0 °C" in alerts.HOT_ROOM_TEXT.format(temp=26.0)


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
    (["label", "list", "--days", "-5", "--config", "{cfg}"], 2, "must be at least 1"),
    (["label", "list", "--days", "100000000", "--config", "{cfg}"], 2, "at most 36600"),
    (["label", "set", "nosuch", "cramp", "--config", "{cfg}"], 1, "no snippet 'nosuch'"),
    (["label", "set", "nosuch", "maybe", "--config", "{cfg}"], 2, "invalid choice"),
    (["tune", "/nonexistent", "--config", "{cfg}"], 2, "not a directory"),
    (["tune", "--config", "{badkey}"], 2, "config error"),
    (["export", "-o", "{dir}/x.zip", "--config", "{cfg}"], 1, "no labelled snippets"),
    (["export", "--config", "{cfg}"], 2, "required"),
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
