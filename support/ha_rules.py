"""What Home Assistant's MQTT integration does with our discovery configs and state messages, per release.

Home Assistant is not installed here, so its behaviour is written down as rules
(read from home-assistant/core's ``components/mqtt``: sensor.py, binary_sensor.py,
switch.py, number.py, event.py, image.py and the availability mixin):

* every release we support (:data:`HA_2024_3`, the oldest, and :data:`HA_NEWEST`):
  a numeric sensor (device class other than date/timestamp/enum, or a
  ``state_class``, unit or display precision) takes ``None`` as "unknown" and
  ignores an empty value; anything else must be a finite number.  A sensor
  without device class keeps the text it gets, ``None`` included.  A
  ``timestamp`` sensor needs an ISO 8601 time with an offset.  binary_sensor and
  switch take their on/off payloads or ``None``; number a number within
  min..max or ``None``; event a JSON object whose ``event_type`` is announced;
  image with ``content_type: image/png`` raw PNG bytes.
* before 2024.10 (home-assistant/core PR #127032, merged 2024-09-29) a
  ``timestamp`` sensor logs "Invalid state message" for ``None``; from then on
  ``None`` is "unknown" for every sensor.

:class:`HomeAssistantModel` holds the entities of a set of discovery configs,
takes the messages a subscriber saw (:meth:`~HomeAssistantModel.feed`) and
records every message that release would warn about, show as the text "None"
or refuse (:attr:`~HomeAssistantModel.problems`), with the state each entity
ends in.  Templates are rendered by a small evaluator of the Jinja expressions
we use (``{{ expr }}`` with attribute access, ``if/else``, ``or``, ``==``,
``.get``); anything beyond that (filters, statements) is refused, so a config
cannot pass by using what the checker does not understand.
"""

from __future__ import annotations

import io
import json
import math
import re
import tokenize
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
UNKNOWN = "unknown"
UNAVAILABLE = "unavailable"

_COMMON = {"name", "unique_id", "device", "origin", "availability", "availability_mode", "availability_topic",
           "availability_template", "payload_available", "payload_not_available", "icon", "entity_category",
           "enabled_by_default", "qos", "encoding", "json_attributes_topic", "json_attributes_template",
           "object_id", "entity_picture"}
_OPTIONS = {
    "binary_sensor": {"state_topic", "value_template", "payload_on", "payload_off", "device_class", "expire_after",
                      "force_update", "off_delay"},
    "sensor": {"state_topic", "value_template", "device_class", "state_class", "unit_of_measurement",
               "suggested_display_precision", "expire_after", "force_update", "last_reset_value_template",
               "options"},
    "switch": {"state_topic", "command_topic", "value_template", "payload_on", "payload_off", "state_on",
               "state_off", "optimistic", "retain", "device_class", "command_template"},
    "button": {"command_topic", "payload_press", "command_template", "retain", "device_class"},
    "number": {"state_topic", "command_topic", "value_template", "command_template", "min", "max", "step", "mode",
               "unit_of_measurement", "device_class", "payload_reset", "optimistic", "retain"},
    "event": {"state_topic", "event_types", "value_template", "device_class"},
    "image": {"image_topic", "content_type", "image_encoding", "url_topic", "url_template"},
}
_TRIGGER_OPTIONS = {"automation_type", "topic", "type", "subtype", "payload", "value_template", "device", "qos",
                    "origin"}
_NON_NUMERIC = {"date", "timestamp", "enum"}
_SENSOR_CLASSES = {"temperature", "timestamp", "date", "enum", "duration", "humidity"}
_STATE_CLASSES = {"measurement", "total", "total_increasing"}


@dataclass(frozen=True)
class Release:
    """The rules of one Home Assistant release that differ between the releases we support."""

    name: str
    none_is_unknown_for_every_sensor: bool


HA_2024_3 = Release("2024.3", none_is_unknown_for_every_sensor=False)
HA_NEWEST = Release("2024.10 and later", none_is_unknown_for_every_sensor=True)
RELEASES = (HA_2024_3, HA_NEWEST)


# ---------------------------------------------------------------- templates


class TemplateUnsupported(Exception):
    """A template uses Jinja this evaluator does not implement."""


