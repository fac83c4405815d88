"""Recording format v1: the CSV that ``simulate``, ``record`` and ``replay`` share.

The format (docs/signals.md, "Recording format (v1)"): UTF-8 CSV, gzip when the name ends
in ``.gz``; lines starting with ``#`` are comments (anywhere); a header
``t,ax,ay,az`` optionally followed by ``,temp_c``; ``t`` in seconds since the
start (increasing, may jitter and have gaps), ``ax, ay, az`` in g in the sensor
frame, ``temp_c`` the room temperature in C, empty on most rows.  An optional
``# start: <ISO 8601 with offset>`` comment gives the wall-clock start, and an optional
``# detector: settled`` (or ``# detector: unsettled (REASON)``) the state the service's detector
was in at the first sample (a kept snippet: replay then starts its detector in that state).

Reading is strict because a detector fed a silently mangled night gives
silently wrong answers: every malformed file raises
:class:`firmware.errors.RecordingError` naming the file and the line.  It is
also fast: an 8-hour 50 Hz night (1.44 M rows) is parsed by one vectorised
numpy pass per run of data lines; the line-by-line parser only runs when that
pass fails, to find and name the bad line (and is the reference semantics: the
fast pass is only trusted when it agrees in shape and value).

Labels (the ground truth of simulated nights) live beside the recording in
``NAME.labels.json``: ``{"episodes": [{"onset": s, "end": s}, ...], "hours": h}``.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import re
import warnings
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from firmware.errors import RecordingError

log = logging.getLogger(__name__)

HEADER_ACCEL = ("t", "ax", "ay", "az")
HEADER_TEMP = HEADER_ACCEL + ("temp_c",)
START_PREFIX = "start:"
DETECTOR_PREFIX = "detector:"
_DETECTOR_RE = re.compile(r"(settled)|unsettled(?:\s*\(\s*([a-z][a-z_]*)\s*\))?")


def detector_comment(settled: bool, reason: str | None = None) -> str:
    """The comment (without ``# ``) that records the detector's state at a recording's first sample:
    ``detector: settled`` or ``detector: unsettled (REASON)`` (``start``, ``walking``, ``handling``)."""
    if settled:
        return f"{DETECTOR_PREFIX} settled"
    reason = str(reason or "").strip()
    if re.fullmatch(r"[a-z][a-z_]*", reason):
        return f"{DETECTOR_PREFIX} unsettled ({reason})"
    return f"{DETECTOR_PREFIX} unsettled"



@dataclass
class Recording:
    """A parsed recording.

    ``t`` (n,) seconds since the start, strictly increasing; ``accel`` (n, 3)
    in g, sensor frame; ``temp_t``/``temp_c`` the rows that carried a room
    temperature (seconds, C); ``start_wall`` the aware wall-clock start or
    None (then the whole recording counts as night); ``comments`` the comment
    lines without the leading ``#`` and one space; ``settled_at_start`` what the
    ``# detector:`` comment says (True: settled, False: unsettled, None: nothing,
    replay starts its detector fresh) and ``unsettled_reason`` its reason.
    """

    t: np.ndarray
    accel: np.ndarray
    temp_t: np.ndarray
    temp_c: np.ndarray
    start_wall: datetime | None = None
    comments: list[str] = field(default_factory=list)
    has_temp_column: bool = True
    truncated: str | None = None  # a gzip cut off early: where the intact part ends (None: the file is whole)
    settled_at_start: bool | None = None
    unsettled_reason: str | None = None

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @property
    def duration_s(self) -> float:
        return float(self.t[-1] - self.t[0]) if len(self) > 1 else 0.0


def _is_gzip_name(path) -> bool:
    return str(path).endswith(".gz")


def _fmt_rows(t: np.ndarray, accel: np.ndarray, temp: np.ndarray | None) -> str:
    """CSV rows: t with 4 decimals (0.1 ms), g with 5 (10 ug, below every chip's LSB)."""
    n = t.shape[0]
    if n == 0:
        return ""
    flat = np.empty((n, 4), dtype=float)
    flat[:, 0] = t
    flat[:, 1:] = accel
    if temp is None or not np.any(np.isfinite(temp)):
        return ("%.4f,%.5f,%.5f,%.5f,\n" * n) % tuple(flat.ravel().tolist())
    parts = []
    start = 0
    for i in np.flatnonzero(np.isfinite(temp)):
        if i > start:
            parts.append(("%.4f,%.5f,%.5f,%.5f,\n" * (i - start)) % tuple(flat[start:i].ravel().tolist()))
        parts.append("%.4f,%.5f,%.5f,%.5f,%.2f\n" % (*flat[i].tolist(), float(temp[i])))
        start = i + 1
    if start < n:
        parts.append(("%.4f,%.5f,%.5f,%.5f,\n" * (n - start)) % tuple(flat[start:].ravel().tolist()))
    return "".join(parts)


class RecordingWriter:
    """Writes recording format v1 (always with the ``temp_c`` column).

    ``start_wall``, when given, must be timezone-aware: it is written as
    ``# start: <ISO 8601 with offset>`` so replay knows the night window.
    Rows are buffered by the file object; nothing is written per sample.
    """

    def __init__(self, path, start_wall: datetime | None = None, *, compresslevel: int = 6):
        self.path = Path(path)
        if start_wall is not None and start_wall.utcoffset() is None:
            raise ValueError("start_wall must be timezone-aware (the recording stores the UTC offset)")
        if _is_gzip_name(self.path):
            self._fh = gzip.open(self.path, "wt", encoding="utf-8", newline="\n", compresslevel=compresslevel)
        else:
            self._fh = open(self.path, "w", encoding="utf-8", newline="\n")
        self._pending_temp: float | None = None
        self._last_t = -math.inf
        self.rows = 0
        self._header_written = False
        if start_wall is not None:
            self._fh.write(f"# {START_PREFIX} {start_wall.isoformat()}\n")

    def _write_header(self) -> None:
        # Deferred so comments written before the first rows sit above the header.
        if not self._header_written:
            self._fh.write(",".join(HEADER_TEMP) + "\n")
            self._header_written = True

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def comment(self, text: str) -> None:
        """Write ``# text`` (one line per line of ``text``); before the first rows it goes above the header."""
        for line in str(text).splitlines() or [""]:
            self._fh.write(f"# {line}\n")

    def add_temp(self, temp_c: float) -> None:
        """Attach a room temperature (C) to the next row written."""
        self._pending_temp = float(temp_c)

    def write(self, t: np.ndarray, accel_g: np.ndarray, temp_c: np.ndarray | None = None) -> None:
        """Append rows: ``t`` (n,) seconds, ``accel_g`` (n, 3) g, optional ``temp_c`` (n,) with NaN = empty.

        Raises ValueError on shapes that disagree, non-finite values or a ``t``
        that does not increase: a writer that produced an unreadable file would
        only move the error to the morning.
        """
        t = np.asarray(t, dtype=float).reshape(-1)
        accel_g = np.asarray(accel_g, dtype=float)
        n = t.shape[0]
        if accel_g.shape != (n, 3):
            raise ValueError(f"accel_g has shape {accel_g.shape}, expected ({n}, 3)")
        if n == 0:
            return
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(accel_g))):
            raise ValueError("t and accel_g must be finite")
        if np.abs(accel_g).max() > MAX_ABS_G or np.abs(t).max() > MAX_T_S:
            raise ValueError(f"accel_g beyond +-{MAX_ABS_G:g} g or t beyond {MAX_T_S:g} s: the reader would refuse it")
        # Compare what will be read back: 4 decimals.
        tr = np.round(t, 4)
        if tr[0] <= self._last_t or (n > 1 and np.any(np.diff(tr) <= 0)):
            raise ValueError("t must be strictly increasing (at 0.1 ms resolution)")
        temp = None
        if temp_c is not None:
            temp = np.asarray(temp_c, dtype=float).reshape(-1)
            if temp.shape[0] != n:
                raise ValueError(f"temp_c has {temp.shape[0]} values, expected {n}")
        if self._pending_temp is not None:
            temp = np.full(n, np.nan) if temp is None else temp.copy()
            if not np.isfinite(temp[0]):
                temp[0] = self._pending_temp
            self._pending_temp = None
        self._write_header()
        self._fh.write(_fmt_rows(t, accel_g, temp))
        self._last_t = float(tr[-1])
        self.rows += n

    def flush(self) -> None:
        self._write_header()
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._write_header()
            self._fh.close()


