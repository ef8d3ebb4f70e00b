"""The Dagster instance funnel runs on: where it keeps runs, event logs and schedule state, and how
runs queue. By default SQLite files under DAGSTER_HOME (FUNNEL_HOME/.dagster); with
FUNNEL_POSTGRES_URL, a PostgreSQL database (dagster-postgres), shared by the CLI, the webserver and
the daemon (docs/deploy.md).

`python -m funnel.instance` writes DAGSTER_HOME/dagster.yaml for the current environment and checks
the PostgreSQL server: a service unit runs it before `dagster-webserver` and `dagster-daemon`."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from funnel.settings import FunnelError, FunnelHome

POSTGRES_URL_VAR = "FUNNEL_POSTGRES_URL"
CONNECT_TIMEOUT_SECONDS = 5
# The code location every funnel run belongs to (workspace.yaml's location_name). Dagster tags each
# run of a code location with it, whoever starts the run: the queue limits funnel runs by that tag.
LOCATION_NAME = "funnel"
CODE_LOCATION_TAG = "dagster/code_location"

# The first line of every dagster.yaml funnel writes. A file that starts with it is funnel's: it is
# rewritten whenever FUNNEL_POSTGRES_URL is switched on or off. A file without it is the user's own
# and is never touched.
MARKER = "# Written by funnel"
_HEADER = f"""\
{MARKER}: rewritten when FUNNEL_POSTGRES_URL is set or unset. Delete this line to keep your own edits.
telemetry:
  enabled: false
"""


def _run_queue(extra: str = "") -> str:
    return f"""\
concurrency:
  runs:
{extra}    # DuckDB has one writer: the daemon starts one funnel run at a time (runs from the sensor, the
    # schedule, the UI and `funnel run` alike); the others wait in the queue.
    tag_concurrency_limits:
      - key: {CODE_LOCATION_TAG}
        value: {LOCATION_NAME}
        limit: 1
"""


# The embedded default: run history in SQLite files beside this file.
DAGSTER_YAML = _HEADER + _run_queue("    max_concurrent_runs: 1\n")
# PostgreSQL: runs, event logs, schedules and sensor state in dagster-postgres's tables. The URL,
# password included, is read from the environment by each process as it starts; it is never written
# to disk. The storage is dagster-postgres's, pinned to the psycopg2 driver (funnel.instance_storage).
DAGSTER_YAML_POSTGRES = _HEADER + f"""\
storage:
  custom:
    module: funnel.instance_storage
    class: PostgresStorage
    config:
      postgres_url:
        env: {POSTGRES_URL_VAR}
""" + _run_queue()


def postgres_url() -> str | None:
    """FUNNEL_POSTGRES_URL, or None when it is unset or empty (the SQLite default)."""
    return os.environ.get(POSTGRES_URL_VAR, "").strip() or None


@dataclass(frozen=True)
class PostgresTarget:
    """What a PostgreSQL URL points at, without its password: safe to print."""

    host: str
    port: int
    database: str
    user: str

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        user = f", user {self.user}" if self.user else ""
        return f"PostgreSQL at {self.where} (database {self.database}{user})"


def parse_postgres_url(url: str) -> PostgresTarget:
    """The server, database and user of a `postgresql://user:password@host:port/db` URL, or a
    FunnelError saying what is wrong with it (never repeating the URL: it may hold a password)."""
    if "://" not in url:
        raise FunnelError(f"{POSTGRES_URL_VAR} is not a URL; expected postgresql://user:password@host:port/database")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FunnelError(f"{POSTGRES_URL_VAR} is not a valid URL ({exc}); expected "
                          "postgresql://user:password@host:port/database") from None
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise FunnelError(f"{POSTGRES_URL_VAR} has {scheme}; expected postgresql://user:password@host:port/database")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise FunnelError(f"{POSTGRES_URL_VAR} names no database; expected postgresql://user:password@host:port/database")
    query = parse_qs(parts.query)
    host = parts.hostname or (query.get("host") or ["local socket"])[0]
    port = port or int((query.get("port") or ["5432"])[0])
    return PostgresTarget(host=host, port=port, database=database, user=unquote(parts.username or ""))


def check_postgres(url: str, timeout: float = CONNECT_TIMEOUT_SECONDS) -> PostgresTarget:
    """Connect once, with a short timeout, before Dagster starts: an unreachable server, a wrong
    password or a missing database is one line naming host:port and the problem, not a traceback
    from the depths of SQLAlchemy after Dagster's retries. Connects with psycopg2, the driver the
    instance's storage uses."""
    import psycopg2

    target = parse_postgres_url(url)
    libpq_url = "postgresql://" + url.split("://", 1)[1]  # libpq knows no +driver suffix
    try:
        psycopg2.connect(libpq_url, connect_timeout=max(1, int(timeout))).close()
    except psycopg2.Error as exc:
        raise FunnelError(f"{POSTGRES_URL_VAR}: cannot connect to {target.describe()}: "
                          f"{_connect_problem(exc, url)}") from None
    return target


