"""``nightcramp test-alert``: prove the whole alert path works before relying on it at night.

It asks the running service, through the configured broker, for a test alert
and waits for the service's ``test_alert`` event, so it checks the broker, the
credentials, the service and its command handling in one go.
"""

from __future__ import annotations

import argparse
import logging
import sys

from service import config as cfg

log = logging.getLogger(__name__)

WAIT_S = 5.0


def cmd_test_alert(args: argparse.Namespace) -> int:
    """Exit 0 when the service answered, 1 when it did not, 2 when the broker settings are missing or unusable."""
    config = cfg.load(args.config)
    if not config.mqtt.host:
        print("test-alert: no MQTT broker configured (set mqtt.host in the configuration); "
              "a test alert needs the broker to reach the running service", file=sys.stderr)
        return 2
    from service.mqtt.connection import make_client
    from service.mqtt.oneshot import request_test_alert

    make_client(config, config.client_id)  # the credentials and TLS files, checked before connecting (ConfigError: exit 2)
    ok, message = request_test_alert(config, timeout=WAIT_S)
    print(f"test-alert: {message}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
