"""The funnel report: one self-contained HTML page, plus a PNG of the headline funnel chart.

    render_report(published_db, out_dir) -> ReportPaths

    out_dir/funnel_report.html                      the report (charts as inline SVG, inline CSS)
    out_dir/funnel_report_<published_at>.html       the same page, named after the publish it shows
    out_dir/funnel.png                              the headline chart: a funnel per role
    out_dir/funnel_report.state.json                what they were rendered from (render_report's reuse)

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
value in `data-value`. Ids: `funnel-<role>` (one per role with applications), `sources-<role>`
(source effectiveness, per role with at least one named source), `adverse-impact-<role>` (per role
with a group compared against a reference group), `skip-rates`, `team-matching-dropoff`,
`loop-skill-coverage`. A role's source and adverse-impact tables are `table-sources-<role>` and
`table-adverse-impact-<role>` even when its chart is left out (nothing to chart).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import io
import json
import math
import os
import re
from dataclasses import dataclass, field, replace
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
    reused: bool = False  # kept from an earlier render: the published tables it reads are unchanged
    reason: str = ""  # why it was rendered, or kept
    latest_published_at: datetime | None = None  # the newest publish; an earlier one's when reused
    latest_run_id: str | None = None

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
    sources: list[dict] = field(default_factory=list)
    adverse_impact: list[dict] = field(default_factory=list)
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
        return _role_ids("funnel", self.roles_with_applications)

    @property
    def source_ids(self) -> dict[str, str]:
        """role -> `sources-<role>`, for every role in source_effectiveness."""
        return _role_ids("sources", dict.fromkeys(r["role"] for r in self.sources))

    @property
    def impact_ids(self) -> dict[str, str]:
        """role -> `adverse-impact-<role>`, for every role with applications or adverse_impact rows."""
        return _role_ids("adverse-impact", dict.fromkeys(
            [*self.roles_with_applications, *(r["role"] for r in self.adverse_impact)]))


def _role_ids(prefix: str, roles: Iterable[str]) -> dict[str, str]:
    """role -> `<prefix>-<slug of role>`, made unique should two roles slug alike."""
    ids: dict[str, str] = {}
    for role in roles:
        base = candidate = f"{prefix}-{slug(role)}"
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
    # The application-level figures of each role and source, read once: they repeat on every stage row
    # (docs/metrics.md), so take the hire_stage row (any row of the pair should that one be missing).
    "sources": (
        "source_effectiveness",
        "SELECT role, source, hire_stage, applications, reached_onsite, onsite_passed, onsite_failed,"
        " onsite_pass_rate, onsite_pass_rate_low, onsite_pass_rate_high, offers_extended, offers_accepted,"
        " offers_declined, offers_rescinded, offers_pending, offer_acceptance_rate, offer_acceptance_rate_low,"
        " offer_acceptance_rate_high, hired, hire_rate, hire_rate_low, hire_rate_high, median_days_to_hire"
        " FROM source_effectiveness"
        " QUALIFY row_number() OVER (PARTITION BY role, source ORDER BY stage = hire_stage DESC, stage_order) = 1"
        " ORDER BY role, source",
    ),
    "adverse_impact": (
        "adverse_impact",
        "SELECT role, step, step_order, dimension, group_name, applicants, selected, selection_rate,"
        " reference_group, is_reference, impact_ratio, four_fifths_flag, z, p_value, significant, shortfall,"
        " flip_flop, suppressed, below_min_share FROM adverse_impact"
        " ORDER BY role, step_order, CASE dimension WHEN 'sex' THEN 1 WHEN 'race_ethnicity' THEN 2"
        " WHEN 'sex_x_race_ethnicity' THEN 3 ELSE 4 END, dimension, group_name = 'unknown', group_name",
    ),
}


def _fetch(conn: Any, sql: str) -> list[dict]:
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values)) for values in cursor.fetchall()]


def _tables(conn: Any) -> set[str]:
    return {name for (name,) in conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}


def _latest_publish(conn: Any, tables: set[str]) -> tuple[datetime | None, str | None, int]:
    """(published_at, run_id) of the newest publish_log row, and how many rows it has."""
    if "publish_log" in tables:
        latest = conn.execute(
            "SELECT published_at, run_id, count(*) OVER () FROM publish_log"
            " ORDER BY published_at DESC, run_id DESC LIMIT 1"
        ).fetchone()
        if latest:
            return latest
    return None, None, 0


def _read(conn: Any, data: ReportData, tables: set[str]) -> ReportData:
    if "publish_log" not in tables:
        data.missing_tables.append("publish_log")
    data.published_at, data.run_id, data.publishes = _latest_publish(conn, tables)
    for attribute, (table, sql) in QUERIES.items():
        if table in tables:
            setattr(data, attribute, _fetch(conn, sql))
        elif table not in data.missing_tables:
            data.missing_tables.append(table)
    stamps = [row["last_record_at"] for row in data.overview if row["last_record_at"] is not None]
    data.as_of = max(stamps) if stamps else None
    return data


def _connect(published_db: Path) -> Any:
    """A read-only connection to the published database, or None when the file does not exist."""
    import duckdb

    return duckdb.connect(str(published_db), read_only=True) if published_db.exists() else None


def load_report_data(published_db: Path) -> ReportData:
    """Everything the report shows, read from the published database in one read-only connection.

    A missing file gives an empty ReportData (`exists=False`); a missing table leaves its
    section empty and is named in `missing_tables`.
    """
    published_db = Path(published_db)
    data = ReportData(source_name=published_db.name)
    conn = _connect(published_db)
    if conn is None:
        data.exists = False
        return data
    try:
        return _read(conn, data, _tables(conn))
    finally:
        conn.close()


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


UNKNOWN = "unknown"  # the group (and source) of everyone who did not say, or declined to
DIMENSIONS = {"sex": "sex", "race_ethnicity": "race/ethnicity", "sex_x_race_ethnicity": "sex \u00d7 race/ethnicity"}
CHARTED_DIMENSIONS = ("sex", "race_ethnicity")  # the intersection has too many groups to chart: table only


def _truncate(value: float, digits: int) -> float:
    """Cut (not round) to `digits` decimals, so a value just under a threshold never prints as the
    threshold: an impact ratio of 0.7996 reads 0.79, not 0.80. The 1e-9 absorbs floating-point noise
    (0.6 / 0.75 = 0.7999999999999999 is exactly 4/5 and reads 0.80)."""
    scale = 10 ** digits
    return math.floor(value * scale + 1e-9) / scale


def fmt_ratio(value: float | None) -> str:
    """An impact ratio with two decimals, truncated (see _truncate); NULL as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NO_VALUE
    return f"{_truncate(value, 2):.2f}"


