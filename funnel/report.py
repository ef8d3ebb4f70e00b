"""The funnel report: one self-contained HTML page, plus a PNG of the headline funnel chart.

    render_report(published_db, out_dir) -> ReportPaths

    out_dir/funnel_report.html                      the report (charts as inline SVG, inline CSS)
    out_dir/funnel_report_<published_at>.html       the same page, named after the publish it shows
    out_dir/funnel.png                              the headline chart: a funnel per role

The report reads only the published database (FUNNEL_HOME/warehouse/funnel.duckdb), opened
read-only as an analyst would; it never touches the pipeline's working database. Everything on
the page comes from the published tables (docs/metrics.md), nothing from the wall clock, so the
same published tables always give the same bytes: matplotlib's SVG ids are salted with a fixed,
per-chart salt and the files carry no creation date.

Charts are drawn with matplotlib's object API (`matplotlib.figure.Figure`, Agg for PNG, no
pyplot and no global backend switch), imported only when a report is rendered: importing this
module stays cheap. The page has no scripts and no external resources (no fonts, CSS or images
from the network); text in the charts is drawn as paths, so it looks the same everywhere.

Every chart is a `<figure class="chart" id="...">` with an inline `<svg>`, followed by a
`<table class="data" id="table-...">` holding the same figures; numeric cells carry the exact
value in `data-value`. Ids: `funnel-<role>` (one per role with applications), `skip-rates`,
`team-matching-dropoff`, `loop-skill-coverage`.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

REPORTS_DIR = "reports"
REPORT_NAME = "funnel_report.html"
PNG_NAME = "funnel.png"
TITLE = "Hiring funnel report"

# Colours (matplotlib's tab10, so charts and tables read alike).
BLUE, LIGHT_BLUE, ORANGE, GREEN, GREY = "#1f77b4", "#aec7e8", "#ff7f0e", "#2ca02c", "#7f7f7f"
ROLE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf")
PNG_DPI = 100
NO_VALUE = "\u2013"  # en dash, for NULL


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class ReportPaths:
    """What render_report wrote, and the publish it shows."""

    html: Path
    png: Path
    dated_html: Path | None = None
    published_at: datetime | None = None
    run_id: str | None = None
    as_of: datetime | None = None
    applications: int = 0
    chart_ids: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self.applications == 0


@dataclass
class ReportData:
    """The published tables the report shows, as lists of dicts in the marts' own order."""

    source_name: str
    exists: bool = True
    published_at: datetime | None = None
    run_id: str | None = None
    publishes: int = 0
    as_of: datetime | None = None
    overview: list[dict] = field(default_factory=list)
    stage_rates: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    dropoff_monthly: list[dict] = field(default_factory=list)
    dropoff: list[dict] = field(default_factory=list)
    loop_summary: list[dict] = field(default_factory=list)
    missing_skills: list[dict] = field(default_factory=list)
    missing_tables: list[str] = field(default_factory=list)

    @property
    def applications(self) -> int:
        return sum(row["applications"] for row in self.overview)

    @property
    def empty(self) -> bool:
        return self.applications == 0

    @property
    def roles(self) -> list[str]:
        """Roles of the configuration (every role has stage_pass_rates rows), in table order."""
        return list(dict.fromkeys(row["role"] for row in self.stage_rates))

    @property
    def roles_with_applications(self) -> list[str]:
        with_apps = {row["role"] for row in self.overview if row["applications"]}
        return [role for role in dict.fromkeys([*self.roles, *sorted(with_apps)]) if role in with_apps]

    @property
    def funnel_ids(self) -> dict[str, str]:
        """role -> the id of its funnel chart, `funnel-<role>` (made unique should two roles slug alike)."""
        ids: dict[str, str] = {}
        for role in self.roles_with_applications:
            base = candidate = f"funnel-{slug(role)}"
            n = 1
            while candidate in ids.values():
                n += 1
                candidate = f"{base}-{n}"
            ids[role] = candidate
        return ids


# ---------------------------------------------------------------------------------------------
# Reading the published database


