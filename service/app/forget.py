"""``nightcramp forget``: take this device out of Home Assistant before it is uninstalled.

It publishes the empty retained discovery configs (Home Assistant deletes the
device and its entities) and clears the retained state topics, so neither Home
Assistant nor a late subscriber keeps a ghost of a device that is gone.
``scripts/uninstall`` runs it after stopping the service.
"""

from __future__ import annotations

import argparse
import sys

from service import config as cfg

WAIT_S = 5.0


def cmd_forget(args: argparse.Namespace) -> int:
    """Exit 0 when the broker took the removal, 1 when it could not, 2 when no broker is configured."""
    config = cfg.load(getattr(args, "config", None))
    if not config.mqtt.host:
        print("forget: no MQTT broker configured (mqtt.host is empty): nothing was announced, nothing to remove",
              file=sys.stderr)
        return 2
    from service.mqtt.connection import make_client
    from service.mqtt.oneshot import forget_device

    make_client(config, config.client_id)  # the credentials and TLS files, checked before connecting (ConfigError: exit 2)
    ok, message = forget_device(config, timeout=WAIT_S, force=getattr(args, "force", False))
    print(f"forget: {message}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
