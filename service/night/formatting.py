"""How the morning log and the history write times, durations and numbers (shared, so both read alike).

Local times are ``HH:MM``, with the zone abbreviation on the repeated hour of
a fall-back night; durations read "45 s", "4 min 05 s", "1 h 02 min"; JSON
times are ISO 8601 to the second with their offset.
"""

from __future__ import annotations

import re
import textwrap
from datetime import datetime


def iso(when: datetime | None) -> str | None:
    """ISO 8601 to the second, with the offset (None stays None in JSON)."""
    return None if when is None else when.isoformat(timespec="seconds")


def round_or_none(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def hm(when: datetime | None) -> str:
    """Local HH:MM, with the zone abbreviation on the repeated hour of a fall-back night."""
    if when is None:
        return "-"
    text = when.strftime("%H:%M")
    if when.fold or _ambiguous(when):
        text += f" {when.tzname()}"
    return text


def _ambiguous(when: datetime) -> bool:
    other = when.replace(fold=1 - when.fold)
    return other.utcoffset() != when.utcoffset()


def duration(seconds: float | None) -> str:
    """A duration in seconds as a person says it, rounded to the second ("-" for none)."""
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s" if s else f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h} h {m:02d} min"


def plural(count: int, one: str, many: str | None = None) -> str:
    """``"1 posture change"``, ``"3 posture changes"``: the count with its noun in the right number."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def wrap(text: str, width: int = 78, **kwargs) -> list[str]:
    """Wrap prose for a terminal; ``kwargs`` go to :func:`textwrap.wrap` (indents)."""
    # Keep a number with its unit ("35 s", "19.5 °C") on one line.
    glued = re.sub(r"(\d) (s|min|h|°C)\b", "\\1\u00a0\\2", text)
    lines = textwrap.wrap(glued, width, break_on_hyphens=False, **kwargs)
    return [line.replace("\u00a0", " ") for line in lines] or [""]
