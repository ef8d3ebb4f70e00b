"""`funnel generate --shape greenhouse|lever|ashby`: the synthetic funnel of `funnel generate`, written as
that ATS's connector syncs it, with the matching `sources:` block.

The contract data is generated first (into a temporary folder), its accepted records are read back
through the ingestion (so the shape starts from the same clean, deduplicated events the contract
files give), and the ATS's shape module (funnel/sources/<ats>_shape.py) writes them as its tables,
adding that ATS's own kinds of dirt (deleted rows, prospects or leads, an unmapped stage). The
demographics feed stays contract files: no shape writes an EEO table (Greenhouse's `eeoc` is read
when synced, but the synthetic responses are written as the contract's demographics files).
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import polars as pl
import yaml

from funnel.config import Config
from funnel.contract import INTERVIEWS, STAGE_OUTCOMES
from funnel.generate import GenerateSummary, generate
from funnel.ingest import ingest_feed
from funnel.warehouse import connect, create_schema

TEXT_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def clean_contract_frames(landing: Path, config: Config) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The accepted stage events and interviews of a contract landing folder, as text columns of the
    contract (event_id / interview_id = the record id; occurred_at ISO-8601 UTC), in reading order."""
    conn = connect(":memory:")
    try:
        create_schema(conn)
        for feed in (STAGE_OUTCOMES, INTERVIEWS):
            ingest_feed(conn, landing / feed.name, feed, config, "shape")
        events = conn.sql(
            "SELECT record_id AS event_id, application_id, candidate_id, role, stage, outcome,"
            f" strftime(occurred_at, '{TEXT_TIME}') AS occurred_at, team, source, level,"
            " CAST(requires_travel AS VARCHAR) AS requires_travel"
            " FROM stage_outcome_records ORDER BY source_file, source_line").pl()
        interviews = conn.sql(
            "SELECT record_id AS interview_id, application_id, stage, interviewer_id, skill, recommendation,"
            f" strftime(occurred_at, '{TEXT_TIME}') AS occurred_at"
            " FROM interview_records ORDER BY source_file, source_line").pl()
    finally:
        conn.close()
    return events, interviews


def generate_shape(landing: Path, ats: str, applications: int, seed: int, config: Config,
                   progress: Callable[[str], None] | None = None) -> tuple[GenerateSummary, dict[str, Any]]:
    """Write the synthetic funnel as `ats`'s tables under landing/<ats>/ (and the demographics feed as
    contract files); returns the generator's summary and the `sources:` block for `ats`."""
    shape = importlib.import_module(f"funnel.sources.{ats}_shape")
    with tempfile.TemporaryDirectory(prefix="funnel-shape-") as tmp:
        contract = Path(tmp) / "landing"
        summary = generate(contract, applications, seed, config, progress=progress)
        events, interviews = clean_contract_frames(contract, config)
        demographics = contract / "demographics"
        if demographics.is_dir():
            shutil.copytree(demographics, landing / "demographics", dirs_exist_ok=True)
        (landing / ats).mkdir(parents=True, exist_ok=True)
        block = shape.write_tables(landing / ats, events, interviews, config)
    return summary, block


def block_yaml(ats: str, block: dict[str, Any]) -> str:
    return yaml.safe_dump({"sources": {ats: block}}, sort_keys=False, allow_unicode=True, width=120)


def add_block_to_config(config_file: Path, ats: str, block: dict[str, Any], default_text: str) -> str:
    """Put `sources.<ats>` into funnel.yaml without rewriting what the user wrote: a new file is the
    default configuration plus the block; a file without `sources:` gets the block appended; a file
    that has one is left alone. Returns what was done, for the user."""
    text = block_yaml(ats, block)
    if not config_file.exists():
        config_file.write_text(default_text.rstrip("\n") + "\n\n" + text, encoding="utf-8")
        return f"wrote {config_file} (the default configuration and sources.{ats})"
    current = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    sources = current.get("sources") if isinstance(current, dict) else None
    if sources is None:
        with config_file.open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
        return f"added sources.{ats} to {config_file}"
    if isinstance(sources, dict) and ats in sources:
        return f"{config_file} already has sources.{ats}: left as it is (the generated block is:\n{text})"
    return f"{config_file} has a sources: block without {ats}; add this under it:\n{text}"
