"""End to end, landing files to marts: the published numbers do not depend on how the same records
were delivered: file format, how they are split into files, file names (reading order), row order,
or the UTC offset their timestamps were written with."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnel.models import PUBLISHED_MARTS
from funnel.build import build_all
from funnel.config import default_config
from funnel.contract import INTERVIEWS, STAGE_OUTCOMES
from funnel.generate import generate
from funnel.ingest import ingest_feed
from funnel.warehouse import connect, create_schema, write_config_tables
from funnel_tests.marts_fixtures import TEST_KEY_SECRET

CONFIG = default_config()


def marts_from_landing(landing: Path) -> dict[str, list[tuple]]:
    conn = connect(":memory:")
    create_schema(conn)
    write_config_tables(conn, CONFIG)
    for feed in (STAGE_OUTCOMES, INTERVIEWS):
        ingest_feed(conn, landing / feed.name, feed, CONFIG, "test")
    build_all(conn, CONFIG, key_secret=TEST_KEY_SECRET)
    out = {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in PUBLISHED_MARTS if t != "quarantine_summary"}
    conn.close()
    return out


@pytest.fixture(scope="module")
def clean_records(tmp_path_factory) -> dict[str, pl.DataFrame]:
    """The accepted records of a generated dataset, as the contract's columns (ids made explicit)."""
    landing = tmp_path_factory.mktemp("generated") / "landing"
    generate(landing, 150, 21, CONFIG)
    conn = connect(":memory:")
    create_schema(conn)
    frames = {}
    for feed in (STAGE_OUTCOMES, INTERVIEWS):
        ingest_feed(conn, landing / feed.name, feed, CONFIG, "test")
        table = {"stage_outcomes": "stage_outcome_records", "interviews": "interview_records"}[feed.name]
        columns = ", ".join(c for c in feed.columns if c != feed.id_column)
        frames[feed.name] = conn.sql(
            f"SELECT record_id AS {feed.id_column}, {columns} FROM {table} ORDER BY record_id"
        ).pl()
    conn.close()
    return frames


@pytest.fixture(scope="module")
def baseline(clean_records, tmp_path_factory) -> dict[str, list[tuple]]:
    landing = tmp_path_factory.mktemp("baseline") / "landing"
    for feed, frame in clean_records.items():
        (landing / feed).mkdir(parents=True)
        frame.write_parquet(landing / feed / "all.parquet")
    return marts_from_landing(landing)


def _write(frame: pl.DataFrame, path: Path, fmt: str, offset_hours: int) -> None:
    if fmt == "parquet":
        frame.with_columns(pl.col("occurred_at").dt.replace_time_zone("UTC")).write_parquet(path)
        return
    # text formats: the same instants written in another zone, with their offset
    sign = "+" if offset_hours >= 0 else "-"
    text = frame.with_columns(
        (pl.col("occurred_at") + pl.duration(hours=offset_hours)).dt.strftime("%Y-%m-%dT%H:%M:%S%.f")
        + pl.lit(f"{sign}{abs(offset_hours):02d}:00")
    )
    if fmt == "csv":
        text.write_csv(path)
    else:
        text.write_ndjson(path)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parts=st.integers(1, 5),
    formats=st.lists(st.sampled_from(["csv", "parquet", "jsonl"]), min_size=5, max_size=5),
    offsets=st.lists(st.integers(-11, 13), min_size=5, max_size=5),
    seed=st.integers(0, 10_000),
)
def test_marts_do_not_depend_on_format_split_order_or_offset(
    clean_records, baseline, tmp_path_factory, parts, formats, offsets, seed
):
    landing = tmp_path_factory.mktemp("variant") / "landing"
    for feed, frame in clean_records.items():
        shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
        folder = landing / feed / "nested"
        folder.mkdir(parents=True)
        size = -(-shuffled.height // parts)
        for i in range(parts):
            chunk = shuffled.slice(i * size, size)
            name = f"{(seed * (i + 7)) % 997:03d}-{i}.{formats[i]}"  # names unrelated to content order
            _write(chunk, folder / name, formats[i], offsets[i])
    assert marts_from_landing(landing) == baseline


def test_baseline_is_not_empty(clean_records, baseline):
    applications = clean_records["stage_outcomes"]["application_id"].n_unique()
    assert applications > 100
    assert len(baseline["application_journeys"]) == applications
    roles_with_rows = {row[0] for row in baseline["stage_pass_rates"]}
    assert roles_with_rows == set(CONFIG.roles)
