"""The `funnel` command end to end, in a fresh FUNNEL_HOME, as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef
import duckdb
import pytest

from funnel.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def funnel(home: Path, command: str, *args: str) -> subprocess.CompletedProcess:
    """The installed console script in a subprocess: its own environment, exit status and output.
    `--home` goes after the command, as a user who reads `funnel run --help` writes it."""
    env = {k: v for k, v in os.environ.items() if k not in ("FUNNEL_HOME", "DAGSTER_HOME")}
    return subprocess.run(
        [sys.executable, "-m", "funnel.cli", command, "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    generated = funnel(home, "generate", "--applications", "300", "--seed", "3")
    assert generated.returncode == 0, generated.stderr
    first = funnel(home, "run")
    assert first.returncode == 0, first.stderr
    home.joinpath("first_run.txt").write_text(first.stdout)
    home.joinpath("generated.txt").write_text(generated.stdout)
    return home


def test_run_ingests_publishes_and_records_the_run_in_the_instance(demo_home: Path):
    summary = demo_home.joinpath("first_run.txt").read_text()
    assert "succeeded" in summary
    assert str(demo_home / "warehouse" / "funnel.duckdb") in summary
    working = duckdb.connect(str(demo_home / "warehouse" / "pipeline.duckdb"), read_only=True)
    records = working.execute("SELECT count(*) FROM stage_outcome_records").fetchall()[0][0]
    quarantined = working.execute("SELECT count(*) FROM quarantined_rows").fetchall()[0][0]
    read, accepted, duplicates, rejected = working.execute(
        "SELECT sum(rows_read), sum(rows_accepted), sum(rows_duplicate), count(*) FILTER (status = 'rejected')"
        " FROM landing_files WHERE feed = 'stage_outcomes'"
    ).fetchall()[0]
    working.close()
    generated = re.search(r"([\d,]+) stage events", demo_home.joinpath("generated.txt").read_text()).group(1)
    # every generated row was read, and ended accepted, dropped as a duplicate, or quarantined
    assert read == int(generated.replace(",", ""))
    assert rejected == 0
    assert records == accepted > 500
    assert duplicates > 0 and quarantined > 0
    assert f"{records:,} stage outcome records" in summary
    published = duckdb.connect(str(demo_home / "warehouse" / "funnel.duckdb"), read_only=True)
    tables = {row[0] for row in published.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    log = published.execute("SELECT count(*), any_value(run_id) FROM publish_log").fetchone()
    published.close()
    assert {"publish_log", "quarantine_summary", "stage_pass_rates"} <= tables
    # raw, candidate-level tables never reach analysts
    assert not tables & {"stage_outcome_records", "interview_records", "quarantined_rows"}
    assert log[0] == 1
    # the run is in the shared Dagster instance under FUNNEL_HOME/.dagster, so the UI lists it
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(demo_home / ".dagster"))) as instance:
        runs = instance.get_run_records()
    assert [r.dagster_run.run_id for r in runs] == [log[1]]
    assert runs[0].dagster_run.job_name == "funnel_job"


def test_second_run_over_the_same_files_adds_nothing(demo_home: Path):
    working_db = demo_home / "warehouse" / "pipeline.duckdb"
    before = duckdb.connect(str(working_db), read_only=True)
    counts_before = before.execute(
        "SELECT (SELECT count(*) FROM stage_outcome_records), (SELECT count(*) FROM interview_records),"
        " (SELECT count(*) FROM quarantined_rows)"
    ).fetchone()
    before.close()
    again = funnel(demo_home, "run")
    assert again.returncode == 0, again.stderr
    assert "0 file(s) read, 0 rejected; 0 rows ingested" in again.stdout
    after = duckdb.connect(str(working_db), read_only=True)
    counts_after = after.execute(
        "SELECT (SELECT count(*) FROM stage_outcome_records), (SELECT count(*) FROM interview_records),"
        " (SELECT count(*) FROM quarantined_rows)"
    ).fetchone()
    after.close()
    assert counts_after == counts_before


def test_config_error_is_one_line_naming_file_and_key(tmp_path: Path):
    (tmp_path / "funnel.yaml").write_text(
        "stages: [a, b]\nroles:\n  r:\n    pipeline: [b, a]\n"
    )
    result = funnel(tmp_path, "run")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"funnel: {tmp_path / 'funnel.yaml'}: roles.r.pipeline: 'a' comes before 'b' in the stage catalog; list stages in catalog order"]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "warehouse").exists()


def test_config_prints_the_default_when_home_has_none(tmp_path: Path, capsys):
    assert main(["--home", str(tmp_path), "config"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# active configuration: <default config>\n")
    assert "research_scientist:\n    pipeline: [application_review, recruiter_screen, take_home, onsite, hiring_committee, offer]" in out


def test_config_prints_funnel_yaml_when_present(tmp_path: Path, capsys):
    (tmp_path / "funnel.yaml").write_text(
        "stages: [screen, onsite, offer]\nroles:\n  swe:\n    pipeline: [screen, onsite, offer]\n    onsite_skills: [coding]\n"
    )
    assert main(["--home", str(tmp_path), "config"]) == 0
    out = capsys.readouterr().out
    assert f"# active configuration: {tmp_path / 'funnel.yaml'}" in out
    assert "swe:\n    pipeline: [screen, onsite, offer]\n    onsite_skills: [coding]" in out
    assert "team_matching_stall_days: 56" in out


@pytest.mark.parametrize(
    "argv, home, debug",
    [
        (["--home", "before", "run"], "before", False),
        (["run", "--home", "after"], "after", False),
        (["--home", "before", "run", "--home", "after"], "after", False),  # the later one wins
        (["--debug", "rerun", "r1", "--home", "h"], "h", True),
        (["validate", "x.csv", "--debug", "--feed", "interviews"], None, True),
        (["generate", "--home", "h", "--applications", "5"], "h", False),
        (["report"], None, False),
    ],
)
def test_home_and_debug_before_or_after_the_command(argv, home, debug):
    args = build_parser().parse_args(argv)
    assert (args.home, args.debug) == (home, debug)


def test_home_after_the_command_is_the_home_used(tmp_path: Path, capsys):
    (tmp_path / "funnel.yaml").write_text("stages: [screen]\nroles:\n  swe:\n    pipeline: [screen]\n")
    assert main(["config", "--home", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"# active configuration: {tmp_path / 'funnel.yaml'}\n")
    (tmp_path / "funnel.yaml").write_text("stages: [screen]\nroles: []\n")
    assert main(["config", "--home", str(tmp_path), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err  # --debug after the command shows it
    assert err.strip().splitlines()[-1] == f"funnel: {tmp_path / 'funnel.yaml'}: roles: must be a non-empty mapping of role name to its pipeline"


def test_validate_reports_implausible_timestamps_with_file_and_line(tmp_path: Path, capsys):
    feed = tmp_path / "stage_outcomes"
    feed.mkdir()
    (feed / "a.csv").write_text(
        "application_id,candidate_id,role,stage,outcome,occurred_at\n"
        "a1,c1,ml_engineer,onsite,passed,2025-01-01T10:00:00Z\n"
        "a2,c2,ml_engineer,onsite,passed,9999-12-31\n"
        "a3,c3,ml_engineer,onsite,passed,1999-12-31T23:00:00-02:00\n"
    )
    assert main(["validate", str(feed), "--home", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{feed / 'a.csv'}:3: implausible_timestamp: occurred_at '9999-12-31' is later than the time "
                             "of ingestion plus future_tolerance_days (")
    # 1999-12-31T23:00-02:00 is 2000-01-01T01:00Z: inside the range
    assert out[1:] == ["checked 1 file(s), 3 rows: 1 problem(s)"]
    (tmp_path / "funnel.yaml").write_text(
        "stages: [onsite]\nroles: {ml_engineer: {pipeline: [onsite]}}\nearliest_timestamp: 2020-01-01\n"
    )
    assert main(["validate", str(feed), "--home", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [
        f"{feed / 'a.csv'}:4: implausible_timestamp: occurred_at '1999-12-31T23:00:00-02:00' is earlier than "
        "earliest_timestamp (2020-01-01T00:00:00Z)",
        "checked 1 file(s), 3 rows: 2 problem(s)",
    ]


def test_validate_exit_status_and_lines(tmp_path: Path, capsys):
    feed = tmp_path / "stage_outcomes"
    feed.mkdir()
    (feed / "a.csv").write_text(
        "application_id,candidate_id,role,stage,outcome,occurred_at\n"
        "a1,c1,ml_engineer,onsite,passed,2025-01-01T10:00:00+02:00\n"
        "a2,c2,ml_engineer,onsite,pased,2025-01-01T10:00:00Z\n"
    )
    assert main(["validate", str(feed)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{feed / 'a.csv'}:3: unknown_outcome: outcome 'pased'")
    assert out[-1] == "checked 1 file(s), 2 rows: 1 problem(s)"
    (feed / "a.csv").write_text(
        "application_id,candidate_id,role,stage,outcome,occurred_at\na1,c1,ml_engineer,onsite,passed,2025-01-01\n"
    )
    assert main(["validate", str(feed)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "checked 1 file(s), 1 rows: no problems"


def test_validate_feed_choices_are_the_contract_feeds(tmp_path: Path, capsys):
    export = tmp_path / "self_id.csv"
    export.write_text("candidate_id,sex,race_ethnicity,collected_at\n"
                      "c1,Female,Black or African American,2025-01-01\n"
                      "c2,Robot,,\n")
    assert main(["validate", str(export), "--feed", "demographics", "--home", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{export}:3: unknown_category: sex 'Robot' (normalized: 'robot') is not one of: ")
    assert out[-1] == "checked 1 file(s), 2 rows: 1 problem(s)"
    assert build_parser().parse_args(["validate", "x", "--feed", "demographics"]).feed == "demographics"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["validate", "x", "--feed", "candidates"])


def test_generate_refuses_a_non_empty_landing_unless_asked(tmp_path: Path, capsys):
    (tmp_path / "landing" / "stage_outcomes").mkdir(parents=True)
    (tmp_path / "landing" / "stage_outcomes" / "mine.csv").write_text("x\n")
    assert main(["--home", str(tmp_path), "generate", "--applications", "10"]) == 2
    assert "already has 1 file(s); use --force" in capsys.readouterr().err
    assert main(["--home", str(tmp_path), "generate", "--applications", "10", "--if-empty"]) == 0
    assert "left as it is" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "landing").rglob("*") if p.is_file()) == ["mine.csv"]


def test_the_published_database_holds_no_demographics_about_a_person_and_files_have_their_modes(demo_home: Path):
    """Demographics reach the analysts' database only as adverse_impact's aggregates; the working
    database and its folder are the owner's only, the published database stays readable."""
    import stat

    from funnel.contract import DEMOGRAPHIC_CATEGORIES

    values = {*DEMOGRAPHIC_CATEGORIES["sex"], *DEMOGRAPHIC_CATEGORIES["race_ethnicity"]}
    values |= {f"{s}_x_{r}" for s in DEMOGRAPHIC_CATEGORIES["sex"] for r in DEMOGRAPHIC_CATEGORIES["race_ethnicity"]}
    demographic_columns = {*DEMOGRAPHIC_CATEGORIES, "sex_x_race_ethnicity", "collected_at"}
    person_keys = {"application_key", "application_id", "candidate_id", "candidate_key"}
    published = duckdb.connect(str(demo_home / "warehouse" / "funnel.duckdb"), read_only=True)
    try:
        columns: dict[str, dict[str, str]] = {}
        for table, column, dtype in published.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = current_database()"
        ).fetchall():
            columns.setdefault(table, {})[column] = dtype
        assert not {"demographic_records", "int_candidate_demographics"} & set(columns)
        found = []
        for table, cols in columns.items():
            found += [(table, c) for c in cols if c in demographic_columns]
            if person_keys & set(cols):
                for column, dtype in cols.items():
                    if dtype == "VARCHAR" and column not in person_keys:
                        hits = published.execute(
                            f'SELECT count(*) FROM "{table}" WHERE "{column}" IN (SELECT unnest(?::VARCHAR[]))',
                            [sorted(values)]).fetchone()[0]
                        found += [(table, column)] * bool(hits)
        assert found == []
        assert not person_keys & set(columns["adverse_impact"])
        # the demo does carry demographics: as aggregates, with the small groups suppressed
        groups, suppressed_with_counts = published.execute(
            "SELECT count(DISTINCT group_name), count(*) FILTER (WHERE suppressed AND applicants IS NOT NULL)"
            " FROM adverse_impact WHERE group_name <> 'unknown'").fetchone()
        smallest = published.execute("SELECT min(applicants) FROM adverse_impact WHERE NOT suppressed"
                                      " AND group_name <> 'unknown'").fetchone()[0]
    finally:
        published.close()
    assert groups > 3 and suppressed_with_counts == 0 and smallest >= 10
    mode = lambda path: stat.S_IMODE(path.stat().st_mode)  # noqa: E731
    assert mode(demo_home / "warehouse") == 0o700
    assert mode(demo_home / "warehouse" / "pipeline.duckdb") == 0o600
    assert mode(demo_home / "landing" / "demographics") == 0o700
    assert mode(demo_home / "warehouse" / "funnel.duckdb") & 0o044 == 0o044  # readable, as before