def fmt_p(value: float | None) -> str:
    """A p-value: '<0.001' when tiny, else three decimals, truncated (0.0499 reads 0.049, not 0.050)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NO_VALUE
    return "<0.001" if value < 0.001 else f"{_truncate(value, 3):.3f}"


def fmt_yes_no(value: bool | None) -> str:
    return NO_VALUE if value is None else ("yes" if value else "no")


def group_label(name: str) -> str:
    """A group as people read it: female_x_asian -> 'female \u00d7 asian'; unknown says what it holds."""
    if name == UNKNOWN:
        return "unknown (incl. declined)"
    return name.replace("_x_", " \u00d7 ").replace("_", " ")


def impact_status(row: Mapping[str, Any]) -> str:
    """What an adverse_impact row is: reference, compared, suppressed, under_share, unknown or no_reference."""
    if row["suppressed"]:
        return "suppressed"
    if row["group_name"] == UNKNOWN:
        return "unknown"
    if row["below_min_share"]:
        return "under_share"
    if row["reference_group"] is None:
        return "no_reference"
    return "reference" if row["is_reference"] else "compared"


IMPACT_STATUS_TEXT = {
    "reference": "reference",
    "compared": "compared",
    "suppressed": "suppressed",
    "under_share": "not compared (under the minimum share)",
    "unknown": "unknown: not compared",
    "no_reference": "not compared (no reference group)",
}


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


def source_rows(data: ReportData, role: str) -> list[dict]:
    """A role's sources, busiest first (then by name), `unknown` last: the chart's and the table's order."""
    rows = [r for r in data.sources if r["role"] == role]
    return sorted(rows, key=lambda r: (r["source"] == UNKNOWN, -r["applications"], r["source"]))


NICE_LIMITS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)


