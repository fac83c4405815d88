"""Soak and fault benchmark: an emulated week of nights through the whole service and a real mosquitto.

    .venv/bin/python -m benchmarks.soak             # 7 nights + one SIGKILLed night (several minutes)
    .venv/bin/python -m benchmarks.soak --quick     # 4 nights of 1.5 h + the SIGKILL night, to try it

What runs: the real service (``service.app.daemon.Service`` with ``--simulate``
hardware: emulated chips behind the real drivers, stepped in simulated time as
fast as the CPU allows) in a child process, publishing to a real mosquitto; a
persistent-session subscriber in this process collects ``<base>/event``.
The child logs every event the service emits (after its commit to the night
record) to a JSON-lines file, so delivery is judged against what the service
itself decided, and detection against the simulator's ground truth.

Faults:

* night 1: I2C errors on 1 % of transactions all night, and two sensor
  power-on resets (brown-outs) at 20 % and 55 % of the night;
* night 2: wall-clock steps (NTP): +1 h at 10 %, -30 min at 45 % of the night;
* night 3: the broker is stopped from 20 % to 30 % of the night, then restarted;
* the "kill" night (its own child): the service is SIGKILLed part-way
  through and started again from where the night had got to.

Measured: episodes simulated vs detected vs delivered (each cramp_start and
cramp_end by event id, exactly once, duplicates counted), false alarms,
crashes (non-zero exits other than our SIGKILL, tracebacks in the log), peak
RSS, RSS growth from the first to the last night of the week (one process),
CPU seconds per simulated night-hour at 50 Hz with and without the emulated
sensors' own cost (the simulator is not part of the service on a Pi).

Writes benchmarks/out/soak.json and prints a Markdown table (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
FIRST_NIGHT = datetime(2026, 11, 16, 22, 0, tzinfo=timezone.utc)  # night window 22:00-07:30 UTC in the config
MATCH_SLACK_S = 30.0  # a detected onset this close to a simulated cramp belongs to it
PROGRESS_EVERY_S = 300.0  # simulated seconds between the child's progress lines
SETTLE_S = 60.0  # real seconds to wait for the last deliveries


# ---------------------------------------------------------------- child: the service


def _proc_status(pid: int | str = "self") -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0])  # kB
    except OSError:
        pass
    return out


BUS_METHODS = ("read_byte", "write_byte", "read_byte_data", "write_byte_data", "read_word_data", "write_word_data",
               "read_i2c_block_data", "write_i2c_block_data", "i2c_rdwr")


class _EmulationMeter:
    """CPU time spent inside the emulated bus: register files, FIFOs and the simulator rendering samples.

    On a Pi that work is the kernel's and the chip's, so it is subtracted to get the service's own cost.
    The bus is the boundary: a driver's decoding after the transfer counts as the service.  The
    emulated chips render their samples lazily, inside these calls (the simulated clock has no
    hooks), so no emulation runs outside them.  Only the stepping thread calls the bus (the fault
    thread resets chips directly, a few times a night), hence one depth counter.  What the split
    leaves on the service side that a Pi would not pay: the stepping loop and this wrapper's own
    call (about 1 us per transaction); what it takes away that a Pi would pay: smbus2's ioctl
    (the emulated ``i2c_rdwr`` replaces it).
    """

    def __init__(self, bus):
        self.spent_s = 0.0
        self._depth = 0
        for name in BUS_METHODS:
            setattr(bus, name, self._timed(getattr(bus, name)))

    def _timed(self, method):
        def call(*args, **kwargs):
            self._depth += 1
            t = time.thread_time() if self._depth == 1 else 0.0
            try:
                return method(*args, **kwargs)
            finally:
                if self._depth == 1:
                    self.spent_s += time.thread_time() - t
                self._depth -= 1
        return call


def _emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _faults(service, night: dict, done: threading.Event) -> None:
    """Fire the night's scheduled faults as simulated time passes them; report progress."""
    world = service.world
    resets = sorted(night.get("resets", []))
    jumps = sorted(night.get("jumps", []))
    next_progress = PROGRESS_EVERY_S
    while not done.wait(0.02):  # ~10 simulated seconds at full speed: close enough for a fault
        t = service.clock.monotonic()
        while resets and t >= resets[0]:
            resets.pop(0)
            for address in world.addresses.values():
                with world.bus._lock:  # not while a drain is half-way through the chip's registers
                    world.bus.devices[address].power_on_reset()
            _emit({"kind": "fault", "night": night["night"], "t": t, "fault": "sensor reset"})
        while jumps and t >= jumps[0][0]:
            _, dt = jumps.pop(0)
            service.clock.jump_wall(dt)
            _emit({"kind": "fault", "night": night["night"], "t": t, "fault": f"wall clock {dt:+.0f} s"})
        if t >= next_progress:
            _emit({"kind": "progress", "night": night["night"], "t": t})
            next_progress = t + PROGRESS_EVERY_S


