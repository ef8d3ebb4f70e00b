"""The demographics feed: voluntary self-identification, normalized to categories, unknowns as NULL,
everything else quarantined with a reason code; and what its asset and checks may show (counts, never a
person's values)."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from funnel.assets.ingestion import demographic_records, funnel_config
from funnel.models import load_models
from funnel.contract import DEMOGRAPHIC_CATEGORIES, DEMOGRAPHICS, FEEDS
from funnel.ingest import FeedResult, ingest_feed
from funnel.quality import sql_checks
from funnel.quality.rules import RECORD_SPECS
from funnel.quality.validation import validate_records
from funnel.quality.report import suite_page, sql_page, write_page
from funnel.resources import FunnelWarehouse
from funnel.warehouse import connect, create_schema, write_config_tables
from funnel_tests.conftest import write_csv, write_jsonl

COLUMNS = ["candidate_id", "sex", "race_ethnicity", "veteran_status", "disability_status", "collected_at"]
RACES = ("hispanic_or_latino, white, black_or_african_american, asian, native_hawaiian_or_other_pacific_islander, "
         "american_indian_or_alaska_native, two_or_more_races")
UNKNOWN = "nor unknown: decline_to_self_identify, i_don_t_wish_to_answer, unknown or empty"
T = datetime(2024, 3, 1, 10, 0)


def dm(**values) -> dict:
    """A valid demographics row, with some values replaced."""
    row = {"candidate_id": "C1", "sex": "Female", "race_ethnicity": "Asian", "veteran_status": "Not Protected Veteran",
           "disability_status": "No", "collected_at": "2024-03-01T10:00:00Z"}
    row.update(values)
    return row


def response_id(candidate_id: str, collected_at: str) -> str:
    """A response's record id: sha256 of candidate_id and collected_at (as normalized text, empty when none)."""
    return hashlib.sha256(f"{candidate_id}\x1f{collected_at}".encode()).hexdigest()


def ingest(conn, folder, config, batch="b1") -> FeedResult:
    return ingest_feed(conn, folder, DEMOGRAPHICS, config, batch)


def records(conn) -> list[tuple]:
    return conn.execute(
        "SELECT candidate_id, sex, race_ethnicity, veteran_status, disability_status, collected_at, source_file,"
        " source_line FROM demographic_records ORDER BY source_file, source_line"
    ).fetchall()


def quarantined(conn) -> list[tuple]:
    return conn.execute(
        "SELECT source_file, source_line, reason, detail, record_id FROM quarantined_rows ORDER BY source_file, source_line"
    ).fetchall()


def counts(result: FeedResult) -> list[tuple]:
    return [(f.path, f.status, f.rows_read, f.rows_accepted, f.rows_duplicate, f.rows_quarantined) for f in result.files]


def test_the_feed_is_the_third_one():
    assert list(FEEDS) == ["stage_outcomes", "interviews", "demographics"]


def test_a_response_is_stored_normalized_with_a_hashed_id(conn, config, tmp_path):
    write_csv(tmp_path / "d.csv", [dm(collected_at="2024-03-01T11:00:00+01:00")], COLUMNS)
    result = ingest(conn, tmp_path, config, batch="run-1")
    assert counts(result) == [("d.csv", "ingested", 1, 1, 0, 0)]
    row = conn.execute("SELECT * FROM demographic_records").fetchone()
    stored = dict(zip([d[0] for d in conn.description], row))
    assert {k: v for k, v in stored.items() if k not in ("content_hash", "ingested_at")} == {
        "record_id": response_id("C1", "2024-03-01T10:00:00.000000Z"), "candidate_id": "C1", "sex": "female",
        "race_ethnicity": "asian", "veteran_status": "not_protected_veteran", "disability_status": "no",
        "collected_at": T, "source_file": "d.csv", "source_line": 2, "batch_id": "run-1",
    }
    assert stored["content_hash"] == hashlib.sha256(
        "\x1f".join(["C1", "female", "asian", "not_protected_veteran", "no", "2024-03-01T10:00:00.000000Z"]).encode()
    ).hexdigest()


# ---------------------------------------------------------------------------------------------
# Normalization: trimmed, lower-case, runs of spaces, hyphens and punctuation one '_'


