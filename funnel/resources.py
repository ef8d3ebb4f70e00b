"""Dagster resources, configured from the environment (FUNNEL_HOME)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import dagster as dg
import duckdb

from funnel.config import Config, load_config
from funnel.settings import FunnelHome
from funnel.warehouse import open_working


class FunnelWarehouse(dg.ConfigurableResource):
    """FUNNEL_HOME: its landing folders, the working database, the published database and funnel.yaml."""

    home: str

    @property
    def paths(self) -> FunnelHome:
        return FunnelHome.from_env(self.home)

    def config(self) -> Config:
        return load_config(self.paths.config_file)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The working database, with the ingestion tables created if missing. Only the pipeline opens it."""
        self.paths.ensure()
        with open_working(self.paths.working_db) as conn:
            yield conn
