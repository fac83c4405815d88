"""Episode tracking: the event and Frigate-like episode messages, and the retained cramp topics."""

from __future__ import annotations

import json

from service import events as ev
from service.mqtt import messages as msgs
from service.mqtt.episodes import EpisodeTracker
from support.mqtt_helpers import episode, make_config, stamped


def topics(device_id="bed1"):
    return msgs.Topics.from_config(make_config(device_id=device_id))


def test_event_payload_survives_numpy_and_nan_fields():
    import numpy as np

    s = stamped(ev.CRAMP_UPDATE, 5.0, "ep", intensity=np.float32(0.5), n=np.int64(3), bad=float("nan"))
    p = json.loads(EpisodeTracker(topics(), ["leg"]).messages(s).outbox[0].payload)
    assert p["intensity"] == 0.5 and p["n"] == 3 and p["bad"] is None


def test_episode_life_is_frigate_like_with_before_and_after():
    tracker = EpisodeTracker(topics(), ["leg"])
    life = episode(1000.0, 1.0)
    frigate, cramp_states = [], []
    for s in life:
        built = tracker.messages(s)
        for m in built.outbox:
            assert m.qos == 1 and not m.retain
            if m.topic.endswith("/episode"):
                frigate.append(json.loads(m.payload))
        cramp_states += [m.payload for m in built.retained if m.topic == "nightcramp/bed1/cramp"]
    assert [f["type"] for f in frigate] == ["start"] + ["update"] * 3 + ["end"]
    assert len({f["episode_id"] for f in frigate}) == 1
    assert frigate[0]["before"] is None
    for prev, cur in zip(frigate, frigate[1:]):
        assert cur["before"] == prev["after"]
    end = frigate[-1]["after"]
    assert end["end_time"] == life[-1].wall_time and end["start_time"] == life[0].wall_time
    assert end["duration_s"] == 68.0 and end["room_temp_c"] == 17.2
    assert end["onset_time"] == msgs.event_payload(topics(), life[0])["onset_time"]
    assert cramp_states == ["ON", "OFF"]


def test_duration_is_computed_from_onset_when_the_policy_gives_none():
    tracker = EpisodeTracker(topics(), ["leg"])
    tracker.messages(stamped(ev.CRAMP_START, 100.0, "e", onset=90.0))
    built = tracker.messages(stamped(ev.CRAMP_UPDATE, 130.0, "e"))
    assert json.loads(built.outbox[1].payload)["after"]["duration_s"] == 40.0


def test_two_legs_get_their_own_cramp_topics():
    tracker = EpisodeTracker(topics(), ["left", "right"])
    initial = {m.topic: m.payload for m in tracker.initial_retained()}
    assert initial == {"nightcramp/bed1/cramp": "OFF", "nightcramp/bed1/cramp/left": "OFF",
                       "nightcramp/bed1/cramp/right": "OFF"}
    on = {m.topic: m.payload for m in tracker.messages(stamped(ev.CRAMP_START, 1.0, "a", "right")).retained}
    assert on["nightcramp/bed1/cramp"] == "ON" and on["nightcramp/bed1/cramp/right"] == "ON"
    assert on["nightcramp/bed1/cramp/left"] == "OFF"
    assert tracker.messages(stamped(ev.CRAMP_START, 2.0, "b", "left")).retained[0].payload == "ON"
    off = {m.topic: m.payload for m in tracker.messages(stamped(ev.CRAMP_END, 3.0, "a", "right")).retained}
    assert off["nightcramp/bed1/cramp"] == "ON" and off["nightcramp/bed1/cramp/right"] == "OFF"
