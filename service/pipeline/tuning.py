"""Per-sleeper detection settings: the ``[detection]`` knobs laid over a sensitivity preset.

``nightcramp tune`` (docs/learning.md) chooses the knobs from this sleeper's labelled alarms; the
service, ``nightcramp replay`` and the tuner all build the detector's thresholds with
:func:`preset_for`, so a tuning behaves the same wherever it runs.  Pure.

The knobs and the physics behind them:

- ``confirm_s`` (the preset's ``alert_after_s``): how long movement must last before it
  alerts.  A sleeper whose restless bouts outlast the default keeps alerting on them.
- ``turn_confirm_s`` (``turned_extra_s``): a leg that turned more than 45 degrees from its
  posture is rolling over, not held in a cramp's modest tilt; a sleeper who turns slowly and for
  long can be given more time here without delaying cramps that keep the leg's posture.
- ``turn_deg`` (``turned_deg``, 45 degrees): how far the leg must turn to count as rolling over, and so
  need ``turn_confirm_s`` more.  A rollover turns the shin about its own long axis by as far as the sleeper
  rolls (back to side is about 90 degrees); a cramp's tilt (the leg drawn up, the foot pointed) is set by
  the knee and ankle.  A sleeper whose rollovers all turn the leg further than their cramps do can have
  the extra time kept for the big turns, so a cramp that tilts the leg less is not delayed; the reference
  cramps (which turn up to about 85 degrees) keep it honest.
- ``active_share`` (``min_active_frac``): a cramp keeps the leg moving nearly all the time;
  restlessness comes in bursts with pauses.
"""

from __future__ import annotations

from dataclasses import replace

from service.config import DetectionConfig
from service.pipeline.baseline import StirBaseline
from service.pipeline.detect import PRESETS, CrampDetector, Preset

KNOBS = ("confirm_s", "turn_confirm_s", "turn_deg", "active_share")
_PRESET_FIELD = {"confirm_s": "alert_after_s", "turn_confirm_s": "turned_extra_s", "turn_deg": "turned_deg",
                 "active_share": "min_active_frac"}


def preset_for(detection: DetectionConfig) -> Preset:
    """The detector's thresholds for ``detection``: its preset with the knobs that are set."""
    base = PRESETS[detection.sensitivity]
    changes = {_PRESET_FIELD[k]: float(getattr(detection, k)) for k in KNOBS if getattr(detection, k) is not None}
    return replace(base, **changes) if changes else base


def knob_values(detection: DetectionConfig) -> dict[str, float]:
    """Every knob's value in effect (set or from the preset), for tables and logs."""
    p = preset_for(detection)
    return {k: float(getattr(p, _PRESET_FIELD[k])) for k in KNOBS}


def is_tuned(detection: DetectionConfig) -> bool:
    return any(getattr(detection, k) is not None for k in KNOBS)


def make_detector(detection: DetectionConfig, leg: str = "leg", baseline: StirBaseline | None = None) -> CrampDetector:
    """The detector the service runs for ``detection`` on one leg; ``baseline``: this sleeper's stirs
    (kept across nights by the caller), a fresh one when None."""
    if baseline is None:
        baseline = StirBaseline(detection.baseline_max_extra_s)
    else:
        baseline.max_extra_s = max(0.0, float(detection.baseline_max_extra_s))
    return CrampDetector(detection.sensitivity, leg, preset=preset_for(detection), settle_s=detection.settle_s,
                         baseline=baseline, quiet_start_s=detection.quiet_start_s,
                         unsettled_confirm_s=detection.unsettled_confirm_s)