def _hire_rate_limit(rows: Sequence[dict]) -> float:
    """The hire-rate axis: room for twice the best rate and for at least half of the intervals; the
    wider intervals of small sources run off the edge (drawn with an arrow) rather than squash the rest."""
    rates = sorted(r["hire_rate"] for r in rows if r["hire_rate"] is not None)
    highs = sorted(r["hire_rate_high"] for r in rows if r["hire_rate_high"] is not None)
    if not rates:
        return 1.0
    target = max(2 * rates[-1], highs[(len(highs) - 1) // 2] if highs else 0.0)
    return next((limit for limit in NICE_LIMITS if limit >= target), 1.0)


def _rate_panel(ax, rows: Sequence[dict], keys: tuple[str, str, str], counts: Callable[[dict], tuple[int, int]],
                colour: str, limit: float, none_text: str) -> None:
    """Rates with their 95% Wilson intervals, one row per source, the rate and its counts above the point."""
    rate_key, low_key, high_key = keys
    for i, r in enumerate(rows):
        rate, low, high = r[rate_key], r[low_key], r[high_key]
        if rate is None:
            ax.text(0.01 * limit, i, none_text, va="center", fontsize=7.5, color=GREY)
            continue
        shown_high = min(high, limit)
        ax.errorbar([rate], [i], xerr=[[rate - low], [shown_high - rate]], fmt="o", color=colour, ecolor=colour,
                    elinewidth=2, capsize=3, markersize=5)
        if high > limit:  # the interval runs on past the axis
            ax.plot([limit], [i], marker=">", color=colour, markersize=5, clip_on=False)
        num, den = counts(r)
        align = "right" if rate > 0.8 * limit else "left" if rate < 0.2 * limit else "center"
        ax.text(rate, i - 0.17, f"{fmt_rate(rate)} ({num:,}/{den:,})", fontsize=7.5, ha=align, va="bottom")
    ax.set_xlim(0, limit * 1.03)
    ax.xaxis.set_major_formatter(_percent_formatter(None if limit < 0.1 else 0))
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(axis="y", length=0)


def sources_figure(data: ReportData, role: str, chart_id: str):
    """Per source of a role: applications (and hires), the hire rate and the onsite pass rate with 95% intervals."""
    rows = source_rows(data, role)

    def draw():
        fig = _figure(9.0, 1.0 + 0.4 * len(rows))
        apps_ax, hire_ax, onsite_ax = fig.subplots(1, 3, sharey=True, width_ratios=(1.0, 1.3, 1.3))
        y = list(range(len(rows)))
        widest = max([r["applications"] for r in rows] + [1])
        apps_ax.barh(y, [r["applications"] for r in rows], color=LIGHT_BLUE, edgecolor=BLUE, linewidth=0.8,
                     height=0.6)
        apps_ax.barh(y, [r["hired"] for r in rows], color=GREEN, height=0.6)
        for i, r in enumerate(rows):
            apps_ax.text(r["applications"] + widest * 0.03, i, f"{r['applications']:,} ({r['hired']:,} hired)",
                         va="center", fontsize=7.5)
        apps_ax.set_xlim(0, widest * 1.75)
        apps_ax.xaxis.get_major_locator().set_params(integer=True, nbins=3)
        apps_ax.set_yticks(y, [r["source"] for r in rows])
        apps_ax.set_ylim(len(rows) - 0.5, -0.5)  # busiest source on top (shared)
        apps_ax.tick_params(axis="y", length=0)
        apps_ax.set_title("applications (green: hired)", loc="left")

        _rate_panel(hire_ax, rows, ("hire_rate", "hire_rate_low", "hire_rate_high"),
                    lambda r: (r["hired"], r["applications"]), GREEN, _hire_rate_limit(rows), "no applications")
        hire_ax.set_title("hire rate = hired / applications", loc="left")
        _rate_panel(onsite_ax, rows, ("onsite_pass_rate", "onsite_pass_rate_low", "onsite_pass_rate_high"),
                    lambda r: (r["onsite_passed"], r["onsite_passed"] + r["onsite_failed"]), ORANGE, 1.0,
                    "no onsite decided yet")
        onsite_ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
        onsite_ax.set_title("onsite pass rate = passed / decided", loc="left")
        fig.supxlabel("bars: counts; points: rates with their 95% Wilson interval (an arrow: the interval goes on)",
                      fontsize=7.5, color=GREY)
        return fig

    return _with_rc(chart_id, draw)


FLAG_RED = "#d62728"
REFERENCE_GREY = "#444444"
IMPACT_PITCH = 1.4  # a step's column spans impact ratios 0..1, plus a gap


def impact_groups(rows: Sequence[dict], dimension: str) -> list[str]:
    """The groups of a dimension in a role's rows: alphabetical, `unknown` last."""
    names = {r["group_name"] for r in rows if r["dimension"] == dimension}
    return [*sorted(names - {UNKNOWN}), *([UNKNOWN] if UNKNOWN in names else [])]


def impact_steps(rows: Sequence[dict]) -> list[str]:
    """`overall` first, then the role's pipeline order."""
    return [s for s, _ in sorted({(r["step"], r["step_order"]) for r in rows}, key=lambda t: (t[1], t[0]))]


def _impact_cell(ax, x0: float, i: int, r: Mapping[str, Any]) -> None:
    """One group at one step: a marker at its impact ratio, or a word saying why there is none."""
    status = impact_status(r)
    box = {"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 0.6}  # keeps the 4/5 line off the text
    quiet = {"ha": "center", "va": "center", "fontsize": 6.5, "color": GREY, "bbox": box}
    if status == "suppressed":
        ax.text(x0 + 0.5, i, "suppressed", style="italic", **quiet)
    elif status == "unknown":
        ax.text(x0 + 0.5, i, f"{r['applicants']:,}", **quiet)
    elif status == "under_share":
        ax.text(x0 + 0.5, i, "not compared\n(small share)", linespacing=1.0, **{**quiet, "fontsize": 6})
    elif status == "no_reference":
        ax.text(x0 + 0.5, i, "no reference", **quiet)
    elif status == "reference":
        ax.plot([x0 + 1.0], [i], linestyle="none", marker="s", markersize=5.5, color=REFERENCE_GREY, zorder=3)
        ax.text(x0 + 0.92, i, "ref", ha="right", va="center", fontsize=6.5, color=REFERENCE_GREY, bbox=box)
    elif r["impact_ratio"] is None:
        ax.text(x0 + 0.5, i, "no ratio\n(ref. rate 0)", linespacing=1.0, **{**quiet, "fontsize": 6})
    else:
        ratio, flagged = r["impact_ratio"], bool(r["four_fifths_flag"])
        colour = FLAG_RED if flagged else BLUE
        x = x0 + min(max(ratio, 0.0), 1.0)
        ax.plot([x], [i], linestyle="none", marker="v" if flagged else "o", markersize=6.5 if flagged else 5.5,
                markerfacecolor=colour if r["significant"] else "white", markeredgecolor=colour,
                markeredgewidth=1.3, zorder=3)
        label = fmt_ratio(ratio) + ("*" if r["significant"] else "") + ("\u2020" if r["flip_flop"] else "")
        left = ratio >= 0.45  # the label beside the marker, on the side with room
        ax.text(x - 0.08 if left else x + 0.08, i, label, ha="right" if left else "left", va="center", fontsize=6.5,
                color=colour, fontweight="bold" if flagged else "normal", zorder=4, bbox=box)


def _impact_panel(ax, steps: Sequence[str], dimension: str, groups: Sequence[str],
                  cells: Mapping[tuple[str, str], dict], *, top: bool) -> None:
    from matplotlib.transforms import blended_transform_factory

    gap = (IMPACT_PITCH - 1.0) / 2
    header = blended_transform_factory(ax.transData, ax.transAxes)
    for c, step in enumerate(steps):
        x0 = c * IMPACT_PITCH
        ax.axvspan(x0, x0 + 0.8, color="#fbeaea", linewidth=0, zorder=0)  # under 4/5
        ax.axvline(x0 + 0.8, color=FLAG_RED, linewidth=1.0, linestyle=(0, (3, 2)), zorder=1)
        ax.axvline(x0 + 1.0, color="#c8c8c8", linewidth=0.6, zorder=1)
        if c:
            ax.axvline(x0 - gap, color="#d8d8d8", linewidth=0.8, zorder=1)
        if top:
            ax.text(x0 + 0.5, 1.02, step.replace("_", "\n"), transform=header, ha="center", va="bottom",
                    fontsize=7.5, fontweight="bold", linespacing=1.0)
        for i, group in enumerate(groups):
            if (step, group) in cells:
                _impact_cell(ax, x0, i, cells[step, group])
    for i in range(len(groups) - 1):
        ax.axhline(i + 0.5, color="#eeeeee", linewidth=0.6, zorder=0)
    ax.set_xlim(-gap, (len(steps) - 1) * IMPACT_PITCH + 1.0 + gap)
    ax.set_ylim(len(groups) - 0.5, -0.5)
    labels = [group_label(g).replace(" or other ", " or other\n") if len(g) > 30 else group_label(g) for g in groups]
    ax.set_yticks(range(len(groups)), labels, fontsize=7.5, linespacing=1.0)
    ax.tick_params(axis="y", length=0)
    ax.set_ylabel(f"by {DIMENSIONS[dimension]}", fontsize=8.5, fontweight="bold")
    ax.spines[["left", "top", "right"]].set_visible(False)


def _impact_legend():
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], linestyle="none", marker="s", markersize=5.5, color=REFERENCE_GREY,
               label="reference group (highest rate; ratio 1)"),
        Line2D([], [], linestyle="none", marker="o", markersize=5.5, markerfacecolor="white", markeredgecolor=BLUE,
               markeredgewidth=1.3, label="at or above 4/5"),
        Line2D([], [], linestyle="none", marker="v", markersize=6.5, markerfacecolor="white",
               markeredgecolor=FLAG_RED, markeredgewidth=1.3, label="below 4/5: flagged"),
        Line2D([], [], color=FLAG_RED, linewidth=1.0, linestyle=(0, (3, 2)), label="the 4/5 line (ratio 0.8)"),
        Line2D([], [], linestyle="none", marker="v", markersize=6.5, color=FLAG_RED,
               label="filled and *: significant (p < 0.05)"),
        Line2D([], [], linestyle="none", label="\u2020 flip-flop: one selection from no gap"),
    ]


