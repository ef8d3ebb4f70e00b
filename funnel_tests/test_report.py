"""The funnel report: rendered from a small published database built from hand-made records.

The records: the worked example of docs/metrics.md (role swe, technical_screen: 2 passed of 3
decided -> 66.7%, Wilson 20.8%-93.9%), swe applications through the hiring committee and team
matching in March and April, ds applications through the take-home and onsite, and onsite
interviews. The configuration has a third role, sre, with no applications.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import sys
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import duckdb
import pytest

try:
    from funnel_tests.marts_fixtures import build, interview, outcome, small_config, worked_example
except ImportError:  # funnel_tests is not a package
    from marts_fixtures import build, interview, outcome, small_config, worked_example

from funnel.models import PUBLISHED_MARTS
from funnel.assets.report import funnel_report
from funnel.config import Role
from funnel.publish import publish
import funnel.report as report_module
from funnel.report import (
    PNG_NAME,
    REPORT_NAME,
    STATE_NAME,
    fmt_count,
    fmt_interval,
    fmt_rate,
    load_report_data,
    png_markdown,
    render_report,
)
from funnel.resources import FunnelWarehouse

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHART_IDS = ["funnel-ds", "funnel-swe", "skip-rates", "team-matching-dropoff", "loop-skill-coverage"]


def report_config():
    config = small_config()
    sre = Role("sre", ("application_review", "recruiter_screen", "onsite", "offer"), ("coding", "behavioral"))
    return replace(config, roles={**config.roles, "sre": sre})


def records():
    outcomes = list(worked_example())
    hc, tm = "hiring_committee", "team_matching"
    outcomes += [
        # swe, March cohort: matched, unmatched, withdrew in matching
        outcome("m1-hc", "m1", "swe", hc, "passed", "2024-03-02 09:00"),
        outcome("m1-tm", "m1", "swe", tm, "passed", "2024-03-12 09:00"),
        outcome("m1-of", "m1", "swe", "offer", "passed", "2024-03-15 09:00"),
        outcome("m2-hc", "m2", "swe", hc, "passed", "2024-03-02 09:00"),
        outcome("m2-tm", "m2", "swe", tm, "failed", "2024-03-20 09:00"),
        outcome("m3-hc", "m3", "swe", hc, "passed", "2024-03-03 09:00"),
        outcome("m3-tm", "m3", "swe", tm, "withdrew", "2024-03-22 09:00"),
        # swe, April cohort: one matched, one failed the committee
        outcome("m4-hc", "m4", "swe", hc, "passed", "2024-04-02 09:00"),
        outcome("m4-tm", "m4", "swe", tm, "passed", "2024-04-09 09:00"),
        outcome("m5-hc", "m5", "swe", hc, "failed", "2024-04-20 09:00"),  # the latest record: as-of
        # ds: take-home passed, failed, passed; two onsite loops
        outcome("d1-th", "d1", "ds", "take_home", "passed", "2024-03-04 09:00"),
        outcome("d1-on", "d1", "ds", "onsite", "passed", "2024-03-21 09:00"),
        outcome("d2-th", "d2", "ds", "take_home", "failed", "2024-03-05 09:00"),
        outcome("d3-th", "d3", "ds", "take_home", "passed", "2024-03-06 09:00"),
        outcome("d3-on", "d3", "ds", "onsite", "failed", "2024-03-22 09:00"),
    ]
    interviews = [
        # a6 (swe: behavioral, coding, system_design): every skill
        interview("i1", "a6", "alice", "coding", "yes", "2024-03-12 08:00"),
        interview("i2", "a6", "bob", "system_design", "yes", "2024-03-12 08:30"),
        interview("i3", "a6", "carol", "behavioral", "yes", "2024-03-12 08:45"),
        # a5: system_design missing
        interview("i4", "a5", "alice", "coding", "no", "2024-03-10 08:00"),
        interview("i5", "a5", "carol", "behavioral", "yes", "2024-03-10 08:30"),
        # d1 (ds: coding, statistics): covered; d3: statistics missing
        interview("i6", "d1", "erin", "coding", "yes", "2024-03-21 08:00"),
        interview("i7", "d1", "erin", "statistics", "yes", "2024-03-21 08:30"),
        interview("i8", "d3", "frank", "coding", "no", "2024-03-22 08:00"),
    ]
    return outcomes, interviews


def publish_db(path: Path, outcomes=(), interviews=(), run_id: str = "run-1") -> Path:
    conn = build(outcomes, interviews, config=report_config(), comments=False)
    try:
        publish(conn, path, list(PUBLISHED_MARTS), run_id)
    finally:
        conn.close()
    return path


def published_rows(db: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(db), read_only=True) as conn:
        cursor = conn.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


class Page(HTMLParser):
    """The parts of the report the tests look at: figures, tables (cells with their attributes), ids."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.figures: list[dict] = []
        self.tables: dict[str, list[list[dict]]] = {}
        self._table: str | None = None
        self._cell: dict | None = None
        self._in_figure = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "figure":
            self.figures.append({"id": attrs.get("id"), "class": attrs.get("class", "").split(), "svg": 0,
                                 "role": attrs.get("data-role")})
            self._in_figure = True
        elif tag == "svg" and self._in_figure:
            self.figures[-1]["svg"] += 1
        elif tag == "table":
            self._table = attrs.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = {"text": "", **attrs}
            self.tables[self._table][-1].append(self._cell)

    def handle_endtag(self, tag):
        if tag == "figure":
            self._in_figure = False
        elif tag == "table":
            self._table = None
        elif tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data

    def table(self, table_id: str) -> list[dict]:
        """Rows of a table as {header: cell}, the header row dropped."""
        header, *body = self.tables[table_id]
        names = [cell["text"] for cell in header]
        return [dict(zip(names, row)) for row in body]


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    return publish_db(home / "warehouse" / "funnel.duckdb", *records())