QUERIES: dict[str, tuple[str, str]] = {
    # attribute: (table it reads, SQL)
    "overview": (
        "application_journeys",
        "SELECT role, count(*) AS applications,"
        " count(*) FILTER (WHERE final_status = 'hired') AS hired,"
        " count(*) FILTER (WHERE final_status = 'rejected') AS rejected,"
        " count(*) FILTER (WHERE final_status = 'withdrew') AS withdrew,"
        " count(*) FILTER (WHERE final_status = 'in_progress') AS in_progress,"
        " count(*) FILTER (WHERE fast_tracked) AS fast_tracked,"
        " min(cohort_month) AS first_cohort, max(cohort_month) AS last_cohort,"
        " max(last_record_at) AS last_record_at"
        " FROM application_journeys GROUP BY role ORDER BY role NULLS LAST",
    ),
    "stage_rates": (
        "stage_pass_rates",
        "SELECT role, stage, stage_order, pipeline_order, in_pipeline, entered, passed, failed, withdrew,"
        " in_progress, skipped, decided, pass_rate, pass_rate_low, pass_rate_high, pass_through_rate, skip_rate"
        " FROM stage_pass_rates ORDER BY role, stage_order",
    ),
    "skipped": (
        "skipped_stages",
        "SELECT role, stage, stage_order, pipeline_order, applications, entered, skipped_explicit,"
        " skipped_implied, skipped, skip_rate FROM skipped_stages ORDER BY role, pipeline_order",
    ),
    "dropoff_monthly": (
        "team_matching_dropoff_monthly",
        "SELECT role, cohort_month, applications, cleared, matched, unmatched, withdrew, in_matching, stalled,"
        " awaiting, skipped, dropoff_rate, median_days_to_match"
        " FROM team_matching_dropoff_monthly ORDER BY role, cohort_month",
    ),
    "dropoff": (
        "team_matching_dropoff",
        "SELECT role, NULL::DATE AS cohort_month, applications, cleared, matched, unmatched, withdrew, in_matching,"
        " stalled, awaiting, skipped, dropoff_rate, median_days_to_match, as_of"
        " FROM team_matching_dropoff ORDER BY role",
    ),
    "loop_summary": (
        "loop_skill_coverage_summary",
        "SELECT role, loops, fully_covered, fully_covered_rate, loops_with_doubled_skill, mean_interviewers,"
        " most_often_missing_skill, most_often_missing_loops"
        " FROM loop_skill_coverage_summary ORDER BY role NULLS LAST",
    ),
    "missing_skills": (
        "loop_skill_coverage",
        "SELECT role, skill, count(*) AS loops,"
        " count(*) FILTER (WHERE list_contains(skills_missing, skill)) AS missing"
        " FROM (SELECT role, skills_missing, unnest(skills_required) AS skill"
        "       FROM loop_skill_coverage WHERE role IS NOT NULL)"
        " GROUP BY role, skill ORDER BY role, skill",
    ),
}


def _fetch(conn: Any, sql: str) -> list[dict]:
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values)) for values in cursor.fetchall()]


