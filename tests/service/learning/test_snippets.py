"""Snippets: kept around episodes and reports with their bounds, labelled, capped and retired."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from service import events as ev
from service.learning.snippets import LEAD_S, TAIL_S, SnippetStore
from service.mqtt import commands as cmds
from service.recording.format import read_labels, read_recording
from tests.service.learning.conftest import Rig, cramp_clip, learning_config


def test_an_episode_is_kept_from_two_minutes_before_to_one_after(rig):
    t, a, labels = cramp_clip()
    rig.feed(t, a)
    snippets = SnippetStore(rig.config.state_dir).list()
    assert len(snippets) == 1
    s = snippets[0]
    rec = read_recording(s.path)
    doc = s.doc
    assert doc["trigger"] == "episode" and doc["label"] == "unlabelled" and doc["leg"] == "leg"
    onset_abs = t[0] + rec.t[0]  # the snippet's t is from its first sample
    assert doc["onset_t"] == pytest.approx(LEAD_S, abs=0.05)  # starts 2 min before the detected onset
    assert doc["end_t"] is not None
    assert rec.t[-1] == pytest.approx(doc["end_t"] + TAIL_S, abs=1.1)  # and ends 1 min after the end
    assert abs((doc["onset_t"] - rec.t[0]) - LEAD_S) < 0.05
    assert onset_abs >= 0
    assert read_labels(s.labels_file).episodes == []  # unlabelled: no cramp claimed
    assert datetime.fromisoformat(doc["start"]).tzinfo is not None
    assert not any(c.startswith("start:") for c in rec.comments)  # replay examines all of it


def test_acknowledging_confirms_the_alarm_as_a_cramp(rig):
    t, a, labels = cramp_clip()
    alert_at = None
    for k in range(0, t.size, 50):
        rig.feed(t[k:k + 50], a[k:k + 50])
        if alert_at is None and rig.core.legs["leg"].alerting:
            alert_at = rig.clock.monotonic()
            rig.core.handle(cmds.Command(cmds.ACKNOWLEDGE, source="button"))
    assert alert_at is not None
    (s,) = SnippetStore(rig.config.state_dir).list()
    assert s.label == "cramp" and s.doc["labelled_by"] == "acknowledged"
    (episode,) = read_labels(s.labels_file).episodes
    assert episode[0] == pytest.approx(s.doc["onset_t"], abs=0.01)


def test_a_false_alarm_report_after_the_snippet_relabels_it(rig):
    t, a, _ = cramp_clip()
    rig.feed(t, a)
    (s,) = SnippetStore(rig.config.state_dir).list()
    assert s.label == "unlabelled"
    rig.core.handle(cmds.Command(cmds.FALSE_ALARM, source="mqtt"))  # names no episode: the last one
    rig.writer.run_pending()
    (s,) = SnippetStore(rig.config.state_dir).list()
    assert s.label == "false_alarm" and read_labels(s.labels_file).episodes == []


def test_a_false_alarm_with_no_episode_keeps_its_own_snippet(rig):
    t, a = rig.quiet(200)
    rig.feed(t, a)
    rig.core.handle(cmds.Command(cmds.FALSE_ALARM, source="button"))
    t, a = rig.quiet(70, seed=2)
    rig.feed(t, a)
    (s,) = SnippetStore(rig.config.state_dir).list()
    rec = read_recording(s.path)
    assert s.label == "false_alarm" and s.doc["trigger"] == "false_alarm"
    assert s.doc["report_t"] == pytest.approx(LEAD_S, abs=0.05)
    assert rec.t[-1] == pytest.approx(LEAD_S + TAIL_S, abs=0.05)


def test_a_missed_cramp_report_at_a_past_time_is_kept_around_that_time(rig):
    t, a = rig.quiet(400)
    rig.feed(t, a)
    when = rig.clock.wall() - timedelta(seconds=200)
    rig.core.handle(cmds.Command(cmds.MISSED_CRAMP, source="cli", time=when.isoformat(), leg="leg"))
    rig.core.periodic()  # its tail is in the ring already: cut at the next pass
    rig.writer.run_pending()
    (s,) = SnippetStore(rig.config.state_dir).list()
    assert s.label == "missed_cramp" and s.doc["labelled_by"] == "cli"
    assert datetime.fromisoformat(s.doc["time"]) == pytest.approx(when, abs=timedelta(seconds=0.1))
    assert s.doc["report_t"] == pytest.approx(LEAD_S, abs=0.05)
    (episode,) = read_labels(s.labels_file).episodes
    assert episode == pytest.approx((0.0, LEAD_S), abs=0.05)  # a cramp in the 2 minutes before the report
    events = [r[0] for r in rig.store._db.execute("SELECT type FROM events")]
    assert ev.MISSED_CRAMP in events  # in the night record too


def test_a_long_episode_is_capped_and_keeps_its_start(state_dir):
    rig = Rig(learning_config(state_dir, "[snippets]\nmax_snippet_s = 240.0\n"))
    t, a, labels = cramp_clip(duration_s=300.0)
    rig.feed(t, a)
    (s,) = SnippetStore(state_dir).list()
    rec = read_recording(s.path)
    assert rec.t[-1] <= 240.0 + 0.05
    assert s.doc["onset_t"] == pytest.approx(LEAD_S, abs=0.05)
    rig.store.close("stopped")


def test_the_ring_buffer_is_bounded_by_the_cap(rig):
    ring = rig.core.snippets.rings["leg"]
    assert ring.capacity == int(np.ceil((600.0 + LEAD_S) * 50 * 1.25))
    t, a = rig.quiet(1000)
    rig.feed(t, a)
    assert len(ring) == ring.capacity and ring.newest_t == pytest.approx(t[-1])


def _fake_snippet(store: SnippetStore, start: datetime, seconds: float = 180.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 50)) / 50.0
    a = np.array([0, 0, 1.0]) + rng.normal(0, 0.004, (t.size, 3))
    return store.write(t, a, {"label": "false_alarm", "time": start.isoformat(), "report_t": 120.0}, start, "leg",
                       "false_alarm")


def test_total_size_is_bounded_oldest_first(state_dir):
    store = SnippetStore(state_dir)
    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    made = [_fake_snippet(store, now - timedelta(hours=10 - k), seed=k) for k in range(6)]
    size = made[0].size
    removed = store.enforce(int(size * 3.5), retention_days=90, now=now)
    assert removed == [m.name for m in made[:3]]
    assert [s.name for s in store.list()] == [m.name for m in made[3:]]
    assert store.total_bytes() <= size * 3.5


def test_retention_removes_old_snippets(state_dir):
    store = SnippetStore(state_dir)
    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    old = _fake_snippet(store, now - timedelta(days=31))
    new = _fake_snippet(store, now - timedelta(days=29), seed=1)
    assert store.enforce(50_000_000, retention_days=30, now=now) == [old.name]
    assert [s.name for s in store.list()] == [new.name]
    assert not old.path.exists() and not old.labels_file.exists()


def test_the_writer_enforces_the_configured_bounds(state_dir):
    rig = Rig(learning_config(state_dir, "[snippets]\nmax_total_mb = 1.0\n"))
    for k in range(12):  # about 0.1 MB each: never more than 1 MB kept
        t, a = rig.quiet(200, seed=k)
        rig.feed(t, a)
        rig.core.handle(cmds.Command(cmds.FALSE_ALARM))
        t, a = rig.quiet(70, seed=100 + k)
        rig.feed(t, a)
    store = SnippetStore(state_dir)
    assert rig.writer.written == 12
    assert 0 < len(store.list()) < 12 and store.total_bytes() <= 1_000_000
    rig.store.close("stopped")


def test_an_unwritable_snippet_directory_costs_the_snippet_not_the_alarm(state_dir, caplog):
    (state_dir / "snippets").write_text("a file where the directory should be\n")  # fails even for root
    rig = Rig(learning_config(state_dir))
    t, a, _ = cramp_clip()
    rig.feed(t, a)
    assert rig.writer.failed == 1 and rig.writer.written == 0
    assert rig.core.stats.events.get(ev.CRAMP_START) == 1 and rig.core.stats.events.get(ev.CRAMP_END) == 1
    assert "could not write" in caplog.text
    rig.store.close("stopped")


def test_snippets_off_keeps_nothing(state_dir):
    rig = Rig(learning_config(state_dir, "[snippets]\nenabled = false\n"))
    assert rig.core.snippets is None
    t, a, _ = cramp_clip()
    rig.feed(t, a)
    assert SnippetStore(state_dir).list() == []
    rig.store.close("stopped")


def test_labels_files_are_valid_json_with_the_documented_keys(rig):
    t, a, _ = cramp_clip()
    rig.feed(t, a)
    (s,) = SnippetStore(rig.config.state_dir).list()
    doc = json.loads(s.labels_file.read_text())
    for key in ("episodes", "hours", "label", "time", "leg", "start", "trigger", "episode_id", "onset_t", "alert_t",
                "end_t", "detection", "sensitivity"):
        assert key in doc, key
    assert set(doc["detection"]) == {"confirm_s", "turn_confirm_s", "turn_deg", "active_share"}


def test_replaying_a_snippet_raises_the_alarm_the_service_raised(rig):
    from service import config as cfg
    from service.recording.replay import replay_recording

    t, a, _ = cramp_clip()
    rig.feed(t, a)
    (s,) = SnippetStore(rig.config.state_dir).list()
    starts = [e.t for e in replay_recording(read_recording(s.path), cfg.Config()) if e.type == ev.CRAMP_START]
    assert starts == [pytest.approx(s.doc["alert_t"], abs=0.01)]


def test_a_nights_episode_snippets_stop_at_the_night_budget_but_reports_are_kept(state_dir, caplog):
    """snippets.max_night_mb keeps a night of many alarms inside the SD-card budget; the sleeper's own reports
    (a false alarm with no episode, a missed cramp) are always kept."""
    from service.learning.keeper import SnippetJob
    from service.learning.writer import SnippetWriter

    config = learning_config(state_dir, "[snippets]\nmax_night_mb = 0.1\n")
    writer = SnippetWriter(config)
    rng = np.random.default_rng(0)
    start = datetime(2026, 11, 25, 23, 0, tzinfo=timezone.utc)

    def job(k, trigger):
        t = np.arange(0, 300, 1 / 50.0)
        a = np.array([0, 0, 1.0]) + rng.normal(0, 0.01, (t.size, 3))
        label = "unlabelled" if trigger == "episode" else trigger
        return SnippetJob(t, a, {"label": label, "time": (start + timedelta(minutes=10 * k)).isoformat(),
                                 "report_t": 120.0}, start + timedelta(minutes=10 * k), "leg", trigger)

    for k, trigger in enumerate(["episode", "episode", "missed_cramp", "episode"]):
        assert writer.submit(job(k, trigger))
        writer.run_pending()
    kept = SnippetStore(state_dir).list()
    assert [s.doc["trigger"] for s in kept] == ["episode", "missed_cramp"]
    assert kept[0].size > 100_000  # the first alone is over the 0.1 MB: the next episodes were not kept
    assert writer.over_budget == 2 and "max_night_mb" in caplog.text
    # the next night starts afresh
    assert writer.submit(replace_start(job(0, "episode"), start + timedelta(hours=13)))
    writer.run_pending()
    assert len(SnippetStore(state_dir).list()) == 3


def replace_start(job, when):
    from dataclasses import replace

    return replace(job, start_wall=when, doc=dict(job.doc, time=when.isoformat()))
