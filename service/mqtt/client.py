"""The MQTT bridge: the service's one long-lived connection to the broker.

It only sends: the application builds every message (:mod:`service.mqtt.messages`,
:mod:`service.mqtt.episodes`, :mod:`service.mqtt.discovery`, all pure) and hands
them over with :meth:`MQTTBridge.send` (an event's messages, through the outbox)
or :meth:`MQTTBridge.set_retained` (state, latest wins).  Commands that arrive
are parsed and handed to the application.  The one-shot clients (``doctor``,
``test-alert``, ``forget``, the demo's watcher) live in :mod:`service.mqtt.oneshot`.

* Protocol MQTT 3.1.1 with a clean session: every broker users run speaks it
  (amqtt refuses v5), and nightcramp needs no broker-side session: events are
  kept in its own outbox, and a command queued while the service was down (an
  "acknowledge" hours late) is better lost than obeyed.
* paho's network loop runs in its own thread (``loop_start``), reconnecting by
  itself every 1, 2, then 3 s while the broker is away, so a queued alert leaves
  within a few seconds of its return; a client id taken over by another
  client (two services with one ``device.id``) is recognised, reported once
  and backed off from (:mod:`service.mqtt.backoff`).  A second thread, the pump, publishes the
  outbox in order with QoS 1 and deletes each row on its PUBACK; it also owns
  all outbox writes of acknowledgements, so the network thread never waits on
  SQLite.  At most ``WINDOW`` messages are in paho's hands at once.
* Retained state (availability, state, temperature, cramp ON/OFF, discovery) is
  "latest wins": it is kept in memory and re-sent after every (re)connect and
  when Home Assistant announces ``online``; it never goes through the outbox.
* The client is marked connected only when the broker accepted the CONNECT
  (reason code checked); a refusal is logged with its reason and kept in
  :attr:`MQTTBridge.last_error`.
* Retained messages on the command topics are never obeyed (a retained
  ``disarm`` would disarm every start and every reconnect), and an empty
  payload is not a command (it is how a retained message is cleared): each
  stale retained command is logged once, as a warning saying how to clear it.
* A bridge needs a broker: with ``mqtt.host`` empty the application makes none,
  and events are kept in the night record only (docs/mqtt.md, "No broker").

Callbacks (``on_command``, ``on_delivered``) run in paho's network thread:
they must return quickly (put the command on a queue).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Callable, Iterable, Sequence

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from firmware.errors import CommandError, ConfigError
from service.mqtt import commands as cmds
from service.mqtt import messages as msgs
from service.mqtt.backoff import TakeoverDetector
from service.mqtt.connection import insecure_credentials, make_client
from service.mqtt.outbox import Dropped, Outbox
from service.mqtt.outboxkeeper import OutboxKeeper

log = logging.getLogger(__name__)

WINDOW = 100  # outbox messages handed to paho and not yet acknowledged, at most
DELIVERED_REMEMBERED = 10000  # event ids kept for delivered()
RETAINED_WARNINGS_REMEMBERED = 1000  # (topic, payload) pairs already warned about
_STOP = ("stop", 0)
_WAKE = ("wake", 0)


def _now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds")


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
    """Sends the application's messages to the configured broker and hands it the commands that arrive.

    ``on_command(Command)`` is called for every valid command (in paho's thread);
    ``on_delivered(event_id)`` when every message of an event was acknowledged
    by the broker.  Set the retained messages known at start (discovery, the
    cramp topics) with :meth:`set_retained`, then :meth:`start` once and
    :meth:`stop` at shutdown.  Raises ConfigError when no broker is configured.
    """

    def __init__(self, config, outbox: Outbox | OutboxKeeper, on_command: Callable[[cmds.Command], None],
                 on_delivered: Callable[[str], None] | None = None):
        if not config.mqtt.host:
            raise ConfigError("mqtt.host is empty: without a broker there is no MQTT bridge "
                              "(events are kept in the night record only)")
        self.config = config
        self.topics = msgs.Topics.from_config(config)
        self.outbox = outbox
        self.on_command = on_command
        self.on_delivered = on_delivered
        self.last_error: str | None = None
        self.ignored_retained = 0  # retained messages on command topics, not obeyed
        self._online = msgs.availability(self.topics, online=True)
        self._offline = msgs.availability(self.topics, online=False)
        self._client = make_client(config, config.client_id)
        self._client.will_set(self._offline.topic, self._offline.payload_bytes(), qos=self._offline.qos,
                              retain=self._offline.retain)
        self._takeover = TakeoverDetector()
        self._apply_delay()
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._connected = threading.Event()
        self._subscribed = threading.Event()  # the broker acknowledged this connection's command subscriptions
        self._subscribe_mid: int | None = None
        self._retained_lock = threading.Lock()
        self._retained: OrderedDict[str, msgs.Message] = OrderedDict()
        self._queue: queue.Queue[tuple[str, int]] = queue.Queue()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq (pump thread only)
        self._last_handed = 0  # highest outbox seq handed to paho in this process (pump thread only)
        self._delivered: OrderedDict[str, None] = OrderedDict()
        self._delivered_lock = threading.Lock()
        self._pump_thread: threading.Thread | None = None
        self._started = False
        self._command_warnings = _Throttle()
        self._connect_warnings = _Throttle(burst=3, period_s=600.0)
        self._retained_seen: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        outbox.add_drop_listener(self._on_drop)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect in the background (never blocks, even when the broker is down) and start the pump."""
        if self._started:
            return
        self._started = True
        m = self.config.mqtt
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
        deadline = time.monotonic() + timeout
        while self._connected.is_set() and len(self.outbox) > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self._queue.put(_STOP)
        if self._pump_thread is not None:
            self._pump_thread.join(timeout)
        if self._connected.is_set():
            info = self._publish(self._offline)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.debug("mqtt: offline status not confirmed before disconnect")
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()
        self._subscribed.clear()
        log.info("mqtt: disconnected")

    @property
    def connected(self) -> bool:
        """True only while the broker has accepted our CONNECT."""
        return self._connected.is_set()

    @property
    def taken_over(self) -> bool:
        """True while another client keeps taking our client id (the same ``device.id`` twice)."""
        return self._takeover.taken_over

    def wait_connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the broker to accept the connection and the command subscriptions.

        Only then does a command sent by someone else reach :attr:`on_command` for sure (a broker
        drops what is published to a topic before anyone subscribes)."""
        deadline = time.monotonic() + timeout
        return (self._connected.wait(timeout)
                and self._subscribed.wait(max(0.0, deadline - time.monotonic())) and self._connected.is_set())

    # ------------------------------------------------------------ sending

    def send(self, event_id: str, messages: Sequence[msgs.Message], priority: int = msgs.PRIORITY_NORMAL,
             created: str | None = None, volatile: bool = False) -> list[int]:
        """Commit one event's messages to the outbox in one transaction, then publish them (QoS 1, in order).

        ``volatile`` (cramp updates): the outbox queues them in memory only, same order, QoS and PUBACK
        handling, never written to its file, lost at a restart (docs/mqtt.md, "Outbox").

        Each row is deleted on its PUBACK; :meth:`delivered` turns true (and
        ``on_delivered`` fires) when none of ``event_id``'s rows is left.
        ``priority`` decides what a full outbox drops first (``PRIORITY_*``);
        ``created`` (ISO 8601) is when the event happened.  Returns the outbox
        sequence numbers.  Never blocks on the network.
        """
        if volatile:
            seqs = self.outbox.put_many(messages, event_id=event_id, priority=priority, created=created,
                                        volatile=True)
        else:
            seqs = self.outbox.put_many(messages, event_id=event_id, priority=priority, created=created)
        self._wake()
        return seqs

    def set_retained(self, messages: msgs.Message | Iterable[msgs.Message]) -> None:
        """Publish state-like messages: latest wins per topic, re-sent after each reconnect, not through the outbox."""
        batch = [messages] if isinstance(messages, msgs.Message) else list(messages)
        with self._retained_lock:
            for m in batch:
                self._retained[m.topic] = m
                self._retained.move_to_end(m.topic)
            if self._connected.is_set():
                for m in batch:
                    self._publish(m)

    def delivered(self, event_id: str) -> bool:
        """Has the broker acknowledged every message of this event (in this process)?"""
        with self._delivered_lock:
            return event_id in self._delivered

    def _publish(self, m: msgs.Message) -> paho.MQTTMessageInfo:
        return self._client.publish(m.topic, m.payload_bytes(), qos=m.qos, retain=m.retain)

    def _apply_delay(self) -> None:
        delay = self._takeover.delay()
        self._client.reconnect_delay_set(delay.min_s, delay.max_s)

    def _wake(self) -> None:
        if self._pump_thread is not None:
            self._queue.put(_WAKE)

    # ------------------------------------------------------------ paho callbacks (network thread)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        m = self.config.mqtt
        if reason_code.is_failure:
            self._connected.clear()
            self._takeover.attempt_failed()
            self._apply_delay()
            self.last_error = f"broker {m.host}:{m.port} refused the connection: {reason_code}"
            self._connect_warnings.warn("mqtt: %s (check mqtt.username and the password)", self.last_error)
            return
        self._takeover.connected(time.monotonic())
        if not self._takeover.taken_over:
            self.last_error = None
        log.info("mqtt: connected to %s:%d", m.host, m.port)
        self._subscribed.clear()
        _, self._subscribe_mid = client.subscribe([(t, 1) for t in (*self.topics.command_subscriptions,
                                                                     self.topics.ha_status)])
        with self._retained_lock:
            self._connected.set()
            self._publish(self._online)
            self._resend_retained_locked()
        self._queue.put(_WAKE)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if mid == self._subscribe_mid:
            self._subscribed.set()

    def _resend_retained_locked(self) -> None:
        for m in self._retained.values():
            self._publish(m)

    def _on_connect_fail(self, client, userdata) -> None:
        m = self.config.mqtt
        if self._takeover.taken_over or self._takeover.short_in_a_row:
            self._takeover.attempt_failed()
            self._apply_delay()
        self.last_error = f"cannot reach the broker at {m.host}:{m.port}"
        self._connect_warnings.warn("mqtt: %s (retrying; events wait in the outbox)", self.last_error)

    def _on_disconnect(self, client, userdata, disconnect_flags, reason_code, properties) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        self._subscribed.clear()
        if not (was and self._started):
            return
        reason_value = getattr(reason_code, "value", None)
        if self._takeover.lost(time.monotonic(), reason_value):
            m = self.config.mqtt
            self.last_error = (f"another client keeps taking over client id {self.config.client_id} on "
                               f"{m.host}:{m.port}: two services with device.id {self.config.device.id!r}? "
                               "Give each bed its own device.id (or mqtt.client_id)")
            log.error("mqtt: %s; reconnecting only every %d s or more until it stops", self.last_error,
                      self._takeover.delay().min_s)
        elif not self._takeover.taken_over:
            log.warning("mqtt: connection lost (%s); reconnecting, events wait in the outbox", reason_code)
        self._apply_delay()

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
        ignored = cmds.not_a_command(payload, retained=bool(message.retain))
        if ignored == cmds.RETAINED:
            self._warn_retained_once(topic, payload)
            self.ignored_retained += 1  # counted once it is also reported: a reader of both sees them agree
            return
        if ignored == cmds.EMPTY:
            log.debug("mqtt: empty payload on %s (a retained message cleared): not a command", topic)
            return
        try:
            command = cmds.parse(self.topics, topic, payload)
        except CommandError as exc:
            self._command_warnings.warn("mqtt: rejected command on %s: %s", topic, exc)
            error = msgs.command_error(self.topics, topic, str(exc), payload, _now_iso())
            self._publish(error)
            return
        log.info("mqtt: command %s%s", command.name, f" ({command.minutes} min)" if command.minutes else "")
        try:
            self.on_command(command)
        except Exception:  # a bug in the handler must not kill paho's network thread
            log.exception("mqtt: command handler failed for %s", command.name)

    def _warn_retained_once(self, topic: str, payload: bytes) -> None:
        key = (topic, payload)
        if key in self._retained_seen:
            return
        self._retained_seen[key] = None
        while len(self._retained_seen) > RETAINED_WARNINGS_REMEMBERED:
            self._retained_seen.popitem(last=False)
        self._command_warnings.warn(
            "mqtt: ignored a retained message on %s (%d bytes): a command is obeyed only when it is sent, "
            "never from the broker's memory; clear it with: mosquitto_pub -h %s -t '%s' -r -n",
            topic, len(payload), self.config.mqtt.host, topic)

    def _on_drop(self, dropped: Dropped, total: int) -> None:
        notice = msgs.dropped_notice(self.topics, dropped.as_dict(), total)
        if self._connected.is_set():
            self._publish(notice)

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
                maintain = getattr(self.outbox, "maintain", None)
                if maintain is not None:
                    maintain()  # the outbox keeper retries a failed disk (its own back-off)
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
