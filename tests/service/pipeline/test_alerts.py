"""The alert policy: what the sleeper and Home Assistant see for an episode."""

from __future__ import annotations

from dataclasses import replace

import pytest

from service import events as ev
from service.pipeline.alerts import AlertPolicy
from service.config import PromptsConfig
from service.pipeline.detect import DetectorEvent

PROMPTS = PromptsConfig()  # warm compress at once, stretch after 10 s, updates every 15 s


def start(t=100.0, onset=89.0, intensity=0.1):
    return DetectorEvent("start", t, onset, t - onset, intensity)


def update(t, onset=89.0, intensity=0.12):
    return DetectorEvent("update", t, onset, t - onset, intensity)


def end(t, onset=89.0, duration=60.0, intensity=0.11):
    return DetectorEvent("end", t, onset, duration, intensity)


def types(events):
    return [e.type for e in events]


def test_an_episode_from_start_to_end():
    p = AlertPolicy(PROMPTS, leg="left")
    p.set_room_temp(21.5)
    out = p.feed([start()])
    assert types(out) == [ev.CRAMP_START, ev.WARM_COMPRESS]
    s = out[0]
    assert s.leg == "left" and s.episode_id and s.fields["onset"] == 89.0 and s.fields["room_temp_c"] == 21.5
    assert s.fields["alert"] is True and p.alerting
    out = p.feed([update(105.0)]) + p.tick(109.0)
    assert out == []  # stretch is due at 110, updates at most every 15 s
    out = p.tick(112.0)
    assert types(out) == [ev.STRETCH_PROMPT]
    assert out[0].t == 110.0 and out[0].fields["stretch"] == "calf" and out[0].fields["hold_s"] == 30.0
    assert "toes" in out[0].fields["text"]
    out = p.feed([update(110.0), update(115.0), update(120.0)])
    assert types(out) == [ev.CRAMP_UPDATE]
    assert out[0].t == 115.0 and out[0].fields["duration_s"] == 26.0
    out = p.feed([end(170.0)])
    assert types(out) == [ev.CRAMP_END]
    assert out[0].fields["duration_s"] == 60.0 and out[0].fields["acknowledged"] is False
    assert {e.episode_id for e in out} == {s.episode_id}
    assert p.episode_id is None and not p.alerting
    assert p.tick(500.0) == []  # nothing lingers after the end


def test_prompts_come_once_and_only_while_the_episode_lasts():
    p = AlertPolicy(replace(PROMPTS, stretch_after_s=30.0, warm_compress_after_s=5.0))
    out = p.feed([start(100.0)])
    assert types(out) == [ev.CRAMP_START]
    out = p.feed([end(120.0)])  # ended before the stretch prompt was due
    assert types(out) == [ev.WARM_COMPRESS, ev.CRAMP_END]
    assert out[0].t == 105.0
    assert p.tick(200.0) == []
    p.feed([start(300.0, onset=290.0)])
    assert types(p.tick(400.0)) == [ev.WARM_COMPRESS, ev.STRETCH_PROMPT]
    assert p.tick(500.0) == []


def test_acknowledge_stops_prompts_and_the_buzzer():
    p = AlertPolicy(PROMPTS)
    first = p.feed([start()])
    out = p.acknowledge(103.0)
    assert types(out) == [ev.ACKNOWLEDGED] and out[0].fields["stop_buzzer"] is True
    assert out[0].episode_id == first[0].episode_id
    assert not p.alerting
    assert p.tick(200.0) == []  # no stretch prompt after acknowledgement
    done = p.feed([end(210.0)])
    assert done[-1].fields["acknowledged"] is True


def test_acknowledge_without_an_episode_is_harmless():
    out = AlertPolicy(PROMPTS).acknowledge(5.0)
    assert types(out) == [ev.ACKNOWLEDGED] and out[0].episode_id is None
    assert out[0].fields["episode_open"] is False


