"""`systemctl reload` with a bad configuration: refused where systemctl users look, and the service runs on.

A real ``nightcramp run --simulate`` process behind a fake notify socket
(support/fake_systemd.py), signalled as the unit's ExecReload= lines do: first
the unit's own ``config check`` command (its exit status is what ``systemctl
reload`` reports), then SIGHUP.  Waits are bounded but generous; nothing
asserts how long anything took.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys

from support import ROOT
from support.fake_systemd import FakeSystemd, systemd  # noqa: F401 - systemd is a fixture
from tests.systemd.test_systemd import INSTALLED_BINARY, UNIT, parse_unit

WAIT_S = 60.0


def _messages_until(systemd: FakeSystemd, wanted: str, proc: subprocess.Popen) -> list[str]:
    seen = []
    while True:
        try:
            message = systemd.recv(WAIT_S)
        except socket.timeout:
            raise AssertionError(f"no {wanted!r}; got {seen}; service exit code {proc.poll()}") from None
        seen.append(message)
        if any(line.startswith(wanted) for line in message.split("\n")):
            return seen


def _exec_reload_check(conf) -> subprocess.CompletedProcess:
    """The unit's first ExecReload= line, with the installed binary replaced by this checkout."""
    argv = shlex.split(parse_unit(UNIT.read_text())["Service"]["ExecReload"][0])
    assert argv[0] == INSTALLED_BINARY
    argv = [sys.executable, "-m", "service", *[str(conf) if a == "/etc/nightcramp/config.toml" else a
                                               for a in argv[1:]]]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_a_rejected_reload_keeps_the_service_running_and_says_why(tmp_path, systemd):
    conf = tmp_path / "config.toml"
    good = f'[storage]\nstate_dir = "{tmp_path / "state"}"\n'
    conf.write_text(good)
    env = dict(os.environ, NOTIFY_SOCKET=systemd.address, PYTHONPATH=str(ROOT))
    env.pop("WATCHDOG_USEC", None)
    out = tmp_path / "out.log"
    err = open(out, "wb")
    st = os.fstat(err.fileno())
    env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"  # its stderr is "the journal": lines carry priorities
    proc = subprocess.Popen([sys.executable, "-m", "service", "run", "--simulate", "--config", str(conf)],
                            env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    try:
        _messages_until(systemd, "READY=1", proc)
        # A file `config check` used to pass and `run` then refused: a password file that is not there.
        conf.write_text(good + f'[mqtt]\nhost = "127.0.0.1"\nusername = "u"\n'
                               f'password_file = "{tmp_path / "missing"}"\n')
        checked = _exec_reload_check(conf)
        assert checked.returncode == 2  # `systemctl reload` fails and stops before the HUP line
        assert "mqtt.password_file: cannot read" in checked.stderr

        proc.send_signal(signal.SIGHUP)  # someone sends the signal anyway (kill -HUP)
        seen = _messages_until(systemd, "STATUS=reload rejected", proc)
        assert not any("RELOADING=1" in m or "STOPPING=1" in m for m in seen), seen
        assert "mqtt.password_file: cannot read" in seen[-1]
        assert proc.poll() is None  # still running on the old configuration

        conf.write_text(good + '[night]\nstart = "21:30"\n')
        assert _exec_reload_check(conf).returncode == 0
        proc.send_signal(signal.SIGHUP)
        during = _messages_until(systemd, "READY=1", proc)
        assert during[0].startswith("RELOADING=1")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT_S)
        err.close()
    lines = out.read_text().splitlines()
    rejected = [line for line in lines if "reload rejected" in line]
    assert rejected and all(line.startswith("<3>") for line in rejected), lines
