"""``nightcramp doctor``: check everything a user gets wrong, and say how to fix each.

Each check prints one line ``OK``, ``WARN``, ``FAIL`` or ``N/A`` (not
applicable here), details indented under it,
and a ``fix:`` line when something is wrong.  The exit code is 0 when nothing
FAILs, 1 otherwise, so the command works in scripts too.

Permissions are judged for the user the service runs as: run as root on an
installed Pi, the doctor asks "can the ``nightcramp`` user open /dev/i2c-1 and
read the password file?", not "can root?" (root always can, and the service is
not root).

``--simulate`` runs the hardware checks against emulated chips on an emulated
bus built from the configuration, so the doctor itself can be tried (and
tested) on a PC; the checks of the host (time, unit) stay real.
"""

from __future__ import annotations

import argparse
import grp
import logging
import os
import pwd
import shutil
import stat
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPWMPin

from firmware.clock import SystemClock
from firmware.errors import ConfigError, NightcrampError
from service.app.hardware import open_hardware
from service.sim.world import SimOptions

log = logging.getLogger(__name__)

OK, WARN, FAIL, NA = "OK", "WARN", "FAIL", "N/A"

SERVICE_USER = "nightcramp"
UNIT = "nightcramp.service"
SERVICE_STATE_DIR = Path("/var/lib/nightcramp")  # systemd's StateDirectory=nightcramp
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
I2C_ENABLE_HINT = ("sudo raspi-config nonint do_i2c 0 (or add dtparam=i2c_arm=on to /boot/firmware/config.txt "
                   "and i2c-dev to /etc/modules), then reboot")
EMULATED_ROOM_C = 19.5


@dataclass(frozen=True)
class Result:
    """One check: status, a short name, what was found, how to fix it, and detail lines."""

    status: str
    name: str
    message: str
    fix: str = ""
    details: tuple[str, ...] = ()


# ---------------------------------------------------------------- who the service runs as


@dataclass(frozen=True)
class Identity:
    """A user and its groups; decides file access from the mode bits as the kernel does."""

    name: str
    uid: int
    gids: frozenset[int]

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    def can(self, path: str | os.PathLike, read: bool = True, write: bool = False) -> bool:
        """Whether this user may open ``path`` for reading and/or writing (owner, group, other bits)."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        if self.is_root:
            return True
        if st.st_uid == self.uid:
            r, w = stat.S_IRUSR, stat.S_IWUSR
        elif st.st_gid in self.gids:
            r, w = stat.S_IRGRP, stat.S_IWGRP
        else:
            r, w = stat.S_IROTH, stat.S_IWOTH
        return (not read or bool(st.st_mode & r)) and (not write or bool(st.st_mode & w))

    def in_group(self, group: str) -> bool:
        try:
            return grp.getgrnam(group).gr_gid in self.gids
        except KeyError:
            return False


def user_identity(name: str) -> Identity | None:
    """The named user with every group it belongs to, or None if there is no such user."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return None
    return Identity(name, pw.pw_uid, frozenset(os.getgrouplist(name, pw.pw_gid)))


def current_identity() -> Identity:
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return Identity(name, uid, frozenset([os.getegid(), *os.getgroups()]))


def service_identity() -> Identity:
    """The service user when run as root on an installed system, else whoever runs the doctor."""
    me = current_identity()
    if me.is_root:
        return user_identity(SERVICE_USER) or me
    return me


def _owner(path: Path) -> str:
    st = path.stat()
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    return f"{user}:{group} {stat.S_IMODE(st.st_mode):04o}"


# ---------------------------------------------------------------- checks


