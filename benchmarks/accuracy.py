"""Accuracy and speed of the cramp detector on a held-out corpus of simulated nights.

Run: ``.venv/bin/python -m benchmarks.accuracy`` (a few minutes on one core).
Options: ``--corpus tuning`` scores the tuning seeds instead; ``--out DIR``
keeps the recordings; ``--plots DIR`` draws example episodes and the hardest
rejected look-alikes; ``--json FILE`` writes the figures.

Real recordings: beside the simulated corpus, every cramp-free recording of a
real person under ../shared/data/real (and ``--real DIR``, ``$NIGHTCRAMP_REAL_DATA``)
is replayed the same way and its false alarms reported per file and per 8 h with
what the person was doing (benchmarks/realdata.py).  ``--real-only`` skips the
simulated corpus; ``--no-real`` skips the real files; ``--before REV`` replays the
real files with git revision REV too and reports which false alarms were removed;
with ``--plots DIR`` both are drawn.

Seeds (never mixed): tuning nights use seeds 1000-1999, the held-out corpus
5000-5999; the unit tests use seeds below 100.  Thresholds in service/pipeline/detect.py
were only ever adjusted while looking at the tuning corpus and the unit tests.

Corpus: every sleeper type (calm, normal, restless, plm, walker) x every
sensor model x rates 20/25/50/100/200 Hz, from two independent generators --
``benchmarks.nights`` (built on support/synth.py) and, when present, the
project's night simulator ``service.sim.simulate`` -- plus one 8-hour 50 Hz night
for the replay-speed figure.  Every recording is written to disk and replayed
through ``service.recording.replay.replay_recording``, the code ``nightcramp replay``
runs, and scored by the rule of docs/signals.md: an alert between an episode's
onset - 2 s and its end + 5 s detects it (the first; later ones are repeats);
every other alert is a false alarm; latency = alert t - onset.  The baseline
(benchmarks/baseline.py) is scored on the same files in the same run.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from benchmarks import nights, realdata
from benchmarks.baseline import baseline_alerts
from service.config import Config, ConfigError
from service.config import load as load_config
from service.recording.format import labels_path, read_labels, read_recording
from service.recording.replay import replay_recording
from service.sim.simulate import write_simulated_night

log = logging.getLogger("benchmarks.accuracy")

SEEDS = {"tuning": 1000, "heldout": 5000}
SENSORS = ("mpu6050", "adxl345", "lis3dh")
RATES = (20.0, 25.0, 50.0, 100.0, 200.0)
NIGHTS_PER_SLEEPER = 4
HOURS_PER_NIGHT = 2.0
CRAMPS_PER_NIGHT = 2


@dataclass
class Night:
    path: Path
    generator: str
    sleeper: str
    sensor: str
    rate_hz: float
    episodes: list[tuple[float, float]]
    hours: float
    samples: int = 0
    alerts: list[tuple[float, float]] = field(default_factory=list)  # (t, onset)
    base_alerts: list[tuple[float, float]] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    read_s: float = 0.0
    read_cpu_s: float = 0.0
    base_cpu_s: float = 0.0


# ------------------------------------------------------------------ corpus


def _make(job) -> str:
    """Write one night (runs in a worker process); its path."""
    generator, path, seed, sleeper, sensor, rate, hours, cramps, range_g = job
    if path.exists() and labels_path(path).exists():
        return str(path)  # --out kept from an earlier run with the same seeds
    if generator == "synth":
        nights.write_night(path, seed=seed, hours=hours, sleeper=sleeper, sensor=sensor, rate_hz=rate,
                           cramps=cramps, range_g=range_g)
    else:
        write_simulated_night(path, hours=hours, cramps=cramps, seed=seed, rate_hz=rate, sensor=sensor,
                              sleeper=sleeper, range_g=range_g, lookalikes=nights.LOOKALIKES)
    return str(path)


def build_corpus(kind: str, out: Path, quick: bool = False, workers: int = 2,
                 nights_per_sleeper: int = NIGHTS_PER_SLEEPER) -> list[Night]:
    """Write the corpus's recordings and labels into ``out`` (in parallel); return the nights."""
    base = SEEDS[kind]
    plan = []
    k = 0
    per = 1 if quick else nights_per_sleeper
    for sleeper in nights.SLEEPERS:
        for i in range(per):
            plan.append((base + k, sleeper, SENSORS[k % len(SENSORS)], RATES[k % len(RATES)], HOURS_PER_NIGHT))
            k += 1
    plan.append((base + 900, "normal", "mpu6050", 50.0, 8.0))  # the replay-speed night
    jobs = []
    for seed, sleeper, sensor, rate, hours in plan:
        # clipping: every third MPU-6050 night runs at +-2 g
        range_g = 2 if sensor == "mpu6050" and seed % 3 == 0 else None
        cramps = CRAMPS_PER_NIGHT if hours <= 2 else 3
        for generator in ("synth", "sim"):
            path = out / f"{generator}-{seed}-{sleeper}-{sensor}-{int(rate)}hz.csv.gz"
            jobs.append((generator, path, seed, sleeper, sensor, rate, hours, cramps, range_g))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_make, jobs))
    corpus: list[Night] = []
    for job in jobs:
        generator, path, seed, sleeper, sensor, rate, hours, _c, _r = job
        labels = read_labels(labels_path(path))
        corpus.append(Night(path, generator, sleeper, sensor, rate, list(labels.episodes), labels.hours))
    return corpus


