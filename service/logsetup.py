"""Logging, configured once: stderr, one line per record, journald-friendly.

Under systemd (stderr is the stream ``JOURNAL_STREAM`` names) the time stamp is
left to the journal and every line starts with a ``<N>`` syslog priority
prefix, which journald reads (``SyslogLevelPrefix=``, on by default), so
``journalctl -p warning`` shows the problems.  That holds for every path to
stderr, not only the logging module: :func:`install_stderr_priorities` wraps
``sys.stderr`` so a line written without a prefix (a fatal ``error: ...``, a
config error, argparse's usage error, a traceback) gets ``<3>`` (error);
what is only information goes through :func:`say`, which marks it ``<6>``.
A multi-line record (a traceback logged with ``log.exception``) carries its
prefix on each line, since journald splits the stream at newlines.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import TextIO

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}
ERR = 3
WARNING = 4
INFO = 6
_PREFIXED = re.compile(r"^<[0-7]>")


def under_journal(stream: TextIO | None = None) -> bool:
    """Is ``stream`` (stderr) connected to the journal?  ``JOURNAL_STREAM`` is ``<device>:<inode>`` of that stream.

    Comparing the inode keeps a ``nightcramp`` run by hand from a shell that
    inherited ``JOURNAL_STREAM`` (but whose stderr is the terminal) plain.
    """
    value = os.environ.get("JOURNAL_STREAM", "")
    if not value:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        dev, ino = (int(x) for x in value.split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def prefixed(text: str, priority: int) -> str:
    """Every line of ``text`` with a ``<priority>`` prefix, unless it already has one."""
    return "\n".join(line if _PREFIXED.match(line) else f"<{priority}>{line}" for line in text.split("\n"))


class PriorityStream:
    """A text stream in front of stderr that starts each complete line with a syslog prefix it lacks.

    Lines are held until their newline, so a line written in pieces gets one
    prefix.  Everything else (``fileno``, ``isatty``, ...) is the wrapped stream's.
    """

    def __init__(self, stream: TextIO, default: int = ERR):
        self.stream = stream
        self.default = default
        self._partial = ""

    def write(self, text: str) -> int:
        data = self._partial + text
        lines = data.split("\n")
        self._partial = lines.pop()
        if lines:
            self.stream.write(prefixed("\n".join(lines), self.default) + "\n")
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self.stream.write(prefixed(self._partial, self.default) + "\n")
            self._partial = ""
        self.stream.flush()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.stream.close()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def install_stderr_priorities() -> None:
    """Under the journal, make every unprefixed line on stderr an error (``<3>``); elsewhere do nothing."""
    if isinstance(sys.stderr, PriorityStream) or not under_journal(sys.stderr):
        return
    sys.stderr = PriorityStream(sys.stderr)


def say(text: str, priority: int = INFO) -> None:
    """Print ``text`` on stderr as information (or at ``priority``): plain in a terminal, prefixed for the journal."""
    stream = sys.stderr
    journal = isinstance(stream, PriorityStream) or under_journal(stream)
    print(prefixed(text, priority) if journal else text, file=stream)


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return prefixed(super().format(record), _PRIORITY.get(record.levelno, 6))


def setup(verbosity: int = 0, quiet: bool = False) -> None:
    """Configure the root logger: INFO by default, DEBUG with ``-v``, WARNING with ``quiet``."""
    level = logging.DEBUG if verbosity > 0 else (logging.WARNING if quiet else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    if isinstance(sys.stderr, PriorityStream) or under_journal(sys.stderr):
        handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # paho and matplotlib are chatty at DEBUG; keep them at INFO unless -vv.
    for noisy in ("matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbosity > 1 else logging.WARNING)