def impact_figure(data: ReportData, role: str, chart_id: str):
    """A role's impact ratios: a panel per charted dimension (sex, race/ethnicity), a row per group and a
    column per step (overall first, then pipeline order), each column an impact-ratio axis 0..1 with the
    4/5 line. Groups not compared say why (suppressed, small share); unknown shows its applicants."""
    rows = [r for r in data.adverse_impact if r["role"] == role]
    steps = impact_steps(rows)
    panels = []
    for dimension in CHARTED_DIMENSIONS:
        groups = impact_groups(rows, dimension)
        if groups:
            cells = {(r["step"], r["group_name"]): r for r in rows if r["dimension"] == dimension}
            panels.append((dimension, groups, cells))

    def draw():
        heights = [len(groups) for _, groups, _ in panels]
        fig = _figure(9.0, 1.35 + 0.3 * sum(heights) + 0.2 * len(panels))
        axes = fig.subplots(len(panels), 1, sharex=True, height_ratios=heights, squeeze=False)[:, 0]
        for k, (ax, (dimension, groups, cells)) in enumerate(zip(axes, panels)):
            _impact_panel(ax, steps, dimension, groups, cells, top=k == 0)
        ticks = [c * IMPACT_PITCH + x for c in range(len(steps)) for x in (0.0, 0.8, 1.0)]
        axes[-1].set_xticks(ticks, ["0", "0.8", ""] * len(steps), fontsize=6.5)  # "1" would run into "0.8"
        for ax in axes[:-1]:
            ax.tick_params(axis="x", labelbottom=False, length=0)
        axes[-1].set_xlabel("impact ratio = the group's selection rate / the reference group's, at each step;"
                            " unknown: its applicants (not compared)", fontsize=7.5, color=GREY)
        fig.legend(handles=_impact_legend(), loc="outside upper center", ncols=3, frameon=False, fontsize=7.5,
                   handletextpad=0.4, columnspacing=1.6)
        return fig

    return _with_rc(chart_id, draw)


def _colormap(name: str):
    """A matplotlib colormap that draws missing cells (NaN) light grey."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="#f4f4f4")


def _percent_formatter(decimals: int | None = 0):
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=decimals)


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
h4 { font-size: 14px; margin: 22px 0 4px; }
div.explain { max-width: 900px; } div.explain ul { margin: 4px 0; padding-left: 20px; }
table.impact tr.step-start td { border-top: 2px solid #c8c8c8; }
table.impact tr.flagged td { background: #fdf0f0; }
table.impact td.mark { color: #b31b1b; font-weight: 600; }
table.impact td.suppressed, table.impact tr.status-suppressed td { color: #777; font-style: italic; }
table.impact tr.status-unknown td, table.impact tr.status-under-share td { color: #666; }
details.impact-table > summary { cursor: pointer; color: #555; font-size: 13px; margin-top: 6px; }
ul.flags { margin: 2px 0 8px; padding-left: 20px; font-size: 13px; }
p.flags-title { margin: 6px 0 0; font-size: 13px; color: #555; }
p.summary { margin: 6px 0 2px; }
"""