def child(plan_file: str) -> int:
    from service import config as cfg
    from service import logsetup
    from service.app.daemon import RunOptions, Service

    logsetup.setup(0, quiet=True)
    plan = json.loads(Path(plan_file).read_text())
    config = cfg.load(plan["config"])
    events = open(plan["events"], "a", encoding="utf-8")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    current = {"night": None}

    def record(stamped) -> None:
        e = stamped.event
        events.write(json.dumps({"run": f"{plan['run']}/{current['night']}", "event_id": stamped.event_id, "type": e.type, "leg": e.leg,
                                 "episode_id": e.episode_id, "t": e.t, "onset": e.fields.get("onset")}) + "\n")
        events.flush()

    emulation_s = run_cpu_s = 0.0
    for night in plan["nights"]:
        if stop.is_set():
            break
        current["night"] = night["night"]
        options = RunOptions(simulate=True, speed=1e9, seed=night["seed"], cramps=night["cramps"],
                             duration_s=night.get("duration_s"), fail_rate=night.get("fail_rate", 0.0),
                             start=datetime.fromisoformat(night["start"]))
        service = Service(config, options, on_event=record)
        service.start()
        meter = _EmulationMeter(service.world.bus)
        t0 = service.clock.monotonic()
        end = t0 + (night.get("duration_s") or service.world.night_hours * 3600)
        _emit({"kind": "night", "run": plan["run"], "night": night["night"], "t0": t0, "end": end,
               "episodes": [[leg, a, b] for leg, eps in service.world.episodes().items() for a, b in eps]})
        done = threading.Event()
        injector = threading.Thread(target=_faults, args=(service, night, done), daemon=True)
        injector.start()
        before = resource.getrusage(resource.RUSAGE_SELF)
        try:
            service.run()
        finally:
            after = resource.getrusage(resource.RUSAGE_SELF)
            done.set()
            injector.join()
            service.stop()
        emulation_s += meter.spent_s
        run_cpu_s += (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        status = _proc_status()
        _emit({"kind": "night_end", "run": plan["run"], "night": night["night"], "sim_s": end - t0,
               "cpu_s": usage.ru_utime + usage.ru_stime, "run_cpu_s": run_cpu_s, "emulation_cpu_s": emulation_s,
               "rss_kb": status.get("VmRSS"), "hwm_kb": status.get("VmHWM")})
    return 0


# ---------------------------------------------------------------- per-stage split (--stages)

STAGES = (
    ("firmware.acquisition", "Sampler", "step", "sampler: drain, decode, timestamps, health (emulated bus subtracted)"),
    ("service.pipeline.detect", "CrampDetector", "feed", "detector"),
    ("service.pipeline.movement", "MovementSummarizer", "feed", "movement summary"),
    ("service.app.daemon", "Core", "handle", "core: batches, gaps, status (detector and movement subtracted)"),
    ("service.app.daemon", "Core", "periodic", "core: periodic (night window, prompts, flush, state)"),
    ("service.app.daemon", "Service", "_core_pass", "core pass: queue (handle and periodic subtracted)"),
)


def stages(hours: float, seed: int) -> dict:
    """CPU seconds per night-hour of each stage of the sampling path: one night, in this process, no broker.

    Each stage's method is wrapped with ``time.thread_time`` (the stepped service runs on one
    thread); nested stages are subtracted from the stage that calls them, the emulated bus from
    the sampler.  The wrappers cost a little, so the stages add up to slightly more than the
    soak's "service alone".
    """
    import importlib
    from service import config as cfg
    from service import logsetup
    from service.app.daemon import RunOptions, Service

    logsetup.setup(0, quiet=True)
    spent: dict[str, float] = {}
    originals = []
    for module, cls_name, method, label in STAGES:
        cls = getattr(importlib.import_module(module), cls_name)
        original = getattr(cls, method)
        originals.append((cls, method, original))

        def timed(*args, _original=original, _label=label, **kwargs):
            t = time.thread_time()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_label] = spent.get(_label, 0.0) + time.thread_time() - t

        setattr(cls, method, timed)
    work = Path(tempfile.mkdtemp(prefix="nightcramp-stages-"))
    (work / "config.toml").write_text(f'[device]\nid = "stages"\n[night]\ntimezone = "UTC"\n'
                                      f'[storage]\nstate_dir = "{work / "state"}"\n')
    try:
        service = Service(cfg.load(str(work / "config.toml")),
                          RunOptions(simulate=True, speed=1e9, seed=seed, cramps=2, duration_s=hours * 3600,
                                     start=FIRST_NIGHT))
        service.start()
        meter = _EmulationMeter(service.world.bus)
        before = resource.getrusage(resource.RUSAGE_SELF)
        service.run()
        after = resource.getrusage(resource.RUSAGE_SELF)
        service.stop()
    finally:
        for cls, method, original in originals:
            setattr(cls, method, original)
    total = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    label = [s[3] for s in STAGES]
    spent[label[0]] = spent.get(label[0], 0.0) - meter.spent_s
    spent[label[3]] = spent.get(label[3], 0.0) - spent.get(label[1], 0.0) - spent.get(label[2], 0.0)
    spent[label[5]] = spent.get(label[5], 0.0) - spent.get(label[3], 0.0) - spent.get(label[4], 0.0) \
        - spent.get(label[1], 0.0) - spent.get(label[2], 0.0)
    out = {name: round(spent.get(name, 0.0) / hours, 3) for name in label}
    out["rest: stepping loop, thermometer, store"] = round((total - meter.spent_s - sum(spent.values())) / hours, 3)
    out["service alone"] = round((total - meter.spent_s) / hours, 3)
    out["emulated chips and bus"] = round(meter.spent_s / hours, 3)
    return out