def check_config(path: str | None) -> tuple[Result, object]:
    """Load the configuration; on failure the remaining checks run on the defaults."""
    from service import config as cfg

    try:
        config = cfg.load(path)
    except ConfigError as exc:
        return Result(FAIL, "config", "the configuration is invalid; the checks below use the defaults",
                      fix=f"correct the keys listed, then: nightcramp config check {path or ''}".rstrip(),
                      details=tuple(exc.problems)), cfg.Config()
    if config.source == "<defaults>":
        return Result(WARN, "config", f"no configuration file ({cfg.DEFAULT_CONFIG_PATH} or $NIGHTCRAMP_CONFIG); "
                      "running on the defaults",
                      fix=f"nightcramp config example > {cfg.DEFAULT_CONFIG_PATH} and edit it"), config
    return Result(OK, "config", f"{config.source} is valid"), config


def check_config_secrecy(config, who: Identity) -> Result | None:
    """A config file holding a password must not be readable by every user."""
    if config.source == "<defaults>" or not config.mqtt.password:
        return None
    path = Path(config.source)
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & stat.S_IROTH:
        return Result(WARN, "config secrecy", f"{path} holds the broker password and every user may read it",
                      fix=f"sudo chown root:{SERVICE_USER} {path} && sudo chmod 0640 {path} "
                          "(or move the password to mqtt.password_file)")
    if not who.can(path):
        return Result(FAIL, "config secrecy", f"{who.name} cannot read {path} ({_owner(path)})",
                      fix=f"sudo chown root:{SERVICE_USER} {path} && sudo chmod 0640 {path}")
    return None


def check_i2c_device(bus_number: int, who: Identity, dev_dir: str = "/dev") -> list[Result]:
    """/dev/i2c-N exists (I2C enabled) and the service user may open it read-write."""
    node = Path(dev_dir) / f"i2c-{bus_number}"
    if not node.exists():
        others = sorted(p.name for p in Path(dev_dir).glob("i2c-*"))
        return [Result(FAIL, "i2c enabled", f"{node} does not exist: I2C is not enabled"
                       + (f" (found {', '.join(others)}: is accelerometer.i2c_bus right?)" if others else ""),
                       fix=I2C_ENABLE_HINT)]
    results = [Result(OK, "i2c enabled", f"{node} exists")]
    if who.can(node, read=True, write=True):
        results.append(Result(OK, "i2c permission", f"{who.name} may open {node}"))
    else:
        group = _owner(node).split()[0].split(":")[1]
        results.append(Result(FAIL, "i2c permission", f"{who.name} may not open {node} ({_owner(node)})",
                              fix=f"sudo adduser {who.name} {group}"
                                  + (" and log in again" if who.name != SERVICE_USER else "")))
    return results


def check_groups(who: Identity, gpio_wanted: bool) -> Result:
    """The user is in i2c (and gpio when pins are configured); the unit adds them for the service itself."""
    if who.is_root:
        return Result(NA, "groups", "running as root and no nightcramp user exists: not installed as a service",
                      fix="sudo make install creates the nightcramp user in the i2c and gpio groups")
    wanted = ["i2c"] + (["gpio"] if gpio_wanted else [])
    missing = [g for g in wanted if not who.in_group(g)]
    if not missing:
        return Result(OK, "groups", f"{who.name} is in {', '.join(wanted)}")
    absent = [g for g in missing if not _group_exists(g)]
    if absent:
        return Result(WARN, "groups", f"group {', '.join(absent)} does not exist on this system",
                      fix="on Raspberry Pi OS these groups exist; elsewhere create them and a udev rule giving "
                          "them /dev/i2c-* and /dev/gpiochip*")
    status = WARN if who.name == SERVICE_USER else FAIL
    return Result(status, "groups", f"{who.name} is not in {', '.join(missing)}",
                  fix=" && ".join(f"sudo adduser {who.name} {g}" for g in missing)
                      + ("" if who.name == SERVICE_USER else ", then log in again"))


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def _accel_line(found) -> str:
    """One found accelerometer (firmware.probe.FoundAccelerometer) as a line: address, chip, identity, a reading."""
    line = f"{found.address:#04x}  {found.chip}  {found.model} (identity {found.identity:#04x})"
    if found.accel_g is not None:
        x, y, z = found.accel_g
        line += f"  x={x:+.2f} y={y:+.2f} z={z:+.2f} g  |a|={found.magnitude_g:.2f} g"
    if found.error:
        line += f"  error: {found.error}"
    return line


