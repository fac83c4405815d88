"""PNG charts of a night and of the history, drawn with matplotlib's Agg backend.

matplotlib is imported only inside the functions (``nightcramp replay`` and the
daemon's hot path never pay for it) and used through ``Figure`` +
``FigureCanvasAgg``, not pyplot: no global figure state, safe from any thread,
no display needed on a headless Pi.

Each function returns a :class:`ChartData` read back from the artists it drew
(by their ``gid``), so a test can check that the picture shows what the record
holds, not just that a file appeared.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 5.0, 100  # 1000 x 500 px: readable on a phone, ~60 KB

EPISODE_COLOR = "#d62728"
GAP_COLOR = "#7f7f7f"
BREAK_AFTER_S = 90.0  # minute rows further apart than this are not joined by the line


@dataclass
class ChartData:
    """What was drawn: series as (times, values), spans as (label, start, end); times aware UTC."""

    path: Path
    size_px: tuple[int, int]
    series: dict[str, tuple[list[datetime], list[float]]] = field(default_factory=dict)
    spans: dict[str, list[tuple[str, datetime, datetime]]] = field(default_factory=dict)


def render_night(mlog, path: str | os.PathLike) -> ChartData:
    """Movement per minute (one line per leg), room temperature, cramps and unrecorded spans."""
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    ax_act, ax_temp = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    tz = mlog.tz
    legs: dict[str, tuple[list, list]] = {}
    for m in mlog.minutes:
        times, values = legs.setdefault(m.leg, ([], []))
        if times and (m.start - times[-1]).total_seconds() > BREAK_AFTER_S:
            times.append(times[-1] + timedelta(seconds=60))  # a NaN point: no line drawn across a gap
            values.append(float("nan"))
        times.append(m.start)
        values.append(m.activity_mg)
    for leg, (times, values) in sorted(legs.items()):
        (line,) = ax_act.plot(times, values, linewidth=0.8, label="movement" if leg == "leg" else f"{leg} leg")
        line.set_gid(f"activity:{leg}")
    ax_act.set_ylabel("movement (mg)")
    if mlog.temperatures:
        times = [t for t, _ in mlog.temperatures]
        (line,) = ax_temp.plot(times, [v for _, v in mlog.temperatures], color="#1f77b4", linewidth=1.2)
        line.set_gid("temperature")
    else:
        ax_temp.text(0.5, 0.5, "no room temperature recorded", transform=ax_temp.transAxes, ha="center", va="center",
                     color=GAP_COLOR)
    ax_temp.set_ylabel("room (°C)")
    for i, ep in enumerate(mlog.episodes, 1):
        end = ep.end or (ep.onset + timedelta(seconds=max(ep.duration_s, 1.0)))
        for ax in (ax_act, ax_temp):
            span = ax.axvspan(ep.onset, end, color=EPISODE_COLOR, alpha=0.35, linewidth=0)
            if ax is ax_act:
                span.set_gid(f"episode:{ep.id}")
                # A 30 s cramp is under a pixel wide on a 9-hour axis: a marker keeps it visible.
                ax_act.plot([ep.onset], [1.0], marker="v", color=EPISODE_COLOR, markersize=8, clip_on=False,
                            transform=ax_act.get_xaxis_transform())
                ax_act.annotate(f"cramp {i}", xy=(ep.onset, 1.0), xycoords=("data", "axes fraction"),
                                xytext=(5, -12), textcoords="offset points", fontsize=8, color=EPISODE_COLOR)
    for k, s in enumerate(mlog.spans):
        end = s.end or mlog.window_end
        for ax in (ax_act, ax_temp):
            span = ax.axvspan(s.start, end, color=GAP_COLOR, alpha=0.25, hatch="//", linewidth=0)
            if ax is ax_act:
                span.set_gid(f"gap:{k}:{s.kind}")
    ax_temp.set_xlim(mlog.window_start, mlog.window_end)
    ax_temp.xaxis.set_major_locator(mdates.HourLocator(tz=tz))
    ax_temp.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
    if legs:
        ax_act.legend(loc="upper right", fontsize=8)
    n = len(mlog.episodes)
    fig.suptitle(f"Night of {mlog.night:%a %d %b %Y}: {n} cramp{'s' if n != 1 else ''}"
                 + ("" if not mlog.spans else ", grey = not recorded"), fontsize=11)
    return _save(fig, path)


def render_history(rows, path: str | os.PathLike) -> ChartData:
    """Cramps per night (bars) and mean room temperature (line) over the period."""
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN * 0.8), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    nights = [datetime(r.night.year, r.night.month, r.night.day, 12) for r in rows]  # noon: bar centred on the date
    ax.bar(nights, [r.cramps for r in rows], width=0.8, color=EPISODE_COLOR, alpha=0.7, label="cramps")
    ax.set_ylabel("cramps per night")
    ax.yaxis.get_major_locator().set_params(integer=True)
    temps = [(n, r.mean_temp_c) for n, r in zip(nights, rows) if r.mean_temp_c is not None]
    if temps:
        ax2 = ax.twinx()
        (line,) = ax2.plot([n for n, _ in temps], [v for _, v in temps], color="#1f77b4", marker=".", linewidth=1)
        line.set_gid("temperature")
        ax2.set_ylabel("mean room (°C)")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    fig.suptitle(f"nightcramp: {len(rows)} night{'s' if len(rows) != 1 else ''}, "
                 f"{sum(r.cramps for r in rows)} cramps", fontsize=11)
    return _save(fig, path)


def _save(fig, path: str | os.PathLike) -> ChartData:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    canvas = FigureCanvasAgg(fig)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:  # write then rename: a reader never sees half a PNG
        canvas.print_png(fh)
    os.replace(tmp, path)
    width, height = canvas.get_width_height()
    return _read_back(fig, path, (width, height))


def _read_back(fig, path: Path, size: tuple[int, int]) -> ChartData:
    from datetime import timezone

    from matplotlib import dates as mdates

    def as_dt(x):
        if isinstance(x, datetime):
            return x.astimezone(timezone.utc) if x.tzinfo else x.replace(tzinfo=timezone.utc)
        return mdates.num2date(float(x)).astimezone(timezone.utc)

    data = ChartData(path=path, size_px=size)
    for ax in fig.axes:
        for line in ax.get_lines():
            gid = line.get_gid()
            if gid:
                points = [(as_dt(x), float(y)) for x, y in zip(line.get_xdata(), line.get_ydata()) if y == y]  # NaN: a break
                data.series[gid] = ([x for x, _ in points], [y for _, y in points])
        for patch in ax.patches:
            gid = patch.get_gid()
            if gid and ":" in gid:
                kind, label = gid.split(":", 1)
                x0 = patch.get_x()
                data.spans.setdefault(kind, []).append((label, as_dt(x0), as_dt(x0 + patch.get_width())))
        for container in ax.containers:
            if container.get_label() == "cramps":
                data.series["cramps"] = ([as_dt(b.get_x() + b.get_width() / 2) for b in container],
                                         [float(b.get_height()) for b in container])
    return data


def _main(argv: list[str]) -> int:
    """``python -m service.night.chart PNG`` with a pickled MorningLog on stdin (the service's child process)."""
    import pickle
    import sys

    if len(argv) != 1:
        print("usage: python -m service.night.chart PNG < pickled-morning-log", file=sys.stderr)
        return 2
    mlog = pickle.load(sys.stdin.buffer)  # written by service.night.outputs._render_in_child, our own parent
    render_night(mlog, argv[0])
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))
