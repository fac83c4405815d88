"""Statistics of the real look-alikes, measured on the real recordings, to calibrate the simulator.

Run: ``python -m benchmarks.calibrate_real`` (reads the recordings benchmarks/realdata.py finds:
``../shared/data/real`` beside the repository, or ``--real DIR``).  ``--json FILE`` writes the
numbers; ``--sim`` also measures the simulator's own cramps and look-alikes the same way, so the
difference is visible.  The numbers are quoted in docs/simulator.md and in
service/sim/lookalikes.py.

How a bout is found (the same for every file and for the simulator's clips):

* Each file is cut into 1-s windows by its timestamps (jitter and gaps as recorded).  The
  *dynamic RMS* of a window is the root of the summed per-axis variances: the acceleration's
  spread about the window mean, gravity removed.  The window mean, normalised, is the gravity
  direction of that second.
* The noise floor of a file is the 10th percentile of its 1-s dynamic RMS.
* Hysteresis: a bout starts at a second above ``floor + 15 mg`` (and 3x the floor); it goes on
  while active seconds (above ``floor + 5 mg`` and 1.5x the floor) come no more than 10 s apart,
  and it ends at its last active second.  Seconds inside a bout that are below the low threshold
  are its still gaps; the *duty cycle* is active seconds / bout seconds.
* Turn: the angle between the mean gravity direction of the 5 s before the bout and of the 5 s
  after it.  Tilt steadiness: the RMS angle between each active second's gravity direction and
  the bout's mean direction (the spread of the tilt inside the bout).
* Spectra: per-axis samples of the bout, linearly resampled at the file's median rate, detrended
  per 4-s Hann segment; the share of the summed power in 0.3-3 Hz and in 6-20 Hz, out of
  0.3 Hz to Nyquist (6-20 Hz only where Nyquist > 20 Hz).
* End: seconds from the bout's last second above the high threshold to its last active second
  (a bout that stops dead has 0); then, by construction, at least 10 s below the low threshold.
* Axis flip: a bout in which one sensor axis's gravity component goes from above +0.7 g to below
  -0.7 g (or back) within the bout +- 5 s.
* Stride: for walking, the frequency of the largest peak (0.5-3 Hz) of the magnitude's spectrum.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks import realdata
from service.recording.format import read_recording

log = logging.getLogger("benchmarks.calibrate_real")

HI_MG, LO_MG = 15.0, 5.0
MERGE_S = 10
PAD_S = 5
SETTLING_END_S = 4200.0  # wrist night: "settling in and restless until about 00:40" (t = 0 at 23:30)


# ------------------------------------------------------------------ per-second features


@dataclass
class Seconds:
    rms: np.ndarray        # (S,) dynamic RMS in g per 1-s window (nan where no samples)
    grav: np.ndarray       # (S, 3) unit gravity direction per window
    mean: np.ndarray       # (S, 3) mean acceleration (g)
    floor: float


def seconds(t: np.ndarray, a: np.ndarray) -> Seconds:
    idx = np.floor(t).astype(np.int64)
    n_s = int(idx[-1]) + 1
    cnt = np.bincount(idx, minlength=n_s).astype(float)
    mean = np.column_stack([np.bincount(idx, a[:, k], n_s) for k in range(3)])
    sq = np.column_stack([np.bincount(idx, a[:, k] ** 2, n_s) for k in range(3)])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = mean / cnt[:, None]
        var = np.clip(sq / cnt[:, None] - mean ** 2, 0.0, None)
        rms = np.sqrt(var.sum(axis=1))
        rms[cnt < 3] = np.nan
        norm = np.linalg.norm(mean, axis=1, keepdims=True)
        grav = mean / norm
    floor = float(np.nanpercentile(rms, 10))
    return Seconds(rms, grav, mean, floor)


def thresholds(floor: float) -> tuple[float, float]:
    hi = max(floor + HI_MG / 1000.0, 3.0 * floor)
    lo = max(floor + LO_MG / 1000.0, 1.5 * floor)
    return hi, lo


def find_bouts(s: Seconds, lo_s: int = 0, hi_s: int | None = None) -> list[tuple[int, int]]:
    """(first, last) active seconds of each bout (inclusive) between seconds lo_s and hi_s."""
    hi_t, lo_t = thresholds(s.floor)
    rms = np.nan_to_num(s.rms, nan=0.0)
    end = len(rms) if hi_s is None else min(hi_s, len(rms))
    bouts = []
    i = lo_s
    while i < end:
        if rms[i] > hi_t:
            # walk back to the first active second of this run
            a = i
            while a - 1 >= lo_s and rms[a - 1] > lo_t:
                a -= 1
            last = i
            j = i + 1
            while j < end and j - last <= MERGE_S:
                if rms[j] > lo_t:
                    last = j
                j += 1
            if bouts and a <= bouts[-1][1] + MERGE_S:
                bouts[-1] = (bouts[-1][0], last)
            else:
                bouts.append((a, last))
            i = last + 1
        else:
            i += 1
    return bouts


def _angle(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)), -1, 1))))


def _mean_dir(g: np.ndarray) -> np.ndarray | None:
    g = g[np.all(np.isfinite(g), axis=1)]
    if not len(g):
        return None
    m = g.mean(axis=0)
    return m / np.linalg.norm(m)


def band_shares(t: np.ndarray, a: np.ndarray) -> tuple[float, float | None]:
    """Share of the power 0.3-3 Hz and 6-20 Hz (of 0.3 Hz..Nyquist) of the samples (t, a)."""
    if len(t) < 16:
        return float("nan"), None
    dt = float(np.median(np.diff(t)))
    rate = 1.0 / dt
    tu = np.arange(t[0], t[-1], dt)
    au = np.column_stack([np.interp(tu, t, a[:, k]) for k in range(3)])
    seg = int(round(4.0 * rate))
    if len(tu) < seg:
        seg = len(tu)
    win = np.hanning(seg)
    freqs = np.fft.rfftfreq(seg, dt)
    psd = np.zeros(len(freqs))
    for s0 in range(0, len(tu) - seg + 1, max(1, seg // 2)):
        x = au[s0:s0 + seg]
        x = x - np.polyval(np.polyfit(np.arange(seg), x, 1), np.arange(seg)[:, None]) if seg > 2 else x
        spec = np.abs(np.fft.rfft(x * win[:, None], axis=0)) ** 2
        psd += spec.sum(axis=1)
    nyq = rate / 2.0
    tot = psd[(freqs >= 0.3) & (freqs <= nyq)].sum()
    if tot <= 0:
        return float("nan"), None
    low = psd[(freqs >= 0.3) & (freqs <= 3.0)].sum() / tot
    trem = psd[(freqs >= 6.0) & (freqs <= 20.0)].sum() / tot if nyq > 20.0 else None
    return float(low), (None if trem is None else float(trem))


@dataclass
class Bout:
    source: str
    cls: str
    start_s: float
    dur_s: float
    gap_before_s: float | None
    rms_mg: float          # RMS of the 1-s dynamic RMS over the bout's active seconds
    peak_mg: float         # largest 1-s dynamic RMS
    duty: float
    longest_still_s: int
    turn_deg: float | None
    tilt_spread_deg: float | None
    low_share: float
    tremor_share: float | None
    end_s: float
    rise_s: float          # seconds from the bout's first active second to its first above half its peak
    axis_flip: bool
    max_rot_deg: float     # largest angle between any two active seconds' gravity directions


def measure_bouts(source: str, cls: str, t: np.ndarray, a: np.ndarray, s: Seconds,
                  bouts: list[tuple[int, int]]) -> list[Bout]:
    hi_t, lo_t = thresholds(s.floor)
    rms = np.nan_to_num(s.rms, nan=0.0)
    out = []
    prev_end = None
    for b0, b1 in bouts:
        seg = rms[b0:b1 + 1]
        act = seg > lo_t
        still_runs, run = [], 0
        for v in act:
            run = 0 if v else run + 1
            still_runs.append(run)
        before = _mean_dir(s.grav[max(0, b0 - PAD_S):b0])
        after = _mean_dir(s.grav[b1 + 1:b1 + 1 + PAD_S])
        turn = _angle(before, after) if before is not None and after is not None else None
        g_in = s.grav[b0:b1 + 1][act]
        g_in = g_in[np.all(np.isfinite(g_in), axis=1)]
        spread = None
        max_rot = 0.0
        if len(g_in) >= 2:
            m = _mean_dir(g_in)
            spread = float(np.sqrt(np.mean([_angle(g, m) ** 2 for g in g_in])))
            dots = np.clip(g_in @ g_in.T, -1, 1)
            max_rot = float(np.degrees(np.arccos(dots.min())))
        lo_i, hi_i = np.searchsorted(t, [b0, b1 + 1])
        low, trem = band_shares(t[lo_i:hi_i], a[lo_i:hi_i])
        strong = np.flatnonzero(seg > hi_t)
        end_s = float(len(seg) - 1 - strong[-1]) if strong.size else float(len(seg))
        peak = float(seg.max())
        rise = float(np.flatnonzero(seg >= 0.5 * peak)[0])
        m_wide = s.mean[max(0, b0 - PAD_S):b1 + 1 + PAD_S]
        m_wide = m_wide[np.all(np.isfinite(m_wide), axis=1)]
        flip = bool(np.any((m_wide.max(axis=0) > 0.7) & (m_wide.min(axis=0) < -0.7))) if len(m_wide) else False
        out.append(Bout(source, cls, float(b0), float(b1 - b0 + 1),
                        None if prev_end is None else float(b0 - prev_end - 1),
                        float(np.sqrt(np.mean(seg[act] ** 2)) * 1000.0), peak * 1000.0,
                        float(act.mean()), int(max(still_runs)), turn, spread, low, trem, end_s, rise,
                        flip, max_rot))
        prev_end = b1
    return out


# ------------------------------------------------------------------ the files


def _contexts(f: realdata.RealFile, label_word: str) -> list[tuple[float, float]]:
    return [(lo, hi) for lo, hi, name in f.contexts if name.lower().startswith(label_word)]


def real_bouts(files: list[realdata.RealFile]) -> tuple[list[Bout], dict]:
    bouts: list[Bout] = []
    extra: dict = {"floors_mg": {}, "walking": [], "label0": []}
    for f in files:
        rec = read_recording(f.path)
        t, a = rec.t, rec.accel
        s = seconds(t, a)
        extra["floors_mg"][f.name] = round(s.floor * 1000.0, 2)
        log.info("%s: %.2f h, floor %.1f mg", f.name, f.hours, s.floor * 1000.0)
        if "wrist" in f.name:
            found = find_bouts(s)
            settle = [b for b in found if b[0] < SETTLING_END_S]
            sleep = [b for b in found if b[0] >= SETTLING_END_S]
            bouts += measure_bouts(f.name, "settling", t, a, s, settle)
            bouts += measure_bouts(f.name, "arousal", t, a, s, sleep)
            # the settling period as a whole: share of active seconds, minutes
            hi_t, lo_t = thresholds(s.floor)
            r = np.nan_to_num(s.rms[:int(SETTLING_END_S)], nan=0.0)
            extra["settling_period"] = {"minutes": SETTLING_END_S / 60.0, "active_share": float((r > lo_t).mean()),
                                        "bouts": len(settle)}
            r2 = np.nan_to_num(s.rms[int(SETTLING_END_S):], nan=0.0)
            extra["sleep_period"] = {"hours": len(r2) / 3600.0, "active_share": float((r2 > lo_t).mean()),
                                     "bouts": len(sleep), "bouts_per_h": len(sleep) / (len(r2) / 3600.0)}
        elif "daphnet" in f.name:
            for lo, hi in _contexts(f, "not part"):
                found = find_bouts(s, int(lo), int(hi))
                which = "handling_start" if lo < 1.0 else "handling_end"
                bouts += measure_bouts(f.name, which, t, a, s, found)
                seg = s.mean[int(lo):int(hi)]
                seg = seg[np.all(np.isfinite(seg), axis=1)]
                g = s.grav[int(lo):int(hi)]
                g = g[np.all(np.isfinite(g), axis=1)]
                rot = float(np.degrees(np.arccos(np.clip((g @ g.T).min(), -1, 1)))) if len(g) > 1 else 0.0
                r = np.nan_to_num(s.rms[int(lo):int(hi)], nan=0.0)
                extra["label0"].append({"file": f.name, "onset": lo, "end": hi, "bouts": len(found),
                                        "axis_flip": bool(np.any((seg.max(axis=0) > 0.7) & (seg.min(axis=0) < -0.7))),
                                        "max_rotation_deg": round(rot, 1),
                                        "active_share": round(float((r > thresholds(s.floor)[1]).mean()), 3),
                                        "rms_p90_mg": round(float(np.percentile(r, 90)) * 1000.0, 1)})
            if "shank" in f.name:
                extra["walking"].append(walking_stats(f.name, t, a, s, _contexts(f, "experiment")))
        else:
            extra["walking"].append(walking_stats(f.name, t, a, s, [(0.0, float(t[-1]))]))
    return bouts, extra


def walking_stats(name: str, t, a, s: Seconds, spans) -> dict:
    """Stride frequency, dynamic RMS and peaks of labelled walking (or a whole walking file)."""
    rms, strides, peaks, grav_shin = [], [], [], []
    for lo, hi in spans:
        if hi - lo < 8:
            continue
        lo_i, hi_i = np.searchsorted(t, [lo, hi])
        tt, aa = t[lo_i:hi_i], a[lo_i:hi_i]
        mag = np.linalg.norm(aa, axis=1)
        dt = float(np.median(np.diff(tt)))
        tu = np.arange(tt[0], tt[-1], dt)
        mu = np.interp(tu, tt, mag) - mag.mean()
        f = np.fft.rfftfreq(len(mu), dt)
        p = np.abs(np.fft.rfft(mu * np.hanning(len(mu)))) ** 2
        band = (f >= 0.5) & (f <= 3.0)
        f_pk = float(f[band][np.argmax(p[band])])
        # the magnitude's strongest periodicity is often 2x stride (each step); stride = the leg's period
        strides.append(f_pk)
        r = s.rms[int(lo):int(hi)]
        rms.extend(r[np.isfinite(r)].tolist())
        peaks.append(float(np.percentile(mag, 99)))
        low, trem = band_shares(tt, aa)
        grav_shin.append((low, trem))
    if not rms:
        return {"file": name}
    return {"file": name, "step_hz": [round(x, 2) for x in strides],
            "rms_mg_p10_p50_p90": [round(float(np.percentile(rms, q)) * 1000, 1) for q in (10, 50, 90)],
            "mag_p99_g": [round(x, 2) for x in peaks],
            "low_share": [round(x[0], 2) for x in grav_shin],
            "tremor_share": [None if x[1] is None else round(x[1], 2) for x in grav_shin]}


def sim_bouts(seeds=range(12), rate_hz: float = 50.0, classes=None) -> list[Bout]:
    """The simulator's cramps and look-alikes, measured the same way (50 Hz, MPU-6050 at +-8 g, no gaps).

    The floor is taken from the clip's quiet end (the last 50 s), where every clip is still.
    """
    from service.sim.lookalikes import LOOKALIKE_CLASSES
    from service.sim.scenarios import lookalike_night, scenario

    kinds = list(classes or ("cramp", "mild_cramp", "fidget", "rollover", "walk") + LOOKALIKE_CLASSES)
    out = []
    for kind in kinds:
        for seed in seeds:
            if kind in LOOKALIKE_CLASSES:
                rec, _ = lookalike_night(kind, seed=seed, rate_hz=rate_hz, range_g=8, jitter=False, gaps=False)
                t, a = rec.t, rec.accel
            else:
                t, a, _ = scenario(kind, seed=seed, rate_hz=rate_hz, range_g=8)
            s = seconds(t, a)
            s.floor = float(np.nanpercentile(s.rms[-50:], 50))
            out += measure_bouts("sim", "sim_" + kind, t, a, s, find_bouts(s))
    return out


# ------------------------------------------------------------------ reporting


def _q(vals, qs=(10, 50, 90), fmt="{:.0f}") -> str:
    v = np.array([x for x in vals if x is not None and np.isfinite(x)], float)
    if not len(v):
        return "-"
    return " / ".join(fmt.format(np.percentile(v, q)) for q in qs)


def summarise(bouts: list[Bout]) -> dict:
    classes: dict[str, list[Bout]] = {}
    for b in bouts:
        classes.setdefault(b.cls, []).append(b)
    out = {}
    for cls, bs in classes.items():
        def col(k):
            return [getattr(b, k) for b in bs]

        def pct(k, qs=(10, 50, 90)):
            v = np.array([x for x in col(k) if x is not None and np.isfinite(x)], float)
            return [round(float(np.percentile(v, q)), 3) for q in qs] if len(v) else None

        out[cls] = {"bouts": len(bs), "dur_s": pct("dur_s"), "gap_before_s": pct("gap_before_s"),
                    "rms_mg": pct("rms_mg"), "peak_mg": pct("peak_mg"), "duty": pct("duty"),
                    "longest_still_s": pct("longest_still_s"), "turn_deg": pct("turn_deg"),
                    "turn_over_45_share": round(float(np.mean([(b.turn_deg or 0) > 45 for b in bs])), 3),
                    "tilt_spread_deg": pct("tilt_spread_deg"), "low_share": pct("low_share"),
                    "tremor_share": pct("tremor_share"), "end_s": pct("end_s"), "rise_s": pct("rise_s"),
                    "axis_flip_share": round(float(np.mean(col("axis_flip"))), 3),
                    "max_rot_deg": pct("max_rot_deg"),
                    "dur_ge_20s": pct_long(bs)}
    return out


def pct_long(bs: list[Bout]) -> dict | None:
    """The same figures for bouts of 20 s or more (the ones a cramp detector can confuse)."""
    long = [b for b in bs if b.dur_s >= 20]
    if not long:
        return None

    def pct(k):
        v = np.array([getattr(b, k) for b in long if getattr(b, k) is not None], float)
        v = v[np.isfinite(v)]
        return [round(float(np.percentile(v, q)), 3) for q in (10, 50, 90)] if len(v) else None

    return {"bouts": len(long), "dur_s": pct("dur_s"), "rms_mg": pct("rms_mg"), "duty": pct("duty"),
            "longest_still_s": pct("longest_still_s"), "turn_deg": pct("turn_deg"),
            "tilt_spread_deg": pct("tilt_spread_deg"), "end_s": pct("end_s")}


def table(bouts: list[Bout]) -> str:
    classes: dict[str, list[Bout]] = {}
    for b in bouts:
        classes.setdefault(b.cls, []).append(b)
    head = ("| class | bouts | duration s | gap before s | dyn RMS mg | peak mg | duty | longest still s | turn deg "
            "| turn > 45 | tilt spread deg | 0.3-3 Hz share | 6-20 Hz share | end s | rise s | axis flip |")
    lines = ["p10 / median / p90 per bout", "", head, "|" + "---|" * (head.count("|") - 1)]
    for cls, bs in classes.items():
        lines.append(
            f"| {cls} | {len(bs)} | {_q([b.dur_s for b in bs])} | {_q([b.gap_before_s for b in bs])} "
            f"| {_q([b.rms_mg for b in bs])} | {_q([b.peak_mg for b in bs])} "
            f"| {_q([b.duty for b in bs], fmt='{:.2f}')} | {_q([b.longest_still_s for b in bs])} "
            f"| {_q([b.turn_deg for b in bs])} | {np.mean([(b.turn_deg or 0) > 45 for b in bs]):.2f} "
            f"| {_q([b.tilt_spread_deg for b in bs], fmt='{:.1f}')} | {_q([b.low_share for b in bs], fmt='{:.2f}')} "
            f"| {_q([b.tremor_share for b in bs], fmt='{:.2f}')} | {_q([b.end_s for b in bs])} "
            f"| {_q([b.rise_s for b in bs])} | {np.mean([b.axis_flip for b in bs]):.2f} |")
    lines += ["", "bouts of 20 s or more:", "", "| class | bouts | duration s | dyn RMS mg | duty | longest still s "
              "| turn deg | tilt spread deg | end s |", "|---|---|---|---|---|---|---|---|---|"]
    for cls, bs in classes.items():
        long = [b for b in bs if b.dur_s >= 20]
        if long:
            lines.append(f"| {cls} | {len(long)} | {_q([b.dur_s for b in long])} | {_q([b.rms_mg for b in long])} "
                         f"| {_q([b.duty for b in long], fmt='{:.2f}')} | {_q([b.longest_still_s for b in long])} "
                         f"| {_q([b.turn_deg for b in long])} | {_q([b.tilt_spread_deg for b in long], fmt='{:.1f}')} "
                         f"| {_q([b.end_s for b in long])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.calibrate_real", description=__doc__.split("\n")[0])
    ap.add_argument("--real", action="append", default=[], metavar="DIR", help="read the recordings in DIR too")
    ap.add_argument("--json", help="write the numbers (and every bout) to this file")
    ap.add_argument("--sim", action="store_true", help="also measure the simulator's cramps and look-alikes")
    ap.add_argument("--sim-only", action="store_true", help="only the simulator's clips (no real recordings needed)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    bouts, extra = [], {}
    if not args.sim_only:
        files = realdata.load_files(realdata.real_dirs(args.real))
        if not files:
            print("no real recordings found", file=sys.stderr)
            return 1
        bouts, extra = real_bouts(files)
    if args.sim or args.sim_only:
        bouts += sim_bouts()
    print(table(bouts))
    print()
    print(json.dumps(extra, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summarise(bouts), "extra": extra,
                                               "bouts": [asdict(b) for b in bouts]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