# --------------------------------------------------------------------------- reading

# Bytes a data run may hold for the vectorised pass (digits . , - + e E \n);
# anything else (spaces, "nan", letters, NUL, non-ASCII) sends the run to the
# line-by-line parser, which either accepts it or names the bad line.
_SLOW_BYTES = np.ones(256, dtype=bool)
_SLOW_BYTES[np.frombuffer(b"0123456789.,-+eE\n", dtype=np.uint8)] = False
_POW10 = 10.0 ** np.arange(23)
_MAX_DIGITS = 15  # a mantissa of 15 digits is exact in float64 (< 2**53)
_PIECE_BYTES = 1 << 18  # vectorised pass works on ~256 kB at a time (temporaries stay in cache)
_EMPTY_LINE = re.compile(rb"\n[ \t]*\n")
MAX_ABS_G = 64.0
"""Largest acceleration accepted (g): no accelerometer chip measures beyond +-64 g (the common ones stop at 16)."""
MAX_T_S = 31 * 86400.0
"""Largest ``t`` accepted (s): a month, more than any recording; beyond it replay would walk night windows for ever."""
ROOM_TEMP_RANGE_C = (-60.0, 100.0)
"""Room temperatures accepted (C): wider than any thermometer's range (the BME280 measures -40 to 85)."""
MAX_LINE_BYTES = 4096
MAX_LABELS_BYTES = 64 << 20  # a night's labels (with the simulator's timeline) are a few hundred kB at most
"""No valid line comes near this (a data row is under 60 bytes, a comment a few hundred): longer is not a recording."""
READ_BYTES = 1 << 16  # one read from the file or the gzip stream
PIECE_READ_BYTES = 1 << 22  # lines parsed together by read_recording (the vectorised pass likes big runs)


