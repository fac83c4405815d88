"""A small service process for the MQTT tests: an MQTTBridge driven over stdin.

``python -m support.mqtt_child CONFIG`` starts a bridge with the outbox in the
configured state directory (messages built as the core builds them), prints JSON lines on stdout (``{"ready": true}``,
``{"connected": true}``, ``{"queued": id}``, ``{"delivered": id}``) and reads
JSON lines on stdin, each an event to publish (``event_id``, ``wall_time``,
``type``, ``t``, ``leg``, ``episode_id``, ``fields``).  EOF on stdin stops it
cleanly; the tests also SIGKILL it, as a power cut or the OOM killer would.
"""

from __future__ import annotations

import json
import sys
import threading

from service import config as cfg
from service import events as ev
from service.mqtt.client import MQTTBridge
from service.mqtt.outbox import Outbox
from support.mqtt_helpers import EventSender

_out_lock = threading.Lock()


def say(**data) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()


def main(config_path: str) -> int:
    config = cfg.load(config_path)
    outbox = Outbox(config.state_dir, config.mqtt.outbox_max_events)
    bridge = MQTTBridge(config, outbox, on_command=lambda c: say(command=c.name),
                        on_delivered=lambda eid: say(delivered=eid))
    sender = EventSender(bridge, config)
    bridge.start()
    say(ready=True, pending=len(outbox))

    def watch_connection():
        if bridge.wait_connected(60):
            say(connected=True)

    threading.Thread(target=watch_connection, daemon=True).start()
    for line in sys.stdin:
        if not line.strip():
            continue
        spec = json.loads(line)
        event = ev.Event(spec["type"], spec["t"], spec.get("leg", "leg"), spec.get("episode_id"),
                         spec.get("fields", {}))
        sender.event(ev.StampedEvent(spec["event_id"], spec["wall_time"], event))
        say(queued=spec["event_id"])
    bridge.stop()
    outbox.close()
    say(stopped=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
