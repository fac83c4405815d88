"""The morning log's plain-language summary and its hints (docs/signals.md, "Hints").

Pure: it reads a built :class:`service.night.morning.MorningLog` and the
records of the two nights before, and returns sentences.  The thresholds are
this project's reading of a leg-worn accelerometer, not clinical scores; the
hints say so.
"""

from __future__ import annotations

from service.night.formatting import duration, hm
from service.night.models import NightRecord, summarize_detail

SHORT_NIGHT_REST_H = 6.0  # fewer resting hours than this: a short or broken night
LONG_CRAMP_S = 60.0  # a cramp this long earns the warm-compress hint
CLUSTER_CRAMPS = 2  # this many cramps in a night make a cluster (worth relating to short nights)
HYDRATION_CRAMPS = 3  # this many (or a hot room) earn the drink-and-minerals hint


def summary_and_hints(mlog, config, previous: list[NightRecord]) -> tuple[list[str], list[str]]:
    """The summary sentences and the hints for ``mlog`` (a MorningLog without them yet).

    ``config`` is the service :class:`~service.config.Config` (its room
    temperature limits); ``previous`` holds the records of the nights before,
    to relate a cluster of cramps to short nights.
    """
    prompts = config.prompts
    n = len(mlog.episodes)
    temps = mlog.temp_stats
    summary: list[str] = []
    if n == 0:
        summary.append("No cramps were recorded" + (" so far tonight." if mlog.in_progress else " last night."))
    else:
        longest = max(mlog.episodes, key=lambda ep: ep.duration_s)
        summary.append(
            f"{n} cramp{'s' if n != 1 else ''} ({duration(mlog.total_cramp_s)} in all); the longest began at "
            f"{hm(mlog.local(longest.onset))} and lasted {duration(longest.duration_s)}.")
    if mlog.false_alarms:
        k = len(mlog.false_alarms)
        summary.append(f"{k} alert{'s were' if k != 1 else ' was'} marked as a false alarm.")
    if temps:
        summary.append(f"The room was between {temps['min']:.1f} and {temps['max']:.1f} °C.")
    if mlog.unrecorded_s >= 60:
        summary.append(f"For {duration(mlog.unrecorded_s)} nothing was recorded (see below): a cramp then could have "
                       "been missed.")

    hints: list[str] = []
    if n:
        hints.append("Stretch the calves gently before bed (pull the toes toward the shin and hold about 30 s); "
                     "relaxing the muscles before sleep helps many people.")
    if any(ep.duration_s >= LONG_CRAMP_S for ep in mlog.episodes) or n >= CLUSTER_CRAMPS:
        hints.append("During a cramp, a warm compress on the calf (or a warm bath) and gentle stretching relax the muscle.")
    hot = temps is not None and temps["max"] > prompts.hot_room_c
    if n and hot:
        hints.append(f"The bedroom was warm (up to {temps['max']:.1f} °C, above {prompts.hot_room_c:g} °C): heat and "
                     "sweating are linked to cramps; a cooler room may help.")
    if n >= HYDRATION_CRAMPS or (n and hot):
        hints.append("Drink enough during the day, especially on hot days or after sweating, and eat foods with "
                     "minerals (magnesium: whole grains, green vegetables, bananas; calcium: dairy, spinach, eggs).")
    cold = [ep for ep in mlog.episodes if (mlog.episode_temps.get(ep.id) or 99) < prompts.cold_room_c]
    if cold:
        hints.append(f"The room was below {prompts.cold_room_c:g} °C during {len(cold)} cramp"
                     f"{'s' if len(cold) != 1 else ''}: keeping the legs warm may help.")
    short = [p for p in previous if short_night(p)]
    if n >= CLUSTER_CRAMPS and short:
        hints.append(f"These {n} cramps came after {len(short)} short or broken night{'s' if len(short) != 1 else ''} "
                     f"(under {SHORT_NIGHT_REST_H:g} h at rest): lack of sleep is a known contributing factor.")
    if hints:
        hints.append("These are general tips, not medical advice: see a doctor if cramps are frequent or severe.")
    return summary, hints


def short_night(record: NightRecord) -> bool:
    """At least two hours recorded, and fewer than :data:`SHORT_NIGHT_REST_H` of them at rest."""
    detail = summarize_detail(record)
    return detail["minutes_covered"] >= 120 and (detail["rest_hours"] or 0.0) < SHORT_NIGHT_REST_H
