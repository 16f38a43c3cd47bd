"""The digest's PNG: stacked bars of daily spend per agent.

matplotlib is imported inside the function (it is slow to import and only the digest needs
it) and used through its object API on an Agg canvas, so no global pyplot state or GUI
backend is touched and renders in worker threads cannot interfere with each other.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from decimal import Decimal

MAX_SERIES = 8  # more agents than this are drawn as one "other" series
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def render_spend_chart(
    *, days: Sequence[dt.date], spend: Mapping[str, Sequence[Decimal]], title: str
) -> bytes:
    """Stacked bars of `spend[agent][i]` (USD) for each of `days`, as PNG bytes.

    The PNG's text chunks record what was drawn: `Days` holds the x tick labels matplotlib
    laid out (ISO dates, comma-separated) and `Bars` the number of bars per series.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(9, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(days)))
    bottoms = [0.0] * len(days)
    colours = colormaps["tab10"]
    bars_per_series: list[int] = []
    for index, (name, values) in enumerate(_series(spend, count=len(days))):
        # Floats only from here on: plotting is the one place money may lose exactness.
        heights = [float(value) for value in values]
        container = axes.bar(
            positions, heights, bottom=bottoms, label=_escape(name), color=colours(index % 10)
        )
        bars_per_series.append(len(container.patches))
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    axes.set_xticks(positions, [day.isoformat() for day in days], rotation=45, ha="right")
    # Cents hide the fractions of a cent light usage costs; show more places below a dollar.
    places = 2 if max(bottoms, default=0.0) >= 1 else 4
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"${value:,.{places}f}"))
    axes.set_ylabel("spend (USD)")
    axes.set_ylim(bottom=0)
    axes.set_title(_escape(title))
    if bars_per_series:
        axes.legend(loc="upper left", fontsize="small", frameon=False)
    else:
        axes.text(0.5, 0.5, "no spend", ha="center", va="center", transform=axes.transAxes)
    figure.tight_layout()
    drawn_days = [label.get_text() for label in axes.get_xticklabels()]
    buffer = io.BytesIO()
    figure.savefig(
        buffer,
        format="png",
        metadata={
            "Title": title,
            "Days": ",".join(drawn_days),
            "Bars": ",".join(str(n) for n in bars_per_series),
        },
    )
    return buffer.getvalue()


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