@pytest.mark.parametrize(
    "column, sent, expected",
    [
        ("sex", "Female", "female"),
        ("sex", " MALE ", "male"),
        ("sex", "Another", "another"),
        ("race_ethnicity", "Black or African American", "black_or_african_american"),
        ("race_ethnicity", "Two or More Races", "two_or_more_races"),
        ("race_ethnicity", "Hispanic or Latino", "hispanic_or_latino"),
        ("race_ethnicity", "Hispanic-or-Latino", "hispanic_or_latino"),
        ("race_ethnicity", "  white", "white"),
        ("race_ethnicity", "Native Hawaiian or Other Pacific Islander", "native_hawaiian_or_other_pacific_islander"),
        ("race_ethnicity", "American Indian or Alaska Native", "american_indian_or_alaska_native"),
        ("race_ethnicity", "American Indian  or\u00a0Alaska -- Native", "american_indian_or_alaska_native"),
        ("race_ethnicity", "ASIAN.", "asian"),
        ("veteran_status", "Protected Veteran", "protected_veteran"),
        ("veteran_status", "Not-Protected  Veteran", "not_protected_veteran"),
        ("veteran_status", "not_protected__veteran", "not_protected_veteran"),
        ("disability_status", "Yes", "yes"),
        ("disability_status", "NO", "no"),
    ],
)
def test_ats_spellings_normalize_to_the_categories(conn, config, tmp_path, column, sent, expected):
    write_csv(tmp_path / "d.csv", [dm(**{column: sent})], COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert counts(result) == [("d.csv", "ingested", 1, 1, 0, 0)]
    assert conn.execute(f"SELECT {column} FROM demographic_records").fetchall() == [(expected,)]


@pytest.mark.parametrize(
    "sent",
    ["Decline to Self-Identify", "decline_to_self_identify", "I don't wish to answer", "I don\u2019t wish to answer",
     "i_don_t_wish_to_answer", "Unknown", " UNKNOWN ", "", "   ", "-", "--"],
)
def test_unknown_spellings_and_empty_are_null(conn, config, tmp_path, sent):
    write_csv(tmp_path / "d.csv", [dm(candidate_id=f"C{i}", **{column: sent})
                                   for i, column in enumerate(DEMOGRAPHIC_CATEGORIES)], COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert counts(result) == [("d.csv", "ingested", 4, 4, 0, 0)]
    assert records(conn) == [
        ("C0", None, "asian", "not_protected_veteran", "no", T, "d.csv", 2),
        ("C1", "female", None, "not_protected_veteran", "no", T, "d.csv", 3),
        ("C2", "female", "asian", None, "no", T, "d.csv", 4),
        ("C3", "female", "asian", "not_protected_veteran", None, T, "d.csv", 5),
    ]


def test_a_response_of_unknowns_only_is_accepted(conn, config, tmp_path):
    write_csv(tmp_path / "d.csv", [{"candidate_id": "C1"}], COLUMNS)
    write_csv(tmp_path / "only_id.csv", [{"candidate_id": "C2"}], ["candidate_id"])  # the optional columns may be absent
    result = ingest(conn, tmp_path, config)
    assert counts(result) == [("d.csv", "ingested", 1, 1, 0, 0), ("only_id.csv", "ingested", 1, 1, 0, 0)]
    assert records(conn) == [("C1", None, None, None, None, None, "d.csv", 2),
                             ("C2", None, None, None, None, None, "only_id.csv", 2)]


# ---------------------------------------------------------------------------------------------
# Reason codes


@pytest.mark.parametrize(
    "values, reason, detail",
    [
        ({"candidate_id": ""}, "missing_required", "missing candidate_id"),
        ({"candidate_id": "  ", "collected_at": "soon", "sex": "robot"}, "missing_required", "missing candidate_id"),
        ({"collected_at": "yesterday"}, "bad_timestamp", "collected_at 'yesterday' is not an ISO-8601 timestamp"),
        ({"collected_at": "2024-02-30", "sex": "robot"}, "bad_timestamp",
         "collected_at '2024-02-30' is not an ISO-8601 timestamp"),
        ({"collected_at": "infinity"}, "bad_timestamp", "collected_at 'infinity' is not an ISO-8601 timestamp"),
        ({"collected_at": "1999-12-31T23:59:59Z", "sex": "robot"}, "implausible_timestamp",
         "collected_at '1999-12-31T23:59:59Z' is earlier than earliest_timestamp (2000-01-01T00:00:00Z)"),
        ({"sex": "Robot"}, "unknown_category",
         f"sex 'Robot' (normalized: 'robot') is not one of: female, male, another; {UNKNOWN}"),
        # The rule gives hispanic_latino for 'Hispanic/Latino', which is not the category hispanic_or_latino.
        ({"race_ethnicity": "Hispanic/Latino"}, "unknown_category",
         f"race_ethnicity 'Hispanic/Latino' (normalized: 'hispanic_latino') is not one of: {RACES}; {UNKNOWN}"),
        ({"veteran_status": "I am not a protected veteran"}, "unknown_category",
         "veteran_status 'I am not a protected veteran' (normalized: 'i_am_not_a_protected_veteran') is not one of: "
         f"protected_veteran, not_protected_veteran; {UNKNOWN}"),
        ({"disability_status": "N/A", "sex": "robot"}, "unknown_category",  # the first column in order is named
         f"sex 'robot' (normalized: 'robot') is not one of: female, male, another; {UNKNOWN}"),
        ({"disability_status": "N/A"}, "unknown_category",
         f"disability_status 'N/A' (normalized: 'n_a') is not one of: yes, no; {UNKNOWN}"),
    ],
)
def test_reason_codes(conn, config, tmp_path, values, reason, detail):
    write_csv(tmp_path / "d.csv", [dm(candidate_id="OK"), dm(**{"candidate_id": "C9", **values})], COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert counts(result) == [("d.csv", "ingested", 2, 1, 0, 1)]
    assert result.quarantined_by_reason == {reason: 1}
    # an invalid response has no id: a hash of invalid fields means nothing
    assert quarantined(conn) == [("d.csv", 3, reason, detail, None)]
    assert [r[0] for r in records(conn)] == ["OK"]


def test_implausible_collected_at_later_than_ingestion(conn, config, tmp_path):
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    soon = (now + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_csv(tmp_path / "d.csv", [dm(candidate_id="C1", collected_at="9999-12-31"),
                                   dm(candidate_id="C2", collected_at=soon),
                                   dm(candidate_id="C3", collected_at="2000-01-01")], COLUMNS)
    ingest(conn, tmp_path, config)
    ingested_at = conn.execute("SELECT max(quarantined_at) FROM quarantined_rows").fetchone()[0]
    latest = (ingested_at + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [q[1:4] for q in quarantined(conn)] == [
        (2, "implausible_timestamp",
         f"collected_at '9999-12-31' is later than the time of ingestion plus future_tolerance_days ({latest})")]
    assert [r[0] for r in records(conn)] == ["C2", "C3"]


def test_an_empty_collected_at_is_accepted_as_null(conn, config, tmp_path):
    write_csv(tmp_path / "d.csv", [dm(collected_at=""), dm(candidate_id="C2", collected_at="  ")], COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert counts(result) == [("d.csv", "ingested", 2, 2, 0, 0)]
    assert conn.execute("SELECT record_id, candidate_id, collected_at FROM demographic_records ORDER BY 2").fetchall() == [
        (response_id("C1", ""), "C1", None), (response_id("C2", ""), "C2", None)]


# ---------------------------------------------------------------------------------------------
# Identity: a response is its candidate and collected_at


def test_two_responses_of_one_candidate_are_both_kept(conn, config, tmp_path):
    write_csv(tmp_path / "d.csv", [dm(sex="Female"), dm(sex="Another", collected_at="2024-06-01"),
                                   dm(sex="", collected_at="")], COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert counts(result) == [("d.csv", "ingested", 3, 3, 0, 0)]
    assert [(r[0], r[1], r[5]) for r in records(conn)] == [
        ("C1", "female", T), ("C1", "another", datetime(2024, 6, 1)), ("C1", None, None)]


def test_the_same_candidate_and_collected_at_with_other_values_is_a_conflict(conn, config, tmp_path):
    first = response_id("C1", "2024-03-01T10:00:00.000000Z")
    write_csv(tmp_path / "a.csv", [dm(sex="Female")], COLUMNS)
    write_csv(tmp_path / "b.csv", [
        dm(sex="female ", collected_at="2024-03-01T11:00:00+01:00"),   # the same response, normalized: duplicate
        dm(sex="Male"),                                                 # the same response, other values: conflict
        dm(sex="Decline to self-identify"),                             # unknown is a value too: conflict
        dm(candidate_id="C2", collected_at=""), dm(candidate_id="C2", collected_at="", disability_status="yes"),
    ], COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert counts(result) == [("a.csv", "ingested", 1, 1, 0, 0), ("b.csv", "ingested", 5, 1, 1, 3)]
    assert result.quarantined_by_reason == {"conflicting_duplicate": 3}
    assert quarantined(conn) == [
        ("b.csv", 3, "conflicting_duplicate", f"id '{first}' was read first with different content (a.csv line 2)", first),
        ("b.csv", 4, "conflicting_duplicate", f"id '{first}' was read first with different content (a.csv line 2)", first),
        ("b.csv", 6, "conflicting_duplicate",
         f"id '{response_id('C2', '')}' was read first with different content (b.csv line 5)", response_id("C2", "")),
    ]
    assert [(r[0], r[1], r[6], r[7]) for r in records(conn)] == [("C1", "female", "a.csv", 2), ("C2", "female", "b.csv", 5)]


def test_a_response_read_again_in_a_later_run(conn, config, tmp_path):
    write_csv(tmp_path / "a.csv", [dm()], COLUMNS)
    ingest(conn, tmp_path, config, batch="b1")
    write_csv(tmp_path / "b.csv", [dm(), dm(disability_status="Yes"), dm(candidate_id="C2")], COLUMNS)
    result = ingest(conn, tmp_path, config, batch="b2")
    assert counts(result) == [("a.csv", "unchanged", 0, 0, 0, 0), ("b.csv", "ingested", 3, 1, 1, 1)]
    (row,) = quarantined(conn)
    assert row[1:3] == (3, "conflicting_duplicate")
    assert row[3].endswith("was already ingested with different content (from a.csv line 2)")
    assert [r[0] for r in records(conn)] == ["C1", "C2"]


def test_every_row_read_is_accounted_for(conn, config, tmp_path):
    sexes = ("Female", "male", "robot", "", "Decline to self-identify")
    rows = [dm(candidate_id=f"C{i % 9}" if i % 11 else "", sex=sexes[i % 5],
               collected_at=("2024-03-01", "", "later", "2024-04-01T08:00:00+02:00")[i % 4]) for i in range(80)]
    write_csv(tmp_path / "a.csv", rows[:40], COLUMNS)
    write_jsonl(tmp_path / "b.jsonl", rows[40:])
    result = ingest(conn, tmp_path, config)
    for f in result.files:
        assert f.rows_read == 40 == f.rows_accepted + f.rows_duplicate + f.rows_quarantined
    assert conn.execute("SELECT count(*) FROM demographic_records").fetchone()[0] == result.total("rows_accepted")
    assert conn.execute("SELECT count(*) FROM quarantined_rows").fetchone()[0] == result.total("rows_quarantined")
    assert sum(result.quarantined_by_reason.values()) == result.total("rows_quarantined")
    assert set(result.quarantined_by_reason) == {
        "missing_required", "bad_timestamp", "unknown_category", "conflicting_duplicate"}
    assert set(result.quarantined_by_reason) <= set(DEMOGRAPHICS.reasons)
    # ids are unique, and no accepted category is anything but a category
    assert conn.execute("SELECT count(*) = count(DISTINCT record_id) FROM demographic_records").fetchone()[0]
    assert {r[0] for r in conn.execute("SELECT DISTINCT sex FROM demographic_records").fetchall()} <= {
        "female", "male", None}


# ---------------------------------------------------------------------------------------------
# Formats


def test_csv_json_lines_and_parquet_give_the_same_table(config, tmp_path):
    csv_rows = [dm(), dm(candidate_id="C2", sex="I don't wish to answer", race_ethnicity="Two or More Races",
                        veteran_status="", disability_status="Yes", collected_at="")]
    write_csv(tmp_path / "csv" / "x.csv", csv_rows, COLUMNS)
    write_jsonl(tmp_path / "jsonl" / "x.jsonl", [
        {"candidate_id": "C1", "sex": "female", "race_ethnicity": "asian", "veteran_status": "not_protected_veteran",
         "disability_status": "no", "collected_at": "2024-03-01T05:00:00-05:00"},
        {"candidate_id": "C2", "sex": "i_don_t_wish_to_answer", "race_ethnicity": "two_or_more_races",
         "disability_status": "YES", "collected_at": None},
    ])
    (tmp_path / "parquet").mkdir()
    pl.DataFrame({
        "Candidate_ID": ["C1", "C2"],                       # column names match case-insensitively
        "sex": ["FEMALE", "Decline to self-identify"],
        "race_ethnicity": ["Asian", "two or more races"],
        "veteran_status": ["Not Protected Veteran", None],
        "disability_status": ["No", "Yes"],
        "collected_at": pl.Series([T, None]).dt.replace_time_zone("UTC").dt.convert_time_zone("Asia/Tokyo"),
    }).write_parquet(tmp_path / "parquet" / "x.parquet")
    tables = []
    for name in ("csv", "jsonl", "parquet"):
        conn = connect(":memory:")
        create_schema(conn)
        result = ingest(conn, tmp_path / name, config)
        assert [(f.status, f.rows_read, f.rows_accepted) for f in result.files] == [("ingested", 2, 2)], name
        tables.append(conn.execute(
            "SELECT * EXCLUDE (source_file, source_line, ingested_at) FROM demographic_records ORDER BY record_id").fetchall())
        conn.close()
    assert tables[0] == tables[1] == tables[2]
    assert sorted(row[1:7] for row in tables[0]) == [
        ("C1", "female", "asian", "not_protected_veteran", "no", T),
        ("C2", None, "two_or_more_races", None, "yes", None),
    ]


# ---------------------------------------------------------------------------------------------
# The latest response wins (int_candidate_demographics), as docs/contract.md says


def test_the_latest_response_per_candidate_wins(conn, config, tmp_path):
    model = next(m for m in load_models() if m.name == "int_candidate_demographics")
    write_csv(tmp_path / "a.csv", [
        dm(candidate_id="C1", sex="Female", collected_at="2024-05-01"),
        dm(candidate_id="C1", sex="Male", collected_at="2024-03-01"),
        dm(candidate_id="C2", sex="Male", collected_at=""),                  # no collected_at: the earliest
        dm(candidate_id="C2", sex="Female", collected_at="2024-01-01"),
        dm(candidate_id="C3", sex="Another", collected_at="2024-01-01"),
    ], COLUMNS)
    ingest(conn, tmp_path, config, batch="b1")
    # a later run: an older response of C3 does not win over the newer one read before; C1 declines later on
    write_csv(tmp_path / "b.csv", [dm(candidate_id="C3", sex="Female", collected_at="2023-12-01"),
                                   dm(candidate_id="C1", sex="Decline to self-identify", collected_at="2024-06-01")],
              COLUMNS)
    ingest(conn, tmp_path, config, batch="b2")
    latest = conn.execute(f"SELECT candidate_id, sex, collected_at FROM ({model.sql}) ORDER BY 1").fetchall()
    assert latest == [("C1", None, datetime(2024, 6, 1)), ("C2", "female", datetime(2024, 1, 1)),
                      ("C3", "another", datetime(2024, 1, 1))]


# ---------------------------------------------------------------------------------------------
# Privacy: the asset and its checks show counts, never a person's category


PRIVATE_VALUES = ("female", "Female", "asian", "Asian", "Martian", "martian", "protected", "Hispanic")


def test_the_asset_records_counts_and_never_a_response(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("FUNNEL_KEY_SECRET", "k" * 64)
    warehouse = FunnelWarehouse(home=str(tmp_path))
    write_csv(warehouse.paths.feed_dir("demographics") / "2024" / "a.csv",
              [dm(), dm(candidate_id="C2", sex="Martian"), dm(candidate_id="C3", race_ethnicity="Hispanic/Latino"),
               dm(candidate_id="C4", collected_at="")], COLUMNS)
    instance = dg.DagsterInstance.ephemeral()
    with caplog.at_level(logging.INFO):
        result = dg.materialize([funnel_config, demographic_records], resources={"warehouse": warehouse},
                                instance=instance)
    assert result.success
    (event,) = [e for e in result.get_asset_materialization_events()
                if e.asset_key == dg.AssetKey("demographic_records")]
    metadata = event.materialization.metadata
    assert metadata["dagster/row_count"].value == 2
    assert metadata["rows_quarantined"].value == 2
    assert metadata["quarantined_by_reason"].value == {"unknown_category": 2}
    columns = {c.name: c for c in metadata["dagster/column_schema"].schema.columns}
    assert list(columns) == ["record_id", "candidate_id", "sex", "race_ethnicity", "veteran_status",
                             "disability_status", "collected_at", "content_hash", "source_file", "source_line",
                             "batch_id", "ingested_at"]
    assert all(c.description for c in columns.values())
    assert "candidate_id and collected_at" in columns["record_id"].description
    shown = json.dumps({k: str(v.value) for k, v in metadata.items() if k != "dagster/column_schema"})
    shown += " ".join(str(e.message) for e in instance.all_logs(result.run_id)) + caplog.text
    assert "2024/a.csv" in shown
    for value in PRIVATE_VALUES + ("C2", "C3"):
        assert value not in shown, value


@pytest.fixture
def demographics_db(config, tmp_path):
    """A working database with one batch of demographics ingested, and the configuration tables."""
    conn = connect(":memory:")
    create_schema(conn)
    write_config_tables(conn, config)
    write_csv(tmp_path / "d" / "a.csv", [dm(), dm(candidate_id="C2", sex="Male", race_ethnicity="White"),
                                         dm(candidate_id="C3", sex="Martian"),
                                         dm(candidate_id="C4", race_ethnicity="Hispanic/Latino")], COLUMNS)
    ingest(conn, tmp_path / "d", config, batch="b1")
    yield conn
    conn.close()


def test_the_records_suite_passes_on_ingested_responses(demographics_db):
    for engine in ("great_expectations", "duckdb"):
        result = validate_records(demographics_db, "demographic_records", "b1", engine=engine)
        assert result.success, (engine, result.summary)
        assert result.rows == 2
        assert "sex is one of female, male, another" in {o.description for o in result.outcomes}


@pytest.mark.parametrize("engine", ["great_expectations", "duckdb"])
def test_failing_category_rules_show_record_ids_and_counts_never_values(demographics_db, tmp_path, engine):
    assert set(RECORD_SPECS["demographic_records"].private) == {"candidate_id", *DEMOGRAPHIC_CATEGORIES}
    # values no ingestion would accept: the suite must catch them without printing them
    demographics_db.execute("UPDATE demographic_records SET sex = 'vulcan', race_ethnicity = 'klingon'")
    result = validate_records(demographics_db, "demographic_records", "b1", engine=engine)
    assert not result.success
    sex = result.outcome("sex is one of female, male, another")
    assert (sex.success, sex.unexpected_count, sex.partial_unexpected) == (False, 2, ())
    assert [set(row) for row in sex.example_rows] == [{"record_id"}, {"record_id"}]
    page = write_page(tmp_path, "run", suite_page("demographic_records.batch_expectations", result)).read_text()
    shown = page + json.dumps(result.examples(50)) + result.summary
    for value in ("vulcan", "klingon", "C1", "C2"):  # the rules name the categories: they are no one's
        assert value not in shown, value
    assert "sex is one of female, male, another" in page  # the rule and the counts are shown


def test_quarantine_share_examples_hold_where_and_why_not_the_values(demographics_db, tmp_path):
    result = sql_checks.quarantine_share(demographics_db, "demographics", threshold=0.9)
    assert (result.passed, result.severity, result.failing_count) == (False, "WARN", 2)
    assert result.examples == [{"source_file": "a.csv", "source_line": 4, "reason": "unknown_category"},
                               {"source_file": "a.csv", "source_line": 5, "reason": "unknown_category"}]
    assert result.metrics["quarantined_by_reason"] == {"unknown_category": 2}
    page = write_page(tmp_path, "run", sql_page("demographic_records.quarantine_share", result)).read_text()
    for value in ("Martian", "martian", "Hispanic", "hispanic_latino"):
        assert value not in page, value
    # the details stay in the working database
    assert "'Martian'" in demographics_db.execute("SELECT string_agg(detail) FROM quarantined_rows").fetchone()[0]


def test_unique_record_ids_covers_the_feed(demographics_db):
    assert sql_checks.unique_record_ids(demographics_db, "demographic_records").passed
    demographics_db.execute("INSERT INTO demographic_records SELECT * FROM demographic_records LIMIT 1")
    result = sql_checks.unique_record_ids(demographics_db, "demographic_records")
    assert (result.passed, result.failing_count) == (False, 1)
    assert set(result.examples[0]) == {"record_id", "records", "read_from", "batches"}
