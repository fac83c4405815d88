"""``nightcramp label``, ``nightcramp tune`` and ``nightcramp export`` (docs/learning.md).

All three work on the state directory the service writes (snippets, the night record, the
installed tuning) and never send anything anywhere, except ``label missed``, which tells the
running service through the configured broker so that it keeps the samples around that time.
Exit codes: 0 ok, 1 nothing to work on or a runtime failure, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from firmware import __version__
from firmware.errors import NightcrampError
from service import config as cfg
from service.argtypes import SIMULATE_HELP, int_between

SETTABLE = ("cramp", "false_alarm", "missed_cramp")
"""Labels ``label set`` gives (``label clear`` gives ``unlabelled``).  The parser is built on every
``nightcramp`` call, so this module imports numpy and the recording code only inside the commands."""



def _load(args: argparse.Namespace) -> cfg.Config:
    """The configuration, or with ``--simulate`` the try-it mode's (its state in ``<state_dir>/simulated``)."""
    return cfg.load(args.config).simulated(getattr(args, "simulate", False))


def _days(text: str) -> int:
    """An argparse type: whole days back, 1 to 36600 (beyond that the dates overflow)."""
    return int_between(1, 36600)(text)


def add_parsers(sub, common) -> None:
    """The three subcommands' arguments (called by service.cli.build_parser)."""
    p = sub.add_parser("label", parents=[common], help="list kept alarms and reports with their labels; set or clear one")
    p.add_argument("--simulate", action="store_true", help=SIMULATE_HELP)
    inner = argparse.ArgumentParser(add_help=False)  # --config/-v after the action too, without resetting them
    inner.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="configuration file (default: $NIGHTCRAMP_CONFIG or /etc/nightcramp/config.toml)")
    inner.add_argument("--simulate", action="store_true", default=argparse.SUPPRESS, help=SIMULATE_HELP)
    inner.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                       help="debug logging (default: 0, info only)")
    lsub = p.add_subparsers(dest="label_command", metavar="ACTION")
    ls = lsub.add_parser("list", parents=[inner], help="recent episodes and snippets with their labels (the default)")
    ls.add_argument("--days", type=_days, default=14, help="how many days back to list (default: 14)")
    s = lsub.add_parser("set", parents=[inner], help="give a snippet (name, prefix or episode id) a label")
    s.add_argument("key", metavar="SNIPPET", help="the snippet to label, as `label list` shows it")
    s.add_argument("label", choices=SETTABLE, help="what it was: " + ", ".join(SETTABLE))
    c = lsub.add_parser("clear", parents=[inner], help="remove a snippet's label (back to unlabelled)")
    c.add_argument("key", metavar="SNIPPET", help="the snippet whose label to remove")
    m = lsub.add_parser("missed", parents=[inner], help='"that was a cramp": tell the running service one happened without an alarm')
    m.add_argument("--time", metavar="WHEN", default="now",
                   help='when: "now" (default: now), HH:MM today (local time) or ISO 8601 with offset')
    m.add_argument("--leg", metavar="LEG", help="which leg (default: the first configured)")

    p = sub.add_parser("tune", parents=[common],
                       help="choose per-sleeper detection settings from labelled snippets and recordings")
    p.add_argument("dirs", nargs="*", metavar="DIR", help="folders of labelled recordings (NAME.labels.json beside)")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write the [detection] fragment "
                   "(default: <state_dir>/tuning/candidate.toml)")
    g = p.add_mutually_exclusive_group()
    p.add_argument("--simulate", action="store_true", help=SIMULATE_HELP)
    g.add_argument("--apply", action="store_true", help="install the fragment for the service, effective on reload (default: off)")
    g.add_argument("--revert", action="store_true", help="go back to the settings before the last --apply (default: off)")

    p = sub.add_parser("export", parents=[common], help="write the labelled snippets and a manifest into a zip file")
    p.add_argument("-o", "--output", required=True, metavar="FILE.zip", help="zip file to write; required")
    p.add_argument("--all", action="store_true", help="unlabelled snippets too (default: off)")
    p.add_argument("--simulate", action="store_true", help=SIMULATE_HELP)


