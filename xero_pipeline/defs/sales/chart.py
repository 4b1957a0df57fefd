"""The picture of sales by account code: net sales per revenue account code, month by month, one
panel per organisation (each in its own base currency, so amounts are never added across
currencies). Drawn with matplotlib's object API on the Agg canvas: no display, and no pyplot global
state shared between the threads of a Dagster process.

Used by the `sales_by_account_code_chart` asset and `xero-pipeline chart`.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect

from xero_pipeline.defs.sales.queries import sql
from xero_pipeline.warehouse.rebuild import execute
from xero_pipeline.xero.settings import project_data

if TYPE_CHECKING:
    from matplotlib.axes import Axes

CHART_FILE = "sales_by_account_code.png"
THUMBNAIL_DPI = 36


def chart_path() -> Path:
    """Beside the warehouse, under the project's data folder (XERO_PIPELINE_DATA)."""
    return project_data() / CHART_FILE


@dataclass(frozen=True)
class Panel:
    """One organisation's series: {account label: {month: net sales in base currency}}."""

    organisation: str
    currency: str
    series: dict[str, dict[date, float]]


@dataclass(frozen=True)
class Chart:
    png: bytes
    thumbnail: bytes
    panels: tuple[Panel, ...]

    @property
    def months(self) -> list[date]:
        return sorted({m for p in self.panels for s in p.series.values() for m in s})

    @property
    def codes(self) -> int:
        return sum(len(p.series) for p in self.panels)


def _as_date(value: object) -> date:
    """SQLite hands dates back as ISO text from a plain SQL query; PostgreSQL as dates."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def chart_panels(engine: Engine) -> tuple[Panel, ...]:
    with engine.connect() as connection:
        needed = ("sales_by_account_code_monthly", "dim_account_codes")
        if not all(inspect(connection).has_table(name) for name in needed):
            return ()
        rows = execute(connection, sql("sales_by_revenue_code")).mappings().all()
    grouped: dict[tuple[str, str, str], dict[str, dict[date, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for row in rows:
        key = (
            row["tenant_id"],
            row["organisation"] or row["tenant_id"],
            row["base_currency"] or "",
        )
        label = f"{row['account_code']} {row['account_name'] or ''}".strip()
        amount = Decimal(str(row["net_amount_base"] or 0))
        grouped[key][label][_as_date(row["month"])] = float(amount)
    return tuple(
        Panel(organisation, currency, {label: dict(points) for label, points in series.items()})
        for (_, organisation, currency), series in grouped.items()
    )


def _draw(panels: tuple[Panel, ...], dpi: int) -> bytes:
    # Imported here, not at the top: matplotlib is 0.4 s of every process's start (the daemon,
    # each run, each CLI command), and only the chart draws.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.4 * max(len(panels), 1)), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    if not panels:
        axes = figure.subplots()
        axes.set_axis_off()
        axes.text(0.5, 0.5, "No sales by revenue account code yet", ha="center", va="center")
    else:
        for axes, panel in zip(
            figure.subplots(len(panels), 1, squeeze=False)[:, 0], panels, strict=True
        ):
            _plot(axes, panel)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _plot(axes: Axes, panel: Panel) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import StrMethodFormatter

    months = sorted({m for points in panel.series.values() for m in points})
    for label, points in sorted(panel.series.items()):
        axes.plot(
            months, [points.get(m, 0.0) for m in months], marker="o", markersize=3, label=label
        )
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.set_title(f"{panel.organisation}: net sales by revenue account code")
    axes.set_ylabel(f"net sales ({panel.currency})")
    axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    axes.axhline(0, color="grey", linewidth=0.5)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")


def render_chart(engine: Engine) -> Chart:
    """The chart at full size, and a small copy to show inline in Dagster's metadata."""
    panels = chart_panels(engine)
    return Chart(_draw(panels, dpi=100), _draw(panels, dpi=THUMBNAIL_DPI), panels)


def write_chart(engine: Engine, path: Path | None = None) -> tuple[Path, Chart]:
    path = path or chart_path()
    chart = render_chart(engine)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(chart.png)
    temporary.replace(path)  # a reader never sees half a PNG
    return path, chart