@pytest.fixture(scope="module")
def report(published):
    out = published.parent.parent / "reports"
    paths = render_report(published, out)
    text = paths.html.read_text(encoding="utf-8")
    return paths, text, Page(text)


def test_report_files(report, published):
    paths, _, _ = report
    out = published.parent.parent / "reports"
    assert paths.html == out / REPORT_NAME and paths.png == out / PNG_NAME
    (published_at,) = published_rows(published, "SELECT published_at FROM publish_log")[0].values()
    assert paths.published_at == published_at and paths.run_id == "run-1"
    assert paths.dated_html == out / f"funnel_report_{published_at:%Y%m%dT%H%M%SZ}.html"
    assert paths.dated_html.read_bytes() == paths.html.read_bytes()
    assert paths.png.read_bytes().startswith(PNG_MAGIC)
    assert paths.applications == 7 + 5 + 3  # worked example, team matching, ds
    assert list(paths.chart_ids) == CHART_IDS
    # nothing but the report files was written; the published file was not touched (no WAL)
    assert sorted(p.name for p in published.parent.iterdir() if not p.name.startswith(".")) == ["funnel.duckdb"]


def test_report_is_self_contained(report):
    _, text, _ = report
    # every src/href is an anchor on the page or a data: URI; no scripts, stylesheets or remote fonts
    assert not re.findall(r"""\b(?:src|href)\s*=\s*["']?(?!#|data:)[^"'\s>]""", text, re.IGNORECASE)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text, re.IGNORECASE)
    for pattern in (r"<script", r"<link\b", r"@import", r"url\(\s*['\"]?(?:https?:)?//", r"<iframe"):
        assert not re.search(pattern, text, re.IGNORECASE), pattern
    assert "<?xml" not in text and "<!DOCTYPE svg" not in text


def test_one_funnel_figure_per_role_and_the_other_charts(report):
    _, _, page = report
    charts = [f for f in page.figures if "chart" in f["class"]]
    assert [f["id"] for f in charts] == CHART_IDS
    assert all(f["svg"] == 1 for f in charts)
    funnels = [f for f in charts if "funnel" in f["class"]]
    assert [(f["id"], f["role"]) for f in funnels] == [("funnel-ds", "ds"), ("funnel-swe", "swe")]
    # sre has no applications: no figure, but named
    assert "funnel-sre" not in page.ids and "roles-without-applications" in page.ids
    # ids are unique although five SVGs share the page
    assert len(page.ids) == len(set(page.ids))


