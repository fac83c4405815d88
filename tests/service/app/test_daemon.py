"""The whole service on emulated hardware against a real mosquitto, as a subscriber sees it."""

from __future__ import annotations

from datetime import datetime

from service.app.daemon import RunOptions, Service
from service.pipeline.nightwindow import NightWindow
from service.night.store import NightStore
from support.mqtt_helpers import Subscriber, make_config
from support.service_runs import NIGHT, events_of, run_night


def test_simulated_night_full_episode_life_and_prompts(broker, state_dir, night_config):
    base = night_config.base_topic
    sub = Subscriber(broker.host, broker.port, topics=("#",))
    try:
        service = run_night(night_config, seed=3, cramps=1)
        truth = service.world.episodes()["leg"]
        assert len(truth) == 1
        onset, end = truth[0]
        assert sub.wait_for(lambda s: s.on(f"{base}/log/latest"), 10)
        events = events_of(sub, base)
    finally:
        sub.close()

    starts = [e for e in events if e["type"] == "cramp_start"]
    assert len(starts) == 1, [e["type"] for e in events]
    episode = starts[0]["episode_id"]
    life = [e for e in events if e.get("episode_id") == episode]
    types = [e["type"] for e in life]
    assert types[0] == "cramp_start" and types[-1] == "cramp_end"
    assert "warm_compress" in types and "stretch_prompt" in types
    assert "cramp_update" in types or life[-1]["duration_s"] < 30
    # every event has a unique id and an ISO time with an offset, in order
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids))
    times = [datetime.fromisoformat(e["time"]) for e in life]
    assert all(t.utcoffset() is not None for t in times)
    assert times == sorted(times)
    # the alert came between the simulated onset - 2 s and its end + 5 s (the scoring rule)
    window_start = service.world.night_start
    alert_s = (datetime.fromisoformat(starts[0]["time"]) - window_start).total_seconds()
    assert onset - 2 <= alert_s <= end + 5, (onset, alert_s, end)

    # the night record holds the same episode, and the morning log was written and published
    store = NightStore(state_dir, NightWindow.from_config(night_config.night), readonly=True)
    try:
        record = store.night(service.core.night)
        assert [ep.id for ep in record.episodes] == [episode]
        assert 88 <= len(record.minutes) <= 90  # a movement summary for every minute of the 1.5 h window
        assert len(record.temperatures) >= 85  # and the room temperature once a minute
    finally:
        store.close()
    md = list((state_dir / "logs").glob("*.md"))
    png = list((state_dir / "logs").glob("*.png"))
    assert md and png and png[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_state_and_availability_are_retained(broker, night_config):
    base = night_config.base_topic
    run_night(night_config, seed=3, cramps=0, duration_s=120)
    late = Subscriber(broker.host, broker.port, topics=(f"{base}/#",))
    try:
        assert late.wait_for(lambda s: s.on(f"{base}/status") and s.on(f"{base}/state"), 10)
        assert late.on(f"{base}/status")[-1].payload == b"offline"  # clean shutdown says so
        assert late.on(f"{base}/status")[-1].retain
        state = late.on(f"{base}/state")[-1].json()
        assert state["armed"] is True and state["in_night_window"] is True
        assert state["sensor_ok"] is True
        assert isinstance(state["room_temp_c"], float)
    finally:
        late.close()


def test_two_legs_each_detected_and_named(broker, state_dir):
    config = make_config(broker, state_dir, extra=NIGHT, legs=("left", "right"))
    base = config.base_topic
    sub = Subscriber(broker.host, broker.port, topics=("#",))
    try:
        service = run_night(config, seed=5, cramps=2)
        truth = service.world.episodes()
        assert sorted(service.world.addresses.values()) == [0x68, 0x69]
        assert sub.wait_for(lambda s: s.on(f"{base}/log/latest"), 10)
        starts = [e for e in events_of(sub, base) if e["type"] == "cramp_start"]
        discovery = [m.topic for m in sub.messages if m.topic.startswith("homeassistant/") and m.payload]
    finally:
        sub.close()
    assert {leg: len(v) for leg, v in truth.items()} == {"left": 1, "right": 1}
    assert sorted(e["leg"] for e in starts) == ["left", "right"]
    assert any("left" in t for t in discovery) and any("right" in t for t in discovery)


def test_unplugged_sensor_raises_fault_and_recovers(broker, state_dir, night_config):
    base = night_config.base_topic
    sub = Subscriber(broker.host, broker.port, topics=(f"{base}/#",))
    service = Service(night_config, RunOptions(simulate=True, speed=1e9, seed=4, cramps=0, duration_s=300))
    service.start()
    try:
        service.run()
        address = service.world.addresses["leg"]
        chip = service.world.bus.devices[address]
        service.world.bus.detach(address)  # the cable comes loose
        service.run()
        service.world.bus.attach(address, chip)  # and is pushed back in
        service.run()
    finally:
        service.stop()
    try:
        assert sub.wait_for(lambda s: any(e["type"] == "sensor_recovered" for e in events_of(s, base)), 10)
        kinds = [e["type"] for e in events_of(sub, base) if e["type"].startswith("sensor_")]
    finally:
        sub.close()
    assert kinds == ["sensor_fault", "sensor_recovered"]
    store = NightStore(state_dir, NightWindow.from_config(night_config.night), readonly=True)
    try:
        record = store.night(service.core.night)
        faults = [span for span in record.spans if span.kind == "fault"]
        assert len(faults) == 1 and faults[0].end is not None, record.spans
        assert 10 <= faults[0].duration_s <= 400
    finally:
        store.close()