# ---------------------------------------------------------------- label


def cmd_label(args: argparse.Namespace) -> int:
    from service.learning.snippets import SnippetStore

    config = _load(args)
    store = SnippetStore(config.state_dir)
    action = getattr(args, "label_command", None) or "list"
    if action == "list":
        return _list(config, store, getattr(args, "days", 14))
    if action == "missed":
        return _missed(config, args.time, args.leg)
    found = store.matches(args.key)
    if not found:
        print(f"label: no snippet {args.key!r} in {store.dir} (see `nightcramp label list`)", file=sys.stderr)
        return 1
    if len(found) > 1:
        print(f"label: {args.key!r} matches {len(found)} snippets ({', '.join(s.name for s in found[:3])}"
              f"{', ...' if len(found) > 3 else ''}): give more of the name", file=sys.stderr)
        return 1
    snippet = found[0]
    label = "unlabelled" if action == "clear" else args.label
    snippet = store.set_label(snippet, label, "cli")
    print(f"{snippet.name}: {snippet.label}")
    return 0


def _list(config, store, days: int) -> int:
    from service.learning import active
    from service.learning.summary import tally

    since = datetime.now(timezone.utc) - timedelta(days=days)
    every = store.list()
    snippets = [s for s in every if _when(s.doc.get("time")) >= since]
    with_snippet = {s.doc.get("episode_id") for s in snippets}
    episodes = _episodes(config, days)
    out = sys.stdout
    counts = tally(every)
    out.write(f"{counts['labelled_alarms']} of {counts['alarms']} kept alarms labelled; {counts['cramp']} cramp, "
              f"{counts['false_alarm']} false alarm, {counts['missed_cramp']} missed cramp, "
              f"{counts['unlabelled']} unlabelled\n")
    status = active.status(config)
    out.write(f"tuning: {status or 'none (the preset)'}\n\n")
    if snippets:
        out.write("snippets (nightcramp label set NAME cramp|false_alarm|missed_cramp):\n")
        for s in snippets:
            length = float(s.doc.get("hours", 0)) * 3600
            out.write(f"  {s.name}  {s.label:<12} {s.doc.get('leg', '')}  {_local(s.time)}  {length:.0f} s\n")
    missing = [e for e in episodes if e.id not in with_snippet]
    if missing:
        out.write("\nepisodes in the night record without a snippet (too old, or snippets were off):\n")
        for e in missing:
            note = "false alarm" if e.false_alarm else ("acknowledged" if e.acknowledged else "")
            out.write(f"  {e.id[:12]}  {e.leg}  {_local(e.alert.isoformat())}  {e.duration_s:.0f} s  {note}\n")
    if not snippets and not missing:
        out.write(f"nothing kept in the last {days} days\n")
    return 0


def _episodes(config, days: int) -> list:
    from service.night.store import DB_NAME, NightStore
    from service.pipeline.nightwindow import NightWindow

    path = config.state_dir / DB_NAME
    if not path.exists():
        return []
    with NightStore(path, NightWindow.from_config(config.night), readonly=True) as store:
        today = date.today()
        return [e for d in range(days, -1, -1) for e in store.night(today - timedelta(days=d)).episodes]


