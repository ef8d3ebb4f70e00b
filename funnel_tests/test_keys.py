"""funnel.keys: the HMAC-SHA256 the marts publish (in DuckDB, against Python's hmac), and the
installation's secret (FUNNEL_KEY_SECRET, or a generated owner-only file)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import stat
import threading

import duckdb
import pytest

from funnel import keys
from funnel.keys import (
    create_secret_file,
    hmac_pads,
    install_key,
    keyed_hash,
    keyed_hash_sql,
    load_secret,
    read_secret_file,
)
from funnel.metrics import create_sql_macros
from funnel.settings import FunnelError, FunnelHome

IDS = [
    "1", "2", "10000000", "", " ", "0", "A-1", "é", "日本語の応募", "emoji 😀 id", "o'brien", 'quote"d',
    "back\\slash", "\\x41", "tab\there", "new\nline", "x" * 63, "y" * 64, "z" * 65, "long-" * 400,
]
SECRETS = [b"k", b"Jefe", b"s" * 63, b"s" * 64, b"s" * 65, bytes(range(256)), "säkrät".encode()]


@pytest.fixture
def db():
    conn = duckdb.connect(":memory:")
    create_sql_macros(conn)
    yield conn
    conn.close()


def test_python_keyed_hash_is_rfc_4231_hmac_sha256():
    # RFC 4231 test case 2
    assert keyed_hash(b"Jefe", "what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


@pytest.mark.parametrize("secret", SECRETS, ids=lambda s: f"{len(s)}-bytes")
def test_duckdb_keyed_hash_equals_python_hmac_for_every_kind_of_id(db, secret):
    install_key(db, secret)
    db.execute("CREATE TABLE ids AS SELECT unnest(?::VARCHAR[]) AS id", [IDS])
    got = dict(db.execute("SELECT id, keyed_hash(id) FROM ids").fetchall())
    assert got == {i: hmac.new(secret, i.encode(), hashlib.sha256).hexdigest() for i in IDS}
    assert db.execute("SELECT keyed_hash(NULL::VARCHAR)").fetchone() == (None,)


def test_keyed_hash_sql_is_the_rfc_2104_construction(db):
    ipad, opad = hmac_pads(b"Jefe")
    assert len(ipad) == len(opad) == 64
    expression = keyed_hash_sql("$1", "$2", "$3")
    assert db.execute(f"SELECT {expression}", ["what do ya want for nothing?", ipad, opad]).fetchone() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",)


def test_keyed_hash_refuses_to_run_without_a_key_and_keys_stay_per_connection(db):
    with pytest.raises(duckdb.Error, match="pseudonymization key is not loaded"):
        db.execute("SELECT keyed_hash('1')").fetchall()
    install_key(db, b"one secret")
    assert db.execute("SELECT keyed_hash('1')").fetchone()[0] == keyed_hash(b"one secret", "1")
    other = db.cursor()  # another connection to the same database has no key
    with pytest.raises(duckdb.Error, match="pseudonymization key is not loaded"):
        other.execute("SELECT keyed_hash('1')").fetchall()
    install_key(db, b"another secret")
    assert db.execute("SELECT keyed_hash('1')").fetchone()[0] == keyed_hash(b"another secret", "1")


def test_published_interviewer_id_is_keyed_only_when_asked(db):
    install_key(db, b"the secret")
    assert db.execute("SELECT published_interviewer_id('alice', false), published_interviewer_id('alice', true)"
                      ).fetchone() == ("alice", keyed_hash(b"the secret", "alice"))


def test_the_key_is_in_no_database_file(tmp_path):
    path = tmp_path / "w.duckdb"
    secret = b"a secret that must stay out of files"
    ipad, opad = hmac_pads(secret)
    conn = duckdb.connect(str(path))
    create_sql_macros(conn)
    install_key(conn, secret)
    conn.execute("CREATE TABLE t AS SELECT keyed_hash(i::VARCHAR) AS k FROM range(1000) r(i)")
    conn.execute("CHECKPOINT")
    conn.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    for needle in (secret, ipad, opad, ipad.hex().encode(), opad.hex().encode()):
        assert needle not in data


# ---------------------------------------------------------------------------------------------
# The secret


@pytest.fixture
def home(tmp_path, monkeypatch) -> FunnelHome:
    monkeypatch.delenv(keys.KEY_SECRET_ENV, raising=False)
    return FunnelHome(tmp_path)


def test_a_secret_is_generated_once_owner_only_and_kept(home, caplog):
    with caplog.at_level(logging.WARNING, logger="funnel"):
        first = load_secret(home)
    path = home.key_secret_file
    assert path == home.root / "secrets" / "key.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(first) == 64 and bytes.fromhex(first.decode())  # 32 random bytes, as hex
    assert path.read_bytes() == first  # the file's bytes are the key: hmac.new(file bytes, id, sha256)
    assert str(path) in caplog.text and first.decode() not in caplog.text
    assert load_secret(home) == first
    assert [p.name for p in path.parent.iterdir()] == ["key.secret"]  # no temporary file left
    other = FunnelHome(home.root / "elsewhere")
    assert load_secret(other) != first


def test_two_processes_creating_the_secret_at_once_end_with_one(home):
    results = []
    threads = [threading.Thread(target=lambda: results.append(load_secret(home))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and results[0] == home.key_secret_file.read_bytes()
    assert create_secret_file(home.key_secret_file) is False
    assert home.key_secret_file.read_bytes() == results[0]


def test_the_environment_variable_wins_as_its_utf8_bytes(home, monkeypatch):
    monkeypatch.setenv(keys.KEY_SECRET_ENV, "correct horse battery staple ü")
    assert load_secret(home) == "correct horse battery staple ü".encode()
    assert not home.key_secret_file.exists()  # nothing generated when the variable is set


def test_an_empty_environment_variable_is_an_error_not_a_fallback(home, monkeypatch):
    monkeypatch.setenv(keys.KEY_SECRET_ENV, "  ")
    with pytest.raises(FunnelError, match="FUNNEL_KEY_SECRET is set but empty"):
        load_secret(home)
    assert not home.key_secret_file.exists()


def test_a_short_secret_warns_without_showing_it(home, monkeypatch, caplog):
    monkeypatch.setenv(keys.KEY_SECRET_ENV, "hunter2")
    keys._warned.discard(keys.KEY_SECRET_ENV)
    with caplog.at_level(logging.WARNING, logger="funnel"):
        assert load_secret(home) == b"hunter2"
    assert "only 7 bytes" in caplog.text and "hunter2" not in caplog.text


def test_a_secret_file_written_by_hand_loses_its_trailing_line_break(home):
    home.key_secret_file.parent.mkdir(parents=True)
    home.key_secret_file.write_bytes(b"restored from the backup\n")
    home.key_secret_file.chmod(0o600)
    assert load_secret(home) == b"restored from the backup"
    home.key_secret_file.write_bytes(b"restored from the backup\r\n")
    assert load_secret(home) == b"restored from the backup"


def test_a_secret_file_others_can_read_is_made_owner_only_with_a_warning(home, caplog):
    home.key_secret_file.parent.mkdir(parents=True)
    home.key_secret_file.write_bytes(b"x" * 32)
    home.key_secret_file.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="funnel"):
        assert load_secret(home) == b"x" * 32
    assert stat.S_IMODE(home.key_secret_file.stat().st_mode) == 0o600
    assert "readable by others (mode 0644)" in caplog.text and "x" * 32 not in caplog.text


@pytest.mark.parametrize("content", [b"", b"\n", b"   \n"], ids=["empty", "newline", "blank"])
def test_an_empty_secret_file_is_a_one_line_error_naming_it(home, content):
    home.key_secret_file.parent.mkdir(parents=True)
    home.key_secret_file.write_bytes(content)
    home.key_secret_file.chmod(0o600)
    with pytest.raises(FunnelError) as raised:
        load_secret(home)
    message = str(raised.value)
    assert message.startswith(f"{home.key_secret_file}: ") and "is empty" in message and "\n" not in message


def test_an_unreadable_secret_is_a_one_line_error_naming_it(home):
    home.key_secret_file.mkdir(parents=True)  # a folder where the file should be
    with pytest.raises(FunnelError, match=r"key\.secret: the pseudonymization secret must be a regular file"):
        load_secret(home)
    home.key_secret_file.rmdir()
    home.key_secret_file.symlink_to(home.root / "gone")  # a dangling link: never replaced by a new secret
    with pytest.raises(FunnelError, match=r"key\.secret: cannot read the pseudonymization secret"):
        load_secret(home)
    with pytest.raises(FunnelError, match="cannot read"):
        read_secret_file(home.root / "missing")