def _fast_table(buf, ncols: int) -> np.ndarray | None:
    """Parse complete data lines (bytes-like ``buf`` ending with b'\\n') into an (n, ncols) float array.

    Returns None when the vectorised pass cannot vouch for the result; the
    caller then uses the line-by-line parser.  Plain decimals are parsed
    exactly: the digits form an integer mantissa m (<= 15 digits, exact in
    float64) and the value is m / 10**decimals, one correctly rounded division,
    so the result equals Python's float() bit for bit.  Exponent notation goes
    through numpy's strtod-based parser.  Empty fields come back as NaN.
    """
    raw = np.frombuffer(buf, dtype=np.uint8)
    counts = np.bincount(raw, minlength=256)  # one pass answers: foreign bytes? exponents? signs?
    if counts[_SLOW_BYTES].any():
        return None
    is_sep = (raw == 44) | (raw == 10)
    sep_pos = np.flatnonzero(is_sep)
    nf = sep_pos.shape[0]
    if nf == 0 or nf % ncols:
        return None
    kinds = raw[sep_pos].reshape(-1, ncols)
    if not ((kinds[:, -1] == 10).all() and (kinds[:, :-1] == 44).all()):
        return None  # a line with the wrong number of fields
    starts = np.empty(nf, dtype=np.int64)
    starts[0] = 0
    starts[1:] = sep_pos[:-1] + 1
    ends = sep_pos
    lengths = ends - starts
    empty = lengths == 0
    if counts[101] or counts[69]:  # 'e'/'E': exponent notation, numpy's strtod parser
        if empty.any():
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                values = np.fromstring(bytes(buf[:-1]).replace(b"\n", b",").decode("ascii"), dtype=float, sep=",")
            except (ValueError, DeprecationWarning):
                return None
        return values.reshape(-1, ncols) if values.shape[0] == nf else None
    first = raw[starts]  # for an empty field: its own separator
    signed = (first == 45) | (first == 43)
    if counts[45] + counts[43] != np.count_nonzero(signed):
        return None  # a sign that is not the first character of its field
    has_dot = np.zeros(nf, dtype=bool)
    decimals = np.zeros(nf, dtype=np.int64)
    if counts[46]:
        field_of = np.cumsum(is_sep, dtype=np.int32)  # for a non-separator byte: its field index
        dot_pos = np.flatnonzero(raw == 46)
        dot_field = field_of[dot_pos]
        if dot_field.shape[0] > 1 and (np.diff(dot_field) == 0).any():
            return None  # two dots in one field
        has_dot[dot_field] = True
        decimals[dot_field] = ends[dot_field] - dot_pos - 1
    # Only digits are left besides one leading sign and one dot (checked above).
    ndigits = lengths - signed - has_dot
    if ndigits.max(initial=0) > _MAX_DIGITS or ((ndigits == 0) & ~empty).any():
        return None  # too long for the exact path, or a field of only '-', '.'
    digit = raw - np.uint8(48)
    dvals = digit[digit < 10]
    # Weight of a digit = digits after it in its field; digits are in field order.
    cum = np.cumsum(ndigits)
    if cum[-1] != dvals.shape[0]:
        return None
    weight = np.repeat(cum - 1, ndigits) - np.arange(dvals.shape[0])
    terms = dvals * _POW10[weight]
    mantissa = np.zeros(nf)
    filled = ~empty
    if terms.shape[0]:
        mantissa[filled] = np.add.reduceat(terms, (cum - ndigits)[filled])
    values = mantissa / _POW10[decimals]
    values[first == 45] *= -1.0
    values[empty] = np.nan
    return values.reshape(-1, ncols)


