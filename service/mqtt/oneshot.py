"""One-shot MQTT clients: connect, do one thing, disconnect (as paho keeps ``publish.py`` apart from ``client.py``).

* :func:`check_broker` (``nightcramp doctor``): connect once and say plainly what is wrong;
* :func:`request_test_alert` (``nightcramp test-alert``): ask the running service for a test alert;
* :func:`forget_device` (``nightcramp forget``, run by ``scripts/uninstall``): remove the
  device from Home Assistant and clear its retained topics;
* :class:`Watcher` (``nightcramp demo``): a plain subscriber on the private broker.

Each uses its own client id, so the running service is never kicked off the broker.
The service's long-lived connection is :class:`service.mqtt.client.MQTTBridge`.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
import uuid
from typing import Callable, Iterable, Sequence

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from firmware.errors import ConfigError
from service.mqtt import commands as cmds
from service.mqtt import messages as msgs
from service.mqtt.connection import make_client
from service.mqtt.discovery import discovery_removal
from service.mqtt.messages import Topics

log = logging.getLogger(__name__)


def _connect_blocking(config, client_id: str, timeout: float) -> tuple[paho.Client | None, str]:
    """Connect and wait for the CONNACK; return (client, "") or (None, a plain explanation)."""
    m = config.mqtt
    if not m.host:
        return None, "no broker configured (mqtt.host is empty)"
    where = f"{m.host}:{m.port}"
    try:
        client = make_client(config, client_id)
    except ConfigError as exc:
        return None, str(exc)
    result: dict[str, object] = {}
    done = threading.Event()

    def on_connect(c, ud, flags, reason_code, props):
        result["rc"] = reason_code
        done.set()

    def on_disconnect(c, ud, flags, reason_code, props):
        result.setdefault("closed", reason_code)
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect(m.host, m.port, keepalive=max(5, int(timeout) * 2))
    except ssl.SSLCertVerificationError as exc:
        return None, (f"TLS: the certificate of {where} is not trusted ({exc.verify_message}); "
                      "check mqtt.ca_file and that the host name matches the certificate")
    except ssl.SSLError as exc:
        return None, (f"TLS handshake with {where} failed ({exc.reason or exc}); is this a TLS port "
                      "(usually 8883) and are mqtt.cert_file/key_file right?")
    except socket.gaierror:
        return None, f"cannot resolve the broker host name {m.host!r} (mqtt.host)"
    except ConnectionRefusedError:
        return None, f"nothing listens on {where} (is the broker running? is mqtt.port right?)"
    except (TimeoutError, socket.timeout):
        return None, f"no answer from {where} within {timeout:g} s"
    except OSError as exc:
        return None, f"cannot connect to {where}: {exc.strerror or exc}"
    deadline = time.monotonic() + timeout
    try:
        while not done.is_set() and time.monotonic() < deadline:
            client.loop(timeout=0.1)
    except OSError as exc:
        return None, f"connection to {where} failed: {exc}"
    rc = result.get("rc")
    problem = ""
    if rc is None:
        if "closed" in result:
            hint = " (is it a TLS port? set mqtt.tls = true)" if not m.tls else ""
            problem = f"{where} closed the connection before answering{hint}"
        else:
            problem = f"no MQTT answer from {where} within {timeout:g} s"
    elif rc.is_failure:
        if str(rc) in ("Bad user name or password", "Not authorized"):
            problem = f"{where} refused the login: {rc} (check mqtt.username and mqtt.password/password_file)"
        else:
            problem = f"{where} refused the connection: {rc}"
    if problem:
        try:
            client.disconnect()
        except OSError:
            pass
        return None, problem
    client.on_connect = None
    client.on_disconnect = None
    return client, ""


def check_broker(config, timeout: float = 5.0) -> tuple[bool, str]:
    """Connect once with the configured credentials and TLS; say plainly what went wrong (for ``doctor``).

    Uses its own client id (``<client_id>-check``) so a running service is not kicked off.
    """
    client, problem = _connect_blocking(config, f"{config.client_id}-check", timeout)
    if client is None:
        return False, problem
    client.disconnect()
    m = config.mqtt
    tls = "TLS" if m.tls else "no TLS"
    return True, f"connected to {m.host}:{m.port} ({tls}, {'as ' + m.username if m.username else 'anonymous'})"


RETAINED_STATUS_WAIT_S = 0.5  # a retained status arrives right after the SUBACK; none at all: go on


def _ask(config, name: str, command: msgs.Message, accept, timeout: float,
         check_offline: bool) -> tuple[dict | None, str | None, list[str]]:
    """Publish ``command`` and wait up to ``timeout`` s for an event on ``<base>/event`` that ``accept`` takes.

    Returns (the event or None, a problem that ended the wait early or None, the retained statuses seen).
    With ``check_offline`` a retained "offline" status ends the wait at once: nobody would answer.
    """
    topics = msgs.Topics.from_config(config)
    client, problem = _connect_blocking(config, f"{config.client_id}-{name}-{uuid.uuid4().hex[:8]}", timeout)
    if client is None:
        return None, problem, []
    status: list[str] = []
    answer: list[dict] = []
    subscribed = threading.Event()
    answered = threading.Event()
    status_seen = threading.Event()

    def on_subscribe(c, ud, mid, reason_codes, props):
        subscribed.set()

    def on_message(c, ud, message):
        if message.topic == topics.status:
            status.append(message.payload.decode("utf-8", "replace"))
            status_seen.set()
            return
        try:
            data = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(data, dict) and accept(data):
            answer.append(data)
            answered.set()

    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.loop_start()
    try:
        client.subscribe([(topics.status, 1), (topics.event, 1)] if check_offline else [(topics.event, 1)])
        if not subscribed.wait(timeout):
            return None, "the broker did not confirm the subscription", status
        if check_offline:
            # The retained status follows the SUBACK at once.  "offline" is the service's last word (or its last
            # will): nobody would answer, so say so now instead of waiting out the timeout.
            status_seen.wait(min(RETAINED_STATUS_WAIT_S, timeout))
            if status and status[-1] == msgs.OFFLINE:
                return None, (f"the nightcramp service is offline (the retained status on {topics.status} says "
                              "so): start it (sudo systemctl start nightcramp) and try again"), status
        client.publish(command.topic, command.payload_bytes(), qos=command.qos, retain=command.retain)
        return (answer[0] if answered.wait(timeout) else None), None, status
    finally:
        client.disconnect()
        client.loop_stop()


def request_test_alert(config, timeout: float = 5.0) -> tuple[bool, str]:
    """Ask the running service for a test alert over MQTT and wait for its ``test_alert`` event.

    Publishes ``{"request_id": ...}`` on ``<base>/cmd/test_alert`` and waits up
    to ``timeout`` seconds for a ``test_alert`` event on ``<base>/event`` that
    echoes the request id (or carries none).  Returns (ok, message).
    """
    topics = msgs.Topics.from_config(config)
    request_id = uuid.uuid4().hex
    command = msgs.Message(topics.command_named(cmds.TEST_ALERT), f'{{"request_id":"{request_id}"}}', qos=1)
    data, problem, status = _ask(
        config, "test", command, timeout=timeout, check_offline=True,
        accept=lambda d: d.get("type") == "test_alert" and d.get("request_id") in (None, request_id))
    if problem:
        return False, problem
    if data is not None:
        return True, f"test alert delivered: event {data.get('event_id')} at {data.get('time')} on {topics.event}"
    state = status[-1] if status else "unknown (no retained status)"
    return False, (f"no nightcramp service answered on {topics.base} within {timeout:g} s "
                   f"(service status: {state}); is `nightcramp run` running with device.id "
                   f"{config.device.id!r}?")


def report_missed_cramp(config, when: str | None = None, leg: str | None = None,
                        timeout: float = 5.0) -> tuple[bool, str]:
    """Tell the running service "that was a cramp" over MQTT and wait for its ``missed_cramp`` event.

    ``when``: ISO 8601 with an offset (None: now); ``leg``: None for the first leg.  Returns (ok, message).
    """
    topics = msgs.Topics.from_config(config)
    request_id = uuid.uuid4().hex
    body = {"request_id": request_id, **({"time": when} if when else {}), **({"leg": leg} if leg else {})}
    command = msgs.Message(topics.command_named(cmds.MISSED_CRAMP), json.dumps(body), qos=1)
    data, problem, _status = _ask(
        config, "label", command, timeout=timeout, check_offline=False,
        accept=lambda d: d.get("type") == cmds.MISSED_CRAMP and d.get("request_id") == request_id)
    if problem:
        return False, problem
    if data is not None:
        return True, f"missed cramp recorded at {data.get('time')} on the {data.get('leg')} leg"
    return False, (f"no nightcramp service answered on {topics.base} within {timeout:g} s; is `nightcramp run` "
                   f"running with device.id {config.device.id!r}?")


def _retained_topics(topics: Topics, legs: Sequence[str]) -> list[str]:
    """Every retained topic the service sets for these legs (besides discovery and the dated logs)."""
    return [topics.status, topics.state, topics.temperature, topics.log_latest, topics.chart,
            *(m.topic for m in msgs.cramp_binary(topics, legs, ()))]


def _ours(topics: Topics, payload: bytes) -> bool:
    """Is this discovery config one of this device's (and not another integration's with the same node id)?"""
    try:
        data = json.loads(payload)
    except ValueError:
        return False
    device = data.get("device") if isinstance(data, dict) else None
    return isinstance(device, dict) and f"nightcramp_{topics.device_id}" in (device.get("identifiers") or [])


def forget_device(config, timeout: float = 5.0, force: bool = False, settle_s: float = 0.5) -> tuple[bool, str]:
    """Take the device out of Home Assistant and clear its retained topics (for ``nightcramp forget``).

    An empty retained payload deletes a retained message, and on a discovery
    topic it makes Home Assistant delete the entity.  Cleared: the discovery
    configs of the configured legs, the retained state topics (status, state,
    temperature, cramp, log/latest, chart) and whatever the broker still holds for
    this device under ``<base>/cramp/+``, ``<base>/log/+`` and its discovery
    node (legs renamed since, one morning log per night).  The broker sends its
    retained messages right after the SUBACK; ``settle_s`` seconds without one
    ends the collection.

    A running service would announce itself again at its next connect, so a
    retained ``online`` status refuses unless ``force``.  Returns (ok, message).
    """
    topics = msgs.Topics.from_config(config)
    legs = [s.name for s in config.accelerometer.sensors]
    client, problem = _connect_blocking(config, f"{config.client_id}-forget-{uuid.uuid4().hex[:8]}", timeout)
    if client is None:
        return False, problem
    node = f"{topics.discovery_prefix}/+/{topics.device_id}/+/config"
    found: dict[str, bytes] = {}
    lock = threading.Lock()
    subscribed = threading.Event()
    last_seen = [time.monotonic()]

    def on_subscribe(c, ud, mid, reason_codes, props):
        last_seen[0] = time.monotonic()
        subscribed.set()

    def on_message(c, ud, message):
        if message.retain and message.payload:
            with lock:
                found[message.topic] = bytes(message.payload)
                last_seen[0] = time.monotonic()

    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.loop_start()
    try:
        client.subscribe([(node, 1), (topics.status, 1), (topics.cramp_leg("+"), 1), (topics.log_night("+"), 1)])
        if not subscribed.wait(timeout):
            return False, "the broker did not confirm the subscription"
        deadline = time.monotonic() + timeout
        while time.monotonic() - last_seen[0] < settle_s and time.monotonic() < deadline:
            time.sleep(0.05)
        with lock:
            held = dict(found)
        if held.get(topics.status) == msgs.ONLINE.encode() and not force:
            return False, (f"the service of device {topics.device_id!r} is online on {topics.base}: stop it first "
                           "(sudo systemctl stop nightcramp), or use --force")
        prefix = topics.discovery_prefix + "/"
        configs = {m.topic for m in discovery_removal(topics, legs)}
        configs |= {t for t, p in held.items() if t.startswith(prefix) and _ours(topics, p)}
        others = set(_retained_topics(topics, legs)) | {t for t in held if not t.startswith(prefix)}
        infos = [client.publish(t, b"", qos=1, retain=True) for t in sorted(configs | others)]
        end = time.monotonic() + timeout
        for info in infos:
            try:
                info.wait_for_publish(max(0.0, end - time.monotonic()))
            except (RuntimeError, ValueError) as exc:
                return False, f"the broker did not take the removal ({exc})"
            if not info.is_published():
                return False, f"the broker did not acknowledge the removal within {timeout:g} s"
        m = config.mqtt
        return True, (f"removed {len(configs)} Home Assistant discovery configs and cleared {len(others)} retained "
                      f"topics of device {topics.device_id!r} on {m.host}:{m.port}")
    finally:
        client.disconnect()
        client.loop_stop()


class Watcher:
    """A plain subscriber (for ``nightcramp demo``): calls ``on_message(topic, payload_bytes)``.

    Anonymous, no TLS, loopback use only; :meth:`stop` disconnects.
    """

    def __init__(self, host: str, port: int, topics: Iterable[str], on_message: Callable[[str, bytes], None],
                 client_id: str = "nightcramp-watch"):
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{client_id}-{uuid.uuid4().hex[:6]}")
        self._topics = [(t, 1) for t in topics]
        self._subscribed = threading.Event()

        def on_connect(c, ud, flags, reason_code, props):
            if not reason_code.is_failure:
                c.subscribe(self._topics)

        def on_subscribe(c, ud, mid, reason_codes, props):
            self._subscribed.set()

        def on_msg(c, ud, message):
            try:
                on_message(message.topic, bytes(message.payload))
            except Exception:  # the printer's bug must not stop the network thread
                log.exception("watcher callback failed")

        self._client.on_connect = on_connect
        self._client.on_subscribe = on_subscribe
        self._client.on_message = on_msg
        self._client.connect(host, port, keepalive=30)
        self._client.loop_start()

    def wait_subscribed(self, timeout: float = 5.0) -> bool:
        return self._subscribed.wait(timeout)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
