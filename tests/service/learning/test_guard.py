"""``tune`` never tunes the alarm away: the reference-cramp check decides when there is no confirmed cramp,
it holds the untuned preset's rate, and a kept alarm that does not replay is named, not silently trusted."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from service import config as cfg
from service.learning import active, tune
from service.learning.snippets import SnippetStore
from support.synth import Scene
from tests.service.learning.test_tune import START


def _restless_week(state_dir, seeds=(0, 1, 2, 4, 5, 6), dur_s: float = 17.0) -> SnippetStore:
    """False alarms only: this sleeper's leg movements last about 17 s (out and back, the tilt held), so only a
    confirmation of 18 s would stop them, and that loses a short reference cramp.  No cramp confirmed."""
    store = SnippetStore(state_dir)
    for k, seed in enumerate(seeds):
        sc = Scene(200.0, seed=seed)
        sc.limb_movement(130.0, dur_s)
        t, a = sc.sample(50, seed=seed)
        when = START + timedelta(days=k)
        store.write(t, a, {"label": "false_alarm", "time": when.isoformat(), "report_t": 150.0}, when, "leg",
                    "false_alarm")
    return store


@pytest.fixture(scope="module")
def restless(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("restless")
    _restless_week(state_dir)
    config = cfg.parse(f'[storage]\nstate_dir = "{state_dir}"\n')
    return config, tune.tune(config, tune.snippet_cases(state_dir))


def test_with_no_confirmed_cramp_the_reference_cramps_refuse_what_would_remove_every_false_alarm(restless):
    _, result = restless
    cur = result.current.score
    assert cur.confirmed == [] and cur.false_alarms == 6 and sum(cur.reference) == 12
    # the candidate with the fewest false alarms removes them all, and misses a reference cramp ...
    best = min(result.outcomes, key=lambda o: (o.score.false_alarms, -sum(o.score.reference)))
    assert best.score.false_alarms < cur.false_alarms and sum(best.score.reference) < 12
    # ... so it is refused, and what is chosen still catches every reference cramp
    assert best.refused.startswith("catches 11 of 12 reference cramps")
    assert sum(result.chosen.score.reference) == 12 == result.reference_floor
    assert all(sum(o.score.reference) >= 12 for o in result.outcomes if not o.refused)
    table = tune.table(result)
    assert "reference cramps caught   12/12" in table and "at least 12 of 12 reference cramps" in table


def test_the_floor_is_the_untuned_rate_even_when_the_current_tuning_catches_fewer(restless, tmp_path):
    config, _ = restless
    state_dir = config.state_dir
    weak = replace(config, detection=cfg.DetectionConfig(confirm_s=20.0))  # a tuning that lost reference cramps
    result = tune.tune(weak, tune.snippet_cases(state_dir))
    assert sum(result.current.score.reference) < result.untuned_reference == 12
    assert result.reference_floor == 12
    assert all(sum(o.score.reference) >= 12 for o in result.outcomes if not o.refused)
    assert any(o.refused.startswith("catches") for o in result.outcomes)


def test_with_nothing_to_check_against_every_candidate_is_refused(state_dir):
    """No confirmed cramp and no still stretch to set reference cramps into: nothing may be tuned."""
    store = SnippetStore(state_dir)
    rng = np.random.default_rng(3)
    t = np.arange(0, 60, 1 / 50.0)
    a = np.array([0.0, 0.0, 1.0]) + rng.normal(0, 0.05, (t.size, 3))  # moving all the time
    store.write(t, a, {"label": "false_alarm", "time": START.isoformat(), "report_t": 30.0}, START, "leg",
                "false_alarm")
    result = tune.tune(cfg.parse(f'[storage]\nstate_dir = "{state_dir}"\n'), tune.snippet_cases(state_dir))
    assert [c for c in result.cases if c.kind == "reference"] == []
    assert result.outcomes and all(o.refused.startswith("nothing to check it against") for o in result.outcomes)
    assert not result.improved
    assert "no still stretch" in tune.table(result)


def test_a_kept_alarm_that_does_not_replay_is_named(state_dir):
    """A movement early in the 2-minute lead-in keeps the replayed detector from settling: the service alerted,
    the replay does not; tune says so instead of counting on it."""
    store = SnippetStore(state_dir)
    sc = Scene(260.0, seed=1)
    sc.limb_movement(40.0, 6.0)  # in the lead-in, before the replayed detector's first quiet minute is complete
    sc.cramp(120.0, 60.0)
    t, a = sc.sample(50, seed=1)
    store.write(t, a, {"label": "cramp", "time": START.isoformat(), "onset_t": 120.0, "alert_t": 131.0,
                       "end_t": 180.0, "episode_id": "abcdef01", "alerted": True,
                       "detection": {"confirm_s": 11.0, "turn_confirm_s": 4.0, "active_share": 0.75}},
                START, "leg", "episode")
    cases = tune.snippet_cases(state_dir)
    assert tune.score(cases, cfg.Config()).confirmed == [False]
    assert tune.unreproduced(cases, cfg.Config()) == [cases[0].name]
    result = tune.tune(cfg.parse(f'[storage]\nstate_dir = "{state_dir}"\n'), cases)
    assert result.unreproduced == [cases[0].name]
    assert "not protected by the check above" in tune.table(result) and cases[0].name in tune.table(result)


def test_a_snippet_cut_short_is_not_used(state_dir, caplog):
    store = _restless_week(state_dir, seeds=(0,))
    (s,) = store.list()
    import gzip

    raw = gzip.decompress(s.path.read_bytes())
    s.path.write_bytes(gzip.compress(raw[: len(raw) // 10]))  # a tenth of the samples left
    assert tune.snippet_cases(state_dir) == []
    assert "cut short" in caplog.text


def test_the_fragment_carries_the_configurations_other_detection_settings(restless, tmp_path):
    from service.pipeline.tuning import preset_for

    _, result = restless
    res = replace(result, chosen=replace(result.chosen, detection=replace(result.chosen.detection, settle_s=200.0,
                                                                          unsettled_confirm_s=30.0)))
    frag = tmp_path / "f.toml"
    frag.write_text(tune.fragment(res))
    loaded = cfg.load(frag).detection  # what replay --config FRAGMENT runs: what was scored
    assert preset_for(loaded) == preset_for(res.chosen.detection)
    assert (loaded.settle_s, loaded.unsettled_confirm_s) == (200.0, 30.0)
    assert all(getattr(loaded, k) == getattr(res.chosen.detection, k) for k in ("sensitivity", *tune.EXTRA_KEYS))


def test_the_installed_tuning_keeps_the_configurations_other_detection_keys(state_dir):
    active.apply(state_dir, "# t\n[detection]\nconfirm_s = 13.0\n")
    config = cfg.parse(f'[storage]\nstate_dir = "{state_dir}"\n[detection]\nunsettled_confirm_s = 30.0\n'
                       'sensitivity = "high"\n')
    d = active.with_active_tuning(config).detection
    assert (d.confirm_s, d.unsettled_confirm_s, d.sensitivity) == (13.0, 30.0, "high")