class _Undefined:
    """Jinja's undefined: false, renders as nothing (Home Assistant also logs a warning)."""

    def __bool__(self):
        return False

    def __str__(self):
        return ""

    def __eq__(self, other):
        return isinstance(other, _Undefined)

    def __hash__(self):
        return 0


class _JsonObject(dict):
    """A JSON object as Jinja sees it: ``x.key`` is the attribute if there is one (``get``), else the item."""

    def __init__(self, data, on_undefined):
        super().__init__(data)
        self._on_undefined = on_undefined

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self:
            return _wrap(self[name], self._on_undefined)
        self._on_undefined(name)
        return _Undefined()


def _wrap(value, on_undefined):
    return _JsonObject(value, on_undefined) if isinstance(value, dict) else value


_WORDS = {"none": "None", "true": "True", "false": "False", "None": "None", "True": "True", "False": "False"}
_ALLOWED_NAMES = {"value", "value_json", "if", "else", "or", "and", "not", "is", "in"}


def _python_expression(expr: str) -> str:
    out = []
    tokens = tokenize.generate_tokens(io.StringIO(expr.strip()).readline)
    previous = None
    for tok in tokens:
        if tok.type == tokenize.OP and tok.string in ("|", "~", "{", "}", "[", "]", ":", "**", "//"):
            raise TemplateUnsupported(f"operator {tok.string!r} in {expr!r}")
        if tok.type == tokenize.NAME:
            word = tok.string
            if word in _WORDS:
                word = _WORDS[word]
            elif not (word in _ALLOWED_NAMES or (previous is not None and previous.string == ".")):
                raise TemplateUnsupported(f"name {word!r} in {expr!r}")
            out.append((tok.type, word))
        elif tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER):
            continue
        else:
            out.append((tok.type, tok.string))
        previous = tok
    return tokenize.untokenize(out)


def render(template: str, payload: bytes) -> tuple[str, list[str]]:
    """Render an MQTT value template as Home Assistant does; returns (text, undefined names used)."""
    if "{%" in template or "{#" in template:
        raise TemplateUnsupported(f"statements in {template!r}")
    undefined: list[str] = []
    value = payload.decode("utf-8", "replace")
    try:
        value_json: Any = _wrap(json.loads(value), undefined.append)
    except ValueError:
        value_json = _Undefined()
    names = {"value": value, "value_json": value_json}
    parts, pos = [], 0
    for m in re.finditer(r"\{\{(.*?)\}\}", template, re.S):
        parts.append(template[pos:m.start()])
        result = eval(_python_expression(m.group(1)), {"__builtins__": {}}, names)  # our own configs only
        parts.append(str(result))
        pos = m.end()
    parts.append(template[pos:])
    return "".join(parts).strip(), undefined


# ---------------------------------------------------------------- the model


@dataclass
class Entity:
    component: str
    object_id: str
    config: dict
    state: Any = UNKNOWN
    available: dict[str, bool] = field(default_factory=dict)
    fired: int = 0  # device triggers: how often they fired

    @property
    def availability(self) -> list[dict]:
        return list(self.config.get("availability") or [])

    def is_available(self) -> bool:
        entries = self.availability
        if not entries:
            return True
        values = [self.available.get(e["topic"], False) for e in entries]
        mode = self.config.get("availability_mode", "latest")
        return all(values) if mode == "all" else any(values)

    def shown(self) -> Any:
        """What the dashboard shows: ``unavailable``, ``unknown`` or the state."""
        return self.state if self.is_available() else UNAVAILABLE


