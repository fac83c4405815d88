"""A stand-in for systemd's notify socket, shared by the sd_notify and service tests."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import pytest

WAIT_S = 20.0  # generous upper bound for a thread on a busy machine; not a timing assertion


class FakeSystemd:
    """The receiving end of NOTIFY_SOCKET, as systemd binds it."""

    def __init__(self, address: str):
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)

    def recv(self, timeout: float = WAIT_S) -> str:
        self.sock.settimeout(timeout)
        return self.sock.recv(4096).decode()

    def pending(self) -> list[str]:
        """Everything sent so far and not yet received."""
        self.sock.setblocking(False)
        out = []
        try:
            while True:
                out.append(self.sock.recv(4096).decode())
        except BlockingIOError:
            return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd(monkeypatch):
    """A FakeSystemd whose address is in $NOTIFY_SOCKET (watchdog variables cleared)."""
    # A short directory: AF_UNIX paths are limited to 107 bytes.
    d = Path(tempfile.mkdtemp(prefix="nc-sd-", dir="/tmp"))
    fake = FakeSystemd(str(d / "notify"))
    monkeypatch.setenv("NOTIFY_SOCKET", fake.address)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield fake
    fake.close()
    (d / "notify").unlink(missing_ok=True)
    d.rmdir()
