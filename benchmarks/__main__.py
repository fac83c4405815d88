"""Run the benchmarks, each in a child process of its own, and print one line per benchmark.

    .venv/bin/python -m benchmarks                  # all of them at full size (the docs' figures)
    .venv/bin/python -m benchmarks --quick          # smaller runs, to see that everything works
    .venv/bin/python -m benchmarks accuracy soak    # only these

Each benchmark is ``python -m benchmarks.NAME`` and still runs alone with its own options.  A
separate process each keeps one benchmark's memory, threads and brokers out of the next one's
figures.  The line shown for a benchmark is the one it printed last starting with ``summary:``;
its whole output (stdout and stderr) is kept in benchmarks/out/NAME.log.

``--quick`` passes each benchmark its own quick option where it has one (accuracy, simulator,
soak: smaller corpora and shorter nights; tuning: 3-night weeks; mqtt_latency: fewer alerts).  Quick runs write no
figures into docs/: those are the full runs' numbers.  The others are already short and run
unchanged.

Exit status: 0 when every benchmark exited 0 and printed its summary, 1 otherwise, 2 for a
name that is not a benchmark.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"

BENCHMARKS = ("accuracy", "acquisition", "thermometers", "storage", "mqtt_latency", "simulator", "soak", "tuning")
QUICK_ARGS = {
    "accuracy": ["--quick"],
    "simulator": ["--quick"],
    "soak": ["--quick"],
    "tuning": ["--quick"],
    "mqtt_latency": ["--events", "50"],
}
SUMMARY_PREFIX = "summary:"


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_one(name: str, quick: bool, echo: bool) -> tuple[bool, str, float, float]:
    """Run ``benchmarks.NAME`` to completion: (ok, the line to show, wall seconds, CPU seconds).

    CPU is that of the benchmark's whole process tree (its own children included, once they
    have been waited for), from ``getrusage(RUSAGE_CHILDREN)``.
    """
    cmd = [sys.executable, "-m", f"benchmarks.{name}", *(QUICK_ARGS.get(name, []) if quick else [])]
    OUT.mkdir(parents=True, exist_ok=True)
    log_path = OUT / f"{name}.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # stdout and stderr interleave in the log as printed
    summary = last = ""
    wall0, cpu0 = time.monotonic(), _children_cpu_s()
    with open(log_path, "w", encoding="utf-8") as log_file:
        log_file.write("$ " + " ".join(cmd) + "\n")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log_file.write(line)
                if echo:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                text = line.strip()
                if text.startswith(SUMMARY_PREFIX):
                    summary = text[len(SUMMARY_PREFIX):].strip()
                if text:
                    last = text
            rc = proc.wait()
        except BaseException:  # Ctrl-C: leave no benchmark running behind us
            proc.kill()
            proc.wait()
            raise
    wall, cpu = time.monotonic() - wall0, _children_cpu_s() - cpu0
    if rc != 0:
        return False, f"exit status {rc}: {last or 'no output'} (see {log_path.relative_to(ROOT)})", wall, cpu
    if not summary:
        return False, f"printed no '{SUMMARY_PREFIX}' line (see {log_path.relative_to(ROOT)})", wall, cpu
    return True, summary, wall, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", metavar="NAME",
                    help="benchmarks to run, in this order (default: all of %s)" % ", ".join(BENCHMARKS))
    ap.add_argument("--quick", action="store_true", help="each benchmark's quick mode where it has one")
    ap.add_argument("-v", "--verbose", action="store_true", help="also show each benchmark's whole output")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        print("not a benchmark: %s (choose from %s)" % (", ".join(unknown), ", ".join(BENCHMARKS)), file=sys.stderr)
        return 2
    names = list(dict.fromkeys(args.names)) or list(BENCHMARKS)
    width = max(len(n) for n in names)
    failed = []
    t0 = time.monotonic()
    try:
        for name in names:
            print(f"{name:<{width}}  running ...", file=sys.stderr, flush=True)
            ok, text, wall, cpu = run_one(name, args.quick, args.verbose)
            if not ok:
                failed.append(name)
            print(f"{name:<{width}}  {'ok' if ok else 'FAILED':<6}  {wall:6.1f} s (CPU {cpu:6.1f} s)  {text}",
                  flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    mode = "quick" if args.quick else "full"
    print(f"{len(names)} benchmark{'s' if len(names) > 1 else ''} ({mode}) in {time.monotonic() - t0:.0f} s: "
          + (f"FAILED: {', '.join(failed)}" if failed else "all ok"), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