SECTIONS = (
    ("overview", "Overview"),
    ("funnels", "Funnel by role"),
    ("who-gets-through", "Who gets through"),
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


SOURCE_COLUMNS = (
    Column("source", "source"),
    Column("applications", "applications", fmt_count, numeric=True),
    Column("reached onsite", "reached_onsite", fmt_count, numeric=True, title="applications that entered onsite"),
    Column("onsite pass rate", "onsite_pass_rate", fmt_rate, numeric=True,
           title="passed / (passed + failed) at onsite: withdrawals and loops still running are not in it"),
    _interval_column("onsite pass rate, 95% interval", "onsite_pass_rate_low", "onsite_pass_rate_high"),
    Column("offers extended", "offers_extended", fmt_count, numeric=True),
    Column("offer acceptance", "offer_acceptance_rate", fmt_rate, numeric=True,
           title="accepted / (accepted + declined): rescinded and pending offers are not in it"),
    Column("hired", "hired", fmt_count, numeric=True),
    Column("hire rate", "hire_rate", fmt_rate, numeric=True,
           title="hired / applications, applications still in progress included"),
    _interval_column("hire rate, 95% interval", "hire_rate_low", "hire_rate_high"),
    Column("median days to hire", "median_days_to_hire", fmt_number, numeric=True,
           title="from the application's first record to the hire"),
)

# (header, key, format, title) of the adverse-impact table's figures: the cells a suppressed row replaces.
IMPACT_FIGURES: tuple[tuple[str, str, Callable[[Any], str], str], ...] = (
    ("applicants", "applicants", fmt_count, "at a stage: passed or failed there; overall: hired or rejected"),
    ("selected", "selected", fmt_count, "at a stage: passed; overall: hired"),
    ("selection rate", "selection_rate", fmt_rate, "selected / applicants"),
    ("impact ratio", "impact_ratio", fmt_ratio,
     "selection rate / the reference group's (cut, not rounded, to two decimals: 0.799 reads 0.79)"),
    ("4/5 rule", "four_fifths_flag", lambda v: NO_VALUE if v is None else ("below 4/5" if v else "no"),
     "flagged when the impact ratio is below 4/5 (0.8), compared exactly"),
    ("z", "z", lambda v: fmt_number(v, 2),
     "pooled two-proportion z statistic (positive: the reference's rate is higher)"),
    ("p-value", "p_value", fmt_p, "Fisher's exact test against the reference, two-sided"),
    ("significant", "significant", fmt_yes_no, "p-value < 0.05"),
    ("shortfall", "shortfall", fmt_number,
     "selections the group lacks at the pooled rate of the group and the reference"),
    ("flip-flop", "flip_flop", fmt_yes_no, "moving one selection from the reference to the group would erase the gap"),
)


def _data_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = value if isinstance(value, str) else repr(value)
    return f' data-value="{html.escape(text)}"'


def impact_table(table_id: str, rows: Sequence[dict], caption: str = "") -> str:
    """Every adverse_impact row of a role. A suppressed row shows 'suppressed' across its figures (one cell),
    never a number; flags carry data-value "true"/"false"; the group's raw name is its data-value."""
    head = "".join(f"<th>{h}</th>" for h in ("step", "dimension", "group", "status")) + "".join(
        f"<th class=num title={_attr(title)}>{html.escape(header)}</th>" for header, _, _, title in IMPACT_FIGURES)
    body, previous_step = [], None
    for r in rows:
        status = impact_status(r)
        classes = [f"status-{status.replace('_', '-')}"]
        if r["step"] != previous_step:
            classes.append("step-start")
            previous_step = r["step"]
        if r["four_fifths_flag"]:
            classes.append("flagged")
        cells = [
            f'<td data-col="step">{html.escape(r["step"])}</td>',
            f'<td data-col="dimension"{_data_value(r["dimension"])}>'
            f'{html.escape(DIMENSIONS.get(r["dimension"], r["dimension"]))}</td>',
            f'<td data-col="group_name"{_data_value(r["group_name"])}>{html.escape(group_label(r["group_name"]))}</td>',
            f'<td data-col="status" data-value="{status}">{html.escape(IMPACT_STATUS_TEXT[status])}</td>',
        ]
        if status == "suppressed":
            cells.append(f'<td class="suppressed" colspan="{len(IMPACT_FIGURES)}" data-col="suppressed">'
                         "suppressed</td>")
        else:
            for _, key, fmt, _ in IMPACT_FIGURES:
                value = r[key]
                mark = " mark" if (key == "four_fifths_flag" and value) or (key in ("significant", "flip_flop")
                                                                             and value) else ""
                cells.append(f'<td class="num{mark}" data-col="{key}"{_data_value(value)}>'
                             f"{html.escape(fmt(value))}</td>")
        body.append(f'<tr class="{" ".join(classes)}">' + "".join(cells) + "</tr>")
    caption_html = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'<div class="table-wrap"><table class="data impact" id="{table_id}">{caption_html}'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _sources_part(data: ReportData, charts: Mapping[str, str]) -> str:
    parts = ['<h3 id="source-effectiveness">Source effectiveness</h3><p class="note">Which sourcing channels bring'
             " the applications that get hired. An application's source is the latest one its records name"
             " (<code>unknown</code> when none does). The hire rate counts every application, those still in"
             " progress too, so recent months pull it down; its interval is the 95% Wilson interval, wide when a"
             " source has few applications. The onsite pass rate leaves out withdrawals and loops still running;"
             " offer acceptance is accepted / (accepted + declined).</p>"]
    if "source_effectiveness" in data.missing_tables:
        parts.append(_no_rows("This published database has no source_effectiveness table (published by an older"
                              " version): the next publish adds it."))
        return "".join(parts)
    if not data.sources:
        parts.append(_no_rows("No applications with a source yet."))
        return "".join(parts)
    for role, chart_id in data.source_ids.items():
        rows = source_rows(data, role)
        parts.append(f"<h4>{html.escape(role)}</h4>")
        if chart_id in charts:
            parts.append(_chart(chart_id, charts[chart_id], f"Sources of {role}, busiest first: applications and"
                                " hires, the hire rate and the onsite pass rate with 95% Wilson intervals.",
                                "sources", f' data-role="{html.escape(role)}"'))
        else:
            parts.append(f'<p class="note" id="no-sources-{chart_id[len("sources-"):]}">No record of'
                         f" {html.escape(role)}"
                         " names a source yet: every application is <code>unknown</code>.</p>")
        parts.append(html_table(f"table-{chart_id}", SOURCE_COLUMNS, rows))
    return "".join(parts)


IMPACT_NOTE = (
    "<p>Does a step of the hiring process select one group of candidates at a markedly lower rate than another?"
    " At each step (<strong>overall</strong> first: hired out of those hired or rejected; then each stage: passed"
    " out of those who passed or failed it, so withdrawals and candidates still in the stage do not count) every"
    " group's selection rate is divided by the rate of the <strong>reference group</strong>, the group selected"
    " most often. That is the <strong>impact ratio</strong>.</p><ul>"
    "<li><strong>The 4/5 rule</strong> (US Uniform Guidelines, 29 CFR 1607.4): a ratio below 4/5 (0.8) is"
    " <strong>flagged</strong>, the red triangle left of the dashed line.</li>"
    "<li><strong>Significant</strong> (filled marker, *): Fisher's exact test gives p &lt; 0.05, so chance alone"
    " would rarely produce a gap this size. A flag that is not significant may be noise; a significant gap above"
    " 4/5 may still matter.</li>"
    "<li><strong>Flip-flop</strong> (\u2020): moving a single selection from the reference group to the group would"
    " erase the gap, so the flag rests on one person's outcome.</li>"
    "<li><strong>Suppressed</strong>: groups with fewer applicants than the minimum group size"
    " (<code>fairness.min_group_size</code>, 10 by default) show no numbers, to protect the people in them; when"
    " only one group of a step would be suppressed, the next smallest is too, so its numbers cannot be worked out"
    " from the totals elsewhere in this report.</li>"
    "<li><strong>Not compared (under the minimum share)</strong>: a group with fewer applicants than"
    " <code>fairness.min_group_share</code> (2% by default) of the step's known applicants keeps its counts but gets"
    " no ratio.</li>"
    "<li><strong>Unknown</strong> counts candidates who did not self-identify or declined to answer; it is never"
    " compared, and its applicants are shown so the excluded share is visible.</li>"
    "</ul><p><strong>A flag is a signal to look into the step, not a finding of discrimination</strong>: who"
    " applies, small numbers and chance all move these ratios. Sex and race/ethnicity are charted; their"
    " intersection (for instance female \u00d7 asian) is in each role's table and listed under the chart when"
    " flagged.</p>"
)


def _impact_reference(rows: Sequence[dict], r: Mapping[str, Any]) -> dict | None:
    return next((x for x in rows if x["step"] == r["step"] and x["dimension"] == r["dimension"]
                 and x["is_reference"]), None)


def _flag_item(rows: Sequence[dict], r: Mapping[str, Any]) -> str:
    ref = _impact_reference(rows, r)
    marks = ["significant" if r["significant"] else "not significant"]
    if r["p_value"] is not None:
        p_text = fmt_p(r["p_value"])
        marks.append("p < 0.001" if p_text.startswith("<") else f"p = {p_text}")
    if r["flip_flop"]:
        marks.append("flip-flop")
    versus = "" if ref is None else (
        f" vs {html.escape(group_label(ref['group_name']))} {fmt_rate(ref['selection_rate'])}"
        f" ({ref['selected']:,} of {ref['applicants']:,})")
    return (f'<li data-step="{html.escape(r["step"])}" data-group="{html.escape(r["group_name"])}">'
            f"<strong>{html.escape(r['step'])}</strong>, {html.escape(group_label(r['group_name']))}:"
            f" <strong>{fmt_ratio(r['impact_ratio'])}</strong> \u2013 {fmt_rate(r['selection_rate'])}"
            f" ({r['selected']:,} of {r['applicants']:,}){versus}; {', '.join(marks)}</li>")


def _impact_summary(role_id: str, rows: Sequence[dict]) -> str:
    """How many comparisons are below 4/5, and the flagged ones in words: every one charted (sex,
    race/ethnicity); of the intersections (table only, many small groups) the significant ones, and a
    count of the rest, which the table highlights."""
    compared = [r for r in rows if impact_status(r) == "compared" and r["four_fifths_flag"] is not None]
    flagged = [r for r in compared if r["four_fifths_flag"]]
    if not compared:
        return (f'<p class="empty" id="summary-{role_id}">No group could be compared with a reference group at any'
                " step: every group is unknown, suppressed or under the minimum share.</p>")
    significant = sum(1 for r in flagged if r["significant"])
    flips = sum(1 for r in flagged if r["flip_flop"])
    text = (f"<strong>{len(flagged):,}</strong> of {len(compared):,} comparisons are below 4/5"
            f" ({significant:,} of them significant, {flips:,} flip-flop)." if flagged else
            f"None of the {len(compared):,} comparisons is below 4/5.")
    lists = []
    charted = [r for r in flagged if r["dimension"] in CHARTED_DIMENSIONS]
    crossed = [r for r in flagged if r["dimension"] not in CHARTED_DIMENSIONS]
    if charted:
        lists.append('<p class="flags-title">By sex and by race/ethnicity (charted above), below 4/5:</p>'
                     f'<ul class="flags" id="flags-charted-{role_id}">'
                     + "".join(_flag_item(rows, r) for r in charted) + "</ul>")
    if crossed:
        shown = [r for r in crossed if r["significant"]]
        rest = len(crossed) - len(shown)
        lead = "And" if shown else "By sex \u00d7 race/ethnicity:"
        more = (f'<p class="note" id="flags-more-{role_id}">{lead} {rest:,} more below 4/5 without a significant'
                " difference: highlighted in the table.</p>" if rest else "")
        if shown:
            lists.append('<p class="flags-title">By sex \u00d7 race/ethnicity (in the table only), below 4/5 and'
                         f' significant:</p><ul class="flags" id="flags-intersection-{role_id}">'
                         + "".join(_flag_item(rows, r) for r in shown) + "</ul>")
        lists.append(more)
    return f'<p class="summary" id="summary-{role_id}">{text}</p>{"".join(lists)}'


def _impact_part(data: ReportData, charts: Mapping[str, str]) -> str:
    parts = ['<h3 id="adverse-impact">Adverse impact</h3><div class="note explain">', IMPACT_NOTE, "</div>"]
    if "adverse_impact" in data.missing_tables:
        parts.append(_no_rows("This published database has no adverse_impact table (published by an older"
                              " version): the next publish adds it."))
        return "".join(parts)
    if not data.adverse_impact:
        parts.append(_no_rows("No decided applications yet: nobody has passed or failed a stage."))
        return "".join(parts)
    if all(r["group_name"] == UNKNOWN for r in data.adverse_impact):
        parts.append('<p class="empty" id="no-self-identification">No self-identification data yet: every candidate'
                     " is <code>unknown</code> (no demographics delivered, or nobody answered), so there is nothing to"
                     " compare. Self-identification goes in <code>landing/demographics/</code>.</p>")
        return "".join(parts)
    for role, chart_id in data.impact_ids.items():
        rows = [r for r in data.adverse_impact if r["role"] == role]
        role_id = chart_id[len("adverse-impact-"):]
        parts.append(f"<h4>{html.escape(role)}</h4>")
        if not rows:
            parts.append(_no_rows(f"No decided applications of {role} yet."))
            continue
        if all(r["group_name"] == UNKNOWN for r in rows):
            parts.append(f'<p class="empty" id="no-self-identification-{role_id}">No self-identification data yet'
                         f" for {html.escape(role)}: every candidate is <code>unknown</code>.</p>")
        else:
            if chart_id in charts:
                parts.append(_chart(chart_id, charts[chart_id], f"Impact ratios of {role} by sex and by"
                                    " race/ethnicity, at every step (overall first, then the pipeline), against the"
                                    " 4/5 line.", "impact", f' data-role="{html.escape(role)}"'))
            parts.append(_impact_summary(role_id, rows))
        parts.append(f'<details class="impact-table" open><summary>Every group at every step ({len(rows):,}'
                     " rows)</summary>" + impact_table(f"table-{chart_id}", rows) + "</details>")
    return "".join(parts)


def _who_section(data: ReportData, charts: Mapping[str, str]) -> str:
    return ('<section id="who-gets-through"><h2>Who gets through</h2><p class="note">Where the applications that'
            " get through come from, and whether any group of candidates gets through a step at a markedly lower"
            " rate than another.</p>" + _sources_part(data, charts) + _impact_part(data, charts) + "</section>")


def _has_impact_chart(rows: Sequence[dict]) -> bool:
    """Something to put on the 4/5 scale: a reference group in a charted dimension."""
    return any(r["is_reference"] and r["dimension"] in CHARTED_DIMENSIONS for r in rows)


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
                + _who_section(data, dict(charts)) + _skips_section(data, dict(charts))
                + _dropoff_section(data, dict(charts))
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
    for role, chart_id in data.source_ids.items():
        if any(r["source"] != UNKNOWN for r in source_rows(data, role)):
            charts[chart_id] = _svg(sources_figure(data, role, chart_id), chart_id, f"Sources of {role}")
    for role, chart_id in data.impact_ids.items():
        if _has_impact_chart([r for r in data.adverse_impact if r["role"] == role]):
            charts[chart_id] = _svg(impact_figure(data, role, chart_id), chart_id, f"Adverse impact ratios of {role}")
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


STATE_NAME = "funnel_report.state.json"  # beside the report: what it was rendered from (render_report)
STATE_FORMAT = 1
_ROW = "__funnel_report_row"  # a table alias no column is named: the whole row as a struct


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode("utf-8")).hexdigest()


