"""Telling the user: the labels tally in the morning log, the state topic and doctor; the estimate at night end."""

from __future__ import annotations

from datetime import date

from service import config as cfg
from service.app.doctor import check_tuning
from service.learning import active
from service.learning.summary import learning_lines, read_estimate, tally
from service.learning.snippets import SnippetStore
from service.learning.writer import SnippetWriter
from service.night.outputs import build_morning_log
from service.night.store import NightStore
from service.pipeline.nightwindow import NightWindow
from tests.service.learning.test_tune import _labelled_week


def test_the_tally_counts_labels_and_labelled_alarms(state_dir):
    store = _labelled_week(state_dir)
    counts = tally(store.list())
    assert counts == {"snippets": 5, "alarms": 1, "labelled_alarms": 1, "cramp": 1, "false_alarm": 4,
                      "missed_cramp": 0, "unlabelled": 0}


def test_after_enough_labels_the_log_suggests_tune_with_its_effect():
    counts = {"snippets": 5, "alarms": 5, "labelled_alarms": 5, "cramp": 1, "false_alarm": 4, "missed_cramp": 0,
              "unlabelled": 0}
    estimate = {"false_alarms_before": 4, "false_alarms_after": 0, "cramps": 1, "cramps_kept": 1, "missed": 0,
                "missed_caught": 0, "accepted": True}
    lines = learning_lines(counts, estimate, None)
    assert lines[0].startswith("Labels: 5 of 5 kept alarms labelled")
    assert "Tuning: none" in lines[1]
    assert "removed 4 of 4 false alarms" in lines[2] and "nightcramp tune" in lines[2]
    few = dict(counts, cramp=1, false_alarm=1, labelled_alarms=2)
    assert len(learning_lines(few, None, None)) == 2  # not enough labels yet: no suggestion


def test_the_writer_estimates_at_night_end_and_the_morning_log_shows_it(state_dir):
    _labelled_week(state_dir)
    config = cfg.parse(f'[storage]\nstate_dir = "{state_dir}"\n')
    writer = SnippetWriter(config)
    estimate = writer.estimate()
    assert estimate["false_alarms_before"] == 4 and estimate["false_alarms_after"] < 4
    assert estimate["cramps_kept"] == 1 and read_estimate(state_dir)["fingerprint"] == estimate["fingerprint"]
    assert writer.estimate() == read_estimate(state_dir)  # labels unchanged: not recomputed
    store = NightStore(state_dir, window=NightWindow.from_config(config.night))
    try:
        mlog = build_morning_log(store, date(2026, 11, 24), config)
    finally:
        store.close()
    text = mlog.to_text()
    assert "Labels and tuning:" in text and "1 of 1 kept alarm labelled" in text
    assert f"removed {4 - estimate['false_alarms_after']} of 4 false alarms" in " ".join(text.split())
    assert mlog.to_dict()["learning"] == mlog.learning


def test_doctor_and_the_log_name_the_installed_tuning(state_dir):
    config = cfg.parse(f'[storage]\nstate_dir = "{state_dir}"\n')
    assert "none" in check_tuning(config).message
    active.apply(state_dir, "# tuned on a week\n[detection]\nconfirm_s = 13.0\n")
    msg = check_tuning(config).message
    assert "confirm_s = 13" in msg and "tuned on a week" in msg
    assert "confirm_s = 13" in active.status(config)
    SnippetStore(state_dir)  # an empty snippet directory is fine


def test_the_retained_state_carries_the_tally_for_home_assistant():
    import json

    from service.mqtt.messages import ServiceState, Topics, state

    counts = {"snippets": 2, "alarms": 2, "labelled_alarms": 1, "cramp": 1, "false_alarm": 0, "missed_cramp": 0,
              "unlabelled": 1}
    payload = json.loads(state(Topics("nightcramp/bed1", "bed1"), ServiceState(labels=counts)).payload)
    assert payload["labels"] == counts
    assert "labels" not in json.loads(state(Topics("nightcramp/bed1", "bed1"), ServiceState()).payload)