def _matches(leg, found) -> bool:
    if leg.address is not None and found.address != leg.address:
        return False
    if leg.chip != "auto" and found.chip != leg.chip:
        return False
    return found.accel_g is not None and not found.error


def check_accelerometers(config, bus) -> Result:
    """Every configured leg sensor answers and delivers samples; list everything that answered."""
    from firmware.accelerometer import PI_I2C_PINS
    from firmware.probe import WIRING_HINTS, scan_accelerometers

    try:
        found = scan_accelerometers(bus, bus_label=f"I2C bus {config.accelerometer.i2c_bus}")
    except (NightcrampError, OSError) as exc:
        return Result(FAIL, "accelerometer", f"scanning the bus failed: {exc}", fix=f"check the wiring: {PI_I2C_PINS}")
    details = tuple(_accel_line(f) for f in found) or ("nothing answered at any accelerometer address",)
    missing = [leg for leg in config.accelerometer.sensors if not any(_matches(leg, f) for f in found)]
    if missing:
        wanted = ", ".join(f"{leg.name} ({leg.chip}" + (" at %#04x" % leg.address if leg.address is not None else "")
                           + ")" for leg in missing)
        hints = sorted({WIRING_HINTS.get(leg.chip, PI_I2C_PINS) for leg in missing})
        return Result(FAIL, "accelerometer", f"not found or not delivering samples: {wanted}", details=details,
                      fix=f"check the wiring: {' | '.join(hints)}; `i2cdetect -y {config.accelerometer.i2c_bus}` "
                          "lists what answers")
    return Result(OK, "accelerometer", f"{len(found)} found", details=details)


def check_thermometer(config, bus, w1_devices: str) -> Result:
    """The room thermometer: every one that answered, with a reading; missing only matters when one is named."""
    wanted = config.temperature.sensor
    if wanted == "none":
        return Result(NA, "thermometer", "temperature.sensor = none")
    from firmware.ds18b20 import W1_WIRING_HINT
    from firmware.tempsensor import I2C_WIRING_HINT
    from firmware.thermometer import NOT_FOUND_HINT, scan_thermometers

    try:
        found = scan_thermometers(bus, w1_devices)
    except (NightcrampError, OSError) as exc:
        return Result(FAIL, "thermometer", f"scanning failed: {exc}", fix=I2C_WIRING_HINT)
    details = tuple(f.summary() for f in found)
    good = [f for f in found if f.reading is not None and not f.error]
    if wanted != "auto":
        family = ("bme280", "bmp280") if wanted in ("bme280", "bmp280") else (wanted,)  # one driver reads both
        good = [f for f in good if f.chip in family]
    if good:
        return Result(OK, "thermometer", f"{good[0].chip} at {good[0].location} reads {good[0].reading.temp_c:.1f} C",
                      details=details)
    if wanted == "auto":
        return Result(WARN, "thermometer", "no room thermometer found: prompts will not mention the room temperature",
                      fix=f"optional: {NOT_FOUND_HINT}", details=details)
    hint = W1_WIRING_HINT if wanted == "ds18b20" else I2C_WIRING_HINT
    return Result(FAIL, "thermometer", f"{wanted} not found", fix=hint, details=details)


