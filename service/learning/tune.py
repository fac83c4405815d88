"""``nightcramp tune``: choose per-sleeper ``[detection]`` knobs from labelled snippets and recordings.

Every case (a labelled snippet, a labelled recording, a reference cramp) is replayed with
:func:`service.recording.replay.replay_recording`, the code ``nightcramp replay`` and so the
service run, under the current settings and each candidate of a small grid
(:func:`candidates`).  Scoring follows docs/signals.md: an alert from 2 s before a cramp's onset
to 5 s after its end catches it (later ones are repeats); any other alert is a false alarm.

A candidate is **refused** when it misses a confirmed cramp (a snippet labelled ``cramp`` or an
episode of a labelled recording) that the current settings catch, or catches fewer reference
cramps (:mod:`service.learning.reference`) than the current settings do.  Among the others the
one with the fewest false alarms wins; ties go to more missed cramps caught, then the lower
median latency, then the smallest change.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import numpy as np

from firmware.errors import RecordingError
from service import config as cfg
from service import events as ev
from service.learning.reference import reference_cramps, still_background
from service.learning.snippets import SnippetStore, cramp_episodes
from service.pipeline.tuning import KNOBS, knob_values
from service.recording.format import Recording, labels_path, read_labels, read_recording
from service.recording.replay import replay_recording

log = logging.getLogger(__name__)

EARLY_S = 2.0
LATE_S = 5.0


@dataclass
class Case:
    """One thing to replay: samples, the cramps in it (seconds) and what kind of evidence it is.

    ``kind``: ``confirmed`` (cramps the sleeper confirmed, or a labelled recording), ``false_alarm``
    (a snippet labelled so: cramp-free), ``missed`` (a missed-cramp report) or ``reference``.
    """

    name: str
    rec: Recording
    cramps: list[tuple[float, float]]
    kind: str
    kept: dict | None = None
    """A snippet's labels document (None for recordings and reference cramps)."""


