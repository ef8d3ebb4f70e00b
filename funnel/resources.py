"""Dagster resources, configured from the environment (FUNNEL_HOME)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import dagster as dg
import duckdb

from funnel.config import Config, load_config
from funnel.keys import install_key, load_secret
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

    def key_secret(self) -> bytes:
        """The secret published keys are keyed with (funnel.keys): FUNNEL_KEY_SECRET, else
        FUNNEL_HOME/secrets/key.secret, created on first use."""
        return load_secret(self.paths)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The working database, with the ingestion tables created if missing, and this
        installation's key for `keyed_hash` loaded on the connection (never stored in the file).
        Only the pipeline opens it."""
        self.paths.ensure()
        secret = self.key_secret()  # a missing or broken secret fails before the database is opened
        with open_working(self.paths.working_db) as conn:
            install_key(conn, secret)
            yield conn