def _connect_problem(exc: Exception, url: str) -> str:
    """libpq's message, first line, without the server it already names and without any secret."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    message = lines[0] if lines else type(exc).__name__
    if message.startswith("connection to server") and " failed: " in message:
        message = message.split(" failed: ", 1)[1]
    message = message.removeprefix("FATAL:").strip()
    if message == "Connection refused":
        message = "connection refused (is the server running, and listening on that address?)"
    elif "timeout expired" in message:
        message = f"no answer within {CONNECT_TIMEOUT_SECONDS} s (the wrong host, or a firewall?)"
    password = urlsplit(url).password
    for secret in {password, unquote(password or "")} - {None, ""}:
        message = message.replace(secret, "***")
    return message


def is_generated(path: Path) -> bool:
    """A dagster.yaml funnel wrote (and may rewrite), as opposed to one the user wrote."""
    try:
        with path.open(encoding="utf-8") as fh:
            return fh.readline().startswith(MARKER)
    except FileNotFoundError:
        return True
    except (OSError, UnicodeDecodeError):
        return False


def write_dagster_yaml(dagster_home: Path, *, postgres: bool) -> Path:
    """DAGSTER_HOME/dagster.yaml for the setting: written when missing, rewritten when it is funnel's
    and the setting changed, left alone when it is the user's own. Atomic: a webserver or daemon
    starting meanwhile reads the old file or the new one."""
    path = dagster_home / "dagster.yaml"
    wanted = DAGSTER_YAML_POSTGRES if postgres else DAGSTER_YAML
    if not is_generated(path):
        if postgres:
            print(f"funnel: {POSTGRES_URL_VAR} is set, but {path} is your own (its first line is not "
                  f"'{MARKER}'): it decides where the instance is kept", file=sys.stderr)
        return path
    if path.exists() and path.read_text(encoding="utf-8") == wanted:
        return path
    partial = path.with_name(f".dagster.yaml.{os.getpid()}")
    partial.write_text(wanted, encoding="utf-8")
    os.replace(partial, path)
    return path


def prepare(home: FunnelHome) -> PostgresTarget | None:
    """FUNNEL_HOME and DAGSTER_HOME (default FUNNEL_HOME/.dagster) in the environment, the server
    checked when FUNNEL_POSTGRES_URL is set, and a dagster.yaml that follows the setting. Returns
    the PostgreSQL server, or None for the SQLite default."""
    url = postgres_url()
    target = check_postgres(url) if url else None
    os.environ["FUNNEL_HOME"] = str(home.root)
    dagster_home = home.dagster_home
    dagster_home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    write_dagster_yaml(dagster_home, postgres=target is not None)
    return target


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m funnel.instance",
        description="Write DAGSTER_HOME/dagster.yaml for this environment and check the PostgreSQL server "
                    "(FUNNEL_POSTGRES_URL). Run it before dagster-webserver and dagster-daemon.")
    parser.add_argument("--home", default=None, help="the folder funnel works in (default: $FUNNEL_HOME, else ./data)")
    args = parser.parse_args(argv)
    try:
        home = FunnelHome.from_env(args.home)
        target = prepare(home)
    except FunnelError as exc:
        print(f"funnel: {exc}", file=sys.stderr)
        return 2
    where = target.describe() if target else f"SQLite under {os.environ['DAGSTER_HOME']}"
    print(f"Dagster instance: {where}; configuration {Path(os.environ['DAGSTER_HOME']) / 'dagster.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
