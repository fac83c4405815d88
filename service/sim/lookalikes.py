"""The look-alikes seen on real recordings: arousals, settling in, waking restless, sensor handling, sitting, getting up.

Each class is drawn from distributions measured on real recordings by
``benchmarks/calibrate_real.py`` (docs/simulator.md, "Look-alikes measured on
real recordings", gives the numbers and how they were measured).  The real
numbers are quoted next to each constant as ``real: p10 / median / p90``.
Bout statistics are per bout found by 1-s dynamic RMS with a hysteresis (a
bout: activity with no still stretch over 10 s); "duty" is the share of active
seconds inside a bout, "tilt spread" the RMS angle of the gravity direction
about its mean inside a bout, "turn" the angle between gravity before and
after it.

What the real data shows, and this model keeps:

* arousals and settling are *intermittent* (still gaps of up to 9 s inside a
  bout, duty 0.5-0.9 on bouts of 20 s or more), their tilt *wanders* while they
  last, they often *fade* out over seconds, and they carry as much 6-20 Hz
  power (a share of 0.1-0.3) as movement of a cramp's tremor band would;
* handling turns the sensor through 70-180 degrees, flips an axis between +1
  and -1 g, and shakes it by hundreds of mg, in the first minutes;
* sitting on the edge of the bed and standing put gravity along the shin.

The builders work on a :class:`~service.sim.movements.EventBuilder` (its
posture keyframes) with their own generator, so adding them to a night does
not reshuffle the draws of the night's other events.  Units: seconds, g,
degrees.
"""

from __future__ import annotations

import math

import numpy as np

from service.sim.movements import TWO_PI, EventBuilder, Pulses, SimEvent, Tones, _band_tones, lying_posture, stride

LOOKALIKE_CLASSES = ("arousal", "settling", "restless", "handling", "adjust", "sit_edge", "getup")
"""The classes this module adds to a night (``make_night(..., lookalikes=True)``)."""

SQRT3 = math.sqrt(3.0)

# --------------------------------------------------------------------------- calibrated constants
# Bouts (real, per bout: p10 / median / p90).  Vector dynamic RMS = sqrt(3) x per-axis RMS.

# Movement arousals during sleep (wrist night after 00:40, 13 bouts in 3.35 h = 3.9 / h):
#   duration 2 / 16 / 24 s (3 of 13 >= 20 s, one 189 s), dynamic RMS 53 / 160 / 251 mg, peak 55 / 296 / 880 mg,
#   duty 0.74 / 1.00 / 1.00 (>= 20 s: 0.60-0.86, still gaps 3-9 s), turn 0 / 18 / 87 deg (31% > 45 deg),
#   tilt spread 6.9 / 19.9 / 46 deg, 0.3-3 Hz share 0.23 / 0.60 / 0.79, 6-20 Hz share 0.11 / 0.22 / 0.34,
#   end (fade) 0 / 0 / 10 s (>= 20 s: 3-13 s), rise 0 / 1 / 9 s.
AROUSAL_DUR_MEDIAN_S, AROUSAL_DUR_SIGMA, AROUSAL_DUR_CLIP = 12.0, 0.8, (2.0, 200.0)
AROUSAL_LONG_SHARE, AROUSAL_LONG_S = 0.12, (40.0, 190.0)  # the 189 s bout; detector-episode lengths 23-130 s
AROUSAL_RMS_MEDIAN_MG, AROUSAL_RMS_SIGMA, AROUSAL_RMS_CLIP = 85.0, 0.7, (30.0, 400.0)
AROUSAL_TURN_SHARE = 0.33      # new lying posture at the end (real: 31% turn > 45 deg)
AROUSAL_WANDER_DEG = (5.0, 35.0)  # tilt excursions while moving (real tilt spread 7 / 20 / 46 deg)
AROUSAL_GAP_P = 0.35           # after a movement, chance of a still gap (real duty 0.6-0.86 on long bouts)

