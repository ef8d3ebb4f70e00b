"""The working database: its memory budget comes from FUNNEL_MEMORY_LIMIT, a bad value is named."""

from __future__ import annotations

import pytest

from funnel.settings import FunnelError
from funnel.warehouse import open_working


def _limit(conn) -> str:
    return conn.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_the_working_database_gets_the_memory_budget(tmp_path, monkeypatch):
    monkeypatch.delenv("FUNNEL_MEMORY_LIMIT", raising=False)
    with open_working(tmp_path / "pipeline.duckdb") as conn:
        assert _limit(conn) == "1.0 GiB"
    monkeypatch.setenv("FUNNEL_MEMORY_LIMIT", "3GiB")
    with open_working(tmp_path / "pipeline.duckdb") as conn:
        assert _limit(conn) == "3.0 GiB"
        # the records tables exist, without a primary key index that would have to fit in memory
        assert conn.execute(
            "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'stage_outcome_records'"
            " AND constraint_type = 'PRIMARY KEY'"
        ).fetchone()[0] == 0


def test_a_memory_budget_duckdb_cannot_read_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNNEL_MEMORY_LIMIT", "lots")
    with pytest.raises(FunnelError, match=r"FUNNEL_MEMORY_LIMIT: 'lots' is not a memory size"):
        with open_working(tmp_path / "pipeline.duckdb"):
            pass