class HomeAssistantModel:
    """The entities a release of Home Assistant makes of these discovery messages, fed with state messages."""

    def __init__(self, release: Release, discovery: list[tuple[str, bytes]], device_name: str | None = None):
        self.release = release
        self.problems: list[str] = []
        self.entities: dict[str, Entity] = {}
        self.triggers: dict[str, Entity] = {}
        self._by_topic: dict[str, str] = {}  # discovery topic -> key in entities or triggers
        self._device_name = device_name
        for topic, payload in discovery:
            self._discover(topic, payload, device_name)

    def discover(self, topic: str, payload: bytes) -> None:
        """A discovery message arriving later: a re-sent config updates its entity (the state is kept),
        an empty payload removes it, as Home Assistant's discovery does."""
        self._discover(topic, payload, self._device_name)

    def _problem(self, text: str) -> None:
        self.problems.append(f"HA {self.release.name}: {text}")

    # ------------------------------------------------------------ discovery

    def _discover(self, topic: str, payload: bytes, device_name: str | None) -> None:
        parts = topic.split("/")
        if len(parts) != 5 or parts[-1] != "config":
            self._problem(f"{topic}: not a discovery topic <prefix>/<component>/<node>/<object>/config")
            return
        _, component, _, object_id, _ = parts
        table = self.triggers if component == "device_automation" else self.entities
        key = object_id if component == "device_automation" else f"{component}.{object_id}"
        previous = table.pop(key, None) if topic in self._by_topic else None  # a re-sent config: an update
        if not payload:  # a retained config cleared: Home Assistant removes the entity
            if previous is None:
                self._problem(f"{topic}: an empty config for an entity that was never discovered")
            self._by_topic.pop(topic, None)
            return
        try:
            cfg = json.loads(payload)
        except ValueError:
            self._problem(f"{topic}: not JSON")
            return
        self._by_topic[topic] = key
        if component == "device_automation":
            self._check_trigger(topic, cfg)
            self.triggers[key] = Entity(component, object_id, cfg, fired=previous.fired if previous else 0)
            return
        if component not in _OPTIONS:
            self._problem(f"{topic}: component {component!r} is not one we know the rules of")
            return
        unknown = set(cfg) - _COMMON - _OPTIONS[component]
        if unknown:
            self._problem(f"{topic}: options {sorted(unknown)} are dropped by the {component} schema")
        for k in ("unique_id", "name", "device"):
            if k not in cfg:
                self._problem(f"{topic}: no {k}")
        name = str(cfg.get("name") or "")
        dev_name = device_name or (cfg.get("device") or {}).get("name")
        if dev_name and name.lower().startswith(str(dev_name).lower()):
            self._problem(f"{topic}: entity name {name!r} starts with the device name (HA warns and strips it)")
        if cfg.get("availability_mode", "latest") not in ("all", "any", "latest"):
            self._problem(f"{topic}: availability_mode {cfg['availability_mode']!r}")
        for entry in cfg.get("availability") or []:
            if "topic" not in entry:
                self._problem(f"{topic}: availability entry without topic")
        category = cfg.get("entity_category")
        if category is not None and category not in ("config", "diagnostic"):
            self._problem(f"{topic}: entity_category {category!r}")
        if category == "config" and component == "sensor":
            self._problem(f"{topic}: a sensor's entity_category must be diagnostic (HA refuses config)")
        getattr(self, f"_check_{component}")(topic, cfg)
        if any(e.config.get("unique_id") == cfg.get("unique_id") for e in self.entities.values()):
            self._problem(f"{topic}: unique_id {cfg.get('unique_id')!r} used twice")
        entity = Entity(component, object_id, cfg)
        if previous is not None:
            entity.state, entity.available, entity.fired = previous.state, previous.available, previous.fired
        self.entities[key] = entity

    def _check_trigger(self, topic: str, cfg: dict) -> None:
        unknown = set(cfg) - _TRIGGER_OPTIONS
        if unknown:
            self._problem(f"{topic}: trigger options {sorted(unknown)} are not allowed")
        if cfg.get("automation_type") != "trigger" or not cfg.get("topic") or not cfg.get("type") \
                or not cfg.get("subtype") or not cfg.get("device"):
            self._problem(f"{topic}: a device trigger needs automation_type trigger, topic, type, subtype, device")
        pair = (cfg.get("type"), cfg.get("subtype"))
        if any((t.config.get("type"), t.config.get("subtype")) == pair for t in self.triggers.values()):
            self._problem(f"{topic}: trigger {pair} twice on one device")

    def _check_binary_sensor(self, topic, cfg):
        self._needs(topic, cfg, "state_topic")

    def _check_sensor(self, topic, cfg):
        self._needs(topic, cfg, "state_topic")
        dc = cfg.get("device_class")
        if dc is not None and dc not in _SENSOR_CLASSES:
            self._problem(f"{topic}: device_class {dc!r} unknown to this checker")
        sc = cfg.get("state_class")
        if sc is not None and sc not in _STATE_CLASSES:
            self._problem(f"{topic}: state_class {sc!r}")
        if dc in _NON_NUMERIC and (sc or cfg.get("unit_of_measurement")):
            self._problem(f"{topic}: a {dc} sensor cannot have a state_class or unit")
        if dc == "temperature" and cfg.get("unit_of_measurement") not in ("°C", "°F", "K"):
            self._problem(f"{topic}: temperature unit {cfg.get('unit_of_measurement')!r}")

    def _check_switch(self, topic, cfg):
        self._needs(topic, cfg, "command_topic")

    def _check_button(self, topic, cfg):
        self._needs(topic, cfg, "command_topic")

    def _check_number(self, topic, cfg):
        self._needs(topic, cfg, "command_topic")
        lo, hi, step = cfg.get("min", 1), cfg.get("max", 100), cfg.get("step", 1)
        if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo < hi):
            self._problem(f"{topic}: min {lo!r} must be below max {hi!r}")
        if not (isinstance(step, (int, float)) and step > 0):
            self._problem(f"{topic}: step {step!r}")
        if cfg.get("mode", "auto") not in ("auto", "box", "slider"):
            self._problem(f"{topic}: mode {cfg['mode']!r}")

    def _check_event(self, topic, cfg):
        self._needs(topic, cfg, "state_topic")
        types = cfg.get("event_types")
        if not (isinstance(types, list) and types and all(isinstance(t, str) for t in types)):
            self._problem(f"{topic}: event_types must be a non-empty list of strings")

    def _check_image(self, topic, cfg):
        if ("image_topic" in cfg) == ("url_topic" in cfg):
            self._problem(f"{topic}: exactly one of image_topic and url_topic")
        if "url_topic" in cfg and "content_type" in cfg:
            self._problem(f"{topic}: content_type cannot go with url_topic")
        if "image_topic" in cfg and not str(cfg.get("content_type", "image/jpeg")).startswith("image/"):
            self._problem(f"{topic}: content_type {cfg.get('content_type')!r}")

    def _needs(self, topic, cfg, key):
        if not cfg.get(key):
            self._problem(f"{topic}: no {key}")

    # ------------------------------------------------------------ state messages

    def feed(self, topic: str, payload: bytes) -> None:
        """One message as Home Assistant receives it (retained or not)."""
        for entity in self.entities.values():
            for entry in entity.availability:
                if entry.get("topic") == topic:
                    self._availability(entity, entry, payload)
            cfg = entity.config
            if entity.component == "image":
                if cfg.get("image_topic") == topic:
                    self._image(entity, payload)
            elif cfg.get("state_topic") == topic:
                self._state(entity, topic, payload)
        for trigger in self.triggers.values():
            if trigger.config.get("topic") == topic:
                text = self._rendered(trigger, topic, payload)
                if text is not None and text == trigger.config.get("payload", text):
                    trigger.fired += 1

    def _rendered(self, entity: Entity, topic: str, payload: bytes, template: str | None = None) -> str | None:
        template = template if template is not None else entity.config.get("value_template")
        if template is None:
            return payload.decode("utf-8", "replace")
        try:
            text, undefined = render(template, payload)
        except TemplateUnsupported as exc:
            self._problem(f"{entity.object_id}: template not understood: {exc}")
            return None
        except Exception as exc:  # what Home Assistant logs as a template error
            self._problem(f"{entity.object_id}: template error on {topic} ({type(exc).__name__}: {exc})")
            return None
        for name in undefined:
            self._problem(f"{entity.object_id}: template variable warning: no {name!r} in {payload[:80]!r}")
        return text

    def _availability(self, entity: Entity, entry: dict, payload: bytes) -> None:
        text = self._rendered(entity, entry["topic"], payload, entry.get("value_template", "{{ value }}"))
        if text is None:
            return
        if text == entry.get("payload_available", "online"):
            entity.available[entry["topic"]] = True
        elif text == entry.get("payload_not_available", "offline"):
            entity.available[entry["topic"]] = False
        elif payload:  # an empty payload is a retained message being cleared
            self._problem(f"{entity.object_id}: availability payload {text!r} is neither available nor not")

    def _state(self, entity: Entity, topic: str, payload: bytes) -> None:
        if entity.component == "event":
            self._event(entity, payload)
            return
        text = self._rendered(entity, topic, payload)
        if text is None:
            return
        getattr(self, f"_state_{entity.component}")(entity, text, payload)

    def _state_sensor(self, entity: Entity, text: str, payload: bytes) -> None:
        cfg = entity.config
        dc = cfg.get("device_class")
        numeric = dc not in _NON_NUMERIC and bool(cfg.get("state_class") or cfg.get("unit_of_measurement")
                                                  or "suggested_display_precision" in cfg or dc)
        if text == "None" and (numeric or self.release.none_is_unknown_for_every_sensor):
            entity.state = UNKNOWN
            return
        if numeric:
            if text == "":
                return
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                self._problem(f"{entity.object_id}: numeric sensor got the non-numeric value {text!r}")
                return
            entity.state = number
            return
        if dc in (None, "enum"):
            if text == "None":
                self._problem(f"{entity.object_id}: shows the text 'None'")
            if dc == "enum" and text not in (cfg.get("options") or []):
                self._problem(f"{entity.object_id}: {text!r} is not one of the enum options")
            entity.state = text
            return
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            self._problem(f"{entity.object_id}: Invalid state message {payload[:80]!r} (rendered {text!r})")
            entity.state = UNKNOWN
            return
        if dc == "timestamp" and when.tzinfo is None:
            self._problem(f"{entity.object_id}: timestamp {text!r} without a time zone")
            return
        entity.state = when

    def _state_binary_sensor(self, entity: Entity, text: str, payload: bytes) -> None:
        cfg = entity.config
        if not text:
            return
        if text == cfg.get("payload_on", "ON"):
            entity.state = "on"
        elif text == cfg.get("payload_off", "OFF"):
            entity.state = "off"
        elif text == "None":
            entity.state = UNKNOWN
        else:
            self._problem(f"{entity.object_id}: no matching payload for {text!r}")

    def _state_switch(self, entity: Entity, text: str, payload: bytes) -> None:
        cfg = entity.config
        if text == cfg.get("state_on", cfg.get("payload_on", "ON")):
            entity.state = "on"
        elif text == cfg.get("state_off", cfg.get("payload_off", "OFF")):
            entity.state = "off"
        elif text == "None":
            entity.state = UNKNOWN
        else:
            self._problem(f"{entity.object_id}: switch state {text!r} matches neither state_on nor state_off")

    def _state_number(self, entity: Entity, text: str, payload: bytes) -> None:
        cfg = entity.config
        if text == cfg.get("payload_reset", "None"):
            entity.state = UNKNOWN
            return
        try:
            number = int(text) if text.isnumeric() else float(text)
        except ValueError:
            self._problem(f"{entity.object_id}: payload {text!r} is not a Number")
            return
        if not cfg.get("min", 1) <= number <= cfg.get("max", 100):
            self._problem(f"{entity.object_id}: invalid value {number} (range {cfg.get('min', 1)}-{cfg.get('max', 100)})")
            return
        entity.state = number

    def _event(self, entity: Entity, payload: bytes) -> None:
        try:
            data = json.loads(payload)
        except ValueError:
            self._problem(f"{entity.object_id}: event payload is not JSON")
            return
        if not isinstance(data, dict) or data.get("event_type") not in entity.config.get("event_types", []):
            self._problem(f"{entity.object_id}: event_type {data.get('event_type') if isinstance(data, dict) else data!r} "
                          "not announced")
            return
        entity.fired += 1
        entity.state = data["event_type"]

    def _image(self, entity: Entity, payload: bytes) -> None:
        if not payload:
            return
        if entity.config.get("content_type") == "image/png" and not payload.startswith(PNG_SIGNATURE):
            self._problem(f"{entity.object_id}: image/png payload is not a PNG")
            return
        entity.state = len(payload)
        entity.fired += 1