# ---------------------------------------------------------------- parent: broker, subscriber, faults


class Subscriber:
    """A persistent-session QoS 1 subscriber: what Home Assistant would receive, counted by event id."""

    def __init__(self, host: str, port: int, topic: str):
        import paho.mqtt.client as mqtt

        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-subscriber", clean_session=False)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 2)
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        try:
            event_id = json.loads(message.payload)["event_id"]
        except (ValueError, KeyError):
            return
        with self.lock:
            self.counts[event_id] = self.counts.get(event_id, 0) + 1

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Child:
    """One service process; its JSON lines are read on a thread and handed to ``on_line``."""

    def __init__(self, work: Path, run: str, config: Path, nights: list[dict], events: Path, on_line):
        plan = work / f"plan-{run}.json"
        plan.write_text(json.dumps({"run": run, "config": str(config), "events": str(events), "nights": nights}))
        self.log = work / f"service-{run}.log"
        self.run = run
        self.peak_hwm_kb = 0
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.soak", "--child", str(plan)], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=open(self.log, "wb"), stdin=subprocess.DEVNULL,
                                     env=dict(os.environ, PYTHONPATH=str(ROOT)), text=True)
        self.reader = threading.Thread(target=self._read, args=(on_line,), daemon=True)
        self.reader.start()

    def _read(self, on_line) -> None:
        for line in self.proc.stdout:
            self.peak_hwm_kb = max(self.peak_hwm_kb, _proc_status(self.proc.pid).get("VmHWM", 0))
            on_line(json.loads(line))

    def wait(self) -> int:
        rc = self.proc.wait()
        self.reader.join()
        return rc


