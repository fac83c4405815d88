"""MQTT delivery latency: from handing an event to the outbox + bridge to its arrival at a subscriber.

``.venv/bin/python -m benchmarks.mqtt_latency [--events N] [--state-dir DIR]``

What is timed, on loopback with a real mosquitto:

* alert latency: an event handed over as the core does (messages built, then
  ``MQTTBridge.send()``, the outbox commit with ``synchronous=FULL`` included)
  -> the ``<base>/event`` message received by a
  paho subscriber in this process (one clock, ``time.perf_counter``).  Events
  are spaced 50 ms apart, as alerts are isolated in real life;
* the outbox commit alone (``put_many`` of an event's two messages, with fsync);
* drain rate after an outage: events queued while the broker was down, then
  delivered after it comes back (events per second, from reconnect);
* reconnect delay with an alert waiting: the broker is stopped for each of
  ``--outages`` seconds, a ``cramp_start`` is queued in the middle of the
  outage, the broker is started again on the same port; timed from the moment
  it accepts connections again to the broker's PUBACK of that event (the
  bridge's ``on_delivered``).  The target is at most 5 s.

The target is a median alert latency under 50 ms on loopback.
Numbers go to docs/mqtt.md by hand; the run prints them as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from service import config as cfg
from service import events as ev
from service.mqtt.messages import Message
from service.mqtt.client import MQTTBridge
from service.mqtt.outbox import Outbox
from support.brokers import Mosquitto, find_mosquitto
from support.mqtt_helpers import EventSender, Subscriber, stamped, wait_until


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _row(name: str, values_ms: list[float]) -> str:
    return (f"| {name} | {len(values_ms)} | {statistics.median(values_ms):.2f} | {_pct(values_ms, 0.9):.2f} | "
            f"{_pct(values_ms, 0.99):.2f} | {max(values_ms):.2f} |")


def run(n_events: int, state_dir: Path, work: Path, outages_s: list[float] = ()) -> str:
    # Persistent, as the Home Assistant add-on: the subscriber's session (and the QoS 1 messages
    # queued for it) survives the outages, whichever client reconnects first.
    data = work / "mqdata"
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o777)  # mosquitto drops root privileges before writing its database
    broker = Mosquitto(work / "broker", extra_conf=f"persistence true\npersistence_location {data}/\n").start()
    config = cfg.parse(f'[device]\nid = "bench"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
                       f'[storage]\nstate_dir = "{state_dir}"\n')
    arrived: dict[str, float] = {}
    lock = threading.Lock()
    sub = Subscriber(broker.host, broker.port, ["nightcramp/bench/event"], client_id="bench-sub", persistent=True)

    def on_message(client, userdata, message):
        t = time.perf_counter()
        with lock:
            arrived[json.loads(message.payload)["event_id"]] = t

    sub.client.on_message = on_message
    outbox = Outbox(state_dir, 100_000)
    delivered_at: dict[str, float] = {}
    bridge = MQTTBridge(config, outbox, lambda c: None,
                        on_delivered=lambda eid: delivered_at.setdefault(eid, time.perf_counter()))
    sender = EventSender(bridge, config)
    bridge.start()
    if not bridge.wait_connected(10):
        raise SystemExit("bridge could not connect to the benchmark broker")
    try:
        # warm-up, not counted
        for i in range(20):
            sender.event(stamped(ev.CRAMP_UPDATE, float(i), "warm"))
        wait_until(lambda: len(outbox) == 0)

        sent: dict[str, float] = {}
        for i in range(n_events):
            s = stamped(ev.CRAMP_START if i % 2 == 0 else ev.STRETCH_PROMPT, float(i), f"ep{i // 2}",
                        onset=float(i) - 8.0, intensity=0.4)
            sent[s.event_id] = time.perf_counter()
            sender.event(s)
            time.sleep(0.05)
        wait_until(lambda: len(arrived) >= n_events + 20, timeout=30)
        latency = [(arrived[k] - t0) * 1000 for k, t0 in sent.items() if k in arrived]
        lost = n_events - len(latency)

        commit = []
        probe = Outbox(state_dir / "probe.sqlite3", 100_000)
        for i in range(n_events):
            t0 = time.perf_counter()
            probe.put_many([Message("t/event", b"x" * 300, 1), Message("t/episode", b"y" * 500, 1)], event_id=str(i))
            commit.append((time.perf_counter() - t0) * 1000)
        probe.close()

        broker.stop()
        wait_until(lambda: not bridge.connected)
        backlog = [stamped(ev.CRAMP_UPDATE, float(i), "outage") for i in range(1000)]
        with lock:
            arrived.clear()
        for s in backlog:
            sender.event(s)
        broker.start()
        wait_until(lambda: bridge.connected, timeout=150)
        t_connected = time.perf_counter()
        wait_until(lambda: len(arrived) >= len(backlog), timeout=120)
        t_last = max(arrived.values()) if arrived else t_connected
        drained = len([s for s in backlog if s.event_id in arrived])
        with lock:
            arrival_order = sorted(arrived, key=arrived.get)
        in_order = arrival_order == [s.event_id for s in backlog if s.event_id in arrived]
        rate = drained / max(1e-9, t_last - t_connected)

        reconnect = []
        for outage in outages_s:
            wait_until(lambda: len(outbox) == 0, timeout=60)
            broker.stop()
            wait_until(lambda: not bridge.connected)
            time.sleep(outage / 2)
            alert = stamped(ev.CRAMP_START, 0.0, "reconnect", onset=-8.0, intensity=0.4)
            sender.event(alert)
            time.sleep(outage / 2)
            broker.start()
            t_back = time.perf_counter()
            wait_until(lambda: alert.event_id in delivered_at, timeout=300)
            if alert.event_id in delivered_at:
                reconnect.append((outage, delivered_at[alert.event_id] - t_back))
    finally:
        bridge.stop()
        outbox.close()
        sub.close()
        broker.stop()

    lines = [
        "| measure (ms) | n | median | p90 | p99 | max |",
        "|---|---|---|---|---|---|",
        _row("event handed to the bridge -> subscriber (loopback)", latency),
        _row("outbox commit of one event (2 messages, fsync)", commit),
        "",
        f"- events lost: {lost} of {n_events}",
        f"- backlog after an outage: {drained} of {len(backlog)} events delivered "
        f"{'in order' if in_order else 'OUT OF ORDER'} at {rate:.0f} events/s "
        "(from reconnect to the last arrival)",
        f"- median alert latency target < 50 ms: {'met' if statistics.median(latency) < 50 else 'MISSED'}",
        *[f"- outage of {o:g} s, alert queued at {o / 2:g} s: broker back -> alert acknowledged in {d:.2f} s "
          f"({'within' if d <= 5 else 'OVER'} the 5 s target)" for o, d in reconnect],
        *([f"- {len(outages_s) - len(reconnect)} queued alerts never delivered after an outage"]
          if len(reconnect) < len(outages_s) else []),
        "",
        f"summary: alert latency median {statistics.median(latency):.1f} ms p99 {_pct(latency, 0.99):.1f} ms "
        f"({n_events} alerts, {lost} lost); outbox commit median {statistics.median(commit):.1f} ms; "
        f"outage backlog {drained}/{len(backlog)} {'in order' if in_order else 'OUT OF ORDER'} at {rate:.0f} events/s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300, help="alerts to time (default 300)")
    parser.add_argument("--outages", default="4,9,20,45",
                        help="broker outages in seconds, comma-separated, each with an alert queued in the middle "
                             "(default 4,9,20,45; empty: skip)")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="where the outbox lives (default: a temporary directory; use the SD card to measure it)")
    args = parser.parse_args(argv)
    if find_mosquitto() is None:
        print("mosquitto is not installed (sudo apt-get install mosquitto)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="nightcramp-mqtt-bench-") as tmp:
        state = args.state_dir or Path(tmp) / "state"
        outages = [float(x) for x in args.outages.split(",") if x.strip()]
        print(run(args.events, state, Path(tmp), outages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