def load_report_data(published_db: Path) -> ReportData:
    """Everything the report shows, read from the published database in one read-only connection.

    A missing file gives an empty ReportData (`exists=False`); a missing table leaves its
    section empty and is named in `missing_tables`.
    """
    import duckdb

    published_db = Path(published_db)
    data = ReportData(source_name=published_db.name)
    if not published_db.exists():
        data.exists = False
        return data
    conn = duckdb.connect(str(published_db), read_only=True)
    try:
        tables = {name for (name,) in conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
        if "publish_log" in tables:
            latest = conn.execute(
                "SELECT published_at, run_id, count(*) OVER () FROM publish_log"
                " ORDER BY published_at DESC, run_id DESC LIMIT 1"
            ).fetchone()
            if latest:
                data.published_at, data.run_id, data.publishes = latest
        else:
            data.missing_tables.append("publish_log")
        for attribute, (table, sql) in QUERIES.items():
            if table in tables:
                setattr(data, attribute, _fetch(conn, sql))
            elif table not in data.missing_tables:
                data.missing_tables.append(table)
    finally:
        conn.close()
    stamps = [row["last_record_at"] for row in data.overview if row["last_record_at"] is not None]
    data.as_of = max(stamps) if stamps else None
    return data


# ---------------------------------------------------------------------------------------------
# Formatting


def fmt_rate(value: float | None) -> str:
    """A rate as a percentage with one decimal (0.6667 -> '66.7%'); NULL as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NO_VALUE
    return f"{value * 100:.1f}%"


def fmt_interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return NO_VALUE
    return f"{fmt_rate(low)}\u2009\u2013\u2009{fmt_rate(high)}"


def fmt_count(value: int | None) -> str:
    return NO_VALUE if value is None else f"{value:,}"


def fmt_number(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NO_VALUE
    return f"{value:,.{digits}f}"


def fmt_month(value: date | None) -> str:
    return "all time" if value is None else value.strftime("%Y-%m")


def fmt_time(value: datetime | None) -> str:
    if value is None:
        return NO_VALUE
    return value.replace(microsecond=0).isoformat(sep=" ") + " UTC"


def fmt_text(value: Any) -> str:
    return NO_VALUE if value is None else str(value)


def slug(text: str) -> str:
    """A string safe in an HTML id and a file name: letters, digits, '_' and '-'."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower() or "x"


def role_label(role: str | None) -> str:
    return "(no stage records)" if role is None else role


def wilson(successes: int | None, n: int | None) -> tuple[float, float] | None:
    from funnel.metrics import wilson_interval

    if successes is None or not n:
        return None
    return wilson_interval(successes, n)


# ---------------------------------------------------------------------------------------------
# Charts (matplotlib, imported here only)


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _rc(salt: str) -> dict[str, Any]:
    return {
        "svg.hashsalt": f"funnel-report:{salt}",  # fixed ids, distinct per chart on the same page
        "svg.fonttype": "path",  # glyphs as paths: no fonts needed by the reader
        "font.family": "DejaVu Sans",  # ships with matplotlib: same glyphs on every machine
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }


_SVG_START = re.compile(r"<svg\b")
_SVG_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_SVG_ID = re.compile(r'\bid="([^"]+)"')
_SVG_REF = re.compile(r'\b((?:xlink:)?href)="#([^"]+)"')
_SVG_URL = re.compile(r"url\(#([^)]+)\)")


def _prefix_ids(svg: str, prefix: str) -> str:
    """Several SVGs share one HTML document: give every id (glyphs, clip paths, markers) the chart's prefix."""
    svg = _SVG_ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = _SVG_REF.sub(lambda m: f'{m.group(1)}="#{prefix}{m.group(2)}"', svg)
    return _SVG_URL.sub(lambda m: f"url(#{prefix}{m.group(1)})", svg)


def _svg(fig, salt: str, label: str) -> str:
    """The figure as an inline <svg> element (no XML prolog, DOCTYPE or RDF metadata)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(_rc(salt)):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[_SVG_START.search(text).start():]
    text = _prefix_ids(_SVG_METADATA.sub("", text, count=1), f"{salt}-")
    return text.replace("<svg ", f'<svg id="svg-{salt}" role="img" aria-label="{html.escape(label)}" ', 1).strip()


def _png(fig, salt: str) -> bytes:
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(_rc(salt)):
        fig.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _with_rc(salt: str, draw: Callable[[], Any]):
    """Build a figure under the report's rcParams (fonts and sizes are read when artists are created)."""
    import matplotlib

    with matplotlib.rc_context(_rc(salt)):
        return draw()


def _funnel_rows(data: ReportData, role: str) -> list[dict]:
    """The role's pipeline stages, in pipeline order."""
    rows = [r for r in data.stage_rates if r["role"] == role and r["in_pipeline"]]
    return sorted(rows, key=lambda r: (r["pipeline_order"], r["stage_order"]))


def _draw_funnel(container, role: str, rows: Sequence[dict], *, title: bool) -> None:
    """On a figure or subfigure: entered per stage as a centred funnel, and pass rates with 95% intervals."""
    left, right = container.subplots(1, 2, sharey=True, width_ratios=(1.0, 1.25))
    y = list(range(len(rows)))
    stages = [r["stage"] for r in rows]
    entered = [r["entered"] for r in rows]
    widest = max([*entered, 1])
    drawn = [i for i, e in enumerate(entered) if e > 0]
    left.barh([y[i] for i in drawn], [entered[i] for i in drawn], left=[-entered[i] / 2 for i in drawn],
              color=LIGHT_BLUE, edgecolor=BLUE, linewidth=0.8, height=0.7)
    for i, r in enumerate(rows):
        note = f"{r['entered']:,} entered"
        if r["skipped"]:
            note += f", {r['skipped']:,} skipped"
        left.text(0, i, note, ha="center", va="center", fontsize=8)
    left.set_xlim(-widest * 0.62, widest * 0.62)
    left.set_xticks([])
    left.spines[["left", "bottom"]].set_visible(False)
    left.set_yticks(y, stages)
    left.tick_params(axis="y", length=0)
    left.set_title("applications entering each stage", loc="left")

    for i, r in enumerate(rows):
        rate, low, high = r["pass_rate"], r["pass_rate_low"], r["pass_rate_high"]
        if rate is None:
            right.text(0.02, i, "no decisions yet", va="center", fontsize=8, color=GREY)
            continue
        right.errorbar([rate], [i], xerr=[[rate - low], [high - rate]], fmt="o", color=ORANGE, ecolor=ORANGE,
                       elinewidth=2, capsize=3, markersize=5)
        align = "right" if rate > 0.85 else "left" if rate < 0.15 else "center"
        right.text(rate, i - 0.16, f"{fmt_rate(rate)} ({r['passed']:,}/{r['decided']:,})", fontsize=7.5,
                   ha=align, va="bottom")
    right.set_xlim(0, 1.05)
    right.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
    right.grid(axis="x", color="#dddddd", linewidth=0.6)
    right.set_axisbelow(True)
    right.tick_params(axis="y", length=0)
    right.set_title("pass rate = passed / (passed + failed), 95% Wilson interval", loc="left")
    left.set_ylim(len(rows) - 0.5, -0.5)  # first stage on top (shared with the right axis)
    if title:
        container.suptitle(role, x=0.01, ha="left", fontweight="bold", fontsize=11)


def _funnel_height(stages: int) -> float:
    return 1.1 + 0.42 * max(stages, 1)


def funnel_figure(data: ReportData, role: str, chart_id: str):
    rows = _funnel_rows(data, role)

    def draw():
        fig = _figure(9.0, _funnel_height(len(rows)))
        _draw_funnel(fig, role, rows, title=False)  # the page has the role as a heading
        return fig

    return _with_rc(chart_id, draw)


def headline_figure(data: ReportData):
    """Every role's funnel in one figure: the PNG the asset's metadata shows."""
    roles = data.roles_with_applications

    def draw():
        if not roles:
            fig = _figure(9.0, 2.0)
            fig.text(0.5, 0.5, "No data yet: the published database has no applications.",
                     ha="center", va="center", fontsize=12, color=GREY)
            return fig
        heights = [_funnel_height(len(_funnel_rows(data, role))) for role in roles]
        fig = _figure(9.0, sum(heights))
        subfigures = fig.subfigures(len(roles), 1, height_ratios=heights, squeeze=False)[:, 0]
        for subfigure, role in zip(subfigures, roles):
            _draw_funnel(subfigure, role, _funnel_rows(data, role), title=True)
        return fig

    return _with_rc("headline", draw)


def skip_figure(data: ReportData):
    """Heat map: skip rate per role (rows) and pipeline stage (columns, catalog order)."""
    import numpy as np

    roles = list(dict.fromkeys(r["role"] for r in data.skipped))
    stages = [s for s, _ in sorted({(r["stage"], r["stage_order"]) for r in data.skipped}, key=lambda t: t[1])]

    def draw():
        grid = np.full((len(roles), len(stages)), np.nan)
        labels: dict[tuple[int, int], str] = {}
        for r in data.skipped:
            i, j = roles.index(r["role"]), stages.index(r["stage"])
            if r["skip_rate"] is not None:
                grid[i, j] = r["skip_rate"]
                labels[i, j] = f"{fmt_rate(r['skip_rate'])}\n{r['skipped']:,}/{r['skipped'] + r['entered']:,}"
            else:
                labels[i, j] = "no one\nyet"
        fig = _figure(max(6.0, 1.1 * len(stages) + 2.0), 0.9 + 0.62 * len(roles))
        ax = fig.add_subplot()
        cmap = _colormap("Blues")
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, aspect="auto")
        for (i, j), text in labels.items():
            value = grid[i, j]
            ax.text(j, i, text, ha="center", va="center", fontsize=7.5,
                    color="white" if not np.isnan(value) and value > 0.55 else "black")
        ax.set_xticks(range(len(stages)), stages, rotation=25, ha="right")
        ax.set_yticks(range(len(roles)), roles)
        ax.tick_params(length=0)
        ax.spines[:].set_visible(False)
        ax.set_title("skip rate = skipped / (skipped + entered); grey: stage not in the role's pipeline", loc="left")
        fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01, format=_percent_formatter())
        return fig

    return _with_rc("skip-rates", draw)


