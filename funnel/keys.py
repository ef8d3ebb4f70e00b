"""Pseudonymous keys: HMAC-SHA256 (RFC 2104) of an id under a secret that belongs to the installation.

The published marts identify an application by `application_key` = HMAC-SHA256(secret, application_id),
lower-case hex, and, with `pseudonymize_interviewers: true` in funnel.yaml, an interviewer by
HMAC-SHA256(secret, interviewer_id). Without the secret nobody can recompute a key from an id, so
hashing every possible (often sequential) ATS id reveals nothing; with it, the same id always gets
the same key, so analysts can join months of exports. Replacing the secret changes every key on the
next run (how a team revokes copies already handed out). See docs/privacy.md.

The secret (its bytes are the HMAC key):
- `FUNNEL_KEY_SECRET` when set: any non-empty text, used as its UTF-8 bytes, exactly as given;
- otherwise the file FUNNEL_HOME/secrets/key.secret: its bytes, without a trailing line break. funnel
  creates it on first use, atomically and readable by its owner only (mode 0600), holding 32 random
  bytes from the OS written as 64 hex digits. `--full-refresh` never touches it.

The heavy work stays in DuckDB: HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)), whose two 64-byte
pads are computed here once and handed to the connection as session variables bound as parameters
(`install_key`), so they never appear in SQL text, in a table, or in any database file. The
`keyed_hash(value)` macro computes the HMAC from them; on a connection without them it raises.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
from pathlib import Path

import duckdb

from funnel.settings import FunnelError, FunnelHome

log = logging.getLogger("funnel")

KEY_SECRET_ENV = "FUNNEL_KEY_SECRET"
GENERATED_SECRET_BYTES = 32
# A shorter secret could be guessed: HMAC is only as strong as its key.
RECOMMENDED_SECRET_BYTES = 16
BLOCK_SIZE = 64  # SHA-256's block size in bytes: RFC 2104's B
IPAD_VARIABLE = "funnel_key_ipad"
OPAD_VARIABLE = "funnel_key_opad"

_warned: set[str] = set()


def hmac_pads(secret: bytes) -> tuple[bytes, bytes]:
    """(K ^ ipad, K ^ opad) of RFC 2104 for SHA-256: a key longer than the block is hashed first,
    then zero-padded to 64 bytes."""
    if not secret:
        raise ValueError("the HMAC secret must not be empty")
    key = hashlib.sha256(secret).digest() if len(secret) > BLOCK_SIZE else secret
    key = key.ljust(BLOCK_SIZE, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def keyed_hash(secret: bytes, value: str) -> str:
    """HMAC-SHA256 of `value` (its UTF-8 bytes) under `secret`, lower-case hex: what the marts publish."""
    return hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()


def keyed_hash_sql(value: str, ipad: str, opad: str) -> str:
    """The same HMAC as a DuckDB expression over SQL expressions for the value (VARCHAR, hashed as
    its UTF-8 bytes) and the two 64-byte pads (BLOBs). sha256 returns lower-case hex; unhex turns
    the inner digest back into its 32 bytes."""
    return f"sha256(({opad}) || unhex(sha256(({ipad}) || encode({value}))))"


def sql_macros() -> list[str]:
    """`keyed_hash(value)`: HMAC-SHA256 under the key `install_key` gave this connection (an error
    without it, never a key under some default); `published_interviewer_id(id, pseudonymize)`: the
    interviewer id as published, keyed when the setting is on."""
    ipad, opad = f"getvariable('{IPAD_VARIABLE}')", f"getvariable('{OPAD_VARIABLE}')"
    missing = ("the pseudonymization key is not loaded on this connection "
               "(funnel.keys.install_key; the pipeline loads it from FUNNEL_KEY_SECRET or FUNNEL_HOME/secrets/key.secret)")
    return [
        f"CREATE OR REPLACE MACRO keyed_hash(value) AS CASE WHEN {ipad} IS NULL OR {opad} IS NULL "
        f"THEN error('{missing}') ELSE {keyed_hash_sql('value', ipad, opad)} END",
        "CREATE OR REPLACE MACRO published_interviewer_id(interviewer_id, pseudonymize) AS "
        "CASE WHEN pseudonymize THEN keyed_hash(interviewer_id) ELSE interviewer_id END",
    ]


def install_key(conn: duckdb.DuckDBPyConnection, secret: bytes) -> None:
    """Give this connection (only) the pads `keyed_hash` uses: session variables, bound as
    parameters, so the secret is in no statement text, table, view, macro or database file."""
    ipad, opad = hmac_pads(secret)
    conn.execute(f"SET VARIABLE {IPAD_VARIABLE} = ?", [ipad])
    conn.execute(f"SET VARIABLE {OPAD_VARIABLE} = ?", [opad])


def load_secret(home: FunnelHome) -> bytes:
    """The installation's secret: FUNNEL_KEY_SECRET, else FUNNEL_HOME/secrets/key.secret (created
    on first use). A problem with either is a FunnelError, one line naming it."""
    raw = os.environ.get(KEY_SECRET_ENV)
    if raw is not None:
        if not raw.strip():
            raise FunnelError(f"{KEY_SECRET_ENV} is set but empty: set it to the secret, or unset it to use "
                              f"{home.key_secret_file}")
        secret = raw.encode("utf-8", "surrogateescape")
        _warn_if_short(secret, KEY_SECRET_ENV)
        return secret
    path = home.key_secret_file
    if not path.exists() and not path.is_symlink():
        created = create_secret_file(path)
        if created:
            log.warning("generated a new pseudonymization secret in %s: back it up (docs/privacy.md); "
                        "without it, published keys cannot be reproduced", path)
    return read_secret_file(path)


def create_secret_file(path: Path) -> bool:
    """Write 32 random bytes (as 64 hex digits) to `path`, mode 0600, atomically: the file appears
    whole or not at all, and when two processes race, one file wins and both use it. False when the
    file already existed."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise FunnelError(f"{path.parent}: cannot create the folder for the pseudonymization secret "
                          f"({exc.strerror or exc})") from None
    content = secrets.token_hex(GENERATED_SECRET_BYTES).encode("ascii")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)  # fails if the file exists: never overwrites another's secret
        except FileExistsError:
            return False
        except OSError:
            # a file system without hard links: exclusive create, then write
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return False
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, content)
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(path.parent)
        return True
    except OSError as exc:
        raise FunnelError(f"{path}: cannot create the pseudonymization secret ({exc.strerror or exc})") from None
    finally:
        temporary.unlink(missing_ok=True)


