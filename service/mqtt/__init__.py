"""MQTT, the only place paho lives: the long-lived client, one-shot clients, message/episode/discovery builders, commands, outbox."""
