"""The sd_notify protocol against a real AF_UNIX datagram socket, standing in for systemd."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid

import pytest

from service.app import sdnotify
from support.fake_systemd import WAIT_S, FakeSystemd, systemd  # noqa: F401 - systemd is a fixture

def test_without_notify_socket_every_call_is_a_quiet_no_op(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready("up") is False
    assert sdnotify.status("x") is False
    assert sdnotify.watchdog() is False
    assert sdnotify.stopping() is False


def test_ready_with_status_reaches_systemd(systemd):
    assert sdnotify.ready("sampling 1 leg at 50 Hz") is True
    assert systemd.recv() == "READY=1\nSTATUS=sampling 1 leg at 50 Hz"


def test_status_is_kept_on_one_line_so_it_cannot_inject_assignments(systemd):
    assert sdnotify.status("broker down\nREADY=1")
    assert systemd.recv() == "STATUS=broker down READY=1"


def test_stopping_and_reloading(systemd):
    sdnotify.stopping("flushing")
    assert systemd.recv() == "STOPPING=1\nSTATUS=flushing"
    sdnotify.reloading()
    lines = systemd.recv().split("\n")
    assert lines[0] == "RELOADING=1"
    key, value = lines[1].split("=")
    assert key == "MONOTONIC_USEC" and int(value) > 0


def test_abstract_socket_name(monkeypatch):
    name = f"@nightcramp-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    fake = FakeSystemd(name)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", name)
        assert sdnotify.watchdog() is True
        assert fake.recv() == "WATCHDOG=1"
    finally:
        fake.close()


def test_systemd_gone_does_not_raise(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    with caplog.at_level(logging.DEBUG, logger="service.app.sdnotify"):
        assert sdnotify.ready() is False
    assert "sd_notify" in caplog.text
    monkeypatch.setenv("NOTIFY_SOCKET", "relative/path")
    assert sdnotify.ready() is False


def test_watchdog_interval(monkeypatch):
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sdnotify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert sdnotify.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert sdnotify.watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_PID")
    monkeypatch.setenv("WATCHDOG_USEC", "0")
    assert sdnotify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "soon")
    assert sdnotify.watchdog_interval() is None


def test_watchdog_pings_only_after_progress(systemd, caplog):
    drains = [0]
    dog = sdnotify.Watchdog(lambda: drains[0], interval_s=30.0)
    assert dog.check() is False  # nothing drained since it was created
    assert systemd.pending() == []
    drains[0] += 3
    assert dog.check() is True
    assert systemd.recv() == "WATCHDOG=1"
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="service.app.sdnotify"):
        assert dog.check() is False  # sampler hung: no ping, systemd will restart us
        assert dog.check() is False
    assert systemd.pending() == []
    assert dog.stalled == ["sampler"]
    assert caplog.text.count("no progress from sampler") == 1  # logged once per stall, not per check
    drains[0] += 1
    assert dog.check() is True
    assert systemd.recv() == "WATCHDOG=1"
    assert dog.stalled == []


def test_every_leg_must_progress(systemd, caplog):
    left, right = [0], [0]
    dog = sdnotify.Watchdog({"left": lambda: left[0], "right": lambda: right[0]}, interval_s=30.0)
    left[0] += 1
    right[0] += 1
    assert dog.check() is True
    left[0] += 1  # the right leg's sampler is stuck
    with caplog.at_level(logging.ERROR, logger="service.app.sdnotify"):
        assert dog.check() is False
    assert "no progress from right" in caplog.text
    assert systemd.pending() == ["WATCHDOG=1"]


def test_broken_progress_counter_counts_as_no_progress(systemd):
    def broken() -> int:
        raise RuntimeError("sampler object gone")

    dog = sdnotify.Watchdog(broken, interval_s=30.0)
    assert dog.check() is False
    assert systemd.pending() == []


def _wait_for(predicate) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def test_watchdog_thread_follows_the_sampler(systemd, monkeypatch, caplog):
    """The real thread at the interval systemd gives: pings while drains advance, silence when they stop."""
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # WatchdogSec=0.1 -> a check every 50 ms
    drains = [0]
    running = threading.Event()
    running.set()

    def sampler() -> None:
        while running.is_set():
            drains[0] += 1
            time.sleep(0.005)

    worker = threading.Thread(target=sampler, daemon=True)
    worker.start()
    dog = sdnotify.Watchdog(lambda: drains[0])
    assert dog.interval_s == pytest.approx(0.1)
    with caplog.at_level(logging.ERROR, logger="service.app.sdnotify"), dog:
        assert systemd.recv() == "WATCHDOG=1"
        running.clear()  # the sampler hangs
        worker.join()
        c0 = dog.checks
        _wait_for(lambda: dog.checks >= c0 + 2)  # one check may still see the last drains
        systemd.pending()
        c1 = dog.checks
        _wait_for(lambda: dog.checks >= c1 + 3)
        assert systemd.pending() == []
        assert dog.stalled == ["sampler"]
    assert "no progress from sampler" in caplog.text


def test_watchdog_does_nothing_when_systemd_armed_none(systemd):
    dog = sdnotify.Watchdog(lambda: 1)
    assert dog.enabled is False
    assert dog.start() is False
    dog.stop()
    assert systemd.pending() == []
