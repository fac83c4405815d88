"""The night model: cramps and look-alikes placed by sleeper type, PLM scoring rules, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.errors import ConfigError
from service.sim.night import SLEEPERS, make_night


@pytest.mark.parametrize("sleeper", sorted(SLEEPERS))
def test_requested_cramps_are_placed_apart_from_each_other_and_from_walking(sleeper):
    tl = make_night(8.0, 4, seed=11, sleeper=sleeper)
    eps = tl.episodes
    assert len(eps) == 4
    for onset, end in eps:
        assert 15.0 <= end - onset <= 600.0
        assert 0 < onset and end < 8 * 3600
    for (a0, a1), (b0, b1) in zip(eps, eps[1:]):
        assert b0 - a1 >= 1200.0
    walks = [e for e in tl.events if e.kind == "walk"]
    for e in tl.events:
        if e.kind == "cramp":
            continue
        for onset, end in eps:
            gap = max(e.start - end, onset - e.end)
            assert gap >= (600.0 if e.kind == "walk" else 30.0), (e.kind, e.start, onset)
    if sleeper == "walker":
        assert len(walks) >= 3


def test_zero_cramps_is_a_night_of_look_alikes_only():
    tl = make_night(8.0, 0, seed=4, sleeper="restless")
    assert tl.episodes == []
    kinds = {e.kind for e in tl.events}
    assert {"rollover", "twitch", "fidget", "bump"} <= kinds


def test_too_many_cramps_for_the_night_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot fit"):
        make_night(0.5, 5, seed=1)


def test_plm_series_follow_the_scoring_rules():
    tl = make_night(8.0, 0, seed=8, sleeper="plm")
    series = [e for e in tl.events if e.kind == "plm"]
    assert len(series) >= 3
    for e in series:
        onsets = np.array(e.info["onsets"])
        assert len(onsets) >= 4
        iv = np.diff(onsets)
        assert np.all((iv >= 10.0) & (iv <= 90.0))


def test_restless_sleepers_move_more_than_calm_ones():
    def count(sleeper):
        return sum(1 for e in make_night(8.0, 0, seed=21, sleeper=sleeper).events if e.kind != "bump")

    assert count("restless") > 2 * count("calm")
