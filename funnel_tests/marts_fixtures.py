"""Helpers for the marts tests: a small explicit config, an in-memory warehouse, direct inserts.

Records go straight into the ingestion tables (already typed, normalized and UTC), so the
tests exercise only the SQL models. Expected numbers are worked out by hand in each test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

import duckdb

from funnel.build import build_all
from funnel.config import Config, Role
from funnel.keys import install_key, keyed_hash
from funnel.warehouse import create_schema, write_config_tables

STAGES = (
    "application_review",
    "recruiter_screen",
    "technical_screen",
    "take_home",
    "onsite",
    "hiring_committee",
    "team_matching",
    "offer",
)

# swe: screens, onsite, committee, team matching, offer. ds: a take-home and no team matching.
SWE_PIPELINE = (
    "application_review",
    "recruiter_screen",
    "technical_screen",
    "onsite",
    "hiring_committee",
    "team_matching",
    "offer",
)
DS_PIPELINE = ("application_review", "recruiter_screen", "take_home", "onsite", "offer")


# The secret the tests' warehouses key application (and interviewer) ids with; not a real one.
TEST_KEY_SECRET = b"funnel tests: a fixed pseudonymization secret, not a real one"


def small_config(stall_days: int = 30) -> Config:
    return Config(
        stages=STAGES,
        roles={
            "swe": Role("swe", SWE_PIPELINE, ("behavioral", "coding", "system_design")),
            "ds": Role("ds", DS_PIPELINE, ("coding", "statistics")),
        },
        extra_skills=("communication",),
        team_matching_stall_days=stall_days,
    )


def ts(text: str) -> datetime:
    """An ISO timestamp as the naive UTC datetime ingestion stores; offsets are converted."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


@dataclass(frozen=True)
class Outcome:
    record_id: str
    application_id: str
    role: str
    stage: str
    outcome: str
    occurred_at: datetime
    candidate_id: str | None = None
    requires_travel: bool | None = None
    team: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Interview:
    record_id: str
    application_id: str
    stage: str
    interviewer_id: str
    skill: str
    recommendation: str
    occurred_at: datetime


def outcome(record_id: str, application_id: str, role: str, stage: str, result: str, when: str, **extra: Any) -> Outcome:
    return Outcome(record_id, application_id, role, stage, result, ts(when), **extra)


def interview(record_id: str, application_id: str, interviewer: str, skill: str, recommendation: str,
              when: str = "2024-03-20 10:00", stage: str = "onsite") -> Interview:
    return Interview(record_id, application_id, stage, interviewer, skill, recommendation, ts(when))


def new_warehouse(config: Config | None = None) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(":memory:")
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("SET threads = 1")  # tiny data: one thread is faster and the machine is shared
    install_key(conn, TEST_KEY_SECRET)
    create_schema(conn)
    write_config_tables(conn, config or small_config())
    return conn


INGESTED_AT = datetime(2024, 12, 31, 0, 0)


def insert_outcomes(conn: duckdb.DuckDBPyConnection, records: Iterable[Outcome]) -> None:
    rows = [
        (
            r.record_id, r.application_id, r.candidate_id or f"cand-{r.application_id}", r.role, r.stage, r.outcome,
            r.occurred_at, r.team, r.source, None, r.requires_travel, f"hash-{r.record_id}", "fixture.csv", line,
            "test-batch", INGESTED_AT,
        )
        for line, r in enumerate(records, start=2)
    ]
    _insert(conn, "stage_outcome_records", rows)


def insert_interviews(conn: duckdb.DuckDBPyConnection, records: Iterable[Interview]) -> None:
    rows = [
        (
            r.record_id, r.application_id, r.stage, r.interviewer_id, r.skill, r.recommendation, r.occurred_at,
            f"hash-{r.record_id}", "fixture.csv", line, "test-batch", INGESTED_AT,
        )
        for line, r in enumerate(records, start=2)
    ]
    _insert(conn, "interview_records", rows)


