"""Check results for people: one self-contained HTML page per check and run.

    FUNNEL_HOME/quality/<run_id>/<asset>.<check>.html   the page (inline CSS, no external files)
    FUNNEL_HOME/quality/<run_id>/<asset>.<check>.json   its status, for the index
    FUNNEL_HOME/quality/<run_id>/index.html             every check of the run
    FUNNEL_HOME/quality/latest/...                      the newest page of every check, and an index

Pages are written to a temporary name and renamed, so a reader never sees half a page.
This module renders the result objects of funnel.quality.rules (SuiteResult) and
funnel.quality.sql_checks by their attributes only; it imports neither (nor great_expectations).
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

QUALITY_DIR = "quality"
LATEST = "latest"
EXAMPLES_IN_METADATA = 5

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


# ---------------------------------------------------------------------------------------------
# Values


def plain(value: Any) -> Any:
    """A JSON-safe Python value: numpy/pandas scalars unwrapped, NaN/NaT/NA as None, arrays as lists,
    timestamps as ISO-8601 text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else float(value)  # numpy.float64 is a float: unwrapped too
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    # numpy / pandas without importing them
    type_name = type(value).__name__
    module = type(value).__module__
    if type_name in ("NaTType", "NAType"):
        return None
    if hasattr(value, "isoformat") and module.startswith("pandas"):
        return value.isoformat()
    if type_name == "datetime64":
        text = str(value)
        return None if text == "NaT" else text
    if type_name == "ndarray":
        return [plain(v) for v in value.tolist()]
    if hasattr(value, "item"):
        try:
            return plain(value.item())
        except (ValueError, TypeError):
            pass
    return str(value)


def cell(value: Any) -> str:
    """A value as short display text."""
    value = plain(value)
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]], limit: int = EXAMPLES_IN_METADATA) -> str:
    """The first `limit` rows as a markdown table (columns in first-seen order)."""
    rows = list(rows)[:limit]
    if not rows:
        return "(none)"
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))

    def md(value: Any) -> str:
        return cell(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(md(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def safe_name(text: str) -> str:
    """A file-name-safe version of a run id or check name."""
    cleaned = _UNSAFE.sub("_", text).strip("._")
    return cleaned or "_"


# ---------------------------------------------------------------------------------------------
# Pages


@dataclass
class Section:
    title: str
    text: str = ""
    rows: list[dict] = field(default_factory=list)
    status: str | None = None


@dataclass
class Page:
    name: str  # file stem: <asset>.<check>
    title: str
    status: str  # passed | failed | warning | broken
    summary: str
    facts: dict[str, Any] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)


def _status_of_expectation(outcome: Any) -> str:
    if outcome.exception:
        return "broken"
    return "passed" if outcome.success else "failed"


def suite_page(name: str, result: Any, *, title: str | None = None) -> Page:
    """The page of a suite's validation (a funnel.quality.rules.SuiteResult)."""
    status = "broken" if result.broken else ("passed" if result.success else "failed")
    overview = [
        {
            "status": _status_of_expectation(o),
            "rule": o.description,
            "expectation": o.expectation,
            "column(s)": o.column,
            "rows checked": o.element_count,
            "unexpected": o.unexpected_count,
            "unexpected %": None if o.unexpected_percent is None else round(o.unexpected_percent, 4),
            "unexpected values (sample)": list(o.partial_unexpected)[:10],
            "observed": o.observed_value,
            "error": o.exception,
        }
        # failures first, then in the suite's order
        for o in sorted(result.outcomes, key=lambda o: {"broken": 0, "failed": 1}.get(_status_of_expectation(o), 2))
    ]
    how = ("validated with Great Expectations on a pandas frame read from DuckDB" if result.engine == "great_expectations"
           else "evaluated as SQL in DuckDB (more rows than FUNNEL_GX_MAX_ROWS; the same rules as the "
                "Great Expectations suite)")
    how += "; rules the table's declared schema guarantees (column types, constraints) are judged from its catalog"
    sections = [Section("Expectations", f"{len(result.outcomes)} expectations, {how}.", overview)]
    for o in result.outcomes:
        if o.exception:
            sections.append(Section(f"BROKEN: {o.description}", "The expectation raised instead of evaluating: "
                                    "this is a broken check, not bad data.\n\n" + o.exception, [], "broken"))
        elif not o.success and o.unexpected_count is None:  # a rule about the table (its declared schema): no rows
            found = "; ".join(cell(v) for v in o.partial_unexpected) or cell(o.observed_value)
            sections.append(Section(f"Failed: {o.description}", f"Found: {found}", [], "failed"))
        elif not o.success:
            sections.append(Section(
                f"Failed: {o.description}",
                f"{o.unexpected_count} of {o.element_count} rows unexpected. Example rows:",
                [dict(r) for r in o.example_rows],
                "failed",
            ))
    facts = {
        "table": result.table,
        "rows validated": result.rows,
        "selection": result.where or "all rows",
        "engine": result.engine,
        "expectations": len(result.outcomes),
        "failed": len(result.failed),
        "broken": len(result.broken),
        "suite": result.suite,
    }
    return Page(name, title or f"{result.suite}", status, result.summary, facts, sections)


def sql_page(name: str, result: Any, *, title: str | None = None) -> Page:
    """The page of a set-based SQL check (a funnel.quality.sql_checks.SqlCheckResult)."""
    if result.passed:
        status = "passed"
    else:
        status = "warning" if result.severity == "WARN" else "failed"
    facts = {"check": result.name, "failing": result.failing_count, "severity if failing": result.severity}
    facts.update(result.metrics)
    sections = [Section("Rule", result.description)]
    if result.examples:
        sections.append(Section(f"Example failing rows (first {len(result.examples)} of {result.failing_count})",
                                "", [dict(r) for r in result.examples], status))
    if result.sql:
        sections.append(Section("SQL", result.sql))
    return Page(name, title or result.name, status, result.summary, facts, sections)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2328;max-width:1400px}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.75rem;font-weight:600;font-size:.8rem}