@dataclass
class Score:
    """What one setting did on all cases."""

    false_alarms: int = 0
    confirmed: list[bool] = field(default_factory=list)  # per confirmed cramp: caught?
    missed: list[bool] = field(default_factory=list)
    reference: list[bool] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # confirmed and missed cramps caught, s
    reference_latencies: list[float] = field(default_factory=list)

    @property
    def median_latency(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None

    @property
    def reference_median_latency(self) -> float | None:
        return statistics.median(self.reference_latencies) if self.reference_latencies else None


@dataclass
class Outcome:
    detection: cfg.DetectionConfig
    score: Score
    refused: str = ""  # why, or "" when allowed


@dataclass
class TuneResult:
    current: Outcome
    chosen: Outcome
    outcomes: list[Outcome]
    cases: list[Case]
    reference_floor: int = 0
    """Reference cramps every candidate must catch: the untuned preset's count (or the current settings', if more)."""
    untuned_reference: int = 0
    unreproduced: list[str] = field(default_factory=list)

    @property
    def improved(self) -> bool:
        return self.chosen.detection != self.current.detection


# ---------------------------------------------------------------- cases


def snippet_cases(state_dir) -> list[Case]:
    """The labelled snippets of the state directory."""
    cases = []
    for s in SnippetStore(state_dir).iter_labelled():
        try:
            rec = read_recording(s.path)
        except RecordingError as exc:
            log.warning("%s", exc)
            continue
        length = float(s.doc.get("hours") or 0.0) * 3600.0
        if len(rec) < 2 or rec.t[-1] < length - 1.0:
            log.warning("snippet %s: the recording ends at %.1f s, its labels say %.1f s (cut short): not used",
                        s.name, float(rec.t[-1]) if len(rec) else 0.0, length)
            continue
        kind = {"cramp": "confirmed", "false_alarm": "false_alarm", "missed_cramp": "missed"}[s.label]
        cases.append(Case(f"snippet {s.name}", rec, cramp_episodes(s.label, s.doc), kind, kept=s.doc))
    return cases


def recording_cases(dirs: Iterable[str | Path]) -> list[Case]:
    """Recordings with ``NAME.labels.json`` beside them in ``dirs`` (their episodes are cramps)."""
    cases = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise RecordingError(f"{d}: not a directory")
        for path in sorted([*d.glob("*.csv"), *d.glob("*.csv.gz")]):
            lp = labels_path(path)
            if not lp.exists():
                continue
            labels = read_labels(lp)
            cases.append(Case(f"recording {path.name}", read_recording(path), list(labels.episodes), "confirmed"))
    return cases


def reference_cases(cases: list[Case]) -> list[Case]:
    """Reference cramps in the postures and noise of the cases' recordings."""
    backgrounds = [bg for c in cases if (bg := still_background(c.name, c.rec.t, c.rec.accel)) is not None]
    out = []
    for name, t, accel, labels in reference_cramps(backgrounds):
        rec = Recording(t=np.round(t, 4), accel=np.round(accel, 5), temp_t=np.empty(0), temp_c=np.empty(0))
        out.append(Case(name, rec, labels, "reference"))
    return out


# ---------------------------------------------------------------- scoring


def alert_times(case: Case, config: cfg.Config) -> list[float]:
    """The ``cramp_start`` times the service's code raises on this case under ``config``'s ``[detection]``.

    Everything else is at its default, exactly as ``nightcramp replay --config FRAGMENT`` reads
    the fragment :func:`fragment` writes (a recording that names its start is cut to the default
    night window; snippets name none, so all of them counts).
    """
    only = cfg.Config(detection=config.detection)
    return [e.t for e in replay_recording(case.rec, only, night_window=True) if e.type == ev.CRAMP_START]


def score(cases: list[Case], config: cfg.Config) -> Score:
    sc = Score()
    for case in cases:
        alerts = alert_times(case, config)
        used = set()
        for onset, end in case.cramps:
            hit = next((a for a in alerts if onset - EARLY_S <= a <= end + LATE_S), None)
            for a in alerts:
                if onset - EARLY_S <= a <= end + LATE_S:
                    used.add(a)
            caught = hit is not None
            if case.kind == "reference":
                sc.reference.append(caught)
                if caught:
                    sc.reference_latencies.append(hit - onset)
            else:
                (sc.confirmed if case.kind == "confirmed" else sc.missed).append(caught)
                if caught and case.kind == "confirmed":
                    sc.latencies.append(hit - onset)
        if case.kind != "reference":
            sc.false_alarms += sum(1 for a in alerts if a not in used)
    return sc


def kept_settings(doc: dict) -> cfg.DetectionConfig | None:
    """The ``[detection]`` knobs a snippet was kept under (its labels file), None when it does not say."""
    knobs = doc.get("detection")
    if not isinstance(knobs, dict):
        return None
    try:
        return cfg.DetectionConfig(sensitivity=str(doc.get("sensitivity", "normal")),
                                   **{k: float(knobs[k]) for k in KNOBS if k in knobs})
    except (TypeError, ValueError):
        return None


def unreproduced(cases: list[Case], config: cfg.Config) -> list[str]:
    """The kept alarms that replay raises no alarm for under the settings they were kept with.

    The service alerted on each (only alerted episodes have an ``alert_t``).  A snippet kept while the
    sleeper was settled starts its replayed detector settled (its ``# detector: settled`` line), so it
    replays the alarm unless something else differs (the sleeper's baseline of stirs, the noise floor of
    the minutes before it).  One kept while unsettled, or before snippets recorded the detector's state,
    replays from a fresh detector, which must settle within the 2-minute lead-in (docs/detection.md,
    settled first): a movement early in it means no alert.  Such a cramp is not protected by the
    confirmed-cramp check and such a false alarm cannot be tuned away: ``tune`` says so (:func:`why_unreproduced`)."""
    out = []
    for case in cases:
        doc = case.kept
        if not doc or doc.get("alert_t") is None or not doc.get("alerted", True):
            continue
        det = kept_settings(doc) or config.detection
        det = replace(config.detection, sensitivity=det.sensitivity, **{k: getattr(det, k) for k in KNOBS})
        onset = float(doc.get("onset_t") if doc.get("onset_t") is not None else doc["alert_t"])
        end = float(doc.get("end_t") if doc.get("end_t") is not None else case.rec.t[-1])
        alerts = alert_times(case, replace(config, detection=det))
        if not any(onset - EARLY_S <= a <= end + LATE_S for a in alerts):
            out.append(case.name)
    return out


def why_unreproduced(case: Case) -> str:
    """What the replayed detector started from, for the warning's list."""
    if case.rec.settled_at_start is None:
        return "kept before snippets recorded the detector's state: replayed from a fresh detector"
    if case.rec.settled_at_start:
        return "kept settled and replayed from settled: the replay differs otherwise (the baseline of stirs?)"
    return (f"kept while not settled ({case.rec.unsettled_reason or 'no reason given'}): replayed from a fresh "
            "detector")


def untuned(detection: cfg.DetectionConfig) -> cfg.DetectionConfig:
    """``detection`` with the per-sleeper knobs unset: the preset's values."""
    return replace(detection, **{k: None for k in KNOBS})


TURNS = (7.0, 10.0, 13.0, 16.0, 20.0, 35.0, 50.0)
"""``turn_confirm_s`` values tried at the current ``turn_deg``."""
BIG_TURNS = ((60.0, (10.0, 20.0, 35.0)), (75.0, (10.0, 20.0, 35.0)), (90.0, (10.0, 20.0, 35.0)))
"""``turn_deg`` values tried above the current one, each with these ``turn_confirm_s``: the extra time kept for
the big turns of a sleeper who rolls far (docs/learning.md)."""


def candidates(base: cfg.DetectionConfig) -> list[cfg.DetectionConfig]:
    """The grid: longer confirmation, more time for a turning leg (and what counts as turning), a higher
    active share."""
    now = knob_values(base)
    confirm = sorted({now["confirm_s"], *(min(30.0, now["confirm_s"] + d) for d in (1.0, 2.0, 4.0, 7.0))})
    turns = [(now["turn_deg"], tc) for tc in sorted({now["turn_confirm_s"], *(v for v in TURNS if v > now["turn_confirm_s"])})]
    turns += [(deg, tc) for deg, extras in BIG_TURNS if deg > now["turn_deg"]
              for tc in extras if tc > now["turn_confirm_s"]]
    share = sorted({now["active_share"], *(v for v in (0.85, 0.9) if v > now["active_share"])})
    out = []
    for c in confirm:
        for deg, tu in turns:
            for sh in share:
                out.append(replace(base, confirm_s=c, turn_confirm_s=tu, turn_deg=deg, active_share=sh))
    return out


def _change(detection: cfg.DetectionConfig, base: cfg.DetectionConfig) -> float:
    a, b = knob_values(detection), knob_values(base)
    return (abs(a["confirm_s"] - b["confirm_s"]) / 2.0 + abs(a["turn_confirm_s"] - b["turn_confirm_s"]) / 10.0
            + abs(a["turn_deg"] - b["turn_deg"]) / 15.0 + abs(a["active_share"] - b["active_share"]) / 0.05)


def tune(config: cfg.Config, cases: list[Case]) -> TuneResult:
    """Evaluate the current settings and every candidate on ``cases`` plus reference cramps."""
    cases = cases + reference_cases(cases)
    current = Outcome(config.detection, score(cases, config))
    refs = [c for c in cases if c.kind == "reference"]
    plain = untuned(config.detection)
    if plain == config.detection:
        untuned_ref = sum(current.score.reference)
    else:
        untuned_ref = sum(score(refs, replace(config, detection=plain)).reference) if refs else 0
    floor = max(untuned_ref, sum(current.score.reference))
    outcomes = []
    for det in candidates(config.detection):
        sc = score(cases, replace(config, detection=det))
        why = ""
        lost = sum(1 for was, now in zip(current.score.confirmed, sc.confirmed) if was and not now)
        if not refs and not any(current.score.confirmed):
            why = "nothing to check it against: no confirmed cramp and no still stretch for reference cramps"
        elif lost:
            why = f"loses {lost} confirmed cramp{'s' if lost > 1 else ''}"
        elif sum(sc.reference) < floor:
            why = f"catches {sum(sc.reference)} of {len(sc.reference)} reference cramps (at least {floor} required)"
        outcomes.append(Outcome(det, sc, why))
    allowed = [o for o in outcomes if not o.refused]

    def key(o: Outcome):
        lat = o.score.median_latency if o.score.median_latency is not None else (o.score.reference_median_latency or 0.0)
        return (o.score.false_alarms, -sum(o.score.missed), round(lat, 1), _change(o.detection, config.detection))

    chosen = current
    if allowed:
        best = min(allowed, key=key)
        if key(best)[:2] < key(current)[:2]:
            chosen = best
    return TuneResult(current, chosen, outcomes, cases, floor, untuned_ref, unreproduced(cases, config))


# ---------------------------------------------------------------- output


def _frac(flags: list[bool]) -> str:
    return f"{sum(flags)}/{len(flags)}" if flags else "-"


def _lat(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f} s"


def table(result: TuneResult) -> str:
    """The before/after table, with the safety checks and how many candidates were refused."""
    cur, new = result.current, result.chosen
    kinds = {k: sum(1 for c in result.cases if c.kind == k) for k in ("confirmed", "false_alarm", "missed", "reference")}
    rows = [("", "current", "tuned"),
            ("settings", _knobs(cur.detection), _knobs(new.detection)),
            ("false alarms", str(cur.score.false_alarms), str(new.score.false_alarms)),
            ("confirmed cramps kept", _frac(cur.score.confirmed), _frac(new.score.confirmed)),
            ("missed cramps caught", _frac(cur.score.missed), _frac(new.score.missed)),
            ("median latency", _lat(cur.score.median_latency), _lat(new.score.median_latency)),
            ("reference cramps caught", _frac(cur.score.reference), _frac(new.score.reference)),
            ("reference median latency", _lat(cur.score.reference_median_latency),
             _lat(new.score.reference_median_latency))]
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    recs = [c for c in result.cases if c.kind == "confirmed" and c.kept is None]
    n_rec_cramps = sum(len(c.cramps) for c in recs)
    lines = [f"cases: {kinds['confirmed'] - len(recs)} snippets of confirmed cramps, {kinds['false_alarm']} of false "
             f"alarms, {kinds['missed']} missed-cramp reports, {len(recs)} labelled recording"
             f"{'s' if len(recs) != 1 else ''} ({n_rec_cramps} cramp{'s' if n_rec_cramps != 1 else ''} in "
             f"{sum(c.rec.duration_s for c in recs) / 3600:.2f} h), {kinds['reference']} reference cramps", ""]
    lines += ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    refused = [o for o in result.outcomes if o.refused]
    lost = sum(1 for o in refused if o.refused.startswith("loses"))
    n_ref = kinds["reference"]
    lines += ["", f"never tunes the alarm away: a candidate must keep every confirmed cramp the current settings "
                  f"catch ({sum(cur.score.confirmed)}) and catch at least {result.reference_floor} of {n_ref} "
                  f"reference cramps (the untuned settings catch {result.untuned_reference})"
              if n_ref else "never tunes the alarm away: a candidate must keep every confirmed cramp the current "
                            f"settings catch ({sum(cur.score.confirmed)}); no still stretch to set reference cramps "
                            "into was found in the labelled data",
              f"{len(result.outcomes)} candidates tried, {len(refused)} refused ({lost} lost a confirmed cramp, "
              f"{len(refused) - lost} caught fewer reference cramps than required)"]
    if result.unreproduced:
        lines += ["", f"warning: {len(result.unreproduced)} kept alarm(s) raise no alarm when replayed under the settings "
                      "they were kept with (each with what its replay started from; a fresh detector must settle within "
                      "the 2 minutes before the onset, which a movement early in them prevents): a cramp among them "
                      "is not protected by the check above and a false alarm among them cannot be tuned away:"]
        by_name = {c.name: c for c in result.cases}
        lines += [f"  {name} ({why_unreproduced(by_name[name])})" if name in by_name else f"  {name}"
                  for name in result.unreproduced]
    if not result.improved:
        lines.append("no allowed candidate has fewer false alarms or catches more missed cramps: keep the current settings")
    return "\n".join(lines) + "\n"


def _knobs(d: cfg.DetectionConfig) -> str:
    v = knob_values(d)
    turn = f"/{v['turn_deg']:g}deg" if v["turn_deg"] != knob_values(untuned(d))["turn_deg"] else ""
    return f"{d.sensitivity} {v['confirm_s']:g}/{v['turn_confirm_s']:g}{turn}/{v['active_share']:g}"


def fragment(result: TuneResult, when: datetime | None = None) -> str:
    """The chosen settings as a ``[detection]`` table that ``--config`` accepts."""
    d = result.chosen.detection
    when = when or datetime.now(timezone.utc)
    sc, cur = result.chosen.score, result.current.score
    lines = [f"# nightcramp tune {when.isoformat(timespec='seconds')}: false alarms {cur.false_alarms} -> "
             f"{sc.false_alarms}, confirmed cramps {_frac(sc.confirmed)}, missed caught {_frac(sc.missed)}, "
             f"reference cramps {_frac(sc.reference)}",
             "# `nightcramp replay --config THIS_FILE REC` replays with exactly these settings;",
             "# `nightcramp tune --apply` installs it for the service, `--revert` goes back.",
             "[detection]", f'sensitivity = "{d.sensitivity}"']
    values = knob_values(d)
    for k in KNOBS:
        lines.append(f"{k} = {values[k]:g}" if values[k] != int(values[k]) else f"{k} = {values[k]:.1f}")
    default = cfg.DetectionConfig()
    for k in EXTRA_KEYS:  # the configuration's other [detection] settings the tuner ran with, when not the defaults
        if getattr(d, k) != getattr(default, k):
            lines.append(f"{k} = {float(getattr(d, k)):.1f}")
    return "\n".join(lines) + "\n"


EXTRA_KEYS = ("settle_s", "baseline_max_extra_s", "quiet_start_s", "unsettled_confirm_s")
"""``[detection]`` keys that are not knobs: the fragment carries them when the configuration sets them, so that
``nightcramp replay --config FRAGMENT`` runs exactly what ``tune`` scored."""