def dropoff_figure(data: ReportData):
    """Team-matching drop-off per cohort month, one line per role with 95% Wilson intervals, over the
    number of applications whose matching ended (matched, unmatched or withdrew) in each month."""
    roles = list(dict.fromkeys(r["role"] for r in data.dropoff_monthly))
    months = sorted({r["cohort_month"] for r in data.dropoff_monthly})

    def draw():
        fig = _figure(9.0, 4.8)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2.3, 1.0))
        offsets = _offsets(len(roles))
        width = 0.8 / max(len(roles), 1)
        for k, role in enumerate(roles):
            colour = ROLE_COLOURS[k % len(ROLE_COLOURS)]
            line = [math.nan] * len(months)  # NaN: no point, and the line breaks there
            xs, ys, lows, highs = [], [], [], []
            decided = [0] * len(months)
            for r in (r for r in data.dropoff_monthly if r["role"] == role):
                i = months.index(r["cohort_month"])
                decided[i] = r["matched"] + r["unmatched"] + r["withdrew"]
                interval = wilson(r["unmatched"] + r["withdrew"], decided[i])
                if r["dropoff_rate"] is None or interval is None:
                    continue
                line[i] = r["dropoff_rate"]
                xs.append(i + offsets[k])
                ys.append(r["dropoff_rate"])
                lows.append(r["dropoff_rate"] - interval[0])
                highs.append(interval[1] - r["dropoff_rate"])
            top.plot([i + offsets[k] for i in range(len(months))], line, "-o", color=colour, linewidth=1.4,
                     markersize=4, label=role if xs else f"{role} (nothing decided yet)")
            if xs:
                top.errorbar(xs, ys, yerr=[lows, highs], fmt="none", ecolor=colour, alpha=0.9, capsize=2.5,
                             elinewidth=1)
            bottom.bar([i - 0.4 + width * (k + 0.5) for i in range(len(months))], decided, width=width * 0.9,
                       color=colour, alpha=0.85)
        top.set_ylim(-0.04, 1.04)
        top.yaxis.set_major_formatter(_percent_formatter())
        top.grid(axis="y", color="#dddddd", linewidth=0.6)
        top.set_axisbelow(True)
        top.set_title("drop-off = (unmatched + withdrew) / (matched + unmatched + withdrew), 95% Wilson interval",
                      loc="left")
        top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        bottom.set_title("applications whose matching ended (matched, unmatched or withdrew)", loc="left")
        bottom.yaxis.get_major_locator().set_params(integer=True)
        bottom.grid(axis="y", color="#dddddd", linewidth=0.6)
        bottom.set_axisbelow(True)
        bottom.set_xticks(range(len(months)), [fmt_month(m) for m in months],
                          rotation=45 if len(months) > 8 else 0, ha="right" if len(months) > 8 else "center")
        bottom.set_xlim(-0.6, max(len(months) - 0.4, 0.6))
        bottom.set_xlabel("cohort month (month of the application's first record, UTC)")
        return fig

    return _with_rc("team-matching-dropoff", draw)


