"""How many alarms are labelled, and whether ``nightcramp tune`` is worth running (for the morning log and HA).

:func:`tally` counts the kept snippets by label; :func:`learning_lines` turns it, and the last
estimate the snippet writer made at the end of a night (``snippets/estimate.json``, written by
:func:`write_estimate`), into the lines the morning log shows.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger(__name__)

ESTIMATE_FILE = "estimate.json"
SUGGEST_AFTER_LABELS = 3
"""Labelled alarms (false alarms or confirmed cramps) before the morning log suggests ``nightcramp tune``."""


def tally(snippets: Iterable) -> dict[str, int]:
    """Counts by label, and how many of the alarms (alerted episodes) carry a label."""
    counts = {"snippets": 0, "alarms": 0, "labelled_alarms": 0, "cramp": 0, "false_alarm": 0, "missed_cramp": 0,
              "unlabelled": 0}
    for s in snippets:
        counts["snippets"] += 1
        label = s.label if s.label in counts else "unlabelled"
        counts[label] += 1
        if s.doc.get("trigger") == "episode" and s.doc.get("alerted", True):
            counts["alarms"] += 1
            counts["labelled_alarms"] += label != "unlabelled"
    return counts


def write_estimate(state_dir: str | os.PathLike, estimate: dict[str, Any]) -> None:
    path = Path(state_dir) / "snippets" / ESTIMATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(estimate, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_estimate(state_dir: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(state_dir) / "snippets" / ESTIMATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None


def learning_lines(counts: dict[str, int], estimate: dict[str, Any] | None, tuning: str | None) -> list[str]:
    """What the morning log says about labels and tuning."""
    lines = [f"Labels: {counts['labelled_alarms']} of {counts['alarms']} kept alarm"
             f"{'s' if counts['alarms'] != 1 else ''} labelled ({counts['cramp']} cramp, "
             f"{counts['false_alarm']} false alarm, {counts['missed_cramp']} missed cramp reported)."]
    lines.append(f"Tuning: {tuning}." if tuning else "Tuning: none (the preset's settings).")
    enough = counts["false_alarm"] + counts["cramp"] + counts["missed_cramp"] >= SUGGEST_AFTER_LABELS
    if enough and counts["false_alarm"] + counts["missed_cramp"] > 0:
        text = "Enough labels to try `nightcramp tune`"
        if estimate and estimate.get("false_alarms_before") is not None:
            text += (f": on the labels up to the end of the night it would have removed "
                     f"{estimate['false_alarms_before'] - estimate['false_alarms_after']} of "
                     f"{estimate['false_alarms_before']} false alarms, kept {estimate['cramps_kept']} of "
                     f"{estimate['cramps']} confirmed cramps and caught {estimate['missed_caught']} of "
                     f"{estimate['missed']} missed ones")
            if not estimate.get("accepted", True):
                text += " (no candidate passed the safety checks)"
        lines.append(text + ".")
    return lines
