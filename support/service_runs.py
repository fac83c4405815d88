"""Running the whole service on emulated hardware for a simulated night, as the app tests do."""

from __future__ import annotations

from service.app.daemon import RunOptions, Service
from support.mqtt_helpers import Subscriber

NIGHT = '[night]\nstart = "22:00"\nend = "23:30"\ntimezone = "Europe/Berlin"\n'
"""A short night window (1.5 h) for whole-service runs."""


def events_of(sub: Subscriber, base: str) -> list[dict]:
    """Every event a subscriber received on ``<base>/event``, as JSON."""
    return [m.json() for m in sub.on(f"{base}/event")]


def run_night(config, **options) -> Service:
    """Start the service with ``--simulate`` options, run it to the end of its night, stop it."""
    service = Service(config, RunOptions(simulate=True, speed=1e9, **options))
    service.start()
    try:
        service.run()
    finally:
        service.stop()
    return service
