"""Recording format v1: round trips, strictness with line numbers, fuzzing, labels."""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.errors import RecordingError
from service.recording.format import (
    Labels,
    RecordingWriter,
    iter_recording,
    labels_path,
    read_labels,
    read_recording,
    write_labels,
)

CET = timezone(timedelta(hours=1))


def _night(n=500, seed=0):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.015, 0.025, n))
    accel = rng.normal(0.0, 0.7, (n, 3))
    return t, accel


@pytest.mark.parametrize("name", ["night.csv", "night.csv.gz"])
def test_round_trip_keeps_samples_temperatures_start_and_comments(tmp_path, name):
    t, accel = _night()
    start = datetime(2026, 11, 24, 23, 10, tzinfo=CET)
    path = tmp_path / name
    with RecordingWriter(path, start_wall=start) as w:
        w.comment("sensor: mpu6050 at 50 Hz")
        w.add_temp(19.25)
        w.write(t[:200], accel[:200])
        w.add_temp(18.5)
        w.write(t[200:], accel[200:])
    if name.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    rec = read_recording(path)
    assert rec.start_wall == start
    assert "sensor: mpu6050 at 50 Hz" in rec.comments
    np.testing.assert_array_equal(rec.t, np.round(t, 4))
    np.testing.assert_allclose(rec.accel, accel, atol=5e-6)
    np.testing.assert_array_equal(rec.temp_t, np.round([t[0], t[200]], 4))
    np.testing.assert_array_equal(rec.temp_c, [19.25, 18.5])


def test_writer_per_row_temperature_column(tmp_path):
    t, accel = _night(100)
    temp = np.full(100, np.nan)
    temp[[0, 60]] = [21.0, 20.75]
    with RecordingWriter(tmp_path / "a.csv") as w:
        w.write(t, accel, temp_c=temp)
    rec = read_recording(tmp_path / "a.csv")
    np.testing.assert_array_equal(rec.temp_c, [21.0, 20.75])
    np.testing.assert_array_equal(rec.temp_t, np.round(t[[0, 60]], 4))
    assert rec.start_wall is None


def test_writer_refuses_what_it_could_not_read_back(tmp_path):
    with RecordingWriter(tmp_path / "a.csv") as w:
        w.write(np.array([1.0, 2.0]), np.zeros((2, 3)))
        with pytest.raises(ValueError):
            w.write(np.array([2.0]), np.zeros((1, 3)))  # not after 2.0
        with pytest.raises(ValueError):
            w.write(np.array([3.0, 4.0]), np.zeros((2, 2)))
        with pytest.raises(ValueError):
            w.write(np.array([5.0]), np.array([[np.nan, 0, 0]]))
    with pytest.raises(ValueError):
        RecordingWriter(tmp_path / "b.csv", start_wall=datetime(2026, 11, 24, 23, 0))  # naive


def test_reads_accel_only_header_crlf_bom_comments_and_blank_lines(tmp_path):
    text = ("\ufeff# start: 2026-11-24T23:10:00+01:00\r\n"
            "t,ax,ay,az\r\n"
            "0.0,0.1,-0.2,1.0\r\n"
            "# a gap follows\r\n"
            "\r\n"
            "0.5,1e-3,+2.5E-1,-.5\r\n"
            "0.52,  0.0 ,0,1\r\n")
    path = tmp_path / "x.csv"
    path.write_bytes(text.encode("utf-8"))
    rec = read_recording(path)
    np.testing.assert_array_equal(rec.t, [0.0, 0.5, 0.52])
    np.testing.assert_array_equal(rec.accel, [[0.1, -0.2, 1.0], [0.001, 0.25, -0.5], [0.0, 0.0, 1.0]])
    assert rec.start_wall == datetime(2026, 11, 24, 23, 10, tzinfo=CET)
    assert rec.comments == ["start: 2026-11-24T23:10:00+01:00", "a gap follows"]
    assert rec.temp_c.size == 0 and not rec.has_temp_column


def test_header_only_recording_is_empty_not_an_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("t,ax,ay,az,temp_c\n")
    rec = read_recording(path)
    assert len(rec) == 0 and rec.accel.shape == (0, 3)


