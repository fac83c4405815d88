"""`nightcramp log` and `history` with read access only: another user, and a read-only filesystem.

The tests run as root, which ignores file modes, so the conditions are made
for real: the state directory belongs to another user and the command runs
as root without the capabilities that override file modes (setpriv), or the
directory is a read-only bind mount.  Each test first proves the condition
holds (a write must fail) and fails, rather than passes, when it cannot set
it up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from support import ROOT
from support.nightbuilder import Cramp, NightSpec, make

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = date(2026, 11, 24)
NOBODY = 65534
# Root without these is an ordinary user as far as file modes go.
NO_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def _config(tmp_path: Path, state: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[storage]\nstate_dir = "{state}"\n[night]\ntimezone = "Europe/Berlin"\n', encoding="utf-8")
    return path


def _cli(prefix: list[str], config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "service", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def _prove_unwritable(prefix: list[str], directory: Path) -> None:
    probe = subprocess.run([*prefix, sys.executable, "-c", f"open({str(directory / 'probe')!r}, 'w')"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode == 0:
        (directory / "probe").unlink()
        pytest.fail(f"could not take write access to {directory} away: the test would prove nothing")


def _record(state: Path, keep_open: bool = False):
    store, clock, tb, writer = make(state, datetime.combine(NIGHT, time(22, 0), BERLIN), BERLIN)
    writer.run(NightSpec(minutes=570, cramps=[Cramp(3600, 90.0, ack_after_s=15.0)]))
    if keep_open:  # the service is still running: its commits sit in the WAL
        store.flush()
        return store
    store.close()
    return None


def _check_log_and_history(prefix, config, state):
    before = sorted(os.listdir(state))
    out = _cli(prefix, config, "log", "--date", NIGHT.isoformat(), "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["cramps"] == 1
    assert "Traceback" not in out.stderr
    out = _cli(prefix, config, "history", "--days", "3650")
    assert out.returncode == 0, out.stderr
    assert "2026-11-24       1" in out.stdout
    assert sorted(os.listdir(state)) == before  # nothing created beside the record


@pytest.fixture
def foreign_state(tmp_path):
    """A state directory (and record) owned by another user, readable by all."""
    state = tmp_path / "state"
    state.mkdir()
    yield state
    for p in [state, *state.rglob("*")]:
        os.chown(p, 0, 0)


def _give_away(state: Path) -> None:
    for p in [state, *state.rglob("*")]:
        os.chown(p, NOBODY, NOBODY)
        p.chmod(0o755 if p.is_dir() else 0o644)


def test_log_and_history_as_a_user_who_may_not_write_the_state_directory(tmp_path, foreign_state):
    _record(foreign_state)
    _give_away(foreign_state)
    _prove_unwritable(NO_OVERRIDE, foreign_state)
    _check_log_and_history(NO_OVERRIDE, _config(tmp_path, foreign_state), foreign_state)


def test_log_as_another_user_while_the_service_writes_sees_its_latest_commits(tmp_path, foreign_state):
    store = _record(foreign_state, keep_open=True)
    try:
        assert (foreign_state / "night.sqlite3-wal").stat().st_size > 0
        _give_away(foreign_state)
        _prove_unwritable(NO_OVERRIDE, foreign_state)
        _check_log_and_history(NO_OVERRIDE, _config(tmp_path, foreign_state), foreign_state)
    finally:
        store.close()


def test_log_without_read_access_says_so(tmp_path, foreign_state):
    _record(foreign_state)
    _give_away(foreign_state)
    (foreign_state / "night.sqlite3").chmod(0o600)
    out = _cli(NO_OVERRIDE, _config(tmp_path, foreign_state), "log", "--date", NIGHT.isoformat())
    assert out.returncode == 1
    assert "no read access to" in out.stderr and "service user" in out.stderr
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr


@pytest.fixture
def readonly_mount(tmp_path):
    """``(source, view)``: ``view`` is a read-only bind mount of ``source``."""
    source, view = tmp_path / "state", Path("/tmp") / f"nightcramp-ro-{uuid.uuid4().hex[:8]}"
    source.mkdir()
    view.mkdir()
    mounted = False

    def mount():
        nonlocal mounted
        for cmd in (["mount", "--bind", str(source), str(view)], ["mount", "-o", "remount,bind,ro", str(view)]):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            mounted = mounted or cmd[1] == "--bind" and done.returncode == 0
            if done.returncode != 0:
                pytest.fail(f"cannot set up a read-only filesystem ({' '.join(cmd)}): {done.stderr.strip()}")
        _prove_unwritable([], view)

    yield source, view, mount
    if mounted:
        subprocess.run(["umount", str(view)], check=True, timeout=30)
    view.rmdir()


def test_log_and_history_on_a_read_only_filesystem(tmp_path, readonly_mount):
    source, view, mount = readonly_mount
    _record(source)
    mount()
    _check_log_and_history([], _config(tmp_path, view), view)


def test_log_on_a_read_only_filesystem_while_the_service_writes(tmp_path, readonly_mount):
    source, view, mount = readonly_mount
    store = _record(source, keep_open=True)
    try:
        mount()
        _check_log_and_history([], _config(tmp_path, view), view)
    finally:
        store.close()