def check_gpio(config, pin_factory=None) -> Result:
    """The configured button/LED/buzzer pins can be claimed (nothing is switched on)."""
    g = config.gpio
    pins = {"button": g.button_pin, "led": g.led_pin, "buzzer": g.buzzer_pin}
    wanted = ", ".join(f"{k} GPIO{v}" for k, v in pins.items() if v is not None)
    if not wanted:
        return Result(NA, "gpio", "no GPIO pins configured")
    from firmware.gpio import Peripherals

    try:
        Peripherals(button_pin=g.button_pin, led_pin=g.led_pin, buzzer_pin=g.buzzer_pin,
                    long_press_s=g.long_press_s, pin_factory=pin_factory).close()
    except NightcrampError as exc:
        return Result(FAIL, "gpio", str(exc).split(";")[0],
                      fix="add the service user to the gpio group, install python3-lgpio, "
                          "or remove the [gpio] pins from the configuration")
    return Result(OK, "gpio", f"{wanted} usable")


def check_gpio_access(who: Identity, dev_dir: str = "/dev") -> Result:
    """The service user may open the GPIO character devices lgpio uses (root always can, so ask for it)."""
    chips = sorted(Path(dev_dir).glob("gpiochip*"))
    if not chips:
        return Result(FAIL, "gpio permission", f"no {dev_dir}/gpiochip*: this is not a Raspberry Pi, or the "
                      "kernel has no GPIO driver", fix="remove the [gpio] pins from the configuration")
    denied = [c for c in chips if not who.can(c, read=True, write=True)]
    if denied:
        group = _owner(denied[0]).split()[0].split(":")[1]
        return Result(FAIL, "gpio permission", f"{who.name} may not open {', '.join(c.name for c in denied)} "
                      f"({_owner(denied[0])})", fix=f"sudo adduser {who.name} {group}")
    return Result(OK, "gpio permission", f"{who.name} may open {', '.join(c.name for c in chips)}")


def check_broker(config, timeout_s: float = 5.0) -> list[Result]:
    """Connect once with the configured host, port, TLS and credentials."""
    if not config.mqtt.host:
        return [Result(WARN, "broker", "no broker configured: events are kept in the night record only, nothing "
                       "reaches Home Assistant", fix="set mqtt.host (and username/password_file) in the configuration")]
    from service.mqtt.connection import insecure_credentials
    from service.mqtt.oneshot import check_broker as connect_once

    try:
        ok, message = connect_once(config, timeout=timeout_s)
    except NightcrampError as exc:
        ok, message = False, str(exc)
    results = [Result(OK if ok else FAIL, "broker", message,
                      fix="" if ok else "correct the [mqtt] section, then: sudo systemctl reload nightcramp")]
    if insecure_credentials(config):
        results.append(Result(WARN, "broker security", f"the password travels unencrypted to {config.mqtt.host}",
                              fix="set mqtt.tls = true (port 8883) on a broker with TLS"))
    return results


def check_files(config, who: Identity) -> Result:
    """TLS and password files exist, are readable by the service user and visible to the hardened unit."""
    m = config.mqtt
    named = {"mqtt.password_file": m.password_file, "mqtt.ca_file": m.ca_file,
             "mqtt.cert_file": m.cert_file, "mqtt.key_file": m.key_file}
    named = {k: v for k, v in named.items() if v}
    if not named:
        return Result(NA, "tls/password files", "none configured")
    problems, details = [], []
    for key, value in named.items():
        path = Path(value)
        if not path.exists():
            problems.append(f"{key}: {path} does not exist")
        elif path.is_dir():
            problems.append(f"{key}: {path} is a directory")
        elif not who.can(path):
            problems.append(f"{key}: {who.name} cannot read {path} ({_owner(path)})")
        else:
            details.append(f"{key}: {path} ({_owner(path)})")
        if str(path).startswith(("/home/", "/root/")) and who.name == SERVICE_USER:
            problems.append(f"{key}: {path} is under /home or /root, which the service cannot see (ProtectHome=yes)")
    if problems:
        return Result(FAIL, "tls/password files", "; ".join(problems), details=tuple(details),
                      fix=f"keep them in /etc/nightcramp: sudo chown root:{SERVICE_USER} FILE && sudo chmod 0640 FILE")
    return Result(OK, "tls/password files", f"{len(named)} readable by {who.name}", details=tuple(details))