GOOD = "t,ax,ay,az,temp_c\n0.00,0.0,0.0,1.0,20.5\n0.02,0.0,0.0,1.0,\n0.04,0.0,0.0,1.0,\n"


@pytest.mark.parametrize("text, line, what", [
    ("t,x,y,z\n0,0,0,1\n", 1, "bad header"),
    ("# only a comment\n", None, "no header"),
    ("", None, "no header"),
    (GOOD + "0.06,0.0,0.0\n", 5, "fields"),
    (GOOD + "0.06,0.0,0.0,1.0,,\n", 5, "fields"),
    (GOOD + "0.06,0.0,zero,1.0,\n", 5, "ay is not a number"),
    (GOOD + "0.06,0.0,nan,1.0,\n", 5, "not finite"),
    (GOOD + "0.06,0.0,0.0,inf,\n", 5, "not finite"),
    (GOOD + "0.06,0.0,0.0,1e999,\n", 5, "not finite"),
    (GOOD + "0.06,0.0,0.0,1.0,nan\n", 5, "not finite"),
    (GOOD + "0.06,,0.0,1.0,\n", 5, "ax is not a number"),
    (GOOD + "0.06,1_0,0.0,1.0,\n", 5, "ax is not a number"),
    (GOOD + "0.06,0.0,0.0,1.0.0,\n", 5, "az is not a number"),
    (GOOD + "0.04,0.0,0.0,1.0,\n", 5, "does not increase"),
    (GOOD + "# c\n0.01,0.0,0.0,1.0,\n", 6, "does not increase"),
    (GOOD + "0.06,0.0,0.0,1.0,\nnot a comment\n", 6, "fields"),
    ("# start: yesterday\n" + GOOD, 1, "ISO 8601"),
    ("# start: 2026-11-24T23:10:00\n" + GOOD, 1, "UTC offset"),
    (GOOD.replace("0.02,", "0.02,\x00"), 3, "NUL"),
])
def test_malformed_files_name_the_file_and_line(tmp_path, text, line, what):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecordingError) as err:
        read_recording(path)
    msg = str(err.value)
    assert str(path) in msg
    assert what in msg
    if line is not None:
        assert f"line {line}:" in msg


def test_binary_garbage_and_bad_utf8_name_a_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(GOOD.encode() + b"0.06,\xff\xfe,0,1,\n")
    with pytest.raises(RecordingError, match=r"line 5: not UTF-8"):
        read_recording(path)
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(RecordingError, match="bad.csv"):
        read_recording(path)


