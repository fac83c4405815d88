"""The one exception hierarchy of nightcramp (firmware and service alike).

It lives in :mod:`firmware` because imports run one way (service -> firmware)
and both layers raise these.  Each class also inherits the matching builtin so
callers that only know the builtin still catch it.
"""


class NightcrampError(Exception):
    """Base class of every error nightcramp raises on purpose."""


class ConfigError(NightcrampError, ValueError):
    """The configuration file or a command-line option is invalid."""

    def __init__(self, problems):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class BusError(NightcrampError, OSError):
    """An I2C transaction failed (NACK, timeout, I/O error) after retries."""


class DeviceNotFoundError(NightcrampError, LookupError):
    """No chip answered at the configured address, or it has the wrong identity."""


class SensorAbsentError(DeviceNotFoundError):
    """No accelerometer answers yet; it is being probed for again (``retry_in_s``: when).

    ``probed`` False: raised without touching the bus, because the next probe
    is not due yet.
    """

    def __init__(self, message: str, retry_in_s: float = 0.0, probed: bool = True):
        super().__init__(message)
        self.retry_in_s = float(retry_in_s)
        self.probed = probed


class SensorFaultError(NightcrampError, RuntimeError):
    """A sensor returned data that cannot be right (bad CRC, power-on value, stuck)."""


class GPIOUnavailableError(NightcrampError, RuntimeError):
    """GPIO pins are configured but cannot be used on this machine."""


class RecordingError(NightcrampError, ValueError):
    """A recording or labels file is malformed; the message names the line."""


class StoreError(NightcrampError, RuntimeError):
    """The night record (SQLite) cannot be opened or written."""


class CommandError(NightcrampError, ValueError):
    """An MQTT or button command payload is malformed, oversized or unknown."""
