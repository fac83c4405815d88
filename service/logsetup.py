"""Logging, configured once: stderr, one line per record, journald-friendly.

Under systemd (``JOURNAL_STREAM`` set) the time stamp is left to the journal and
each line starts with a ``<N>`` syslog priority prefix so ``journalctl -p`` works.
"""

from __future__ import annotations

import logging
import os
import sys

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prio = _PRIORITY.get(record.levelno, 6)
        return f"<{prio}>{super().format(record)}"


def setup(verbosity: int = 0, quiet: bool = False) -> None:
    """Configure the root logger: INFO by default, DEBUG with ``-v``, WARNING with ``quiet``."""
    level = logging.DEBUG if verbosity > 0 else (logging.WARNING if quiet else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
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
