"""Configuration: one TOML file read once into typed, frozen dataclasses.

Every field is documented next to its default in :data:`SCHEMA`, and the same
text produces ``nightcramp config example``.  Loading reports every problem at
once with its key path (``mqtt.port: must be between 1 and 65535, got 0``) and
raises :class:`~firmware.errors.ConfigError`; nothing is half-applied.

:func:`load_checked` is what ``run``, a reload (SIGHUP) and ``config check``
all call: the file's own rules (:func:`parse`) plus what only the machine can
answer (:func:`check`: the password and TLS files exist and are usable, a
named chip can sit at its address), so a file ``config check`` accepts is one
``run`` starts with, and a reload cannot be refused later than it is checked.
"""

from __future__ import annotations

import errno
import os
import re
import ssl
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import time as dtime
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from firmware.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/nightcramp/config.toml")
SERVICE_STATE_DIR = Path("/var/lib/nightcramp")  # the unit's StateDirectory=nightcramp
CONFIG_ENV = "NIGHTCRAMP_CONFIG"
SIMULATED_SUBDIR = "simulated"

ACCEL_CHIPS = ("auto", "mpu6050", "adxl345", "lis3dh")
TEMP_SENSORS = ("auto", "bme280", "sht3x", "tmp102", "ds18b20", "none")
SENSITIVITIES = ("low", "normal", "high")
STRETCHES = ("calf", "foot", "hamstring")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_LEG_RE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


# ---------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class DeviceConfig:
    id: str = "nightcramp"
    name: str = "nightcramp"
    simulated: bool = False  # the try-it mode: emulated sensor and room, a record of its own


@dataclass(frozen=True)
class LegSensor:
    """One accelerometer worn on one shin."""

    name: str = "leg"
    chip: str = "auto"
    address: int | None = None  # None: probe the chip's known addresses


@dataclass(frozen=True)
class AccelerometerConfig:
    i2c_bus: int = 1
    chip: str = "auto"
    address: int | None = None
    leg: str = "leg"
    rate_hz: int = 50
    range_g: int = 4
    drain_interval_s: float = 1.0
    fault_after_s: float = 10.0
    stuck_after_s: float = 60.0
    legs: tuple[LegSensor, ...] = ()

    @property
    def sensors(self) -> tuple[LegSensor, ...]:
        """The sensors to open: the ``[[legs]]`` list, or the single one described here."""
        if self.legs:
            return self.legs
        return (LegSensor(name=self.leg, chip=self.chip, address=self.address),)


@dataclass(frozen=True)
class TemperatureConfig:
    sensor: str = "auto"
    address: int | None = None
    interval_s: float = 60.0
    w1_devices: str = "/sys/bus/w1/devices"


@dataclass(frozen=True)
class GPIOConfig:
    button_pin: int | None = None
    led_pin: int | None = None
    buzzer_pin: int | None = None
    long_press_s: float = 3.0


@dataclass(frozen=True)
class NightConfig:
    start: dtime = dtime(22, 0)
    end: dtime = dtime(7, 30)
    timezone: str = ""  # empty: the system's local time zone

    def tzinfo(self):
        """The configured zone, or the system's local zone."""
        if self.timezone:
            return ZoneInfo(self.timezone)
        return _local_zone()


@dataclass(frozen=True)
class DetectionConfig:
    """The detector's settings: a preset and the per-sleeper knobs ``nightcramp tune`` sets.

    A knob left at None takes the preset's value (docs/learning.md): ``confirm_s`` the seconds of
    sustained movement before an alert; ``turn_confirm_s`` the extra seconds a leg that turned more
    than ``turn_deg`` (45) degrees must keep moving; ``turn_deg`` the turn that counts as rolling over;
    ``active_share`` the share of active windows needed.
    ``settle_s``: stillness needed before anything alerts (after start, walking, handling);
    ``baseline_max_extra_s``: the most this sleeper's own long stirs may add to ``confirm_s``;
    ``quiet_start_s``: a service start inside the night whose first this-many seconds are quiet counts as
    settled (a restart on a sleeping leg; 0: always ``settle_s``);
    ``unsettled_confirm_s``: while not settled, a near-continuous movement with a held tilt alerts after this many
    seconds (0: nothing alerts until settled) (docs/detection.md).
    """

    sensitivity: str = "normal"
    confirm_s: float | None = None
    turn_confirm_s: float | None = None
    turn_deg: float | None = None
    active_share: float | None = None
    settle_s: float = 300.0
    baseline_max_extra_s: float = 8.0
    quiet_start_s: float = 60.0
    unsettled_confirm_s: float = 0.0


