"""False alarms on real recordings: every alert on a cramp-free recording of a real person.

The recordings are not part of the project.  By default they are read from
``../shared/data/real`` beside the repository (where the developers keep them);
more folders come from ``--real DIR`` or ``$NIGHTCRAMP_REAL_DATA`` (paths separated
by ``:``), which is how recordings held back from the project are judged by the
same code.  Each ``NAME.csv.gz`` with ``NAME.labels.json`` beside it is replayed
through :func:`service.recording.replay.replay_recording`, exactly what
``nightcramp replay`` runs, and scored by the rule of docs/signals.md: an alert
outside every labelled episode is a false alarm.

What the person was doing at each false alarm comes from the labels'
``context_labels`` (spans with a numeric label, named by ``context_label_names``)
where present, otherwise from the labels' ``activity``; the time since the start
of the recording is given with it, because the first minutes of a recording are
when the sensor was put on and the sleeper was settling in.

``--before REV`` also replays every file with the code of git revision REV (in a
temporary worktree, through its own ``python -m service replay``) so the report
can say which false alarms were removed and which are new; ``--plots DIR`` then
draws both (benchmarks/realplots.py).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from service.config import Config
from service.recording.format import RecordingError, labels_path, read_recording
from service.recording.replay import replay_recording

log = logging.getLogger("benchmarks.realdata")

ROOT = Path(__file__).resolve().parent.parent


def _default_dir() -> Path:
    """``../shared/data/real`` beside the repository (or beside the main checkout, from a git worktree)."""
    here = ROOT.parent / "shared" / "data" / "real"
    if here.is_dir():
        return here
    try:
        common = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--git-common-dir"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return here
    main = (ROOT / common).resolve().parent if common else ROOT
    other = main.parent / "shared" / "data" / "real"
    return other if other.is_dir() else here


DEFAULT_DIR = _default_dir()
ENV = "NIGHTCRAMP_REAL_DATA"
WALKING = "walk"
"""Context names containing this word count as walking (none may alert there)."""
MATCH_S = 60.0
"""A before-alert and an after-alert closer than this are the same false alarm."""


@dataclass
class RealFile:
    path: Path
    hours: float
    placement: str
    activity: str
    episodes: list[tuple[float, float]]
    contexts: list[tuple[float, float, str]]  # (onset, end, name)
    local_start: datetime | None = None
    alerts: list[float] = field(default_factory=list)
    before: list[float] | None = None

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(".csv.gz").removesuffix(".csv")

    def context_at(self, t: float) -> str:
        """What the person was doing at ``t`` s, and the local time when the labels give the start."""
        what = next((name for lo, hi, name in self.contexts if lo <= t <= hi), self.activity or "unlabelled")
        if self.local_start is not None:
            what += (self.local_start + timedelta(seconds=t)).strftime(", %H:%M local")
        return what

    def false_alarms(self, alerts: list[float]) -> list[float]:
        return [t for t in alerts if not any(on - 2.0 <= t <= end + 5.0 for on, end in self.episodes)]


def real_dirs(extra: list[str] | None = None) -> list[Path]:
    """The folders to read: the default one if present, then $NIGHTCRAMP_REAL_DATA, then ``extra``."""
    dirs = [DEFAULT_DIR] if DEFAULT_DIR.is_dir() else []
    dirs += [Path(p) for p in os.environ.get(ENV, "").split(os.pathsep) if p]
    dirs += [Path(p) for p in extra or []]
    seen, out = set(), []
    for d in dirs:
        key = d.resolve()
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def load_files(dirs: list[Path]) -> list[RealFile]:
    files = []
    for d in dirs:
        if not d.is_dir():
            log.warning("real recordings: %s is not a folder, skipped", d)
            continue
        for path in sorted(d.glob("*.csv*")):
            lp = labels_path(path)
            if not lp.exists() or path.name.endswith(".labels.json"):
                continue
            try:
                doc = json.loads(lp.read_text(encoding="utf-8-sig"))
            except (OSError, ValueError) as exc:
                log.warning("real recordings: %s unreadable (%s), skipped", lp, exc)
                continue
            names = {str(k): str(v) for k, v in (doc.get("context_label_names") or {}).items()}
            contexts = [(float(c["onset"]), float(c["end"]), names.get(str(c["label"]), f"label {c['label']}"))
                        for c in doc.get("context_labels") or []]
            episodes = [(float(e["onset"]), float(e["end"])) for e in doc.get("episodes") or []]
            try:
                local_start = datetime.strptime(str(doc.get("local_start", ""))[:19], "%Y-%m-%d %H:%M:%S")
            except ValueError:
                local_start = None
            files.append(RealFile(path, float(doc.get("hours", 0.0)), str(doc.get("placement", "?")),
                                  str(doc.get("activity", "")), episodes, contexts, local_start))
    return files


def replay_file(f: RealFile, config: Config) -> None:
    """The service's cramp_start times on this recording (seconds from its start)."""
    try:
        rec = read_recording(f.path)
    except RecordingError as exc:
        log.warning("real recordings: %s", exc)
        return
    if rec.duration_s > 0:
        f.hours = rec.duration_s / 3600.0
    f.alerts = [e.t for e in replay_recording(rec, config) if e.type == "cramp_start"]


