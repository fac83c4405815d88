"""nightcramp service layer: config, detection, alerts, MQTT, storage, morning log, CLI."""

from firmware import __version__

__all__ = ["__version__"]
