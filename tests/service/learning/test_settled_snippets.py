"""The guard gap closed: a snippet records whether the service's detector was settled at its first sample, and
replay (``tune``, ``nightcramp replay``) starts its detector in that state (docs/learning.md, "What the check
cannot see")."""

from __future__ import annotations

import gzip
import json

import pytest

from service import cli
from service import config as cfg
from service import events as ev
from service.learning import tune
from service.learning.snippets import LEAD_S, SnippetStore
from service.mqtt import commands as cmds
from service.recording.format import read_recording
from service.recording.replay import replay_recording
from support.synth import Scene
from tests.service.learning.test_tune import START


def _starts(rec) -> list[float]:
    return [e.t for e in replay_recording(rec, cfg.Config()) if e.type == ev.CRAMP_START]


def _without_detector_line(path, out):
    """The same snippet as one kept before snippets recorded the detector's state."""
    lines = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    out.write_bytes(gzip.compress("".join(x for x in lines if not x.startswith("# detector:")).encode()))
    return out


def _early_moving_night(seed: int = 1):
    """100 s of quiet (the service's quiet start settles it), a leg movement, then a cramp 80 s later: the snippet
    starts 2 minutes before the onset, so the movement is 40 s into its lead-in."""
    sc = Scene(360.0, seed=seed)
    sc.limb_movement(140.0, 6.0)
    sc.cramp(220.0, 60.0)
    return sc.sample(50, seed=seed)


def test_a_snippet_kept_while_settled_replays_its_alarm_although_its_lead_in_moves_early(rig, tmp_path):
    t, a = _early_moving_night()
    rig.feed(t, a)
    (s,) = SnippetStore(rig.config.state_dir).list()
    assert s.doc["alerted"] and s.doc["onset_t"] == pytest.approx(LEAD_S, abs=0.05)
    assert s.doc["settled_at_start"] is True and "unsettled_reason" not in s.doc
    rec = read_recording(s.path)
    assert "detector: settled" in rec.comments and rec.settled_at_start is True
    (start,) = _starts(rec)
    assert start == pytest.approx(s.doc["alert_t"], abs=1.0)  # the service's alarm (same windows up to 0.5 s)
    # the same samples replayed from a fresh detector (a snippet of the old kind): no alarm, the gap this closes
    old = read_recording(_without_detector_line(s.path, tmp_path / "old.csv.gz"))
    assert old.settled_at_start is None and _starts(old) == []


def test_a_snippet_kept_while_unsettled_says_so_and_replays_from_a_fresh_detector(rig, tmp_path):
    # settled by the quiet start, then the sleeper gets up: a false-alarm report 150 s after the walk keeps a
    # snippet whose first sample lies in the unsettled span the walk opened (settle_s of stillness from its end)
    sc = Scene(400.0, seed=5)
    walked = sc.walk(150.0, 20.0)
    t, a = sc.sample(50, seed=5)
    upto = int(t.searchsorted(walked + 150.0))
    rig.feed(t[:upto], a[:upto])
    leg = rig.core.legs["leg"]
    assert not leg.settled and leg.detector.unsettle_reason == "walking"
    rig.core.handle(cmds.Command(cmds.FALSE_ALARM, source="button"))
    rig.feed(t[upto:], a[upto:])
    (s,) = SnippetStore(rig.config.state_dir).list()
    assert s.doc["trigger"] == "false_alarm"
    (_start, (walk_from, walk_to, reason)) = leg.detector.unsettled_spans
    assert reason == "walking" and walk_to is None and walk_from < walked + 150.0 - LEAD_S
    assert s.doc["settled_at_start"] is False and s.doc["unsettled_reason"] == "walking"
    rec = read_recording(s.path)
    assert "detector: unsettled (walking)" in rec.comments
    assert (rec.settled_at_start, rec.unsettled_reason) == (False, "walking")
    old = read_recording(_without_detector_line(s.path, tmp_path / "old.csv.gz"))
    assert list(replay_recording(rec, cfg.Config())) == list(replay_recording(old, cfg.Config()))


def test_the_keeper_looks_the_state_up_at_the_first_sample_not_at_the_cut(rig):
    # the cramp's snippet is cut after the episode ended; by then the service may be in any state, but what is
    # recorded is the state at the lead-in's first sample, from the detector's unsettled spans
    t, a = _early_moving_night(seed=2)
    rig.feed(t, a)
    (s,) = SnippetStore(rig.config.state_dir).list()
    d = rig.core.legs["leg"].detector
    (span,) = d.unsettled_spans  # the start, closed by the quiet start before the lead-in began
    assert span[2] == "start" and span[1] is not None and span[1] < 100.0
    assert s.doc["settled_at_start"] is True
    assert d.settled_at(span[1] - 1.0) == (False, "start")