# Settling in at bedtime (wrist night 23:30-00:40: 70 min, 41% of its seconds active, 40 bouts):
#   gap between bouts 13 / 35 / 112 s, duration 4 / 18 / 141 s, dynamic RMS 35 / 124 / 243 mg,
#   duty 0.54 / 0.76 / 1.00 (>= 20 s: 0.51 / 0.64 / 0.82, longest still 4 / 8 / 9 s), turn 3 / 12 / 54 deg
#   (15% > 45 deg), tilt spread 3.0 / 12.8 / 34 deg, 6-20 Hz share 0.09 / 0.15 / 0.25, end 0 / 1 / 18 s,
#   rise 0 / 2 / 32 s; the last bouts of the period are the quietest (29-68 mg).
SETTLING_MIN_MEDIAN, SETTLING_MIN_SIGMA, SETTLING_MIN_CLIP = 30.0, 0.45, (10.0, 70.0)
SETTLE_GAP_MEDIAN_S, SETTLE_GAP_SIGMA, SETTLE_GAP_CLIP = 35.0, 0.9, (11.0, 300.0)
SETTLE_DUR_MEDIAN_S, SETTLE_DUR_SIGMA, SETTLE_DUR_CLIP = 18.0, 1.3, (3.0, 460.0)
SETTLE_RMS_MEDIAN_MG, SETTLE_RMS_SIGMA, SETTLE_RMS_CLIP = 105.0, 0.8, (20.0, 450.0)
SETTLE_DECAY = 0.5             # intensity falls to half by the end of the period
SETTLE_TURN_SHARE = 0.15
SETTLE_WANDER_DEG = (3.0, 24.0)
SETTLE_GAP_P = 0.6             # real duty 0.54 / 0.76 / 1.00

# Waking restless in the night: the settling pattern, for minutes (no real recording of it on its own).
RESTLESS_MIN_MEDIAN, RESTLESS_MIN_SIGMA, RESTLESS_MIN_CLIP = 8.0, 0.5, (3.0, 25.0)

# Handling the sensor (Daphnet label-0 stretches, 18 of them, 1-11 min): max rotation 68-180 deg (every
# shank stretch 175-180), an axis flip (+-0.7 g) in 12 of 18; bouts >= 20 s: 22 / 60 / 151 s,
# dynamic RMS 202 / 360 / 967 mg (all bouts 52 / 271 / 553, peaks to 2 g and more), duty 0.54 / 0.81 / 1.00,
# still gaps up to 8 s, tilt spread 2.4 / 18 / 51 deg, 6-20 Hz share 0.08 / 0.37 / 0.78, end 0 / 1 / 2 s.
HANDLING_DUR_MEDIAN_S, HANDLING_DUR_SIGMA, HANDLING_DUR_CLIP = 60.0, 0.7, (20.0, 240.0)
HANDLING_RMS_MEDIAN_MG, HANDLING_RMS_SIGMA, HANDLING_RMS_CLIP = 300.0, 0.6, (100.0, 1200.0)
HANDLING_TURN_P = 0.25  # a segment turns the sensor to a new orientation (real tilt spread 2.4 / 18 / 51 deg)
HANDLING_GAP_P = 0.45
ADJUST_DUR_S = (10.0, 60.0)

# Sitting on the edge of the bed / standing: the shin hangs (pitch 60-90 deg: gravity along the shin).
SIT_PITCH_DEG, STAND_PITCH_DEG = (62.0, 85.0), (86.0, 94.0)
SIT_DUR_MEDIAN_S, SIT_DUR_SIGMA, SIT_DUR_CLIP = 60.0, 0.8, (15.0, 600.0)

# Walking (Daphnet shank label 1, RealWorld shin): the magnitude's main periodicity 1.7-2.6 Hz (steps; the
# stride is half that, 0.85-1.3 Hz), 1-s dynamic RMS median 350-900 mg, |a| 99th percentile 2.1-4.5 g.
STRIDE_HZ = (0.85, 1.3)
RESETTLE_MEDIAN_S = 180.0       # back in bed: minutes of settling-like bouts (as at bedtime, shorter)
STAND_SHUFFLE_S = (10.0, 60.0)  # shuffling while standing before walking away (held-back recording)