@functools.cache
def code_version() -> str:
    """What decides the report's bytes besides the published tables: the code of this module and of
    funnel.metrics (the intervals), and the matplotlib and duckdb releases (the drawing; the row hashes of
    marts_fingerprint). Read once per process, so it is the version of the code that is running."""
    from importlib import metadata
    from importlib.util import find_spec

    sources = [Path(__file__), Path(find_spec("funnel.metrics").origin)]
    return _digest({
        "sources": [hashlib.sha256(path.read_bytes()).hexdigest() for path in sources],
        "packages": {name: metadata.version(name) for name in ("matplotlib", "duckdb")},
    })


def marts_fingerprint(conn: Any, tables: set[str]) -> str:
    """A digest of the published tables the report reads (QUERIES): per table its columns and types, its
    row count and the sum of its rows' hashes, or that it is missing. The sum ignores row order (the
    report orders rows itself) and, unlike xor, a duplicated row does not cancel out. publish_log, which
    gains a row at every publish, is not in it. One DuckDB query per table, a few milliseconds at 100k
    events, against seconds for a render."""
    facts: dict[str, Any] = dict.fromkeys(sorted({table for table, _ in QUERIES.values()}))
    present = [table for table in facts if table in tables]
    if present:
        columns = dict(conn.execute(
            "SELECT table_name, list(column_name || ' ' || data_type ORDER BY column_index) FROM duckdb_columns()"
            " WHERE database_name = current_database() AND list_contains(?, table_name) GROUP BY table_name",
            [present]).fetchall())
        for table in present:
            rows, hashes = conn.execute(
                f'SELECT count(*), sum(hash({_ROW}))::VARCHAR FROM "{table}" AS {_ROW}').fetchone()
            facts[table] = [columns[table], rows, hashes]
    return _digest(facts)


