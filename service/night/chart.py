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
# The movement axis ends at SCALE_HEADROOM x the SCALE_PERCENTILE-th percentile of the night's minutes:
# a walk to the bathroom (a few minutes at ten times a cramp's movement) must not flatten the rest of
# the night to a line at zero.  98 %: the top ~11 minutes of a 9-hour night may be clipped, more than
# any walk, fewer than the quiet minutes that set the scale.  Clipped minutes get a marker at the top.
SCALE_PERCENTILE = 98.0
SCALE_HEADROOM = 1.3
MIN_SCALE_MG = 5.0  # a night lying perfectly still still gets a readable axis
LABEL_ROW_PT = 11.0  # a cramp label that would overlap another moves down by one row of this height
LABEL_PAD_PX = 3.0


@dataclass
class ChartData:
    """What was drawn: series as (times, values), spans as (label, start, end); times aware UTC."""

    path: Path
    size_px: tuple[int, int]
    series: dict[str, tuple[list[datetime], list[float]]] = field(default_factory=dict)
    spans: dict[str, list[tuple[str, datetime, datetime]]] = field(default_factory=dict)
    # Pixel boxes (x0, y0, x1, y1), origin bottom left, as drawn: "label:cramp 1", "legend", "axes:movement".
    boxes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    ylim: dict[str, tuple[float, float]] = field(default_factory=dict)  # "movement", "cramps": the axis range
    yticks: dict[str, list[float]] = field(default_factory=dict)  # tick values shown on those axes
    xticks: dict[str, list[str]] = field(default_factory=dict)  # tick labels shown under those axes


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
    during = [[m.activity_mg for m in mlog.minutes
               if ep.onset - timedelta(seconds=60) < m.start <= (ep.end or ep.onset)] for ep in mlog.episodes]
    top = movement_scale([v for _, values in legs.values() for v in values], during)
    ax_act.set_ylim(0.0, top)
    ax_act.set_gid("movement")
    for leg, (times, values) in sorted(legs.items()):
        over = [t for t, v in zip(times, values) if v == v and v > top]
        if over:  # clipped peaks: a mark at the top edge says "more than this"
            (mark,) = ax_act.plot(over, [top] * len(over), linestyle="none", marker="^", markersize=4,
                                  color="#444444", clip_on=False)
            mark.set_gid(f"clipped:{leg}")
    ax_act.set_ylabel("movement (mg)")
    if mlog.temperatures:
        times = [t for t, _ in mlog.temperatures]
        (line,) = ax_temp.plot(times, [v for _, v in mlog.temperatures], color="#1f77b4", linewidth=1.2)
        line.set_gid("temperature")
    else:
        ax_temp.text(0.5, 0.5, "no room temperature recorded", transform=ax_temp.transAxes, ha="center", va="center",
                     color=GAP_COLOR)
    ax_temp.set_ylabel("room (°C)")
    labels = []
    for i, ep in enumerate(mlog.episodes, 1):
        end = ep.end or (ep.onset + timedelta(seconds=max(ep.duration_s, 1.0)))
        for ax in (ax_act, ax_temp):
            span = ax.axvspan(ep.onset, end, color=EPISODE_COLOR, alpha=0.35, linewidth=0)
            if ax is ax_act:
                span.set_gid(f"episode:{ep.id}")
                # A 30 s cramp is under a pixel wide on a 9-hour axis: a marker keeps it visible.
                ax_act.plot([ep.onset], [1.0], marker="v", color=EPISODE_COLOR, markersize=8, clip_on=False,
                            transform=ax_act.get_xaxis_transform())
                label = ax_act.annotate(f"cramp {i}", xy=(ep.onset, 1.0), xycoords=("data", "axes fraction"),
                                        xytext=(5, -12), textcoords="offset points", fontsize=8,
                                        color=EPISODE_COLOR, annotation_clip=False)
                label.set_gid(f"label:cramp {i}")
                label.set_in_layout(False)
                labels.append(label)
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
        # Above the plot, outside it: the legend never covers a cramp near the end of the night.
        legend = ax_act.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, ncols=3, frameon=False,
                               borderaxespad=0.2)
        legend.set_gid("legend")
    n = len(mlog.episodes)
    fig.suptitle(f"Night of {mlog.night:%a %d %b %Y}: {n} cramp{'s' if n != 1 else ''}"
                 + ("" if not mlog.spans else ", grey = not recorded"), fontsize=11, x=0.02, ha="left")
    _place_labels(fig, ax_act, labels)
    return _save(fig, path)