def _settled_snippet(store: SnippetStore, label: str = "cramp", **extra):
    """The test_guard scene (a movement 40 s into the lead-in, a cramp at 120 s), kept as the service would have
    kept it while settled, or (``settled_at_start=None``) as an old snippet."""
    sc = Scene(260.0, seed=1)
    sc.limb_movement(40.0, 6.0)
    sc.cramp(120.0, 60.0)
    t, a = sc.sample(50, seed=1)
    doc = {"label": label, "time": START.isoformat(), "onset_t": 120.0, "alert_t": 131.0, "end_t": 180.0,
           "episode_id": extra.pop("episode_id", "5e771ed0"), "alerted": True,
           "detection": {"confirm_s": 11.0, "turn_confirm_s": 4.0, "active_share": 0.75}, **extra}
    if doc.get("settled_at_start") is None:
        doc.pop("settled_at_start", None)
    return store.write(t, a, doc, START, "leg", "episode")


def test_tune_counts_a_settled_snippets_cramp_and_names_only_what_still_does_not_replay(state_dir):
    store = SnippetStore(state_dir)
    _settled_snippet(store, settled_at_start=True)
    _settled_snippet(store, settled_at_start=None, episode_id="01d01d00")  # an old snippet: as before
    cases = tune.snippet_cases(state_dir)
    by_settled = {c.rec.settled_at_start: c for c in cases}
    assert set(by_settled) == {True, None}
    assert tune.score([by_settled[True]], cfg.Config()).confirmed == [True]  # protected by check 1 now
    assert tune.score([by_settled[None]], cfg.Config()).confirmed == [False]  # the old one: replays as before
    assert tune.unreproduced(cases, cfg.Config()) == [by_settled[None].name]
    result = tune.tune(cfg.parse(f'[storage]\nstate_dir = "{state_dir}"\n'), cases)
    assert result.unreproduced == [by_settled[None].name]
    table = tune.table(result)
    assert "warning: 1 kept alarm(s)" in table
    assert f"{by_settled[None].name} (kept before snippets recorded the detector's state" in table
    assert by_settled[True].name not in table
    assert [c.rec.settled_at_start for c in cases] == [None, True]  # by name: the old one's tag sorts first
    assert result.current.score.confirmed == [False, True]


def test_nightcramp_replay_on_a_snippet_file_honours_the_detector_line(state_dir, tmp_path, capsys):
    s = _settled_snippet(SnippetStore(state_dir), settled_at_start=True)

    def replayed(path) -> tuple[list[float], str]:
        capsys.readouterr()
        assert cli.main(["replay", str(path)]) == 0
        out, err = capsys.readouterr()
        return [json.loads(x)["t"] for x in out.splitlines() if json.loads(x)["type"] == "cramp_start"], err

    (start,), err = replayed(s.path)
    assert 130.0 <= start <= 135.0 and "the detector was settled at the first sample: replaying from settled" in err
    starts, err = replayed(_without_detector_line(s.path, tmp_path / "old.csv.gz"))
    assert starts == [] and "settled at the first sample" not in err


def test_a_malformed_detector_line_is_a_clear_error_not_a_traceback(state_dir, tmp_path, capsys, caplog):
    s = _settled_snippet(SnippetStore(state_dir), label="cramp", settled_at_start=True)
    raw = gzip.decompress(s.path.read_bytes()).decode()
    assert raw.count("# detector: settled\n") == 1
    s.path.write_bytes(gzip.compress(raw.replace("# detector: settled\n", "# detector: sleepy\n").encode()))
    assert tune.snippet_cases(state_dir) == []  # tune leaves it out, with the message as a warning
    assert "line 2: detector state 'sleepy' is not 'settled'" in caplog.text
    capsys.readouterr()
    assert cli.main(["replay", str(s.path)]) == 2
    err = capsys.readouterr().err
    assert "line 2: detector state 'sleepy' is not 'settled'" in err and "Traceback" not in err


def test_a_failing_state_lookup_costs_the_state_not_the_snippet_or_the_alarm(rig, caplog):
    def broken(leg, t):
        raise RuntimeError("no spans")

    rig.core.snippets.settled_at = broken
    t, a = _early_moving_night()
    rig.feed(t, a)
    assert rig.core.stats.events.get(ev.CRAMP_START) == 1  # alerted
    (s,) = SnippetStore(rig.config.state_dir).list()
    assert "settled_at_start" not in s.doc and read_recording(s.path).settled_at_start is None
    assert "could not tell whether the leg leg was settled" in caplog.text
