"""Connection set-up shared by every MQTT client nightcramp opens (the bridge and the one-shot clients).

One place decides the protocol, the client id, the credentials and TLS, so
``doctor`` checks the broker exactly the way the service will connect to it.
"""

from __future__ import annotations

import ipaddress
import ssl

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from firmware.errors import ConfigError
from service.config import mqtt_problems

_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (credentials never leave the machine)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def insecure_credentials(config) -> bool:
    """Would a user name or password travel unencrypted to another machine?"""
    m = config.mqtt
    has_credentials = bool(m.username or m.password or m.password_file)
    return bool(m.host) and has_credentials and not m.tls and not is_loopback(m.host)


def make_client(config, client_id: str) -> paho.Client:
    """A paho client (MQTT 3.1.1, clean session) with the configured credentials and TLS.

    Raises ConfigError for what :func:`service.config.mqtt_problems` finds (the
    same check ``config check`` and a reload make first).
    """
    m = config.mqtt
    problems = mqtt_problems(config)
    if problems:
        raise ConfigError(problems)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311,
                         clean_session=True)
    password = config.mqtt_password()
    if m.username:
        client.username_pw_set(m.username, password or None)
    if m.tls:
        try:
            client.tls_set(ca_certs=m.ca_file or None, certfile=m.cert_file or None, keyfile=m.key_file or None,
                           cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(f"mqtt: cannot use the TLS files (ca_file/cert_file/key_file): {exc}") from None
    return client
