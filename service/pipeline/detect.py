"""The streaming cramp detector: accelerometer samples in, episode events out.

Pure: no I/O, no wall clock, no sleeps; time comes only from the sample
timestamps, so a recording replays exactly as the live service saw it.  The
physics it rests on is in docs/signals.md; the stages, their cost and
the measured accuracy are in docs/detection.md.

Stages (all orientation-free: only rotation-invariant quantities are used,
because the strap puts the sensor at any rotation):

1. **Windows.**  Samples are grouped into fixed 0.5 s windows on the sample
   clock (``floor(t / 0.5)``), so any rate from 20 to 200 Hz, jitter and lost
   samples give the same features; a window is closed when a later sample
   arrives, which makes the output independent of how the stream is chunked.
   Per window, vectorised over a whole batch: the mean vector (gravity and
   posture), the trace of the covariance (dynamic power in g^2, which is the
   same in every sensor frame) and the largest deviation from the mean (peaks).
2. **Noise floor.**  The trace of the covariance of a still leg is the sensor's
   own noise (about 3 x (2-10 mg)^2).  It is tracked as the lowest median
   of 20 s blocks over the last 5 minutes (a block is mostly still even on a
   restless night), clamped to what real chips do, so the thresholds follow
   the chip and the sleeper's quiet baseline.  Nothing counts as active until
   the first block has closed (a 20 s warm-up after start or reset).
3. **Activity.**  A window is *active* when its excess power is both
   statistically above the noise (a z-score that accounts for how few samples
   a window holds at low rates) and above an absolute floor in g, or when the
   posture (window mean) moved measurably since the last window, which catches
   slow writhing that barely shows inside one window.  A window is *still*
   when it is back at the noise floor; in between is neither.
4. **Episode logic** (a tiny per-window state machine that skips straight
   over quiet stretches): a run of activity starts a candidate at its first
   active window (the onset).  More than ``max_still_s`` of consecutive still
   windows kills it: twitches, bumps, rollovers, PLM movements and fidgeting
   are short movements separated by still gaps.  A candidate raises an episode
   once it has lasted ``alert_after_s`` (longer than the longest rollover or
   PLM movement, 10 s), was active in ``min_active_frac`` of that time and is
   still moving *now* (3 of the last 4 windows), unless
   - the leg has turned more than 45 degrees from its posture before the
     onset: that is what a rollover does, so it must keep moving 4 s longer;
   - a one-off check of the raw samples finds walking: heel strikes (window
     peaks above 0.6 g) and a ~1 Hz rhythm in the acceleration magnitude
     (which ignores rotations, so writhing barely moves it); after walking,
     30 s of quiet are needed before anything may alert (back into bed);
   - amid a series of short movements (two ended in the last 2 minutes), a
     fresh jerk right after a dip restarts the onset: the next movement of a
     PLM series, not the same event going on (at most twice per run);
   - (a settled sleeper) the tilt since onset + 2 s wanders (``HELD_TILT_RMS_DEG``), or the leg went more
     than ``RETURN_FROM_DEG`` away from where it lay and is back there (``RETURN_TO_DEG``; a wait of at most
     ``RETURN_WAIT_S`` from the onset): a cramp holds a tilt away from the lying posture.
   Settling first, handling, the sleeper's baseline and the unsettled opt-in: the constants below and
   docs/detection.md.
5. **End.**  The episode ends when the leg has settled (no movement for
   ``end_quiet_s``; a lone marginal window does not count as movement); lost
   data does not count as settling, but a loss longer than 2 minutes ends the
   episode where the data stopped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from service.pipeline.baseline import StirBaseline

WINDOW_S = 0.5
"""Feature window on the sample clock, in seconds."""

BLOCK_WINDOWS = 40
"""Windows per noise-floor block (20 s)."""

NOISE_HISTORY_BLOCKS = 15
"""Blocks remembered for the noise floor (5 minutes)."""

# Per-axis noise density bounds of real MEMS accelerometers at these rates,
# as total variance over three axes in g^2: below 1 mg nothing is that quiet
# (MPU-6050 ~ 4 mg, LIS3DH ~ 5 mg, ADXL345 ~ 4-10 mg RMS at 50-100 Hz), and a
# "floor" above 20 mg means the sleeper is moving, not that the chip is noisy.
NOISE_VAR_MIN = 3 * 0.001**2
NOISE_VAR_MAX = 3 * 0.020**2

MIN_SAMPLES_PER_WINDOW = 3
LONG_GAP_S = 2.0
"""Missing data longer than this breaks a candidate: nothing can be said about the leg."""

EPISODE_GAP_END_S = 120.0
"""Missing data longer than this ends an open episode at the start of the gap."""

UPDATE_EVERY_S = 5.0
"""Detector ``update`` events during an episode, on the sample clock (the alert policy rate-limits further)."""

WALK_HOLD_QUIET_S = 30.0
"""After walking, quiet needed before a new candidate may alert (getting back into bed)."""

CONTEXT_S = 120.0
"""How far back short movements count as a series (PLM movements are 10-90 s apart)."""

TURNED_DEG = 45.0
TURNED_EXTRA_S = 4.0
"""A leg that turned this far from its posture before the onset is rolling over, not held in a
cramp's tilt: it must keep moving this much longer before it counts (a rollover lasts 2-10 s)."""

ONGOING_WINDOWS = 4
"""At the alert, at least all but one of the last 2 s must be active: a rollover that is settling is not."""

MAX_RESTARTS = 2
"""At most this many restarts per run: three back-to-back movements are no longer a PLM series."""

RESTART_PEAK_G = 0.1
RESTART_PEAK_RATIO = 1.5
"""A new movement: a peak this large (g, and times the run's median peak) right after a dip."""

BUFFER_S = 60.0
"""Raw samples kept for the one-off walking check."""

SETTLE_S = 300.0
"""Default stillness that counts as settled (``[detection] settle_s``): five minutes without a movement
longer than a twitch, the sustained-inactivity bout actigraphy scores as sleep onset.  Until then (after
start, after walking, after handling) nothing alerts."""

SETTLE_BREAK_S = 2.0
"""While unsettled, a movement lasting this long restarts the settle clock; twitches and bumps do not."""

