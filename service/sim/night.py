"""The night model: sleeper types and the seeded timeline of one night (:func:`make_night`).

A :class:`Timeline` is what the sleeper does, with no samples yet: lying
postures and their keyframes, rollovers, twitches, periodic limb movement
(PLM) series, fidgeting bouts, getting up and walking, sensor bumps and cramps
(abrupt onset, sustained writhing + contraction tremor + held tilt, release),
the sensor's mounting rotation and the room temperature.  The renderer
(:mod:`service.sim.render`) turns it into acceleration.  Units: seconds since
the start of the night, degrees, C.  This is our own model, so the detector
must not be tuned to its habits (docs/simulator.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from firmware.errors import ConfigError
from service.sim import lookalikes as lk
from service.sim.lookalikes import LOOKALIKE_CLASSES
from service.sim.movements import (
    EventBuilder,
    SimEvent,
    Tones,
    body_background,
    cramp_durations,
    lying_posture,
    random_rotation,
)


# --------------------------------------------------------------------------- sleepers


@dataclass(frozen=True)
class Sleeper:
    """Rates of look-alikes for one kind of sleeper (per hour unless noted)."""

    rollovers: float
    twitches: float
    fidget_bouts: float
    plm_series: float
    bumps: float
    getups: tuple[int, int]  # min, max get-ups per 8 h night


SLEEPERS: dict[str, Sleeper] = {
    "calm": Sleeper(rollovers=1.5, twitches=2.0, fidget_bouts=0.1, plm_series=0.0, bumps=0.3, getups=(0, 1)),
    "normal": Sleeper(rollovers=3.0, twitches=4.0, fidget_bouts=0.3, plm_series=0.1, bumps=0.8, getups=(0, 2)),
    "restless": Sleeper(rollovers=8.0, twitches=8.0, fidget_bouts=1.5, plm_series=0.3, bumps=2.0, getups=(1, 2)),
    "plm": Sleeper(rollovers=3.0, twitches=5.0, fidget_bouts=0.3, plm_series=1.2, bumps=0.8, getups=(0, 2)),
    "walker": Sleeper(rollovers=3.0, twitches=4.0, fidget_bouts=0.5, plm_series=0.1, bumps=0.8, getups=(3, 5)),
}


def sleeper_type(name: str) -> Sleeper:
    try:
        return SLEEPERS[name]
    except KeyError:
        raise ConfigError(f"unknown sleeper type {name!r}: choose one of {', '.join(SLEEPERS)}") from None


# --------------------------------------------------------------------------- the timeline


@dataclass
class Timeline:
    """A night: events sorted by start, posture keyframes, mounting rotation, room temperature."""

    hours: float
    seed: int
    sleeper: str
    events: list[SimEvent]
    keys: np.ndarray  # (K, 4): transition start s, duration s, pitch deg, roll deg
    mount: np.ndarray  # (3, 3): sensor frame <- leg frame
    temp_grid_c: np.ndarray  # one value a minute from t = 0
    background: Tones

    @property
    def episodes(self) -> list[tuple[float, float]]:
        """Cramp labels: (onset = the abrupt onset, end = the end of the release), seconds."""
        return [(e.start, e.end) for e in self.events if e.kind == "cramp"]

    def lookalikes(self) -> list[dict]:
        return [{"kind": e.kind, "start": round(e.start, 3), "end": round(e.end, 3), **e.info}
                for e in self.events if e.kind != "cramp"]


class _Slots:
    """Non-overlapping placement of spans with margins, by rejection sampling."""

    def __init__(self, horizon: float, rng):
        self.horizon = horizon
        self.rng = rng
        self.busy: list[tuple[float, float, str]] = []

    def free(self, a: float, b: float, margin: float, avoid: dict | None = None) -> bool:
        for s, e, kind in self.busy:
            m = margin if avoid is None else max(margin, avoid.get(kind, margin))
            if a < e + m and b > s - m:
                return False
        return True

    def place(self, dur: float, kind: str, margin: float, lo: float, hi: float, avoid=None, tries=400):
        for _ in range(tries):
            if hi - lo - dur <= 0:
                return None
            a = float(self.rng.uniform(lo, hi - dur))
            if self.free(a, a + dur, margin, avoid):
                self.busy.append((a, a + dur, kind))
                return a
        return None



def make_night(hours: float, cramps: int, seed: int, sleeper: str = "normal", *,
               start_temp_c: float = 20.0, mild_fraction: float = 0.3, lookalikes: bool = False) -> Timeline:
    """Build the seeded timeline of one night (no samples yet: see :class:`NightSource`).

    ``lookalikes`` adds the look-alikes measured on real recordings (:mod:`service.sim.lookalikes`):
    handling the sensor and settling in at the start of most nights, movement arousals, waking
    restless, sensor adjustments, sitting on the edge of the bed, and get-ups that end in resettling
    (they replace the plain walks).  Off, the night is exactly what it was before the option existed.
    """
    if not (0 < hours <= 24):
        raise ConfigError(f"hours must be between 0 and 24, got {hours}")
    if cramps < 0:
        raise ConfigError(f"cramps must be >= 0, got {cramps}")
    prof = sleeper_type(sleeper)
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x6E63])
    r_place, r_build, r_mount, r_temp = (np.random.default_rng(s) for s in ss.spawn(4))
    horizon = hours * 3600.0
    slots = _Slots(horizon, r_place)
    scale = hours / 8.0
    mount = random_rotation(r_mount)
    look = _LookalikePlan(seed, sleeper, horizon, slots) if lookalikes else None

    # 1. Getting up (the biggest look-alike) first, then cramps away from walks and each other.
    lo_g, hi_g = prof.getups
    n_getups = int(round(r_place.integers(lo_g, hi_g + 1) * min(1.0, scale))) if hours >= 0.5 else 0
    if look is not None:
        n_getups = look.n_getups(lo_g, hi_g, scale)
    walk_plan = []
    for _ in range(n_getups):
        walk_s = float(r_place.uniform(30.0, 300.0))
        span = walk_s + 240.0  # sitting, a possible pause, lying down again: generous bound
        if look is not None:
            span = walk_s + look.getup_extra_s()
        a = slots.place(span, "walk", 300.0, 120.0, horizon - 120.0)
        if a is not None:
            walk_plan.append((a, walk_s))
            if look is not None:
                look.getup_at(a, walk_s)
    cramp_plan = []
    for _ in range(cramps):
        mild = bool(r_place.random() < mild_fraction)
        sustained, release = cramp_durations(r_place, mild)
        span = 1.0 + sustained + release
        a = slots.place(span, "cramp", 600.0, min(300.0, horizon * 0.05), horizon - 60.0,
                        avoid={"walk": 600.0, "cramp": 1200.0})
        if a is None and look is not None:
            # A short night with no room left for its cramps: free the settling period, then the get-ups.
            for free_room in (look.release_settling, lambda: look.release_getups(walk_plan)):
                if a is None and free_room():
                    a = slots.place(span, "cramp", 600.0, min(300.0, horizon * 0.05), horizon - 60.0,
                                    avoid={"walk": 600.0, "cramp": 1200.0, "handling": 600.0})
        if a is None:
            raise ConfigError(f"cannot fit {cramps} cramps (10 min apart, away from walking) into {hours:g} h")
        cramp_plan.append((a, sustained, release, mild))
    if look is not None:
        look.fit_settling([c[0] for c in cramp_plan] + [w[0] for w in walk_plan])

    # 2. PLM series and fidgeting bouts, then short look-alikes, in what is left.
    around_cramps = {"cramp": 60.0}
    plm_plan, fidget_plan = [], []
    for _ in range(r_place.poisson(prof.plm_series * hours)):
        n = int(np.clip(r_place.lognormal(math.log(15), 0.5), 4, 60))
        iv = float(r_place.uniform(15.0, 45.0))
        span = n * iv * 1.2 + 10
        a = slots.place(span, "plm", 30.0, 0.0, horizon, avoid=around_cramps)
        if a is not None:
            plm_plan.append((a, n, iv, a + span))
    for _ in range(r_place.poisson(prof.fidget_bouts * hours)):
        dur = float(r_place.uniform(60.0, 480.0))
        a = slots.place(dur + 25, "fidget", 20.0, 0.0, horizon, avoid=around_cramps)
        if a is not None:
            fidget_plan.append((a, dur))
    short = []
    for kind, rate, dur in (("rollover", prof.rollovers, 10.0), ("twitch", prof.twitches, 1.0),
                            ("bump", prof.bumps, 0.2)):
        for _ in range(r_place.poisson(rate * hours)):
            d = float(r_place.uniform(2.0, 10.0)) if kind == "rollover" else dur
            a = slots.place(d, kind, 5.0, 5.0, horizon - 5.0, avoid={"cramp": 45.0, "walk": 30.0})
            if a is not None:
                short.append((a, kind, d))
    if look is not None:
        look.place_night_events()

    # 3. Walk the night in time order: each event starts from the posture the last one left.
    name, p, r = lying_posture(r_build)
    b = EventBuilder(r_build, p, r, name)
    plan = ([(a, "walk", (w,)) for a, w in walk_plan] + [(a, "cramp", c[1:]) for c in cramp_plan for a in [c[0]]]
            + [(a, "plm", (n, iv, e)) for a, n, iv, e in plm_plan] + [(a, "fidget", (d,)) for a, d in fidget_plan]
            + [(a, k, (d,)) for a, k, d in short])
    plan.sort(key=lambda x: x[0])
    events = []
    if look is not None:
        plan = [p for p in plan if p[1] != "walk"] + look.plan()  # get-ups replace the plain walks
        plan.sort(key=lambda x: x[0])
    for a, kind, args in plan:
        if kind in LOOKALIKE_CLASSES:
            events.append(look.build(b, a, kind, args, mount))
        elif kind == "walk":
            events.append(b.walk(a, *args))
        elif kind == "cramp":
            events.append(b.cramp(a, *args))
        elif kind == "plm":
            events.append(b.plm_series(a, *args))
        elif kind == "fidget":
            events.append(b.fidget(a, *args))
        elif kind == "rollover":
            events.append(b.rollover(a, *args))
        elif kind == "twitch":
            events.append(b.twitch(a))
        else:
            events.append(b.bump(a))
    return Timeline(hours=hours, seed=seed, sleeper=sleeper, events=events,
                    keys=b.keyframes(), mount=mount,
                    temp_grid_c=_room_temperature(r_temp, hours, start_temp_c),
                    background=body_background(r_build))


class _LookalikePlan:
    """Where the real-recording look-alikes go in one night, drawn from streams of their own.

    Placement and building use generators keyed by the seed apart from the night's other streams, so
    the cramps' and the other look-alikes' own draws stay what they were (their times can move,
    because the settling period and the get-ups take room first).
    """

    def __init__(self, seed: int, sleeper: str, horizon: float, slots: _Slots):
        ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x6E63, 0x10CA])
        self.r_place, self.r_build = (np.random.default_rng(s) for s in ss.spawn(2))
        self.sleeper = sleeper
        self.horizon = horizon
        self.slots = slots
        self.items: list[tuple[float, str, tuple]] = []
        self._resettle = 0.0
        rng = self.r_place
        # Handling the sensor right after the start, then the settling-in period.
        t = 0.0
        if rng.random() < lk.HANDLING_P:
            d = lk._lognormal(rng, lk.HANDLING_DUR_MEDIAN_S, lk.HANDLING_DUR_SIGMA, lk.HANDLING_DUR_CLIP)
            d = min(d, 0.1 * horizon)
            a = float(rng.uniform(0.5, 5.0))
            self.items.append((a, "handling", (d,)))
            t = a + d + 15.0  # the builder's still gaps can run past d: bounded by 8 s + lying down
        if rng.random() < lk.SETTLING_P:
            m = lk._lognormal(rng, lk.SETTLING_MIN_MEDIAN, lk.SETTLING_MIN_SIGMA, lk.SETTLING_MIN_CLIP)
            period = min(m * 60.0, lk.SETTLING_MAX_SHARE * horizon)
            self.items.append((t, "settling", (period,)))
            t += period
        self._handling_end = 0.0
        if self.items and self.items[0][1] == "handling":
            self._handling_end = self.items[0][0] + self.items[0][2][0] + 15.0
        if t > 0:
            slots.busy.append((0.0, t, "settling"))

    def release_settling(self) -> bool:
        """A short night has no room for its cramps after the settling period: free it but the handling.

        The settling period is then cut to end before the first cramp or get-up (:meth:`fit_settling`).
        Returns False when there was nothing to free.
        """
        busy = [x for x in self.slots.busy if x[2] == "settling"]
        if not busy or not any(k == "settling" for _, k, _ in self.items):
            return False
        for x in busy:
            self.slots.busy.remove(x)
        if self._handling_end > 0:
            self.slots.busy.append((0.0, self._handling_end, "handling"))
        return True

    def release_getups(self, walk_plan: list) -> bool:
        """Drop the night's get-ups (a short night with no room for its cramps); False if it had none."""
        if not walk_plan:
            return False
        self.slots.busy = [x for x in self.slots.busy if x[2] != "walk"]
        walk_plan.clear()
        self.items = [x for x in self.items if x[1] != "getup"]
        return True

    def fit_settling(self, starts: list[float]) -> None:
        """Cut the settling period to end 10 min before the first of ``starts`` (drop it if under 2 min is left)."""
        first = min([s for s in starts if s >= 0], default=None)
        out = []
        for a, kind, args in self.items:
            if kind == "settling" and first is not None and a + args[0] > first - 600.0:
                period = first - 600.0 - a
                if period < 120.0:
                    continue
                args = (period,)
            out.append((a, kind, args))
        self.items = out
        if not any(x[2] == "settling" for x in self.slots.busy):
            for a, kind, args in self.items:
                if kind == "settling":
                    self.slots.busy.append((a, a + args[0], "settling"))

    def n_getups(self, lo: int, hi: int, scale: float) -> int:
        """Get-ups in this night: each of the sleeper's up to ``hi`` (per 8 h) with the night's share."""
        return max(int(round(lo * min(1.0, scale))), int(self.r_place.binomial(hi, min(1.0, scale))))

    def getup_extra_s(self) -> float:
        self._resettle = lk._lognormal(self.r_place, lk.RESETTLE_MEDIAN_S, 0.6, (60.0, 600.0))
        return 300.0 + self._resettle  # sitting, standing, a pause, coming back; then resettling

    def getup_at(self, a: float, walk_s: float) -> None:
        self.items.append((a, "getup", (walk_s, self._resettle)))

    def place_night_events(self) -> None:
        rng, hours = self.r_place, self.horizon / 3600.0
        counts = lk.night_counts(rng, self.sleeper, hours)
        for kind in ("restless", "adjust", "sit_edge", "arousal"):
            # A cramp comes out of sleep: 10 min clear of being awake, handling or sitting up; 2 min of an arousal.
            avoid = {"cramp": 120.0 if kind == "arousal" else 600.0, "walk": 60.0}
            for _ in range(counts[kind]):
                if kind == "restless":
                    d = 60.0 * lk._lognormal(rng, lk.RESTLESS_MIN_MEDIAN, lk.RESTLESS_MIN_SIGMA, lk.RESTLESS_MIN_CLIP)
                    span = d
                elif kind == "adjust":
                    d = float(rng.uniform(*lk.ADJUST_DUR_S))
                    span = d + 15.0
                elif kind == "sit_edge":
                    d = lk._lognormal(rng, lk.SIT_DUR_MEDIAN_S, lk.SIT_DUR_SIGMA, lk.SIT_DUR_CLIP)
                    span = d + 10.0
                else:
                    d = lk.arousal_duration(rng)
                    span = d
                a = self.slots.place(span, kind, 10.0, 60.0, self.horizon - 30.0, avoid=avoid)
                if a is not None:
                    self.items.append((a, kind, (d,)))

    def plan(self) -> list:
        return list(self.items)

    def build(self, b: EventBuilder, a: float, kind: str, args: tuple, mount: np.ndarray) -> SimEvent:
        """One look-alike, built with its own generator (the builder's own is put back afterwards)."""
        rng, saved = self.r_build, b.rng
        b.rng = rng
        try:
            if kind == "handling":
                return lk.handling(b, rng, a, mount, args[0])
            if kind == "adjust":
                return lk.handling(b, rng, a, mount, args[0], kind="adjust", flip=bool(rng.random() < 0.5))
            if kind == "settling":
                return lk.settling(b, rng, a, args[0])
            if kind == "restless":
                return lk.settling(b, rng, a, args[0], kind="restless", decay=0.0)
            if kind == "sit_edge":
                return lk.sit_edge(b, rng, a, args[0])
            if kind == "getup":
                return lk.getup(b, rng, a, *args)
            return lk.arousal(b, rng, a, args[0])
        finally:
            b.rng = saved


def _room_temperature(rng, hours: float, start_c: float) -> np.ndarray:
    """One value a minute: cooling towards the night's outside level, a thermostat keeping a setpoint.

    Newton cooling with a time constant of 2-4 h towards 4-8 C below the
    start; with a heater (70% of nights) a thermostat 1.5-3 C below the start
    switches on at 0.25 C under its setpoint and adds 0.06-0.12 C a minute
    until 0.25 C over it: the saw-tooth of a heating cycle.
    """
    n = int(math.ceil(hours * 60)) + 2
    out = np.empty(n)
    t_out = start_c - rng.uniform(4.0, 8.0)
    k = 1.0 / rng.uniform(120.0, 240.0)
    heater = rng.random() < 0.7
    setpoint = start_c - rng.uniform(1.5, 3.0)
    power = rng.uniform(0.06, 0.12)
    on = False
    temp = start_c
    for i in range(n):
        out[i] = temp
        if heater:
            if temp < setpoint - 0.25:
                on = True
            elif temp > setpoint + 0.25:
                on = False
        temp += -k * (temp - t_out) + (power if on else 0.0) + rng.normal(0, 0.01)
    return out