def test_header_shows_the_publish_and_the_as_of_time(report, published):
    _, text, _ = report
    log = published_rows(published, "SELECT published_at, run_id FROM publish_log")
    assert len(log) == 1
    assert f'<span id="published-at">{log[0]["published_at"].replace(microsecond=0).isoformat(sep=" ")} UTC' in text
    assert '<code id="run-id">run-1</code>' in text
    assert '<span id="as-of">2024-04-20 09:00:00 UTC</span>' in text
    assert '<span id="applications">15</span>' in text


def test_funnel_tables_hold_the_published_pass_rates(report, published):
    _, _, page = report
    db_rows = published_rows(published, "SELECT * FROM stage_pass_rates ORDER BY role, stage_order")
    for role in ("ds", "swe"):
        table = {row["stage"]["text"]: row for row in page.table(f"table-funnel-{role}")}
        expected = [r for r in db_rows if r["role"] == role]
        assert set(table) == {r["stage"] for r in expected}
        for r in expected:
            row = table[r["stage"]]
            assert row["pass rate"]["text"] == fmt_rate(r["pass_rate"])
            assert row["pass rate"].get("data-value") == (None if r["pass_rate"] is None else repr(r["pass_rate"]))
            assert row["95% interval"]["text"] == fmt_interval(r["pass_rate_low"], r["pass_rate_high"])
            assert row["entered"]["text"] == fmt_count(r["entered"])
            assert row["skip rate"]["text"] == fmt_rate(r["skip_rate"])
    # the worked example, by hand
    swe = {row["stage"]["text"]: row for row in page.table("table-funnel-swe")}
    ts = swe["technical_screen"]
    assert [ts[c]["text"] for c in ("entered", "passed", "failed", "withdrew", "in progress")] == ["5", "2", "1", "1", "1"]
    assert ts["pass rate"]["text"] == "66.7%"
    assert float(ts["pass rate"]["data-value"]) == pytest.approx(2 / 3)
    assert ts["95% interval"]["text"].replace("\u2009", " ") == "20.8% \u2013 93.9%"
    assert (float(ts["95% interval"]["data-low"]), float(ts["95% interval"]["data-high"])) == (
        pytest.approx(0.2077, abs=1e-4), pytest.approx(0.9385, abs=1e-4))
    ds = {row["stage"]["text"]: row for row in page.table("table-funnel-ds")}
    assert ds["take_home"]["pass rate"]["text"] == "66.7%"  # d1, d3 passed; d2 failed
    assert ds["onsite"]["pass rate"]["text"] == "50.0%"
    assert ds["offer"]["pass rate"]["text"] == "\u2013"  # nobody decided: NULL


def test_skip_dropoff_and_coverage_tables(report, published):
    _, _, page = report
    skips = page.table("table-skip-rates")
    db_skips = published_rows(published, "SELECT role, stage, skip_rate FROM skipped_stages ORDER BY role, pipeline_order")
    assert [(r["role"]["text"], r["stage"]["text"], r["skip rate"]["text"]) for r in skips] == [
        (r["role"], r["stage"], fmt_rate(r["skip_rate"])) for r in db_skips]

    dropoff = page.table("table-team-matching-dropoff")
    assert [(r["cohort month"]["text"], r["matched"]["text"], r["unmatched"]["text"], r["withdrew"]["text"],
             r["drop-off"]["text"]) for r in dropoff] == [
        ("2024-03", "1", "1", "1", "66.7%"),
        ("2024-04", "1", "0", "0", "0.0%"),
        ("all time", "2", "1", "1", "50.0%"),
    ]
    db_drop = published_rows(published, "SELECT dropoff_rate FROM team_matching_dropoff_monthly ORDER BY cohort_month")
    assert [float(r["drop-off"]["data-value"]) for r in dropoff[:2]] == [r["dropoff_rate"] for r in db_drop]

    loops = {r["role"]["text"]: r for r in page.table("table-loop-skill-coverage")}
    assert (loops["swe"]["loops"]["text"], loops["swe"]["fully covered rate"]["text"]) == ("2", "50.0%")
    assert loops["swe"]["most often missing skill"]["text"] == "system_design"
    assert (loops["ds"]["fully covered rate"]["text"], loops["ds"]["most often missing skill"]["text"]) == (
        "50.0%", "statistics")
    missing = [(r["role"]["text"], r["required skill"]["text"], r["loops missing it"]["text"])
               for r in page.table("table-loop-missing-skills")]
    assert missing == [("ds", "coding", "0"), ("ds", "statistics", "1"), ("swe", "behavioral", "0"),
                       ("swe", "coding", "0"), ("swe", "system_design", "1")]


