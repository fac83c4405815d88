"""The demo's one-line descriptions of events: a snoozed cramp is not called an alert."""

from __future__ import annotations

from service.sim.demo import _describe


def test_a_cramp_start_says_whether_anyone_was_alerted():
    alert = {"type": "cramp_start", "leg": "leg", "episode_id": "4f1c2a9e77", "alert": True, "snoozed": False}
    assert _describe(alert) == "CRAMP: alert raised, episode 4f1c2a9e"
    snoozed = {**alert, "alert": False, "snoozed": True}
    assert _describe(snoozed) == "cramp while snoozed: recorded, no alert, episode 4f1c2a9e"
    disarmed = {**alert, "alert": False, "leg": "left"}
    assert _describe(disarmed) == "cramp on the left leg while disarmed: recorded, no alert, episode 4f1c2a9e"