# How often, by sleeper type.  Arousals per hour (real: 3.9 / h on the wrist night; a shin moves less).
# The rarer classes per night, whatever the night's length (the benchmark's nights are 2-8 h pieces
# of nights): the chance of one (a second one on nights of 6 h or more, with the same chance).
AROUSALS_PER_H = {"calm": 0.5, "normal": 1.0, "restless": 2.5, "plm": 1.0, "walker": 1.0}
PER_NIGHT = {
    "calm": {"restless": 0.15, "adjust": 0.2, "sit_edge": 0.15},
    "normal": {"restless": 0.3, "adjust": 0.25, "sit_edge": 0.25},
    "restless": {"restless": 0.6, "adjust": 0.3, "sit_edge": 0.4},
    "plm": {"restless": 0.3, "adjust": 0.25, "sit_edge": 0.25},
    "walker": {"restless": 0.3, "adjust": 0.25, "sit_edge": 0.4},
}


def night_counts(rng, sleeper: str, hours: float) -> dict[str, int]:
    """How many arousals, restless spells, sensor adjustments and sittings-up one night has."""
    out = {"arousal": int(rng.poisson(AROUSALS_PER_H.get(sleeper, 1.0) * hours))}
    for kind, p in PER_NIGHT.get(sleeper, PER_NIGHT["normal"]).items():
        out[kind] = int(rng.random() < p) + (int(rng.random() < p) if hours >= 6.0 else 0)
    return out
SETTLING_P = 0.85   # a settling-in period at the start of most nights
HANDLING_P = 0.7    # the sensor put on right after the service starts
SETTLING_MAX_SHARE = 0.25  # of a (short) simulated night


def _lognormal(rng, median, sigma, clip) -> float:
    return float(np.clip(rng.lognormal(math.log(median), sigma), *clip))


def _ang_diff(a: float, b: float) -> float:
    return (a - b + 180.0) % 360.0 - 180.0


# --------------------------------------------------------------------------- one bout of intermittent movement


def bout(b: EventBuilder, rng, start: float, dur: float, rms_mg: float, *, wander_deg: float, turn: bool,
         gap_p: float, hf: tuple[float, float] = (0.5, 1.3)) -> tuple[float, list, dict]:
    """Movements of 1-8 s with still gaps of 1-9 s (chance ``gap_p`` after each), the tilt wandering
    about where the bout began; ending in a new lying posture (``turn``) or near the old one.

    ``rms_mg`` is the bout's vector dynamic RMS (1-s windows, as measured on real recordings).  The
    amplitude may rise over the first seconds and fade over the last; 0.3-3 Hz movement carries a
    3-20 Hz part (``hf``: its RMS relative to the main part) and a few jerks.  Returns (end, components,
    info).
    """
    comps: list = []
    p0, r0 = b.pitch, b.roll
    rise = 0.0 if rng.random() < 0.6 else rng.uniform(2.0, max(2.5, min(30.0, dur / 2)))
    fade = rng.uniform(0.0, 2.0) if rng.random() < 0.5 else rng.uniform(2.0, max(2.5, min(18.0, dur / 2)))
    per_axis = rms_mg / 1000.0 / SQRT3
    if fade < 2.0 or dur - fade < 2.0:
        fade = 0.0
    main_end = start + dur - fade
    t, end = start, start
    moves = 0
    while t < main_end - 0.5:
        md = min(float(rng.uniform(1.0, 8.0)), main_end - t)
        md = max(md, 0.8)
        x_mid = t + md / 2 - start
        env = min(1.0, 0.3 + 0.7 * x_mid / rise) if rise > 0 else 1.0
        a = per_axis * env * rng.uniform(0.6, 1.4)
        comps.append(_band_tones(rng, t, t + md, min(0.3, md / 3), 0.3, 3.0, a, k=8))
        comps.append(_band_tones(rng, t, t + md, min(0.3, md / 3), 3.0, 20.0, a * rng.uniform(*hf), k=10))
        n_j = int(rng.poisson(md * 0.4))
        if n_j:
            jt = np.sort(rng.uniform(t, t + md, n_j))
            jamp = rng.normal(0.0, 1.0, (n_j, 3)) * (a * 2.5)
            comps.append(Pulses(jt, rng.uniform(0.02, 0.08, n_j), jamp, np.zeros(n_j)))
        comps.append(_band_tones(rng, t, t + md, min(0.5, md / 3), 0.2, 1.5, rng.uniform(0.5, 2.0) * env,
                                 k=4, dims=2, target="ang"))
        if rng.random() < 0.6 and md > 1.2:
            tr = rng.uniform(0.5, min(2.0, md - 0.4))
            b.move_to(t + 0.2, tr, float(np.clip(p0 + rng.normal(0, wander_deg), -35, 75)),
                      r0 + rng.normal(0, 1.5 * wander_deg))
        end = t + md
        moves += 1
        t = end
        if rng.random() < gap_p:
            t += rng.uniform(1.0, 9.0)
        else:
            t += rng.uniform(0.0, 0.6)
    # The end: a new lying posture, or back near where it started (small net turn), in the last movement.
    tr = rng.uniform(1.0, 3.0)
    t_end = max(start + 0.1, end - tr - 0.2)
    # Fading out: small movements (10-25 mg) with short pauses until ``fade`` s later (real: end 0 / 1 / 18 s).
    t = max(t, end + 0.3)
    while fade and t < start + dur - 0.5:
        md = min(float(rng.uniform(0.8, 3.0)), start + dur - t)
        comps.append(_band_tones(rng, t, t + md, min(0.3, md / 3), 0.3, 4.0, rng.uniform(10.0, 25.0) / 1000.0 / SQRT3,
                                 k=6))
        end = t + md
        t = end + rng.uniform(0.2, 2.5)
    if turn:
        b.lie_down_new(t_end, tr)
    else:
        b.move_to(t_end, tr, float(np.clip(p0 + rng.normal(0, wander_deg / 2), -35, 75)),
                  r0 + rng.normal(0, wander_deg / 2))
    return end, comps, {"moves": moves, "rms_mg": round(rms_mg, 1), "turn": bool(turn)}