def test_a_truncated_gzip_gives_its_intact_part_and_says_where_it_ends(tmp_path, caplog):
    t, accel = _night(3000)
    good = tmp_path / "n.csv.gz"
    with RecordingWriter(good) as w:
        w.write(t, accel)
    data = good.read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) // 2])
    rec = read_recording(cut)
    assert 0 < len(rec) < 3000
    np.testing.assert_array_equal(rec.t, np.round(t[:len(rec)], 4))  # every row kept is a whole, true row
    assert rec.truncated is not None and "cut.csv.gz" in rec.truncated
    assert f"line {len(rec) + 1}" in rec.truncated and f"t = {rec.t[-1]:.4f} s" in rec.truncated
    assert any("ends early" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    chunks = list(iter_recording(cut, chunk_rows=100))
    np.testing.assert_array_equal(np.concatenate([c.t for c in chunks]), rec.t)
    assert chunks[-1].truncated == rec.truncated and all(c.truncated is None for c in chunks[:-1])
    assert read_recording(good).truncated is None


def test_a_gzip_cut_at_a_flush_keeps_every_row_written_before_it(tmp_path):
    t, accel = _night(1000)
    path = tmp_path / "killed.csv.gz"
    w = RecordingWriter(path)
    w.write(t[:600], accel[:600])
    w.flush()  # what the recorder does every few seconds; then the process is killed
    data = path.read_bytes()
    w.close()
    path.write_bytes(data)
    rec = read_recording(path)
    assert len(rec) == 600 and rec.truncated is not None


def test_a_plain_recording_cut_mid_line_gives_its_whole_lines(tmp_path, caplog):
    path = tmp_path / "full-disk.csv"
    path.write_text(GOOD + "0.06,0.0,0.0,1.0,\n0.08,0.0,0.")  # the disk filled up inside a line
    rec = read_recording(path)
    assert rec.t.tolist() == [0.0, 0.02, 0.04, 0.06]
    assert "full-disk.csv: its last line has no line end and does not read" in rec.truncated
    assert "up to line 5, the last sample at t = 0.0600 s" in rec.truncated
    assert [len(c) for c in iter_recording(path, chunk_rows=2)][-1] >= 1
    path.write_text(GOOD + "0.06,0.0,0.0,1.0,")  # a last line without a line end that reads is a line
    rec = read_recording(path)
    assert len(rec) == 4 and rec.truncated is None


def test_damaged_gzip_is_an_error(tmp_path):
    t, accel = _night(3000)
    good = tmp_path / "n.csv.gz"
    with RecordingWriter(good) as w:
        w.write(t, accel)
    data = bytearray(good.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match="bad.csv.gz.*damaged gzip"):
        read_recording(bad)
    head = tmp_path / "head.csv.gz"
    head.write_bytes(bytes(data[:5]))
    with pytest.raises(RecordingError, match="head.csv.gz.*truncated before its header"):
        read_recording(head)
    notgz = tmp_path / "plain.csv.gz"
    notgz.write_text(GOOD)
    with pytest.raises(RecordingError, match="plain.csv.gz"):
        read_recording(notgz)


@pytest.mark.parametrize("line, what", [
    ("0.06,1e300,0.0,1.0,", "ax=1e+300 g: beyond any accelerometer's range"),
    ("0.06,0.0,-64.5,1.0,", "ay=-64.5 g"),
    ("1e300,0.0,0.0,1.0,", "t=1e+300 s: longer than any recording"),
    ("0.06,0.0,0.0,1.0,1e300", "temp_c=1e+300 °C: not a room temperature"),
])
def test_values_no_sensor_produces_are_bad_lines(tmp_path, line, what):
    path = tmp_path / "absurd.csv"
    path.write_text(GOOD + line + "\n")
    for reader in (read_recording, lambda p: list(iter_recording(p))):
        with pytest.raises(RecordingError) as err:
            reader(path)
        assert "line 5:" in str(err.value) and what in str(err.value)
    path.write_text(GOOD + "0.06,-64.0,64,16.0,85\n")  # the edge of the range is still a reading
    assert read_recording(path).accel[-1].tolist() == [-64.0, 64.0, 16.0]


@pytest.mark.parametrize("tail", [b"\0" * 200_000, b"1" * 5000 + b"\n", b"# " + b"x" * 5000 + b"\n"])
def test_a_line_longer_than_any_valid_one_is_an_error(tmp_path, tail):
    path = tmp_path / "long.csv"
    path.write_bytes(GOOD.encode() + tail)
    for reader in (read_recording, lambda p: list(iter_recording(p, chunk_rows=2))):
        with pytest.raises(RecordingError, match=r"long.csv, line 5: a line longer than 4096 bytes"):
            reader(path)


def test_labels_larger_than_any_night_are_refused_without_reading_them_whole():
    with pytest.raises(RecordingError, match="/dev/zero: larger than .* bytes: not a labels file"):
        read_labels("/dev/zero")


def test_dev_zero_is_refused_at_its_first_line():
    with pytest.raises(RecordingError, match=r"/dev/zero, line 1: a line longer than 4096 bytes"):
        read_recording("/dev/zero")


def test_missing_file_is_a_recording_error(tmp_path):
    with pytest.raises(RecordingError, match="cannot read"):
        read_recording(tmp_path / "nope.csv")


def test_iter_recording_matches_read_recording(tmp_path):
    t, accel = _night(5000, seed=3)
    path = tmp_path / "n.csv.gz"
    with RecordingWriter(path, start_wall=datetime(2026, 1, 1, 22, tzinfo=timezone.utc)) as w:
        for i in range(0, 5000, 700):
            w.add_temp(20 - i / 1000)
            w.write(t[i:i + 700], accel[i:i + 700])
            w.comment(f"block {i}")
    whole = read_recording(path)
    chunks = list(iter_recording(path, chunk_rows=333))
    assert len(chunks) > 5
    np.testing.assert_array_equal(np.concatenate([c.t for c in chunks]), whole.t)
    np.testing.assert_array_equal(np.concatenate([c.accel for c in chunks]), whole.accel)
    np.testing.assert_array_equal(np.concatenate([c.temp_c for c in chunks]), whole.temp_c)
    assert chunks[-1].comments == whole.comments
    assert chunks[0].start_wall == whole.start_wall


def test_iter_recording_reports_the_true_line_of_a_late_error(tmp_path):
    t, accel = _night(2000)
    path = tmp_path / "n.csv"
    with RecordingWriter(path) as w:
        w.write(t, accel)
    lines = path.read_text().splitlines(keepends=True)
    lines[1500] = "oops\n"
    path.write_text("".join(lines))
    with pytest.raises(RecordingError, match="line 1501:"):
        for _ in iter_recording(path, chunk_rows=100):
            pass
    with pytest.raises(RecordingError, match="line 1501:"):
        read_recording(path)


# --- the vectorised pass must agree with Python's float() bit for bit

# Plain decimals take the exact vectorised path; exponents and long mantissas other paths.
# Values stay within the +-64 g the reader accepts; 13 and 14 decimals reach the 15-digit limit of the exact path.
_plain = st.one_of(
    st.floats(-64, 64, allow_nan=False).map(lambda x: f"{x:.5f}"),
    st.floats(-20, 20, allow_nan=False).map(lambda x: f"{x:.3f}"),
    st.floats(-64, 64, allow_nan=False).map(lambda x: f"{x:.13f}"),
    st.floats(-64, 64, allow_nan=False).map(lambda x: f"{x:.14f}"),
    st.integers(-64, 64).map(str),
    st.integers(0, 10**14).map(lambda m: f"0.{m:014d}"),
    st.decimals(-64, 64, places=7, allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["-0", "+1", ".5", "-.25", "5.", "0000012.5000", "-0.0"]),
)
_any = st.one_of(
    _plain,
    st.floats(-64, 64, allow_nan=False).map(lambda x: f"{x:.6e}"),
    st.floats(-64, 64, allow_nan=False).map(repr),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_plain, _plain, _plain), min_size=1, max_size=60))