def check_state_dir(config, who: Identity) -> Result:
    """The night record's directory is (or can be made) writable by the service user."""
    path = config.state_dir
    if who.name == SERVICE_USER and config.storage.state_dir and Path(path) != SERVICE_STATE_DIR:
        return Result(WARN, "state directory", f"{path} is outside {SERVICE_STATE_DIR}: the unit's "
                      "ProtectSystem=strict makes it read-only for the service",
                      fix="leave storage.state_dir empty, or: sudo systemctl edit nightcramp and add "
                          f"ReadWritePaths={path}")
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if who.can(probe, read=True, write=True) and (probe.is_dir()):
        where = "writable" if probe == Path(path) else f"can be created under {probe}"
        return Result(OK, "state directory", f"{path} {where}")
    if who.name == SERVICE_USER and Path(path) == SERVICE_STATE_DIR and not Path(path).exists():
        return Result(OK, "state directory", f"{path} is created by systemd (StateDirectory=) when the service starts")
    return Result(FAIL, "state directory", f"{who.name} cannot write {path}" + (f" ({_owner(probe)})" if probe.exists() else ""),
                  fix=f"sudo chown {who.name} {path} (or set storage.state_dir to a directory it owns)")


LOW_SPACE_BYTES = 50 * 1024 * 1024  # below this, a year of nights and the outbox may not fit


def check_storage(config) -> list[Result]:
    """Free space in the state directory, and whether the night record and the outbox open cleanly.

    Read-only: the files are opened ``mode=ro`` and checked with SQLite's
    ``quick_check``; nothing is created or set aside (the service does that
    at its start, docs/reliability.md).
    """
    import sqlite3

    from service.mqtt.outbox import FILENAME as OUTBOX_NAME
    from service.night.store import DB_NAME, SCHEMA_VERSION
    from service.storagefault import set_aside_files

    state = Path(config.state_dir)
    results: list[Result] = []
    probe = state
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        st = os.statvfs(probe)
        free = st.f_bavail * st.f_frsize
        ro = bool(st.f_flag & os.ST_RDONLY)
    except OSError as exc:
        return [Result(FAIL, "storage", f"cannot look at {probe}: {exc.strerror}")]
    if ro:
        results.append(Result(FAIL, "storage space", f"{probe} is on a read-only filesystem (a failing SD card "
                              "turns read-only): alerts go on, nothing is recorded",
                              fix="check the card (dmesg), then reboot; replace the card if it happens again"))
    elif free < LOW_SPACE_BYTES:
        results.append(Result(WARN, "storage space", f"{free // (1024 * 1024)} MB free under {probe}",
                              fix="free some space (sudo journalctl --vacuum-size=50M, apt clean)"))
    else:
        results.append(Result(OK, "storage space", f"{free // (1024 * 1024)} MB free under {probe}"))
    for name, what in ((DB_NAME, "night record"), (OUTBOX_NAME, "outbox")):
        path = state / name
        aside = set_aside_files(path)
        note = (f"; {len(aside)} damaged file(s) set aside, the latest {aside[-1].name}"
                + (" (read it: nightcramp log --record FILE)" if name == DB_NAME else "")) if aside else ""
        if not path.exists():
            results.append(Result(OK if not aside else WARN, what, f"{path} not created yet{note}"))
            continue
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)
            try:
                check = db.execute("PRAGMA quick_check(1)").fetchone()[0]
                version = db.execute("PRAGMA user_version").fetchone()[0]
            finally:
                db.close()
        except sqlite3.OperationalError as exc:
            results.append(Result(WARN, what, f"cannot read {path}: {exc}{note}",
                                  fix="run doctor as the service user (sudo -u nightcramp nightcramp doctor)"))
            continue
        except sqlite3.DatabaseError as exc:
            check, version = str(exc), 0
        if check != "ok":
            results.append(Result(WARN, what, f"{path} is damaged ({' '.join(str(check).split())}){note}",
                                  fix="the service sets it aside at its next start and begins a fresh one: "
                                      "sudo systemctl restart nightcramp"))
        elif name == DB_NAME and version > SCHEMA_VERSION:
            results.append(Result(WARN, what, f"{path} is from a newer nightcramp (schema {version}){note}",
                                  fix="upgrade nightcramp, or the service sets the file aside and starts afresh"))
        else:
            results.append(Result(WARN if aside else OK, what, f"{path} opens cleanly{note}"))
    return results


