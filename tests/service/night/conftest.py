"""Fixtures of the night-record tests: a recorded night with known episodes, and a PNG header reader."""

from __future__ import annotations

import struct
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from support.nightbuilder import Cramp, NightSpec, make

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 24, 22, 0, tzinfo=BERLIN)

# Onsets (seconds after 22:00), durations, acknowledgements: what the log must show.
KNOWN = [
    Cramp(onset_s=2 * 3600 + 17 * 60 + 30, duration_s=95.0, ack_after_s=12.0),  # 00:17:30
    Cramp(onset_s=5 * 3600 + 3 * 60, duration_s=240.0, leg="leg", ack_after_s=31.0),  # 03:03
    Cramp(onset_s=6 * 3600 + 40 * 60, duration_s=20.0, false_alarm=True),  # 04:40, marked false alarm
]


@pytest.fixture
def night(state_dir):
    store, clock, tb, writer = make(state_dir, START, BERLIN)
    writer.run(NightSpec(minutes=570, cramps=KNOWN, temp_c=19.0))
    yield store
    store.close()


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def png_size():
    """Width and height (pixels) from a PNG file's header, checking that it is one."""
    return _png_size
