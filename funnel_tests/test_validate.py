"""`funnel validate`: every problem with its file, line and reason code, without touching any warehouse."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from funnel.contract import DEMOGRAPHICS, INTERVIEWS, STAGE_OUTCOMES
from funnel.ingest import ingest_feed
from funnel.settings import FunnelError
from funnel.validate import validate_path
from funnel.warehouse import connect, create_schema
from funnel_tests.conftest import INTERVIEW_COLUMNS, STAGE_COLUMNS, iv, so, write_csv, write_jsonl

REPO = Path(__file__).resolve().parents[1]




def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def landing(tmp_path) -> Path:
    """A landing folder with both feeds, good and bad files."""
    root = tmp_path / "landing"
    so_dir, iv_dir = root / "stage_outcomes", root / "interviews"
    write_csv(so_dir / "2024" / "a.csv", [so(event_id="E1"), so(event_id="E2", outcome="maybe"), so(event_id="E3", occurred_at="soon")],
              STAGE_COLUMNS)
    write_jsonl(so_dir / "b.jsonl", [so(event_id="E1"), so(event_id="E1", outcome="failed"), so(event_id="E4", role="chef")])
    write_csv(so_dir / "c.csv", [so(event_id="E5", requires_travel="sometimes")], STAGE_COLUMNS)
    (so_dir / "d.csv").write_bytes(b"")
    write_csv(iv_dir / "loop.csv", [iv(), iv(interviewer_id="I2", skill="juggling"), iv(interviewer_id="")], INTERVIEW_COLUMNS)
    (iv_dir / "notes.txt").write_text("not an export\n")
    return root


def test_validate_a_landing_folder_lists_every_problem(config, landing):
    before = tree(landing.parent)
    problems = validate_path(landing, config)
    so_dir, iv_dir = landing / "stage_outcomes", landing / "interviews"
    assert problems.items == [
        (f"{iv_dir}/loop.csv", 3, "unknown_skill", "skill 'juggling' is not one of: " + ", ".join(config.skills)),
        (f"{iv_dir}/loop.csv", 4, "missing_required", "missing interviewer_id"),
        (f"{iv_dir}/notes.txt", None, "rejected_file", "unsupported file type '.txt'; expected one of .csv, .jsonl, .ndjson, .parquet"),
        (f"{so_dir}/2024/a.csv", 3, "unknown_outcome", "outcome 'maybe' is not one of: in_progress, passed, failed, withdrew, skipped"),
        (f"{so_dir}/2024/a.csv", 4, "bad_timestamp", "occurred_at 'soon' is not an ISO-8601 timestamp"),
        (f"{so_dir}/b.jsonl", 2, "conflicting_duplicate",
         f"id 'E1' was read first with different content ({so_dir}/2024/a.csv line 2)"),
        (f"{so_dir}/b.jsonl", 3, "unknown_role",
         "role 'chef' is not one of: ml_engineer, software_engineer, research_scientist, data_scientist"),
        (f"{so_dir}/d.csv", None, "rejected_file", "empty file"),
    ]
    assert problems.count == 8
    assert problems.files == 6
    assert problems.rows == 3 + 3 + 1 + 3
    assert problems.warnings == [
        f"{so_dir}/c.csv: 1 row(s) with an unreadable requires_travel, kept as unknown (first: line 2, 'sometimes')"]
    assert problems.lines()[:3] == [
        f"{iv_dir}/loop.csv:3: unknown_skill: skill 'juggling' is not one of: " + ", ".join(config.skills),
        f"{iv_dir}/loop.csv:4: missing_required: missing interviewer_id",
        f"{iv_dir}/notes.txt: rejected_file: unsupported file type '.txt'; expected one of .csv, .jsonl, .ndjson, .parquet",
    ]
    assert problems.lines()[-1] == f"warning: {so_dir}/c.csv: 1 row(s) with an unreadable requires_travel, kept as unknown (first: line 2, 'sometimes')"
    assert problems.summary() == "checked 6 file(s), 10 rows: 8 problem(s)"
    assert tree(landing.parent) == before  # nothing written, moved or created


def test_validate_one_feed_folder(config, landing):
    problems = validate_path(landing / "interviews", config)
    assert [(Path(f).name, line, reason) for f, line, reason, _ in problems.items] == [
        ("loop.csv", 3, "unknown_skill"), ("loop.csv", 4, "missing_required"), ("notes.txt", None, "rejected_file")]
    assert (problems.files, problems.rows) == (2, 3)


def test_validate_one_file_knows_its_feed_from_its_folder(config, landing):
    problems = validate_path(landing / "stage_outcomes" / "2024" / "a.csv", config)
    assert [(f, line, reason) for f, line, reason, _ in problems.items] == [
        (str(landing / "stage_outcomes" / "2024" / "a.csv"), 3, "unknown_outcome"),
        (str(landing / "stage_outcomes" / "2024" / "a.csv"), 4, "bad_timestamp"),
    ]
    assert problems.summary() == "checked 1 file(s), 3 rows: 2 problem(s)"


def test_validate_a_clean_folder_reports_no_problems(config, tmp_path):
    write_csv(tmp_path / "stage_outcomes" / "ok.csv", [so(event_id="E1"), so(event_id="E1")], STAGE_COLUMNS)
    write_jsonl(tmp_path / "interviews" / "ok.jsonl", [iv(), iv(skill="communication")])
    problems = validate_path(tmp_path, config)
    assert problems.items == [] and problems.warnings == [] and problems.lines() == []
    assert problems.summary() == "checked 2 file(s), 4 rows: no problems"


def test_validate_accepts_a_european_excel_csv_and_notes_its_encoding(config, tmp_path):
    """Semicolon-separated, Windows-1252 ('é' is the byte 0xE9), CRLF: what Excel saves in much of Europe."""
    path = tmp_path / "stage_outcomes" / "excel.csv"
    path.parent.mkdir()
    path.write_bytes(
        "event_id;application_id;candidate_id;role;stage;outcome;occurred_at;team\r\n"
        "E1;A1;José;ml_engineer;onsite;passed;2024-03-01T10:00:00Z;\"Zoë; Search, Ads\"\r\n"
        "E2;A2;Zoë;ml_engineer;offer;withdrew;2024-03-02;Søren’s team\r\n".encode("cp1252")
    )
    problems = validate_path(path, config)
    assert problems.items == [] and problems.warnings == []
    assert problems.lines() == [f"note: {path}: read as windows-1252, not UTF-8"]
    assert problems.summary() == "checked 1 file(s), 2 rows: no problems"


def test_a_file_outside_a_feed_folder_needs_feed(config, tmp_path):
    path = write_csv(tmp_path / "export.csv", [iv(recommendation="nah")], INTERVIEW_COLUMNS)
    with pytest.raises(FunnelError) as caught:
        validate_path(path, config)
    assert str(caught.value) == (
        f"{path}: cannot tell which feed it belongs to; pass --feed stage_outcomes, --feed interviews or --feed demographics")
    problems = validate_path(path, config, feed="interviews")
    assert [(f, line, reason) for f, line, reason, _ in problems.items] == [(str(path), 2, "unknown_recommendation")]
    # Checked as the other feed, it is missing that feed's columns.
    other = validate_path(path, config, feed="stage_outcomes")
    assert other.items == [(str(path), None, "rejected_file", "missing required column(s): candidate_id, role, outcome")]


def test_validate_the_demographics_feed(config, tmp_path):
    """Known from its folder, or named with --feed; every reason code of the feed, with file and line."""
    folder = tmp_path / "landing" / "demographics"
    columns = ["candidate_id", "sex", "race_ethnicity", "veteran_status", "disability_status", "collected_at"]
    rows = [
        {"candidate_id": "C1", "sex": "Female", "race_ethnicity": "Two or More Races", "collected_at": "2024-03-01"},
        {"candidate_id": "C2", "sex": "I don't wish to answer", "race_ethnicity": "Hispanic/Latino"},
        {"candidate_id": "", "sex": "Male"},
        {"candidate_id": "C3", "collected_at": "last spring"},
        {"candidate_id": "C4", "collected_at": "1970-01-01"},
        {"candidate_id": "C1", "sex": "Male", "race_ethnicity": "Two or More Races", "collected_at": "2024-03-01"},
        {"candidate_id": "C5", "disability_status": "Decline to self-identify"},
    ]
    path = write_csv(folder / "responses.csv", rows, columns)
    problems = validate_path(path, config)
    assert [(f, line, reason) for f, line, reason, _ in problems.items] == [
        (str(path), 3, "unknown_category"), (str(path), 4, "missing_required"), (str(path), 5, "bad_timestamp"),
        (str(path), 6, "implausible_timestamp"), (str(path), 7, "conflicting_duplicate")]
    assert problems.items[0][3].startswith(
        "race_ethnicity 'Hispanic/Latino' (normalized: 'hispanic_latino') is not one of: hispanic_or_latino, ")
    assert problems.summary() == "checked 1 file(s), 7 rows: 5 problem(s)"
    assert validate_path(tmp_path / "landing", config).items == problems.items  # the landing folder: every feed
    copy = write_csv(tmp_path / "export.csv", rows, columns)
    assert len(validate_path(copy, config, feed="demographics").items) == 5


def test_a_folder_that_is_no_feed_needs_feed(config, tmp_path):
    write_csv(tmp_path / "exports" / "x.csv", [so()], STAGE_COLUMNS)
    with pytest.raises(FunnelError, match="cannot tell which feed it holds; pass --feed"):
        validate_path(tmp_path / "exports", config)
    assert validate_path(tmp_path / "exports", config, feed="stage_outcomes").summary() == "checked 1 file(s), 1 rows: no problems"


def test_a_missing_path_is_an_error(config, tmp_path):
    with pytest.raises(FunnelError) as caught:
        validate_path(tmp_path / "nowhere", config)
    assert str(caught.value) == f"{tmp_path / 'nowhere'}: no such file or folder"


def test_validate_reports_what_ingestion_would_quarantine(config, landing):
    problems = validate_path(landing, config)
    conn = connect(":memory:")
    create_schema(conn)
    for feed in (STAGE_OUTCOMES, INTERVIEWS):
        ingest_feed(conn, landing / feed.name, feed, config, "run")
    found = conn.execute(
        "SELECT feed, source_file, source_line, reason FROM quarantined_rows UNION ALL"
        " SELECT feed, path, NULL, 'rejected_file' FROM landing_files WHERE status = 'rejected' ORDER BY ALL"
    ).fetchall()
    conn.close()

    def where(shown: str) -> tuple[str, str]:
        feed, *rest = Path(shown).relative_to(landing).parts
        return feed, "/".join(rest)

    expected = [(*where(f), line, reason) for f, line, reason, _ in problems.items]
    assert sorted(found, key=str) == sorted(expected, key=str)
    assert len(found) == 8


# ---------------------------------------------------------------------------------------------
# The example files in data/samples


def test_the_samples_are_valid(config, monkeypatch):
    monkeypatch.chdir(REPO)
    problems = validate_path(Path("data/samples"), config)
    assert problems.lines() == []
    assert problems.summary() == "checked 9 file(s), 48 rows: no problems"


def test_each_sample_format_holds_the_same_records(config):
    samples = REPO / "data" / "samples"
    conn = connect(":memory:")
    create_schema(conn)
    so_result = ingest_feed(conn, samples / "stage_outcomes", STAGE_OUTCOMES, config, "samples")
    iv_result = ingest_feed(conn, samples / "interviews", INTERVIEWS, config, "samples")
    # Read in order csv, jsonl, parquet: the first is kept, the other two are exact duplicates of it.
    assert [(f.path, f.rows_read, f.rows_accepted, f.rows_duplicate, f.rows_quarantined) for f in so_result.files] == [
        ("example.csv", 8, 8, 0, 0), ("example.jsonl", 8, 0, 8, 0), ("example.parquet", 8, 0, 8, 0)]
    assert [(f.path, f.rows_read, f.rows_accepted, f.rows_duplicate, f.rows_quarantined) for f in iv_result.files] == [
        ("example.csv", 4, 4, 0, 0), ("example.jsonl", 4, 0, 4, 0), ("example.parquet", 4, 0, 4, 0)]
    assert [f.warning for f in so_result.files + iv_result.files] == [None] * 6
    dm_result = ingest_feed(conn, samples / "demographics", DEMOGRAPHICS, config, "samples")
    assert [(f.path, f.rows_read, f.rows_accepted, f.rows_duplicate, f.rows_quarantined) for f in dm_result.files] == [
        ("example.csv", 4, 4, 0, 0), ("example.jsonl", 4, 0, 4, 0), ("example.parquet", 4, 0, 4, 0)]
    responses = conn.execute("SELECT candidate_id, sex, race_ethnicity, veteran_status, disability_status, collected_at"
                             " FROM demographic_records ORDER BY candidate_id, collected_at NULLS FIRST").fetchall()
    walk = conn.execute("SELECT stage, outcome, occurred_at, requires_travel FROM stage_outcome_records ORDER BY occurred_at").fetchall()
    conn.close()
    assert responses == [
        ("CAND-501", "female", "asian", "not_protected_veteran", "no", datetime(2024, 3, 4, 9, 20)),
        ("CAND-501", "female", "asian", "not_protected_veteran", None, datetime(2024, 4, 22, 15, 0)),
        ("CAND-502", None, "hispanic_or_latino", None, None, datetime(2024, 3, 5, 17, 0)),
        ("CAND-503", "male", "two_or_more_races", "protected_veteran", "yes", None),
    ]
    assert walk == [
        ("application_review", "passed", datetime(2024, 3, 4, 9, 15), None),
        ("recruiter_screen", "passed", datetime(2024, 3, 6, 15, 30), None),
        ("technical_screen", "passed", datetime(2024, 3, 13, 15, 0), True),
        ("onsite", "passed", datetime(2024, 3, 28, 0, 45), True),
        ("hiring_committee", "passed", datetime(2024, 4, 3, 14, 0), None),
        ("team_matching", "in_progress", datetime(2024, 4, 4, 9, 0), None),
        ("team_matching", "passed", datetime(2024, 4, 18, 9, 20), None),
        ("offer", "passed", datetime(2024, 4, 22, 15, 0), None),
    ]
