import pytest

from support.mqtt_helpers import make_config
from support.service_runs import NIGHT


@pytest.fixture
def night_config(broker, state_dir):
    """A configuration with the short night window, publishing to the test broker."""
    return make_config(broker, state_dir, extra=NIGHT)
