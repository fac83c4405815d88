"""scripts/install and scripts/uninstall, run for real but never against the host.

Two safe modes make this possible (documented in scripts/install-common.sh):
``NIGHTCRAMP_INSTALL_DRYRUN=1`` changes nothing and prints the plan;
``DESTDIR=dir`` stages every file under ``dir`` and only prints the host-wide
steps (user, packages, systemctl).  Every test sets DESTDIR to a temporary
directory, so even a broken dry run could not reach /opt or /etc.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from support import ROOT

INSTALL = ROOT / "scripts" / "install"
UNINSTALL = ROOT / "scripts" / "uninstall"
HOST_PATHS = [Path("/opt/nightcramp"), Path("/etc/nightcramp"), Path("/etc/systemd/system/nightcramp.service"),
              Path("/usr/local/bin/nightcramp")]


def run(script: Path, destdir: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items()
            if k not in ("PREFIX", "CONFDIR", "PURGE", "NIGHTCRAMP_INSTALL_DRYRUN", "SIMULATED", "DEVDIR", "SUDO_USER")}
    full.update(env, DESTDIR=str(destdir))
    return subprocess.run(["sh", str(script)], env=full, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)


def plan(proc: subprocess.CompletedProcess) -> list[str]:
    return [line[2:] for line in proc.stdout.splitlines() if line.startswith("+ ")]


@pytest.fixture
def host_untouched():
    before = {p: p.exists() for p in HOST_PATHS}
    yield
    assert {p: p.exists() for p in HOST_PATHS} == before, "the install test changed the host"


def with_i2c(tmp_path: Path) -> str:
    """A device directory holding an I2C bus node, as on a Pi with I2C enabled."""
    dev = tmp_path.parent / f"{tmp_path.name}-dev"
    dev.mkdir(exist_ok=True)
    (dev / "i2c-1").touch()
    return str(dev)


def without_i2c(tmp_path: Path) -> str:
    dev = tmp_path.parent / f"{tmp_path.name}-nodev"
    dev.mkdir(exist_ok=True)
    return str(dev)


def test_dry_run_prints_the_whole_plan_and_changes_nothing(tmp_path, host_untouched):
    proc = run(INSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1", DEVDIR=with_i2c(tmp_path))
    assert proc.returncode == 0, proc.stderr
    steps = plan(proc)
    text = "\n".join(steps)
    venv = f"{tmp_path}/opt/nightcramp/venv"
    if subprocess.run(["getent", "passwd", "nightcramp"], capture_output=True).returncode != 0:
        assert any(s.startswith("adduser --system --group") and s.endswith(" nightcramp") for s in steps)
    assert f"-m venv --system-site-packages {venv}" in text
    assert f"{venv}/bin/python -m pip install" in text and str(ROOT) in text
    assert f"config example > {tmp_path}/etc/nightcramp/config.toml.new" in text
    assert f"chmod 0640 {tmp_path}/etc/nightcramp/config.toml.new" in text
    assert f"chown root:nightcramp {tmp_path}/etc/nightcramp/config.toml.new" in text
    assert f"{tmp_path}/etc/systemd/system/nightcramp.service" in text
    # the service is enabled and (re)started last
    assert steps[-3:] == ["systemctl daemon-reload", "systemctl enable nightcramp.service",
                          "systemctl restart nightcramp.service"]
    assert list(tmp_path.iterdir()) == []
    assert "nothing was changed" in proc.stderr


def test_dry_run_never_overwrites_an_existing_config(tmp_path, host_untouched):
    conf = tmp_path / "etc" / "nightcramp" / "config.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text('[device]\nid = "bedroom"\n')
    proc = run(INSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1")
    assert proc.returncode == 0, proc.stderr
    assert "keeping the existing /etc/nightcramp/config.toml" in proc.stderr
    assert not any("config example" in s or "config.toml" in s.split()[-1] for s in plan(proc))
    assert conf.read_text() == '[device]\nid = "bedroom"\n'


def test_uninstall_dry_run_keeps_config_unless_purge(tmp_path, host_untouched):
    for d in ("etc/nightcramp", "opt/nightcramp/venv/bin", "etc/systemd/system"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "etc/nightcramp/config.toml").write_text("")
    (tmp_path / "etc/systemd/system/nightcramp.service").write_text("")
    keep = plan(run(UNINSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1"))
    assert "systemctl disable --now nightcramp.service" in keep
    assert f"rm -f {tmp_path}/etc/systemd/system/nightcramp.service" in keep
    assert f"rm -rf {tmp_path}/opt/nightcramp/venv" in keep
    assert not any("/etc/nightcramp" in s for s in keep)
    purge = plan(run(UNINSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1", PURGE="1"))
    assert f"rm -rf {tmp_path}/etc/nightcramp" in purge
    assert (tmp_path / "etc/nightcramp/config.toml").exists()


def _staged_with_a_broker(destdir: Path, broker, device_id: str = "bed1") -> Path:
    """An installation staged under ``destdir`` whose ``nightcramp`` runs this checkout, configured for ``broker``."""
    import sys

    bin_dir = destdir / "opt/nightcramp/venv/bin"
    bin_dir.mkdir(parents=True)
    wrapper = bin_dir / "nightcramp"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m service "$@"\n')
    wrapper.chmod(0o755)
    conf = destdir / "etc/nightcramp/config.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text(f'[device]\nid = "{device_id}"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
                    f'[storage]\nstate_dir = "{destdir / "state"}"\n')
    return conf


def test_uninstall_takes_the_device_out_of_home_assistant(tmp_path, broker, host_untouched):
    from service import config as cfg
    from service.mqtt.client import MQTTBridge
    from service.mqtt.outbox import Outbox
    from support.mqtt_helpers import WAIT_S, EventSender, Subscriber

    conf = _staged_with_a_broker(tmp_path, broker)
    config = cfg.load(str(conf))
    outbox = Outbox(tmp_path / "state", 100)
    bridge = MQTTBridge(config, outbox, lambda c: None)
    EventSender(bridge, config)  # announces the device, as the service does
    bridge.start()
    assert bridge.wait_connected(WAIT_S)
    probe = Subscriber(broker.host, broker.port, ["homeassistant/#"])
    assert probe.wait_for(lambda s: any(m.payload for m in s.messages))  # announced (live or retained)
    probe.close()
    bridge.stop()  # the uninstall stops the service first
    outbox.close()
    assert plan(run(UNINSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1")).count(
        f"{tmp_path}/opt/nightcramp/venv/bin/nightcramp forget --config {conf}") == 1
    gone = run(UNINSTALL, tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert "removed" in gone.stdout + gone.stderr
    assert not (tmp_path / "opt/nightcramp/venv").exists()
    fresh = Subscriber(broker.host, broker.port, ["homeassistant/#", "nightcramp/bed1/#"])
    time.sleep(1.0)  # retained messages come right after the SUBACK: give them time to arrive
    assert [m.topic for m in fresh.messages if m.payload] == [], gone.stderr
    fresh.close()


def test_uninstall_goes_on_when_the_broker_is_unreachable(tmp_path, broker, host_untouched):
    _staged_with_a_broker(tmp_path, broker)
    broker.stop()
    gone = run(UNINSTALL, tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert "nothing listens on" in gone.stderr and "could not take the device out of Home Assistant" in gone.stderr
    assert "Traceback" not in gone.stderr
    assert not (tmp_path / "opt/nightcramp/venv").exists()


@pytest.mark.parametrize("prefix, message", [
    ("/", "not a safe place"),
    ("opt/nightcramp", "absolute path"),
    ("/home/pi/nightcramp", "ProtectHome"),
])
def test_refuses_unsafe_prefix(tmp_path, prefix, message, host_untouched):
    proc = run(INSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1", PREFIX=prefix)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert plan(proc) == []


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0, reason="needs root and setpriv to drop to nobody")
def test_without_root_it_says_how_to_run_it():
    # The checkout (and pytest's tmp_path) may sit in a 0700 directory nobody cannot enter:
    # run copies of the scripts from a directory of their own that everyone can read.
    scripts = Path(tempfile.mkdtemp(prefix="nightcramp-install-test-", dir="/tmp"))
    try:
        scripts.chmod(0o755)
        for name in ("install", "install-common.sh"):
            shutil.copy(INSTALL.parent / name, scripts / name)
            (scripts / name).chmod(0o755)
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh",
                               str(scripts / "install")],
                              capture_output=True, text=True, timeout=60, cwd="/", stdin=subprocess.DEVNULL,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    finally:
        shutil.rmtree(scripts)
    assert proc.returncode == 1
    assert "run as root: sudo make install" in proc.stderr


@pytest.mark.slow
def test_staged_install_update_and_uninstall(tmp_path, host_untouched):
    """A full install into DESTDIR (real venv, real pip), then an update, then uninstall and purge."""
    env = {"PREFIX": "/srv/nightcramp", "CONFDIR": "/etc/nc", "DEVDIR": with_i2c(tmp_path)}
    proc = run(INSTALL, tmp_path, **env)
    assert proc.returncode == 0, proc.stderr
    venv_bin = tmp_path / "srv/nightcramp/venv/bin"
    version = subprocess.run([str(venv_bin / "nightcramp"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("nightcramp ")

    conf = tmp_path / "etc/nc/config.toml"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640  # it may hold the broker password
    assert stat.S_IMODE(conf.parent.stat().st_mode) == 0o750
    example = subprocess.run([str(venv_bin / "nightcramp"), "config", "example"], capture_output=True, text=True)
    assert conf.read_text() == example.stdout
    check = subprocess.run([str(venv_bin / "nightcramp"), "config", "check", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr

    unit = (tmp_path / "etc/systemd/system/nightcramp.service").read_text()
    assert "ExecStart=/srv/nightcramp/venv/bin/nightcramp run --config /etc/nc/config.toml\n" in unit
    assert "/opt/nightcramp" not in unit
    assert os.readlink(tmp_path / "usr/local/bin/nightcramp") == "/srv/nightcramp/venv/bin/nightcramp"
    assert f"chown root:nightcramp {conf}.new" in plan(proc)  # ownership is a host step when staging

    # Again, as an update does: the user's edits survive.
    conf.write_text('[device]\nid = "bedroom"\n')
    again = run(INSTALL, tmp_path, **env)
    assert again.returncode == 0, again.stderr
    assert conf.read_text() == '[device]\nid = "bedroom"\n'
    assert "keeping the existing /etc/nc/config.toml" in again.stderr
    assert "systemctl restart nightcramp.service" in plan(again)

    gone = run(UNINSTALL, tmp_path, **env)
    assert gone.returncode == 0, gone.stderr
    assert not (tmp_path / "srv/nightcramp").exists()
    assert not (tmp_path / "etc/systemd/system/nightcramp.service").exists()
    assert not (tmp_path / "usr/local/bin/nightcramp").is_symlink()
    assert conf.exists()
    assert "systemctl disable --now nightcramp.service" in plan(gone)
    assert run(UNINSTALL, tmp_path, **env).returncode == 0  # idempotent

    purged = run(UNINSTALL, tmp_path, PURGE="1", **env)
    assert purged.returncode == 0, purged.stderr
    assert not conf.parent.exists()


def test_without_an_i2c_bus_it_starts_reports_the_fault_and_explains_the_try_it_mode(tmp_path, host_untouched):
    """No bus: the service starts anyway (as it would at the next boot), reports SENSOR FAULT and keeps
    probing; the installer says so, and how to try it on the emulated sensor meanwhile."""
    proc = run(INSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1", DEVDIR=without_i2c(tmp_path))
    assert proc.returncode == 0, proc.stderr
    steps = plan(proc)
    assert steps[-3:] == ["systemctl daemon-reload", "systemctl enable nightcramp.service",
                          "systemctl restart nightcramp.service"]
    said = " ".join(proc.stderr.split())
    assert "installed and started, but there is no I2C bus here" in said
    assert "SENSOR FAULT" in said and "keeps looking" in said and "reboot" in said
    assert "simulated = true" in said and "SIMULATED=1" in said
    assert said.index("no I2C bus") < said.index("dry run complete")
    with_bus = run(INSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1", DEVDIR=with_i2c(tmp_path))
    assert with_bus.returncode == 0 and "no I2C bus" not in with_bus.stderr  # only said when it is true
    assert plan(with_bus)[-1] == "systemctl restart nightcramp.service"


def test_simulated_install_writes_the_try_it_config_and_starts_without_a_sensor(tmp_path, host_untouched):
    proc = run(INSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1", DEVDIR=without_i2c(tmp_path), SIMULATED="1")
    assert proc.returncode == 0, proc.stderr
    steps = plan(proc)
    assert f"sed -i 's/^simulated = false$/simulated = true/' {tmp_path}/etc/nightcramp/config.toml.new" in steps
    assert steps[-1] == "systemctl restart nightcramp.service"
    assert "try-it mode" in proc.stderr


def test_an_existing_simulated_config_is_started_without_a_sensor(tmp_path, host_untouched):
    conf = tmp_path / "etc" / "nightcramp" / "config.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text('[device]\nid = "bedroom"\nsimulated = true\n')
    proc = run(INSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1", DEVDIR=without_i2c(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert plan(proc)[-1] == "systemctl restart nightcramp.service"


def test_the_closing_hint_checks_the_service_state_directory(tmp_path, host_untouched):
    proc = run(INSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1", DEVDIR=with_i2c(tmp_path))
    text = (INSTALL.read_text())
    # `sudo -u nightcramp nightcramp doctor` would look in ~nightcramp/.local/state
    assert "sudo -u $SERVICE_USER nightcramp doctor" not in text and "sudo nightcramp doctor" in text
    assert proc.returncode == 0, proc.stderr


def test_it_says_how_to_read_without_sudo(tmp_path, host_untouched):
    proc = run(INSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1", DEVDIR=with_i2c(tmp_path), SUDO_USER="pi")
    assert "sudo adduser pi nightcramp" in proc.stderr


def test_purge_removes_the_drop_ins_and_the_groups_the_install_created(tmp_path, host_untouched):
    for d in ("etc/nightcramp", "etc/systemd/system/nightcramp.service.d"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "etc/systemd/system/nightcramp.service.d/override.conf").write_text("[Service]\n")
    (tmp_path / "etc/nightcramp/created-groups").write_text("gpio\n")
    keep = plan(run(UNINSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1"))
    assert not any("nightcramp.service.d" in s or s.startswith("delgroup") for s in keep)
    purge = plan(run(UNINSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1", PURGE="1"))
    assert f"rm -rf {tmp_path}/etc/systemd/system/nightcramp.service.d" in purge
    assert "delgroup --system nightcramp" in purge and "delgroup --system gpio" in purge
    assert "delgroup --system i2c" not in purge  # it was there before the install: not ours


def test_install_remembers_the_groups_it_creates(tmp_path, host_untouched):
    if all(subprocess.run(["getent", "group", g], capture_output=True).returncode == 0 for g in ("i2c", "gpio")):
        pytest.skip("both groups exist here: the install creates none")
    proc = run(INSTALL, tmp_path, NIGHTCRAMP_INSTALL_DRYRUN="1", DEVDIR=with_i2c(tmp_path))
    steps = plan(proc)
    created = [s.split()[-1] for s in steps if s.startswith("addgroup --system")]
    assert created
    for group in created:
        assert f"echo {group} >> {tmp_path}/etc/nightcramp/created-groups" in steps
