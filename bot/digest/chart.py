"""The digest's PNG: 14 days of spend per agent, stacked, made to read in a chat preview.

Legend outside the bars, each day's total above its bar, weekday and date on the axis,
the digest's day highlighted and a dashed line at the workspace's daily limit. matplotlib
is imported inside the functions (it is slow to import and only the digest needs it) and
used through its object API on an Agg canvas, so no global pyplot state or GUI backend is
touched and renders in worker threads cannot interfere with each other.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.money import format_usd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_SERIES = 8  # more agents than this are drawn as one "other" series
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HIGHLIGHT = "#fff2b3"  # behind the digest's day
LIMIT_COLOUR = "#c62828"
TOTAL_GID = "day-total"  # marks the per-day total labels (tests find them by it)


def render_spend_chart(
    *,
    days: Sequence[dt.date],
    spend: Mapping[str, Sequence[Decimal]],
    title: str,
    highlight: dt.date | None = None,
    daily_limit: Decimal | None = None,
) -> bytes:
    """The chart of `spend_figure` as PNG bytes.

    The PNG's text chunks record what was drawn: `Days` the ISO dates of the bars
    (comma-separated) and `Bars` the number of bars per series.
    """
    figure = spend_figure(
        days=days, spend=spend, title=title, highlight=highlight, daily_limit=daily_limit
    )
    axes = figure.axes[0]
    bars = [str(len(container)) for container in axes.containers]
    buffer = io.BytesIO()
    figure.savefig(
        buffer,
        format="png",
        metadata={
            "Title": title,
            "Days": ",".join(day.isoformat() for day in days),
            "Bars": ",".join(bars),
        },
    )
    return buffer.getvalue()


def spend_figure(
    *,
    days: Sequence[dt.date],
    spend: Mapping[str, Sequence[Decimal]],
    title: str,
    highlight: dt.date | None = None,
    daily_limit: Decimal | None = None,
) -> Figure:
    """Stacked bars of `spend[agent][i]` (USD) for each of `days`, on an Agg canvas."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(10, 5), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(days)))
    bottoms = [0.0] * len(days)
    colours = colormaps["tab10"]
    for index, (name, values) in enumerate(_series(spend, count=len(days))):
        # Floats only from here on: plotting is the one place money may lose exactness.
        heights = [float(value) for value in values]
        axes.bar(
            positions,
            heights,
            bottom=bottoms,
            width=0.7,
            label=_escape(name),
            color=colours(index % 10),
            zorder=2,
        )
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    top = max([*bottoms, float(daily_limit or 0)], default=0.0) or 1.0
    for position, (day, total) in enumerate(zip(days, bottoms, strict=True)):
        mark = day == highlight
        if mark:
            axes.axvspan(position - 0.5, position + 0.5, color=HIGHLIGHT, zorder=0)
        if not total:
            continue  # an empty day says nothing; a "$0" there is only noise
        axes.text(
            position,
            total + top * 0.015,
            _escape(short_usd(total)),
            ha="center",
            va="bottom",
            fontsize=10.5,
            fontweight="bold" if mark else "normal",
            color="#222222",
            gid=TOTAL_GID,
            zorder=3,
        )
    if daily_limit is not None and daily_limit > 0:
        axes.axhline(
            float(daily_limit),
            linestyle="--",
            linewidth=1.4,
            color=LIMIT_COLOUR,
            label=_escape(f"daily limit {short_usd(float(daily_limit))}"),
            zorder=4,
        )
    labels = [f"{day:%a}\n{day:%m-%d}" for day in days]
    axes.set_xticks(positions, labels, rotation=0, fontsize=11)
    for label, day in zip(axes.get_xticklabels(), days, strict=True):
        if day == highlight:
            label.set_fontweight("bold")
    axes.set_xlim(-0.6, len(days) - 0.4)
    axes.set_ylim(0, top * 1.15)  # room for the totals above the highest bar
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: _escape(_tick_usd(value))))
    axes.tick_params(axis="y", labelsize=11)
    axes.grid(axis="y", color="#e0e0e0", zorder=1)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_title(_escape(title), fontsize=14, fontweight="bold", loc="left")
    if axes.get_legend_handles_labels()[0]:
        # Outside the plot, right of it: never over a bar.
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=11, frameon=False)
    if not any(bottoms):
        axes.text(
            0.5, 0.5, "no spend", ha="center", va="center", transform=axes.transAxes, fontsize=12
        )
    return figure


def short_usd(value: float) -> str:
    """Compact dollars for tight places: `$120`, `$3.40`, `$0.042`, `$0.00031`, `$0`."""
    if value == 0:
        return "$0"
    if abs(value) >= 100:
        return f"${value:,.0f}"
    if abs(value) >= 0.1:
        return f"${value:,.2f}"
    if abs(value) >= 0.01:
        return f"${value:.2g}"
    # A day of cheap calls must not read "<$0.01" on every tick: the money rule's digits.
    return format_usd(Decimal(f"{value:.2g}"))


def _tick_usd(value: float) -> str:
    # Whole dollars without cents keep the axis quiet; fractions as the totals show them.
    return f"${value:,.0f}" if value >= 1 and value == int(value) else short_usd(value)


def _series(
    spend: Mapping[str, Sequence[Decimal]], *, count: int
) -> list[tuple[str, Sequence[Decimal]]]:
    """Biggest spenders first; beyond MAX_SERIES the rest are summed into "other"."""
    ranked = sorted(spend.items(), key=lambda item: (-sum(item[1], Decimal(0)), item[0]))
    if len(ranked) <= MAX_SERIES:
        return ranked
    kept = ranked[: MAX_SERIES - 1]
    other = [Decimal(0)] * count
    for _, values in ranked[MAX_SERIES - 1 :]:
        other = [a + b for a, b in zip(other, values, strict=True)]
    return [*kept, ("other", other)]


def _escape(text: str) -> str:
    # matplotlib treats text between dollar signs as math; agent names are plain text.
    return text.replace("$", r"\$")