def test_png_of_the_headline_chart(report):
    paths, _, _ = report
    raw = paths.png.read_bytes()
    assert raw.startswith(PNG_MAGIC) and len(raw) > 10_000
    markdown = png_markdown(paths.png)
    assert markdown.startswith("![funnel](data:image/png;base64,") and markdown.endswith(")")
    assert base64.b64decode(markdown[len("![funnel](data:image/png;base64,"):-1]) == raw


def test_same_published_tables_give_the_same_bytes(report, published, tmp_path):
    paths, _, _ = report
    again = render_report(published, tmp_path / "again", dated_copy=False)
    assert again.dated_html is None
    assert again.html.read_bytes() == paths.html.read_bytes()
    assert again.png.read_bytes() == paths.png.read_bytes()


def test_empty_database_renders_a_no_data_report(tmp_path):
    db = publish_db(tmp_path / "warehouse" / "funnel.duckdb")
    paths = render_report(db, tmp_path / "reports")
    text = paths.html.read_text(encoding="utf-8")
    page = Page(text)
    assert paths.empty and paths.chart_ids == ()
    assert "no-data" in page.ids and "No data yet" in text
    assert not [f for f in page.figures if "chart" in f["class"]]
    assert '<code id="run-id">run-1</code>' in text and '<span id="as-of">\u2013</span>' in text
    assert paths.png.read_bytes().startswith(PNG_MAGIC)
    assert load_report_data(db).roles == ["ds", "sre", "swe"]  # stage_pass_rates keeps zero rows per role


def test_missing_database_renders_a_no_data_report(tmp_path):
    paths = render_report(tmp_path / "warehouse" / "funnel.duckdb", tmp_path / "reports")
    text = paths.html.read_text(encoding="utf-8")
    assert "does not exist yet" in text and paths.dated_html is None and paths.run_id is None
    assert paths.png.read_bytes().startswith(PNG_MAGIC)
    assert not (tmp_path / "warehouse").exists()  # nothing created where the pipeline publishes


def test_asset_renders_into_funnel_home_and_shows_the_png(tmp_path):
    publish_db(tmp_path / "warehouse" / "funnel.duckdb", *records())
    result = dg.materialize([funnel_report], resources={"warehouse": FunnelWarehouse(home=str(tmp_path))})
    assert result.success
    (materialization,) = result.asset_materializations_for_node("funnel_report")
    metadata = materialization.metadata
    html_path = tmp_path / "reports" / REPORT_NAME
    assert metadata["path"].value == str(html_path) and html_path.exists()
    assert metadata["funnel"].value == png_markdown(tmp_path / "reports" / PNG_NAME)
    assert metadata["applications"].value == 15
    assert metadata["published_run_id"].value == "run-1"
    assert metadata["charts"].value == CHART_IDS
    assert not (tmp_path / "warehouse" / "pipeline.duckdb").exists()  # never the working database


# ---------------------------------------------------------------------------------------------
# Rendered only when a published table changed


def report_files(out: Path) -> dict[str, tuple[int, bytes]]:
    """Every file in the reports folder: (mtime in ns, bytes)."""
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(out.iterdir())}


