"""The ``# detector:`` comment of recording format v1: the detector's state at the first sample (kept snippets)."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.errors import RecordingError
from service.recording.format import RecordingWriter, detector_comment, iter_recording, read_recording


def _write(path, *comments: str, rows: int = 20) -> None:
    with RecordingWriter(path) as w:
        for c in comments:
            w.comment(c)
        w.write(np.arange(rows) / 50.0, np.tile([0.0, 0.0, 1.0], (rows, 1)))


@pytest.mark.parametrize("settled,reason,line,expect", [
    (True, None, "detector: settled", (True, None)),
    (False, "walking", "detector: unsettled (walking)", (False, "walking")),
    (False, "handling", "detector: unsettled (handling)", (False, "handling")),
    (False, None, "detector: unsettled", (False, None)),
    (False, "Not A Reason!", "detector: unsettled", (False, None)),  # nothing the reader would refuse
])
def test_the_line_written_reads_back(tmp_path, settled, reason, line, expect):
    assert detector_comment(settled, reason) == line
    path = tmp_path / "s.csv.gz"
    _write(path, "nightcramp snippet", line)
    rec = read_recording(path)
    assert (rec.settled_at_start, rec.unsettled_reason) == expect
    assert line in rec.comments
    (chunk,) = list(iter_recording(path))
    assert (chunk.settled_at_start, chunk.unsettled_reason) == expect


def test_no_line_says_nothing_and_the_first_line_counts(tmp_path):
    path = tmp_path / "a.csv"
    _write(path, "sensor: mpu6050")
    assert read_recording(path).settled_at_start is None
    _write(path, "detector: unsettled (start)", "detector: settled")
    assert (read_recording(path).settled_at_start, read_recording(path).unsettled_reason) == (False, "start")
    _write(path, "  detector:   settled  ")
    assert read_recording(path).settled_at_start is True


@pytest.mark.parametrize("value", ["sleepy", "", "settled (start)", "unsettled walking", "SETTLED", "unsettled ()"])
def test_a_malformed_value_names_the_file_and_line(tmp_path, value):
    path = tmp_path / "bad.csv"
    _write(path, "first comment", f"detector: {value}")
    with pytest.raises(RecordingError, match=r"bad\.csv, line 2: detector state .* is not 'settled', 'unsettled'"):
        read_recording(path)