@dataclass(frozen=True)
class SnippetsConfig:
    """Raw samples kept around alarms and reports (docs/learning.md): on/off, total size, age, one snippet's cap,
    and the most the episodes' snippets of one night may take (the SD-card budget)."""

    enabled: bool = True
    max_total_mb: float = 50.0
    retention_days: int = 90
    max_snippet_s: float = 600.0
    max_night_mb: float = 0.8


@dataclass(frozen=True)
class PromptsConfig:
    warm_compress: bool = True
    warm_compress_after_s: float = 0.0
    stretch: bool = True
    stretch_after_s: float = 10.0
    stretch_name: str = "calf"
    stretch_hold_s: float = 30.0
    cold_room_c: float = 18.0
    hot_room_c: float = 24.0
    update_interval_s: float = 15.0
    local_alert_after_s: float = 5.0


@dataclass(frozen=True)
class MQTTConfig:
    host: str = ""  # empty: no broker and no outbox; events are kept in the night record only
    port: int = 1883
    username: str = ""
    password: str = field(default="", repr=False)
    password_file: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    base_topic: str = ""  # empty: nightcramp/<device.id>
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    client_id: str = ""  # empty: nightcramp-<device.id>
    keepalive_s: int = 60
    outbox_max_events: int = 10000

    def __repr__(self) -> str:  # never show secrets, even in a debugger or a traceback
        shown = ", ".join(
            f"{f.name}={'***' if f.name == 'password' and self.password else getattr(self, f.name)!r}"
            for f in fields(self)
        )
        return f"MQTTConfig({shown})"


@dataclass(frozen=True)
class StorageConfig:
    state_dir: str = ""  # empty: $STATE_DIRECTORY, else /var/lib/nightcramp (root) or ~/.local/state/nightcramp
    retention_days: int = 365
    detail_retention_days: int = 14
    flush_interval_s: float = 30.0


@dataclass(frozen=True)
class Config:
    device: DeviceConfig = DeviceConfig()
    accelerometer: AccelerometerConfig = AccelerometerConfig()
    temperature: TemperatureConfig = TemperatureConfig()
    gpio: GPIOConfig = GPIOConfig()
    night: NightConfig = NightConfig()
    detection: DetectionConfig = DetectionConfig()
    prompts: PromptsConfig = PromptsConfig()
    mqtt: MQTTConfig = MQTTConfig()
    storage: StorageConfig = StorageConfig()
    snippets: SnippetsConfig = SnippetsConfig()
    source: str = "<defaults>"

    @property
    def base_topic(self) -> str:
        return self.mqtt.base_topic or f"nightcramp/{self.device.id}"

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"nightcramp-{self.device.id}"

    @property
    def base_state_dir(self) -> Path:
        """``storage.state_dir``, else $STATE_DIRECTORY (systemd), else /var/lib/nightcramp (as root, or when
        this is /etc/nightcramp/config.toml), else ~/.local/state/nightcramp."""
        if self.storage.state_dir:
            return Path(self.storage.state_dir)
        env = os.environ.get("STATE_DIRECTORY")
        if env:
            return Path(env.split(":")[0])
        if os.geteuid() == 0 or self.source == str(DEFAULT_CONFIG_PATH):
            # The installed service's configuration read by someone else (`nightcramp log` as a member of
            # the nightcramp group): its record is the service's, not one in that user's home.
            return SERVICE_STATE_DIR
        return Path.home() / ".local" / "state" / "nightcramp"

    @property
    def state_dir(self) -> Path:
        """Where this run's night record, outbox and morning logs live.

        Simulated nights (``device.simulated``, ``run --simulate``) go to a
        ``simulated`` directory inside it, so they never mix with real nights.
        """
        if self.device.simulated:
            return self.base_state_dir / SIMULATED_SUBDIR
        return self.base_state_dir

    def simulated(self, simulate: bool = True) -> "Config":
        """This configuration in the try-it mode (``device.simulated``: its state in ``<state_dir>/simulated``);
        itself when ``simulate`` is false or it already is."""
        if not simulate or self.device.simulated:
            return self
        return replace(self, device=replace(self.device, simulated=True))

    def mqtt_password(self) -> str:
        """The broker password, read from ``password_file`` when given (never logged)."""
        if self.mqtt.password_file:
            try:
                return read_small_text(Path(self.mqtt.password_file), MAX_PASSWORD_BYTES).strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"mqtt.password_file: cannot read {self.mqtt.password_file}: "
                                  f"{getattr(exc, 'strerror', None) or exc}") from None
        return self.mqtt.password