HANDLING_TURN_DEG = 120.0
"""A movement that is still going at the alert and has turned the sensor this far from where it lay is
handling (strapping on, adjusting, picking up; an axis flipping between +1 and -1 g): a shin in bed, even in
a cramp's drawn-up tilt, does not turn that far in one continuous movement, and a rollover that does is
over long before the alert."""

QUIET_START_S = 60.0
"""Default ``[detection] quiet_start_s``: a start (the service, a replay) whose first minute of measured signal holds
no movement longer than a twitch and no handling is a restart on a leg that already lies asleep (a power cut, a
watchdog restart, an update at 3 a.m.): settled then, not after ``settle_s``.  Whoever straps the sensor on or settles
in moves within the first minute (the real recordings: every one starts with movement within seconds)."""

RETURN_FROM_DEG = 30.0
RETURN_TO_DEG = 10.0
RETURN_WAIT_S = 20.0
"""Back in the posture it left: a settled sleeper's movement that has taken the leg more than ``RETURN_FROM_DEG``
away from the posture it lay in before the onset and, at the alert point, has it back within ``RETURN_TO_DEG`` of
that posture waits, at most until onset + ``RETURN_WAIT_S``.  A cramp holds a tilt away from the lying posture once
the muscle has drawn the foot down (the sleeper may straighten the leg to stretch it later); a limb lifted and put
back where it lay within seconds is a movement made and undone, the way an arousal wanders out and back.  The bound
makes it a delay, never a suppression: a cramp that goes on back in its posture alerts at onset + 20 s, inside the
90th-percentile latency target.  Measured: the real wrist night's 23 s arousal at 03:34 (out 41 deg, back to 6 deg
at 11 s) no longer alerts without the sleeper's baseline (the later-starts replay: 5 of 8 starts alerted on it); no
simulated cramp or look-alike of either corpus meets the condition at its alert point (tuning and held-out:
identical alerts)."""
HELD_TILT_FROM_S = 2.0
HELD_TILT_RMS_DEG = 15.0
"""A cramp holds one tilt: once the muscle has drawn the foot into plantar flexion (the first
``HELD_TILT_FROM_S`` after the onset), the shin's gravity direction stays put while the muscle trembles and
writhes.  Arousals and restless movement wander from one position to the next.  At the alert point the
spread of the 0.5 s gravity directions since onset + 2 s about their mean (``arccos`` of the mean resultant
length, which is the RMS angle for small spreads) must be at most this; otherwise the candidate waits (the
spread of a movement that comes to hold its tilt shrinks, so it may still alert later).  Measured on the tuning
corpus: simulated cramps 2.0 / 7.5 / 10.7 deg (median / p90 / max); the real wrist night's two false alarms
31 and 20 deg.  Only a settled sleeper's alert is gated (walking, handling, unsettled judging are unchanged)."""
BLOCKED_MAX_GAP_S = 3.0
"""A movement that met every alert criterion while the sleeper was not settled (no alert) is judged when it has ended:
it was near-continuous like a cramp when it was moving (not still) in ``min_active_frac`` of its windows and never
still for longer than this.  Settling-in and arousal bouts of 20 s or more are intermittent (real: longest still gap
4/8/9 s p10/median/p90, duty 0.5-0.86); a cramp holds on (no still second).  Such a cramp-like movement is recorded as
an unalerted episode and does not count as settling-in movement: the settle clock pauses over it instead of restarting,
so one cramp caught while unsettled does not keep the next one from alerting."""

UNSETTLED_CONFIRM_S = 0.0
"""Default ``[detection] unsettled_confirm_s`` (0: off, the settle rule blocks every alert until the sleeper has
settled).  Set, it is an opt-in for a restless sleeper who seldom lies still for ``settle_s``: before the sleeper has
settled, a cramp-like movement alerts once it has been near-continuous (never still for more than
``UNSETTLED_MAX_GAP_S``) with a held tilt this long.  Stronger evidence instead of none: most real settling-in and
arousal bouts of 20 s or more hold a still gap of 3-9 s (settling p10 4 s, median 8 s) and their tilt wanders
(settling spread 5/14/34 deg), whereas a cramp is near-continuous with a held tilt for 15 s to 10 minutes.  Not all:
on the real recordings, sensor fitting and one 189 s settling-in bout stayed continuous and held for a minute and more,
so at 30 s it costs 3 false alarms in 7.42 h (docs/detection.md: measured 20-60 s), which is why it is off by default.
Handling (a turn over ``HANDLING_TURN_DEG``) and walking are recognised separately and never alert."""

UNSETTLED_MAX_GAP_S = 2.0
"""While unsettled, the longest still gap (back at the noise floor) an alerting movement may hold since its onset: under
the real settling bouts' p10 (4 s) and the real arousals' shortest (3 s)."""

EPISODE_WALK_CHECK_S = 5.0
"""During an episode, how often the last seconds are checked for walking (walking ends an episode)."""


@dataclass(frozen=True)
class Preset:
    """Thresholds of one sensitivity setting.

    ``on_abs_g``: smallest dynamic activity (g RMS above the noise) that counts;
    ``on_z``/``off_z``: excess power in standard errors of the noise estimate for
    active/still; ``tilt_abs_g``: posture change between windows that counts as
    movement; ``alert_after_s``: sustained activity needed before an alert;
    ``max_still_s``: longest still gap tolerated inside a candidate;
    ``min_active_frac``: share of active windows over the last ``alert_after_s``;
    ``end_quiet_s``: quiet that ends an episode; ``turned_extra_s``: how much longer a leg that
    turned more than ``turned_deg`` (``TURNED_DEG`` unless tuned) must keep moving.
    """

    on_abs_g: float
    on_z: float
    off_z: float
    tilt_abs_g: float
    alert_after_s: float
    max_still_s: float
    min_active_frac: float
    end_quiet_s: float
    turned_extra_s: float = TURNED_EXTRA_S
    turned_deg: float = TURNED_DEG


PRESETS: dict[str, Preset] = {
    "low": Preset(0.030, 6.0, 2.0, 0.030, 14.0, 1.0, 0.80, 12.0),
    "normal": Preset(0.012, 4.0, 2.0, 0.020, 11.0, 1.0, 0.75, 12.0),
    "high": Preset(0.010, 3.5, 1.5, 0.012, 11.0, 1.5, 0.70, 12.0),
}

