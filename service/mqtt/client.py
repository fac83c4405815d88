"""The MQTT bridge: the only module that imports paho.

It sends what :mod:`service.mqtt.messages` builds and hands commands to the daemon.

* Protocol MQTT 3.1.1 with a clean session: every broker users run speaks it
  (amqtt refuses v5), and nightcramp needs no broker-side session: events are
  kept in its own outbox, and a command queued while the service was down (an
  "acknowledge" hours late) is better lost than obeyed.
* paho's network loop runs in its own thread (``loop_start``), reconnecting by
  itself (1 s to 120 s back-off).  A second thread, the pump, publishes the
  outbox in order with QoS 1 and deletes each row on its PUBACK; it also owns
  all outbox writes of acknowledgements, so the network thread never waits on
  SQLite.  At most ``WINDOW`` messages are in paho's hands at once.
* Retained state (availability, state, temperature, cramp ON/OFF, discovery) is
  "latest wins": it is kept in memory and re-sent after every (re)connect and
  when Home Assistant announces ``online``; it never goes through the outbox.
* The client is marked connected only when the broker accepted the CONNECT
  (reason code checked); a refusal is logged with its reason and kept in
  :attr:`MQTTBridge.last_error`.

Callbacks (``on_command``, ``on_delivered``) run in paho's network thread:
they must return quickly (put the command on a queue).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import queue
import ssl
import socket
import threading
import time
import uuid
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Callable, Iterable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from firmware import __version__
from firmware.errors import CommandError, ConfigError
from service.mqtt import commands as cmds
from service.mqtt import messages as msgs
from service.events import StampedEvent
from service.mqtt.outbox import Dropped, Outbox

log = logging.getLogger(__name__)

WINDOW = 100  # outbox messages handed to paho and not yet acknowledged, at most
DELIVERED_REMEMBERED = 10000  # event ids kept for delivered()
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 120
_STOP = ("stop", 0)
_WAKE = ("wake", 0)


def _now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds")


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (credentials never leave the machine)."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def insecure_credentials(config) -> bool:
    """Would a user name or password travel unencrypted to another machine?"""
    m = config.mqtt
    has_credentials = bool(m.username or m.password or m.password_file)
    return bool(m.host) and has_credentials and not m.tls and not is_loopback(m.host)


def _make_client(config, client_id: str) -> paho.Client:
    """A paho client with credentials, TLS and the last will set from the configuration."""
    m = config.mqtt
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311,
                         clean_session=True)
    password = config.mqtt_password()
    if password and not m.username:
        raise ConfigError("mqtt.password: a password needs mqtt.username (MQTT sends no password alone)")
    if m.username:
        client.username_pw_set(m.username, password or None)
    if m.tls:
        for key in ("ca_file", "cert_file", "key_file"):
            path = getattr(m, key)
            if path and not os.access(path, os.R_OK):
                raise ConfigError(f"mqtt.{key}: cannot read {path}")
        try:
            client.tls_set(ca_certs=m.ca_file or None, certfile=m.cert_file or None, keyfile=m.key_file or None,
                           cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(f"mqtt: cannot use the TLS files (ca_file/cert_file/key_file): {exc}") from None
    return client


class _Throttle:
    """Log a warning at most ``burst`` times per ``period_s``, then say how many were held back."""

    def __init__(self, burst: int = 10, period_s: float = 60.0):
        self.burst, self.period_s = burst, period_s
        self._start, self._count, self._held = 0.0, 0, 0
        self._lock = threading.Lock()

    def warn(self, fmt: str, *args) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._start > self.period_s:
                if self._held:
                    log.warning("... %d more like this in the last %.0f s", self._held, self.period_s)
                self._start, self._count, self._held = now, 0, 0
            self._count += 1
            if self._count > self.burst:
                self._held += 1
                return
        log.warning(fmt, *args)


class MQTTBridge:
    """Publishes nightcramp's messages to the configured broker and receives its commands.

    ``on_command(Command)`` is called for every valid command (in paho's thread);
    ``on_delivered(event_id)`` when every message of an event was acknowledged
    by the broker.  Call :meth:`start` once and :meth:`stop` at shutdown.
    """

    def __init__(self, config, outbox: Outbox, on_command: Callable[[cmds.Command], None],
                 on_delivered: Callable[[str], None] | None = None, sw_version: str = __version__):
        self.config = config
        self.topics = msgs.Topics.from_config(config)
        self.legs = tuple(s.name for s in config.accelerometer.sensors)
        self.outbox = outbox
        self.on_command = on_command
        self.on_delivered = on_delivered
        self.last_error: str | None = None
        self._client = _make_client(config, config.client_id)
        self._client.will_set(self.topics.status, msgs.OFFLINE, qos=1, retain=True)
        self._client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._connected = threading.Event()
        self._retained_lock = threading.Lock()
        self._retained: OrderedDict[str, msgs.Message] = OrderedDict()
        self._tracker = msgs.EpisodeTracker(self.topics, self.legs)
        self._event_lock = threading.Lock()  # tracker state and outbox order stay in step
        self._queue: queue.Queue[tuple[str, int]] = queue.Queue()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq (pump thread only)
        self._last_handed = 0  # highest outbox seq handed to paho in this process (pump thread only)
        self._delivered: OrderedDict[str, None] = OrderedDict()
        self._delivered_lock = threading.Lock()
        self._pump_thread: threading.Thread | None = None
        self._started = False
        self._command_warnings = _Throttle()
        self._connect_warnings = _Throttle(burst=3, period_s=600.0)
        outbox.add_drop_listener(self._on_drop)
        if config.mqtt.discovery:
            for m in msgs.discovery(self.topics, config.device.name, self.legs, sw_version):
                self._retained[m.topic] = m
        for m in self._tracker.initial_retained():
            self._retained[m.topic] = m

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect in the background (never blocks, even when the broker is down) and start the pump.

        With no broker configured (``mqtt.host`` empty) nothing connects: events
        are kept in the outbox (bounded) and logged, for a broker added later.
        """
        if self._started:
            return
        self._started = True
        m = self.config.mqtt
        if not m.host:
            log.info("mqtt: no broker configured (mqtt.host is empty): events are kept in the outbox and logged")
            return
        if insecure_credentials(self.config):
            log.warning("mqtt: the user name and password would travel unencrypted to %s; set mqtt.tls = true "
                        "(with mqtt.port = 8883 and mqtt.ca_file)", m.host)
        log.info("mqtt: connecting to %s:%d as %s (TLS %s), base topic %s", m.host, m.port, self.config.client_id,
                 "on" if m.tls else "off", self.topics.base)
        self._client.connect_async(m.host, m.port, keepalive=m.keepalive_s)
        self._client.loop_start()
        self._pump_thread = threading.Thread(target=self._pump, name="mqtt-outbox", daemon=True)
        self._pump_thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Flush the outbox (up to ``timeout`` s while connected), say ``offline`` (retained), disconnect.

        Whatever the broker has not acknowledged stays in the outbox for the next start.
        """
        if not self._started:
            return
        self._started = False
        if not self.config.mqtt.host:
            return
        deadline = time.monotonic() + timeout
        while self._connected.is_set() and len(self.outbox) > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self._queue.put(_STOP)
        if self._pump_thread is not None:
            self._pump_thread.join(timeout)
        if self._connected.is_set():
            info = self._client.publish(self.topics.status, msgs.OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.debug("mqtt: offline status not confirmed before disconnect")
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()
        log.info("mqtt: disconnected")

    @property
    def connected(self) -> bool:
        """True only while the broker has accepted our CONNECT."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # ------------------------------------------------------------ publishing

    def publish_event(self, stamped: StampedEvent) -> list[int]:
        """Commit an event's messages to the outbox, then publish them (QoS 1, in order).

        Returns the outbox sequence numbers.  Episode events also update the
        retained ``<base>/cramp`` topics.  Never blocks on the network.
        """
        with self._event_lock:
            built = self._tracker.messages(stamped)
            seqs = self.outbox.put_many(built.outbox, event_id=stamped.event_id, priority=built.priority,
                                        created=stamped.wall_time)
        if not self.config.mqtt.host:
            log.info("event %s %s (leg %s, episode %s) kept in the outbox: no broker configured",
                     stamped.event.type, stamped.event_id, stamped.event.leg, stamped.event.episode_id)
        self._wake()
        if built.retained:
            self.publish_retained(built.retained)
        return seqs

    def enqueue(self, messages: Iterable[msgs.Message], event_id: str | None = None,
                priority: int = msgs.PRIORITY_NORMAL) -> list[int]:
        """Commit any messages to the outbox and publish them (the morning log goes this way)."""
        seqs = self.outbox.put_many(list(messages), event_id=event_id, priority=priority)
        self._wake()
        return seqs

    def publish_log(self, night_date: str, log_dict: dict) -> list[int]:
        """The morning log, retained on ``log/latest`` and ``log/<night_date>``, through the outbox."""
        return self.enqueue(msgs.morning_log(self.topics, night_date, log_dict), event_id=f"log-{night_date}")

    def publish_retained(self, message: msgs.Message | Iterable[msgs.Message]) -> None:
        """Publish state-like messages: latest wins, re-sent after each reconnect, not through the outbox."""
        batch = [message] if isinstance(message, msgs.Message) else list(message)
        with self._retained_lock:
            for m in batch:
                self._retained[m.topic] = m
                self._retained.move_to_end(m.topic)
            if self._connected.is_set():
                for m in batch:
                    self._client.publish(m.topic, m.payload_bytes(), qos=m.qos, retain=m.retain)

    def publish_state(self, state: msgs.ServiceState) -> None:
        self.publish_retained(msgs.state(self.topics, state))

    def publish_temperature(self, temp_c: float, time_iso: str, humidity_pct: float | None = None,
                            sensor: str | None = None) -> None:
        self.publish_retained(msgs.temperature(self.topics, temp_c, time_iso, humidity_pct, sensor))

    def delivered(self, event_id: str) -> bool:
        """Has the broker acknowledged every message of this event (in this process)?"""
        with self._delivered_lock:
            return event_id in self._delivered

    def _wake(self) -> None:
        if self._pump_thread is not None:
            self._queue.put(_WAKE)

    # ------------------------------------------------------------ paho callbacks (network thread)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        m = self.config.mqtt
        if reason_code.is_failure:
            self._connected.clear()
            self.last_error = f"broker {m.host}:{m.port} refused the connection: {reason_code}"
            self._connect_warnings.warn("mqtt: %s (check mqtt.username and the password)", self.last_error)
            return
        self.last_error = None
        log.info("mqtt: connected to %s:%d", m.host, m.port)
        client.subscribe([(t, 1) for t in (*self.topics.command_subscriptions, self.topics.ha_status)])
        with self._retained_lock:
            self._connected.set()
            client.publish(self.topics.status, msgs.ONLINE, qos=1, retain=True)
            self._resend_retained_locked()
        self._queue.put(_WAKE)

    def _resend_retained_locked(self) -> None:
        for m in self._retained.values():
            self._client.publish(m.topic, m.payload_bytes(), qos=m.qos, retain=m.retain)

    def _on_connect_fail(self, client, userdata) -> None:
        m = self.config.mqtt
        self.last_error = f"cannot reach the broker at {m.host}:{m.port}"
        self._connect_warnings.warn("mqtt: %s (retrying; events wait in the outbox)", self.last_error)

    def _on_disconnect(self, client, userdata, disconnect_flags, reason_code, properties) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and self._started:
            log.warning("mqtt: connection lost (%s); reconnecting, events wait in the outbox", reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._queue.put(("ack", mid))

    def _on_message(self, client, userdata, message) -> None:
        topic, payload = message.topic, bytes(message.payload)
        if topic == self.topics.ha_status:
            if payload.strip().lower() == b"online":
                log.info("mqtt: Home Assistant is online: sending discovery again")
                with self._retained_lock:
                    self._resend_retained_locked()
            return
        try:
            command = cmds.parse(self.topics, topic, payload)
        except CommandError as exc:
            self._command_warnings.warn("mqtt: rejected command on %s: %s", topic, exc)
            error = msgs.command_error(self.topics, topic, str(exc), payload, _now_iso())
            client.publish(error.topic, error.payload_bytes(), qos=error.qos, retain=error.retain)
            return
        log.info("mqtt: command %s%s", command.name, f" ({command.minutes} min)" if command.minutes else "")
        try:
            self.on_command(command)
        except Exception:  # a bug in the handler must not kill paho's network thread
            log.exception("mqtt: command handler failed for %s", command.name)

    def _on_drop(self, dropped: Dropped, total: int) -> None:
        notice = msgs.dropped_notice(self.topics, dropped.as_dict(), total)
        if self._connected.is_set():
            self._client.publish(notice.topic, notice.payload_bytes(), qos=notice.qos, retain=notice.retain)

    # ------------------------------------------------------------ the outbox pump (its own thread)

    def _pump(self) -> None:
        while True:
            try:
                items = [self._queue.get(timeout=1.0)]
            except queue.Empty:
                items = []
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                acked = [self._inflight.pop(mid) for kind, mid in items if kind == "ack" and mid in self._inflight]
                if acked:
                    self._mark_delivered(self.outbox.ack_many(acked))
                if _STOP in items:
                    return
                if self._connected.is_set():
                    self._send_pending()
            except Exception:  # keep pumping: the outbox keeps what it has not sent
                log.exception("mqtt: outbox pump error")
                if _STOP in items:
                    return
                time.sleep(1.0)

    def _send_pending(self) -> None:
        room = WINDOW - len(self._inflight)
        if room <= 0:
            return
        for row in self.outbox.pending(limit=room, after_seq=self._last_handed):
            m = row.message
            info = self._client.publish(m.topic, m.payload_bytes(), qos=1, retain=m.retain)
            # NO_CONN: the connection dropped just now; paho keeps the message and sends it on reconnect.
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                log.warning("mqtt: publishing %s failed (%s); will retry", m.topic, paho.error_string(info.rc))
                return
            self._inflight[info.mid] = row.seq
            self._last_handed = row.seq

    def _mark_delivered(self, event_ids: list[str]) -> None:
        with self._delivered_lock:
            for eid in event_ids:
                self._delivered[eid] = None
            while len(self._delivered) > DELIVERED_REMEMBERED:
                self._delivered.popitem(last=False)
        if self.on_delivered is not None:
            for eid in event_ids:
                try:
                    self.on_delivered(eid)
                except Exception:
                    log.exception("mqtt: delivery hook failed")


# ---------------------------------------------------------------- one-shot clients (doctor, test-alert)


def _connect_blocking(config, client_id: str, timeout: float) -> tuple[paho.Client | None, str]:
    """Connect and wait for the CONNACK; return (client, "") or (None, a plain explanation)."""
    m = config.mqtt
    if not m.host:
        return None, "no broker configured (mqtt.host is empty): events stay in the outbox"
    where = f"{m.host}:{m.port}"
    try:
        client = _make_client(config, client_id)
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


def request_test_alert(config, timeout: float = 5.0) -> tuple[bool, str]:
    """Ask the running service for a test alert over MQTT and wait for its ``test_alert`` event.

    Publishes ``{"request_id": ...}`` on ``<base>/cmd/test_alert`` and waits up
    to ``timeout`` seconds for a ``test_alert`` event on ``<base>/event`` that
    echoes the request id (or carries none).  Returns (ok, message).
    """
    topics = msgs.Topics.from_config(config)
    client, problem = _connect_blocking(config, f"{config.client_id}-test-{uuid.uuid4().hex[:8]}", timeout)
    if client is None:
        return False, problem
    request_id = uuid.uuid4().hex
    status: list[str] = []
    answer: list[dict] = []
    subscribed = threading.Event()
    answered = threading.Event()

    def on_subscribe(c, ud, mid, reason_codes, props):
        subscribed.set()

    def on_message(c, ud, message):
        if message.topic == topics.status:
            status.append(message.payload.decode("utf-8", "replace"))
            return
        try:
            data = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(data, dict) and data.get("type") == "test_alert" and data.get("request_id") in (None, request_id):
            answer.append(data)
            answered.set()

    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.loop_start()
    try:
        client.subscribe([(topics.status, 1), (topics.event, 1)])
        if not subscribed.wait(timeout):
            return False, "the broker did not confirm the subscription"
        command = msgs.Message(topics.command_named(cmds.TEST_ALERT), f'{{"request_id":"{request_id}"}}', qos=1)
        client.publish(command.topic, command.payload_bytes(), qos=command.qos)
        if answered.wait(timeout):
            data = answer[0]
            return True, (f"test alert delivered: event {data.get('event_id')} at {data.get('time')} "
                          f"on {topics.event}")
        state = status[-1] if status else "unknown (no retained status)"
        return False, (f"no nightcramp service answered on {topics.base} within {timeout:g} s "
                       f"(service status: {state}); is `nightcramp run` running with device.id "
                       f"{config.device.id!r}?")
    finally:
        client.disconnect()
        client.loop_stop()


class Watcher:
    """A plain subscriber (for ``nightcramp demo``): calls ``on_message(topic, payload_bytes)``.

    Anonymous, no TLS, loopback use only; :meth:`stop` disconnects.
    """

    def __init__(self, host: str, port: int, topics: Iterable[str], on_message: Callable[[str, bytes], None],
                 client_id: str = "nightcramp-watch"):
        self._client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"{client_id}-{uuid.uuid4().hex[:6]}")
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