# ---------------------------------------------------------------- schema
#
# One entry per key: (type-check/convert function, default as TOML text, comment).
# The converters raise ValueError with a message that follows the key path.


def _int_range(lo: int, hi: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"must be an integer, got {_tname(v)}")
        if not lo <= v <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {v}")
        return v

    return check


def _float_range(lo: float, hi: float) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"must be a number, got {_tname(v)}")
        if not lo <= v <= hi:
            raise ValueError(f"must be between {lo:g} and {hi:g}, got {v}")
        return float(v)

    return check


def _choice(options: tuple, kind=str) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, kind):
            raise ValueError(f"must be one of {', '.join(map(str, options))}, got {_tname(v)}")
        if v not in options:
            raise ValueError(f"must be one of {', '.join(map(str, options))}, got {v!r}")
        return v

    return check


def _string(max_len: int = 256, pattern: re.Pattern | None = None, hint: str = "") -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise ValueError(f"must be a string, got {_tname(v)}")
        if len(v) > max_len:
            raise ValueError(f"must be at most {max_len} characters")
        if pattern is not None and not pattern.match(v):
            raise ValueError(f"{hint}, got {v!r}")
        return v

    return check


def _boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"must be true or false, got {_tname(v)}")
    return v


def _address(v: Any) -> int | None:
    if v == "auto":
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f'must be "auto" or an I2C address such as 0x68, got {_tname(v)}')
    if not 0x03 <= v <= 0x77:
        raise ValueError(f"must be a 7-bit I2C address between 0x03 and 0x77, got {v:#x}")
    return v


def _pin(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"must be a BCM GPIO number (0-27), got {_tname(v)}")
    if not 0 <= v <= 27:
        raise ValueError(f"must be a BCM GPIO number between 0 and 27, got {v}")
    return v


def _hhmm(v: Any) -> dtime:
    if not isinstance(v, str) or not _HHMM_RE.match(v):
        raise ValueError(f'must be a 24-hour time "HH:MM", got {v!r}')
    h, m = v.split(":")
    return dtime(int(h), int(m))


def _zone(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"must be a time zone name such as \"Europe/Berlin\", got {_tname(v)}")
    if v:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as \"Europe/Berlin\")") from None
    return v


def _path(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"must be a path string, got {_tname(v)}")
    return v


def _topic(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"must be a string, got {_tname(v)}")
    if any(c in v for c in "#+\x00") or v.startswith("/") or v.endswith("/"):
        raise ValueError(f"must be an MQTT topic without wildcards or leading/trailing '/', got {v!r}")
    return v


def _tname(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array", dict: "a table"}.get(
        type(v), type(v).__name__
    )


Spec = tuple[Callable[[Any], Any], str, str]

