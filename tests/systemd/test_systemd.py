"""systemd/nightcramp.service: it parses, it is hardened, and it matches what the CLI and install expect.

Nothing is installed on the host.  ``systemd-analyze verify`` checks that
ExecStart= is executable, and /opt/nightcramp/venv/bin/nightcramp exists only on
an installed Pi, so the verify test checks a temporary copy whose ExecStart
binary is /bin/true (arguments unchanged).  The ``nightcramp`` user need not
exist: verify does not resolve users.  The security score is measured on the
unit file as shipped.  Tests skip only where systemd-analyze is missing.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from service.cli import build_parser
from support import ROOT

UNIT = ROOT / "systemd" / "nightcramp.service"
INSTALLED_BINARY = "/opt/nightcramp/venv/bin/nightcramp"
MAX_EXPOSURE = 2.0

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed")


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value assigned (systemd keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def unit() -> dict[str, dict[str, list[str]]]:
    return parse_unit(UNIT.read_text())


def exposure(unit_file: Path) -> float:
    """The overall exposure systemd-analyze gives the unit (0 = locked down, 10 = unsafe)."""
    proc = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager", str(unit_file)],
                          capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert match, f"no exposure level in output:\n{proc.stdout}\n{proc.stderr}"
    return float(match.group(1))


@needs_systemd_analyze
def test_unit_verifies_cleanly(tmp_path):
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED_BINARY} " in text
    copy = tmp_path / "nightcramp.service"
    copy.write_text(text.replace(f"={INSTALLED_BINARY} ", "=/bin/true "))  # ExecStart= and ExecReload=
    proc = subprocess.run([SYSTEMD_ANALYZE, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    # verify exits 0 even for unknown keys or bad values ("..., ignoring"): any line about our file is a failure.
    complaints = [line for line in (proc.stdout + proc.stderr).splitlines() if "nightcramp" in line]
    assert proc.returncode == 0, proc.stderr
    assert complaints == []


@needs_systemd_analyze
def test_verify_would_catch_a_mistake(tmp_path):
    """The check above is not vacuous: a misspelt value in the same file is reported."""
    copy = tmp_path / "nightcramp.service"
    text = UNIT.read_text().replace(f"={INSTALLED_BINARY} ", "=/bin/true ")
    copy.write_text(text.replace("WatchdogSec=30", "WatchdogSec=thirty"))
    proc = subprocess.run([SYSTEMD_ANALYZE, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert "WatchdogSec" in proc.stderr or "sec value" in proc.stderr


@needs_systemd_analyze
def test_security_exposure_is_2_or_better(tmp_path):
    score = exposure(UNIT)
    assert score <= MAX_EXPOSURE, f"exposure {score} > {MAX_EXPOSURE}: hardening was weakened"
    proc = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=true", "--threshold=20", "--no-pager", str(UNIT)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    # The measurement discriminates: the same service without its hardening is rated unsafe.
    bare = tmp_path / "nightcramp.service"
    bare.write_text("[Service]\nType=notify\nExecStart=/bin/true\n")
    assert exposure(bare) > 5.0


def test_notify_and_watchdog(unit):
    service = unit["Service"]
    assert service["Type"] == ["notify"]
    assert service["NotifyAccess"] == ["main"]
    assert int(service["WatchdogSec"][0]) >= 10  # the daemon pings every WatchdogSec/2 when the sampler progressed
    assert service["Restart"] == ["on-failure"]
    assert "2" in service["RestartPreventExitStatus"][0].split()  # a config error is not retried in a loop
    # systemd ignores StartLimit* in [Service] on current versions: they must sit in [Unit].
    assert "StartLimitIntervalSec" in unit["Unit"] and "StartLimitBurst" in unit["Unit"]
    assert "StartLimitIntervalSec" not in service


def test_execstart_is_a_command_the_cli_accepts(unit):
    argv = shlex.split(unit["Service"]["ExecStart"][0])
    assert argv[0] == INSTALLED_BINARY
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run" and args.config == "/etc/nightcramp/config.toml"
    assert args.simulate is False


def test_reload_checks_the_file_before_it_signals_the_daemon(unit):
    """`systemctl reload` runs the ExecReload= lines in order and stops at the first that fails."""
    check, signal_line = unit["Service"]["ExecReload"]
    argv = shlex.split(check)
    assert argv[0] == INSTALLED_BINARY
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.config_command, args.quiet) == ("config", "check", True)
    assert args.file == build_parser().parse_args(shlex.split(unit["Service"]["ExecStart"][0])[1:]).config
    assert signal_line == "/bin/kill -HUP $MAINPID"


def test_hardware_stays_reachable(unit):
    service = unit["Service"]
    # PrivateDevices=yes would hide /dev/i2c-1 and the service would find no sensor.
    assert service.get("PrivateDevices", ["no"])[-1] in ("no", "false")
    assert service["DevicePolicy"] == ["closed"]
    assert "char-i2c rw" in service["DeviceAllow"]
    assert "char-gpiochip rw" in service["DeviceAllow"]
    assert service["SupplementaryGroups"] == ["i2c gpio"]
    assert service["User"] == ["nightcramp"]
    # lgpio writes FIFOs into its working directory; it must be one the service may write.
    assert service["WorkingDirectory"] == ["/run/nightcramp"]
    assert service["RuntimeDirectory"] == ["nightcramp"]
    assert service["StateDirectory"] == ["nightcramp"]
    assert service["ConfigurationDirectory"] == ["nightcramp"]
    families = service["RestrictAddressFamilies"][0].split()
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= set(families)  # sd_notify, and the broker


def test_ordered_after_time_sync_and_network(unit):
    after = " ".join(unit["Unit"]["After"]).split()
    assert "time-sync.target" in after and "network-online.target" in after
    assert "network-online.target" in " ".join(unit["Unit"]["Wants"])
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
