"""Hypothesis fuzz: 10,000 random command payloads at a running service, through a real mosquitto.

Random bytes, random JSON, near-valid command objects, unicode text and huge
payloads go to every command topic (and unknown ones).  Afterwards the service
must still be connected, answer a valid ``test_alert``, and have answered every
payload exactly once: an error on ``<base>/error`` or a command handled.

The target is the ``command_target`` fixture: the full service (detector,
alert policy, night record, outbox, MQTT bridge) on simulated hardware, in
real time.  ``handled`` counts the commands its core acted on.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.mqtt import commands as cmds
from service.app.daemon import RunOptions, Service
from support.mqtt_helpers import WAIT_S, Subscriber, make_config, publisher, wait_until

TOTAL = 10_000
BATCH = 1_000


@dataclass
class Target:
    host: str
    port: int
    base: str
    handled: Callable[[], int | None]  # valid commands the service acted on so far, or None if unknown
    alive: Callable[[], bool]


@pytest.fixture
def command_target(broker, state_dir):
    """The full service (``nightcramp run --simulate`` in-process, real-time pacing) behind a real mosquitto."""
    config = make_config(broker, state_dir, extra='[night]\nstart = "00:00"\nend = "23:59"\n')
    service = Service(config, RunOptions(simulate=True, seed=1, cramps=0, speed=1.0, duration_s=24 * 3600))
    service.start()
    runner = threading.Thread(target=service.run, name="service-core", daemon=True)
    runner.start()
    assert service.publisher.wait_connected(WAIT_S)
    yield Target(broker.host, broker.port, config.base_topic, lambda: service.core.stats.commands,
                 lambda: runner.is_alive() and service.publisher.connected)
    service.request_stop()
    runner.join(WAIT_S)
    service.stop()


NAMES = (*cmds.COMMANDS, cmds.ARMED)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=16),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=10)
near_valid = st.fixed_dictionaries(
    {"command": st.sampled_from(cmds.COMMANDS) | st.text(max_size=10)},
    optional={"minutes": st.integers(-5, 800) | json_values, "episode_id": st.text(max_size=70) | json_values,
              "request_id": st.text(max_size=70), "extra": json_values})
payloads = st.one_of(
    st.binary(max_size=1200),
    st.text(max_size=200).map(lambda s: s.encode("utf-8")),
    json_values.map(lambda v: json.dumps(v).encode()),
    near_valid.map(lambda v: json.dumps(v).encode()),
    st.integers(1025, 200_000).map(lambda n: b'{"command": "' + b"a" * n + b'"}'),
    st.sampled_from([b"PRESS", b"ON", b"OFF", b"", b"30", b"0", b"721", b"12.5", b"\xff", b"null", b"[]"]),
)
suffixes = st.one_of(st.sampled_from(["", *(f"/{n}" for n in NAMES)]),
                     # Printable only: mosquitto disconnects a client whose topic holds control characters
                     # (MQTT 3.1.1 section 1.5.3), which would test the fuzzing client, not the service.
                     st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF, blacklist_characters="#+/",
                                           blacklist_categories=("Cc", "Cs")),
                             min_size=1, max_size=12).map(lambda s: f"/{s}"))


def certainly_invalid(suffix: str, payload: bytes) -> bool:
    """Payloads no correct service may accept, judged without the parser under test."""
    if len(payload) > cmds.MAX_PAYLOAD_BYTES:
        return True
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return suffix not in ("", *(f"/{n}" for n in NAMES))


def test_random_payloads_never_break_the_service(command_target):
    t = command_target
    sub = Subscriber(t.host, t.port, [f"{t.base}/error", f"{t.base}/event"])
    pub = publisher(t.host, t.port)
    sent: list[tuple[str, bytes]] = []
    start_handled = t.handled()

    def answerable() -> int:
        """Payloads that get an answer: an empty one clears a retained message and is no command at all."""
        return sum(1 for _, p in sent if p != b"")

    def reactions() -> int:
        handled = t.handled()
        return len(sub.on(f"{t.base}/error")) + (handled - start_handled if handled is not None else 0)

    def settle():
        """Wait until every payload sent so far got its answer (errors, handled commands)."""
        if t.handled() is not None:
            assert wait_until(lambda: reactions() >= answerable(), timeout=60), \
                f"{reactions()} reactions to {answerable()} answerable payloads"
        else:
            must = sum(certainly_invalid(s, p) for s, p in sent)
            assert wait_until(lambda: len(sub.on(f"{t.base}/error")) >= must, timeout=60)

    @settings(max_examples=TOTAL, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(suffix=suffixes, payload=payloads)
    def send(suffix, payload):
        pub.publish(f"{t.base}/cmd{suffix}", payload, qos=1)
        sent.append((suffix, payload))
        if len(sent) % BATCH == 0:
            settle()

    send()
    settle()
    assert len(sent) >= TOTAL
    assert t.alive()
    if t.handled() is not None:
        assert reactions() == answerable()  # exactly one answer per payload, none lost, none doubled
    errors = [m.json() for m in sub.on(f"{t.base}/error")]
    assert all(e["error"] and e["topic"].startswith(f"{t.base}/cmd") for e in errors)
    huge = [e for e in errors if e["size"] > cmds.MAX_PAYLOAD_BYTES]
    assert huge and all("too large" in e["error"] for e in huge)
    # still answering valid commands
    pub.publish(f"{t.base}/cmd/test_alert", b'{"request_id": "after-fuzz"}', qos=1)
    assert sub.wait_for(lambda s: any(m.json().get("request_id") == "after-fuzz" for m in s.on(f"{t.base}/event")))
    pub.disconnect()
    sub.close()