SCHEMA: dict[str, dict[str, Spec]] = {
    "device": {
        "id": (_string(32, _ID_RE, "must be lowercase letters, digits, '-' or '_' (max 32)"), '"nightcramp"',
               "Unique per bed: used in MQTT topics and Home Assistant ids. Lowercase letters, digits, - and _."),
        "name": (_string(64), '"nightcramp"', "Name shown in Home Assistant."),
        "simulated": (_boolean, "false",
                      "Try it without the sensor: true runs the service on an emulated sensor and room, driven by "
                      "the night simulator in real time, starting now. Everything it sends is marked simulated "
                      "(Home Assistant shows \"(simulated)\" after the device name); its nights are kept in "
                      "<state_dir>/simulated, apart from real ones. Set false once the sensor is wired."),
    },
    "accelerometer": {
        "i2c_bus": (_int_range(0, 99), "1", "I2C bus number: 1 is GPIO2 (SDA) / GPIO3 (SCL) on every Pi since the B+."),
        "chip": (_choice(ACCEL_CHIPS), '"auto"', "auto probes the known addresses; or mpu6050, adxl345, lis3dh."),
        "address": (_address, '"auto"', 'I2C address such as 0x68, or "auto".'),
        "leg": (_string(16, _LEG_RE, "must be a short lowercase name such as left or right"), '"leg"',
                "Name of the leg this sensor is on, used in events (left, right, leg)."),
        "rate_hz": (_choice((25, 50, 100, 200), int), "50", "Output data rate: 25, 50, 100 or 200 Hz. 50 is plenty for cramps."),
        "range_g": (_choice((2, 4, 8), int), "4", "Full-scale range in g: 2, 4 or 8 (walking can clip at 2)."),
        "drain_interval_s": (_float_range(0.05, 1.0), "1.0", "Seconds between FIFO drains (shortened automatically for small FIFOs)."),
        "fault_after_s": (_float_range(1.0, 600.0), "10.0", "Seconds without data before the sensor_fault state."),
        "stuck_after_s": (_float_range(5.0, 3600.0), "60.0", "Seconds of identical readings that count as a stuck sensor."),
    },
    "temperature": {
        "sensor": (_choice(TEMP_SENSORS), '"auto"', "auto, bme280 (or bmp280), sht3x, tmp102, ds18b20 or none."),
        "address": (_address, '"auto"', 'I2C address such as 0x76, or "auto" (ignored for ds18b20).'),
        "interval_s": (_float_range(5.0, 3600.0), "60.0", "Seconds between room-temperature readings."),
        "w1_devices": (_path, '"/sys/bus/w1/devices"', "Where the kernel lists 1-wire devices (DS18B20)."),
    },
    "gpio": {
        "button_pin": (_pin, None, "BCM pin of a push button to ground: short press acknowledges, long press sends a test alert."),
        "led_pin": (_pin, None, "BCM pin of a status LED (with a resistor)."),
        "buzzer_pin": (_pin, None, "BCM pin of an active buzzer for local alerts."),
        "long_press_s": (_float_range(0.5, 30.0), "3.0", "Seconds the button must be held for a test alert."),
    },
    "night": {
        "start": (_hhmm, '"22:00"', "Start of the night window (local time, HH:MM). Detection runs only inside it."),
        "end": (_hhmm, '"07:30"', "End of the night window; the morning log is produced then."),
        "timezone": (_zone, '""', 'IANA time zone such as "Europe/Berlin"; empty uses the system\'s.'),
    },
    "detection": {
        "sensitivity": (_choice(SENSITIVITIES), '"normal"', "low (fewer false alarms), normal, or high (catches milder cramps)."),
        "confirm_s": (_float_range(8.0, 30.0), "# confirm_s = 11.0",
                      "Seconds of sustained movement before an alert; unset: the preset's (nightcramp tune sets it)."),
        "turn_confirm_s": (_float_range(0.0, 60.0), "# turn_confirm_s = 4.0",
                           "Extra seconds a leg that turned over turn_deg degrees must keep moving (rolling over); unset: 4."),
        "turn_deg": (_float_range(30.0, 110.0), "# turn_deg = 45.0",
                     "Degrees the leg must turn from its posture to count as rolling over (turn_confirm_s more); unset: 45."),
        "active_share": (_float_range(0.5, 0.95), "# active_share = 0.75",
                         "Share of the last confirm_s that must be active; unset: the preset's."),
        "settle_s": (_float_range(0.0, 1800.0), "300.0",
                     "Seconds of stillness before anything may alert: after start, after walking, after the sensor was handled."),
        "baseline_max_extra_s": (_float_range(0.0, 30.0), "8.0",
                                 "Most seconds this sleeper's own long stirs may add to confirm_s (0: no baseline)."),
        "quiet_start_s": (_float_range(0.0, 600.0), "60.0",
                          "A start inside the night this many seconds quiet counts as settled (a restart on a sleeping leg; 0: off)."),
        "unsettled_confirm_s": (_float_range(0.0, 120.0), "0.0",
                                "Opt-in for a restless sleeper: before settling, a near-continuous cramp with a held tilt alerts after this many seconds (0: never; 30 costs 3 false alarms in 7.42 h of real recordings)."),
    },
    "prompts": {
        "warm_compress": (_boolean, "true", "Send a warm-compress reminder during an episode."),
        "warm_compress_after_s": (_float_range(0.0, 600.0), "0.0", "Seconds after the alert (cramp_start) to send it."),
        "stretch": (_boolean, "true", "Send a stretch prompt during an episode."),
        "stretch_after_s": (_float_range(0.0, 600.0), "10.0", "Seconds after the alert to send the stretch prompt."),
        "stretch_name": (_choice(STRETCHES), '"calf"', "Which stretch to suggest: calf, foot or hamstring."),
        "stretch_hold_s": (_float_range(5.0, 300.0), "30.0", "How long the stretch prompt says to hold."),
        "cold_room_c": (_float_range(-20.0, 40.0), "18.0", "Below this room temperature the reminder hints the room is cold."),
        "hot_room_c": (_float_range(-20.0, 45.0), "24.0", "Above this the morning log points out a hot bedroom."),
        "update_interval_s": (_float_range(15.0, 600.0), "15.0", "Seconds between cramp update events (at least 15)."),
        "local_alert_after_s": (_float_range(0.5, 120.0), "5.0",
                                "Sound the buzzer/LED locally when no broker acknowledged an alert within this many seconds."),
    },
    "mqtt": {
        "host": (_string(253), '""',
                 "Broker host name or address; empty: no MQTT and no outbox, events are kept in the night record only."),
        "port": (_int_range(1, 65535), "1883", "Broker port (8883 is usual with TLS)."),
        "username": (_string(256), '""', "User name, if the broker wants one."),
        "password": (_string(1024), '""', "Password (prefer password_file so it is not in this file)."),
        "password_file": (_path, '""', "File whose first line is the password."),
        "tls": (_boolean, "false", "Connect with TLS."),
        "ca_file": (_path, '""', "CA certificate (PEM) for TLS; empty uses the system's CAs."),
        "cert_file": (_path, '""', "Client certificate (PEM) for TLS client authentication."),
        "key_file": (_path, '""', "Client key (PEM)."),
        "base_topic": (_topic, '""', "Topic prefix; empty means nightcramp/<device.id>."),
        "discovery": (_boolean, "true", "Publish Home Assistant discovery."),
        "discovery_prefix": (_topic, '"homeassistant"', "Home Assistant discovery prefix."),
        "client_id": (_string(64), '""', "MQTT client id; empty means nightcramp-<device.id>."),
        "keepalive_s": (_int_range(5, 3600), "60", "Keepalive in seconds."),
        "outbox_max_events": (_int_range(100, 1_000_000), "10000", "Undelivered events kept at most; the oldest updates go first."),
    },
    "storage": {
        "state_dir": (_path, '""', "Where the night record, outbox and morning logs live. Empty: $STATE_DIRECTORY "
                      "(/var/lib/nightcramp under systemd), else /var/lib/nightcramp as root or when read from "
                      "/etc/nightcramp/config.toml, else ~/.local/state/nightcramp."),
        "retention_days": (_int_range(1, 36500), "365", "Nights (episodes, summaries) kept this many days."),
        "detail_retention_days": (_int_range(1, 3650), "14", "Per-minute movement detail kept this many days."),
        "flush_interval_s": (_float_range(1.0, 300.0), "30.0", "Seconds between batched writes of the per-minute record."),
    },
    "snippets": {
        "enabled": (_boolean, "true", "Keep the raw samples from 2 min before to 1 min after each alarm and report (for labels and tune)."),
        "max_total_mb": (_float_range(1.0, 2000.0), "50.0", "Total size of the kept snippets in MB; the oldest go first."),
        "retention_days": (_int_range(1, 3650), "90", "Snippets older than this many days are removed."),
        "max_snippet_s": (_float_range(180.0, 1800.0), "600.0", "Longest snippet in seconds (a long episode keeps its start)."),
        "max_night_mb": (_float_range(0.1, 100.0), "0.8", "Once the episodes' snippets of the last 12 hours reach this many MB, no more episodes are kept that night (reports still are): the SD-card budget of 5 MB a night."),
    },
}

