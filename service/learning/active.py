"""The tuning in effect: ``nightcramp tune --apply`` installs a ``[detection]`` fragment for the service.

The fragment lives at ``<state_dir>/tuning/active.toml`` (the one before it at
``previous.toml``, for ``--revert``).  When the service starts (and so on every reload), its
``[detection]`` table is laid over the configuration's: the fragment's keys win, the others
stay.  A fragment that does not parse is logged and ignored: a broken file never stops the
alarm, it only leaves the untuned settings in effect.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from firmware.errors import ConfigError
from service import config as cfg
from service.pipeline.tuning import KNOBS, is_tuned

log = logging.getLogger(__name__)

TUNING_DIR = "tuning"
ACTIVE = "active.toml"
PREVIOUS = "previous.toml"


def active_path(state_dir) -> Path:
    return Path(state_dir) / TUNING_DIR / ACTIVE


def read_active(state_dir) -> tuple[cfg.DetectionConfig | None, str | None]:
    """The installed fragment's ``[detection]`` and its first comment line, or (None, None)."""
    path = active_path(state_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        log.error("tuning %s cannot be read (%s): the untuned settings stay in effect", path, exc)
        return None, None
    try:
        detection = cfg.parse(text, source=str(path)).detection
    except ConfigError as exc:
        log.error("tuning %s is not valid (%s): the untuned settings stay in effect", path, "; ".join(exc.problems))
        return None, None
    title = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")), "")
    return detection, title or path.name


def with_active_tuning(config: cfg.Config) -> cfg.Config:
    """``config`` with the installed tuning's ``[detection]`` keys laid over its own (unchanged when none).

    Only the keys the fragment sets are taken from it; the configuration's others stay."""
    detection, title = read_active(config.state_dir)
    if detection is None:
        return config
    keys = _keys_set(active_path(config.state_dir))
    merged = replace(config.detection, **{k: getattr(detection, k) for k in keys})
    log.info("tuning in effect: %s (%s)", describe(merged), title)
    return replace(config, detection=merged)


def _keys_set(path: Path) -> list[str]:
    """The keys of the fragment's ``[detection]`` table (it parsed already: read_active checked it)."""
    import tomllib

    try:
        table = tomllib.loads(path.read_text(encoding="utf-8").removeprefix("\ufeff")).get("detection", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    return [k for k in table if k in cfg.DetectionConfig.__dataclass_fields__]


def describe(detection: cfg.DetectionConfig) -> str:
    knobs = ", ".join(f"{k} = {getattr(detection, k):g}" for k in KNOBS if getattr(detection, k) is not None)
    return f"sensitivity {detection.sensitivity}" + (f", {knobs}" if knobs else "")


def status(config: cfg.Config) -> str:
    """One line for ``doctor`` and the morning log: which tuning is active."""
    detection, title = read_active(config.state_dir)
    if detection is None:
        if is_tuned(config.detection):
            return f"from the configuration: {describe(config.detection)}"
        return ""
    return f"{describe(detection)} ({active_path(config.state_dir)}: {title})"


def apply(state_dir, fragment: str) -> Path:
    """Install ``fragment`` (checked first); the one it replaces is kept for :func:`revert`."""
    cfg.parse(fragment, source="the tuning fragment")
    path = active_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        os.replace(path, path.with_name(PREVIOUS))
    else:
        path.with_name(PREVIOUS).unlink(missing_ok=True)
    tmp = path.with_name(ACTIVE + ".tmp")
    tmp.write_text(fragment, encoding="utf-8")
    os.replace(tmp, path)
    return path


def revert(state_dir) -> str:
    """Go back to what was in effect before the last ``--apply``; says what is in effect now."""
    path = active_path(state_dir)
    previous = path.with_name(PREVIOUS)
    if previous.exists():
        os.replace(previous, path)
        return f"the previous tuning ({path})"
    if path.exists():
        path.unlink()
        return "no tuning: the configuration's [detection] settings"
    return "no tuning was installed; nothing changed"