class _Parser:
    """Incremental parser over bytes: comments and header line by line, data lines in runs."""

    def __init__(self, name: str):
        self.name = name
        self.ncols: int | None = None
        self.start_wall: datetime | None = None
        self.detector: tuple[bool, str | None] | None = None  # the ``# detector:`` comment
        self.comments: list[str] = []
        self.last_t = -math.inf

    def error(self, line_no: int | None, msg: str) -> RecordingError:
        where = f"{self.name}, line {line_no}" if line_no else self.name
        return RecordingError(f"{where}: {msg}")

    def _text(self, raw: bytes, line_no: int) -> str:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error(line_no, "not UTF-8 text (binary data?)") from None
        if "\x00" in text:
            raise self.error(line_no, "NUL byte: not a text recording")
        return text

    def _comment(self, line: str, line_no: int) -> None:
        text = line.strip()[1:]
        if text.startswith(" "):
            text = text[1:]
        self.comments.append(text)
        body = text.strip()
        if body.startswith(START_PREFIX) and self.start_wall is None:
            value = body[len(START_PREFIX):].strip()
            try:
                start = datetime.fromisoformat(value)
            except ValueError:
                raise self.error(line_no, f"start time {value[:40]!r} is not ISO 8601") from None
            if start.utcoffset() is None:
                raise self.error(line_no, f"start time {value[:40]!r} has no UTC offset (e.g. +01:00)")
            self.start_wall = start
        elif body.startswith(DETECTOR_PREFIX) and self.detector is None:
            value = body[len(DETECTOR_PREFIX):].strip()
            m = _DETECTOR_RE.fullmatch(value)
            if m is None:
                raise self.error(line_no, f"detector state {value[:40]!r} is not 'settled', 'unsettled' or "
                                          "'unsettled (REASON)'")
            self.detector = (True, None) if m.group(1) else (False, m.group(2))

    def _header(self, line: str, line_no: int) -> None:
        cols = tuple(c.strip() for c in line.split(","))
        if cols == HEADER_ACCEL:
            self.ncols = 4
        elif cols == HEADER_TEMP:
            self.ncols = 5
        else:
            raise self.error(line_no, f"bad header {line.strip()[:60]!r}: expected 't,ax,ay,az' or 't,ax,ay,az,temp_c'")

    def parse_block(self, data: bytes, first_line: int):
        """Parse whole lines of ``data`` (LF or CRLF); returns (t, accel, temp) with temp NaN where empty."""
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        if data and not data.endswith(b"\n"):
            data += b"\n"
        outs = []
        pos = 0
        line_no = first_line
        size = len(data)
        while pos < size:
            end = data.find(b"\n", pos)
            end = size if end < 0 else end
            stripped = data[pos:end].strip()
            if not stripped or stripped.startswith(b"#") or self.ncols is None:
                if stripped:
                    line = self._text(data[pos:end], line_no)
                    if stripped.startswith(b"#"):
                        self._comment(line, line_no)
                    else:
                        self._header(line, line_no)
                pos = end + 1
                line_no += 1
                continue
            # A run of data lines: up to the next comment or blank line.
            stop = size
            hash_at = data.find(b"#", pos)
            if hash_at >= 0:
                nl = data.rfind(b"\n", pos, hash_at)
                if nl >= 0:
                    stop = nl + 1
                else:  # '#' inside the first data line: the run fails on it
                    nl = data.find(b"\n", hash_at)
                    stop = size if nl < 0 else nl + 1
            m = _EMPTY_LINE.search(data, pos, stop)
            if m is not None:
                stop = m.start() + 1
            outs.append(self._parse_run(data, pos, stop, line_no))
            line_no += data.count(b"\n", pos, stop)
            pos = stop
        if not outs:
            e = np.empty(0)
            return e, np.empty((0, 3)), e
        table = np.concatenate(outs) if len(outs) > 1 else outs[0]
        return table[:, 0].copy(), table[:, 1:4].copy(), table[:, 4].copy()

    def _parse_run(self, data: bytes, pos: int, stop: int, first_line: int) -> np.ndarray:
        """Parse the data lines in ``data[pos:stop]`` (ending in b'\\n') into an (n, 5) table and check t."""
        table = self._fast_run(data, pos, stop)
        if table is None:
            table = self._slow_run(data[pos:stop], first_line)
        self._check_ranges(table, first_line)
        t = table[:, 0]
        if t.shape[0]:
            if t[0] <= self.last_t:
                raise self.error(first_line, f"t={t[0]:g} does not increase (previous t={self.last_t:g})")
            bad = np.flatnonzero(np.diff(t) <= 0)
            if bad.size:
                i = int(bad[0]) + 1
                raise self.error(first_line + i, f"t={t[i]:g} does not increase (previous t={t[i - 1]:g})")
            self.last_t = float(t[-1])
        return table

    def _check_ranges(self, table: np.ndarray, first_line: int) -> None:
        """Refuse values no sensor or night produces; they would only overflow the detector's arithmetic."""
        for cols, lo, hi, what in ((slice(1, 4), -MAX_ABS_G, MAX_ABS_G, "g: beyond any accelerometer's range"),
                                   (slice(0, 1), -MAX_T_S, MAX_T_S, "s: longer than any recording"),
                                   (slice(4, 5), *ROOM_TEMP_RANGE_C, "°C: not a room temperature")):
            part = table[:, cols]
            bad = ~((part >= lo) & (part <= hi)) & ~np.isnan(part)
            if bad.any():
                row, col = map(int, np.argwhere(bad)[0])
                name = HEADER_TEMP[cols.start + col]
                raise self.error(first_line + row, f"{name}={part[row, col]:g} {what} ({lo:g} to {hi:g})")

    def _fast_run(self, data: bytes, pos: int, stop: int) -> np.ndarray | None:
        pieces = []
        view = memoryview(data)  # slices without copying
        while pos < stop:
            cut = data.find(b"\n", min(pos + _PIECE_BYTES, stop - 1), stop) + 1
            piece = _fast_table(view[pos:cut], self.ncols)
            if piece is None:
                return None
            pieces.append(piece)
            pos = cut
        table = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
        if not np.isfinite(table[:, :4]).all():
            return None
        if self.ncols == 4:
            return np.column_stack([table, np.full(table.shape[0], np.nan)])
        if np.isinf(table[:, 4]).any():
            return None
        return table

    def _slow_run(self, run: bytes, first_line: int) -> np.ndarray:
        """Line-by-line parse: the reference semantics, and the one that names the bad line."""
        ncols = self.ncols
        lines = run.split(b"\n")
        lines.pop()  # run ends with b"\n"
        out = np.empty((len(lines), 5))
        for k, raw_line in enumerate(lines):
            line_no = first_line + k
            fields = self._text(raw_line, line_no).split(",")
            if len(fields) != ncols:
                raise self.error(line_no, f"expected {ncols} comma-separated fields, found {len(fields)}")
            if ncols == 4:
                out[k, 4] = np.nan
            for j, name in enumerate(HEADER_TEMP[:ncols]):
                text = fields[j].strip()
                if j == 4 and text == "":
                    out[k, 4] = np.nan
                    continue
                try:
                    if "_" in text or not text.isascii():
                        raise ValueError(text)
                    value = float(text)
                except ValueError:
                    raise self.error(line_no, f"{name} is not a number: {fields[j][:40]!r}") from None
                if not math.isfinite(value):
                    raise self.error(line_no, f"{name} is not finite: {fields[j][:40]!r}")
                out[k, j] = value
        return out