def check_tuning(config) -> Result:
    """Which per-sleeper tuning is in effect, and how much the kept snippets take (docs/learning.md)."""
    from service.learning.active import status
    from service.learning.snippets import SnippetStore
    from service.learning.summary import tally

    store = SnippetStore(config.state_dir)
    snippets = store.list()
    counts = tally(snippets)
    kept = (f"; {counts['snippets']} snippets kept ({sum(s.size for s in snippets) / 1e6:.1f} of "
            f"{config.snippets.max_total_mb:g} MB), {counts['labelled_alarms']} of {counts['alarms']} alarms labelled")
    return Result(OK, "tuning", (status(config) or "none: the preset's settings") + kept)


def check_time_sync(flag: Path = TIMESYNC_FLAG) -> Result:
    """Wall time is NTP-synchronised (a Pi has no RTC: before sync, event times can be off by days)."""
    if flag.exists():
        return Result(OK, "time", "synchronised (systemd-timesyncd)")
    if shutil.which("timedatectl"):
        try:
            out = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                                 capture_output=True, text=True, timeout=5)
            if out.returncode == 0 and out.stdout.strip() == "yes":
                return Result(OK, "time", "synchronised (timedatectl)")
        except (OSError, subprocess.TimeoutExpired):
            pass
    return Result(WARN, "time", "the clock is not known to be synchronised: event and log times may be wrong "
                  "(durations are still right)",
                  fix="connect to the network and: sudo timedatectl set-ntp true")


def _systemctl(*args: str) -> str | None:
    try:
        out = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip()


def service_active() -> bool:
    return bool(shutil.which("systemctl")) and _systemctl("is-active", UNIT) == "active"


def check_unit() -> Result:
    """The unit is installed and enabled (starts at boot)."""
    if not shutil.which("systemctl"):
        return Result(NA, "service", "systemctl not found: not a systemd system")
    enabled = _systemctl("is-enabled", UNIT)
    if enabled in (None, "", "not-found") or (enabled or "").startswith("Failed"):
        return Result(WARN, "service", f"{UNIT} is not installed", fix="sudo make install")
    if enabled != "enabled":
        return Result(WARN, "service", f"{UNIT} is {enabled}: it will not start at boot",
                      fix="sudo systemctl enable --now nightcramp")
    active = _systemctl("is-active", UNIT) or "unknown"
    if active == "active":
        return Result(OK, "service", f"{UNIT} enabled and running")
    return Result(FAIL if active == "failed" else WARN, "service", f"{UNIT} enabled but {active}",
                  fix="journalctl -u nightcramp -n 50 shows why; sudo systemctl restart nightcramp")


# ---------------------------------------------------------------- running


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)

    def add(self, result: Result | list[Result] | None) -> None:
        if result is None:
            return
        self.results.extend(result if isinstance(result, list) else [result])

    @property
    def failed(self) -> bool:
        return any(r.status == FAIL for r in self.results)


