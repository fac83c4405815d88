"""The command parser: every valid form, clear errors, and nothing but CommandError."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.errors import CommandError
from service.mqtt import commands as c
from service.mqtt.messages import Topics

T = Topics(base="nightcramp/bed1", device_id="bed1")
CMD = "nightcramp/bed1/cmd"


def parse(topic, payload):
    return c.parse(T, topic, payload if isinstance(payload, bytes) else payload.encode())


@pytest.mark.parametrize("topic,payload,expected", [
    (f"{CMD}/acknowledge", "PRESS", c.Command("acknowledge")),
    (f"{CMD}/acknowledge", "", c.Command("acknowledge")),
    (f"{CMD}/acknowledge", '{"episode_id": "ab12"}', c.Command("acknowledge", episode_id="ab12")),
    (f"{CMD}/false_alarm", "press", c.Command("false_alarm")),
    (f"{CMD}/false_alarm", "5f3a9c", c.Command("false_alarm", episode_id="5f3a9c")),
    (f"{CMD}/snooze", "30", c.Command("snooze", minutes=30)),
    (f"{CMD}/snooze", " 45.0 ", c.Command("snooze", minutes=45)),
    (f"{CMD}/snooze", "PRESS", c.Command("snooze", minutes=30)),
    (f"{CMD}/snooze", '{"minutes": 720}', c.Command("snooze", minutes=720)),
    (f"{CMD}/snooze", "0", c.Command("snooze", minutes=0)),  # the snooze number set back to 0: cancel
    (f"{CMD}/snooze", "45.0", c.Command("snooze", minutes=45)),  # what HA's number may send
    (f"{CMD}/arm", "PRESS", c.Command("arm")),
    (f"{CMD}/disarm", "", c.Command("disarm")),
    (f"{CMD}/armed", "ON", c.Command("arm")),
    (f"{CMD}/armed", "off", c.Command("disarm")),
    (f"{CMD}/test_alert", '{"request_id": "r-1"}', c.Command("test_alert", request_id="r-1")),
    (CMD, '{"command": "snooze", "minutes": 5}', c.Command("snooze", minutes=5)),
    (CMD, '{"command": "Test_Alert"}', c.Command("test_alert")),
    (CMD, '{"command": "false_alarm", "episode_id": "e1"}', c.Command("false_alarm", episode_id="e1")),
])
def test_valid_commands(topic, payload, expected):
    assert parse(topic, payload) == expected


@pytest.mark.parametrize("topic,payload,fragment", [
    (f"{CMD}/snooze", "-1", "between 0 and 720"),
    (f"{CMD}/snooze", "721", "between 0 and 720"),
    (f"{CMD}/snooze", "1e9", "between 0 and 720"),
    (f"{CMD}/snooze", "inf", "must be a number"),
    (f"{CMD}/snooze", "", "number of minutes"),
    (f"{CMD}/snooze", "None", "number of minutes"),
    (f"{CMD}/snooze", "2.5", "whole number"),
    (f"{CMD}/snooze", "soon", "number of minutes"),
    (f"{CMD}/snooze", "nan", "must be a number"),
    (f"{CMD}/snooze", '{"minutes": true}', "must be a number"),
    (f"{CMD}/snooze", "{}", 'needs "minutes"'),
    (f"{CMD}/armed", "PRESS", "ON or OFF"),
    (f"{CMD}/reboot", "PRESS", "unknown command"),
    (f"{CMD}/acknowledge", "yes please", "PRESS"),
    (f"{CMD}/acknowledge", '{"force": 1}', "unknown option"),
    (f"{CMD}/acknowledge", '{"episode_id": "../../etc"}', "episode_id"),
    (f"{CMD}/acknowledge", "[1, 2]", "PRESS"),
    (CMD, "PRESS", "not valid JSON"),
    (CMD, "[]", "JSON object"),
    (CMD, '{"minutes": 5}', '"command"'),
    (CMD, '{"command": "selfdestruct"}', "unknown command"),
    (CMD, '{"command": "snooze", "minutes": NaN}', "NaN is not allowed"),
    (CMD, "x" * 1025, "too large"),
    (f"{CMD}/arm", b"\xff\xfe", "not UTF-8"),
    (f"{CMD}/arm", b"PRESS\x00", "NUL"),
    ("nightcramp/bed2/cmd/arm", "PRESS", "not a command topic"),
    ("nightcramp/bed1/cmdx", "PRESS", "not a command topic"),
])
def test_invalid_commands_are_rejected_with_a_clear_reason(topic, payload, fragment):
    with pytest.raises(CommandError) as info:
        parse(topic, payload)
    assert fragment in str(info.value)


def test_deeply_nested_json_is_a_command_error_not_a_crash():
    with pytest.raises(CommandError):
        parse(CMD, "[" * 1000)
    with pytest.raises(CommandError):
        parse(CMD, '{"command": ' + "[" * 500 + "]" * 500 + "}")


topic_strategy = st.sampled_from([CMD] + [f"{CMD}/{n}" for n in (*c.COMMANDS, c.ARMED)]) | \
    st.text(min_size=0, max_size=30).map(lambda s: f"{CMD}/{s}")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)
command_objects = st.fixed_dictionaries(
    {"command": st.sampled_from(c.COMMANDS) | st.text(max_size=12)},
    optional={"minutes": json_values, "episode_id": json_values, "request_id": json_values, "x": json_values})
payload_strategy = (
    st.binary(max_size=1500)
    | st.text(max_size=300).map(str.encode)
    | json_values.map(lambda v: json.dumps(v).encode())
    | command_objects.map(lambda v: json.dumps(v).encode())
    | st.sampled_from([b"PRESS", b"ON", b"OFF", b"30", b"-1", b"1e309", b"720", b"721"])
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=topic_strategy, payload=payload_strategy)
def test_parse_returns_a_command_or_raises_command_error_only(topic, payload):
    try:
        command = c.parse(T, topic, payload)
    except CommandError as exc:
        assert str(exc)
        return
    assert command.name in c.COMMANDS
    assert len(payload) <= c.MAX_PAYLOAD_BYTES
    if command.name == c.SNOOZE:
        assert c.SNOOZE_MIN_MINUTES <= command.minutes <= c.SNOOZE_MAX_MINUTES