def _open_binary(path: Path):
    if _is_gzip_name(path):
        return gzip.open(path, "rb")
    return open(path, "rb")


_DECOMPRESS_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


def _make_recording(parser: _Parser, t, accel, temp, truncated: str | None = None) -> Recording:
    has = np.isfinite(temp)
    return Recording(
        t=t, accel=accel, temp_t=t[has], temp_c=temp[has],
        start_wall=parser.start_wall, comments=list(parser.comments),
        has_temp_column=parser.ncols == 5, truncated=truncated,
        settled_at_start=parser.detector[0] if parser.detector else None,
        unsettled_reason=parser.detector[1] if parser.detector else None,
    )


def _no_header(parser: _Parser) -> RecordingError:
    return parser.error(None, "no header line 't,ax,ay,az[,temp_c]' (empty file?)")


class _Lines:
    """Whole lines of a recording in pieces of about ``piece_bytes``, in bounded memory.

    Yields ``(data, first_line_no)`` with ``data`` ending in a newline (or
    the file's last line).  A line longer than :data:`MAX_LINE_BYTES` is a
    RecordingError at once, so ``/dev/zero`` or a file of zeros costs one
    piece of memory, not the file.  A gzip stream that ends early (a
    recording cut off by a crash) ends the lines at its last complete one, and
    so does a plain file whose last line has no line end and does not read:
    :attr:`truncated` then says where, for a warning; damaged data (not
    gzip, a bad block) is an error.
    """

    def __init__(self, path: Path, parser: _Parser, piece_bytes: int):
        self.path, self.parser, self.piece_bytes = path, parser, max(piece_bytes, 1)
        self.truncated: str | None = None
        self.in_tail = False
        self.line_no = 1

    def __iter__(self) -> Iterator[tuple[bytes, int]]:
        parser = self.parser
        try:
            fh = _open_binary(self.path)
        except OSError as exc:
            raise parser.error(None, f"cannot read: {exc.strerror or exc}") from None
        carry = b""
        first = True
        with fh:
            while True:
                parts, size, ended, newline = [carry], len(carry), False, False
                # read on until the piece is full and holds a line end: a line longer than a small piece
                # (iter_recording with few rows) would otherwise never be completed (a busy loop)
                while size < self.piece_bytes or not newline:
                    try:
                        got = fh.read1(READ_BYTES)
                    except EOFError as exc:
                        self.truncated = f"the gzip stream ends early (the recording was cut off: {exc})"
                        ended = True
                        break
                    except _DECOMPRESS_ERRORS as exc:
                        raise parser.error(self.line_no, f"damaged gzip data ({exc})") from None
                    except OSError as exc:
                        raise parser.error(self.line_no, f"cannot read: {exc.strerror or exc}") from None
                    if not got:
                        ended = True
                        break
                    parts.append(got)
                    size += len(got)
                    newline = newline or b"\n" in got
                    if not newline and size > MAX_LINE_BYTES:
                        break  # bytes without a line end: refused below, not read on
                data = b"".join(parts)
                if first and data.startswith(b"\xef\xbb\xbf"):
                    data = data[3:]
                first = False
                cut = data.rfind(b"\n") + 1
                data, carry = data[:cut], data[cut:]
                self._check_lengths(data, carry)
                if data:
                    yield data, self.line_no
                    self.line_no += data.count(b"\n")
                if ended:
                    if carry and self.truncated is None:  # a last line without a line end: see parse()
                        self.in_tail = True
                        yield carry, self.line_no
                    return  # in a cut gzip stream the incomplete last line is where it was cut: dropped

    def parse(self, data: bytes, line_no: int):
        """:meth:`_Parser.parse_block`, except that a last line without a line end that does not read is dropped.

        The writer ends every line, so such a line is where a plain recording
        was cut off (the disk filled up, the copy stopped): a truncation, like
        a gzip stream that ends early, not a malformed file.
        """
        try:
            return self.parser.parse_block(data, line_no)
        except RecordingError as exc:
            if not self.in_tail:
                raise
            self.truncated = f"its last line has no line end and does not read, the recording was cut off ({exc})"
            e = np.empty(0)
            return e, np.empty((0, 3)), e

    def _check_lengths(self, data: bytes, carry: bytes) -> None:
        if len(carry) > MAX_LINE_BYTES:
            raise self.parser.error(self.line_no + data.count(b"\n"), _too_long())
        if len(data) <= MAX_LINE_BYTES:
            return
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
        lengths = np.diff(ends, prepend=-1) - 1
        if ends.shape[0] == 0 or lengths.max() > MAX_LINE_BYTES:
            k = int(np.argmax(lengths > MAX_LINE_BYTES)) if ends.shape[0] else 0
            raise self.parser.error(self.line_no + k, _too_long())
        if len(data) - 1 - int(ends[-1]) > MAX_LINE_BYTES:
            raise self.parser.error(self.line_no + ends.shape[0], _too_long())


