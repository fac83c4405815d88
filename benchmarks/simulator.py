"""Speed and memory of the recording format and the night simulator.

Run: ``.venv/bin/python -m benchmarks.simulator`` (about a minute).  Writes
the figures between the ``bench`` markers in docs/simulator.md (``--no-docs``
only prints them; ``--quick`` measures 1-hour nights instead of 8-hour ones
to try the benchmark, and never writes the docs, whose figures are for 8 hours).

Measured, on this machine, one core:

- ``read_recording`` of an 8-hour 50 Hz night (1.44 M rows), plain and gzip,
  and the chunked ``iter_recording``: seconds (best of 3) and peak Python
  heap (tracemalloc, a separate pass so tracing does not slow the timing);
- writing that night with ``write_simulated_night`` (render + format + gzip);
- the renderer as a live sample source: samples per CPU second when called
  the way an emulated chip calls it (10 samples = one 0.2 s drain at 50 Hz,
  and 4096 = the chip's catch-up chunk), as a multiple of real time at 50 Hz
  (the demo needs 480x);
- an 8-hour 200 Hz night written to .csv.gz: seconds and peak heap (the
  renderer works a minute at a time, so this must stay bounded).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
import tracemalloc
from pathlib import Path

from service.recording.format import iter_recording, read_recording
from service.sim.render import night_source
from service.sim.simulate import write_simulated_night

DOC = Path(__file__).resolve().parent.parent / "docs" / "simulator.md"


def _best(fn, repeat=3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def _drain_all(path):
    for _ in iter_recording(path):
        pass


def run(hours: float = 8.0) -> tuple[list[tuple[str, str]], str]:
    """The table's rows for nights of ``hours`` (8 in the docs), and the one-line summary of them."""
    rows: list[tuple[str, str]] = []
    night = f"{hours:g} h"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plain, gz = tmp / "night.csv", tmp / "night.csv.gz"
        kw = dict(hours=hours, cramps=2, seed=424242, rate_hz=50.0, sensor="mpu6050", sleeper="restless")
        t0 = time.process_time()
        write_simulated_night(plain, **kw)
        rows.append((f"simulate + write {night} at 50 Hz, plain CSV", f"{time.process_time() - t0:.1f} s"))
        t0 = time.process_time()
        write_simulated_night(gz, **kw)
        write_gz_s = time.process_time() - t0
        rows.append((f"simulate + write {night} at 50 Hz, .csv.gz", f"{write_gz_s:.1f} s"))
        n = len(read_recording(plain))
        rows.append((f"rows in the {night} 50 Hz night (gaps included)", f"{n:,}"))
        read_s = {}
        for label, path in (("plain", plain), ("gzip", gz)):
            s = read_s[label] = _best(lambda: read_recording(path))
            rows.append((f"read_recording, {night} 50 Hz, {label}", f"{s:.2f} s ({n / s / 1e6:.2f} M rows/s)"))
        s = _best(lambda: _drain_all(plain))
        rows.append(("iter_recording (65,536-row chunks), plain", f"{s:.2f} s"))
        rows.append(("peak heap, read_recording plain", f"{_peak_mb(lambda: read_recording(plain)):.0f} MB"))
        rows.append(("peak heap, iter_recording plain", f"{_peak_mb(lambda: _drain_all(plain)):.0f} MB"))
        rows.append(("file size, plain / gzip", f"{plain.stat().st_size / 1e6:.0f} MB / {gz.stat().st_size / 1e6:.0f} MB"))

        src = night_source(hours, 2, seed=424242, sleeper="restless")
        live = {}
        for chunk, source_h in ((10, min(1.0, hours)), (4096, hours)):
            total = int(source_h * 3600 * 50)
            t0 = time.process_time()
            k = 0
            while k < total:
                m = min(chunk, total - k)
                src(k / 50.0, m, 50.0)
                k += m
            s = time.process_time() - t0
            live[chunk] = total / s / 50
            rows.append((f"live source, calls of {chunk} samples at 50 Hz ({source_h:g} h)",
                         f"{total / s:,.0f} samples/s = {total / s / 50:,.0f}x real time"))

        big = tmp / "night200.csv.gz"
        kw200 = dict(kw, rate_hz=200.0)
        t0 = time.process_time()
        write_simulated_night(big, **kw200)
        rows.append((f"simulate + write {night} at 200 Hz, .csv.gz", f"{time.process_time() - t0:.1f} s"))
        short = dict(kw200, hours=min(1.0, hours))
        rows.append((f"peak heap, simulate + write {min(1.0, hours):g} h at 200 Hz",
                     f"{_peak_mb(lambda: write_simulated_night(tmp / 'short.csv.gz', **short)):.0f} MB"))
        peak_200 = _peak_mb(lambda: write_simulated_night(big, **kw200))
        rows.append((f"peak heap, simulate + write {night} at 200 Hz", f"{peak_200:.0f} MB"))
    summary = (f"summary: {night} 50 Hz night: simulate + write .csv.gz {write_gz_s:.1f} s, read_recording "
               f"{read_s['plain']:.2f} s plain / {read_s['gzip']:.2f} s gzip; live source "
               f"{live[10]:,.0f}x real time in 0.2 s drains; {night} at 200 Hz peak heap {peak_200:.0f} MB")
    return rows, summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-docs", action="store_true", help="print only; do not update docs/simulator.md")
    ap.add_argument("--quick", action="store_true",
                    help="1-hour nights instead of 8-hour ones (a smoke run); implies --no-docs")
    args = ap.parse_args(argv)
    rows, summary = run(1.0 if args.quick else 8.0)
    table = "| measurement | result |\n|---|---|\n" + "".join(f"| {a} | {b} |\n" for a, b in rows)
    stamp = time.strftime("%Y-%m-%d")
    block = f"<!-- bench:start -->\nMeasured {stamp} with `python -m benchmarks.simulator` (CPU time, one core):\n\n{table}<!-- bench:end -->"
    print(table)
    if not (args.no_docs or args.quick) and DOC.exists():
        text = DOC.read_text()
        new = re.sub(r"<!-- bench:start -->.*?<!-- bench:end -->", lambda m: block, text, flags=re.S)
        DOC.write_text(new)
        print(f"updated {DOC}")
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
