"""The Dagster instance's PostgreSQL storage, as the dagster.yaml funnel writes names it (funnel.instance).

It is dagster-postgres's storage (runs, event logs, schedules and sensor state, in the tables
dagster-postgres creates), with one difference: it always connects through psycopg2. SQLAlchemy 2.1
reads a bare `postgresql://` URL as psycopg 3, and under psycopg 3 dagster-postgres fails to store any
event (it binds a parameter in `NOTIFY`, which psycopg 3 sends to the server as a bound parameter,
where PostgreSQL does not accept one). FUNNEL_POSTGRES_URL stays a plain `postgresql://` URL, and every
process that loads the instance (the CLI, the webserver, the daemon, run workers) gets the same driver."""

from __future__ import annotations

from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

PSYCOPG2_SCHEME = "postgresql+psycopg2"


def with_psycopg2(url: str) -> str:
    """The URL with SQLAlchemy's psycopg2 dialect: postgresql:// and postgresql+psycopg:// become
    postgresql+psycopg2://; anything else is left as it is."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql", "postgresql+psycopg", "postgres"):
        return f"{PSYCOPG2_SCHEME}://{rest}"
    return url


class PostgresStorage(DagsterPostgresStorage):
    """DagsterPostgresStorage on the psycopg2 driver, whatever the URL's scheme says."""

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "PostgresStorage":  # type: ignore[override]
        return cls(
            inst_data=inst_data,
            postgres_url=with_psycopg2(pg_url_from_config(config_value)),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