# Keys without a default are shown commented out with these values (the README's wiring: 17/27/22).
_EXAMPLE_VALUES = {"button_pin": 17, "led_pin": 27, "buzzer_pin": 22}

_LEG_SCHEMA: dict[str, Spec] = {
    "name": (_string(16, _LEG_RE, "must be a short lowercase name such as left or right"), None, "left or right"),
    "chip": (_choice(ACCEL_CHIPS), '"auto"', "Chip on this leg."),
    "address": (_address, '"auto"', "Its I2C address (two MPU-6050s: 0x68 and 0x69)."),
}

_SECTIONS = {
    "device": DeviceConfig,
    "accelerometer": AccelerometerConfig,
    "temperature": TemperatureConfig,
    "gpio": GPIOConfig,
    "night": NightConfig,
    "detection": DetectionConfig,
    "prompts": PromptsConfig,
    "mqtt": MQTTConfig,
    "storage": StorageConfig,
    "snippets": SnippetsConfig,
}


# ---------------------------------------------------------------- loading


def resolve_path(path: str | os.PathLike | None) -> Path | None:
    """The config file to read: ``--config``, then $NIGHTCRAMP_CONFIG, then the default if it exists."""
    if path:
        return Path(path)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    try:
        DEFAULT_CONFIG_PATH.stat()
    except FileNotFoundError:
        return None
    except PermissionError:
        # /etc/nightcramp is root:nightcramp 0750: the file is there, this user may not read it
        # (load() says so, instead of silently running on the defaults).
        return DEFAULT_CONFIG_PATH
    except OSError:
        return None
    return DEFAULT_CONFIG_PATH


