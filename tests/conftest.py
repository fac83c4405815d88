"""Fixtures every test module may use: real brokers, a state directory, MockFactory."""

from __future__ import annotations

import logging

import pytest

from support.brokers import Mosquitto, find_mosquitto, make_secure_broker


@pytest.fixture(autouse=True)
def _root_logging_restored():
    """A test that runs the CLI in-process installs its stderr handler on the root logger; take it off
    afterwards, or later tests in the same worker log into that test's closed capture stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in root.handlers[:]:
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


@pytest.fixture
def broker(tmp_path_factory):
    """A fresh anonymous mosquitto on a free loopback port (function scope: tests may stop it)."""
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: run `make test` as root, or sudo apt-get install mosquitto")
    b = Mosquitto(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


@pytest.fixture
def secure_broker(tmp_path_factory):
    """A mosquitto with TLS from a CA generated in the test and password authentication."""
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed")
    b = make_secure_broker(tmp_path_factory.mktemp("tlsbroker"), "sleeper", "s3cret-pw")
    b.username, b.password = "sleeper", "s3cret-pw"
    b.start()
    yield b
    b.stop()


@pytest.fixture
def state_dir(tmp_path):
    d = tmp_path / "state"
    d.mkdir()
    return d


@pytest.fixture
def mock_factory():
    """gpiozero's MockFactory (PWM-capable) as the pin factory, torn down after the test."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    old = Device.pin_factory
    factory = MockFactory(pin_class=MockPWMPin)
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = old