def _too_long() -> str:
    return f"a line longer than {MAX_LINE_BYTES} bytes: not a recording (binary data, or no line ends?)"


def _truncation_note(parser: _Parser, lines: _Lines, path: Path) -> str | None:
    if lines.truncated is None:
        return None
    if parser.ncols is None:
        raise parser.error(None, f"{lines.truncated}: the file is truncated before its header")
    last = "no samples" if parser.last_t == -math.inf else f"the last sample at t = {parser.last_t:.4f} s"
    note = f"{path}: {lines.truncated}; read the intact part up to line {lines.line_no - 1}, {last}"
    log.warning("%s", note)
    return note


def read_recording(path) -> Recording:
    """Read a whole recording (plain or gzip) into arrays; RecordingError names the bad line.

    The text is read in pieces (memory: the samples' arrays plus one piece);
    a truncated gzip gives its intact part, with :attr:`Recording.truncated` set and a warning logged.
    """
    path = Path(path)
    parser = _Parser(str(path))
    lines = _Lines(path, parser, PIECE_READ_BYTES)
    outs = [lines.parse(data, line_no) for data, line_no in lines]
    if parser.ncols is None:
        if lines.truncated is not None:
            _truncation_note(parser, lines, path)
        raise _no_header(parser)
    truncated = _truncation_note(parser, lines, path)
    outs = [o for o in outs if o[0].shape[0]] or [(np.empty(0), np.empty((0, 3)), np.empty(0))]
    if len(outs) == 1:
        t, accel, temp = outs[0]
    else:
        t, accel, temp = (np.concatenate([o[k] for o in outs]) for k in range(3))
    return _make_recording(parser, t, accel, temp, truncated)


