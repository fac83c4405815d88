"""Connection set-up shared by the bridge and the one-shot clients: where credentials may travel."""

from __future__ import annotations

import pytest

from service.mqtt.connection import insecure_credentials, is_loopback
from support.mqtt_helpers import make_config


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "ip6-localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"])
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["broker.lan", "192.168.1.10", "10.0.0.1", "::ffff:192.168.1.1", ""])
def test_other_hosts_are_not_loopback(host):
    assert not is_loopback(host)


def test_unencrypted_credentials_to_another_host_are_flagged():
    assert insecure_credentials(make_config(mqtt_extra='host = "broker.lan"\nusername = "u"\npassword = "p"'))
    assert not insecure_credentials(make_config(mqtt_extra='host = "127.0.0.1"\nusername = "u"\npassword = "p"'))
    assert not insecure_credentials(make_config(mqtt_extra='host = "broker.lan"\nusername = "u"\ntls = true'))
    assert not insecure_credentials(make_config(mqtt_extra='host = "broker.lan"'))
    assert insecure_credentials(make_config(mqtt_extra='host = "127.0.0.2.example"\nusername = "u"'))
    assert not insecure_credentials(make_config(mqtt_extra='host = "127.0.0.2"\nusername = "u"\npassword = "p"'))


def test_config_check_warns_exactly_when_the_bridge_would(tmp_path, capsys):
    from service.cli import main

    for host, warned in (("broker.lan", True), ("127.0.0.2", False), ("localhost.localdomain", False)):
        path = tmp_path / "c.toml"
        path.write_text(f'[mqtt]\nhost = "{host}"\nusername = "u"\npassword = "pw"\n')
        assert main(["config", "check", str(path)]) == 0
        assert ("unencrypted" in capsys.readouterr().err) is warned, host
