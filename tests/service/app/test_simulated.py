"""The try-it mode: ``[device] simulated = true`` runs the service on the emulated sensor, marked and kept apart."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from service import config as cfg
from service.app.simulated import night_length, prepare
from service.night.store import NightStore
from support.mqtt_helpers import WAIT_S, Subscriber

NIGHT = '[night]\nstart = "22:00"\nend = "23:30"\ntimezone = "Europe/Berlin"\n'


def write_config(tmp_path, state_dir, broker=None, simulated=True) -> str:
    mqtt = f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n' if broker else ""
    path = tmp_path / "config.toml"
    path.write_text(f'[device]\nid = "bed1"\nname = "Bedroom"\nsimulated = {str(simulated).lower()}\n{mqtt}'
                    f'[storage]\nstate_dir = "{state_dir}"\n{NIGHT}')
    return str(path)


def run_service(config_path: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "service", "run", "--config", config_path, *args],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, env=env)


def episodes(db_path) -> list[tuple[float, float]]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT onset_utc, end_utc FROM episodes ORDER BY onset_utc").fetchall()
    finally:
        db.close()


def test_the_config_switch_runs_simulated_twice_without_replaying_a_night(tmp_path, state_dir, broker):
    conf = write_config(tmp_path, state_dir, broker)
    sub = Subscriber(broker.host, broker.port, ["homeassistant/#", "nightcramp/bed1/state"])
    first = run_service(conf, "--seed", "3", "--cramps", "2", "--speed", "900", "-v")
    assert first.returncode == 0, first.stderr
    assert "SIMULATED" in first.stderr and "Traceback" not in first.stderr
    record = state_dir / "simulated" / "night.sqlite3"
    assert record.exists() and not (state_dir / "night.sqlite3").exists()  # real nights stay untouched
    once = episodes(record)
    assert len(once) >= 1, first.stderr
    store = NightStore(record, readonly=True)
    end_of_first = store.last_recorded()
    store.close()

    second = run_service(conf, "--seed", "3", "--cramps", "2", "--speed", "900")
    assert second.returncode == 0, second.stderr
    assert "no record from" not in second.stderr and "did not stop cleanly" not in second.stderr
    twice = episodes(record)
    new = twice[len(once):]
    assert twice[:len(once)] == once and len(new) >= 1
    assert all(onset > end_of_first.timestamp() for onset, _ in new)  # the same seed, yet a later night
    assert len({onset for onset, _ in twice}) == len(twice)

    # marked in Home Assistant and in the retained state
    assert sub.wait_for(lambda s: any(m.topic.endswith("/state") and m.payload for m in s.messages), WAIT_S)
    configs = [m.json() for m in sub.messages if m.topic.startswith("homeassistant/") and m.payload]
    assert configs and all(c["device"]["name"] == "Bedroom (simulated)" for c in configs if "device" in c)
    states = [m.json() for m in sub.on("nightcramp/bed1/state") if m.payload]
    assert states and all(s.get("simulated") is True for s in states)
    sub.close()


def test_a_real_config_publishes_no_simulated_mark():
    config = cfg.parse('[device]\nid = "bed1"\n[mqtt]\nhost = "localhost"\n')
    from service.mqtt import discovery, messages

    assert all("(simulated)" not in str(m.payload) for m in discovery.from_config(config) if m.payload)
    state = messages.state(messages.Topics.from_config(config), messages.ServiceState())
    assert "simulated" not in json.loads(state.payload)


def test_prepare_starts_now_on_an_empty_record(tmp_path):
    config = cfg.parse(f'[storage]\nstate_dir = "{tmp_path}"\n{NIGHT}')
    now = datetime(2026, 12, 1, 14, 3, 27, tzinfo=timezone.utc)
    prepared, start = prepare(config, now)
    assert start == now
    assert prepared.device.simulated and prepared.state_dir == tmp_path / "simulated"
    assert config.state_dir == tmp_path  # the real configuration's record is a different one
    # 14:03 UTC is 15:03 in Berlin; the window keeps the configured 1 h 30
    assert (prepared.night.start.hour, prepared.night.start.minute) == (15, 3)
    assert (prepared.night.end.hour, prepared.night.end.minute) == (16, 33)
    assert night_length(prepared) == night_length(config) == timedelta(minutes=90)


def test_prepare_starts_after_a_record_that_ran_ahead_of_now(tmp_path):
    config = cfg.parse(f'[storage]\nstate_dir = "{tmp_path}"\n[device]\nsimulated = true\n{NIGHT}')
    ahead = datetime(2026, 12, 1, 23, 0, tzinfo=timezone.utc)
    store = NightStore(config.state_dir)
    store.start_session(at=ahead - timedelta(hours=1), t_mono=0.0)
    store.add_temperature(ahead, 19.5)
    store.close()
    _, start = prepare(config, datetime(2026, 12, 1, 14, 0, tzinfo=timezone.utc))
    assert start > ahead


def test_the_doctor_checks_the_emulated_hardware_of_a_simulated_config(tmp_path, state_dir):
    conf = write_config(tmp_path, state_dir)
    out = subprocess.run([sys.executable, "-m", "service", "doctor", "--config", conf], capture_output=True,
                         text=True, timeout=120)
    assert "emulated hardware" in out.stdout.splitlines()[0], out.stdout
    accel = [line for line in out.stdout.splitlines() if line.split()[1:2] == ["accelerometer:"]]
    assert accel and accel[0].startswith("OK"), out.stdout