LONG_FILE_H = 1.0
LONG_STEP_S = 1800.0
SHORT_STEPS_S = (60.0, 120.0, 240.0, 360.0)
"""Later starts: every half hour into a recording of an hour or more; 1-6 minutes into a shorter one."""


def later_starts(f: RealFile, config: Config) -> list[dict]:
    """The recording replayed as if the service had started later in it, one replay per start.

    A restart in the night (a power cut, an update, a watchdog restart) begins with no knowledge of the
    sleeper (the baseline of :mod:`service.pipeline.baseline` is empty) and may find the leg lying still,
    which the quiet-start rule takes as asleep.  The whole-file replay cannot show what that costs: it
    learns from the hours before.  Every later start is judged as its own night; its false alarms are
    reported at their time in the whole recording.
    """
    try:
        rec = read_recording(f.path)
    except RecordingError as exc:
        log.warning("real recordings: %s", exc)
        return []
    if len(rec) < 2:
        return []
    span = float(rec.t[-1] - rec.t[0])
    if span / 3600.0 >= LONG_FILE_H:
        offsets = [float(x) for x in np.arange(LONG_STEP_S, span - LONG_STEP_S / 2, LONG_STEP_S)]
    else:
        offsets = [x for x in SHORT_STEPS_S if x < span - 300.0]
    out = []
    for off in offsets:
        keep = rec.t >= rec.t[0] + off
        t0 = float(rec.t[keep][0])
        part = replace(rec, t=rec.t[keep] - t0, accel=rec.accel[keep],
                       temp_t=rec.temp_t[rec.temp_t >= t0] - t0, temp_c=rec.temp_c[rec.temp_t >= t0],
                       start_wall=None)
        alerts = [e.t + t0 for e in replay_recording(part, config) if e.type == "cramp_start"]
        fas = f.false_alarms(alerts)
        out.append({"start_s": round(t0, 1), "hours": round(float(part.t[-1]) / 3600.0, 3),
                    "false_alarms": [{"t": round(t, 1), "context": f.context_at(t)} for t in fas]})
    return out


def later_starts_results(files: list[RealFile], config: Config) -> dict:
    rows, hours, n_fa, n_starts, n_bad = [], 0.0, 0, 0, 0
    for f in files:
        starts = later_starts(f, config)
        distinct = sorted({a["t"] for s in starts for a in s["false_alarms"]})
        walking = sum(1 for s in starts for a in s["false_alarms"] if WALKING in a["context"].lower())
        h = sum(s["hours"] for s in starts)
        fa = sum(len(s["false_alarms"]) for s in starts)
        bad = sum(1 for s in starts if s["false_alarms"])
        rows.append({"file": f.name, "starts": len(starts), "starts_with_false_alarm": bad, "hours": round(h, 2),
                     "false_alarms": fa, "per_8h": fa / h * 8.0 if h else float("nan"), "during_walking": walking,
                     "distinct": distinct, "detail": starts})
        hours, n_fa, n_starts, n_bad = hours + h, n_fa + fa, n_starts + len(starts), n_bad + bad
    return {"files": rows, "starts": n_starts, "starts_with_false_alarm": n_bad, "hours": hours,
            "false_alarms": n_fa, "per_8h": n_fa / hours * 8.0 if hours else float("nan"),
            "during_walking": sum(r["during_walking"] for r in rows)}


