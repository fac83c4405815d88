"""The sleeper's stir baseline (service/pipeline/baseline.py) kept across nights in the state directory.

One JSON file per leg, ``baseline-<leg>.json``, written atomically at the end of every night window and
at a clean stop.  A missing or unreadable file starts a fresh baseline (logged), which adds nothing to
the confirmation time: cramps count from the first night either way.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from service.pipeline.baseline import StirBaseline

log = logging.getLogger(__name__)


def baseline_path(state_dir: str | os.PathLike, leg: str) -> Path:
    return Path(state_dir) / f"baseline-{leg}.json"


def load_baseline(state_dir: str | os.PathLike, leg: str, max_extra_s: float) -> StirBaseline:
    path = baseline_path(state_dir, leg)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return StirBaseline(max_extra_s)
    except (OSError, ValueError) as exc:
        log.warning("baseline for leg %s unreadable (%s): starting a fresh one", leg, exc)
        return StirBaseline(max_extra_s)
    return StirBaseline.from_dict(doc, max_extra_s)


def save_baseline(state_dir: str | os.PathLike, leg: str, baseline: StirBaseline) -> bool:
    """Write the baseline; whether it worked (a failure is logged, never raised: it must not stop a night)."""
    path = baseline_path(state_dir, leg)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(baseline.to_dict()) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return True
    except OSError as exc:
        log.warning("could not save the baseline for leg %s to %s: %s", leg, path, exc)
        return False