def test_false_alarm_marks_the_episode_and_silences_it():
    p = AlertPolicy(PROMPTS)
    s = p.feed([start()])[0]
    out = p.false_alarm(104.0)
    assert types(out) == [ev.FALSE_ALARM] and out[0].episode_id == s.episode_id
    assert p.tick(200.0) == []
    assert p.feed([end(220.0)])[-1].fields["false_alarm"] is True
    old = p.false_alarm(300.0, episode_id="abc")  # an older episode, by id
    assert old[0].episode_id == "abc"


def test_snooze_records_episodes_without_waking_anyone():
    p = AlertPolicy(PROMPTS)
    assert p.snooze(0.0, minutes=30) == []
    out = p.feed([start(100.0)]) + p.tick(300.0)
    assert types(out) == [ev.CRAMP_START]  # recorded, but no prompts
    assert out[0].fields["snoozed"] is True and out[0].fields["alert"] is False and not p.alerting
    assert p.feed([end(400.0)])[-1].fields["snoozed"] is True
    out = p.feed([start(2000.0, onset=1990.0)])  # the snooze is over after 30 minutes
    assert out[0].fields["snoozed"] is False and p.alerting
    assert types(out) == [ev.CRAMP_START, ev.WARM_COMPRESS]


def test_snooze_during_an_alert_silences_it_and_zero_cancels():
    p = AlertPolicy(PROMPTS)
    p.feed([start()])
    p.snooze(101.0, minutes=10)
    assert not p.alerting and p.tick(200.0) == []
    p.snooze(102.0, minutes=0)
    assert not p.is_snoozed(103.0)


def test_disarmed_policy_records_without_alerting():
    p = AlertPolicy(PROMPTS)
    p.arm(False)
    out = p.feed([start()]) + p.tick(200.0)
    assert types(out) == [ev.CRAMP_START]
    assert out[0].fields["alert"] is False and out[0].fields["armed"] is False
    p.feed([end(220.0)])
    p.arm(True)
    assert p.feed([start(300.0)])[0].fields["alert"] is True


@pytest.mark.parametrize("temp,hint", [(15.0, "cold"), (21.0, None), (27.0, "warm")])
def test_warm_compress_mentions_the_room(temp, hint):
    p = AlertPolicy(PROMPTS)
    p.set_room_temp(temp)
    warm = p.feed([start()])[1]
    assert warm.type == ev.WARM_COMPRESS and warm.fields["room_temp_c"] == temp
    if hint is None:
        assert "hint" not in warm.fields
    else:
        assert hint in warm.fields["hint"]


def test_unknown_room_temperature_is_left_out():
    out = AlertPolicy(PROMPTS).feed([start()])
    assert "room_temp_c" not in out[0].fields and "room_temp_c" not in out[1].fields


def test_prompts_can_be_switched_off():
    p = AlertPolicy(replace(PROMPTS, warm_compress=False, stretch=False))
    assert types(p.feed([start()]) + p.tick(1000.0)) == [ev.CRAMP_START]


@pytest.mark.parametrize("name", ["foot", "hamstring"])
def test_stretch_name_chooses_the_instruction(name):
    p = AlertPolicy(replace(PROMPTS, stretch_name=name))
    p.feed([start()])
    prompt = p.tick(200.0)[0]
    assert prompt.fields["stretch"] == name and prompt.fields["text"]


def test_test_alert_and_replay_json_form():
    e = AlertPolicy(PROMPTS, leg="right").test_alert(12.3456)[0]
    assert e.type == ev.TEST_ALERT
    assert e.to_json_dict() == {"type": "test_alert", "t": 12.346, "leg": "right", "text": "nightcramp test alert"}


def test_each_episode_gets_a_new_id():
    p = AlertPolicy(PROMPTS)
    a = p.feed([start(100.0)])[0].episode_id
    p.feed([end(200.0)])
    b = p.feed([start(300.0)])[0].episode_id
    assert a != b