def later_starts_report(res: dict) -> str:
    lines = ["real recordings started later (a restart in the night: no baseline, maybe a quiet start):", "",
             "| file | starts | with a false alarm | replayed hours | false alarms | per 8 h | distinct alarms |",
             "|---|---|---|---|---|---|---|"]
    for r in res["files"]:
        lines.append(f"| {r['file']} | {r['starts']} | {r['starts_with_false_alarm']} | {r['hours']:.2f} "
                     f"| {r['false_alarms']} | {r['per_8h']:.1f} | {', '.join(_clock(t) for t in r['distinct']) or '-'} |")
    lines.append(f"| all | {res['starts']} | {res['starts_with_false_alarm']} | {res['hours']:.2f} "
                 f"| {res['false_alarms']} | {res['per_8h']:.1f} | |")
    return "\n".join(lines)


VARIANTS = {
    "half rate": {"every": 2},
    "quarter rate": {"every": 4},
    "+6 mg noise": {"noise_mg": 6.0},
    "3.9 mg steps (ADXL345)": {"step_mg": 3.9},
    "+-2 g clipping": {"clip_g": 2.0},
    "all at once (half rate, +4 mg, 3.9 mg steps, +-2 g)": {"every": 2, "noise_mg": 4.0, "step_mg": 3.9, "clip_g": 2.0},
}
"""The real recordings as other chips would give them: a lower rate (every n-th sample), a noisier chip,
coarser resolution, a range of +-2 g.  The detector claims to take these as they come (docs/signals.md)."""
MIN_RATE_HZ = 20.0


def sensor_variant(rec, every: int = 1, noise_mg: float = 0.0, step_mg: float = 0.0, clip_g: float = 0.0,
                   seed: int = 1):
    """``rec`` as a different chip would have recorded it (None when the rate would fall under 20 Hz)."""
    t, a = rec.t[::every], rec.accel[::every].copy()
    if len(t) > 1 and (len(t) - 1) / float(t[-1] - t[0]) < MIN_RATE_HZ * 0.95:
        return None
    if noise_mg:
        a += np.random.default_rng(seed).normal(0.0, noise_mg / 1000.0, a.shape)
    if step_mg:
        a = np.round(a / (step_mg / 1000.0)) * (step_mg / 1000.0)
    if clip_g:
        a = np.clip(a, -clip_g, clip_g)
    return replace(rec, t=t, accel=a, temp_t=rec.temp_t[:0], temp_c=rec.temp_c[:0])


def variants_results(files: list[RealFile], config: Config) -> dict:
    """False alarms of every file under every :data:`VARIANTS` entry (whole files, as recorded otherwise)."""
    recs = {}
    for f in files:
        try:
            recs[f.name] = read_recording(f.path)
        except RecordingError as exc:
            log.warning("real recordings: %s", exc)
    rows = []
    for label, kw in VARIANTS.items():
        hours, alarms, walking, skipped = 0.0, [], 0, []
        for f in files:
            rec = recs.get(f.name)
            part = sensor_variant(rec, **kw) if rec is not None and len(rec) > 1 else None
            if part is None:
                skipped.append(f.name)
                continue
            hours += float(part.t[-1] - part.t[0]) / 3600.0
            fas = f.false_alarms([e.t for e in replay_recording(part, config) if e.type == "cramp_start"])
            walking += sum(1 for t in fas if WALKING in f.context_at(t).lower())
            alarms += [{"file": f.name, "t": round(t, 1), "context": f.context_at(t)} for t in fas]
        rows.append({"variant": label, "hours": round(hours, 2), "false_alarms": len(alarms),
                     "per_8h": len(alarms) / hours * 8.0 if hours else float("nan"), "during_walking": walking,
                     "alarms": alarms, "skipped": skipped})
    return {"variants": rows}


def variants_report(res: dict) -> str:
    lines = ["real recordings as other chips would record them (whole files):", "",
             "| variant | hours | false alarms | per 8 h | during walking | where |", "|---|---|---|---|---|---|"]
    for r in res["variants"]:
        where = "; ".join(f"{a['file']} {_clock(a['t'])}" for a in r["alarms"]) or "-"
        if r["skipped"]:
            where += f" ({len(r['skipped'])} file(s) under 20 Hz left out)"
        lines.append(f"| {r['variant']} | {r['hours']:.2f} | {r['false_alarms']} | {r['per_8h']:.1f} "
                     f"| {r['during_walking']} | {where} |")
    return "\n".join(lines)