def coverage_figure(data: ReportData):
    """Loops covering every required skill per role (with intervals), and the share missing each skill."""
    import numpy as np

    summary = [r for r in data.loop_summary if r["role"] is not None]
    roles = [r["role"] for r in summary]
    skills = sorted({r["skill"] for r in data.missing_skills})

    def draw():
        fig = _figure(9.0, 1.4 + 0.55 * max(len(roles), 2))
        left, right = fig.subplots(1, 2, width_ratios=(1.0, max(1.0, 0.3 * len(skills))))
        y = list(range(len(roles)))
        rates = [r["fully_covered_rate"] or 0.0 for r in summary]
        left.barh(y, rates, color=GREEN, alpha=0.8, height=0.6)
        for i, r in enumerate(summary):
            interval = wilson(r["fully_covered"], r["loops"])
            if interval is not None and r["fully_covered_rate"] is not None:
                rate = r["fully_covered_rate"]
                left.errorbar([rate], [i], xerr=[[rate - interval[0]], [interval[1] - rate]], fmt="none",
                              ecolor="black", capsize=3, elinewidth=1)
            left.text(1.02, i, f"{fmt_rate(r['fully_covered_rate'])} ({r['fully_covered']:,}/{r['loops']:,})",
                      va="center", fontsize=7.5)
        left.set_yticks(y, roles)
        left.set_ylim(len(roles) - 0.5, -0.5)
        left.set_xlim(0, 1.35)
        left.set_xticks([0, 0.5, 1.0], ["0%", "50%", "100%"])
        left.tick_params(axis="y", length=0)
        left.set_title("loops covering every required skill", loc="left")

        grid = np.full((len(roles), len(skills)), np.nan)
        for r in data.missing_skills:
            if r["role"] in roles and r["loops"]:
                grid[roles.index(r["role"]), skills.index(r["skill"])] = r["missing"] / r["loops"]
        cmap = _colormap("Reds")
        right.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, aspect="auto")
        most = {r["role"]: r["most_often_missing_skill"] for r in summary}
        for r in data.missing_skills:
            if r["role"] not in roles:
                continue
            i, j = roles.index(r["role"]), skills.index(r["skill"])
            text = f"{r['missing']:,}/{r['loops']:,}"
            bold = most.get(r["role"]) == r["skill"]
            right.text(j, i, text, ha="center", va="center", fontsize=7.5, fontweight="bold" if bold else "normal",
                       color="white" if grid[i, j] > 0.55 else "black")
        right.set_xticks(range(len(skills)), skills, rotation=25, ha="right")
        right.set_yticks(range(len(roles)), [""] * len(roles))
        right.tick_params(length=0)
        right.spines[:].set_visible(False)
        right.set_title("loops missing each required skill (bold: most often missing)", loc="left")
        return fig

    return _with_rc("loop-skill-coverage", draw)


def _colormap(name: str):
    """A matplotlib colormap that draws missing cells (NaN) light grey."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="#f4f4f4")


def _percent_formatter():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=0)


def _offsets(count: int) -> list[float]:
    """Small x offsets so the error bars of several roles in one month don't overlap."""
    if count <= 1:
        return [0.0] * count
    spread = min(0.3, 0.08 * (count - 1))
    return [-spread / 2 + spread * k / (count - 1) for k in range(count)]


# ---------------------------------------------------------------------------------------------
# HTML


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    fmt: Callable[[Any], str] = fmt_text
    numeric: bool = False
    title: str = ""
    high_key: str | None = None  # an interval column: (row[key], row[high_key])

    def cell(self, row: Mapping[str, Any]) -> str:
        if self.high_key is not None:
            low, high = row.get(self.key), row.get(self.high_key)
            exact = "" if low is None or high is None else (
                f' data-low="{html.escape(repr(low))}" data-high="{html.escape(repr(high))}"')
            return f'<td class="num" data-col="{self.key}"{exact}>{html.escape(fmt_interval(low, high))}</td>'
        value = row.get(self.key)
        text = html.escape(self.fmt(value))
        if not self.numeric:
            return f'<td data-col="{self.key}">{text}</td>'
        exact = "" if value is None else f' data-value="{html.escape(repr(value))}"'
        return f'<td class="num" data-col="{self.key}"{exact}>{text}</td>'


def _interval_column(header: str, low: str, high: str) -> Column:
    return Column(header, low, numeric=True, title="95% Wilson score interval", high_key=high)


def html_table(table_id: str, columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], caption: str = "") -> str:
    head = "".join(
        f'<th{" class=num" if c.numeric else ""}{f" title={_attr(c.title)}" if c.title else ""}>'
        f"{html.escape(c.header)}</th>"
        for c in columns
    )
    body = []
    for row in rows:
        body.append("<tr>" + "".join(c.cell(row) for c in columns) + "</tr>")
    caption_html = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'<div class="table-wrap"><table class="data" id="{table_id}">{caption_html}'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _attr(text: str) -> str:
    return '"' + html.escape(text) + '"'


def _chart(chart_id: str, svg: str, caption: str, extra_class: str = "", data_attrs: str = "") -> str:
    return (f'<figure class="chart{(" " + extra_class) if extra_class else ""}" id="{chart_id}"{data_attrs}>'
            f"{svg}<figcaption>{html.escape(caption)}</figcaption></figure>")