def _missed(config, when_text: str, leg: str | None) -> int:
    try:
        when = _parse_when(when_text, config)
    except NightcrampError as exc:  # bad usage: retrying the same words will not help
        print(f"label missed: {exc}", file=sys.stderr)
        return 2
    if not config.mqtt.host:
        print("label missed: no MQTT broker configured; the report needs the broker to reach the running service "
              "(or press the button three times)", file=sys.stderr)
        return 2
    from service.mqtt.oneshot import report_missed_cramp

    ok, message = report_missed_cramp(config, when, leg)
    print(f"label missed: {message}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def _parse_when(text: str, config) -> str | None:
    if text.strip().lower() == "now":
        return None
    tz = config.night.tzinfo()
    try:
        if len(text) == 5 and text[2] == ":":
            hh, mm = int(text[:2]), int(text[3:])
            now = datetime.now(tz)
            when = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
            if when > now:
                when -= timedelta(days=1)
            return when.isoformat()
        when = datetime.fromisoformat(text)
    except ValueError:
        raise NightcrampError(f'--time: not "now", HH:MM or ISO 8601: {text!r}') from None
    return (when if when.tzinfo else when.replace(tzinfo=tz)).isoformat()


def _when(text) -> datetime:
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _local(text: str) -> str:
    when = _when(text)
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S") if when.year > 1 else "?"


# ---------------------------------------------------------------- tune


def cmd_tune(args: argparse.Namespace) -> int:
    from service.learning import active, tune
    from service.learning.snippets import SnippetStore

    config = _load(args)
    state_dir = config.state_dir
    if args.revert:
        print(f"tune: reverted; in effect after the service reloads: {active.revert(state_dir)}")
        return 0
    out = Path(args.output) if args.output else state_dir / active.TUNING_DIR / "candidate.toml"
    problem = _unwritable(out, create=True)
    if problem:  # before minutes of replay, not after; bad usage, as for `record -o`
        print(f"tune: cannot write the fragment to {out}: {problem} (choose another file with -o)", file=sys.stderr)
        return 2
    config = active.with_active_tuning(config)
    cases = tune.snippet_cases(state_dir) + tune.recording_cases(args.dirs)
    if not cases:
        print(f"tune: nothing labelled: no labelled snippets in {SnippetStore(state_dir).dir} and no labelled "
              "recordings in the folders given (label alarms with `nightcramp label set`)", file=sys.stderr)
        return 1
    result = tune.tune(config, cases)
    sys.stdout.write(tune.table(result))
    text = tune.fragment(result)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"tune: cannot write the fragment to {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"\nfragment written to {out} (check it with: nightcramp replay --config {out} RECORDING)")
    if args.apply:
        if not result.improved:
            print("tune: nothing to apply: the current settings stay", file=sys.stderr)
            return 0
        path = active.apply(state_dir, text)
        print(f"tune: installed as {path}; it takes effect when the service reloads "
              "(sudo systemctl reload nightcramp); undo with `nightcramp tune --revert`")
    return 0


def _unwritable(path: Path, create: bool) -> str:
    """Why ``path`` cannot be written (a folder, its folder missing or not writable), or "".

    ``create``: missing folders will be made (tune's default <state_dir>/tuning), so the nearest existing one decides."""
    import os

    if path.is_dir():
        return "it is a folder"
    folder = path.parent
    if not create and not folder.exists():
        return f"the folder {folder} does not exist"
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable (run with sudo, or choose a file in your home folder)"
    return ""


# ---------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace) -> int:
    """Labelled snippets and a manifest into one zip; nothing is sent anywhere."""
    from service.learning.snippets import LABELS, SnippetStore

    config = _load(args)
    store = SnippetStore(config.state_dir)
    chosen = [s for s in store.list() if args.all or s.label != "unlabelled"]
    if not chosen:
        print(f"export: no labelled snippets in {store.dir}", file=sys.stderr)
        return 1
    out = Path(args.output)
    problem = _unwritable(out, create=False)
    if problem:
        print(f"export: cannot write {out}: {problem}", file=sys.stderr)
        return 2
    manifest = {
        "nightcramp": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "format": "recording format v1 (t,ax,ay,az[,temp_c]; g; seconds) with NAME.labels.json beside each",
        "labels": list(LABELS),
        "detection": {"sensitivity": config.detection.sensitivity},
        "snippets": [{"name": s.name, "label": s.label, "time": s.time, "leg": s.doc.get("leg"),
                      "seconds": round(float(s.doc.get("hours", 0)) * 3600, 1), "trigger": s.doc.get("trigger"),
                      "files": [s.path.name, s.labels_file.name]} for s in chosen],
    }
    tmp = out.with_name(out.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("manifest.json", json.dumps(manifest, indent=1) + "\n")
            for s in chosen:
                z.write(s.path, f"snippets/{s.path.name}")
                z.write(s.labels_file, f"snippets/{s.labels_file.name}")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        print(f"export: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    from service.night.formatting import plural

    print(f"export: {plural(len(chosen), 'snippet')} and manifest.json written to {out}; nothing was sent anywhere")
    return 0