def run_checks(config_path: str | None, simulate: bool = False, broker_timeout_s: float = 5.0,
               who: Identity | None = None, dev_dir: str = "/dev") -> Report:
    """Every check, in the order a user would fix things."""
    report = Report()
    result, config = check_config(config_path)
    report.add(result)
    who = who or service_identity()
    report.add(check_config_secrecy(config, who))
    gpio_wanted = any(p is not None for p in (config.gpio.button_pin, config.gpio.led_pin, config.gpio.buzzer_pin))
    bus_number = config.accelerometer.i2c_bus

    with ExitStack() as stack:
        bus = None
        if simulate:
            hardware = stack.enter_context(open_hardware(config, SimOptions(cramps=0, room_c=EMULATED_ROOM_C),
                                                         clock=SystemClock()))
            bus, w1_dir = hardware.bus, hardware.w1_devices
            report.add(Result(NA, "i2c enabled", f"emulated I2C bus {bus_number} (--simulate)"))
            pin_factory = MockFactory(pin_class=MockPWMPin)
            stack.callback(pin_factory.close)
        else:
            pin_factory = None
            w1_dir = config.temperature.w1_devices
            node_results = check_i2c_device(bus_number, who, dev_dir)
            report.add(node_results)
            report.add(check_groups(who, gpio_wanted))
            if all(r.status == OK for r in node_results):
                try:
                    bus = stack.enter_context(open_hardware(config)).bus
                except NightcrampError as exc:
                    report.add(Result(FAIL, "i2c open", f"cannot open I2C bus {bus_number}: {exc}",
                                      fix=I2C_ENABLE_HINT))
        if not simulate and service_active():
            # Probing would reconfigure the chips under the running sampler.
            report.add(Result(NA, "sensors", "the service is running and owns the sensors; not probing them",
                              fix="to probe them: sudo systemctl stop nightcramp; nightcramp doctor; "
                                  "sudo systemctl start nightcramp"))
        else:
            if bus is not None:
                report.add(check_accelerometers(config, bus))
            else:
                report.add(Result(FAIL, "accelerometer", "not checked: the I2C bus is not usable (see above)"))
            report.add(check_thermometer(config, bus, w1_dir))
            report.add(check_gpio(config, pin_factory))
            if gpio_wanted and not simulate:
                report.add(check_gpio_access(who, dev_dir))
    report.add(check_broker(config, broker_timeout_s))
    report.add(check_files(config, who))
    report.add(check_state_dir(config, who))
    report.add(check_storage(config))
    report.add(check_tuning(config))
    report.add(check_time_sync())
    report.add(check_unit())
    return report


def format_result(result: Result) -> str:
    lines = [f"{result.status:<5} {result.name}: {result.message}"]
    lines += [f"        {d}" for d in result.details]
    if result.fix and result.status != OK:
        lines.append(f"        fix: {result.fix}")
    return "\n".join(lines)


def _configured_simulated(config_path) -> bool:
    """The configuration runs the try-it mode (``device.simulated``): check the emulated hardware, as the service uses."""
    from service import config as cfg

    try:
        return cfg.load(config_path).device.simulated
    except (ConfigError, OSError):
        return False  # the config check reports it


def cmd_doctor(args: argparse.Namespace) -> int:
    """``nightcramp doctor [--simulate] [--config F]``: 0 when nothing FAILs, 2 when the configuration does, else 1."""
    who = service_identity()
    if not args.verbose:
        # The drivers (and the simulated world) log each chip they set up; the report below says it better.
        logging.getLogger("firmware").setLevel(logging.WARNING)
        logging.getLogger("service.sim").setLevel(logging.WARNING)
    simulate = args.simulate or _configured_simulated(args.config)
    report = run_checks(args.config, simulate=simulate, who=who)
    out = sys.stdout
    out.write(f"nightcramp doctor (checking as user {who.name}"
              + (", emulated hardware" if simulate else "") + ")\n")
    for result in report.results:
        out.write(format_result(result) + "\n")
    fails = sum(r.status == FAIL for r in report.results)
    warns = sum(r.status == WARN for r in report.results)
    out.write(f"{fails} failed, {warns} warning{'s' if warns != 1 else ''}\n")
    if any(r.status == FAIL and r.name == "config" for r in report.results):
        return 2  # a configuration error is bad usage, whatever else failed
    return 1 if fails else 0