FUNNEL_COLUMNS = (
    Column("stage", "stage"),
    Column("pipeline #", "pipeline_order", fmt_text, numeric=True),
    Column("entered", "entered", fmt_count, numeric=True),
    Column("passed", "passed", fmt_count, numeric=True),
    Column("failed", "failed", fmt_count, numeric=True),
    Column("withdrew", "withdrew", fmt_count, numeric=True),
    Column("in progress", "in_progress", fmt_count, numeric=True),
    Column("skipped", "skipped", fmt_count, numeric=True),
    Column("pass rate", "pass_rate", fmt_rate, numeric=True, title="passed / (passed + failed)"),
    _interval_column("95% interval", "pass_rate_low", "pass_rate_high"),
    Column("pass-through", "pass_through_rate", fmt_rate, numeric=True, title="passed / entered"),
    Column("skip rate", "skip_rate", fmt_rate, numeric=True, title="skipped / (skipped + entered)"),
)
SKIP_COLUMNS = (
    Column("role", "role"),
    Column("stage", "stage"),
    Column("applications", "applications", fmt_count, numeric=True),
    Column("entered", "entered", fmt_count, numeric=True),
    Column("skipped (explicit)", "skipped_explicit", fmt_count, numeric=True),
    Column("skipped (implied)", "skipped_implied", fmt_count, numeric=True),
    Column("skipped", "skipped", fmt_count, numeric=True),
    Column("skip rate", "skip_rate", fmt_rate, numeric=True),
)
DROPOFF_COLUMNS = (
    Column("role", "role"),
    Column("cohort month", "cohort_month", fmt_month),
    Column("applications", "applications", fmt_count, numeric=True),
    Column("cleared", "cleared", fmt_count, numeric=True),
    Column("matched", "matched", fmt_count, numeric=True),
    Column("unmatched", "unmatched", fmt_count, numeric=True),
    Column("withdrew", "withdrew", fmt_count, numeric=True),
    Column("in matching", "in_matching", fmt_count, numeric=True),
    Column("stalled", "stalled", fmt_count, numeric=True),
    Column("awaiting", "awaiting", fmt_count, numeric=True),
    Column("drop-off", "dropoff_rate", fmt_rate, numeric=True),
    _interval_column("95% interval", "dropoff_low", "dropoff_high"),
    Column("median days to match", "median_days_to_match", fmt_number, numeric=True),
)
LOOP_COLUMNS = (
    Column("role", "role", role_label),
    Column("loops", "loops", fmt_count, numeric=True),
    Column("fully covered", "fully_covered", fmt_count, numeric=True),
    Column("fully covered rate", "fully_covered_rate", fmt_rate, numeric=True),
    _interval_column("95% interval", "covered_low", "covered_high"),
    Column("most often missing skill", "most_often_missing_skill"),
    Column("loops missing it", "most_often_missing_loops", fmt_count, numeric=True),
    Column("loops with a doubled skill", "loops_with_doubled_skill", fmt_count, numeric=True),
    Column("mean interviewers", "mean_interviewers", fmt_number, numeric=True),
)
MISSING_COLUMNS = (
    Column("role", "role"),
    Column("required skill", "skill"),
    Column("loops", "loops", fmt_count, numeric=True),
    Column("loops missing it", "missing", fmt_count, numeric=True),
    Column("share missing", "missing_share", fmt_rate, numeric=True),
)
OVERVIEW_COLUMNS = (
    Column("role", "role"),
    Column("applications", "applications", fmt_count, numeric=True),
    Column("hired", "hired", fmt_count, numeric=True),
    Column("rejected", "rejected", fmt_count, numeric=True),
    Column("withdrew", "withdrew", fmt_count, numeric=True),
    Column("in progress", "in_progress", fmt_count, numeric=True),
    Column("fast-tracked", "fast_tracked", fmt_count, numeric=True),
    Column("first cohort", "first_cohort", fmt_month),
    Column("last cohort", "last_cohort", fmt_month),
)

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d1d1f;
       margin: 0 auto; max-width: 1180px; padding: 24px 28px 64px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 8px; }
