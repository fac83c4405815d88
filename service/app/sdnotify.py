"""The systemd notify protocol (``sd_notify``) and a progress-gated watchdog.

systemd gives a ``Type=notify`` service the path of a datagram socket in
``$NOTIFY_SOCKET``; the service sends newline-separated ``KEY=VALUE`` lines to
it: ``READY=1`` once it works, ``STATUS=...`` for ``systemctl status``,
``STOPPING=1`` on shutdown and ``WATCHDOG=1`` at least once per
``$WATCHDOG_USEC`` microseconds, else systemd kills and restarts it
(``WatchdogSec=`` in the unit).  Written here in a few lines rather than taken
from a package so that failures are logged instead of silently swallowed.

Every function is a no-op returning ``False`` when not run under systemd, so
``nightcramp run`` behaves the same in a terminal.

:class:`Watchdog` pings only while the sampling loop makes progress: a thread
that merely sends ``WATCHDOG=1`` on a timer would keep a hung sampler alive all
night, which is exactly the failure the watchdog exists to catch.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Callable, Mapping

log = logging.getLogger(__name__)

ProgressFn = Callable[[], int]


def notify(state: str) -> bool:
    """Send ``state`` (``KEY=VALUE`` lines) to systemd; ``True`` if it was sent.

    Never raises: the service must not die because systemd went away.  Problems
    are logged at debug level.
    """
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address[0] == "@":  # abstract namespace socket (sd_notify(3))
        address = "\0" + address[1:]
    elif address[0] != "/":
        log.debug("NOTIFY_SOCKET %r is neither a path nor an abstract name; not notifying", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
        return True
    except (OSError, UnicodeError) as exc:
        log.debug("sd_notify %r failed: %s", state.split("\n", 1)[0], exc)
        return False


def _one_line(text: str) -> str:
    # A newline would start a new KEY=VALUE assignment.
    return " ".join(str(text).split())


def ready(status: str | None = None) -> bool:
    """Tell systemd the service is up (sensors opened); ``systemctl start`` returns then."""
    return notify("READY=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))


def status(text: str) -> bool:
    """Set the one-line status shown by ``systemctl status nightcramp``."""
    return notify(f"STATUS={_one_line(text)}")


def reloading() -> bool:
    """Tell systemd a configuration reload (SIGHUP) began; send :func:`ready` when done.

    ``MONOTONIC_USEC`` is what systemd >= 253 matches the reload against.
    """
    return notify(f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")


def stopping(status: str | None = None) -> bool:
    """Tell systemd the service is shutting down (flushing the store and outbox)."""
    return notify("STOPPING=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))


def watchdog() -> bool:
    """Send one keep-alive ``WATCHDOG=1``.  Prefer :class:`Watchdog`, which checks progress first."""
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """The watchdog timeout in seconds (``WatchdogSec=``), or ``None`` when no watchdog is armed.

    ``WATCHDOG_PID``, when set, must be this process: a child started by the
    daemon must not keep its parent alive.
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            log.debug("WATCHDOG_PID %r is not a number", pid)
            return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1e6 if value > 0 else None


class Watchdog:
    """Pings systemd's watchdog only while every progress counter keeps advancing.

    ``progress`` is a callable returning a counter that grows with each pass of
    the sampling loop, or a mapping of name -> callable when there are several
    loops (one sampler per leg): all must advance between two pings.  The
    counter must grow on every pass, failed drains included
    (``sampler.stats.drains + sampler.stats.errors``, not ``sampler.progress``
    which counts successful drains only): an unplugged sensor is a sensor
    fault the service reports and rides out, and restarting cannot plug it
    back in.  What the watchdog catches is a loop that stopped: a dead thread
    or an I2C transfer that never returns.

    A thread checks every ``interval_s / 2`` seconds (half the watchdog timeout,
    as sd_watchdog_enabled(3) advises).  When a counter has not moved since the
    last check no ping is sent and the reason is logged once; systemd then kills
    and restarts the service after the timeout.  When progress resumes, pinging
    resumes.
    """

    def __init__(self, progress: ProgressFn | Mapping[str, ProgressFn], interval_s: float | None = None,
                 send: Callable[[], bool] = watchdog):
        self._progress: dict[str, ProgressFn] = dict(progress) if isinstance(progress, Mapping) else {"sampler": progress}
        self.interval_s = watchdog_interval() if interval_s is None else interval_s
        self._send = send
        self._last = self._read()
        self._stalled: list[str] = []
        self._stalled_since: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checks = 0  # completed checks (tests wait on it instead of on time)
        self.pings = 0

    @property
    def enabled(self) -> bool:
        """Whether systemd armed a watchdog for this process."""
        return bool(self.interval_s)

    @property
    def stalled(self) -> list[str]:
        """Names of the loops that made no progress at the last check (empty when all is well)."""
        return list(self._stalled)

    def _read(self) -> dict[str, int | None]:
        values: dict[str, int | None] = {}
        for name, fn in self._progress.items():
            try:
                values[name] = int(fn())
            except Exception:  # a broken counter counts as no progress, never kills the watchdog
                log.debug("progress counter %s failed", name, exc_info=True)
                values[name] = None
        return values

    def check(self) -> bool:
        """Compare the counters with the last check; ping if all advanced.  Returns whether it pinged."""
        now = self._read()
        stalled = [name for name, value in now.items() if value is None or value == self._last.get(name)]
        self._last = now
        self._stalled = stalled
        pinged = False
        if stalled:
            if self._stalled_since is None:
                self._stalled_since = time.monotonic()
                log.error("no progress from %s since the last watchdog check; withholding the systemd watchdog "
                          "ping so the service is restarted if it does not recover", ", ".join(stalled))
        else:
            if self._stalled_since is not None:
                log.warning("%s progressing again after %.1f s; watchdog pings resume",
                            ", ".join(self._progress), time.monotonic() - self._stalled_since)
                self._stalled_since = None
            pinged = self._send()
            if pinged:
                self.pings += 1
        self.checks += 1
        return pinged

    def start(self) -> bool:
        """Start the checking thread; ``False`` (and nothing started) when no watchdog is armed."""
        if not self.enabled:
            log.debug("no systemd watchdog armed (WATCHDOG_USEC unset)")
            return False
        if self._thread is not None:
            return True
        self._stop.clear()
        self._last = self._read()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()
        log.info("systemd watchdog armed: %.1f s, checking sampler progress every %.1f s",
                 self.interval_s, self.interval_s / 2)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s / 2):
            self.check()

    def stop(self) -> None:
        """Stop the thread (on shutdown, after :func:`stopping`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> "Watchdog":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