# --------------------------------------------------------------------------- the classes


def arousal(b: EventBuilder, rng, start: float, dur: float | None = None) -> SimEvent:
    """A movement arousal during sleep: seconds to minutes of intermittent, irregular movement, often a turn."""
    if dur is None:
        dur = arousal_duration(rng)
    rms = _lognormal(rng, AROUSAL_RMS_MEDIAN_MG, AROUSAL_RMS_SIGMA, AROUSAL_RMS_CLIP)
    end, comps, info = bout(b, rng, start, dur, rms, wander_deg=rng.uniform(*AROUSAL_WANDER_DEG),
                            turn=rng.random() < AROUSAL_TURN_SHARE, gap_p=AROUSAL_GAP_P if dur > 8 else 0.1)
    return SimEvent("arousal", start, end, comps, info)


def arousal_duration(rng) -> float:
    if rng.random() < AROUSAL_LONG_SHARE:
        return float(rng.uniform(*AROUSAL_LONG_S))
    return _lognormal(rng, AROUSAL_DUR_MEDIAN_S, AROUSAL_DUR_SIGMA, AROUSAL_DUR_CLIP)


def settling(b: EventBuilder, rng, start: float, period_s: float, kind: str = "settling",
             decay: float = SETTLE_DECAY) -> SimEvent:
    """Tens of minutes of intermittent bouts (settling in, or waking restless), quieter towards the end."""
    comps: list = []
    bouts = []
    t = start + rng.uniform(0.0, 10.0)
    end = t
    while True:
        dur = _lognormal(rng, SETTLE_DUR_MEDIAN_S, SETTLE_DUR_SIGMA, SETTLE_DUR_CLIP)
        if t + dur > start + period_s:
            dur = start + period_s - t
            if dur < 3.0:
                break
        x = (t - start) / period_s
        rms = _lognormal(rng, SETTLE_RMS_MEDIAN_MG, SETTLE_RMS_SIGMA, SETTLE_RMS_CLIP) * (1.0 - decay * x)
        e, c, _ = bout(b, rng, t, dur, max(rms, SETTLE_RMS_CLIP[0]), wander_deg=rng.uniform(*SETTLE_WANDER_DEG),
                       turn=rng.random() < SETTLE_TURN_SHARE, gap_p=SETTLE_GAP_P)
        comps += c
        bouts.append((round(t, 2), round(e, 2)))
        end = e
        t = e + _lognormal(rng, SETTLE_GAP_MEDIAN_S, SETTLE_GAP_SIGMA, SETTLE_GAP_CLIP) * (1.0 + x)
        if t > start + period_s - 3.0:
            break
    return SimEvent(kind, start, max(end, start + 1.0), comps, {"bouts": bouts})