# Walking check (signals.md: ~1 Hz stride with large peaks, often beyond 1 g).
WALK_RATE_HZ = 25.0
WALK_LAG_S = (0.6, 1.6)
WALK_MIN_AUTOCORR = 0.4
WALK_MIN_MAG_STD_G = 0.15
WALK_BIG_PEAK_G = 0.6
WALK_BIG_FRAC = 0.5
WALK_RECENT_S = 6.0
WALK_RHYTHM_BIG_FRAC = 0.2


@dataclass(frozen=True)
class DetectorEvent:
    """What the detector reports; the alert policy turns these into service events.

    ``kind``: ``"start"`` (the alert is raised at ``t``), ``"update"`` or ``"end"``; ``"settled"`` (the
    sleeper has lain still for ``settle_s``; ``onset`` is when the unsettled span began) and
    ``"unsettled"`` (walking or handling; ``reason`` says which).
    ``t``: seconds on the sample clock.  ``onset``: estimated onset (s).
    ``duration_s``: ``t`` minus onset for start/update, onset to the last movement for end.
    ``intensity``: RMS dynamic acceleration of the active part of the episode, in g.
    ``tilt_deg``: angle between the leg's posture now and before the onset.
    """

    kind: str
    t: float
    onset: float
    duration_s: float
    intensity: float
    tilt_deg: float = 0.0
    reason: str = ""


_IDLE, _CANDIDATE, _EPISODE, _WALK_HOLD, _BLOCKED = range(5)


@dataclass(frozen=True)
class _Windows:
    """One batch of window features; lists where the episode logic reads them one window at a time."""

    w: list[int]  # window index, floor(t / WINDOW_S)
    mean: np.ndarray  # (n, 3) mean acceleration, g
    dyn: list[float]  # dynamic RMS above the noise floor, g
    peak: list[float]  # largest deviation from the window's mean, g
    active: list[bool]
    still: list[bool]
    last_still: np.ndarray  # index of the last still window up to each, -1 if none