def test_parsed_plain_decimals_equal_python_float(tmp_path, rows):
    _check_parse(tmp_path, rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_any, _any, _any), min_size=1, max_size=60))
def test_parsed_any_notation_equals_python_float(tmp_path, rows):
    _check_parse(tmp_path, rows)


def _check_parse(tmp_path, rows):
    lines = ["t,ax,ay,az,temp_c"]
    for k, (a, b, c) in enumerate(rows):
        lines.append(f"{k * 0.02:.4f},{a},{b},{c}," + ("21.5" if k % 7 == 0 else ""))
    path = tmp_path / "h.csv"
    path.write_text("\n".join(lines) + "\n")
    rec = read_recording(path)
    expected = np.array([[float(x) for x in r] for r in rows])
    assert rec.accel.tobytes() == expected.tobytes()
    assert len(rec.temp_c) == (len(rows) + 6) // 7


# --- fuzz: corrupt input gives a recording or a RecordingError, nothing else

def _base_file() -> bytes:
    return ("# start: 2026-11-24T23:10:00+01:00\nt,ax,ay,az,temp_c\n"
            "0.0000,0.01000,-0.02000,0.99000,20.50\n"
            "0.0200,0.01100,-0.02100,0.99100,\n"
            "# note\n"
            "0.0400,-1.50000,2.00000,0.50000,\n"
            "0.0600,0.00000,0.00000,1.00000,\n").encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.sampled_from("rid")), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 400)),
    gz=st.booleans(),
)
def test_fuzzed_files_never_raise_anything_but_recording_error(tmp_path, edits, cut, gz):
    data = bytearray(_base_file())
    if gz:
        data = bytearray(gzip.compress(bytes(data)))
    for pos, byte, op in edits:
        pos %= len(data) + 1
        if op == "r" and pos < len(data):
            data[pos] = byte
        elif op == "i":
            data.insert(pos, byte)
        elif op == "d" and pos < len(data):
            del data[pos]
    if cut is not None:
        data = data[:cut]
    path = tmp_path / ("f.csv.gz" if gz else "f.csv")
    path.write_bytes(bytes(data))
    for reader in (read_recording, lambda p: list(iter_recording(p, chunk_rows=2))):
        try:
            rec = reader(path)
        except RecordingError as exc:
            assert "f.csv" in str(exc)
            continue
        recs = rec if isinstance(rec, list) else [rec]
        for r in recs:
            assert np.isfinite(r.accel).all() and np.isfinite(r.t).all()
            assert (np.diff(r.t) > 0).all()
            assert r.accel.shape == (len(r.t), 3)


