"""Shared fixtures: the default config, an empty working database, and writers for landing files."""

from __future__ import annotations

import csv
import json
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
import pytest

from funnel.build import build_all
from funnel.config import Config, default_config
from funnel.contract import FEEDS
from funnel.generate import generate
from funnel.ingest import ingest_feed
from funnel.warehouse import connect, create_schema, write_config_tables
from funnel_tests.marts_fixtures import TEST_KEY_SECRET

STAGE_COLUMNS = ["event_id", "application_id", "candidate_id", "role", "stage", "outcome", "occurred_at",
                 "team", "source", "level", "requires_travel"]
INTERVIEW_COLUMNS = ["interview_id", "application_id", "stage", "interviewer_id", "skill", "recommendation", "occurred_at"]


def so(**values) -> dict:
    """A valid stage_outcomes row, with some values replaced."""
    row = {"application_id": "A1", "candidate_id": "C1", "role": "ml_engineer", "stage": "onsite",
           "outcome": "passed", "occurred_at": "2024-03-01T10:00:00Z"}
    row.update(values)
    return row


def iv(**values) -> dict:
    """A valid interviews row, with some values replaced."""
    row = {"application_id": "A1", "stage": "onsite", "interviewer_id": "I1", "skill": "coding",
           "recommendation": "yes", "occurred_at": "2024-03-01T10:00:00Z"}
    row.update(values)
    return row


@pytest.fixture(scope="session")
def config() -> Config:
    return default_config()


@pytest.fixture
def conn():
    """An empty working database, in memory, with the ingestion tables."""
    connection = connect(":memory:")
    create_schema(connection)
    yield connection
    connection.close()


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    """A CSV with a header row; None is written as an empty field."""
    columns = columns or list(rows[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def generated_warehouse(root: Path, applications: int, seed: int, batch: str) -> Path:
    """A working database file built the way a run builds it: generated landing files ingested as
    one batch, then every model. Tests that break data copy the file first."""
    config = default_config()
    generate(root / "landing", applications, seed, config)
    path = root / "pipeline.duckdb"
    conn = connect(path)
    try:
        create_schema(conn)
        write_config_tables(conn, config)
        for name, feed in FEEDS.items():
            ingest_feed(conn, root / "landing" / name, feed, config, batch)
        build_all(conn, config, key_secret=TEST_KEY_SECRET)
    finally:
        conn.close()
    return path


@contextmanager
def private_copy(path: Path, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a copy of a warehouse file, for a test that breaks data on purpose."""
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(path, copy)
    connection = connect(copy)
    try:
        yield connection
    finally:
        connection.close()
