"""Helpers for the MQTT tests: a real paho subscriber, configs, the core's sending path, and a command-echo service.

The subscriber is what a Home Assistant or Node-RED user sees: it records every
message with its topic, payload and retain flag.  Waiting helpers poll with a
generous timeout; no test asserts how long anything took.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from service import config as cfg
from service import events as ev
from service.mqtt import discovery
from service.mqtt.episodes import EpisodeTracker

WAIT_S = 20.0  # generous: a shared 2-core box may be slow; nothing asserts on time


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def make_config(broker=None, state_dir: Path | None = None, device_id: str = "bed1", extra: str = "",
                mqtt_extra: str = "", legs: tuple[str, ...] = ()) -> cfg.Config:
    """A validated configuration pointing at ``broker`` (TOML text, as a user would write it)."""
    lines = [f'[device]\nid = "{device_id}"\nname = "Bed {device_id}"']
    mqtt = []
    if broker is not None:
        mqtt += [f'host = "{broker.host}"', f"port = {broker.port}"]
    if mqtt_extra:
        mqtt.append(mqtt_extra)
    lines.append("[mqtt]\n" + "\n".join(mqtt))
    if state_dir is not None:
        lines.append(f'[storage]\nstate_dir = "{state_dir}"')
    if extra:
        lines.append(extra)
    for leg in legs:
        lines.append(f'[[legs]]\nname = "{leg}"')
    return cfg.parse("\n".join(lines) + "\n", source="<test>")


def write_config(directory: Path, broker, state_dir: Path, device_id: str = "bed1", legs: tuple[str, ...] = ()) -> Path:
    """A configuration file for the command line or a child process, pointing at ``broker``."""
    path = Path(directory) / f"{device_id}.toml"
    text = (f'[device]\nid = "{device_id}"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
            f'[storage]\nstate_dir = "{state_dir}"\n')
    text += "".join(f'[[legs]]\nname = "{leg}"\n' for leg in legs)
    path.write_text(text)
    return path


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    dup: bool = False  # the broker re-sent it to this subscriber (its own QoS 1 hop), not a new publish

    def json(self):
        return json.loads(self.payload)


class Subscriber:
    """A real paho client subscribed to ``topics``; records what arrives.

    ``persistent=True`` uses a fixed client id and a persistent session, so a
    broker with persistence keeps its QoS 1 messages while it is away.
    """

    def __init__(self, host: str, port: int, topics=("#",), client_id: str | None = None,
                 persistent: bool = False, tls_ca: str | None = None, username: str | None = None,
                 password: str | None = None):
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._topics = list(topics)
        self._subscribed = threading.Event()
        self.subscriptions = 0  # SUBACKs received: one more after each reconnect
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"test-sub-{id(self)}",
                                  protocol=paho.MQTTv311, clean_session=not persistent)
        if username:
            self.client.username_pw_set(username, password)
        if tls_ca:
            self.client.tls_set(ca_certs=str(tls_ca))
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        assert self._subscribed.wait(WAIT_S), "subscriber could not subscribe"

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            client.subscribe([(t, 1) for t in self._topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.subscriptions += 1
        self._subscribed.set()

    def _on_message(self, client, userdata, message):
        with self._lock:
            self.messages.append(Received(message.topic, bytes(message.payload), bool(message.retain),
                                          bool(message.dup)))

    def on(self, topic: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, predicate: Callable[["Subscriber"], bool], timeout: float = WAIT_S) -> bool:
        return wait_until(lambda: predicate(self), timeout)

    def wait_count(self, topic: str, n: int, timeout: float = WAIT_S) -> list[Received]:
        self.wait_for(lambda s: len(s.on(topic)) >= n, timeout)
        return self.on(topic)

    def wait_payload(self, topic: str, payload: bytes, timeout: float = WAIT_S) -> bool:
        return self.wait_for(lambda s: any(m.payload == payload for m in s.on(topic)), timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publisher(host: str, port: int) -> paho.Client:
    """A plain client that publishes commands, as Home Assistant would."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{time.monotonic_ns()}",
                         protocol=paho.MQTTv311)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set()
    client.connect(host, port, keepalive=30)
    client.loop_start()
    assert connected.wait(WAIT_S)
    return client