h2 { font-size: 19px; margin: 40px 0 6px; padding-top: 12px; border-top: 1px solid #e5e5e5; }
h3 { font-size: 15px; margin: 26px 0 4px; }
p.note, figcaption, caption, footer { color: #555; font-size: 13px; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; margin: 8px 0 12px; }
dl.meta dt { color: #555; } dl.meta dd { margin: 0; font-variant-numeric: tabular-nums; }
nav ul { margin: 4px 0; padding-left: 18px; }
figure.chart { margin: 12px 0 6px; }
figure.chart svg { display: block; width: 100%; max-width: 940px; height: auto; }
figcaption { margin-top: 4px; }
.table-wrap { overflow-x: auto; margin: 6px 0 18px; }
table.data { border-collapse: collapse; font-size: 12.5px; font-variant-numeric: tabular-nums; }
table.data caption { text-align: left; padding-bottom: 4px; }
table.data th, table.data td { padding: 3px 9px; border-bottom: 1px solid #e8e8e8; text-align: left;
                               white-space: nowrap; }
table.data th { background: #f6f6f6; font-weight: 600; white-space: normal; vertical-align: bottom; }
table.data .num { text-align: right; }
.empty { padding: 14px 16px; background: #f6f8fa; border: 1px solid #e1e4e8; border-radius: 6px; }
.warning { padding: 10px 14px; background: #fff8e6; border: 1px solid #f0d58c; border-radius: 6px; }
code { font-size: 12.5px; background: #f3f3f3; padding: 1px 4px; border-radius: 3px; }
"""

SECTIONS = (
    ("overview", "Overview"),
    ("funnels", "Funnel by role"),
    ("skips", "Skipped stages"),
    ("team-matching", "Team-matching drop-off"),
    ("loop-coverage", "Onsite loop skill coverage"),
)


def _header(data: ReportData) -> str:
    publishes = f" ({data.publishes:,} publishes so far)" if data.publishes > 1 else ""
    items = [
        ("Published", f'<span id="published-at">{html.escape(fmt_time(data.published_at))}</span>{publishes}'),
        ("Run", f'<code id="run-id">{html.escape(fmt_text(data.run_id))}</code>'),
        ("Data as of", f'<span id="as-of">{html.escape(fmt_time(data.as_of))}</span>'
                       + (" (the latest accepted record)" if data.as_of else "")),
        ("Applications", f'<span id="applications">{data.applications:,}</span>'),
        ("Source", f"<code>{html.escape(data.source_name)}</code>, the published database, opened read-only"),
    ]
    meta = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    toc = "" if data.empty else (
        "<nav><ul>" + "".join(f'<li><a href="#{i}">{html.escape(t)}</a></li>' for i, t in SECTIONS) + "</ul></nav>"
    )
    return f'<header id="report-header"><h1>{TITLE}</h1><dl class="meta">{meta}</dl>{toc}</header>'


def _empty_body(data: ReportData) -> str:
    if not data.exists:
        reason = ("The published database does not exist yet: nothing has been published. "
                  "Run <code>funnel run</code> to ingest the landing files and publish.")
    else:
        reason = "The published database has no applications yet: there is nothing to chart."
        if data.roles:
            reason += " Configured roles: " + ", ".join(f"<code>{html.escape(r)}</code>" for r in data.roles) + "."
    return f'<section id="no-data"><h2>No data yet</h2><p class="empty">{reason}</p></section>'


def _no_rows(text: str) -> str:
    return f'<p class="empty">{html.escape(text)}</p>'


def _funnels_section(data: ReportData, charts: dict[str, str]) -> str:
    parts = ['<section id="funnels"><h2>Funnel by role</h2><p class="note">Each role\'s pipeline, stage by stage:'
             " how many applications entered the stage (skips are not entries), and the stage's pass rate"
             " (withdrawals and applications still in the stage are not in its denominator) with its 95% Wilson"
             " interval. The table lists off-pipeline stages too (no pipeline #).</p>"]
    for role, chart_id in data.funnel_ids.items():
        parts.append(f"<h3>{html.escape(role)}</h3>")
        parts.append(_chart(chart_id, charts[chart_id], f"Funnel of {role}: applications entering each stage,"
                            " and pass rates with 95% Wilson intervals.", "funnel",
                            f' data-role="{html.escape(role)}"'))
        rows = [r for r in data.stage_rates if r["role"] == role]
        rows.sort(key=lambda r: (not r["in_pipeline"], r["pipeline_order"] or 0, r["stage_order"]))
        parts.append(html_table(f"table-{chart_id}", FUNNEL_COLUMNS, rows))
    idle = [r for r in data.roles if r not in data.roles_with_applications]
    if idle:
        parts.append('<p class="note" id="roles-without-applications">Roles with no applications yet: '
                     + ", ".join(f"<code>{html.escape(r)}</code>" for r in idle) + ".</p>")
    parts.append("</section>")
    return "".join(parts)


def _skips_section(data: ReportData, charts: dict[str, str]) -> str:
    body = (_chart("skip-rates", charts["skip-rates"], "Skip rate per role and pipeline stage (explicit plus"
                   " implied skips); each cell shows skipped / (skipped + entered).")
            + html_table("table-skip-rates", SKIP_COLUMNS, data.skipped)) if data.skipped else _no_rows(
        "No skipped-stage rows yet.")
    return ('<section id="skips"><h2>Skipped stages</h2><p class="note">A stage is skipped explicitly (its latest'
            " record says skipped) or implied (no record, while a later stage of the pipeline was entered).</p>"
            f"{body}</section>")


def _dropoff_rows(data: ReportData) -> list[dict]:
    rows = []
    for role in dict.fromkeys(r["role"] for r in [*data.dropoff_monthly, *data.dropoff]):
        rows.extend(r for r in data.dropoff_monthly if r["role"] == role)
        rows.extend(r for r in data.dropoff if r["role"] == role)
    out = []
    for r in rows:
        interval = wilson(r["unmatched"] + r["withdrew"], r["matched"] + r["unmatched"] + r["withdrew"])
        out.append({**r, "dropoff_low": interval and interval[0], "dropoff_high": interval and interval[1]})
    return out


def _dropoff_section(data: ReportData, charts: dict[str, str]) -> str:
    if data.dropoff_monthly:
        body = (_chart("team-matching-dropoff", charts["team-matching-dropoff"], "Team-matching drop-off per"
                       " cohort month and role, with 95% Wilson intervals; months with no decided matching have"
                       " no point.")
                + html_table("table-team-matching-dropoff", DROPOFF_COLUMNS, _dropoff_rows(data),
                             "Per cohort month, then all time (the last row of each role)."))
    else:
        body = _no_rows("No applications of a role with team matching yet.")
    return ('<section id="team-matching"><h2>Team-matching drop-off</h2><p class="note">Of the applications that'
            " cleared the final evaluation, those whose matching ended unmatched or withdrawn, by cohort month."
            f"</p>{body}</section>")


def _loop_rows(data: ReportData) -> list[dict]:
    out = []
    for r in data.loop_summary:
        interval = wilson(r["fully_covered"], r["loops"]) if r["role"] is not None else None
        out.append({**r, "covered_low": interval and interval[0], "covered_high": interval and interval[1]})
    return out


def _coverage_section(data: ReportData, charts: dict[str, str]) -> str:
    known = [r for r in data.loop_summary if r["role"] is not None]
    if data.loop_summary:
        missing = [{**r, "missing_share": r["missing"] / r["loops"] if r["loops"] else None}
                   for r in data.missing_skills]
        chart = (_chart("loop-skill-coverage", charts["loop-skill-coverage"], "Share of onsite loops that covered"
                        " every required skill (95% Wilson interval), and how many loops missed each required"
                        " skill.") if known else "")
        body = (chart + html_table("table-loop-skill-coverage", LOOP_COLUMNS, _loop_rows(data))
                + html_table("table-loop-missing-skills", MISSING_COLUMNS, missing,
                             "Loops missing each required skill."))
    else:
        body = _no_rows("No onsite interviews yet.")
    return ('<section id="loop-coverage"><h2>Onsite loop skill coverage</h2><p class="note">A loop is an'
            " application with at least one onsite interview; it is fully covered when interviewers evaluated"
            f" every skill the role requires.</p>{body}</section>")


def _overview_section(data: ReportData) -> str:
    return ('<section id="overview"><h2>Overview</h2>'
            + html_table("table-overview", OVERVIEW_COLUMNS, data.overview, "Applications by final status.")
            + "</section>")


def render_html(data: ReportData, charts: Mapping[str, str]) -> str:
    """The page, from the data and the charts' inline SVG (keyed by chart id)."""
    warning = ""
    if data.exists and data.missing_tables:
        warning = ('<p class="warning" id="missing-tables">The published database lacks these tables (an older'
                   " publish?): " + ", ".join(f"<code>{html.escape(t)}</code>" for t in data.missing_tables)
                   + ".</p>")
    if data.empty:
        main = warning + _empty_body(data)
    else:
        main = (warning + _overview_section(data) + _funnels_section(data, dict(charts))
                + _skips_section(data, dict(charts)) + _dropoff_section(data, dict(charts))
                + _coverage_section(data, dict(charts)))
    title = TITLE + (f" \u2013 {html.escape(fmt_time(data.published_at))}" if data.published_at else "")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title>"
        f"<style>{CSS}</style></head><body>"
        f"{_header(data)}<main>{main}</main>"
        '<footer><p>Rendered by <code>funnel</code> from the published tables only; definitions of every'
        " number in docs/metrics.md. Rates are NULL (\u2013) when their denominator is 0.</p></footer>"
        "</body></html>\n"
    )


def render_charts(data: ReportData) -> dict[str, str]:
    """Inline SVG of every chart the page shows, keyed by chart id."""
    charts: dict[str, str] = {}
    if data.empty:
        return charts
    for role, chart_id in data.funnel_ids.items():
        charts[chart_id] = _svg(funnel_figure(data, role, chart_id), chart_id, f"Funnel of {role}")
    if data.skipped:
        charts["skip-rates"] = _svg(skip_figure(data), "skip-rates", "Skip rates per role and stage")
    if data.dropoff_monthly:
        charts["team-matching-dropoff"] = _svg(dropoff_figure(data), "team-matching-dropoff",
                                               "Team-matching drop-off by cohort month")
    if any(r["role"] is not None for r in data.loop_summary):
        charts["loop-skill-coverage"] = _svg(coverage_figure(data), "loop-skill-coverage",
                                             "Onsite loop skill coverage")
    return charts


# ---------------------------------------------------------------------------------------------
# Entry point


def _write_atomic(path: Path, content: bytes) -> None:
    """Readers (a browser, the Dagster UI) never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def dated_name(published_at: datetime) -> str:
    return f"funnel_report_{published_at.strftime('%Y%m%dT%H%M%SZ')}.html"


def render_report(published_db: Path, out_dir: Path, *, dated_copy: bool = True) -> ReportPaths:
    """Render the report of the published database `published_db` into `out_dir`.

    Writes funnel_report.html, funnel.png and (when the database has a publish_log and
    `dated_copy`) funnel_report_<published_at>.html. An empty or missing database gives a page
    saying there is no data yet, and a PNG saying the same.
    """
    out_dir = Path(out_dir)
    data = load_report_data(Path(published_db))
    charts = render_charts(data)
    page = render_html(data, charts).encode("utf-8")
    png = _png(headline_figure(data), "headline")

    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, png_path = out_dir / REPORT_NAME, out_dir / PNG_NAME
    _write_atomic(html_path, page)
    _write_atomic(png_path, png)
    dated = None
    if dated_copy and data.published_at is not None:
        dated = out_dir / dated_name(data.published_at)
        _write_atomic(dated, page)
    return ReportPaths(
        html=html_path,
        png=png_path,
        dated_html=dated,
        published_at=data.published_at,
        run_id=data.run_id,
        as_of=data.as_of,
        applications=data.applications,
        chart_ids=tuple(charts),
    )


def png_markdown(png: Path | bytes, alt: str = "funnel") -> str:
    """Markdown showing a PNG inline (for Dagster metadata): ![alt](data:image/png;base64,...)."""
    raw = png if isinstance(png, bytes) else Path(png).read_bytes()
    return f"![{alt}](data:image/png;base64,{base64.b64encode(raw).decode('ascii')})"


def report_dir(home_root: Path | str) -> Path:
    """FUNNEL_HOME/reports."""
    return Path(home_root) / REPORTS_DIR