def movement_scale(values, episodes=()) -> float:
    """Top of the movement axis in mg.

    :data:`SCALE_HEADROOM` x the :data:`SCALE_PERCENTILE`-th percentile of the
    night's minutes, raised so that each cramp's typical minute (the median of
    the minutes it spans, ``episodes``: one list of mg values per cramp) is in
    view: the cramps are what the chart is for, and a sleeper who stands up
    during a cramp makes one minute of it high, not the median.  The largest
    minute when that is lower (nothing is clipped then); never below
    :data:`MIN_SCALE_MG`.
    """
    import numpy as np

    finite = np.asarray([v for v in values if v == v], dtype=float)
    if finite.size == 0:
        return MIN_SCALE_MG
    robust = SCALE_HEADROOM * float(np.percentile(finite, SCALE_PERCENTILE))
    for minutes in episodes:
        typical = [v for v in minutes if v == v]
        if typical:
            robust = max(robust, SCALE_HEADROOM * float(np.median(typical)))
    peak = float(finite.max()) * 1.05
    return max(MIN_SCALE_MG, min(peak, robust))


def _place_labels(fig, ax, labels) -> None:
    """Cramp labels inside the axes, none over another: each goes to the first free row below the top.

    A label that would run past the right edge (a cramp at the end of the
    night) is written to the left of its marker instead.
    """
    if not labels:
        return
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import Bbox

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()  # constrained layout settles the axes first
    right = ax.get_window_extent(renderer).x1
    placed: list = []
    for label in labels:  # in the order of the night (the episodes come sorted by onset)
        box = label.get_window_extent(renderer)
        if box.x1 > right - LABEL_PAD_PX:
            label.set_horizontalalignment("right")
            label.xyann = (-5.0, label.xyann[1])
        row = 0
        while True:
            label.xyann = (label.xyann[0], -12.0 - LABEL_ROW_PT * row)
            b = label.get_window_extent(renderer)
            pad = LABEL_PAD_PX / 2
            box = Bbox.from_extents(b.x0 - pad, b.y0 - pad, b.x1 + pad, b.y1 + pad)
            if not any(box.overlaps(other) for other in placed):
                break
            row += 1
        placed.append(box)


def render_history(rows, path: str | os.PathLike) -> ChartData:
    """Cramps per night (bars) and mean room temperature (line) over the period."""
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN * 0.8), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    nights = [datetime(r.night.year, r.night.month, r.night.day, 12) for r in rows]  # noon: bar centred on the date
    ax.bar(nights, [r.cramps for r in rows], width=0.8, color=EPISODE_COLOR, alpha=0.7, label="cramps")
    ax.set_ylabel("cramps per night")
    from matplotlib.ticker import MaxNLocator

    # Whole cramps, from 0 to at least 1: a single night without cramps is not "-0.04 to 0.04".
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(1, max((r.cramps for r in rows), default=0)) * 1.15)
    ax.set_gid("cramps")
    temps = [(n, r.mean_temp_c) for n, r in zip(nights, rows) if r.mean_temp_c is not None]
    if temps:
        ax2 = ax.twinx()
        (line,) = ax2.plot([n for n, _ in temps], [v for _, v in temps], color="#1f77b4", marker=".", linewidth=1)
        line.set_gid("temperature")
        ax2.set_ylabel("mean room (°C)")
    # One tick per night (at most ~12 labels over a long period), never several for one date.
    if nights:
        ax.set_xlim(nights[0] - timedelta(hours=18), nights[-1] + timedelta(hours=18))
        span_days = (nights[-1] - nights[0]).days + 1
        if span_days <= 14:
            from matplotlib.ticker import FixedLocator

            ax.xaxis.set_major_locator(FixedLocator([mdates.date2num(n) for n in nights]))
        else:
            ax.xaxis.set_major_locator(mdates.DayLocator(interval=-(-span_days // 12)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    total = sum(r.cramps for r in rows)
    fig.suptitle(f"nightcramp: {len(rows)} night{'s' if len(rows) != 1 else ''}, "
                 f"{total} cramp{'s' if total != 1 else ''}", fontsize=11)
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
    renderer = fig.canvas.get_renderer()

    def box(artist) -> tuple[float, float, float, float]:
        b = artist.get_window_extent(renderer)
        return (float(b.x0), float(b.y0), float(b.x1), float(b.y1))

    for ax in fig.axes:
        if ax.get_gid():
            data.ylim[ax.get_gid()] = tuple(float(v) for v in ax.get_ylim())
            data.boxes[f"axes:{ax.get_gid()}"] = box(ax)
            lo, hi = ax.get_ylim()
            data.yticks[ax.get_gid()] = [float(v) for v in ax.get_yticks() if lo <= v <= hi]
            data.xticks[ax.get_gid()] = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        legend = ax.get_legend()
        if legend is not None and legend.get_gid():
            data.boxes[legend.get_gid()] = box(legend)
        for text in ax.texts:
            if text.get_gid():
                data.boxes[text.get_gid()] = box(text)
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