def retain(broker, base: str, items) -> None:
    """Leave ``(topic suffix, payload)`` retained under ``base`` on the broker (an empty payload clears one)."""
    pub = publisher(broker.host, broker.port)
    for suffix, payload in items:
        pub.publish(f"{base}/{suffix}", payload, qos=1, retain=True).wait_for_publish(WAIT_S)
    pub.disconnect()
    pub.loop_stop()


WALL0 = datetime(2026, 11, 25, 2, 30, tzinfo=timezone(timedelta(hours=1)))


def stamped(type_: str, t: float, episode_id: str | None = None, leg: str = "leg", event_id: str | None = None,
            **fields) -> ev.StampedEvent:
    """An event at sample time ``t``, stamped as the daemon would (wall = WALL0 + t)."""
    wall = (WALL0 + timedelta(seconds=t)).isoformat(timespec="milliseconds")
    return ev.StampedEvent(event_id or ev.new_id(), wall, ev.Event(type_, t, leg, episode_id, fields))


def episode(t0: float, minutes: float, leg: str = "leg", update_s: float = 15.0) -> list[ev.StampedEvent]:
    """A full cramp episode as the alert policy produces it: start, prompts, updates, end."""
    eid = ev.new_id()
    out = [stamped(ev.CRAMP_START, t0, eid, leg, onset=t0 - 8.0, intensity=0.42, room_temp_c=17.2),
           stamped(ev.WARM_COMPRESS, t0, eid, leg, room_temp_c=17.2, hint="the room is cold"),
           stamped(ev.STRETCH_PROMPT, t0 + 10, eid, leg, stretch="calf", hold_s=30.0)]
    t = t0 + update_s
    while t < t0 + minutes * 60:
        out.append(stamped(ev.CRAMP_UPDATE, t, eid, leg, intensity=0.3))
        t += update_s
    out.append(stamped(ev.CRAMP_END, t0 + minutes * 60, eid, leg, duration_s=minutes * 60 + 8.0))
    return out


class EventSender:
    """What the daemon's core does around a bridge, without the rest of the service.

    At start it sets the retained messages the core sets (discovery, cramp
    topics OFF); :meth:`event` builds an event's messages with an
    :class:`EpisodeTracker` (pure) and hands them to the bridge.  Thread-safe:
    tests also send from paho's thread (:class:`EchoHandler`).
    """

    def __init__(self, bridge, config):
        self.bridge = bridge
        self.episodes = EpisodeTracker.from_config(config)
        self._lock = threading.Lock()
        bridge.set_retained([*discovery.from_config(config), *self.episodes.initial_retained()])

    def event(self, stamped_event: ev.StampedEvent) -> list[int]:
        """Send one event as the core does: outbox messages first, then any retained cramp change."""
        with self._lock:
            built = self.episodes.messages(stamped_event)
            seqs = self.bridge.send(stamped_event.event_id, built.outbox, built.priority, stamped_event.wall_time,
                                    volatile=built.volatile)  # cramp updates: memory only, as the core does
            self.bridge.set_retained(built.retained)
        return seqs


class EchoHandler:
    """A stand-in for the daemon's command handling: records commands and answers test_alert.

    It answers ``test_alert`` with a ``test_alert`` event echoing the request
    id, as the daemon does (through ``sender``, an :class:`EventSender`).
    """

    def __init__(self):
        self.sender: EventSender | None = None
        self.commands = []
        self._lock = threading.Lock()

    def __call__(self, command) -> None:
        with self._lock:
            self.commands.append(command)
        if self.sender is not None and command.name == "test_alert":
            self.sender.event(stamped(ev.TEST_ALERT, 0.0, request_id=command.request_id))

    def count(self) -> int:
        with self._lock:
            return len(self.commands)