def _dir_to_pose(u: np.ndarray) -> tuple[float, float]:
    """(pitch, roll) whose still 'up' vector in the leg frame is the unit vector ``u``."""
    u = u / np.linalg.norm(u)
    return float(np.degrees(-math.asin(float(np.clip(u[2], -1, 1))))), float(np.degrees(math.atan2(u[1], u[0])))


def handling(b: EventBuilder, rng, start: float, mount: np.ndarray, dur: float | None = None, *,
             kind: str = "handling", flip: bool = True) -> SimEvent:
    """The sensor in the hand and being strapped on: large rotations, an axis flip, shaking and taps.

    The sensor frame reading of gravity is ``mount @ up``; to make a sensor axis read +1 g and then -1 g
    the 'up' vector is set to +-``mount[k]`` (the rotation's k-th row).  Ends with the leg lying down.
    """
    if dur is None:
        dur = _lognormal(rng, HANDLING_DUR_MEDIAN_S, HANDLING_DUR_SIGMA, HANDLING_DUR_CLIP)
    comps: list = []
    k = int(rng.integers(3))
    sign = 1.0 if rng.random() < 0.5 else -1.0
    t = start
    segs = max(3, int(dur / 6))
    flip_at = int(rng.integers(1, segs)) if flip else -1
    flipped = False
    i = 0
    rms = _lognormal(rng, HANDLING_RMS_MEDIAN_MG, HANDLING_RMS_SIGMA, HANDLING_RMS_CLIP)
    rotations = 0
    while t < start + dur - 1.0:
        sd = min(float(rng.uniform(1.5, 10.0)), start + dur - t)
        if i == 0 and flip:
            u = sign * mount[k]
        elif flip and not flipped and (i >= flip_at or t + sd >= start + dur - 1.0):
            u = -sign * mount[k] + rng.normal(0, 0.12, 3)  # the axis flip, at the latest in the last segment
            flipped = True
        elif rng.random() < HANDLING_TURN_P:
            u = rng.normal(size=3)
        else:
            u = None
        if u is not None:
            p, r = _dir_to_pose(np.asarray(u, float))
            b.move_to(t, rng.uniform(0.3, 1.2), p, b.roll + _ang_diff(r, b.roll))
            rotations += 1
        a = rms / 1000.0 / SQRT3 * rng.uniform(0.4, 1.6)
        comps.append(_band_tones(rng, t, t + sd, min(0.3, sd / 3), 0.5, 6.0, a, k=10))
        comps.append(_band_tones(rng, t, t + sd, min(0.3, sd / 3), 6.0, 25.0, a * rng.uniform(0.5, 1.5), k=8))
        n_tap = int(rng.poisson(sd * 0.6))
        if n_tap:
            tt = np.sort(rng.uniform(t, t + sd, n_tap))
            amps = rng.normal(0.0, 1.0, (n_tap, 3))
            amps *= (rng.uniform(0.2, 2.0, n_tap) / np.linalg.norm(amps, axis=1))[:, None]
            comps.append(Pulses(tt, rng.uniform(0.005, 0.03, n_tap), amps, np.zeros(n_tap)))
        t += sd
        if rng.random() < HANDLING_GAP_P and (flipped or not flip):  # (no still gap before the flip)
            t += rng.uniform(1.0, 8.0)
        i += 1
    tr = rng.uniform(1.5, 3.0)
    b.lie_down_new(t, tr)
    comps.append(_band_tones(rng, t, t + tr + 0.5, 0.4, 0.3, 3.0, rng.uniform(0.03, 0.1)))
    end = t + tr + 0.5
    return SimEvent(kind, start, end, comps, {"rotations": rotations, "flip_axis": k if flip else None})


def _hang(b: EventBuilder, rng, t: float, pitch_range) -> None:
    b.move_to(t, rng.uniform(1.5, 3.0), rng.uniform(*pitch_range), b.roll + rng.uniform(-30, 30))


