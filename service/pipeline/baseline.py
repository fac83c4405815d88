"""The sleeper's own baseline: how long this sleeper's stirs in sleep usually last.

A cramp is near-continuous movement that outlasts the sleeper's ordinary stirs; the detector's
confirmation time (``confirm_s``, 11 s by default) is set to outlast a rollover (2-10 s).  Some
sleepers stir for longer in their sleep: on a real wrist night, movement arousals of 20-130 s.  For
them the confirmation is extended toward their own typical long stir, within a bound, so the bar
rises only for sleepers whose stirs need it, and only as far as their stirs reach.

What counts as a stir: a movement that began while the sleeper was settled (see the detector's
settled state) and ended in stillness without alerting, lasting at least :data:`STIR_MIN_S`
(shorter ones are twitches and bumps, which never come near the confirmation time), except one that
went on past the confirmation only because it had turned the leg beyond ``turn_deg`` and so was given
``turn_confirm_s`` more (a rollover: how long those go on is what ``turn_confirm_s`` covers, and counting
them would make every cramp, also one that hardly turns the leg, wait for them).  The
durations of the last :data:`MAX_STIRS` are kept; the extension is

    extra = clip(quantile(durations, QUANTILE) + MARGIN_S - confirm_s, 0, max_extra_s)

once at least :data:`MIN_STIRS` stirs were seen (before that: 0, so cramps count from the first
night, at the default confirmation).  A stir is censored at the confirmation time in force (a
longer one would have alerted), so the quantile can only climb by the margin per long stir, and the
bound stops it.

Pure: the caller (service/app) loads and saves :meth:`to_dict` in the state directory so the
baseline is kept across nights.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

STIR_MIN_S = 3.0
"""Shorter movements are twitches, bumps and single limb movements: they say nothing about long stirs."""
MAX_STIRS = 400
"""Stirs remembered (about a week of a restless sleeper's nights)."""
MIN_STIRS = 5
"""Stirs needed before the baseline changes anything."""
QUANTILE = 0.9
"""The sleeper's "typical long stir": the 90th percentile of their stirs' durations."""
MARGIN_S = 2.0
"""How far beyond that stir the confirmation reaches (a stir that fades is still active for a moment)."""
MAX_EXTRA_S = 8.0
"""Default bound on the extension, seconds (``[detection] baseline_max_extra_s``)."""
VERSION = 1


class StirBaseline:
    """Durations of this sleeper's recent stirs and the confirmation extension they call for."""

    def __init__(self, max_extra_s: float = MAX_EXTRA_S, durations: list[float] | None = None):
        self.max_extra_s = max(0.0, float(max_extra_s))
        self._d: deque[float] = deque(maxlen=MAX_STIRS)
        for x in durations or []:
            self.add(x)
        self._cache: dict[float, float] = {}

    def __len__(self) -> int:
        return len(self._d)

    def add(self, duration_s: float) -> bool:
        """One stir ended (seconds of movement); whether it was counted."""
        d = float(duration_s)
        if not np.isfinite(d) or d < STIR_MIN_S:
            return False
        self._d.append(d)
        self._cache = {}
        return True

    def typical_long_stir_s(self) -> float | None:
        """The 90th percentile of the remembered stirs (s), None until :data:`MIN_STIRS` were seen."""
        if len(self._d) < MIN_STIRS:
            return None
        return float(np.quantile(np.fromiter(self._d, float), QUANTILE))

    def extra_s(self, confirm_s: float) -> float:
        """Seconds added to a confirmation of ``confirm_s``: 0 until the baseline knows this sleeper."""
        if self.max_extra_s <= 0.0:
            return 0.0
        hit = self._cache.get(confirm_s)
        if hit is not None:
            return hit
        q = self.typical_long_stir_s()
        extra = 0.0 if q is None else float(np.clip(q + MARGIN_S - confirm_s, 0.0, self.max_extra_s))
        self._cache[confirm_s] = extra
        return extra

    # ------------------------------------------------------------ persistence (by the caller)

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION, "stirs_s": [round(x, 2) for x in self._d]}

    @classmethod
    def from_dict(cls, doc: Any, max_extra_s: float = MAX_EXTRA_S) -> "StirBaseline":
        """A baseline from :meth:`to_dict`'s output; anything unreadable gives a fresh one."""
        stirs = doc.get("stirs_s") if isinstance(doc, dict) and doc.get("version") == VERSION else None
        if not isinstance(stirs, list):
            return cls(max_extra_s)
        vals = []
        for x in stirs[-MAX_STIRS:]:
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                vals.append(float(x))
        return cls(max_extra_s, vals)
