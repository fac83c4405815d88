"""``nightcramp demo``: a simulated night end to end in about a minute.

No hardware and no configured broker are needed: emulated chips fed by the
night simulator stand in for the sensors, and when no broker is configured a
private mosquitto is started on a free loopback port (when mosquitto is
installed).  A subscriber prints the messages as Home Assistant would receive
them; the morning log and its chart end the demo.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from service import config as cfg
from service import events as ev
from service.pipeline.nightwindow import NightWindow

log = logging.getLogger(__name__)

# Retained state and temperature arrive every minute: the demo counts them instead of printing them.
_QUIET_TOPICS = ("state", "temperature")


class _Printer:
    """Prints what a subscriber receives, one line per message, in simulated local time."""

    def __init__(self, base: str, out=sys.stdout):
        self.base = base
        self.out = out
        self.lock = threading.Lock()
        self.discovery = 0
        self.quiet_counts: dict[str, int] = {}

    def __call__(self, topic: str, payload: bytes) -> None:
        with self.lock:
            if not topic.startswith(self.base + "/"):
                self.discovery += 1
                return
            short = topic[len(self.base) + 1:]
            text = payload.decode("utf-8", "replace")
            if short in _QUIET_TOPICS:
                self.quiet_counts[short] = self.quiet_counts.get(short, 0) + 1
                return
            if short == "event":
                try:
                    data = json.loads(text)
                except ValueError:
                    data = {}
                if data.get("type") == "cramp_update":
                    self.quiet_counts["cramp updates"] = self.quiet_counts.get("cramp updates", 0) + 1
                    return
                print(f"  {_hm(data.get('time'))}  {short:<10} {_describe(data)}", file=self.out, flush=True)
            elif short.startswith("log/"):
                print(f"  morning    {short:<10} (retained JSON, {len(payload)} bytes)", file=self.out, flush=True)
            elif short in ("episode", "cramp") or short.startswith("cramp/"):
                return  # the same story as the event stream, in Frigate's and HA's shapes
            else:
                print(f"             {short:<10} {text[:90]}", file=self.out, flush=True)


def _hm(iso: str | None) -> str:
    if not iso:
        return "     "
    try:
        return datetime.fromisoformat(iso).strftime("%H:%M")
    except ValueError:
        return iso[:5]


def _describe(data: dict) -> str:
    kind = data.get("type", "?")
    leg = data.get("leg", "")
    where = f" on the {leg} leg" if leg and leg != "leg" else ""
    if kind == "cramp_start":
        episode = str(data.get('episode_id', ''))[:8]
        if data.get("alert") is False:
            why = "snoozed" if data.get("snoozed") else "disarmed"
            return f"cramp{where} while {why}: recorded, no alert, episode {episode}"
        return f"CRAMP{where}: alert raised, episode {episode}"
    if kind == "cramp_update":
        return f"  still cramping, {data.get('duration_s', 0):.0f} s so far"
    if kind == "cramp_end":
        return f"cramp over after {data.get('duration_s', 0):.0f} s"
    if kind == "warm_compress":
        room = data.get("room_temp_c")
        return f"warm-compress reminder (room {room} °C){': ' + data['hint'] if data.get('hint') else ''}"
    if kind == "stretch_prompt":
        return f"stretch prompt: {data.get('stretch', '')} stretch, hold {data.get('hold_s', '')} s"
    return json.dumps({k: v for k, v in data.items() if k not in ("event_id",)})[:100]


def _print_event(stamped: ev.StampedEvent) -> None:
    """Without a broker: show the events as the service raises them."""
    e = stamped.event
    data = {"type": e.type, "leg": e.leg, "episode_id": e.episode_id, "time": stamped.wall_time, **e.fields}
    if e.type in (ev.CRAMP_START, ev.CRAMP_END, ev.WARM_COMPRESS, ev.STRETCH_PROMPT, ev.SENSOR_FAULT,
                  ev.SENSOR_RECOVERED, ev.TEST_ALERT):
        print(f"  {_hm(stamped.wall_time)}  {'event':<10} {_describe(data)}", flush=True)


def cmd_demo(args) -> int:
    from service.app.daemon import RunOptions, Service
    from service.sim.privatebroker import Mosquitto, find_mosquitto
    from service.sim.world import last_night_start

    if not args.verbose:
        # The demo shows what a subscriber sees; the service's own log is for -v.
        logging.getLogger().setLevel(logging.ERROR)
    base_config = cfg.load(args.config) if args.config else cfg.Config()
    workdir = Path(tempfile.mkdtemp(prefix="nightcramp-demo-"))
    state_dir = workdir / "state"
    config = replace(
        base_config,
        device=replace(base_config.device, id="demo", name="nightcramp demo"),
        storage=replace(base_config.storage, state_dir=str(state_dir)),
    )
    broker = None
    watcher = None
    printer = None
    if not config.mqtt.host:
        if find_mosquitto():
            broker = Mosquitto(workdir / "broker").start()
            config = replace(config, mqtt=replace(config.mqtt, host=broker.host, port=broker.port))
            print(f"nightcramp demo: private mosquitto on 127.0.0.1:{broker.port}", flush=True)
        else:
            print("nightcramp demo: mosquitto is not installed (sudo apt-get install mosquitto); "
                  "showing events without a broker", flush=True)
    try:
        if broker is not None:
            from service.mqtt.oneshot import Watcher

            printer = _Printer(config.base_topic)
            watcher = Watcher(config.mqtt.host, config.mqtt.port,
                              [config.base_topic + "/#", config.mqtt.discovery_prefix + "/#"], printer)
            watcher.wait_subscribed(5.0)
        nw = NightWindow.from_config(config.night)
        lo, hi = nw.bounds(nw.night_of(last_night_start(nw, datetime.now(nw.tz))))  # the night the simulated world plays
        night_s = (hi - lo).total_seconds()
        speed = night_s / args.seconds
        print(f"nightcramp demo: simulating the night {lo:%H:%M}-{hi:%H:%M} ({night_s / 3600:.1f} h) at "
              f"{speed:.0f}x real time with {args.cramps} cramp(s), seed {args.seed}", flush=True)
        print(f"nightcramp demo: about {args.seconds:.0f} s (--seconds), longer if this computer cannot simulate "
              "the night that fast: every sample of the night goes through the real drivers and detector, about "
              "a minute of CPU for a whole night on a PC (more on a Pi); then the morning log and its chart",
              flush=True)
        print("  time   topic      message (as a subscriber such as Home Assistant receives it)", flush=True)
        real0 = time.monotonic()
        service = Service(config, RunOptions(simulate=True, seed=args.seed, cramps=args.cramps, speed=speed,
                                               lookalikes=bool(getattr(args, "lookalikes", False))),
                          on_event=None if printer else _print_event)
        try:
            service.start()
            service.run()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        finally:
            service.stop()
        took = time.monotonic() - real0
        if took > 1.2 * args.seconds:
            print(f"nightcramp demo: the night took {took:.0f} s instead of {args.seconds:.0f} s: the simulation "
                  "ran as fast as this CPU allows", flush=True)
        if watcher is not None:
            time.sleep(0.5)  # let the last messages arrive
            watcher.stop()
        if printer is not None:
            print(f"\n  ({printer.discovery} Home Assistant discovery messages, "
                  f"{printer.quiet_counts.get('cramp updates', 0)} cramp updates (every 15 s during a cramp), "
                  f"{printer.quiet_counts.get('state', 0)} state and "
                  f"{printer.quiet_counts.get('temperature', 0)} temperature updates not shown)", flush=True)
        _print_morning(state_dir, service)
    finally:
        if broker is not None:
            broker.stop()
    print(f"\nEverything the demo wrote is in {workdir} (remove it when done).")
    return 0


def _print_morning(state_dir: Path, service) -> None:
    logs = sorted((state_dir / "logs").glob("*.md")) if (state_dir / "logs").exists() else []
    core = service.core
    truth = service.world.episodes() if service.world else {}
    n_true = sum(len(v) for v in truth.values())
    print(f"\nThe simulator put {n_true} cramp(s) into the night; the service raised "
          f"{core.stats.events.get(ev.CRAMP_START, 0) if core else 0} alert(s).")
    if not logs:
        print("No morning log was written (the night did not finish).")
        return
    if core is not None and core.last_morning_log is not None:
        print("\n" + core.last_morning_log.to_text())
    png = logs[-1].with_suffix(".png")
    print(f"Morning log: {logs[-1]}\nChart:       {png if png.exists() else '(none)'}")
