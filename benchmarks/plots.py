"""Figures for docs/detection.md: detected episodes and the hardest rejected look-alikes.

Drawn from the benchmark corpus after it ran (``--plots DIR``), with the Agg
backend (no display needed).  Each panel shows the movement the detector sees
(RMS dynamic acceleration per 0.5 s window, orientation-free) and the angle of
the leg's posture from where it lay before, the labelled span, and the alerts.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from service.recording.format import labels_path, read_labels, read_recording  # noqa: E402


def _features(t: np.ndarray, a: np.ndarray, lo: float, hi: float):
    sel = (t >= lo) & (t < hi)
    t, a = t[sel], a[sel]
    w = np.floor(t / 0.5).astype(np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(w)) + 1))
    counts = np.diff(np.concatenate((starts, [t.size])))
    mean = np.add.reduceat(a, starts, axis=0) / counts[:, None]
    dev = a - np.repeat(mean, counts, axis=0)
    rms = np.sqrt(np.add.reduceat(np.einsum("ij,ij->i", dev, dev), starts) / counts)
    norm = np.linalg.norm(mean, axis=1)
    good = norm > 1e-6  # a recorder that held zeros has no orientation for that window
    ref = mean[np.argmax(good)] / max(norm[np.argmax(good)], 1e-6)
    with np.errstate(invalid="ignore", divide="ignore"):
        ang = np.degrees(np.arccos(np.clip(mean @ ref / norm, -1, 1)))
    ang[~good] = np.nan
    return (w[starts] + 0.5) * 0.5, rms, ang


def _panel(ax, night, lo, hi, title, span=None):
    rec = read_recording(night.path)
    tw, rms, ang = _features(rec.t, rec.accel, lo, hi)
    ax.semilogy(tw - lo, np.maximum(rms, 1e-3), lw=0.8, color="tab:blue", label="dynamic RMS (g)")
    ax.set_ylim(1e-3, 3)
    ax.set_ylabel("g RMS")
    ax2 = ax.twinx()
    ax2.plot(tw - lo, ang, lw=0.8, color="tab:orange", label="posture angle (deg)")
    ax2.set_ylim(0, 180)
    ax2.set_ylabel("deg")
    if span:
        ax.axvspan(span[0] - lo, min(span[1], hi) - lo, color="tab:red", alpha=0.12, label="labelled cramp")
    alerts = [x for x, _ in night.alerts if lo <= x <= hi]
    for x in alerts:
        ax.axvline(x - lo, color="tab:red", lw=1.5)
    ax.set_title(f"{title}: {'alert at +%.1f s' % (alerts[0] - (span[0] if span else lo)) if alerts else 'no alert'}"
                 f"  [{night.sensor} {night.rate_hz:g} Hz, {night.generator}]", fontsize=9)
    ax.set_xlabel("s")


def _lookalikes(night):
    extra = read_labels(labels_path(night.path)).extra
    return extra.get("lookalikes") or extra.get("moves") or []


def draw(corpus, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    # detected episodes: a typical one, a mild one, one at 20 Hz
    picks = []
    for night in corpus:
        info = read_labels(labels_path(night.path)).episode_info
        for k, (on, end) in enumerate(night.episodes):
            sev = info[k].get("severity", "") if k < len(info) else ""
            picks.append((night, on, end, sev))
    chosen = []
    for want in ("typical", "mild"):
        hit = next((p for p in picks if p[3] == want and p[0].generator == "sim" and any(
            p[1] - 2 <= x <= p[2] + 5 for x, _ in p[0].alerts)), None)
        if hit:
            chosen.append((hit, f"{want} cramp"))
    hit = next((p for p in picks if p[0].generator == "synth" and p[0].rate_hz == 20.0), None)
    if hit:
        chosen.append((hit, "cramp, 20 Hz"))
    if chosen:
        fig, axes = plt.subplots(len(chosen), 1, figsize=(9, 2.6 * len(chosen)), squeeze=False)
        for ax, ((night, on, end, _), title) in zip(axes[:, 0], chosen):
            _panel(ax, night, on - 30.0, min(end, on + 150.0) + 30.0, title, span=(on, end))
        fig.tight_layout()
        path = out / "detected-episodes.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    # hardest rejected look-alikes: the longest of each kind
    best = {}
    for night in corpus:
        for item in _lookalikes(night):
            kind = item["kind"]
            dur = item["end"] - item["start"]
            if kind in ("rollover", "plm", "fidget", "walk") and dur > best.get(kind, (0,))[0]:
                best[kind] = (dur, night, item["start"], item["end"])
    if best:
        fig, axes = plt.subplots(len(best), 1, figsize=(9, 2.6 * len(best)), squeeze=False)
        for ax, (kind, (dur, night, s0, s1)) in zip(axes[:, 0], sorted(best.items())):
            _panel(ax, night, s0 - 20.0, min(s1, s0 + 300.0) + 20.0, f"{kind} ({dur:.0f} s)")
        fig.tight_layout()
        path = out / "rejected-lookalikes.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written