def test_a_new_publish_of_the_same_tables_keeps_the_report(tmp_path):
    db = publish_db(tmp_path / "warehouse" / "funnel.duckdb", *records(), run_id="run-1")
    out = tmp_path / "reports"
    first = render_report(db, out, reuse=True)
    assert (first.reused, first.reason, first.run_id, first.latest_run_id) == (
        False, "no earlier report", "run-1", "run-1")
    before = report_files(out)
    assert set(before) == {REPORT_NAME, PNG_NAME, STATE_NAME, first.dated_html.name}

    publish_db(db, *records(), run_id="run-2")  # the next run publishes the very same marts
    assert [r["run_id"] for r in published_rows(db, "SELECT run_id FROM publish_log")] == ["run-2"]
    second = render_report(db, out, reuse=True)
    assert (second.reused, second.reason) == (True, "the published tables are unchanged")
    assert report_files(out) == before  # nothing written: no new dated copy either
    # what the kept report shows: the publish it was rendered from; the newest publish beside it
    assert (second.run_id, second.latest_run_id) == ("run-1", "run-2")
    assert second.published_at == first.published_at < second.latest_published_at
    assert (second.html, second.png, second.dated_html, second.applications, second.as_of, second.chart_ids) == (
        first.html, first.png, first.dated_html, 15, first.as_of, tuple(CHART_IDS))
    assert '<code id="run-id">run-1</code>' in second.html.read_text(encoding="utf-8")

    again = render_report(db, out)  # reuse is asked for: `funnel report` always renders
    assert (again.reused, again.reason, again.run_id) == (False, "rendered on request", "run-2")
    assert again.html.read_text(encoding="utf-8").count('<code id="run-id">run-2</code>') == 1


def test_a_changed_published_table_renders_again(tmp_path):
    db = publish_db(tmp_path / "warehouse" / "funnel.duckdb", *records(), run_id="run-1")
    out = tmp_path / "reports"
    first = render_report(db, out, reuse=True)
    # publish_log alone changes: kept
    with duckdb.connect(str(db)) as conn:
        conn.execute("INSERT INTO publish_log SELECT published_at + INTERVAL 1 HOUR, 'run-x', landing_files,"
                     " row_counts, check_results FROM publish_log")
    kept = render_report(db, out, reuse=True)
    assert kept.reused and kept.latest_run_id == "run-x" and kept.run_id == "run-1"
    # one number of one mart changes, and nothing else: rendered
    with duckdb.connect(str(db)) as conn:
        conn.execute("UPDATE stage_pass_rates SET passed = 3 WHERE role = 'swe' AND stage = 'technical_screen'")
    changed = render_report(db, out, reuse=True)
    assert (changed.reused, changed.reason, changed.run_id) == (False, "a published table changed", "run-x")
    page = Page(changed.html.read_text(encoding="utf-8"))
    swe = {row["stage"]["text"]: row for row in page.table("table-funnel-swe")}
    assert swe["technical_screen"]["passed"]["text"] == "3"
    assert changed.dated_html != first.dated_html and first.dated_html.exists()  # each publish keeps its copy
    assert changed.dated_html.read_bytes() == changed.html.read_bytes()

    # a real next publish: d3's onsite failure is gone, so ds passes 1 of 1 onsite
    outcomes, interviews = records()
    publish_db(db, [o for o in outcomes if o.record_id != "d3-on"], interviews, run_id="run-2")
    latest = render_report(db, out, reuse=True)
    assert (latest.reused, latest.reason, latest.run_id, latest.applications) == (
        False, "a published table changed", "run-2", 15)
    ds = {row["stage"]["text"]: row for row in Page(latest.html.read_text(encoding="utf-8")).table("table-funnel-ds")}
    assert ds["onsite"]["pass rate"]["text"] == "100.0%"


