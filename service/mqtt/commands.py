"""Commands from MQTT (and the GPIO button), parsed strictly and purely.

Two ways to send a command, both documented in docs/mqtt.md:

* ``<base>/cmd/<name>`` with the options as payload.  What Home Assistant's
  entities send works as is: a button's ``PRESS`` (or an empty payload), the
  armed switch's ``ON``/``OFF`` on ``<base>/cmd/armed``, the snooze button's
  minutes (``30``), the snooze number's minutes (``45``; ``0`` cancels the snooze).  A JSON object gives options: ``{"minutes": 45}``,
  ``{"episode_id": "..."}``, ``{"request_id": "..."}``.
* ``<base>/cmd`` with a JSON object ``{"command": "<name>", ...options}``.

:func:`parse` returns a :class:`Command` or raises
:class:`~firmware.errors.CommandError` with a message fit for the user; it
never raises anything else, whatever the bytes (a hypothesis fuzz test holds
it to that).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from firmware.errors import CommandError
from service.mqtt.messages import SNOOZE_BUTTON_MINUTES, Topics

ACKNOWLEDGE = "acknowledge"
FALSE_ALARM = "false_alarm"
SNOOZE = "snooze"
ARM = "arm"
DISARM = "disarm"
TEST_ALERT = "test_alert"
MISSED_CRAMP = "missed_cramp"  # "that was a cramp": one happened that raised no alarm
COMMANDS = (ACKNOWLEDGE, FALSE_ALARM, SNOOZE, ARM, DISARM, TEST_ALERT, MISSED_CRAMP)
ARMED = "armed"  # the Home Assistant switch's topic: ON -> arm, OFF -> disarm

MAX_PAYLOAD_BYTES = 1024
SNOOZE_MIN_MINUTES = 0  # 0 cancels a snooze (the Home Assistant number set back to 0)
SNOOZE_MAX_MINUTES = 720  # 12 hours: longer than any night
_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_PRESS_WORDS = ("", "press", "on", "1", "true")

# Options each command accepts in a JSON object (besides "command" on <base>/cmd).
_OPTIONS = {
    ACKNOWLEDGE: {"episode_id", "request_id"},
    FALSE_ALARM: {"episode_id", "request_id"},
    SNOOZE: {"minutes", "request_id"},
    ARM: {"request_id"},
    DISARM: {"request_id"},
    TEST_ALERT: {"request_id"},
    MISSED_CRAMP: {"time", "leg", "request_id"},
}
_LEG_RE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


@dataclass(frozen=True)
class Command:
    """A validated command.

    ``episode_id`` (acknowledge, false_alarm): the episode meant, None for the
    current or most recent one.  ``minutes`` (snooze): 0-720, 0 cancels.  ``request_id``:
    an opaque id the sender may give to find its answer (``test_alert`` echoes
    it in the ``test_alert`` event).  ``source``: ``mqtt``, ``button`` or ``cli``.
    ``time`` (missed_cramp): when the cramp was, ISO 8601 with a UTC offset; None for now.
    ``leg`` (missed_cramp): which leg; None for the only or first one.
    """

    name: str
    episode_id: str | None = None
    minutes: int | None = None
    request_id: str | None = None
    source: str = "mqtt"
    time: str | None = None
    leg: str | None = None


def parse(topics: Topics, topic: str, payload: bytes) -> Command:
    """Parse one MQTT command; raise CommandError (only) when it is not a valid one."""
    try:
        return _parse(topics, topic, payload)
    except CommandError:
        raise
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:  # belt and braces: json's corners
        raise CommandError(f"malformed payload ({type(exc).__name__})") from None


def _parse(topics: Topics, topic: str, payload: bytes) -> Command:
    if not isinstance(payload, (bytes, bytearray)):
        raise CommandError("payload must be bytes")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandError(f"payload too large: {len(payload)} bytes (at most {MAX_PAYLOAD_BYTES})")
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("payload is not UTF-8 text") from None
    if "\x00" in text:
        raise CommandError("payload contains a NUL character")
    stripped = text.strip()

    if topic == topics.command:
        options = _json_object(stripped, required=True)
        name = options.pop("command", None)
        if not isinstance(name, str):
            raise CommandError(f'JSON on {topics.command} needs "command": one of {", ".join(COMMANDS)}')
        name = name.strip().lower()
        if name not in COMMANDS:
            raise CommandError(f"unknown command {name[:40]!r} (known: {', '.join(COMMANDS)})")
        return _build(name, options)

    prefix = topics.command + "/"
    if not topic.startswith(prefix):
        raise CommandError(f"not a command topic: {topic[:120]!r}")
    name = topic[len(prefix):]
    if name == ARMED:
        word = stripped.upper()
        if word == "ON":
            return Command(ARM)
        if word == "OFF":
            return Command(DISARM)
        raise CommandError(f"{topic} takes ON or OFF, got {_show(stripped)}")
    if name not in COMMANDS:
        raise CommandError(f"unknown command {name[:40]!r} (known: {', '.join(COMMANDS)}, {ARMED})")
    if stripped.startswith("{"):
        return _build(name, _json_object(stripped, required=True))
    if name == SNOOZE:
        if stripped.lower() == "press":
            return Command(SNOOZE, minutes=SNOOZE_BUTTON_MINUTES)
        return Command(SNOOZE, minutes=_minutes(stripped))
    if name == FALSE_ALARM and _ID_RE.match(stripped) and stripped.lower() not in _PRESS_WORDS:
        return Command(FALSE_ALARM, episode_id=stripped)
    if stripped.lower() in _PRESS_WORDS:
        return Command(name)
    raise CommandError(f"{topic} takes PRESS, an empty payload or a JSON object, got {_show(stripped)}")


def _json_object(text: str, required: bool) -> dict[str, Any]:
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise CommandError(f"payload is not valid JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(data, dict):
        raise CommandError(f"payload must be a JSON object, got {type(data).__name__}")
    return data


def _reject_constant(name: str) -> Any:
    raise CommandError(f"payload is not valid JSON: {name} is not allowed")


def _build(name: str, options: dict[str, Any]) -> Command:
    unknown = sorted(set(options) - _OPTIONS[name])
    if unknown:
        allowed = ", ".join(sorted(_OPTIONS[name]))
        raise CommandError(f"{name}: unknown option {str(unknown[0])[:40]!r} (allowed: {allowed})")
    episode_id = _identifier(options, "episode_id")
    request_id = _identifier(options, "request_id")
    minutes = None
    if name == SNOOZE:
        if "minutes" not in options:
            raise CommandError(f'snooze needs "minutes" ({SNOOZE_MIN_MINUTES}-{SNOOZE_MAX_MINUTES})')
        minutes = _minutes(options["minutes"])
    when = leg = None
    if name == MISSED_CRAMP:
        when = _when(options.get("time"))
        leg = options.get("leg")
        if leg is not None and (not isinstance(leg, str) or not _LEG_RE.match(leg)):
            raise CommandError(f"leg must be a short lowercase leg name such as left, got {_show(leg)}")
    return Command(name, episode_id=episode_id, minutes=minutes, request_id=request_id, time=when, leg=leg)


def _when(value: Any) -> str | None:
    """A report's time: absent or "now" for now, else ISO 8601 with a UTC offset (returned normalised)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "now"):
        return None
    if not isinstance(value, str):
        raise CommandError(f'time must be "now" or ISO 8601 with an offset, got {_show(value)}')
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(f"time is not ISO 8601: {_show(value)}") from None
    if when.tzinfo is None:
        raise CommandError(f"time needs a UTC offset such as +01:00, got {_show(value)}")
    return when.isoformat()


def _identifier(options: dict[str, Any], key: str) -> str | None:
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise CommandError(f"{key} must be 1-64 letters, digits or _.:-, got {_show(value)}")
    return value


def _minutes(value: Any) -> int:
    if isinstance(value, bool):
        raise CommandError(f"snooze minutes must be a number, got {_show(value)}")
    if isinstance(value, str):
        try:
            value = float(value) if value.strip() else None
        except ValueError:
            value = None
        if value is None:
            raise CommandError(f"snooze takes a number of minutes ({SNOOZE_MIN_MINUTES}-{SNOOZE_MAX_MINUTES}) or PRESS")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CommandError(f"snooze minutes must be a number, got {_show(value)}")
    if value != int(value):
        raise CommandError(f"snooze minutes must be a whole number, got {value:g}")
    minutes = int(value)
    if not SNOOZE_MIN_MINUTES <= minutes <= SNOOZE_MAX_MINUTES:
        raise CommandError(f"snooze minutes must be between {SNOOZE_MIN_MINUTES} and {SNOOZE_MAX_MINUTES}, "
                           f"got {minutes}")
    return minutes


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