MAX_CONFIG_BYTES = 1 << 20  # a configuration file is a few kB; more is not one (``--config /dev/zero``)
MAX_PASSWORD_BYTES = 1 << 16


def read_small_text(path: Path, limit: int) -> str:
    """A UTF-8 file of at most ``limit`` bytes (OSError EFBIG beyond: it is not the file asked for)."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes: not a {path.suffix or 'text'} file of ours")
    return data.decode("utf-8")


def load(path: str | os.PathLike | None = None) -> Config:
    """Read and validate the configuration; no file at all gives the defaults."""
    resolved = resolve_path(path)
    if resolved is None:
        return Config()
    try:
        text = read_small_text(resolved, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"{resolved}: no such file") from None
    except PermissionError:
        raise ConfigError(f"{resolved}: permission denied: run with sudo or join the nightcramp group "
                          "(sudo adduser $USER nightcramp, then log in again)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{resolved}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return parse(text, source=str(resolved))


def parse(text: str, source: str = "<string>") -> Config:
    """Validate TOML text into a :class:`Config`, reporting every problem at once."""
    try:
        data = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    problems: list[str] = []
    sections: dict[str, Any] = {}
    for key, value in data.items():
        if key == "legs":
            continue
        if key not in SCHEMA:
            problems.append(f"{key}: unknown section (known: {', '.join(sorted([*SCHEMA, 'legs']))})")
            continue
        if not isinstance(value, dict):
            problems.append(f"{key}: must be a table [{key}], got {_tname(value)}")
            continue
        sections[key] = _parse_table(key, value, SCHEMA[key], problems)

    legs: list[LegSensor] = []
    if "legs" in data:
        raw_legs = data["legs"]
        if not isinstance(raw_legs, list) or not all(isinstance(x, dict) for x in raw_legs):
            problems.append("legs: must be an array of tables [[legs]]")
        else:
            if not 1 <= len(raw_legs) <= 2:
                problems.append(f"legs: one or two sensors are supported, got {len(raw_legs)}")
            for i, raw in enumerate(raw_legs):
                values = _parse_table(f"legs[{i}]", raw, _LEG_SCHEMA, problems)
                if "name" not in raw:
                    problems.append(f"legs[{i}].name: required (left or right)")
                    continue
                if "name" in values:
                    legs.append(LegSensor(**values))
            names = [leg.name for leg in legs]
            if len(set(names)) != len(names):
                problems.append(f"legs: leg names must differ, got {names}")
            addrs = [leg.address for leg in legs if leg.address is not None]
            if len(set(addrs)) != len(addrs):
                problems.append("legs: two sensors cannot share one I2C address")

    night = sections.get("night", {})
    if "start" in night and "end" in night and night["start"] == night["end"]:
        problems.append("night: start and end must differ")
    mqtt = sections.get("mqtt", {})
    if mqtt.get("password") and mqtt.get("password_file"):
        problems.append("mqtt: give password or password_file, not both")
    if (mqtt.get("cert_file") and not mqtt.get("key_file")) or (mqtt.get("key_file") and not mqtt.get("cert_file")):
        problems.append("mqtt: cert_file and key_file go together")
    gpio = sections.get("gpio", {})
    pins: dict[int, list[str]] = {}
    for key in ("button_pin", "led_pin", "buzzer_pin"):
        if key in gpio:
            pins.setdefault(gpio[key], []).append(key)
    for pin, users in pins.items():
        if len(users) > 1:
            problems.append(f"gpio: {' and '.join(users)} are both GPIO {pin}; each needs a pin of its own")
    prompts = sections.get("prompts", {})
    cold = prompts.get("cold_room_c", PromptsConfig.cold_room_c)
    hot = prompts.get("hot_room_c", PromptsConfig.hot_room_c)
    if cold >= hot:
        problems.append(f"prompts: cold_room_c ({cold:g}) must be below hot_room_c ({hot:g})")

    if problems:
        raise ConfigError([f"{source}: {p}" for p in problems])

    built = {name: cls(**sections.get(name, {})) for name, cls in _SECTIONS.items()}
    if legs:
        built["accelerometer"] = replace(built["accelerometer"], legs=tuple(legs))
    return Config(**built, source=source)


def load_checked(path: str | os.PathLike | None = None) -> Config:
    """:func:`load`, then :func:`check`: the configuration exactly as ``run`` accepts it, or ConfigError."""
    config = load(path)
    check(config)
    return config


def check(config: Config) -> None:
    """Raise ConfigError with every problem ``run`` would stop at beyond the file's syntax (files, addresses)."""
    problems = mqtt_problems(config) + _address_problems(config)
    if problems:
        raise ConfigError([f"{config.source}: {p}" for p in problems])