def test_missing_or_changed_report_files_or_code_render_again(published, tmp_path, monkeypatch):
    out = tmp_path / "reports"
    first = render_report(published, out, reuse=True)
    good = report_files(out)

    def damage_then_render(damage, reason: str) -> None:
        damage()
        paths = render_report(published, out, reuse=True)
        assert (paths.reused, paths.reason) == (False, reason)
        # every file back, the same bytes again; the state names the code that rendered them
        assert {name: raw for name, (_, raw) in report_files(out).items() if name != STATE_NAME} == {
            name: raw for name, (_, raw) in good.items() if name != STATE_NAME}
        assert json.loads((out / STATE_NAME).read_text(encoding="utf-8"))["code"] == report_module.code_version()

    damage_then_render(first.png.unlink, f"{PNG_NAME} is missing or was changed")
    damage_then_render(first.dated_html.unlink, f"{first.dated_html.name} is missing or was changed")
    damage_then_render(lambda: first.html.write_text("edited", encoding="utf-8"),
                       f"{REPORT_NAME} is missing or was changed")
    damage_then_render((out / STATE_NAME).unlink, "no earlier report")
    damage_then_render(lambda: (out / STATE_NAME).write_text("{not json", encoding="utf-8"),
                       f"{STATE_NAME} is unreadable")
    monkeypatch.setattr(report_module, "code_version", lambda: "the next version")
    damage_then_render(lambda: None, "the report code changed")
    assert render_report(published, out, reuse=True).reused  # and kept from then on


def test_a_kept_report_does_not_import_matplotlib(published, tmp_path):
    render_report(published, tmp_path / "reports", reuse=True)
    code = ("import sys; from pathlib import Path; from funnel.report import render_report;"
            f" p = render_report(Path({str(published)!r}), Path({str(tmp_path / 'reports')!r}), reuse=True);"
            " print(p.reused, any(m.split('.')[0] == 'matplotlib' for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "True False"


def test_asset_keeps_an_unchanged_report_and_says_so(tmp_path, caplog):
    db = publish_db(tmp_path / "warehouse" / "funnel.duckdb", *records(), run_id="run-1")
    resources = {"warehouse": FunnelWarehouse(home=str(tmp_path))}
    assert dg.materialize([funnel_report], resources=resources).success
    before = report_files(tmp_path / "reports")
    publish_db(db, *records(), run_id="run-2")
    with caplog.at_level(logging.INFO, logger="funnel"):
        result = dg.materialize([funnel_report], resources=resources)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("funnel_report")
    metadata = materialization.metadata
    assert report_files(tmp_path / "reports") == before
    assert metadata["reused"].value is True
    assert metadata["reason"].value == "the published tables are unchanged"
    assert (metadata["published_run_id"].value, metadata["latest_published_run_id"].value) == ("run-1", "run-2")
    assert metadata["latest_published_at"].value > metadata["published_at"].value
    assert metadata["path"].value == str(tmp_path / "reports" / REPORT_NAME)
    assert metadata["dated_path"].value == str(next((tmp_path / "reports").glob("funnel_report_*.html")))
    assert metadata["funnel"].value == png_markdown(tmp_path / "reports" / PNG_NAME)
    assert (metadata["applications"].value, metadata["charts"].value) == (15, CHART_IDS)
    said = [r.getMessage() for r in caplog.records if r.name == "funnel" and "report" in r.getMessage()]
    assert said == ["report unchanged, not rendered: the published tables it shows are those of the publish it shows"
                    f" (run run-1); kept {tmp_path / 'reports' / REPORT_NAME}"]


def test_asset_spec():
    spec = funnel_report.specs_by_key[dg.AssetKey("funnel_report")]
    assert spec.group_name == "reporting"
    assert set(spec.kinds) == {"html", "matplotlib"}
    assert {dep.asset_key for dep in spec.deps} == {dg.AssetKey("published_warehouse")}


def test_asset_module_does_not_import_matplotlib():
    code = "import sys, funnel.assets.report; print(any(m.split('.')[0] == 'matplotlib' for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False"


def test_report_renders_in_headless_chromium(report):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium) to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    paths, _, _ = report
    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.goto(paths.html.as_uri(), wait_until="load")
            figures = page.locator("figure.chart")
            assert figures.count() == len(CHART_IDS)
            for i in range(figures.count()):
                figure = figures.nth(i)
                graphic = figure.locator("svg, img").first
                box = graphic.bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 50, figure.get_attribute("id")
            assert page.locator("figure.chart.funnel").evaluate_all("els => els.map(e => e.id)") == [
                "funnel-ds", "funnel-swe"]
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert requests == [paths.html.as_uri()]  # nothing fetched but the page itself
    assert (ARTIFACTS / "report.png").read_bytes().startswith(PNG_MAGIC)
