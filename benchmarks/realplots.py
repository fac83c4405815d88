"""Figures for docs/detection.md: false alarms on real recordings, removed and remaining.

Drawn by ``python -m benchmarks.accuracy --before REV --plots DIR`` with the Agg
backend.  Each panel is 2.5 minutes of one real recording around a false alarm:
the movement the detector sees (RMS dynamic acceleration per 0.5 s window) and
the angle of the sensor's orientation from where it was at the panel's start.
Alerts of the earlier code (REV) are dashed grey lines, alerts of the current
code solid red lines.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.plots import _features  # noqa: E402
from benchmarks.realdata import MATCH_S, RealFile  # noqa: E402
from service.recording.format import read_recording  # noqa: E402

BEFORE_S, AFTER_S = 90.0, 60.0
"""The panel spans this long before and after the false alarm, in seconds."""
MAX_PANELS = 12


def _spread(items: list, n: int) -> list:
    """At most ``n`` of ``items``, evenly spread (so one busy file does not fill the figure)."""
    if len(items) <= n:
        return items
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in idx]


def _figure(picks, recs, title: str, path: Path) -> Path:
    cols = 2 if len(picks) > 1 else 1
    rows = (len(picks) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(7.5 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat[len(picks):]:
        ax.set_visible(False)
    for ax, (f, t) in zip(axes.flat, picks):
        rec = recs[f.name]
        lo, hi = max(0.0, t - BEFORE_S), t + AFTER_S
        tw, rms, ang = _features(rec.t, rec.accel, lo, hi)
        ax.semilogy(tw - t, np.maximum(rms, 1e-3), lw=0.8, color="tab:blue")
        ax.set_ylim(1e-3, 3)
        ax.set_ylabel("g RMS", fontsize=8)
        ax2 = ax.twinx()
        ax2.plot(tw - t, ang, lw=0.8, color="tab:orange")
        ax2.set_ylim(0, 180)
        ax2.set_ylabel("deg", fontsize=8)
        for x in f.before or []:
            if lo <= x <= hi:
                ax.axvline(x - t, color="0.4", lw=1.2, ls="--")
        for x in f.alerts:
            if lo <= x <= hi:
                ax.axvline(x - t, color="tab:red", lw=1.5)
        m, s = divmod(int(t), 60)
        ax.set_title(f"{f.name} at {m // 60}:{m % 60:02d}:{s:02d} ({f.context_at(t)})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax2.tick_params(labelsize=7)
    fig.suptitle(f"{title} (blue: dynamic RMS; orange: turn from panel start; grey dashed: before, "
                 f"red: now)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def draw_real(files: list[RealFile], out: Path) -> list[Path]:
    """Draw the removed and the remaining false alarms; the files written."""
    out.mkdir(parents=True, exist_ok=True)
    removed, remaining = [], []
    for f in files:
        now = f.false_alarms(f.alerts)
        remaining += [(f, t) for t in now]
        if f.before is not None:
            removed += [(f, t) for t in f.false_alarms(f.before) if not any(abs(t - x) <= MATCH_S for x in now)]
    recs = {f.name: read_recording(f.path) for f in files
            if any(g is f for g, _ in removed + remaining)}
    written = []
    if removed:
        written.append(_figure(_spread(removed, MAX_PANELS), recs,
                               f"real false alarms removed ({len(removed)})", out / "real-false-alarms-removed.png"))
    if remaining:
        written.append(_figure(_spread(remaining, MAX_PANELS), recs,
                               f"real false alarms remaining ({len(remaining)})",
                               out / "real-false-alarms-remaining.png"))
    return written
