"""The simple baseline the detector is compared with: an onset jerk, then 15 s of sustained RMS activity.

What a first attempt would do, with fixed thresholds: no noise-floor tracking,
no still-gap logic beyond "every second stays active", no walking check.  Run on
the same recordings in the same benchmark run, so the detector's figures are
read as ratios to it rather than as absolute claims.
"""

from __future__ import annotations

import numpy as np

WINDOW_S = 1.0
JERK_G = 0.25  # sample-to-sample change of the vector that counts as an onset jerk
ACTIVE_RMS_G = 0.03  # per-second RMS of the detrended signal that counts as activity
SUSTAIN_S = 15.0
QUIET_END_S = 10.0


def baseline_alerts(t: np.ndarray, accel: np.ndarray) -> list[tuple[float, float]]:
    """Alerts as (t_alert, onset) on the sample clock."""
    if t.size < 2:
        return []
    w = np.floor(t / WINDOW_S).astype(np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(w)) + 1))
    counts = np.diff(np.concatenate((starts, [t.size])))
    mean = np.add.reduceat(accel, starts, axis=0) / counts[:, None]
    dev = accel - np.repeat(mean, counts, axis=0)
    rms = np.sqrt(np.add.reduceat(np.einsum("ij,ij->i", dev, dev), starts) / counts)
    jerk = np.linalg.norm(np.diff(accel, axis=0), axis=1)
    jerk = np.maximum.reduceat(np.concatenate(([0.0], jerk)), starts)
    win = w[starts]
    active = rms > ACTIVE_RMS_G
    alerts: list[tuple[float, float]] = []
    onset_i = None
    in_alert = False
    last_active = -np.inf
    for i in range(win.size):
        now = (win[i] + 1) * WINDOW_S
        if in_alert:
            if active[i]:
                last_active = now
            elif now - last_active >= QUIET_END_S:
                in_alert = False
            continue
        if onset_i is None:
            if jerk[i] > JERK_G:
                onset_i = i
            continue
        if not active[i] or win[i] - win[i - 1] != 1:
            onset_i = None
            continue
        if (win[i] - win[onset_i] + 1) * WINDOW_S >= SUSTAIN_S:
            alerts.append((now, win[onset_i] * WINDOW_S))
            in_alert, last_active, onset_i = True, now, None
    return alerts