.passed{background:#dafbe1;color:#116329}.failed{background:#ffebe9;color:#a40e26}
.warning{background:#fff8c5;color:#7d4e00}.broken{background:#a40e26;color:#fff}
pre{background:#f6f8fa;padding:.75rem;overflow:auto;font-size:.8rem;white-space:pre-wrap}
.muted{color:#656d76;font-size:.85rem}
"""


def _badge(status: str | None) -> str:
    if not status:
        return ""
    return f'<span class="badge {html.escape(status)}">{html.escape(status.upper())}</span>'


def _html_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            if c == "status" and isinstance(value, str):
                cells.append(f"<td>{_badge(value)}</td>")
            elif value is None or value == []:
                cells.append("<td></td>")
            else:
                cells.append(f"<td>{html.escape(cell(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render(page: Page, run_id: str, written_at: str) -> str:
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{html.escape(page.title)} - {html.escape(page.status)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(page.title)} {_badge(page.status)}</h1>",
        f"<p>{html.escape(page.summary)}</p>",
        f'<p class="muted">Dagster run {html.escape(run_id)} &middot; written {html.escape(written_at)} UTC</p>',
        _html_table([{"": k, "value": v} for k, v in page.facts.items()]),
    ]
    for section in page.sections:
        parts.append(f"<h2>{html.escape(section.title)} {_badge(section.status)}</h2>")
        if section.text:
            if "\n" in section.text:
                parts.append(f"<pre>{html.escape(section.text)}</pre>")
            else:
                parts.append(f"<p>{html.escape(section.text)}</p>")
        parts.append(_html_table(section.rows))
    parts.append("</body></html>")
    return "\n".join(parts)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_index(folder: Path, title: str) -> Path:
    entries = []
    for meta_file in sorted(folder.glob("*.json")):
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        entries.append(meta)
    rows = [
        {
            "status": e.get("status"),
            "check": e.get("title"),
            "summary": e.get("summary"),
            "run": e.get("run_id"),
            "written": e.get("written_at"),
        }
        for e in entries
    ]
    links = "".join(
        f'<li>{_badge(e.get("status"))} <a href="{html.escape(e["file"])}">{html.escape(e.get("title", e["file"]))}</a>'
        f' &mdash; {html.escape(e.get("summary", ""))}</li>'
        for e in entries
    )
    text = (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><ul>{links}</ul>{_html_table(rows)}</body></html>"
    )
    index = folder / "index.html"
    _write_atomic(index, text)
    return index


def quality_dir(home_root: Path | str) -> Path:
    return Path(home_root) / QUALITY_DIR


def write_indexes(home_root: Path | str, run_id: str) -> None:
    """The index pages of the run's folder and of the latest folder, from the pages written so far."""
    _write_index(quality_dir(home_root) / safe_name(run_id), f"Quality checks of run {run_id}")
    _write_index(quality_dir(home_root) / LATEST, "Quality checks: the latest result of every check")


def write_page(home_root: Path | str, run_id: str, page: Page, *, index: bool = True) -> Path:
    """Write the page for this run (and as the latest page of its check); returns the run's page.
    `index=False` leaves the index pages to one `write_indexes` after a step's pages (each index
    reads every page's record)."""
    written_at = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
    stem = safe_name(page.name)
    run_dir = quality_dir(home_root) / safe_name(run_id)
    latest_dir = quality_dir(home_root) / LATEST
    run_dir.mkdir(parents=True, exist_ok=True)
    latest_dir.mkdir(parents=True, exist_ok=True)
    text = render(page, run_id, written_at)
    meta = json.dumps(
        {"file": f"{stem}.html", "title": page.title, "status": page.status, "summary": page.summary,
         "run_id": run_id, "written_at": written_at},
        ensure_ascii=False,
    )
    target = run_dir / f"{stem}.html"
    _write_atomic(target, text)
    _write_atomic(run_dir / f"{stem}.json", meta)
    # the latest page of every check, whichever run wrote it
    tmp = latest_dir / f".{stem}.html.{os.getpid()}.tmp"
    shutil.copyfile(target, tmp)
    os.replace(tmp, latest_dir / f"{stem}.html")
    _write_atomic(latest_dir / f"{stem}.json", meta)
    if index:
        write_indexes(home_root, run_id)
    return target


def all_statuses(folder: Path) -> Iterable[dict]:
    """The status records of the pages in a run (or latest) folder."""
    for meta_file in sorted(Path(folder).glob("*.json")):
        yield json.loads(meta_file.read_text(encoding="utf-8"))