def read_secret_file(path: Path) -> bytes:
    """The secret in `path`: its bytes without a trailing line break. A file others can read is
    made owner-only (0600) with a warning; an unreadable or empty file is a FunnelError."""
    try:
        info = path.stat()
    except OSError as exc:
        raise FunnelError(f"{path}: cannot read the pseudonymization secret ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise FunnelError(f"{path}: the pseudonymization secret must be a regular file")
    if info.st_mode & 0o077:
        try:
            os.chmod(path, 0o600)
        except OSError as exc:
            raise FunnelError(f"{path}: the pseudonymization secret is readable by others (mode "
                              f"{stat.S_IMODE(info.st_mode):04o}) and cannot be made owner-only "
                              f"({exc.strerror or exc}); chmod 600 it") from None
        log.warning("%s was readable by others (mode %04o); it is now 0600. If someone else may have read it, "
                    "replace the secret (docs/privacy.md)", path, stat.S_IMODE(info.st_mode))
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise FunnelError(f"{path}: cannot read the pseudonymization secret ({exc.strerror or exc})") from None
    secret = content[:-2] if content.endswith(b"\r\n") else content[:-1] if content.endswith(b"\n") else content
    if not secret.strip():
        raise FunnelError(f"{path}: the pseudonymization secret is empty; delete the file to generate a new one "
                          "(every published key changes) or restore it from a backup")
    _warn_if_short(secret, str(path))
    return secret


def _warn_if_short(secret: bytes, source: str) -> None:
    if len(secret) < RECOMMENDED_SECRET_BYTES and source not in _warned:
        _warned.add(source)
        log.warning("%s: the pseudonymization secret is only %d bytes; keys under a short secret can be guessed "
                    "(use 32 random bytes, e.g. python -c 'import secrets; print(secrets.token_hex(32))')",
                    source, len(secret))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
