"""``nightcramp run`` as systemd sees it: a real service process talking to a fake notify socket.

The service runs ``--simulate`` (emulated chips, no hardware) with
``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` set as systemd sets them for
``Type=notify`` + ``WatchdogSec=``.  Waits are bounded but generous; nothing
asserts how long anything took.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from support.fake_systemd import FakeSystemd, systemd  # noqa: F401 - systemd is a fixture
from support import ROOT

WAIT_S = 60.0  # start-up imports numpy and the drivers: slow on a loaded machine


def start_service(tmp_path: Path, systemd: FakeSystemd) -> subprocess.Popen:
    conf = tmp_path / "config.toml"
    conf.write_text(f'[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    env = dict(os.environ, NOTIFY_SOCKET=systemd.address, WATCHDOG_USEC="1000000", PYTHONPATH=str(ROOT))
    env.pop("WATCHDOG_PID", None)
    return subprocess.Popen([sys.executable, "-m", "service", "run", "--simulate", "--config", str(conf)],
                            env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=open(tmp_path / "out.log", "wb"), stderr=subprocess.STDOUT)


def receive_until(systemd: FakeSystemd, wanted: str, proc: subprocess.Popen) -> list[str]:
    """Every message up to and including the first one that contains ``wanted``."""
    seen = []
    while True:
        try:
            message = systemd.recv(WAIT_S)
        except socket.timeout:
            exit_code = proc.poll() if hasattr(proc, "poll") else "(in this process)"
            raise AssertionError(f"no {wanted!r} from the service; got {seen}; service exit code {exit_code}")
        seen.append(message)
        if wanted in message.split("\n"):
            return seen


@pytest.fixture
def service(tmp_path, systemd):
    proc = start_service(tmp_path, systemd)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(WAIT_S)


def test_ready_then_watchdog_pings_then_stopping_on_sigterm(service, systemd, tmp_path):
    first = receive_until(systemd, "READY=1", service)
    assert first[-1].startswith("READY=1\nSTATUS=sampling")  # `systemctl status` shows what it samples
    assert not any("WATCHDOG=1" in m for m in first)  # no keep-alive before it is up
    receive_until(systemd, "WATCHDOG=1", service)
    receive_until(systemd, "WATCHDOG=1", service)  # keeps pinging while the sampler drains
    service.send_signal(signal.SIGTERM)
    receive_until(systemd, "STOPPING=1", service)
    assert service.wait(WAIT_S) == 0, (tmp_path / "out.log").read_text()


def test_sighup_reload_is_announced_as_a_reload_not_a_stop(service, systemd):
    receive_until(systemd, "READY=1", service)
    service.send_signal(signal.SIGHUP)
    during = receive_until(systemd, "READY=1", service)
    assert not any("STOPPING=1" in m.split("\n") for m in during), during
    assert during[0].startswith("RELOADING=1")
    service.send_signal(signal.SIGTERM)
    assert service.wait(WAIT_S) == 0


def test_an_unplugged_sensor_is_not_a_hang(systemd, monkeypatch, tmp_path):
    """The sampler keeps retrying a sensor whose cable came loose: the watchdog must keep pinging."""
    import threading

    from service import config as cfg
    from service.app.daemon import RunOptions, Service

    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a check every 0.1 s
    config = cfg.parse(f'[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    service = Service(config, RunOptions(simulate=True, speed=50, seed=5, cramps=0, duration_s=3600))
    service.start()
    runner = threading.Thread(target=service.run, daemon=True)
    runner.start()
    try:
        receive_until(systemd, "WATCHDOG=1", runner)
        dog = service.watchdog
        service.world.bus.detach(next(iter(service.world.addresses.values())))  # the cable comes loose
        c0 = dog.checks
        _wait(lambda: dog.checks >= c0 + 3)  # the checks that may still see drains from before
        systemd.pending()
        c1 = dog.checks
        _wait(lambda: dog.checks >= c1 + 10)
        assert "WATCHDOG=1" in systemd.pending(), f"no pings while unplugged; stalled: {dog.stalled}"
    finally:
        service.request_stop()
        runner.join(WAIT_S)
        service.stop()


def _wait(predicate) -> None:
    import time

    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_no_i2c_bus_at_boot_is_a_sensor_fault_not_a_restart_loop(broker, systemd, tmp_path):
    """`nightcramp run` on the real bus path (smbus2) with no /dev/i2c-N: ready, pinging, online, fault shown.

    ``broker`` before ``systemd``: mosquitto started with $NOTIFY_SOCKET set would send its own READY=1.
    """
    from support.mqtt_helpers import Subscriber

    bus = 97
    assert not Path(f"/dev/i2c-{bus}").exists()
    conf = tmp_path / "config.toml"
    conf.write_text(f'[device]\nid = "bed1"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
                    f'[accelerometer]\ni2c_bus = {bus}\n[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    sub = Subscriber(broker.host, broker.port, topics=("nightcramp/bed1/#",))
    out = tmp_path / "out.log"
    err = open(out, "wb")
    st = os.fstat(err.fileno())
    env = dict(os.environ, NOTIFY_SOCKET=systemd.address, WATCHDOG_USEC="1000000", PYTHONPATH=str(ROOT),
               JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "service", "run", "--config", str(conf)], env=env, cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    def until(prefix: str, limit: int = 400) -> list[str]:
        seen = []
        while len(seen) < limit:  # bounded: the watchdog pings keep coming whatever else does not
            try:
                seen.append(systemd.recv(WAIT_S))
            except socket.timeout:
                break
            if any(line.startswith(prefix) for line in seen[-1].split("\n")):
                return seen
        raise AssertionError(f"no {prefix!r}; got {seen[-20:]}; service exit code {proc.poll()}")

    try:
        ready = until("READY=1")
        assert "waiting for" in ready[-1], ready  # STATUS= says what is missing
        fault = until("STATUS=SENSOR FAULT")
        assert f"/dev/i2c-{bus}" in fault[-1]
        pings = 0
        for _ in range(4):  # still pinging a few seconds on: the watchdog does not restart it
            pings += sum("WATCHDOG=1" in m for m in until("WATCHDOG=1"))
        assert pings >= 4 and proc.poll() is None
        base = "nightcramp/bed1"
        assert sub.wait_for(lambda s: any(m.payload == b"online" for m in s.on(f"{base}/status"))
                            and any(not m.json()["sensor_ok"] for m in s.on(f"{base}/state")))
        state = [m.json() for m in sub.on(f"{base}/state") if not m.json()["sensor_ok"]][-1]
        assert f"/dev/i2c-{bus}" in state["sensor_faults"]["leg"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT_S)
        err.close()
        sub.close()
    lines = out.read_text().splitlines()
    bus_lines = [line for line in lines if f"cannot open /dev/i2c-{bus}" in line]
    assert bus_lines and all(line[:3] in ("<3>", "<4>") for line in bus_lines), lines  # error/warning priority
    assert not any("Traceback" in line for line in lines), lines