def mqtt_problems(config: Config) -> list[str]:
    """What stops the broker connection before it is tried: the password file, a password alone, the TLS files.

    Empty without a broker (``mqtt.host`` empty): nothing of ``[mqtt]`` is used then.
    """
    m = config.mqtt
    if not m.host:
        return []
    problems = []
    password = m.password
    if m.password_file:
        try:
            password = config.mqtt_password()
        except ConfigError as exc:
            problems.extend(exc.problems)
    if password and not m.username:
        problems.append("mqtt.password: a password needs mqtt.username (MQTT sends no password alone)")
    if not m.tls:
        return problems
    unreadable = False
    for key in ("ca_file", "cert_file", "key_file"):
        path = getattr(m, key)
        if path and not os.access(path, os.R_OK):
            why = "no such file" if not os.path.exists(path) else "not readable by this user"
            problems.append(f"mqtt.{key}: cannot read {path} ({why})")
            unreadable = True
    if not unreadable:
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if m.ca_file:
                context.load_verify_locations(cafile=m.ca_file)
            if m.cert_file:
                context.load_cert_chain(m.cert_file, m.key_file or None)
        except (ssl.SSLError, OSError, ValueError) as exc:
            problems.append(f"mqtt: cannot use the TLS files (ca_file/cert_file/key_file): {exc}")
    return problems


