"""The Home Assistant examples in docs/examples: they load, and each uses the keys of the syntax it claims.

Home Assistant 2024.10 renamed ``trigger:``/``action:`` to ``triggers:``/``actions:`` and
``platform:`` (in a trigger) to ``trigger:``; 2024.8 renamed ``service:`` (in an action) to
``action:``.  2024.3 refuses the new keys ("extra keys not allowed"); the new releases still
take the old ones, so the blueprint uses the old syntax to work on both.  PyYAML is not a
dependency: support/yaml_subset.py reads the subset the examples use and refuses the rest.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service import events as ev
from service.mqtt import discovery
from service.mqtt import messages as msgs
from support.yaml_subset import Input, YamlSubsetError, load

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"
NEW = EXAMPLES / "home-assistant-automation.yaml"
OLD = EXAMPLES / "home-assistant-automation-pre-2024.10.yaml"
BLUEPRINT = EXAMPLES / "blueprints" / "automation" / "nightcramp" / "cramp_comfort.yaml"
DASHBOARD = EXAMPLES / "home-assistant-dashboard.yaml"


def _walk(node, path=()):
    """Every (path, mapping) in a loaded document."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, (*path, i))


def _trigger_lists(doc):
    for path, node in _walk(doc):
        for key in ("trigger", "triggers", "wait_for_trigger"):
            if isinstance(node.get(key), list):
                yield from node[key]


def _action_items(actions):
    """Every action step, nested ones (choose/sequence) included."""
    for step in actions or []:
        yield step
        for option in step.get("choose") or []:
            yield from _action_items(option.get("sequence"))


def test_the_reader_refuses_what_it_does_not_understand():
    assert load("a: 1\nb:\n  - x: y\n    z: 'q'\n  - w\n") == {"a": 1, "b": [{"x": "y", "z": "q"}, "w"]}
    assert load("t: !input pad\nm: >-\n  one\n  two\n") == {"t": Input("pad"), "m": "one two"}
    for bad in ("a: [1, 2]\n", "a: &x 1\n", "a: 1\na: 2\n", "a:\n   b: 1\n  c: 2\n", "- a\nb: 1\n"):
        with pytest.raises(YamlSubsetError):
            load(bad)


def test_automations_in_the_2024_10_syntax():
    doc = load(NEW.read_text())
    assert isinstance(doc, list) and len(doc) == 3
    for automation in doc:
        assert {"triggers", "actions"} <= set(automation) and not {"trigger", "action"} & set(automation)
        for step in _action_items(automation["actions"]):
            assert "service" not in step
    for trig in _trigger_lists(doc):
        assert trig.get("trigger") == "mqtt" and "platform" not in trig


def test_automations_in_the_syntax_of_2024_3():
    old, new = load(OLD.read_text()), load(NEW.read_text())
    assert [a["id"] for a in old] == [a["id"] for a in new]
    for automation in old:
        assert {"trigger", "action"} <= set(automation) and not {"triggers", "actions"} & set(automation)
        for step in _action_items(automation["action"]):
            assert "action" not in step  # the action: key of a step is 2024.8+
    for trig in _trigger_lists(old):
        assert trig.get("platform") == "mqtt" and "trigger" not in trig


@pytest.mark.parametrize("path", [NEW, OLD, BLUEPRINT], ids=lambda p: p.name)
def test_triggers_listen_for_events_nightcramp_sends(path):
    doc = load(path.read_text())
    triggers = list(_trigger_lists(doc))
    assert triggers
    for trig in triggers:
        assert trig["topic"] in ("nightcramp/bedroom/event", "{{ base }}/event")
        assert trig["value_template"] == "{{ value_json.event_type }}"
        assert trig["payload"] in ev.EVENT_TYPES


def test_the_blueprint_asks_for_pad_speaker_and_light_and_uses_every_input():
    doc = load(BLUEPRINT.read_text())
    bp = doc["blueprint"]
    assert bp["domain"] == "automation" and bp["name"]
    assert bp["homeassistant"]["min_version"] == f"{discovery.OLDEST_HA}.0"
    inputs = bp["input"]
    domains = {name: spec["selector"]["entity"]["domain"] for name, spec in inputs.items()
               if "entity" in (spec.get("selector") or {})}
    assert domains == {"heating_pad": "switch", "light": "light", "speaker": "media_player", "tts_engine": "tts"}
    used = set()

    def collect(node):
        if isinstance(node, Input):
            used.add(node.name)
        elif isinstance(node, dict):
            for v in node.values():
                collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)

    collect({k: v for k, v in doc.items() if k != "blueprint"})
    assert used == set(inputs)
    assert {"trigger", "action"} <= set(doc) and not {"triggers", "actions"} & set(doc)  # works on 2024.3
    for step in _action_items(doc["action"]):
        assert "action" not in step
    for trig in _trigger_lists(doc):
        assert trig.get("platform") == "mqtt"


def _slug(text: str) -> str:
    """Home Assistant's entity id from "<device name> <entity name>" (python-slugify with "_")."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def test_the_dashboard_shows_entities_the_device_has():
    doc = load(DASHBOARD.read_text())
    ids = {f"{m.topic.split('/')[1]}.{_slug('Bedroom ' + __import__('json').loads(m.payload)['name'])}"
           for m in discovery.discovery(msgs.Topics("nightcramp/bedroom", "bedroom"), "Bedroom", ["leg"], "1")
           if "/device_automation/" not in m.topic}
    used = {node["entity"] for _, node in _walk(doc) if isinstance(node.get("entity"), str)}
    assert used and used <= ids, used - ids
    assert "image.bedroom_last_night_s_chart" in used and "number.bedroom_snooze_for" in used
    for _, node in _walk(doc):
        if node.get("action") == "call-service":
            assert node["service"] == "button.press" and node["target"]["entity_id"] in ids
