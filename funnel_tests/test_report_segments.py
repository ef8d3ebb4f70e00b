"""The report's "Who gets through" section: source effectiveness and adverse impact per role.

The published database is real (the records of the sources worked example of docs/metrics.md, role
ds, plus one swe referral and one sre application, published by the pipeline), but its
adverse_impact table is replaced by rows written by hand, so that every case shows up at once:

- ds, overall, sex: female 12 of 40 against the reference male 48 of 80 (docs/metrics.md's first
  worked example: ratio 0.5, flagged and significant), and unknown (15 applicants);
- ds, overall, race/ethnicity: asian 3 of 20 against the reference white 16 of 80 (the second worked
  example: ratio 0.75, flagged, not significant, flip-flop), a suppressed pair (black, the too-small
  one, and two_or_more_races, the next smallest) and unknown;
- ds, overall, sex x race/ethnicity: female_x_white flagged and significant, male_x_asian flagged and
  not significant (9 of 20), male_x_white the reference;
- ds, application_review, sex: female the reference, male not flagged (0.99, a flip-flop), another under
  the minimum share;
- swe: no group compared (the only two known groups suppressed, unknown left);
- sre: every group unknown (no self-identification for that role).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import duckdb
import pytest

from funnel.fairness import fisher_exact_p
from funnel.report import (
    IMPACT_FIGURES,
    fmt_p,
    fmt_ratio,
    impact_figure,
    load_report_data,
    render_report,
)
from funnel_tests.marts_fixtures import outcome
from funnel_tests.test_marts_sources import source_worked_example
from funnel_tests.test_report import Page, publish_db, records

IMPACT_COLUMNS = ["role", "step", "step_order", "dimension", "group_name", "applicants", "selected", "selection_rate",
                  "reference_group", "is_reference", "impact_ratio", "four_fifths_flag", "z", "p_value", "significant",
                  "shortfall", "flip_flop", "suppressed", "below_min_share"]
FIGURE_HEADERS = [header for header, _, _, _ in IMPACT_FIGURES]


def against(s: int, n: int, s_ref: int, n_ref: int) -> dict:
    """The statistics of docs/metrics.md's adverse_impact, in Python (Fisher's p from funnel.fairness)."""
    pooled = (s + s_ref) / (n + n_ref)
    return {
        "impact_ratio": (s * n_ref) / (n * s_ref),
        "four_fifths_flag": 5 * s * n_ref < 4 * s_ref * n,
        "z": (s_ref / n_ref - s / n) / math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n_ref)),
        "p_value": fisher_exact_p(s, n, s_ref, n_ref),
        "significant": fisher_exact_p(s, n, s_ref, n_ref) < 0.05,
        "shortfall": n * (s + s_ref) / (n + n_ref) - s,
        "flip_flop": s_ref > 0 and (s + 1) * n_ref >= (s_ref - 1) * n,
        "suppressed": False,
        "below_min_share": False,
    }


def group(role, step, order, dimension, name, n, s, ref, *, ref_counts=None, **status) -> dict:
    """One adverse_impact row: a compared group (ref_counts given), the reference (name == ref), unknown,
    suppressed (suppressed=True) or under the minimum share (below_min_share=True)."""
    row = dict.fromkeys(IMPACT_COLUMNS)
    row.update(role=role, step=step, step_order=order, dimension=dimension, group_name=name, reference_group=ref,
               applicants=n, selected=s, is_reference=name == ref and ref is not None, suppressed=False)
    if status.get("suppressed"):
        row.update(applicants=None, selected=None, suppressed=True)
        return row
    if name != "unknown":
        row.update(selection_rate=s / n, below_min_share=bool(status.get("below_min_share")))
    if row["is_reference"]:
        row.update(impact_ratio=1.0, four_fifths_flag=False, significant=False, flip_flop=False)
    elif ref_counts is not None:
        row.update(against(s, n, *ref_counts))
    return row


def impact_rows() -> list[dict]:
    ov = ("ds", "overall", 0)
    ar = ("ds", "application_review", 1)
    return [
        group(*ov, "sex", "female", 40, 12, "male", ref_counts=(48, 80)),
        group(*ov, "sex", "male", 80, 48, "male"),
        group(*ov, "sex", "unknown", 15, 5, "male"),
        group(*ov, "race_ethnicity", "asian", 20, 3, "white", ref_counts=(16, 80)),
        group(*ov, "race_ethnicity", "black_or_african_american", None, None, "white", suppressed=True),
        group(*ov, "race_ethnicity", "two_or_more_races", None, None, "white", suppressed=True),
        group(*ov, "race_ethnicity", "white", 80, 16, "white"),
        group(*ov, "race_ethnicity", "unknown", 15, 5, "white"),
        group(*ov, "sex_x_race_ethnicity", "female_x_white", 40, 12, "male_x_white", ref_counts=(48, 80)),
        group(*ov, "sex_x_race_ethnicity", "male_x_asian", 20, 9, "male_x_white", ref_counts=(48, 80)),
        group(*ov, "sex_x_race_ethnicity", "male_x_white", 80, 48, "male_x_white"),
        group(*ov, "sex_x_race_ethnicity", "unknown", 15, 5, "male_x_white"),
        group(*ar, "sex", "another", 15, 12, "female", below_min_share=True),
        group(*ar, "sex", "female", 500, 300, "female"),
        group(*ar, "sex", "male", 520, 310, "female", ref_counts=(300, 500)),
        group(*ar, "sex", "unknown", 60, 30, "female"),
        group("sre", "overall", 0, "sex", "unknown", 11, 4, None),
        group("sre", "overall", 0, "race_ethnicity", "unknown", 11, 4, None),
        group("sre", "overall", 0, "sex_x_race_ethnicity", "unknown", 11, 4, None),
        group("swe", "overall", 0, "sex", "female", None, None, None, suppressed=True),
        group("swe", "overall", 0, "sex", "male", None, None, None, suppressed=True),
        group("swe", "overall", 0, "sex", "unknown", 12, 3, None),
        group("swe", "overall", 0, "race_ethnicity", "unknown", 30, 8, None),
        group("swe", "overall", 0, "sex_x_race_ethnicity", "unknown", 30, 8, None),
    ]


def replace_adverse_impact(db: Path, rows: list[dict]) -> None:
    with duckdb.connect(str(db)) as conn:
        conn.execute("DELETE FROM adverse_impact")
        placeholders = ", ".join("?" * len(IMPACT_COLUMNS))
        for row in rows:
            conn.execute(f"INSERT INTO adverse_impact ({', '.join(IMPACT_COLUMNS)}) VALUES ({placeholders})",
                         [row[c] for c in IMPACT_COLUMNS])


def segment_records():
    return [*source_worked_example(), outcome("t1-ar", "t1", "sre", "application_review", "passed", "2024-03-02 09:00")]


@pytest.fixture(scope="module")
def segments_db(tmp_path_factory) -> Path:
    db = publish_db(tmp_path_factory.mktemp("segments") / "warehouse" / "funnel.duckdb", segment_records())
    replace_adverse_impact(db, impact_rows())
    return db


@pytest.fixture(scope="module")
def segments(segments_db):
    paths = render_report(segments_db, segments_db.parent.parent / "reports")
    text = paths.html.read_text(encoding="utf-8")
    return paths, text, Page(text)


def cells(row: dict) -> dict[str, str]:
    return {name: cell["text"] for name, cell in row.items()}


def impact_table(page: Page, role: str) -> dict[tuple[str, str, str], dict]:
    return {(r["step"]["text"], r["dimension"]["data-value"], r["group"]["data-value"]): r
            for r in page.table(f"table-adverse-impact-{role}")}


# ---------------------------------------------------------------------------------------------
# The section and its charts


def test_the_section_is_in_the_nav_and_each_role_gets_its_charts(segments):
    paths, text, page = segments
    assert '<a href="#who-gets-through">Who gets through</a>' in text
    assert {"who-gets-through", "source-effectiveness", "adverse-impact"} <= set(page.ids)
    who = [f for f in page.figures if f["id"].startswith(("sources-", "adverse-impact-"))]
    # sre's only source is unknown and swe compares nobody: no chart for them, a table and a note instead
    assert [(f["id"], f["role"], f["svg"]) for f in who] == [
        ("sources-ds", "ds", 1), ("sources-swe", "swe", 1), ("adverse-impact-ds", "ds", 1)]
    assert [c for c in paths.chart_ids if c.startswith(("sources-", "adverse-impact-"))] == [f["id"] for f in who]
    assert "impact" in next(f for f in who if f["id"] == "adverse-impact-ds")["class"]
    assert {"table-sources-ds", "table-sources-swe", "table-sources-sre", "table-adverse-impact-ds",
            "table-adverse-impact-swe", "table-adverse-impact-sre"} <= set(page.tables)
    assert "no-sources-sre" in page.ids
    # the section comes right after the funnels, and every id on the page is unique
    assert text.index('id="funnels"') < text.index('id="who-gets-through"') < text.index('id="skips"')
    assert len(page.ids) == len(set(page.ids))


def test_sources_table_holds_each_role_and_sources_figures_once(segments, segments_db):
    _, _, page = segments
    table = page.table("table-sources-ds")
    # busiest first (job_board and referral have 4 each: by name), unknown last; one row per source
    assert [r["source"]["text"] for r in table] == ["job_board", "referral", "unknown"]
    rows = {r["source"]["text"]: cells(r) for r in table}
    assert rows["referral"] == {
        "source": "referral", "applications": "4", "reached onsite": "3", "onsite pass rate": "66.7%",
        "onsite pass rate, 95% interval": "20.8%\u2009\u2013\u200993.9%", "offers extended": "2",
        "offer acceptance": "100.0%", "hired": "2", "hire rate": "50.0%",
        "hire rate, 95% interval": "15.0%\u2009\u2013\u200985.0%", "median days to hire": "10.2",
    }
    assert (rows["job_board"]["offer acceptance"], rows["job_board"]["hire rate"],
            rows["job_board"]["hire rate, 95% interval"], rows["job_board"]["median days to hire"]) == (
        "50.0%", "25.0%", "4.6%\u2009\u2013\u200969.9%", "10.0")
    # unknown: the rescinded offer is out of the acceptance denominator (NULL), nobody hired
    assert (rows["unknown"]["applications"], rows["unknown"]["offer acceptance"], rows["unknown"]["hired"],
            rows["unknown"]["median days to hire"]) == ("2", "\u2013", "0", "\u2013")
    by_source = {r["source"]["text"]: r for r in table}
    assert "data-value" not in by_source["unknown"]["offer acceptance"]
    assert float(by_source["referral"]["median days to hire"]["data-value"]) == 10.25
    assert float(by_source["referral"]["onsite pass rate"]["data-value"]) == pytest.approx(2 / 3)
    low, high = (float(by_source["referral"]["hire rate, 95% interval"][k]) for k in ("data-low", "data-high"))
    assert (low, high) == (pytest.approx(0.15, abs=1e-4), pytest.approx(0.85, abs=1e-4))
    # the figures equal the published ones, read once per role and source, never summed over stages
    with duckdb.connect(str(segments_db), read_only=True) as conn:
        published = conn.execute("SELECT DISTINCT role, source, applications, hired, hire_rate"
                                 " FROM source_effectiveness ORDER BY role, source").fetchall()
    shown = [(role, r["source"]["text"], int(r["applications"]["data-value"]), int(r["hired"]["data-value"]),
              float(r["hire rate"]["data-value"])) for role in ("ds", "sre", "swe")
             for r in page.table(f"table-sources-{role}")]
    assert sorted(shown) == sorted(published)
    assert [cells(r)["source"] for r in page.table("table-sources-sre")] == ["unknown"]


def test_adverse_impact_table_marks_flags_significance_and_flip_flop(segments):
    _, _, page = segments
    table = impact_table(page, "ds")
    female = table["overall", "sex", "female"]
    assert {k: female[k]["text"] for k in ("status", "applicants", "selected", "selection rate", "impact ratio",
                                           "4/5 rule", "z", "p-value", "significant", "shortfall", "flip-flop")} == {
        "status": "compared", "applicants": "40", "selected": "12", "selection rate": "30.0%", "impact ratio": "0.50",
        "4/5 rule": "below 4/5", "z": "3.10", "p-value": "0.003", "significant": "yes", "shortfall": "8.0",
        "flip-flop": "no"}
    assert float(female["impact ratio"]["data-value"]) == 0.5
    assert float(female["p-value"]["data-value"]) == pytest.approx(0.0034092, rel=1e-4)
    assert round(float(female["z"]["data-value"]), 6) == 3.098387
    flags = ("4/5 rule", "significant", "flip-flop")
    assert tuple(female[k]["data-value"] for k in flags) == ("true", "true", "false")
    assert "mark" in female["4/5 rule"]["class"] and "mark" in female["significant"]["class"]

    asian = table["overall", "race_ethnicity", "asian"]
    assert (asian["impact ratio"]["text"], asian["4/5 rule"]["text"], asian["significant"]["text"],
            asian["flip-flop"]["text"], asian["p-value"]["text"], asian["shortfall"]["text"]) == (
        "0.75", "below 4/5", "no", "yes", "0.757", "0.8")
    assert tuple(asian[k]["data-value"] for k in flags) == ("true", "false", "true")

    male = table["overall", "sex", "male"]
    assert (male["status"]["text"], male["impact ratio"]["text"], male["4/5 rule"]["text"], male["z"]["text"]) == (
        "reference", "1.00", "no", "\u2013")
    assert "data-value" not in male["z"] and male["status"]["data-value"] == "reference"

    unknown = table["overall", "sex", "unknown"]
    assert (unknown["group"]["text"], unknown["status"]["text"], unknown["applicants"]["text"],
            unknown["selected"]["text"], unknown["selection rate"]["text"], unknown["impact ratio"]["text"]) == (
        "unknown (incl. declined)", "unknown: not compared", "15", "5", "\u2013", "\u2013")

    another = table["application_review", "sex", "another"]
    assert (another["status"]["text"], another["applicants"]["text"], another["selection rate"]["text"],
            another["impact ratio"]["text"], another["4/5 rule"]["text"]) == (
        "not compared (under the minimum share)", "15", "80.0%", "\u2013", "\u2013")
    assert "data-value" not in another["impact ratio"]
    male_review = table["application_review", "sex", "male"]
    assert (male_review["impact ratio"]["text"], male_review["4/5 rule"]["text"]) == ("0.99", "no")
    assert table["overall", "sex_x_race_ethnicity", "female_x_white"]["group"]["text"] == "female \u00d7 white"


def test_suppressed_rows_show_no_numbers(segments):
    _, text, page = segments
    table = impact_table(page, "ds")
    for key in (("overall", "race_ethnicity", "black_or_african_american"),
                ("overall", "race_ethnicity", "two_or_more_races")):
        row = table[key]
        assert row["status"]["text"] == "suppressed"
        # one cell says so across every figure; nothing else follows it
        assert row["applicants"]["text"] == "suppressed" and row["applicants"]["colspan"] == str(len(FIGURE_HEADERS))
        assert set(row) == {"step", "dimension", "group", "status", "applicants"}
        assert "data-value" not in row["applicants"]
        assert not re.search(r"\d", "".join(cell["text"] for cell in row.values()))
    for row in page.tables["table-adverse-impact-ds"][1:]:
        if any(c.get("data-col") == "suppressed" for c in row):
            assert [c.get("data-col") for c in row] == ["step", "dimension", "group_name", "status", "suppressed"]
    # swe: both known groups suppressed, so nothing compared: no chart, a note, and the table
    swe = impact_table(page, "swe")
    assert [k for k, r in swe.items() if r["status"]["text"] == "suppressed"] == [
        ("overall", "sex", "female"), ("overall", "sex", "male")]
    assert "No group could be compared" in text[text.index('id="summary-swe"'):][:300]


def test_table_rows_follow_the_published_table(segments, segments_db):
    _, _, page = segments
    with duckdb.connect(str(segments_db), read_only=True) as conn:
        published = conn.execute("SELECT role, step, dimension, group_name FROM adverse_impact").fetchall()
    for role in ("ds", "sre", "swe"):
        shown = [(r["step"]["text"], r["dimension"]["data-value"], r["group"]["data-value"])
                 for r in page.table(f"table-adverse-impact-{role}")]
        expected = [(step, dim, name) for (r, step, dim, name) in published if r == role]
        # every row, overall first, then sex, race/ethnicity, the intersection, unknown last in each
        assert sorted(shown) == sorted(expected)
        order = {"sex": 1, "race_ethnicity": 2, "sex_x_race_ethnicity": 3}
        steps = [s for s, _, _ in shown]
        assert steps == sorted(steps, key=lambda s: s != "overall")
        for step in set(steps):
            dims = [order[d] for s, d, _ in shown if s == step]
            assert dims == sorted(dims)
    ds = [r["group"]["data-value"] for r in page.table("table-adverse-impact-ds")
          if r["step"]["text"] == "overall" and r["dimension"]["data-value"] == "race_ethnicity"]
    assert ds == ["asian", "black_or_african_american", "two_or_more_races", "white", "unknown"]


def test_flagged_groups_are_listed_in_words(segments):
    _, text, _ = segments
    summary = text[text.index('id="summary-ds"'):text.index('id="table-adverse-impact-ds"')]
    assert "<strong>4</strong> of 5 comparisons are below 4/5 (2 of them significant, 1 flip-flop)." in summary
    charted = re.findall(r'<li data-step="([^"]+)" data-group="([^"]+)">(.*?)</li>',
                         summary[summary.index('id="flags-charted-ds"'):summary.index("</ul>")])
    assert [(step, name) for step, name, _ in charted] == [("overall", "female"), ("overall", "asian")]
    assert ("<strong>0.50</strong> \u2013 30.0% (12 of 40) vs male 60.0% (48 of 80); significant, p = 0.003"
            in charted[0][2])
    assert "<strong>0.75</strong>" in charted[1][2] and "not significant, p = 0.757, flip-flop" in charted[1][2]
    # intersections: the significant one listed, the other counted
    crossed = summary[summary.index('id="flags-intersection-ds"'):]
    assert re.findall(r'data-group="([^"]+)"', crossed[:crossed.index("</ul>")]) == ["female_x_white"]
    assert 'id="flags-more-ds">And 1 more below 4/5 without a significant difference' in summary


def test_the_chart_marks_every_group(segments_db):
    """The figure behind adverse-impact-ds: a marker per compared group (filled when significant, a
    triangle when flagged), the reference at 1, words for the rest; the 4/5 line in every column."""
    data = load_report_data(segments_db)
    fig = impact_figure(data, "ds", "adverse-impact-ds")
    sex, race = fig.axes
    assert [t.get_text() for t in sex.get_yticklabels()] == ["another", "female", "male", "unknown (incl. declined)"]
    assert [t.get_text() for t in race.get_yticklabels()] == [
        "asian", "black or african american", "two or more races", "white", "unknown (incl. declined)"]

    def markers(ax):
        found = []
        for line in ax.get_lines():
            if line.get_marker() in ("o", "v", "s") and len(line.get_xdata()) == 1:
                x, y = round(float(line.get_xdata()[0]), 3), int(line.get_ydata()[0])
                found.append((x, y, line.get_marker(), line.get_markerfacecolor() != "white"))
        return sorted(found)

    # columns: overall at 0, application_review at 1.4 (IMPACT_PITCH)
    assert markers(sex) == [(0.5, 1, "v", True), (1.0, 2, "s", True),
                            (round(1.4 + (310 * 500) / (520 * 300), 3), 2, "o", False), (2.4, 1, "s", True)]
    assert markers(race) == [(0.75, 0, "v", False), (1.0, 3, "s", True)]
    texts = lambda ax: sorted(t.get_text() for t in ax.texts)  # noqa: E731
    assert texts(sex) == sorted(["overall", "application\nreview", "0.50*", "ref", "15", "not compared\n(small share)",
                                 "0.99\u2020", "ref", "60"])
    assert texts(race) == sorted(["0.75\u2020", "suppressed", "suppressed", "ref", "15"])
    # the 4/5 line at 0.8 of each column, in both panels
    for ax in (sex, race):
        dashed = sorted(round(float(line.get_xdata()[0]), 3) for line in ax.get_lines()
                        if line.get_linestyle() != "-" and line.get_marker() in ("None", "", None))
        assert dashed == [0.8, 2.2]


def test_no_self_identification_yet(tmp_path):
    """The demographics feed never delivered: every group is unknown. The report says so, and charts nothing."""
    db = publish_db(tmp_path / "warehouse" / "funnel.duckdb", *records())
    with duckdb.connect(str(db), read_only=True) as conn:
        groups = conn.execute("SELECT DISTINCT group_name FROM adverse_impact").fetchall()
    assert groups == [("unknown",)]
    paths = render_report(db, tmp_path / "reports")
    text = paths.html.read_text(encoding="utf-8")
    page = Page(text)
    assert "no-self-identification" in page.ids
    assert "No self-identification data yet" in text
    assert not [c for c in paths.chart_ids if c.startswith("adverse-impact-")]
    assert not [t for t in page.tables if t.startswith("table-adverse-impact-")]
    # these records name no source either: a table per role, no chart
    assert not [c for c in paths.chart_ids if c.startswith("sources-")]
    assert [cells(r)["source"] for r in page.table("table-sources-swe")] == ["unknown"]
    assert {"no-sources-ds", "no-sources-swe"} <= set(page.ids)


def test_one_role_without_self_identification(segments):
    _, text, page = segments
    assert "no-self-identification-sre" in page.ids and "no-self-identification" not in page.ids
    assert "No self-identification data yet for sre" in text
    assert [cells(r)["applicants"] for r in page.table("table-adverse-impact-sre")] == ["11", "11", "11"]


def test_an_older_published_database_without_the_tables(tmp_path):
    db = publish_db(tmp_path / "warehouse" / "funnel.duckdb", segment_records())
    with duckdb.connect(str(db)) as conn:
        conn.execute("DROP TABLE adverse_impact")
        conn.execute("DROP TABLE source_effectiveness")
    paths = render_report(db, tmp_path / "reports")
    text = paths.html.read_text(encoding="utf-8")
    page = Page(text)
    warning = text[text.index('id="missing-tables"'):]
    warning = warning[:warning.index("</p>")]
    assert "<code>source_effectiveness</code>" in warning and "<code>adverse_impact</code>" in warning
    assert text.count("(published by an older version): the next publish adds it.") == 2
    assert not [c for c in paths.chart_ids if c.startswith(("sources-", "adverse-impact-"))]
    assert "funnel-ds" in paths.chart_ids  # the rest of the report is there
    assert not [t for t in page.tables if t.startswith(("table-sources-", "table-adverse-impact-"))]


def test_same_tables_same_bytes(segments, segments_db, tmp_path):
    paths, _, _ = segments
    again = render_report(segments_db, tmp_path / "again", dated_copy=False)
    assert again.html.read_bytes() == paths.html.read_bytes()


def test_ratios_and_p_values_never_read_as_the_threshold():
    assert fmt_ratio(0.7996) == "0.79"  # flagged: must not print as 0.80
    assert fmt_ratio(0.6 / 0.75) == "0.80"  # exactly 4/5 in integers, 0.7999999999999999 in floating point
    assert fmt_ratio(1.0) == "1.00" and fmt_ratio(None) == "\u2013"
    assert fmt_p(0.0499) == "0.049" and fmt_p(0.05) == "0.050" and fmt_p(0.0004) == "<0.001"
    assert fmt_p(0.757062) == "0.757" and fmt_p(None) == "\u2013"