def _address_problems(config: Config) -> list[str]:
    """A named accelerometer at an address that chip cannot have (the probe refuses it at start)."""
    from firmware.probe import ADDRESSES  # the drivers' own lists, loaded only when checking

    problems = []
    acc = config.accelerometer
    where = [(f"legs[{i}]", s) for i, s in enumerate(acc.legs)] if acc.legs else [("accelerometer", acc.sensors[0])]
    for path, sensor in where:
        allowed = ADDRESSES.get(sensor.chip)
        if allowed and sensor.address is not None and sensor.address not in allowed:
            problems.append(f"{path}.address: a {sensor.chip} can only be at "
                            f"{' or '.join(f'{a:#04x}' for a in allowed)}, not {sensor.address:#04x}")
    return problems


def _parse_table(path: str, raw: dict, schema: dict[str, Spec], problems: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        spec = schema.get(key)
        if spec is None:
            problems.append(f"{path}.{key}: unknown key (known: {', '.join(schema)})")
            continue
        try:
            values[key] = spec[0](value)
        except ValueError as exc:
            problems.append(f"{path}.{key}: {exc}")
    return values


# ---------------------------------------------------------------- example


def example() -> str:
    """A fully commented configuration with every key at its default."""
    lines = [
        "# nightcramp configuration (TOML). Every key is optional; shown here at its default.",
        "# Check it with: nightcramp config check /etc/nightcramp/config.toml",
        "",
    ]
    for section, specs in SCHEMA.items():
        lines.append(f"[{section}]")
        for key, (_check, default, comment) in specs.items():
            lines.append(f"# {comment}")
            if default is None:
                lines.append(f"# {key} = {_EXAMPLE_VALUES.get(key, 17)}")
            elif default.startswith("#"):  # unset by default: shown commented out
                lines.append(default)
            else:
                lines.append(f"{key} = {default}")
        lines.append("")
        if section == "accelerometer":
            lines += [
                "# Two sensors, one per shin, on the same bus: add one [[legs]] table per sensor.",
                "# rate_hz, range_g and the fault settings above apply to both.",
                "# [[legs]]",
                '# name = "left"',
                '# chip = "mpu6050"',
                "# address = 0x68",
                "# [[legs]]",
                '# name = "right"',
                '# chip = "mpu6050"',
                "# address = 0x69  # AD0 pin tied high",
                "",
            ]
    return "\n".join(lines)


def _local_zone():
    """The system's local time zone as a tzinfo (falls back to UTC)."""
    tzname = os.environ.get("TZ", "").lstrip(":")
    if tzname:
        try:
            return ZoneInfo(tzname)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        link = os.readlink("/etc/localtime")
        if "zoneinfo/" in link:
            return ZoneInfo(link.split("zoneinfo/", 1)[1])
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    try:
        name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
        if name:
            return ZoneInfo(name)
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    return ZoneInfo("UTC")


def redacted(config: Config) -> dict[str, dict[str, Any]]:
    """The effective configuration as plain data, secrets masked (for ``config check``)."""
    out: dict[str, dict[str, Any]] = {}
    for name in _SECTIONS:
        section = getattr(config, name)
        values = {}
        for f in fields(section):
            value = getattr(section, f.name)
            if f.name == "password" and value:
                value = "***"
            elif isinstance(value, dtime):
                value = value.strftime("%H:%M")
            elif f.name == "legs":
                value = [{"name": leg.name, "chip": leg.chip, "address": leg.address} for leg in value]
            values[f.name] = value
        out[name] = values
    return out