def _insert(conn: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    """One multi-row INSERT (much quicker than executemany for a few dozen rows)."""
    if rows:
        values = ", ".join("(" + ", ".join("?" * len(rows[0])) + ")" for _ in rows)
        conn.execute(f"INSERT INTO {table} VALUES {values}", [v for row in rows for v in row])


def worked_example():
    """The worked example of docs/metrics.md (role swe, stage technical_screen)."""
    records = []
    # a1..a6 pass application_review on 1 March, 09:00 UTC.
    for app in ("a1", "a2", "a3", "a4", "a5", "a6"):
        records.append(outcome(f"{app}-ar", app, "swe", "application_review", "passed", "2024-03-01 09:00"))
    records += [
        # a1: failed the technical screen, then corrected to passed.
        outcome("a1-rs", "a1", "swe", "recruiter_screen", "passed", "2024-03-04 09:00"),
        outcome("a1-ts1", "a1", "swe", "technical_screen", "failed", "2024-03-08 09:00"),
        outcome("a1-ts2", "a1", "swe", "technical_screen", "passed", "2024-03-09 09:00"),
        # a2: failed.
        outcome("a2-rs", "a2", "swe", "recruiter_screen", "passed", "2024-03-04 09:00"),
        outcome("a2-ts", "a2", "swe", "technical_screen", "failed", "2024-03-06 09:00"),
        # a3: withdrew a day and a half after the recruiter screen.
        outcome("a3-rs", "a3", "swe", "recruiter_screen", "passed", "2024-03-05 09:00"),
        outcome("a3-ts", "a3", "swe", "technical_screen", "withdrew", "2024-03-06 21:00"),
        # a4: still in the technical screen.
        outcome("a4-rs", "a4", "swe", "recruiter_screen", "passed", "2024-03-05 09:00"),
        outcome("a4-ts", "a4", "swe", "technical_screen", "in_progress", "2024-03-07 09:00"),
        # a5: technical screen explicitly skipped, now in the onsite.
        outcome("a5-rs", "a5", "swe", "recruiter_screen", "passed", "2024-03-04 09:00"),
        outcome("a5-ts", "a5", "swe", "technical_screen", "skipped", "2024-03-05 09:00"),
        outcome("a5-on", "a5", "swe", "onsite", "in_progress", "2024-03-10 09:00"),
        # a6: no technical screen record at all but passed the onsite: an implied skip.
        outcome("a6-rs", "a6", "swe", "recruiter_screen", "passed", "2024-03-04 09:00"),
        outcome("a6-on", "a6", "swe", "onsite", "passed", "2024-03-12 09:00"),
        # a7: only technical screen records (in_progress, then passed 8 days later).
        outcome("a7-ts1", "a7", "swe", "technical_screen", "in_progress", "2024-03-02 09:00"),
        outcome("a7-ts2", "a7", "swe", "technical_screen", "passed", "2024-03-10 09:00"),
    ]
    return records


def build(
    outcomes: Iterable[Outcome] = (),
    interviews: Iterable[Interview] = (),
    config: Config | None = None,
    only: Iterable[str] | None = None,
    comments: bool = True,
) -> duckdb.DuckDBPyConnection:
    """A warehouse with these records and every model (or those in `only`) built."""
    config = config or small_config()
    conn = new_warehouse(config)
    insert_outcomes(conn, outcomes)
    insert_interviews(conn, interviews)
    build_all(conn, only=only, comments=comments)  # new_warehouse wrote the config tables
    return conn


def rows(conn: duckdb.DuckDBPyConnection, table: str, where: str = "", params: list | None = None) -> list[dict]:
    """All rows of a table, in the table's own order, as dicts."""
    rel = conn.execute(f"SELECT * FROM {table} {'WHERE ' + where if where else ''}", params or [])
    names = [d[0] for d in rel.description]
    return [dict(zip(names, values)) for values in rel.fetchall()]


def one(conn: duckdb.DuckDBPyConnection, table: str, **equals: Any) -> dict:
    """The single row of `table` whose columns equal the given values."""
    where = " AND ".join(f"{column} IS NOT DISTINCT FROM ?" for column in equals)
    found = rows(conn, table, where, list(equals.values()))
    assert len(found) == 1, f"expected one row of {table} with {equals}, got {len(found)}: {found}"
    return found[0]


def key(application_id: str) -> str:
    """The pseudonymous key the marts publish for an id: HMAC-SHA256 under the tests' secret."""
    return keyed_hash(TEST_KEY_SECRET, application_id)


def counts(row: dict) -> tuple[int, int, int, int, int, int]:
    """(entered, passed, failed, withdrew, in_progress, skipped) of a pass-rate row."""
    return tuple(row[c] for c in ("entered", "passed", "failed", "withdrew", "in_progress", "skipped"))
