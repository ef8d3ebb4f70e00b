"""Where funnel works: FUNNEL_HOME and the paths inside it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Modes of what holds data about people: the working database (0600) and the folders around it (0700).
PRIVATE_FOLDER, PRIVATE_FILE = 0o700, 0o600


@dataclass(frozen=True)
class FunnelHome:
    """The folder the pipeline works in (FUNNEL_HOME, default ./data)."""

    root: Path

    @classmethod
    def from_env(cls, override: str | os.PathLike | None = None) -> "FunnelHome":
        raw = override if override is not None else os.environ.get("FUNNEL_HOME", "data")
        return cls(Path(raw).expanduser().resolve())

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    def feed_dir(self, feed: str) -> Path:
        return self.landing / feed

    @property
    def warehouse_dir(self) -> Path:
        return self.root / "warehouse"

    @property
    def working_db(self) -> Path:
        """The pipeline's own database. Only the pipeline opens it."""
        return self.warehouse_dir / "pipeline.duckdb"

    @property
    def published_db(self) -> Path:
        """The database analysts open, replaced atomically on every publish."""
        return self.warehouse_dir / "funnel.duckdb"

    @property
    def key_secret_file(self) -> Path:
        """The secret published keys are keyed with, when FUNNEL_KEY_SECRET is not set (funnel.keys).
        Outside warehouse/, so --full-refresh and a copied warehouse folder never take it along."""
        return self.root / "secrets" / "key.secret"

    @property
    def config_file(self) -> Path:
        return self.root / "funnel.yaml"

    @property
    def dagster_home(self) -> Path:
        return Path(os.environ["DAGSTER_HOME"]) if os.environ.get("DAGSTER_HOME") else self.root / ".dagster"

    def ensure(self) -> None:
        from funnel.contract import FEEDS

        for feed in FEEDS:
            self.feed_dir(feed).mkdir(parents=True, exist_ok=True)
        # Demographics, raw ids and the working database: readable by their owner only (docs/privacy.md).
        # Folders made by an earlier version are tightened too.
        for private in (self.warehouse_dir, self.feed_dir("demographics")):
            private.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
            os.chmod(private, PRIVATE_FOLDER)


class FunnelError(Exception):
    """An error the user can act on; the CLI prints it as one line, without a traceback."""
