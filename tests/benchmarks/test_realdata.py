"""The real-recordings part of the accuracy benchmark: files found, alerts scored, contexts named."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import realdata
from service.config import Config
from service.recording.format import RecordingWriter, labels_path, write_labels
from support.synth import Scene

QUIET_S = 1200.0  # twenty minutes of still sleep first: long enough to have settled under any setting


@pytest.fixture(scope="module")
def cramp_signal():
    sc = Scene(QUIET_S + 120.0, seed=7)
    sc.cramp(QUIET_S, 60.0)
    return sc.sample(rate_hz=50.0, sensor="mpu6050", seed=8)


def _write(path, t, a, labels: dict):
    w = RecordingWriter(path)
    w.write(t, a)
    w.close()
    hours = float(t[-1]) / 3600.0
    write_labels(labels_path(path), labels.pop("episodes", []), hours, extra=labels)


def test_an_alert_outside_every_episode_is_a_false_alarm_with_its_context(tmp_path, cramp_signal):
    t, a = cramp_signal
    _write(tmp_path / "walk.csv.gz", t, a, {
        "placement": "shank", "activity": "lab",
        "context_labels": [{"label": 0, "onset": 0.0, "end": QUIET_S - 1.0},
                           {"label": 1, "onset": QUIET_S - 1.0, "end": float(t[-1])}],
        "context_label_names": {"0": "not part of the experiment (fitting)", "1": "experiment (stand, walk)"},
    })
    _write(tmp_path / "labelled.csv.gz", t, a, {"episodes": [(QUIET_S, QUIET_S + 60.0)],
                                                 "local_start": "2020-01-02 23:00:00 GMT+1"})
    files = realdata.load_files([tmp_path])
    assert [f.name for f in files] == ["labelled", "walk"]
    for f in files:
        realdata.replay_file(f, Config())
        assert len(f.alerts) == 1 and QUIET_S < f.alerts[0] < QUIET_S + 30.0
    res = realdata.results(files)
    by_name = {r["file"]: r for r in res["files"]}
    assert by_name["labelled"]["false_alarms"] == 0
    walk = by_name["walk"]
    assert walk["false_alarms"] == 1 and walk["during_walking"] == 1
    assert walk["alarms"][0]["context"] == "experiment (stand, walk)"
    assert res["false_alarms"] == 1 and res["during_walking"] == 1
    assert res["per_8h"] == pytest.approx(8.0 / res["hours"])
    assert files[0].context_at(QUIET_S).endswith("23:20 local")
    text = realdata.report(res)
    assert "| walk | shank |" in text and "(experiment (stand, walk))" in text


def test_before_and_after_alarms_are_matched_into_removed_and_new(tmp_path, cramp_signal):
    t, a = cramp_signal
    _write(tmp_path / "r.csv.gz", t, a, {})
    (f,) = realdata.load_files([tmp_path])
    f.alerts = [100.0, 2000.0]
    f.before = [130.0, 900.0]
    res = realdata.results([f])
    row = res["files"][0]
    assert row["before"] == 2 and row["removed"] == [900.0] and row["new"] == [2000.0]
    assert res["before"] == 2


def test_unreadable_labels_and_folders_are_skipped_with_a_warning(tmp_path, caplog, cramp_signal):
    t, a = cramp_signal
    _write(tmp_path / "ok.csv.gz", t[:100], a[:100], {})
    (tmp_path / "bad.csv.gz").write_bytes(b"\x1f\x8b")
    (tmp_path / "bad.labels.json").write_text("{not json")
    files = realdata.load_files([tmp_path, tmp_path / "missing"])
    assert [f.name for f in files] == ["ok"]
    assert "bad.labels.json" in caplog.text and "not a folder" in caplog.text


def test_extra_folders_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(realdata.ENV, f"{tmp_path}/a{':'}{tmp_path}/b")
    dirs = realdata.real_dirs([str(tmp_path / "c"), str(tmp_path / "a")])
    assert [d.name for d in dirs if d.parent == tmp_path] == ["a", "b", "c"]


def test_later_starts_replay_each_start_as_its_own_night_and_report_whole_file_times(tmp_path, cramp_signal):
    t, a = cramp_signal
    _write(tmp_path / "free.csv.gz", t, a, {"activity": "night in bed"})
    _write(tmp_path / "labelled.csv.gz", t, a, {"episodes": [(QUIET_S, QUIET_S + 60.0)]})
    files = {f.name: f for f in realdata.load_files([tmp_path])}
    starts = realdata.later_starts(files["free"], Config())
    # a 22-minute file: starts 1, 2, 4 and 6 minutes in, each a night of its own that still sees the cramp
    assert [s["start_s"] for s in starts] == pytest.approx(list(realdata.SHORT_STEPS_S), abs=0.05)
    for s in starts:
        assert s["hours"] == pytest.approx((float(t[-1]) - s["start_s"]) / 3600.0, abs=1e-3)
        assert len(s["false_alarms"]) == 1
        assert QUIET_S < s["false_alarms"][0]["t"] < QUIET_S + 30.0  # the whole file's clock, not the start's
        assert s["false_alarms"][0]["context"] == "night in bed"
    res = realdata.later_starts_results(list(files.values()), Config())
    by_name = {r["file"]: r for r in res["files"]}
    assert by_name["labelled"]["false_alarms"] == 0 and by_name["labelled"]["starts"] == 4
    assert by_name["free"]["starts_with_false_alarm"] == 4
    distinct = by_name["free"]["distinct"]
    assert distinct and max(distinct) - min(distinct) < 2.0  # one movement, seen from every start
    assert res["starts"] == 8 and res["false_alarms"] == 4
    assert res["per_8h"] == pytest.approx(4 * 8.0 / res["hours"])
    assert "| free | 4 | 4 |" in realdata.later_starts_report(res)


def test_sensor_variants_change_the_recording_as_another_chip_would(tmp_path, cramp_signal):
    t, a = cramp_signal
    _write(tmp_path / "r.csv.gz", t, a, {})
    rec = realdata.read_recording(tmp_path / "r.csv.gz")
    half = realdata.sensor_variant(rec, every=2)
    assert len(half) == (len(rec) + 1) // 2
    assert float(np.median(np.diff(half.t))) == pytest.approx(0.04, abs=2e-3)  # 50 Hz with jitter -> 25 Hz
    assert realdata.sensor_variant(rec, every=3) is None  # 50 Hz / 3 is under the 20 Hz the detector takes
    steps = realdata.sensor_variant(rec, step_mg=3.9)
    assert abs(steps.accel / 0.0039 - (steps.accel / 0.0039).round()).max() < 1e-6
    clipped = realdata.sensor_variant(rec, clip_g=0.5)
    assert clipped.accel.max() <= 0.5 and clipped.accel.min() >= -0.5 and rec.accel.max() > 0.5
    noisy = realdata.sensor_variant(rec, noise_mg=6.0)
    assert (noisy.accel - rec.accel).std() == pytest.approx(0.006, rel=0.05)


def test_every_variant_is_judged_on_every_file(tmp_path, cramp_signal):
    t, a = cramp_signal
    _write(tmp_path / "free.csv.gz", t, a, {})  # cramp-free by its labels: the cramp in it is a false alarm
    files = realdata.load_files([tmp_path])
    res = realdata.variants_results(files, Config())
    assert [r["variant"] for r in res["variants"]] == list(realdata.VARIANTS)
    by = {r["variant"]: r for r in res["variants"]}
    assert by["quarter rate"]["skipped"] == ["free"] and by["quarter rate"]["false_alarms"] == 0
    for name in ("half rate", "+6 mg noise", "3.9 mg steps (ADXL345)"):
        assert by[name]["false_alarms"] == 1 and QUIET_S < by[name]["alarms"][0]["t"] < QUIET_S + 30.0
    assert "| half rate |" in realdata.variants_report(res)