def iter_recording(path, chunk_rows: int = 65536) -> Iterator[Recording]:
    """Read a recording in chunks of about ``chunk_rows`` lines (bounded memory).

    Each chunk is a :class:`Recording` with that chunk's rows; ``start_wall``
    and ``comments`` are those seen so far.  Errors are raised when the bad
    line is reached, so earlier chunks may already have been yielded.  A
    truncated gzip ends with its last complete line; the last chunk then has
    :attr:`Recording.truncated` set (a warning is logged too).
    """
    path = Path(path)
    parser = _Parser(str(path))
    lines = _Lines(path, parser, max(1, chunk_rows) * 40)
    pending = None
    for data, line_no in lines:
        t, accel, temp = lines.parse(data, line_no)
        if t.shape[0]:
            if pending is not None:
                yield pending
            pending = _make_recording(parser, t, accel, temp)
    if parser.ncols is None:
        if lines.truncated is not None:
            _truncation_note(parser, lines, path)
        raise _no_header(parser)
    truncated = _truncation_note(parser, lines, path)
    if pending is not None:
        pending.truncated = truncated
        pending.comments = list(parser.comments)
        if parser.detector is not None:
            pending.settled_at_start, pending.unsettled_reason = parser.detector
        yield pending


# --------------------------------------------------------------------------- labels