# ------------------------------------------------------------------ running and scoring


def run_night(night: Night, config: Config) -> None:
    """Replay one recording through the service's code path; time it; run the baseline."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    rec = read_recording(night.path)
    night.read_s = time.perf_counter() - wall0
    night.read_cpu_s = time.process_time() - cpu0
    night.alerts = [(e.t, e.fields["onset"]) for e in replay_recording(rec, config) if e.type == "cramp_start"]
    night.wall_s = time.perf_counter() - wall0
    night.cpu_s = time.process_time() - cpu0
    night.samples = len(rec)
    cpu1 = time.process_time()
    night.base_alerts = baseline_alerts(rec.t, rec.accel)
    night.base_cpu_s = time.process_time() - cpu1


def score(alerts, episodes):
    """The scoring rule of docs/signals.md: (latencies of detected episodes or None, false alarms, repeats)."""
    latency: list[float | None] = [None] * len(episodes)
    false_alarms = repeats = 0
    for t, _onset in sorted(alerts):
        hit = next((i for i, (on, end) in enumerate(episodes) if on - 2.0 <= t <= end + 5.0), None)
        if hit is None:
            false_alarms += 1
        elif latency[hit] is None:
            latency[hit] = t - episodes[hit][0]
        else:
            repeats += 1
    return latency, false_alarms, repeats


def summarise(corpus: list[Night], which: str) -> dict:
    lat_all, lat_long, fa, rep, hours = [], [], 0, 0, 0.0
    n_all = n_long = 0
    fa_by_sleeper: dict[str, int] = {}
    misses = []
    for night in corpus:
        alerts = night.alerts if which == "detector" else night.base_alerts
        latency, f, r = score(alerts, night.episodes)
        fa += f
        rep += r
        hours += night.hours
        fa_by_sleeper[night.sleeper] = fa_by_sleeper.get(night.sleeper, 0) + f
        for (on, end), lat in zip(night.episodes, latency):
            n_all += 1
            long = end - on >= 20.0
            n_long += long
            if lat is not None:
                lat_all.append(lat)
                if long:
                    lat_long.append(lat)
            else:
                misses.append({"file": night.path.name, "onset": round(on, 1), "duration_s": round(end - on, 1)})
    lat = np.array(lat_all) if lat_all else np.array([np.nan])
    return {
        "episodes": n_all,
        "episodes_ge_20s": n_long,
        "sensitivity": len(lat_all) / n_all if n_all else float("nan"),
        "sensitivity_ge_20s": len(lat_long) / n_long if n_long else float("nan"),
        "false_alarms": fa,
        "false_alarms_per_8h": fa / hours * 8.0 if hours else float("nan"),
        "false_alarms_by_sleeper": fa_by_sleeper,
        "repeats": rep,
        "latency_median_s": float(np.nanmedian(lat)),
        "latency_p90_s": float(np.nanpercentile(lat, 90)),
        "hours": hours,
        "misses": misses,
    }


def speed(corpus: list[Night]) -> dict:
    samples = sum(n.samples for n in corpus)
    rec_s = sum(n.hours * 3600.0 for n in corpus)
    wall = sum(n.wall_s for n in corpus)
    cpu = sum(n.cpu_s for n in corpus)
    long = [n for n in corpus if n.hours >= 7.0 and n.rate_hz == 50.0]
    out = {
        "x_real_time": rec_s / wall,
        "cpu_us_per_sample": cpu / samples * 1e6,
        "detect_cpu_us_per_sample": (cpu - sum(n.read_cpu_s for n in corpus)) / samples * 1e6,
        "baseline_cpu_us_per_sample": sum(n.base_cpu_s for n in corpus) / samples * 1e6,
        "read_share": sum(n.read_s for n in corpus) / wall,
    }
    if long:
        n = long[0]
        out["night_8h_50hz_s"] = n.wall_s
        out["night_8h_50hz_x_real_time"] = n.hours * 3600.0 / n.wall_s
        out["night_8h_50hz_read_s"] = n.read_s
    return out


def report(results: dict) -> str:
    rows = []
    for name in ("detector", "baseline"):
        for gen, r in results[name].items():
            rows.append(
                f"| {name} | {gen} | {r['episodes']} ({r['episodes_ge_20s']}) | {r['sensitivity']:.3f} | "
                f"{r['sensitivity_ge_20s']:.3f} | {r['false_alarms']} ({r['false_alarms_per_8h']:.3f}) | "
                f"{r['repeats']} | {r['latency_median_s']:.1f} | {r['latency_p90_s']:.1f} |"
            )
    s = results["speed"]
    lines = [
        f"corpus: {results['corpus']} ({results['hours']:.1f} h, {results['nights']} nights)",
        "",
        "| detector | generator | cramps (>= 20 s) | sensitivity | sens. >= 20 s | false alarms (per 8 h) | repeats "
        "| median latency s | p90 latency s |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"replay speed: {s['x_real_time']:.0f}x real time over the corpus (reading the file: "
        f"{100 * s['read_share']:.0f} % of it); CPU per sample: {s['cpu_us_per_sample']:.2f} us with reading, "
        f"{s['detect_cpu_us_per_sample']:.2f} us detector + alert policy alone "
        f"(baseline {s['baseline_cpu_us_per_sample']:.2f} us)",
    ]
    if "night_8h_50hz_s" in s:
        lines.append(f"8-hour 50 Hz night: {s['night_8h_50hz_s']:.2f} s including reading "
                     f"({s['night_8h_50hz_read_s']:.2f} s), {s['night_8h_50hz_x_real_time']:.0f}x real time")
    fa = results["detector"]["all"]["false_alarms_by_sleeper"]
    lines.append("detector false alarms by sleeper: " + ", ".join(f"{k} {v}" for k, v in fa.items()))
    for m in results["detector"]["all"]["misses"]:
        lines.append(f"missed: {m['file']} onset {m['onset']} s, {m['duration_s']} s long")
    return "\n".join(lines)


def summary(results: dict) -> str:
    """The one line ``python -m benchmarks`` shows: the detector's headline figures on the whole corpus."""
    d, s = results["detector"]["all"], results["speed"]
    return (f"summary: {results['corpus']} corpus {results['hours']:.0f} h: sensitivity {d['sensitivity']:.3f}, "
            f"{d['false_alarms_per_8h']:.2f} false alarms per 8 h, {d['repeats']} repeats, "
            f"latency median {d['latency_median_s']:.1f} s p90 {d['latency_p90_s']:.1f} s, "
            f"replay {s['x_real_time']:.0f}x real time")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", choices=sorted(SEEDS), default="heldout")
    ap.add_argument("--out", help="keep the recordings here (default: a temporary directory)")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--plots", help="draw example episodes and the hardest rejected look-alikes into this directory")
    ap.add_argument("--quick", action="store_true", help="one night per sleeper type (a smoke run)")
    ap.add_argument("--nights", type=int, default=NIGHTS_PER_SLEEPER, metavar="N",
                    help=f"2-hour nights per sleeper type and generator (default {NIGHTS_PER_SLEEPER})")
    ap.add_argument("--sensitivity", choices=("low", "normal", "high"), default="normal")
    ap.add_argument("--config", metavar="FILE",
                    help="replay with this configuration's [detection] table (a `nightcramp tune` fragment, or a "
                         "trade such as confirm_s = 25), as `nightcramp replay --config FILE` does; "
                         "--sensitivity is then ignored (the file's preset applies)")
    ap.add_argument("--real", action="append", default=[], metavar="DIR",
                    help="also judge the recordings in DIR (NAME.csv.gz + NAME.labels.json); repeatable")
    ap.add_argument("--no-real", action="store_true", help="skip the real recordings")
    ap.add_argument("--real-only", action="store_true", help="only the real recordings (no simulated corpus)")
    ap.add_argument("--before", metavar="REV", help="replay the real recordings with git revision REV as well")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    logging.getLogger("service").setLevel(logging.WARNING)
    config = Config()
    config = replace(config, detection=replace(config.detection, sensitivity=args.sensitivity))
    if args.config:
        try:
            given = load_config(args.config)
        except ConfigError as exc:
            print(f"config error: {exc}", file=sys.stderr)
            return 2
        config = replace(config, detection=given.detection)  # only the detector's settings; the rest stays default
    results: dict = {"corpus": args.corpus, "sensitivity_preset": config.detection.sensitivity,
                     "detection": {k: v for k, v in asdict(config.detection).items() if v is not None}}
    lines = []
    if not args.real_only:
        results.update(simulated(args, config))
        lines.append(summary(results))
    if not args.no_real:
        dirs = realdata.real_dirs(args.real)
        files = realdata.load_files(dirs)
        if not files:
            log.warning("no real recordings found (looked in %s)", ", ".join(map(str, dirs)) or realdata.DEFAULT_DIR)
        else:
            for f in files:
                realdata.replay_file(f, config)
            if args.before:
                realdata.replay_before(files, args.before, args.sensitivity)
            results["real"] = realdata.results(files)
            print()
            print(realdata.report(results["real"]))
            lines.append("summary: " + realdata.summary_part(results["real"]))
            if not args.quick:
                results["real_later_starts"] = realdata.later_starts_results(files, config)
                print()
                print(realdata.later_starts_report(results["real_later_starts"]))
                ls = results["real_later_starts"]
                lines.append(f"summary: later starts {ls['starts']}: {ls['false_alarms']} false alarms "
                             f"({ls['per_8h']:.1f} per 8 h)")
                results["real_variants"] = realdata.variants_results(files, config)
                print()
                print(realdata.variants_report(results["real_variants"]))
                worst = max(results["real_variants"]["variants"], key=lambda r: r["per_8h"])
                lines.append(f"summary: sensor variants: at most {worst['false_alarms']} false alarms "
                             f"({worst['per_8h']:.1f} per 8 h, {worst['variant']})")
            if args.plots:
                from benchmarks.realplots import draw_real

                for p in draw_real(files, Path(args.plots)):
                    log.info("drew %s", p)
    if not lines:
        print("summary: nothing was run", file=sys.stderr)
        return 1
    # the one summary line the benchmark runner shows joins both parts
    print("; ".join([lines[0]] + [line.removeprefix("summary: ") for line in lines[1:]]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


def simulated(args, config: Config) -> dict:
    """Build, replay and score the simulated corpus; print its report; its figures."""
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="nightcramp-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        corpus = build_corpus(args.corpus, out, quick=args.quick, nights_per_sleeper=args.nights)
        log.info("corpus of %d recordings written in %.0f s", len(corpus), time.perf_counter() - t0)
        for night in corpus:
            run_night(night, config)
        gens = sorted({n.generator for n in corpus})
        results = {
            "nights": len(corpus),
            "hours": sum(n.hours for n in corpus),
            "detector": {}, "baseline": {},
            "speed": speed(corpus),
        }
        for which in ("detector", "baseline"):
            results[which]["all"] = summarise(corpus, which)
            if len(gens) > 1:
                for g in gens:
                    results[which][g] = summarise([n for n in corpus if n.generator == g], which)
        print(report({**results, "corpus": args.corpus}))
        if args.plots:
            from benchmarks.plots import draw

            draw(corpus, Path(args.plots))
        return results
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
