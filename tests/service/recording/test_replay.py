"""``nightcramp replay``: the JSON-lines contract, the night window, errors and exit codes."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import datetime, timezone

import numpy as np
import pytest

from service.recording.format import RecordingWriter
from service.recording.replay import replay_events
from support.synth import Scene
from support import ROOT



def nightcramp(*args, config_env: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != "NIGHTCRAMP_CONFIG"}
    if config_env:
        env["NIGHTCRAMP_CONFIG"] = config_env
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def write(path, scene, rate=50, start_wall=None, temps=()):
    t, a = scene.sample(rate_hz=rate)
    temp = np.full(t.size, np.nan)
    for when, value in temps:
        temp[np.searchsorted(t, when)] = value
    with RecordingWriter(path, start_wall=start_wall) as w:
        w.write(t, a, temp)
    return path


def lines(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def without_ids(events):
    return [{k: v for k, v in e.items() if k != "id"} for e in events]


@pytest.fixture(scope="module")
def cramp_night(tmp_path_factory):
    # the cramp comes out of settled sleep: more than settle_s (5 min) after the last movement
    sc = Scene(600, seed=61)
    sc.rollover(40.0, 5.0)
    sc.cramp(420.0, 50.0)
    return sc


def test_replay_prints_the_contract(tmp_path, cramp_night):
    path = write(tmp_path / "night.csv", cramp_night, temps=[(1.0, 17.0), (100.0, 16.5)])
    r = nightcramp("replay", str(path))
    assert r.returncode == 0, r.stderr
    out = lines(r.stdout)
    assert all("type" in e and isinstance(e["t"], float) for e in out)
    kinds = [e["type"] for e in out]
    assert kinds.count("cramp_start") == 1 and kinds.count("cramp_end") == 1
    assert {"warm_compress", "stretch_prompt"} <= set(kinds)
    start = out[kinds.index("cramp_start")]
    assert 418.0 <= start["t"] <= 440.0 and abs(start["onset"] - 420.0) <= 2.0 and start["id"]
    assert start["room_temp_c"] == 16.5  # the reading in effect at the alert, not a later one
    warm = out[kinds.index("warm_compress")]
    assert "cold" in warm["hint"]
    assert {e["id"] for e in out if e["type"] != "cramp_start"} == {start["id"]}
    assert "replayed" in r.stderr and "replayed" not in r.stdout  # logs on stderr only


def test_gzip_and_plain_give_the_same_events(tmp_path, cramp_night):
    plain = write(tmp_path / "n.csv", cramp_night)
    packed = tmp_path / "n.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = nightcramp("replay", str(plain)), nightcramp("replay", str(packed))
    assert a.returncode == b.returncode == 0
    assert without_ids(lines(a.stdout)) == without_ids(lines(b.stdout)) != []


def test_quiet_recording_prints_nothing(tmp_path):
    path = write(tmp_path / "quiet.csv", Scene(120, seed=62))
    r = nightcramp("replay", str(path))
    assert r.returncode == 0 and r.stdout == ""


@pytest.mark.parametrize("body,needle", [
    ("t,ax,ay,az\n0,0,0,1\n0.02,0,zero,1\n", "line 3"),
    ("t,ax,ay,az\n0,0,0,1\n0.02,0,0\n", "line 3"),
    ("", "header"),
    ("time,x,y,z\n0,0,0,1\n", "line 1"),
])
def test_malformed_file_names_the_line_and_exits_2(tmp_path, body, needle):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    r = nightcramp("replay", str(path))
    assert r.returncode == 2
    assert needle in r.stderr and "Traceback" not in r.stderr and r.stdout == ""


def test_missing_file_and_damaged_gzip_exit_2(tmp_path):
    r = nightcramp("replay", str(tmp_path / "nope.csv"))
    assert r.returncode == 2 and "nope.csv" in r.stderr and "Traceback" not in r.stderr
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(b"t,ax,ay,az\n" + b"0.0,0,0,1\n" * 1000)[:200])
    r = nightcramp("replay", str(broken))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_bad_config_exits_2(tmp_path, cramp_night):
    path = write(tmp_path / "n.csv", cramp_night)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[detection]\nsensitivity = "extreme"\n')
    r = nightcramp("replay", str(path), "--config", str(cfg))
    assert r.returncode == 2 and "detection.sensitivity" in r.stderr


def test_config_sensitivity_is_applied(tmp_path):
    sc = Scene(500, seed=63)
    sc.cramp(360.0, 45.0, scale=0.25)  # mild: a few hundredths of a g
    path = write(tmp_path / "mild.csv", sc)
    found = {}
    for level in ("low", "high"):
        cfg = tmp_path / f"{level}.toml"
        cfg.write_text(f'[detection]\nsensitivity = "{level}"\n')
        r = nightcramp("replay", str(path), "--config", str(cfg))
        assert r.returncode == 0, r.stderr
        found[level] = [e["type"] for e in lines(r.stdout)].count("cramp_start")
    assert found == {"low": 0, "high": 1}


def test_night_window_limits_detection_when_a_config_is_in_effect(tmp_path):
    sc = Scene(3 * 3600.0, seed=64)
    sc.cramp(30 * 60.0, 45.0)  # 21:30: before the window
    sc.cramp(100 * 60.0, 45.0)  # 22:40: inside it
    start = datetime(2026, 11, 24, 21, 0, tzinfo=timezone.utc)
    path = write(tmp_path / "evening.csv.gz", sc, rate=25, start_wall=start)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[night]\nstart = "22:00"\nend = "07:30"\ntimezone = "UTC"\n')
    r = nightcramp("replay", str(path), "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    starts = [e["onset"] for e in lines(r.stdout) if e["type"] == "cramp_start"]
    assert len(starts) == 1 and abs(starts[0] - 6000.0) <= 2.0
    # through $NIGHTCRAMP_CONFIG as well
    r = nightcramp("replay", str(path), config_env=str(cfg))
    assert [e["onset"] for e in lines(r.stdout) if e["type"] == "cramp_start"] == starts
    # without any configuration the whole recording counts as night
    r = nightcramp("replay", str(path))
    assert [e["type"] for e in lines(r.stdout)].count("cramp_start") == 2


def test_replay_output_does_not_depend_on_the_batch_size(cramp_night):
    t, a = cramp_night.sample(rate_hz=50, jitter=0.3)

    def events(chunk_s):
        return [{k: v for k, v in e.to_json_dict().items() if k != "id"}
                for e in replay_events(t, a, chunk_s=chunk_s)]

    live = events(0.2)  # the service drains the FIFO every 0.2 s
    assert [e["type"] for e in live].count("cramp_start") == 1
    assert events(30.0) == live
    assert events(7.3) == live


def _replay_measured(path) -> tuple[subprocess.CompletedProcess, float]:
    """``nightcramp replay path`` and its peak resident memory (MB), measured by a parent of its own."""
    probe = ("import resource, subprocess, sys, json\n"
             "r = subprocess.run([sys.executable, '-m', 'service', 'replay', sys.argv[1]], capture_output=True,"
             " text=True, timeout=120)\n"
             "print(json.dumps([r.returncode, r.stdout, r.stderr,"
             " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))\n")
    done = subprocess.run([sys.executable, "-c", probe, str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, env={k: v for k, v in os.environ.items() if k != "NIGHTCRAMP_CONFIG"})
    assert done.returncode == 0, done.stderr
    rc, out, err, rss_mb = json.loads(done.stdout)
    return subprocess.CompletedProcess([], rc, out, err), rss_mb


@pytest.mark.parametrize("source", ["/dev/zero", "zeros"])
def test_endless_or_huge_lines_end_at_once_in_small_memory(tmp_path, source):
    if source == "zeros":
        source = tmp_path / "zeros.csv"
        with open(source, "wb") as fh:
            fh.truncate(100 * 1024 * 1024)  # 100 MB of NUL bytes, no line end
    r, rss_mb = _replay_measured(source)
    assert r.returncode == 2 and r.stdout == ""
    assert "line 1: a line longer than 4096 bytes" in r.stderr and "Traceback" not in r.stderr
    assert rss_mb < 150  # the interpreter and numpy: about 30 MB; reading the whole 100 MB line took 525 MB


def test_a_truncated_gzip_is_replayed_up_to_where_it_ends(tmp_path, cramp_night):
    whole = write(tmp_path / "n.csv.gz", cramp_night)
    data = whole.read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: int(len(data) * 0.8)])
    r = nightcramp("replay", str(cut))
    assert r.returncode == 0, r.stderr
    assert "cut.csv.gz: the gzip stream ends early" in r.stderr and "the last sample at t = " in r.stderr
    last_t = float(r.stderr.split("the last sample at t = ")[1].split(" s")[0])
    assert 440.0 < last_t < 600.0
    kinds = [e["type"] for e in lines(r.stdout)]
    assert kinds.count("cramp_start") == 1  # the cramp at 420 s is in the intact part


@pytest.mark.parametrize("row, what", [
    ("0.04,1e300,0,1", "ax=1e+300 g: beyond any accelerometer's range"),
    ("0.04,0,-1e300,1", "ay=-1e+300 g"),
    ("1e300,0,0,1", "t=1e+300 s"),
])
def test_absurd_values_are_bad_lines_without_numpy_warnings(tmp_path, row, what):
    path = tmp_path / "absurd.csv"
    path.write_text(f"t,ax,ay,az\n0,0,0,1\n0.02,0,0,1\n{row}\n0.06,0,0,1\n")
    r = nightcramp("replay", str(path))
    assert r.returncode == 2 and r.stdout == ""
    assert "line 4:" in r.stderr and what in r.stderr
    assert "Warning" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("rows", [
    [],
    [(0.0, 0.0, 0.0, 1.0)],
    [(0.0, 0.0, 0.0, 0.0), (0.02, 0.0, 0.0, 0.0), (0.04, 0.0, 0.0, 0.0)],
    [(k * 0.02, 64.0, -64.0, 64.0) for k in range(3000)],
    [(k * 0.02, 0.0, 0.0, 0.0) for k in range(3000)],
    [(0.0, 0.0, 0.0, 1.0), (2_000_000.0, 0.0, 0.0, 1.0), (2_000_000.02, 0.0, 0.0, 1.0)],
    [(k * 0.0001, 0.0, 0.0, 1.0) for k in range(3000)],
])
def test_edge_recordings_replay_without_any_warning(tmp_path, rows):
    path = tmp_path / "edge.csv"
    path.write_text("t,ax,ay,az\n" + "".join(f"{t:.4f},{x},{y},{z}\n" for t, x, y, z in rows))
    env = {k: v for k, v in os.environ.items() if k != "NIGHTCRAMP_CONFIG"}
    r = subprocess.run([sys.executable, "-W", "error", "-m", "service", "replay", str(path)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stderr and "Traceback" not in r.stderr