class CrampDetector:
    """Streaming detector for one leg.  Feed it batches of samples in time order."""

    def __init__(self, sensitivity: str = "normal", leg: str = "leg", preset: Preset | None = None,
                 settle_s: float = SETTLE_S, baseline: StirBaseline | None = None,
                 quiet_start_s: float = QUIET_START_S, unsettled_confirm_s: float = UNSETTLED_CONFIRM_S):
        """``preset``: thresholds to use instead of the named preset's (a per-sleeper tuning);
        ``settle_s``: stillness needed before anything may alert; ``baseline``: this sleeper's stirs
        (kept across nights by the caller; a fresh one, which adds nothing, by default);
        ``quiet_start_s``: a start this quiet for this long is settled (0: off, always ``settle_s``);
        ``unsettled_confirm_s``: while unsettled, a near-continuous, held-tilt movement this long alerts (0: never)."""
        if sensitivity not in PRESETS:
            raise ValueError(f"sensitivity must be one of {', '.join(PRESETS)}, got {sensitivity!r}")
        self.sensitivity = sensitivity
        self.leg = leg
        self.preset = PRESETS[sensitivity] if preset is None else preset
        self.settle_s = float(settle_s)
        self.quiet_start_s = float(quiet_start_s)
        self.unsettled_confirm_s = float(unsettled_confirm_s)
        self.baseline = baseline if baseline is not None else StirBaseline()
        self.reset()

    # ------------------------------------------------------------ public API

    def reset(self, quiet_start: bool = True, settled: bool = False) -> None:
        """Forget everything (a new night, a re-attached sensor).  ``quiet_start``: whether a quiet first
        ``quiet_start_s`` may count as settled (a start inside the night; not when the night window opens on a
        running service in the evening, when the sensor may lie on the nightstand).  ``settled``: start as a
        detector that has already settled (replaying a snippet the service kept while the sleeper was settled,
        docs/learning.md): no unsettled span opens at the first window, so alerts are possible once the noise
        floor is known (the 20 s warm-up still holds: nothing is active before it); walking and handling
        unsettle it as usual."""
        self._pend_t = np.empty(0)
        self._pend_a = np.empty((0, 3))
        self._last_t = -np.inf
        self.samples_dropped = 0
        # window chain
        self._prev_widx: int | None = None
        self._prev_mean: np.ndarray | None = None
        self._prev_n = 0
        self._posture = None  # mean of the last still window (g, sensor frame)
        # noise floor
        self._noise_var = NOISE_VAR_MAX
        self._block_id: int | None = None
        self._block_vars: list[np.ndarray] = []
        self._noise_hist: deque[float] = deque(maxlen=NOISE_HISTORY_BLOCKS)
        # raw buffer for the walking check
        self._buf: deque[tuple[np.ndarray, np.ndarray]] = deque()
        # state machine
        self._state = _IDLE
        self._onset = 0.0
        self._onset_posture: np.ndarray | None = None
        span = max(1, int(round(self.preset.alert_after_s / WINDOW_S)))
        self._flags: deque[bool] = deque(maxlen=span)
        self._peaks: deque[float] = deque(maxlen=span)
        self._still_run = 0
        self._last_active_t = 0.0
        self._last_update_t = 0.0
        self._prev_act = False
        self._dipped = False
        self._recent_runs: deque[float] = deque(maxlen=8)
        self._power_sum = 0.0
        self._power_n = 0
        self._tilt_deg = 0.0
        self._last_window_t = 0.0
        self._cand_windows = 0
        self._cand_active = 0
        self._max_turn = 0.0
        self._cand_last_act_t = 0.0
        self._need_s = self.preset.alert_after_s
        self._last_walk_check_t = 0.0
        # settled state: unsettled from the start until the leg has lain still for settle_s (or settled from the start)
        self._settled = self._start_settled = bool(settled)
        self._first_t: float | None = None  # the first window's start (s): where this detector's history begins
        self._unsettled_since: float | None = None  # set by the first window
        self._unsettle_reason = "start"
        self._last_move_t: float | None = None
        self.unsettled_spans: list[tuple[float, float | None, str]] = []
        """Closed and open unsettled spans of this night: (start s, end s or None while open, reason)."""
        self._quiet_start = bool(quiet_start) and self.quiet_start_s > 0
        self._ready_t: float | None = None  # first window with a measured noise floor
        self._moved = False  # a movement longer than a twitch (or walking, handling) since the start
        self._warm: list[tuple[np.ndarray, np.ndarray]] = []  # warm-up windows' power, judged once a floor is known
        self._clock_at_onset: float | None = None
        self._blk_windows = self._blk_moving = self._blk_run = 0
        self._blk_longest = 0
        self._blk_last_windows = self._blk_last_moving = 0
        self._unsettled_episode = False  # the open episode alerted while unsettled (the clock pauses over it)
        self.unalerted: list[tuple[float, float]] = []
        """Cramp-like movements while not settled (no alert): (onset s, end of movement s)."""

    @property
    def in_episode(self) -> bool:
        return self._state == _EPISODE

    @property
    def settled(self) -> bool:
        """Whether the sleeper has settled (alerts possible), as of the newest window."""
        return self._settled

    @property
    def unsettle_reason(self) -> str | None:
        """Why the sleeper is not settled (``start``, ``walking``, ``handling``), None when settled."""
        return None if self._settled else self._unsettle_reason

    def settled_at(self, t: float) -> tuple[bool, str | None]:
        """Whether the sleeper was settled at ``t`` (s, sample clock, since the last reset) and, if not, the reason
        of that unsettled span (``unsettled_spans``; its latest reason).  Before the first window the detector
        was not running: as it started (``start`` unless started settled)."""
        if self._first_t is None or t < self._first_t:
            return (True, None) if self._start_settled else (False, "start")
        for start, end, reason in self.unsettled_spans:
            if start <= t and (end is None or t < end):
                return False, reason
        return True, None

    @property
    def noise_floor_g(self) -> float:
        """Current noise-floor estimate, RMS per axis in g."""
        return float(np.sqrt(self._noise_var / 3.0))

    def feed(self, t: np.ndarray, accel_g: np.ndarray) -> list[DetectorEvent]:
        """Process samples: ``t`` (n,) seconds on the sample clock, ``accel_g`` (n, 3) in g.

        Samples that are not finite or not later than the previous one are
        dropped (counted in ``samples_dropped``).  The last, still-open window
        is kept until a later sample closes it.
        """
        t = np.asarray(t, dtype=float).reshape(-1)
        a = np.asarray(accel_g, dtype=float).reshape(-1, 3)
        if t.shape[0] != a.shape[0]:
            raise ValueError(f"t has {t.shape[0]} samples but accel_g has {a.shape[0]}")
        if t.size == 0:
            return []
        # The usual batch is finite and strictly increasing, also across batches: four checks on the whole
        # batch.  Anything else is sorted out sample by sample.
        clean = t[0] > self._last_t and np.isfinite(t).all() and np.isfinite(a).all() and (t[1:] > t[:-1]).all()
        if not clean:
            ok = np.isfinite(t) & np.isfinite(a).all(axis=1)
            prev = np.maximum.accumulate(np.concatenate(([self._last_t], t[:-1])))
            ok &= t > prev
            if not ok.all():
                self.samples_dropped += int((~ok).sum())
                t, a = t[ok], a[ok]
                if t.size == 0:
                    return []
        self._last_t = float(t[-1])
        self._buffer(t, a)
        if self._pend_t.size:
            t = np.concatenate((self._pend_t, t))
            a = np.concatenate((self._pend_a, a))
        widx = np.floor(t / WINDOW_S).astype(np.int64)
        last = widx[-1]
        cut = int(np.searchsorted(widx, last, side="left"))
        self._pend_t, self._pend_a = t[cut:], a[cut:]
        if cut == 0:
            return []
        return self._process(widx[:cut], a[:cut])

    def gap(self, t_start: float, t_end: float) -> list[DetectorEvent]:
        """Samples between ``t_start`` and ``t_end`` (s) were lost.

        A long gap breaks a candidate (nothing is known about the leg) and a
        very long one ends an open episode at ``t_start``.
        """
        span = t_end - t_start
        events: list[DetectorEvent] = []
        if span > LONG_GAP_S and self._state in (_CANDIDATE, _WALK_HOLD):
            self._state = _IDLE
        if span > EPISODE_GAP_END_S and self._state == _EPISODE:
            events.append(self._end(t_start))
        return events

    def finish(self) -> list[DetectorEvent]:
        """End of the stream: close the last window and end an open episode (replay, shutdown)."""
        events: list[DetectorEvent] = []
        if self._pend_t.size:
            t, a = self._pend_t, self._pend_a
            self._pend_t, self._pend_a = np.empty(0), np.empty((0, 3))
            events += self._process(np.floor(t / WINDOW_S).astype(np.int64), a)
        if self._state == _EPISODE:
            events.append(self._end(self._last_window_t))
        return events

    # ------------------------------------------------------------ stage 1-3: window features

    def _buffer(self, t: np.ndarray, a: np.ndarray) -> None:
        self._buf.append((t, a))
        horizon = t[-1] - BUFFER_S
        while len(self._buf) > 1 and self._buf[0][0][-1] < horizon:
            self._buf.popleft()

    def _process(self, widx: np.ndarray, a: np.ndarray) -> list[DetectorEvent]:
        # A live batch holds a few windows, so the cost is numpy's per-call overhead, not the arithmetic:
        # each step below is one array operation over all windows, and the usual case (every window
        # full, one noise block) skips the filtering.
        starts = np.concatenate(([0], np.flatnonzero(widx[1:] != widx[:-1]) + 1))
        counts = np.concatenate((starts[1:], [widx.size])) - starts
        keep = counts >= MIN_SAMPLES_PER_WINDOW
        sums = np.add.reduceat(a, starts, axis=0)
        sq = np.add.reduceat(np.einsum("ij,ij->i", a, a), starts)
        n = counts.astype(float)
        mean = sums / n[:, None]
        dof = np.maximum(n - 1.0, 1.0)
        # trace of the covariance, unbiased: rotation-invariant dynamic power (g^2)
        var = (sq - n * np.einsum("ij,ij->i", mean, mean)) / dof
        var = np.maximum(var, 0.0)
        dev = a - np.repeat(mean, counts, axis=0)
        peak = np.maximum.reduceat(np.einsum("ij,ij->i", dev, dev), starts)
        w = widx[starts]
        if not keep.all():
            w, mean, var, n, peak, dof = w[keep], mean[keep], var[keep], n[keep], peak[keep], dof[keep]
            if w.size == 0:
                return []
        peak = np.sqrt(peak)
        if self._last_move_t is None:  # the first window: unsettled from here (service start, a new night)
            self._last_move_t = self._first_t = float(w[0]) * WINDOW_S
            if not self._settled:
                self._unsettled_since = self._last_move_t
                self.unsettled_spans.append((self._unsettled_since, None, "start"))
        noise, ready = self._noise_for(w, var)
        p = self.preset
        if self._ready_t is None:
            self._warm.append((var[~ready], dof[~ready]))
            if ready.any():
                self._ready_t = float(w[int(np.argmax(ready))]) * WINDOW_S
                self._warm_up_moved(p)
        # standard error of a 3-axis variance estimate from n samples
        var_se = noise * np.sqrt(2.0 / (3.0 * dof))
        excess = var - noise
        dyn = np.sqrt(np.maximum(excess, 0.0))
        # posture change since the previous window (only if adjacent)
        prev_mean = np.empty_like(mean)
        prev_mean[0] = self._prev_mean if self._prev_mean is not None else mean[0]
        prev_mean[1:] = mean[:-1]
        prev_n = np.concatenate(([self._prev_n or n[0]], n[:-1]))
        prev_w = np.concatenate(([self._prev_widx if self._prev_widx is not None else w[0] - 10], w[:-1]))
        adjacent = (w - prev_w) == 1
        moved = mean - prev_mean
        step = np.sqrt(np.add.reduce(moved * moved, axis=1))  # the Euclidean norm of each row
        # E|mean difference|^2 of pure noise is noise * (1/n + 1/prev_n); allow three times its RMS
        step_noise = 3.0 * np.sqrt(noise * (1.0 / n + 1.0 / prev_n))
        tilt = np.where(adjacent, np.maximum(step - step_noise, 0.0), 0.0)
        active = (((excess > p.on_z * var_se) & (dyn >= p.on_abs_g)) | (tilt >= p.tilt_abs_g)) & ready
        still = ~active & ((excess < p.off_z * var_se) | (dyn < 0.5 * p.on_abs_g)) & (tilt < 0.5 * p.tilt_abs_g)
        # posture before each window: mean of the last still window up to it
        idx = np.where(still, np.arange(w.size), -1)
        last_still = np.maximum.accumulate(idx)
        events = self._run(w, mean, dyn, peak, active, still, last_still)
        events += self._check_settled((float(w[-1]) + 1.0) * WINDOW_S)
        self._prev_widx, self._prev_mean, self._prev_n = int(w[-1]), mean[-1].copy(), float(n[-1])
        if last_still[-1] >= 0:
            self._posture = mean[last_still[-1]].copy()
        return events

    def _warm_up_moved(self, p: Preset) -> None:
        """The warm-up's windows judged against the first floor: a movement then is a start that is not quiet
        (settling in, strapping on), although nothing could count as active while it lasted."""
        var = np.concatenate([v for v, _d in self._warm]) if self._warm else np.empty(0)
        dof = np.concatenate([d for _v, d in self._warm]) if self._warm else np.empty(0)
        self._warm = []
        excess = var - self._noise_var
        act = (excess > p.on_z * self._noise_var * np.sqrt(2.0 / (3.0 * dof))) & (
            np.sqrt(np.maximum(excess, 0.0)) >= p.on_abs_g)
        if int(act.sum()) * WINDOW_S >= SETTLE_BREAK_S:
            self._moved = True

    def _noise_for(self, w: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Noise floor (g^2, 3 axes) in effect for each window, from blocks that ended before it.

        Also whether a floor has been measured yet: until the first 20 s block
        has closed nothing counts as active (a warm-up), because a guessed floor
        would be wrong by a factor of five on some chips.
        """
        blocks = w // BLOCK_WINDOWS
        first = int(blocks[0])
        if first == int(blocks[-1]):  # the usual live batch: all in one block (``w`` is increasing)
            if self._block_id is not None and first != self._block_id:
                self._close_block()
            self._block_id = first
            self._block_vars.append(var)
            return np.full(var.shape, self._noise_var), np.full(var.shape, bool(self._noise_hist))
        out = np.empty_like(var)
        ready = np.empty(var.shape, dtype=bool)
        bounds = np.flatnonzero(np.diff(blocks)) + 1
        for lo, hi in zip(np.concatenate(([0], bounds)), np.concatenate((bounds, [w.size]))):
            b = int(blocks[lo])
            if self._block_id is not None and b != self._block_id:
                self._close_block()
            self._block_id = b
            out[lo:hi] = self._noise_var
            ready[lo:hi] = bool(self._noise_hist)
            self._block_vars.append(var[lo:hi])
        return out, ready

    def _close_block(self) -> None:
        vals = np.concatenate(self._block_vars) if self._block_vars else np.empty(0)
        self._block_vars = []
        if vals.size >= BLOCK_WINDOWS // 4:
            self._noise_hist.append(float(np.median(vals)))
            self._noise_var = float(np.clip(min(self._noise_hist), NOISE_VAR_MIN, NOISE_VAR_MAX))

    # ------------------------------------------------------------ stage 4-5: episode logic

    def _run(self, w, mean, dyn, peak, active, still, last_still) -> list[DetectorEvent]:
        """The episode logic, one window at a time: an idle detector skips to the next active window;
        every other state has a method that takes one window and says whether to move on to the next
        (a candidate broken by a long gap, or an episode ended by one, looks at the same window again
        as a possible new onset)."""
        win = _Windows(w.tolist(), mean, dyn.tolist(), peak.tolist(), active.tolist(), still.tolist(), last_still)
        active_idx = np.flatnonzero(active)
        events: list[DetectorEvent] = []
        prev_w = self._prev_widx
        i = 0
        while i < len(win.w):
            if self._state == _IDLE:
                k = int(np.searchsorted(active_idx, i))
                if k >= active_idx.size:
                    break
                i = int(active_idx[k])
                events += self._check_settled(win.w[i] * WINDOW_S)
                self._start_candidate(i, win.w, mean, last_still)
                prev_w = win.w[i] - 1
            gap_s = (win.w[i] - prev_w - 1) * WINDOW_S if prev_w is not None else 0.0
            prev_w = win.w[i]
            t_end = (win.w[i] + 1) * WINDOW_S
            self._last_window_t = t_end
            if self._state == _CANDIDATE:
                advance = self._candidate_window(win, i, t_end, gap_s, events)
            elif self._state == _EPISODE:
                advance = self._episode_window(win, i, t_end, gap_s, events)
            elif self._state == _BLOCKED:
                advance = self._blocked_window(win, i, t_end, gap_s, events)
            else:
                advance = self._walk_hold_window(win, i, t_end)
            if advance:
                i += 1
        return events

    def _candidate_window(self, win: "_Windows", i: int, t_end: float, gap_s: float,
                          events: list[DetectorEvent]) -> bool:
        """A movement began: does it go on like a cramp (alert), stop (idle), or turn out to be walking?"""
        p = self.preset
        act = win.active[i]
        if gap_s > LONG_GAP_S:
            self._state = _IDLE
            return False  # re-examine this window as a possible new onset
        if (act and self._dipped and self._peaks and self._restarts < MAX_RESTARTS
                and self._periodic_context(t_end)
                and win.peak[i] >= max(RESTART_PEAK_G, RESTART_PEAK_RATIO * float(np.median(self._peaks)))):
            # a fresh jerk right after a dip, amid a series of short movements: the next
            # movement of a PLM series, not the same event going on
            restarts = self._restarts + 1
            self._start_candidate(i, win.w, win.mean, win.last_still)
            self._restarts = restarts
        self._flags.append(act)
        self._peaks.append(win.peak[i])
        self._cand_windows += 1
        if t_end - self._onset > HELD_TILT_FROM_S:
            self._add_direction(win.mean[i])
        if act:
            self._still_run = 0
            self._power_sum += win.dyn[i] ** 2
            self._power_n += 1
            self._cand_active += 1
            self._cand_last_act_t = t_end
            self._max_turn = max(self._max_turn, self._angle(win.mean[i]))
            if not self._settled and t_end - self._onset >= SETTLE_BREAK_S:
                self._last_move_t = t_end  # a real movement while unsettled: the settle clock restarts
                self._moved = True
        else:
            self._dipped = True
            if not win.still[i]:
                self._still_run = 0  # above the noise floor: weak movement, not a still gap
            else:
                self._still_run += 1
                if self._still_run * WINDOW_S > p.max_still_s:
                    self._state = _IDLE
                    self._recent_runs.append(t_end)
                    stir_s = self._cand_last_act_t - self._onset
                    # a stir in sleep that ended in stillness: this sleeper's baseline, unless it outlasted the
                    # confirmation only because its turn gave it more time (a rollover, which turn_confirm_s covers)
                    if self._settled and (stir_s <= self._need_s or not self._turn_extra_s(win.mean[i])):
                        self.baseline.add(stir_s)
                    return True
        if (
            act
            and t_end - self._onset >= self._need_s
            and sum(self._flags) >= p.min_active_frac * self._flags.maxlen
            and self._cand_active >= p.min_active_frac * self._cand_windows
            and sum(list(self._flags)[-ONGOING_WINDOWS:]) >= ONGOING_WINDOWS - 1
            and t_end - self._onset >= max(self._need_s, p.alert_after_s + self._turn_extra_s(win.mean[i]))
        ):
            if self._walking(t_end):
                self._hold(t_end)
                events += self._unsettle(t_end, "walking")
            elif self._max_turn >= HANDLING_TURN_DEG:
                self._hold(t_end)
                events += self._unsettle(t_end, "handling")
            elif not self._settled:
                self._begin_blocked()  # not settled yet: nothing alerts (settling in, back in bed, after handling)
            elif self._held_tilt_deg() > HELD_TILT_RMS_DEG:
                pass  # wandering, not held: wait (the spread since onset + 2 s may shrink if it comes to hold)
            elif (self._max_turn >= RETURN_FROM_DEG and self._angle(win.mean[i]) <= RETURN_TO_DEG
                  and t_end - self._onset < RETURN_WAIT_S):
                pass  # back in the posture it left: a movement made and undone; wait (bounded)
            else:
                events.append(self._open_episode(win, i, t_end))
        return True

    def _turn_extra_s(self, mean) -> float:
        """How much longer than the confirmation a leg this far turned from its posture must keep moving: none
        under ``TURNED_DEG``; ``turned_extra_s`` beyond ``turned_deg``; a tuned ``turned_deg`` above ``TURNED_DEG``
        keeps the untuned ``TURNED_EXTRA_S`` (at most) for the turns in between, so raising it never shortens
        the wait of a mid-size turn."""
        p = self.preset
        angle = self._angle(mean)
        if angle >= p.turned_deg:
            return p.turned_extra_s
        return min(p.turned_extra_s, TURNED_EXTRA_S) if angle >= TURNED_DEG else 0.0

    def _add_direction(self, mean) -> None:
        """Add one window's gravity direction to the held-tilt sum (see :meth:`_held_tilt_deg`)."""
        g = np.asarray(mean, dtype=float)
        norm = float(np.linalg.norm(g))
        if norm > 1e-6:
            self._dir_sum += g / norm
            self._dir_n += 1

    def _open_episode(self, win: "_Windows", i: int, t_end: float, reason: str = "") -> DetectorEvent:
        """The alert point: the candidate becomes an episode (from an active window); its ``start`` event."""
        self._state = _EPISODE
        self._last_active_t = t_end
        self._last_update_t = t_end
        self._last_walk_check_t = t_end
        self._prev_act = True
        self._tilt_deg = self._angle(win.mean[i])
        return DetectorEvent("start", t_end, self._onset, t_end - self._onset, self._intensity(), self._tilt_deg,
                             reason=reason)

    def _episode_window(self, win: "_Windows", i: int, t_end: float, gap_s: float,
                        events: list[DetectorEvent]) -> bool:
        """A cramp is under way: it goes on while the leg keeps moving, and ends after a quiet spell."""
        p = self.preset
        act = win.active[i]
        if gap_s > EPISODE_GAP_END_S:
            events.append(self._end(t_end - (gap_s + WINDOW_S)))
            return False  # the episode ended before the gap: this window may open a new one
        self._last_active_t += gap_s  # lost data is not evidence that the leg settled
        self._peaks.append(win.peak[i])
        if act and t_end - self._last_walk_check_t >= EPISODE_WALK_CHECK_S:
            self._last_walk_check_t = t_end
            if self._walking(t_end):  # walking is never a cramp going on: the episode is over
                events.append(self._end(t_end))
                self._hold(t_end)
                events += self._unsettle(t_end, "walking")
                return True
        # a lone marginal window is noise: movement is two active windows in a row or a clear one
        if act and (self._prev_act or win.dyn[i] >= 2.0 * p.on_abs_g):
            self._last_active_t = t_end
            self._power_sum += win.dyn[i] ** 2
            self._power_n += 1
            self._tilt_deg = self._angle(win.mean[i])
        self._prev_act = act
        if t_end - self._last_active_t >= p.end_quiet_s:
            events.append(self._end(t_end))
        elif t_end - self._last_update_t >= UPDATE_EVERY_S:
            self._last_update_t = t_end
            events.append(DetectorEvent("update", t_end, self._onset, t_end - self._onset,
                                        self._intensity(), self._tilt_deg))
        return True

    def _begin_blocked(self) -> None:
        """A movement met every alert criterion while the sleeper is not settled: no alert; follow it to its
        end to judge whether it was cramp-like (near-continuous) or settling-in movement."""
        self._state = _BLOCKED
        self._last_active_t = self._cand_last_act_t
        self._last_walk_check_t = self._cand_last_act_t
        self._prev_act = True
        self._blk_windows = self._blk_last_windows = self._cand_windows
        self._blk_moving = self._blk_last_moving = self._cand_active
        self._blk_run = self._blk_pending = 0
        self._blk_longest = int(self.preset.max_still_s / WINDOW_S)  # what the candidate may have had

    def _blocked_window(self, win: "_Windows", i: int, t_end: float, gap_s: float,
                        events: list[DetectorEvent]) -> bool:
        """The movement goes on like an episode (no events); at its end it is judged (:data:`BLOCKED_MAX_GAP_S`)."""
        p = self.preset
        act = win.active[i]
        if gap_s > LONG_GAP_S:  # nothing can be said about the leg over a loss: settling-in movement
            self._state = _IDLE
            self._last_move_t = max(self._last_move_t or 0.0, self._last_active_t)
            return False
        self._peaks.append(win.peak[i])
        if act and t_end - self._last_walk_check_t >= EPISODE_WALK_CHECK_S:
            self._last_walk_check_t = t_end
            if self._walking(t_end):
                self._hold(t_end)
                events += self._unsettle(t_end, "walking")
                return True
        self._blk_windows += 1
        self._flags.append(act)
        self._add_direction(win.mean[i])
        if act:
            self._max_turn = max(self._max_turn, self._angle(win.mean[i]))
        if not win.still[i]:  # moving relative to the noise floor: active or weak movement
            self._blk_moving += 1
            self._blk_pending = max(self._blk_pending, self._blk_run)
            self._blk_run = 0
        else:
            self._blk_run += 1
        if act and (self._prev_act or win.dyn[i] >= 2.0 * p.on_abs_g):
            self._last_active_t = t_end
            self._last_move_t = t_end  # until judged, the movement keeps the sleeper unsettled
            self._blk_longest = max(self._blk_longest, self._blk_pending)  # a still gap inside the movement
            self._blk_pending = 0
            self._blk_last_windows, self._blk_last_moving = self._blk_windows, self._blk_moving
        self._prev_act = act
        if (self.unsettled_confirm_s > 0 and act and t_end - self._onset >= self.unsettled_confirm_s
                and self._blk_moving >= p.min_active_frac * self._blk_windows
                and max(self._blk_longest, self._blk_pending, self._blk_run) * WINDOW_S <= UNSETTLED_MAX_GAP_S
                and sum(list(self._flags)[-ONGOING_WINDOWS:]) >= ONGOING_WINDOWS - 1
                and self._max_turn < HANDLING_TURN_DEG
                and self._held_tilt_deg() <= HELD_TILT_RMS_DEG):
            # stronger evidence than a settled sleeper's: near-continuous with a held tilt for unsettled_confirm_s
            if self._walking(t_end):
                self._hold(t_end)
                events += self._unsettle(t_end, "walking")
                return True
            self._unsettled_episode = True
            events.append(self._open_episode(win, i, t_end, reason="unsettled"))
            return True
        if t_end - self._last_active_t >= p.end_quiet_s:
            self._state = _IDLE
            cramp_like = (self._blk_last_moving >= p.min_active_frac * self._blk_last_windows
                          and self._blk_longest * WINDOW_S <= BLOCKED_MAX_GAP_S)
            if cramp_like:
                # not settling-in movement: the clock pauses over it (the quiet before it still counts)
                before = self._onset - (self._clock_at_onset if self._clock_at_onset is not None else self._onset)
                self._last_move_t = self._last_active_t - max(0.0, before)
                self.unalerted.append((self._onset, self._last_active_t))
            else:
                self._last_move_t = self._last_active_t
        return True

    def _walk_hold_window(self, win: "_Windows", i: int, t_end: float) -> bool:
        """Walking: no alert until the leg has been still for a while (then idle again)."""
        if win.active[i]:
            self._last_active_t = t_end
            if not self._settled:
                self._last_move_t = t_end
        elif t_end - self._last_active_t >= WALK_HOLD_QUIET_S:
            self._state = _IDLE
        return True

    def _start_candidate(self, i, wl, mean, last_still) -> None:
        self._state = _CANDIDATE
        self._onset = wl[i] * WINDOW_S
        self._flags.clear()
        self._peaks.clear()
        self._dipped = False
        self._restarts = 0
        self._still_run = 0
        self._power_sum = 0.0
        self._power_n = 0
        self._cand_windows = 0
        self._cand_active = 0
        self._cand_last_act_t = self._onset
        self._max_turn = 0.0
        self._dir_sum = np.zeros(3)
        self._dir_n = 0
        self._clock_at_onset = self._last_move_t
        self._need_s = self.preset.alert_after_s + self.baseline.extra_s(self.preset.alert_after_s)
        j = int(last_still[i - 1]) if i > 0 else -1
        self._onset_posture = mean[j].copy() if j >= 0 else self._posture

    def _hold(self, t: float) -> None:
        """No alert until the leg has been quiet for a while (walking, handling)."""
        self._state = _WALK_HOLD
        self._last_active_t = t
        if not self._settled:
            self._last_move_t = t
            self._moved = True

    def _unsettle(self, t: float, reason: str) -> list[DetectorEvent]:
        """Walking or handling: the sleeper must settle again before anything alerts."""
        self._last_move_t = t
        self._moved = True
        if not self._settled:
            if self.unsettled_spans and self.unsettled_spans[-1][1] is None:
                start, _end, _r = self.unsettled_spans[-1]
                self.unsettled_spans[-1] = (start, None, reason)
            self._unsettle_reason = reason
            return []
        self._settled = False
        self._unsettled_since = t
        self._unsettle_reason = reason
        self.unsettled_spans.append((t, None, reason))
        return [DetectorEvent("unsettled", t, t, 0.0, 0.0, reason=reason)]

    def _check_settled(self, t: float) -> list[DetectorEvent]:
        """Settled once the leg has been still for ``settle_s`` (stamped when that was reached)."""
        if self._settled or self._last_move_t is None or self._state in (_WALK_HOLD, _CANDIDATE, _BLOCKED,
                                                                       _EPISODE):
            return []
        if (self._quiet_start and not self._moved and self._unsettle_reason == "start" and self._ready_t is not None
                and t - self._ready_t >= self.quiet_start_s):
            at = min(self._ready_t + self.quiet_start_s, self._last_move_t + self.settle_s)
        elif t - self._last_move_t < self.settle_s:
            return []
        else:
            at = self._last_move_t + self.settle_s
        self._settled = True
        since = self._unsettled_since if self._unsettled_since is not None else at
        if self.unsettled_spans and self.unsettled_spans[-1][1] is None:
            start, _end, reason = self.unsettled_spans[-1]
            self.unsettled_spans[-1] = (start, at, reason)
        return [DetectorEvent("settled", at, since, at - since, 0.0, reason=self._unsettle_reason)]

    def _periodic_context(self, t: float) -> bool:
        """At least two short movements ended in the last two minutes (a PLM series or restlessness)."""
        return sum(1 for x in self._recent_runs if t - x <= CONTEXT_S) >= 2

    def _end(self, t: float) -> DetectorEvent:
        self._state = _IDLE
        end_move = min(self._last_active_t, t)
        if self._unsettled_episode:
            self._unsettled_episode = False
            if not self._settled:  # a cramp is not settling-in movement: the clock pauses over it
                before = self._onset - (self._clock_at_onset if self._clock_at_onset is not None else self._onset)
                self._last_move_t = end_move - max(0.0, before)
        return DetectorEvent("end", t, self._onset, max(0.0, end_move - self._onset), self._intensity(),
                             self._tilt_deg)

    def _intensity(self) -> float:
        return float(np.sqrt(self._power_sum / self._power_n)) if self._power_n else 0.0

    def _held_tilt_deg(self) -> float:
        """Spread of the gravity directions since onset + :data:`HELD_TILT_FROM_S` (:data:`HELD_TILT_RMS_DEG`)."""
        if self._dir_n == 0:
            return 0.0
        r = float(np.linalg.norm(self._dir_sum)) / self._dir_n
        return float(np.degrees(np.arccos(min(1.0, r))))

    def _angle(self, g: np.ndarray) -> float:
        ref = self._onset_posture
        if ref is None:
            return 0.0
        c = float(np.dot(g, ref) / max(np.linalg.norm(g) * np.linalg.norm(ref), 1e-9))
        return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))

    def _walking(self, t_end: float) -> bool:
        """One-off check of the candidate's raw samples for a walking stride.

        The acceleration magnitude ignores the sensor's rotation; walking puts
        heel strikes and leg swing into it at the stride rate (~1 Hz) with
        large swings, while writhing and tremor mostly rotate the shin.  The
        whole span and its last few seconds are both checked, because getting
        up (sitting up, standing) comes before the first strides.
        """
        peaks = np.fromiter(self._peaks, float)
        n_recent = int(WALK_RECENT_S / WINDOW_S)
        big = [float(np.mean(part >= WALK_BIG_PEAK_G)) if part.size else 0.0 for part in (peaks, peaks[-n_recent:])]
        if max(big) >= WALK_BIG_FRAC:
            return True
        if max(big) < WALK_RHYTHM_BIG_FRAC:
            return False  # no heel strikes: rhythmic writhing or massage, not a stride
        t = np.concatenate([c[0] for c in self._buf])
        a = np.concatenate([c[1] for c in self._buf])
        # the span the decision rests on; always inside the raw buffer
        sel = (t >= max(self._onset, t_end - self._flags.maxlen * WINDOW_S)) & (t < t_end)
        t, a = t[sel], a[sel]
        if t.size < 8:
            return False
        mag = np.sqrt(np.einsum("ij,ij->i", a, a))
        grid = np.arange(t[0], t[-1], 1.0 / WALK_RATE_HZ)
        x_all = np.interp(grid, t, mag)
        lo, hi = (int(round(s * WALK_RATE_HZ)) for s in WALK_LAG_S)
        for x, big_frac in ((x_all, big[0]), (x_all[-int(WALK_RECENT_S * WALK_RATE_HZ):], big[1])):
            if x.size < 2 * hi or big_frac < WALK_RHYTHM_BIG_FRAC:
                continue
            x = x - x.mean()
            if float(x.std()) < WALK_MIN_MAG_STD_G:
                continue
            n = x.size
            r0 = float(np.dot(x, x)) / n
            r = np.array([np.dot(x[:-k], x[k:]) / (n - k) for k in range(lo, hi + 1)]) / r0
            if float(r.max()) >= WALK_MIN_AUTOCORR:
                return True
        return False