NIGHT_H = 9.5  # the default window, 22:00-07:30
QUICK_H = 1.5


def _plan_week(nights: int, hours: float, seed: int) -> list[dict]:
    """The week's nights; fault times are fractions of the night so --quick scales them."""
    h = 3600.0 * hours
    plan = []
    for i in range(nights):
        night = {"night": i, "start": (FIRST_NIGHT + timedelta(days=i)).isoformat(), "seed": seed + i,
                 "cramps": 2 + i % 2, "duration_s": h}
        if i == 1:
            night.update(fail_rate=0.01, resets=[0.2 * h, 0.55 * h])
        if i == 2:
            night.update(jumps=[[0.1 * h, 3600.0], [0.45 * h, -1800.0]])
        plan.append(night)
    return plan


def _match(runs: dict, emitted: list[dict]) -> dict:
    """Simulated cramps vs the cramp_start events the service emitted, per run and leg (sample clock)."""
    simulated = detected = 0
    false_alarms = 0
    starts = [e for e in emitted if e["type"] == "cramp_start"]
    for run, info in runs.items():
        horizon = info.get("killed_at", float("inf"))
        for leg, a, b in info["episodes"]:
            if b > horizon or a > info["end"]:
                continue  # the night ended (or the process was killed) before this cramp was over
            simulated += 1
            if any(e["run"] == run and e["leg"] == leg
                   and a - MATCH_SLACK_S <= float(e["onset"] if e["onset"] is not None else e["t"]) <= b + MATCH_SLACK_S
                   for e in starts):
                detected += 1
    for e in starts:
        info = runs.get(e["run"], {"episodes": []})
        onset = float(e["onset"] if e["onset"] is not None else e["t"])
        if not any(leg == e["leg"] and a - MATCH_SLACK_S <= onset <= b + MATCH_SLACK_S
                   for leg, a, b in info["episodes"]):
            false_alarms += 1
    return {"simulated": simulated, "detected": detected, "false_alarms": false_alarms}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--nights", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="4 nights of 1.5 h (plus the kill night)")
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--stages", type=float, metavar="HOURS",
                        help="instead: CPU per night-hour of each stage, one night of HOURS in this process, no broker")
    parser.add_argument("--child", metavar="PLAN", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child)
    if args.stages:
        for name, value in stages(args.stages, args.seed).items():
            print(f"| {name} | {value:.3f} s |")
        return 0

    from support.brokers import Mosquitto, find_mosquitto

    if find_mosquitto() is None:
        print("mosquitto is not installed: sudo apt-get install mosquitto", file=sys.stderr)
        return 1
    nights = 4 if args.quick else args.nights
    hours = QUICK_H if args.quick else NIGHT_H
    work = Path(tempfile.mkdtemp(prefix="nightcramp-soak-"))
    broker = Mosquitto(work / "broker", extra_conf=f"persistence true\npersistence_location {work}/broker/\n").start()
    config = work / "config.toml"
    config.write_text(f'[device]\nid = "soak"\n[night]\ntimezone = "UTC"\n'
                      f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
                      f'[storage]\nstate_dir = "{work / "state"}"\n')
    subscriber = Subscriber(broker.host, broker.port, "nightcramp/soak/event")
    events_file = work / "events.jsonl"
    runs: dict[str, dict] = {}
    night_ends: list[dict] = []
    faults: list[str] = []
    outage = {"night": min(3, nights - 1), "from": 0.2 * hours * 3600, "to": 0.3 * hours * 3600, "state": "before"}
    progress = {"run": None, "t": 0.0}
    kill_at = {"t": None}

    def on_line(record: dict) -> None:
        kind = record["kind"]
        if kind == "night":
            runs[f"{record['run']}/{record['night']}"] = dict(record)
        elif kind == "night_end":
            night_ends.append(record)
        elif kind == "fault":
            faults.append(f"night {record['night']}: {record['fault']} at {record['t'] / 3600:.2f} h")
        elif kind == "progress":
            progress.update(run=record.get("run"), t=record["t"])
            if record["night"] == outage["night"] and outage["state"] == "before" and record["t"] >= outage["from"]:
                broker.stop()
                outage["state"] = "down"
                faults.append(f"night {record['night']}: broker stopped at {record['t'] / 3600:.2f} h")
            elif outage["state"] == "down" and record["t"] >= outage["to"]:
                broker.start()
                outage["state"] = "after"
                faults.append(f"night {record['night']}: broker restarted at {record['t'] / 3600:.2f} h")
            if kill_at["t"] is not None and record["t"] >= kill_at["t"]:
                kill_at["t"] = None
                kill_at["proc"].send_signal(signal.SIGKILL)

    t_real = time.monotonic()
    week = Child(work, "week", config, _plan_week(nights, hours, args.seed), events_file, on_line)
    exit_codes = {"week": week.wait()}
    if outage["state"] == "down":
        broker.start()
    peak_kb = week.peak_hwm_kb

    # The kill night: SIGKILL part-way, then start again where the night had got to.
    kill_night = {"night": nights, "start": (FIRST_NIGHT + timedelta(days=nights)).isoformat(), "seed": args.seed + 99,
                  "cramps": 3, "duration_s": hours * 3600}
    first = Child(work, "kill1", config, [kill_night], events_file, on_line)
    kill_at.update(t=0.4 * hours * 3600, proc=first.proc)
    exit_codes["kill1"] = first.wait()
    killed_at = progress["t"]
    key = f"kill1/{nights}"
    if key in runs:
        runs[key]["killed_at"] = killed_at
    faults.append(f"night {nights}: service SIGKILLed at {killed_at / 3600:.2f} h and restarted")
    start2 = datetime.fromisoformat(kill_night["start"]) + timedelta(seconds=killed_at)
    total = kill_night["duration_s"]
    rest = dict(kill_night, start=start2.isoformat(), seed=args.seed + 199, cramps=2, duration_s=total - killed_at)
    second = Child(work, "kill2", config, [rest], events_file, on_line)
    exit_codes["kill2"] = second.wait()
    peak_kb = max(peak_kb, first.peak_hwm_kb, second.peak_hwm_kb)

    emitted = [json.loads(line) for line in events_file.read_text().splitlines()]
    must = {e["event_id"] for e in emitted if e["type"] in ("cramp_start", "cramp_end")}
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        with subscriber.lock:
            if must <= set(subscriber.counts):
                break
        time.sleep(0.5)
    subscriber.stop()
    broker.stop()
    with subscriber.lock:
        counts = dict(subscriber.counts)

    detection = _match(runs, emitted)
    week_ends = [n for n in night_ends if n["run"] == "week"]
    sim_h = sum(n["sim_s"] for n in week_ends) / 3600.0
    cpu = week_ends[-1]["run_cpu_s"] if week_ends else float("nan")  # while running the nights, not start-up
    cpu_all = week_ends[-1]["cpu_s"] if week_ends else float("nan")
    emulation_cpu = week_ends[-1]["emulation_cpu_s"] if week_ends else float("nan")
    logs = "".join(p.read_text(errors="replace") for p in work.glob("service-*.log"))
    result = {
        "nights": nights + 1, "simulated_hours_week": round(sim_h, 2), "faults": faults,
        "episodes_simulated": detection["simulated"], "episodes_detected": detection["detected"],
        "false_alarms": detection["false_alarms"],
        "cramp_events_emitted": len(must), "cramp_events_delivered": len(must & set(counts)),
        "undelivered_event_ids": sorted(must - set(counts)),
        "duplicate_deliveries": sum(c - 1 for c in counts.values() if c > 1),
        "crashes": sum(1 for run, rc in exit_codes.items() if rc != 0 and not (run == "kill1" and rc == -signal.SIGKILL))
                   + logs.count("Traceback"),
        "exit_codes": exit_codes,
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "rss_first_night_mb": round(week_ends[0]["rss_kb"] / 1024, 1) if week_ends else None,
        "rss_last_night_mb": round(week_ends[-1]["rss_kb"] / 1024, 1) if week_ends else None,
        "rss_after_each_night_mb": [round(n["rss_kb"] / 1024, 1) for n in week_ends],
        "cpu_s_per_night_hour": round(cpu / sim_h, 3) if sim_h else None,
        "cpu_s_start_up_per_night": round((cpu_all - cpu) / max(1, len(week_ends)), 2) if week_ends else None,
        "cpu_s_per_night_hour_without_simulator": round((cpu - emulation_cpu) / sim_h, 3) if sim_h else None,
        "real_seconds": round(time.monotonic() - t_real, 1),
        "workdir": str(work),
    }
    if week_ends:
        result["rss_growth_mb"] = round(result["rss_last_night_mb"] - result["rss_first_night_mb"], 1)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "soak.json").write_text(json.dumps(result, indent=2))
    print(_markdown(result))
    print(f"\nsummary: {result['nights']} nights: episodes detected {result['episodes_detected']}/"
          f"{result['episodes_simulated']}, {result['false_alarms']} false alarms, cramp events delivered "
          f"{result['cramp_events_delivered']}/{result['cramp_events_emitted']}, {result['crashes']} crashes, "
          f"peak RSS {result['peak_rss_mb']} MB, growth {result.get('rss_growth_mb')} MB, "
          f"CPU {result['cpu_s_per_night_hour_without_simulator']} s per night-hour (service alone)")
    return 0