# --- labels

@pytest.mark.parametrize("name, expected", [
    ("night.csv", "night.labels.json"),
    ("night.csv.gz", "night.labels.json"),
    ("a.b.csv", "a.b.labels.json"),
    ("raw", "raw.labels.json"),
])
def test_labels_path(tmp_path, name, expected):
    assert labels_path(tmp_path / name) == tmp_path / expected


def test_labels_round_trip_keeps_extra_information(tmp_path):
    path = tmp_path / "n.labels.json"
    write_labels(path, [(100.0, 160.5), (3600, 3700)], 8.0,
                 extra={"seed": 4}, episode_info=[{"severity": "mild"}, {"severity": "typical"}])
    doc = json.loads(path.read_text())
    assert doc["episodes"][0] == {"onset": 100.0, "end": 160.5, "severity": "mild"}
    labels = read_labels(path)
    assert isinstance(labels, Labels)
    assert labels.episodes == [(100.0, 160.5), (3600.0, 3700.0)]
    assert labels.hours == 8.0
    assert labels.extra == {"seed": 4}
    assert labels.episode_info[0] == {"severity": "mild"}


@pytest.mark.parametrize("doc, what", [
    ("{", "invalid JSON"),
    ("[]", "JSON object"),
    ('{"episodes": []}', "need"),
    ('{"episodes": [], "hours": 0}', "positive"),
    ('{"episodes": [], "hours": "8"}', "finite number"),
    ('{"episodes": {}, "hours": 8}', "list"),
    ('{"episodes": [{"onset": 5}], "hours": 8}', "'onset' and 'end'"),
    ('{"episodes": [{"onset": 5, "end": 5}], "hours": 8}', "onset < end"),
    ('{"episodes": [{"onset": -1, "end": 5}], "hours": 8}', "onset < end"),
    ('{"episodes": [{"onset": 5, "end": true}], "hours": 8}', "finite number"),
    ('{"episodes": [{"onset": 5, "end": 50}, {"onset": 40, "end": 60}], "hours": 8}', "overlaps"),
    ('{"episodes": [], "hours": NaN}', "finite number"),
])
def test_bad_labels_are_recording_errors(tmp_path, doc, what):
    path = tmp_path / "n.labels.json"
    path.write_text(doc)
    with pytest.raises(RecordingError, match=re.escape(what)) as err:
        read_labels(path)
    assert str(path) in str(err.value)


def test_missing_labels_file(tmp_path):
    with pytest.raises(RecordingError, match="cannot read labels"):
        read_labels(tmp_path / "x.labels.json")


@pytest.mark.parametrize("gz", [False, True])
def test_a_line_longer_than_a_small_read_piece_is_read_on_not_looped_over(tmp_path, gz):
    # iter_recording(chunk_rows=2) reads pieces of 80 bytes; a last line without a line end that is longer than
    # that used to leave the reader spinning on the same carried bytes for ever (found by the fuzz test above)
    import threading

    text = "# " + "x" * 300 + "\nt,ax,ay,az\n0.00,0,0,1\n0.02,0,0,1\n0.04,0,0,1\n# " + "y" * 120
    path = tmp_path / ("long.csv.gz" if gz else "long.csv")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    out: list = []
    worker = threading.Thread(target=lambda: out.extend(iter_recording(path, chunk_rows=2)), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "iter_recording never finished"
    assert sum(len(r) for r in out) == 3