def _small_moves(rng, t0: float, t1: float, rms_mg: tuple[float, float], gap=(2.0, 15.0)) -> list:
    """Leg swinging / shuffling: 1-5 s movements with still gaps (while sitting or standing)."""
    comps, t = [], t0 + rng.uniform(0.0, 3.0)
    while t < t1 - 1.0:
        md = min(float(rng.uniform(1.0, 5.0)), t1 - t)
        a = rng.uniform(*rms_mg) / 1000.0 / SQRT3
        comps.append(_band_tones(rng, t, t + md, min(0.3, md / 3), 0.3, 3.0, a, k=6))
        comps.append(_band_tones(rng, t, t + md, min(0.3, md / 3), 3.0, 15.0, a * 0.4, k=6))
        t += md + rng.uniform(*gap)
    return comps


def sit_edge(b: EventBuilder, rng, start: float, dur: float | None = None) -> SimEvent:
    """Sitting up on the edge of the bed: the shin hangs (gravity along it), small movements, then lying back."""
    if dur is None:
        dur = _lognormal(rng, SIT_DUR_MEDIAN_S, SIT_DUR_SIGMA, SIT_DUR_CLIP)
    comps = [_band_tones(rng, start, start + 4.0, 0.8, 0.3, 3.0, rng.uniform(0.08, 0.25))]
    _hang(b, rng, start + 0.5, SIT_PITCH_DEG)
    t1 = start + 4.0 + dur
    comps += _small_moves(rng, start + 4.0, t1, (20.0, 120.0))
    comps.append(_band_tones(rng, t1, t1 + 4.0, 0.8, 0.3, 3.0, rng.uniform(0.08, 0.25)))
    b.lie_down_new(t1 + 0.5, rng.uniform(2.0, 4.0))
    return SimEvent("sit_edge", start, t1 + 5.0, comps, {"sitting_s": round(dur, 1)})


def getup(b: EventBuilder, rng, start: float, walk_s: float, resettle_s: float) -> SimEvent:
    """Sit on the edge, stand and shuffle, walk (~1 Hz stride, maybe a pause and back), sit, lie down, resettle."""
    comps = [_band_tones(rng, start, start + 4.0, 0.8, 0.3, 3.0, rng.uniform(0.1, 0.3))]
    _hang(b, rng, start + 0.5, SIT_PITCH_DEG)
    t = start + 4.0
    sit = rng.uniform(5.0, 40.0)
    comps += _small_moves(rng, t, t + sit, (20.0, 100.0))
    t += sit
    b.move_to(t, rng.uniform(1.0, 2.0), rng.uniform(*STAND_PITCH_DEG), b.roll)
    shuffle = rng.uniform(*STAND_SHUFFLE_S)
    comps += _small_moves(rng, t + 2.0, t + 2.0 + shuffle, (40.0, 200.0), gap=(1.0, 6.0))
    t += 2.0 + shuffle
    legs = [walk_s] if rng.random() < 0.5 else [walk_s / 2, walk_s / 2]
    fs = rng.uniform(*STRIDE_HZ)
    for i, leg_s in enumerate(legs):
        comps += stride(rng, t, t + leg_s, fs)
        t += leg_s
        if i == 0 and len(legs) == 2:
            pause = rng.uniform(30.0, 120.0)
            comps += _small_moves(rng, t, t + pause, (20.0, 120.0), gap=(3.0, 20.0))
            t += pause
    _hang(b, rng, t, SIT_PITCH_DEG)
    t += rng.uniform(3.0, 20.0)
    comps.append(_band_tones(rng, t, t + 4.0, 0.8, 0.3, 3.0, rng.uniform(0.1, 0.3)))
    b.lie_down_new(t + 0.5, rng.uniform(2.0, 4.0))
    t += 5.0
    info = {"walking_s": round(walk_s, 1), "stride_hz": round(fs, 2)}
    if resettle_s > 0:
        ev = settling(b, rng, t + rng.uniform(5.0, 30.0), resettle_s, decay=0.6)
        comps += ev.components
        info["resettle_bouts"] = ev.info["bouts"]
        t = max(t, ev.end)
    return SimEvent("getup", start, t, comps, info)
