"""The ``nightcramp`` command line.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad configuration.  Each
subcommand lives in the module that owns it and is imported only when used,
so ``nightcramp replay`` never pays for paho or matplotlib.

Under systemd every line on stderr carries a syslog priority
(:mod:`service.logsetup`): a fatal error is ``<3>`` whichever path printed it,
so ``journalctl -p warning`` shows why the service did not start.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

from firmware import __version__
from firmware.errors import ConfigError, NightcrampError, RecordingError
from service.argtypes import SIMULATE_HELP, int_between

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

# subcommand -> "module:function"; each function takes the parsed args and returns an exit code.
COMMANDS = {
    "run": "service.app.daemon:cmd_run",
    "demo": "service.sim.demo:cmd_demo",
    "simulate": "service.sim.simulate:cmd_simulate",
    "replay": "service.recording.replay:cmd_replay",
    "record": "service.recording.capture:cmd_record",
    "log": "service.night.cli:cmd_log",
    "history": "service.night.cli:cmd_history",
    "doctor": "service.app.doctor:cmd_doctor",
    "test-alert": "service.app.testalert:cmd_test_alert",
    "forget": "service.app.forget:cmd_forget",
    "config": "service.cli:cmd_config",
    "label": "service.learning.cli:cmd_label",
    "tune": "service.learning.cli:cmd_tune",
    "export": "service.learning.cli:cmd_export",
}


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _positive_up_to(limit: float, unit: str):
    """An argparse type: a positive number no larger than ``limit`` (beyond it the clocks and dates overflow)."""
    def parse(text: str) -> float:
        value = _positive_float(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"at most {limit:g}{unit}: {text!r}")
        return value
    return parse


MAX_RUN_S = 366 * 86400.0  # --duration: a year of (simulated) time
MAX_SPEED = 100_000.0  # --speed: a night in under a second
MAX_DEMO_S = 86400.0  # demo --seconds: a day
MAX_RECORD_S = 31 * 86400.0  # record --seconds: the longest recording the reader accepts (a month)
MAX_HISTORY_DAYS = 36600  # history --days: a hundred years


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


LOOKALIKES_HELP = ("add the look-alikes measured on real recordings (settling in, sensor handling, movement "
                   "arousals, waking restless, sitting up, getting up) to the simulated night (default: off)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nightcramp",
        description="Night-time leg-cramp alerts for the Raspberry Pi: a shin-worn accelerometer, "
        "MQTT events for Home Assistant, and a morning log.",
    )
    parser.add_argument("--version", action="version", version=f"nightcramp {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="debug logging; -vv also logs the libraries (default: 0, info only)")
    common.add_argument("--config", metavar="FILE", help="configuration file (default: $NIGHTCRAMP_CONFIG or /etc/nightcramp/config.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", parents=[common], help="run the service")
    p.add_argument("--simulate", action="store_true",
                   help="use emulated hardware driven by the night simulator, starting now, with a record of its "
                        "own in <state_dir>/simulated (default: off; or set device.simulated = true)")
    p.add_argument("--seed", type=int, default=None, help="simulator seed, to replay a night (default: random)")
    p.add_argument("--cramps", type=_non_negative_int, default=None, help="cramps in the simulated night (default: 2)")
    p.add_argument("--speed", type=_positive_up_to(MAX_SPEED, "x"), default=1.0, metavar="X",
                   help="run simulated time X times faster than real time (default: 1.0)")
    p.add_argument("--duration", type=_positive_up_to(MAX_RUN_S, " s"), default=None, metavar="S",
                   help="stop after S seconds of (simulated) time (default: run until stopped, or the simulated "
                        "night's end)")
    p.add_argument("--lookalikes", action="store_true", help=LOOKALIKES_HELP)

    p = sub.add_parser("demo", parents=[common], help="a simulated night end to end in about a minute")
    p.add_argument("--seed", type=int, default=7, help="simulator seed (default: 7)")
    p.add_argument("--cramps", type=_non_negative_int, default=2, help="cramps in the night (default: 2)")
    p.add_argument("--seconds", type=_positive_up_to(MAX_DEMO_S, " s"), default=60.0, metavar="S",
                   help="real seconds the simulated night plays in (default: 60.0); the morning log and chart "
                        "take about 10 s more, and each cramp alert plays its prompts in real time")
    p.add_argument("--lookalikes", action="store_true", help=LOOKALIKES_HELP)

    p = sub.add_parser("simulate", parents=[common], help="write a simulated night as a recording")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="recording to write (.csv or .csv.gz)")
    p.add_argument("--hours", type=_positive_float, default=8.0, help="length of the night in hours (default: 8.0)")
    p.add_argument("--cramps", type=_non_negative_int, default=2, help="cramps in the night (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="simulator seed: the same seed writes the same night (default: 0)")
    p.add_argument("--rate", type=_positive_float, default=50.0, metavar="HZ", help="sample rate, 20-200 Hz (default: 50.0)")
    p.add_argument("--sensor", default="mpu6050", metavar="NAME",
                   help="chip whose output format to write: mpu6050, adxl345 or lis3dh (default: mpu6050)")
    p.add_argument("--sleeper", default="normal",
                   help="sleeper type: calm, normal, restless, plm, walker (default: normal)")
    p.add_argument("--lookalikes", action="store_true", help=LOOKALIKES_HELP)

    p = sub.add_parser("replay", parents=[common], help="run the detector on a recording; JSON lines on stdout")
    p.add_argument("file", metavar="FILE", help="recording to run the detector on (.csv or .csv.gz)")

    p = sub.add_parser("record", parents=[common], help="record the sensor into the recording format")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="recording to write (.csv, or .csv.gz compressed); required")
    p.add_argument("--seconds", type=_positive_up_to(MAX_RECORD_S, " s"), default=60.0, metavar="S",
                   help="how long to record, in seconds (default: 60.0)")
    p.add_argument("--simulate", action="store_true", help="record from emulated hardware (default: off)")

    p = sub.add_parser("log", parents=[common], help="show the morning log of a night")
    p.add_argument("--date", metavar="D", help="night to show, by the date it started (YYYY-MM-DD); default: last night")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                   help="text for a terminal, json for scripts, markdown for notes (default: text)")
    p.add_argument("--record", metavar="FILE",
                   help="read this night record instead of the state directory's, e.g. one the service set "
                        "aside as night.sqlite3.corrupt-<time> (default: <state_dir>/night.sqlite3)")
    p.add_argument("--simulate", action="store_true", help=SIMULATE_HELP)

    p = sub.add_parser("history", parents=[common], help="trend over past nights")
    p.add_argument("--days", type=int_between(1, MAX_HISTORY_DAYS), default=30, metavar="N",
                   help="how many nights back to look, ending with last night (default: 30)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text: a table and a chart (PNG in the state directory); json: the numbers only, "
                        "no chart (default: text)")
    p.add_argument("--record", metavar="FILE",
                   help="read this night record instead of the state directory's, e.g. one set aside as "
                        "night.sqlite3.corrupt-<time> (default: <state_dir>/night.sqlite3)")
    p.add_argument("--simulate", action="store_true", help=SIMULATE_HELP)

    p = sub.add_parser("doctor", parents=[common], help="check the set-up and say how to fix it")
    p.add_argument("--simulate", action="store_true", help="check against emulated hardware (default: off)")

    sub.add_parser("test-alert", parents=[common], help="send a test alert through the configured broker")

    p = sub.add_parser("forget", parents=[common],
                       help="remove this device from Home Assistant and clear its retained MQTT topics")
    p.add_argument("--force", action="store_true", help="even while the service says it is online (default: off)")

    p = sub.add_parser("config", parents=[common], help="example configuration, or check one")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION")
    csub.add_parser("example", help="print a fully commented example configuration")
    c = csub.add_parser("check", help="validate a configuration file")
    c.add_argument("file", nargs="?", metavar="FILE",
                   help="configuration to check (default: --config, $NIGHTCRAMP_CONFIG or /etc/nightcramp/config.toml)")
    c.add_argument("-v", "--verbose", action="count", default=0, help="debug logging (default: 0, info only)")
    c.add_argument("-q", "--quiet", action="store_true",
                   help="print only problems, not the effective configuration (the unit's ExecReload uses it; "
                        "default: off)")

    from service.learning.cli import add_parsers

    add_parsers(sub, common)
    return parser


def cmd_config(args: argparse.Namespace) -> int:
    """``config example``, or ``config check``: the same validation as ``run`` and a reload (exit 2 when it fails)."""
    from service import config as cfg
    from service import logsetup

    if args.config_command == "example":
        sys.stdout.write(cfg.example())
        return EXIT_OK
    if args.config_command == "check":
        path = args.file or args.config
        config = cfg.load_checked(path)  # ConfigError -> "config error: ..." and exit 2 in main()
        if not args.quiet:
            json.dump(cfg.redacted(config), sys.stdout, indent=2, default=str)
            sys.stdout.write("\n")
        logsetup.say(f"{config.source}: ok")
        from service.mqtt.connection import insecure_credentials

        if insecure_credentials(config):
            logsetup.say(f"warning: the mqtt credentials would travel unencrypted to {config.mqtt.host}; "
                         "set mqtt.tls = true", logsetup.WARNING)
        unused = [k for k in ("ca_file", "cert_file", "key_file") if getattr(config.mqtt, k)]
        if config.mqtt.host and unused and not config.mqtt.tls:
            logsetup.say(f"warning: mqtt.{', mqtt.'.join(unused)} set but mqtt.tls = false: not used",
                         logsetup.WARNING)
        return EXIT_OK
    print("usage: nightcramp config {example,check} [FILE]", file=sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    from service import logsetup

    logsetup.install_stderr_priorities()  # before argparse, whose usage errors are errors too
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    logsetup.setup(args.verbose)
    module_name, func_name = COMMANDS[args.command].split(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        return int(func(args) or 0)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except RecordingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NightcrampError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except PermissionError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"nightcramp {args.command}: {where}permission denied: run with sudo or join the nightcramp group "
              "(sudo adduser $USER nightcramp, then log in again)", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `nightcramp replay x.csv | head`: not an error of ours.
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:  # a bug: one clear line, the traceback only with -v
        log.debug("unexpected error", exc_info=True)
        print(f"nightcramp {args.command}: internal error: {type(exc).__name__}: {exc} (run with -v for details)",
              file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