def _file_digest(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _unstamp(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _kept_report(out_dir: Path, key: Mapping[str, Any]) -> tuple[ReportPaths | None, str]:
    """The report rendered earlier into out_dir, when its state matches `key` and its files are there
    exactly as written; else None and why it must be rendered."""
    try:
        state = json.loads((out_dir / STATE_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "no earlier report"
    except (OSError, ValueError):
        return None, f"{STATE_NAME} is unreadable"
    if state.get("format") != STATE_FORMAT or state.get("code") != key["code"]:
        return None, "the report code changed"
    if state.get("database") != key["database"] or state.get("marts") != key["marts"]:
        return None, "a published table changed"
    dated = out_dir / Path(state["dated_html"]).name if state.get("dated_html") else None
    if key["dated_copy"] and state.get("published_at") and dated is None:
        return None, "no dated copy"
    files = [(out_dir / REPORT_NAME, state["html_sha256"]), (out_dir / PNG_NAME, state["png_sha256"])]
    for path, digest in files + ([(dated, state["html_sha256"])] if dated else []):
        if _file_digest(path) != digest:
            return None, f"{path.name} is missing or was changed"
    return ReportPaths(
        html=files[0][0],
        png=files[1][0],
        dated_html=dated,
        published_at=_unstamp(state.get("published_at")),
        run_id=state.get("run_id"),
        as_of=_unstamp(state.get("as_of")),
        applications=state.get("applications", 0),
        chart_ids=tuple(state.get("chart_ids", ())),
        reused=True,
    ), "the published tables are unchanged"


def render_report(published_db: Path, out_dir: Path, *, dated_copy: bool = True, reuse: bool = False) -> ReportPaths:
    """Render the report of the published database `published_db` into `out_dir`.

    Writes funnel_report.html, funnel.png and (when the database has a publish_log and
    `dated_copy`) funnel_report_<published_at>.html, then funnel_report.state.json: what they were
    rendered from. An empty or missing database gives a page saying there is no data yet, and a PNG
    saying the same.

    With `reuse`, the report already in `out_dir` is kept, nothing written, when it would come out the
    same: the published tables it reads have the same marts_fingerprint, the code_version is the same,
    and its files are there byte for byte as written (else it renders, ReportPaths.reason says why).
    A kept report shows the publish it was rendered from (its "Published" stamp, run id and publish
    count; its dated copy is named after that publish): an earlier publish of the very same tables.
    ReportPaths.latest_run_id and latest_published_at name the newest publish either way.
    """
    published_db, out_dir = Path(published_db), Path(out_dir)
    conn = _connect(published_db)
    try:
        tables = _tables(conn) if conn is not None else set()
        latest_at, latest_run, _ = _latest_publish(conn, tables)
        key = {"database": conn is not None, "marts": marts_fingerprint(conn, tables), "code": code_version(),
               "dated_copy": dated_copy}
        kept, reason = _kept_report(out_dir, key) if reuse else (None, "rendered on request")
        if kept is not None:
            return replace(kept, reason=reason, latest_published_at=latest_at, latest_run_id=latest_run)
        data = ReportData(source_name=published_db.name, exists=conn is not None)
        if conn is not None:
            _read(conn, data, tables)
    finally:
        if conn is not None:
            conn.close()
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
    paths = ReportPaths(
        html=html_path,
        png=png_path,
        dated_html=dated,
        published_at=data.published_at,
        run_id=data.run_id,
        as_of=data.as_of,
        applications=data.applications,
        chart_ids=tuple(charts),
        reason=reason,
        latest_published_at=latest_at,
        latest_run_id=latest_run,
    )
    state = {
        "format": STATE_FORMAT, **{k: key[k] for k in ("database", "marts", "code")},
        "html_sha256": hashlib.sha256(page).hexdigest(), "png_sha256": hashlib.sha256(png).hexdigest(),
        "dated_html": dated and dated.name, "published_at": _stamp(paths.published_at), "run_id": paths.run_id,
        "as_of": _stamp(paths.as_of), "applications": paths.applications, "chart_ids": list(paths.chart_ids),
    }
    # Written last: it vouches for the files above (a render cut short leaves it stale, so the next one renders).
    _write_atomic(out_dir / STATE_NAME, (json.dumps(state, indent=1) + "\n").encode("utf-8"))
    return paths


def png_markdown(png: Path | bytes, alt: str = "funnel") -> str:
    """Markdown showing a PNG inline (for Dagster metadata): ![alt](data:image/png;base64,...)."""
    raw = png if isinstance(png, bytes) else Path(png).read_bytes()
    return f"![{alt}](data:image/png;base64,{base64.b64encode(raw).decode('ascii')})"


def report_dir(home_root: Path | str) -> Path:
    """FUNNEL_HOME/reports."""
    return Path(home_root) / REPORTS_DIR
