"""A throwaway PostgreSQL server for tests: Debian's binaries, a cluster in a temporary folder,
loopback only, on a free port. A session fixture starts it, gives each test session its own
database, and stops and removes it at the end (also when a test fails). Where the binaries are
absent the tests that need it are skipped, saying why (.ci/run installs Debian's postgresql)."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

SERVER_USER = "postgres"  # initdb and postgres refuse to run as root: as root, the server runs as this user
SUPERUSER = "funnel_test"  # the cluster's superuser, who connects over TCP with a password


def find_bindir() -> Path | None:
    """The folder with initdb and pg_ctl: `pg_config --bindir`, else the newest Debian cluster version."""
    candidates = []
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            candidates.append(Path(out))
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    candidates += reversed(versions)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One cluster: `url(db)` for clients, `stop()`/`start()` to take the server away and back."""

    def __init__(self, bindir: Path, root: Path, run_as: str | None):
        self.bindir, self.root, self.run_as = bindir, root, run_as
        self.data, self.log = root / "data", root / "server.log"
        self.password = secrets.token_hex(12)
        self.host, self.port = "127.0.0.1", 0

    def _command(self, *args: str) -> list[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        return ["runuser", "-u", self.run_as, "--", *command] if self.run_as else command

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run(self._command(*args), capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def init(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        self._chown(pwfile)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
                  "--auth-local=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
        pwfile.unlink()

    def start(self) -> None:
        """Start on a free loopback port (a new one if another process took the one picked)."""
        for attempt in range(3):
            self.port = self.port or free_port()
            options = (f"-c listen_addresses={self.host} -c port={self.port} -c unix_socket_directories={self.root} "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options, "start")
                return
            except RuntimeError:
                if attempt == 2:
                    raise RuntimeError("the test PostgreSQL server did not start:\n" + self.log_tail()) from None
                self.port = 0

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def url(self, database: str, password: str | None = None) -> str:
        return f"postgresql://{SUPERUSER}:{password or self.password}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        import psycopg2

        conn = psycopg2.connect(self.url("postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no server log)"

    def _chown(self, path: Path) -> None:
        if self.run_as:
            user = pwd.getpwnam(self.run_as)
            os.chown(path, user.pw_uid, user.pw_gid)


def start_server() -> PostgresServer:
    """A new cluster, started; or pytest.skip saying what is missing."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed; .ci/run installs Debian's "
                    "postgresql package (apt-get install postgresql)")
    run_as = None
    if os.geteuid() == 0:  # initdb refuses root
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            pytest.skip(f"running as root and there is no {SERVER_USER!r} user to run the PostgreSQL server as")
        if not shutil.which("runuser"):
            pytest.skip("running as root and runuser is missing: cannot run the PostgreSQL server as another user")
        run_as = SERVER_USER
    # Not under pytest's tmp folders (nor a private TMPDIR): those are the test user's alone, and the
    # server user must reach and own this one. Short, too: the unix socket's path has a length limit.
    root = Path(tempfile.mkdtemp(prefix="funnel-pg-", dir="/tmp" if run_as and Path("/tmp").is_dir() else None))
    server = PostgresServer(bindir, root, run_as)
    try:
        server._chown(root)
        server.init()
        server.start()
    except BaseException:
        remove_server(server)
        raise
    return server


def remove_server(server: PostgresServer) -> None:
    try:
        server.stop()
    except (RuntimeError, OSError, subprocess.SubprocessError):
        pass
    finally:
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for this test session, removed at its end."""
    server = start_server()
    try:
        yield server
    finally:
        remove_server(server)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """A database of its own for this test session, on the session's server."""
    name = f"funnel_test_{os.getpid()}"
    postgres_server.create_database(name)
    return postgres_server.url(name)