@dataclass
class Labels:
    """Ground truth of a recording: cramp episodes as (onset_s, end_s) and the night length in hours.

    ``extra`` keeps any other top-level keys (the simulator stores its
    look-alike timeline there); ``episode_info`` keeps each episode's extra keys.
    """

    episodes: list[tuple[float, float]]
    hours: float
    extra: dict = field(default_factory=dict)
    episode_info: list[dict] = field(default_factory=list)


def labels_path(recording_path) -> Path:
    """``night.csv.gz`` -> ``night.labels.json`` beside it (also ``.csv``; other names keep their stem)."""
    p = Path(recording_path)
    name = p.name
    for suffix in (".csv.gz", ".csv", ".gz"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(name + ".labels.json")


def write_labels(path, episodes: Sequence, hours: float, extra: dict | None = None,
                 episode_info: Sequence[dict] | None = None) -> None:
    """Write ``NAME.labels.json``; ``episodes`` is a sequence of (onset_s, end_s)."""
    eps = []
    for k, (onset, end) in enumerate(episodes):
        item = {"onset": round(float(onset), 4), "end": round(float(end), 4)}
        if episode_info is not None:
            item.update({key: val for key, val in episode_info[k].items() if key not in item})
        eps.append(item)
    doc = {"episodes": eps, "hours": round(float(hours), 6)}
    if extra:
        doc.update({k: v for k, v in extra.items() if k not in doc})
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_labels(path) -> Labels:
    """Read and validate a labels file; RecordingError names the file and the problem."""
    path = Path(path)

    def bad(msg):
        return RecordingError(f"{path}: {msg}")

    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_LABELS_BYTES + 1)
        if len(raw) > MAX_LABELS_BYTES:
            raise bad(f"larger than {MAX_LABELS_BYTES} bytes: not a labels file")
        doc = json.loads(raw.decode("utf-8-sig"))
    except OSError as exc:
        raise bad(f"cannot read labels: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise bad("labels are not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise RecordingError(f"{path}, line {exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise bad("labels must be a JSON object")
    if "episodes" not in doc or "hours" not in doc:
        raise bad("labels need 'episodes' and 'hours'")

    def number(value, what):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad(f"{what} must be a finite number, got {value!r}")
        return float(value)

    hours = number(doc["hours"], "hours")
    if hours <= 0:
        raise bad(f"hours must be positive, got {hours}")
    if not isinstance(doc["episodes"], list):
        raise bad("episodes must be a list")
    episodes, info = [], []
    prev_end = -math.inf
    for k, ep in enumerate(doc["episodes"]):
        if not isinstance(ep, dict) or "onset" not in ep or "end" not in ep:
            raise bad(f"episode {k} must be an object with 'onset' and 'end'")
        onset = number(ep["onset"], f"episode {k} onset")
        end = number(ep["end"], f"episode {k} end")
        if onset < 0 or end <= onset:
            raise bad(f"episode {k}: need 0 <= onset < end, got onset={onset} end={end}")
        if onset < prev_end:
            raise bad(f"episode {k} overlaps or precedes the previous one")
        prev_end = end
        episodes.append((onset, end))
        info.append({key: val for key, val in ep.items() if key not in ("onset", "end")})
    extra = {k: v for k, v in doc.items() if k not in ("episodes", "hours")}
    return Labels(episodes=episodes, hours=hours, extra=extra, episode_info=info)