def replay_before(files: list[RealFile], rev: str, sensitivity: str) -> None:
    """Replay every file with the code of git revision ``rev`` (its own ``python -m service replay``)."""
    tmp = Path(tempfile.mkdtemp(prefix="nightcramp-before-"))
    tree = tmp / "tree"
    try:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        cfg = tmp / "before.toml"
        cfg.write_text(f'[detection]\nsensitivity = "{sensitivity}"\n')
        env = dict(os.environ, PYTHONPATH=str(tree))
        for f in files:
            proc = subprocess.run([sys.executable, "-m", "service", "replay", "--config", str(cfg), str(f.path)],
                                  cwd=tree, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if proc.returncode != 0:
                log.warning("before %s: replay of %s failed: %s", rev, f.name, proc.stderr.strip()[-300:])
                continue
            f.before = [json.loads(line)["t"] for line in proc.stdout.splitlines()
                        if line.strip() and json.loads(line).get("type") == "cramp_start"]
    except subprocess.CalledProcessError as exc:
        log.warning("cannot check out %s: %s", rev, exc.stderr.decode(errors="replace").strip())
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


def _matched(t: float, others: list[float]) -> bool:
    return any(abs(t - o) <= MATCH_S for o in others)


def results(files: list[RealFile]) -> dict:
    rows, hours, fa_total, fa_walking = [], 0.0, 0, 0
    before_total = 0
    for f in files:
        fas = f.false_alarms(f.alerts)
        hours += f.hours
        fa_total += len(fas)
        walking = [t for t in fas if WALKING in f.context_at(t).lower()]
        fa_walking += len(walking)
        row = {
            "file": f.name, "placement": f.placement, "hours": round(f.hours, 3),
            "false_alarms": len(fas), "per_8h": len(fas) / f.hours * 8.0 if f.hours else float("nan"),
            "during_walking": len(walking),
            "alarms": [{"t": round(t, 1), "context": f.context_at(t)} for t in fas],
        }
        if f.before is not None:
            before = f.false_alarms(f.before)
            before_total += len(before)
            row["before"] = len(before)
            row["removed"] = [round(t, 1) for t in before if not _matched(t, fas)]
            row["new"] = [round(t, 1) for t in fas if not _matched(t, before)]
        rows.append(row)
    out = {"files": rows, "hours": hours, "false_alarms": fa_total,
           "per_8h": fa_total / hours * 8.0 if hours else float("nan"), "during_walking": fa_walking}
    if files and all(f.before is not None for f in files):
        out["before"] = before_total
        out["before_per_8h"] = before_total / hours * 8.0 if hours else float("nan")
    return out


def _clock(t: float) -> str:
    m, s = divmod(int(round(t)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


def report(res: dict) -> str:
    has_before = "before" in res
    head = "| file | placement | hours | false alarms | per 8 h | during walking |"
    if has_before:
        head += " before | removed | new |"
    lines = ["real recordings (every alert is a false alarm):", "", head,
             "|" + "---|" * (head.count("|") - 1)]
    for r in res["files"]:
        row = (f"| {r['file']} | {r['placement']} | {r['hours']:.2f} | {r['false_alarms']} | {r['per_8h']:.1f} "
               f"| {r['during_walking']} |")
        if has_before:
            row += f" {r.get('before', '?')} | {len(r.get('removed', []))} | {len(r.get('new', []))} |"
        lines.append(row)
    total = (f"| all | | {res['hours']:.2f} | {res['false_alarms']} | {res['per_8h']:.1f} "
             f"| {res['during_walking']} |")
    if has_before:
        total += f" {res['before']} ({res['before_per_8h']:.1f} per 8 h) | | |"
    lines.append(total)
    lines.append("")
    for r in res["files"]:
        for a in r["alarms"]:
            lines.append(f"false alarm: {r['file']} at {_clock(a['t'])} after start ({a['context']})")
    return "\n".join(lines)


def summary_part(res: dict) -> str:
    text = (f"real {res['hours']:.1f} h: {res['false_alarms']} false alarms ({res['per_8h']:.1f} per 8 h, "
            f"{res['during_walking']} during walking)")
    if "before" in res:
        text += f", before {res['before']} ({res['before_per_8h']:.1f} per 8 h)"
    return text
