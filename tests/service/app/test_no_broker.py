"""No broker configured: no MQTT and no outbox; events are kept in the night record only.

An event queued for hours and delivered when a broker is configured later would
replay a stale alert (a cramp start switching on a heating pad for nothing), so
without a broker nothing is queued for one.
"""

from __future__ import annotations

import logging

from service.app.daemon import RunOptions, Service
from service.night.store import NightStore
from service.pipeline.nightwindow import NightWindow
from support.mqtt_helpers import make_config

NIGHT = '[night]\nstart = "22:00"\nend = "23:30"\ntimezone = "Europe/Berlin"\n'


def test_without_a_broker_events_are_kept_in_the_night_record_only(state_dir, caplog):
    caplog.set_level(logging.INFO)
    config = make_config(None, state_dir, extra=NIGHT)
    service = Service(config, RunOptions(simulate=True, speed=1e9, seed=3, cramps=1))
    service.start()
    try:
        service.run()
        assert service.publisher is None and service.outbox is None
    finally:
        service.stop()
    assert not (state_dir / "outbox.sqlite3").exists()
    assert "events are kept in the night record only" in caplog.text
    store = NightStore(state_dir, NightWindow.from_config(config.night), readonly=True)
    try:
        record = store.night(service.core.night)
        assert len(record.episodes) == 1
        assert service.core.stats.events["cramp_start"] == 1
        assert len(store.undelivered()) >= 3  # start, prompts, end: recorded, never sent anywhere
    finally:
        store.close()