def _markdown(r: dict) -> str:
    rows = [
        ("nights (week + kill night)", r["nights"], "7 + 1"),
        ("simulated night-hours in the week process", r["simulated_hours_week"], ""),
        ("episodes simulated / detected", f"{r['episodes_simulated']} / {r['episodes_detected']}", "all"),
        ("false alarms", r["false_alarms"], "0"),
        ("cramp_start/end events emitted / delivered", f"{r['cramp_events_emitted']} / {r['cramp_events_delivered']}",
         "all"),
        ("duplicate deliveries (same event id)", r["duplicate_deliveries"], "0 (ids dedupe them)"),
        ("crashes", r["crashes"], "0"),
        ("peak RSS", f"{r['peak_rss_mb']} MB", "< 60 MB"),
        ("RSS growth, first to last night", f"{r.get('rss_growth_mb')} MB", "< 5 MB"),
        ("CPU per night-hour (service + emulated chips and bus)", f"{r['cpu_s_per_night_hour']} s", ""),
        ("CPU per night-hour (service alone)", f"{r['cpu_s_per_night_hour_without_simulator']} s", "< 1 s"),
        ("CPU per start (imports, simulated world, store; once per night here)",
         f"{r['cpu_s_start_up_per_night']} s", ""),
    ]
    lines = ["| measure | value | target |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {target} |" for name, value, target in rows]
    lines += ["", f"RSS after each night of the week (MB): {r['rss_after_each_night_mb']}",
              "", "Faults injected:", *[f"- {f}" for f in r["faults"]]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
