"""Crashes and repeats: a run killed with SIGKILL at any step leaves the published database a whole
old or new snapshot and the landing files untouched, the next run publishes what an uninterrupted
run would have, and two runs over the same files publish identical tables."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

import duckdb
import pytest

from funnel.models import PUBLISHED_MARTS
from funnel.config import default_config
from funnel.generate import generate
from funnel.keys import hmac_pads

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    # no FUNNEL_KEY_SECRET: the runs key with the secret file the first run generates
    return {k: v for k, v in os.environ.items() if k not in ("FUNNEL_HOME", "DAGSTER_HOME", "FUNNEL_KEY_SECRET")}


def run_funnel(home: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "funnel.cli", "--home", str(home), "run"],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


def run_and_kill_at(home: Path, marker: str) -> list[str]:
    """Start `funnel run` and SIGKILL it as soon as a progress line matching `marker` appears."""
    process = subprocess.Popen(
        [sys.executable, "-m", "funnel.cli", "--home", str(home), "run"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=_env(), cwd=ROOT,
    )
    seen = []
    try:
        for line in process.stderr:
            seen.append(line.rstrip())
            if re.search(marker, line):
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL, f"the run ended before {marker!r}:\n" + "\n".join(seen)
    return seen


def published_tables(home: Path) -> dict[str, list[tuple]]:
    """Every published mart, rows in stored order (publish_log differs between runs by design)."""
    conn = duckdb.connect(str(home / "warehouse" / "funnel.duckdb"), read_only=True)
    try:
        return {table: conn.execute(f"SELECT * FROM {table}").fetchall() for table in PUBLISHED_MARTS}
    finally:
        conn.close()


def publish_count(home: Path) -> int:
    conn = duckdb.connect(str(home / "warehouse" / "funnel.duckdb"), read_only=True)
    try:
        return conn.execute("SELECT count(*) FROM publish_log").fetchall()[0][0]
    finally:
        conn.close()


def landing_hashes(home: Path) -> dict[str, str]:
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((home / "landing").rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, list[Path]]:
    """A generated landing folder, and the files held back for the second delivery."""
    root = tmp_path_factory.mktemp("landing")
    generate(root / "landing", 400, 5, default_config())
    files = sorted(p for p in (root / "landing" / "stage_outcomes").rglob("*") if p.is_file())
    return root / "landing", files[-4:]


def copy_landing(landing: tuple[Path, list[Path]], home: Path, *, held_back: bool, secret_from: Path | None = None) -> None:
    """The landing files, and the installation's secret of `secret_from` (the same application has the
    same key in every home that shares the secret)."""
    source, later = landing
    shutil.copytree(source, home / "landing")
    if held_back:
        for path in later:
            (home / "landing" / path.relative_to(source)).unlink()
    if secret_from is not None:
        shutil.copytree(secret_from / "secrets", home / "secrets")


@pytest.fixture(scope="module")
def reference(landing, tmp_path_factory) -> dict:
    """What uninterrupted runs publish: after the first delivery, and after both. The first run
    generates the secret; every other home gets a copy of it."""
    first = tmp_path_factory.mktemp("first")
    copy_landing(landing, first, held_back=True)
    first_run = run_funnel(first)
    both = tmp_path_factory.mktemp("both")
    copy_landing(landing, both, held_back=False, secret_from=first)
    run_funnel(both)
    return {"old": published_tables(first), "new": published_tables(both), "home": both, "first": first,
            "first_output": first_run.stdout + first_run.stderr}


def secret_of(home: Path) -> bytes:
    return (home / "secrets" / "key.secret").read_bytes()


def application_ids(home: Path, records: str = "stage_outcome_records WHERE true") -> list[str]:
    conn = duckdb.connect(str(home / "warehouse" / "pipeline.duckdb"), read_only=True)
    try:
        return [r[0] for r in conn.execute(f"SELECT DISTINCT application_id FROM {records}").fetchall()]
    finally:
        conn.close()


def published_column(home: Path, table: str, column: str) -> list[str]:
    conn = duckdb.connect(str(home / "warehouse" / "funnel.duckdb"), read_only=True)
    try:
        return [r[0] for r in conn.execute(f"SELECT {column} FROM {table}").fetchall()]
    finally:
        conn.close()


def leaks(home: Path, secret: bytes, *outputs: str) -> list[str]:
    """Every file under `home` but the secret file itself, and the run's output, that holds the secret
    or the HMAC pads derived from it, raw or as hex (either case)."""
    ipad, opad = hmac_pads(secret)
    needles = {"secret": secret, "ipad": ipad, "opad": opad}
    with suppress(ValueError):
        needles["secret as bytes"] = bytes.fromhex(secret.decode())
    for name, value in list(needles.items()):
        needles[f"{name} (hex)"] = value.hex().encode()
        needles[f"{name} (HEX)"] = value.hex().upper().encode()
    sources = {str(p): p.read_bytes() for p in home.rglob("*") if p.is_file() and p.name != "key.secret"}
    sources.update({f"output {i}": text.encode() for i, text in enumerate(outputs)})
    return [f"{name} in {where}" for where, data in sources.items() for name, value in needles.items() if value in data]


def test_a_second_run_over_the_same_files_publishes_identical_tables(reference):
    home = reference["home"]
    again = run_funnel(home)
    assert "0 file(s) read, 0 rejected; 0 rows ingested" in again.stdout
    assert published_tables(home) == reference["new"]
    assert publish_count(home) == 2


def test_a_full_refresh_rebuilds_from_the_landing_files_and_publishes_the_same_tables(reference):
    home = reference["home"]
    result = subprocess.run(
        [sys.executable, "-m", "funnel.cli", "--home", str(home), "run", "--full-refresh"],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "full refresh:" in result.stderr
    contents = len(set(landing_hashes(home).values()))
    assert f"this run:  {contents} file(s) read" in result.stdout  # every landing file read again
    # the same keys too: the secret lives outside the working database the refresh removed
    assert published_tables(home) == reference["new"]
    assert secret_of(home) == secret_of(reference["first"])


def test_published_keys_are_hmacs_under_the_generated_secret_and_the_secret_leaks_nowhere(reference):
    first = reference["first"]
    path = first / "secrets" / "key.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    secret = secret_of(first)
    assert len(secret) == 64  # 32 random bytes, as hex
    assert f"generated a new pseudonymization secret in {path}" in reference["first_output"]
    def keyed(ids: list[str]) -> list[str]:
        return sorted(hmac.new(secret, i.encode(), hashlib.sha256).hexdigest() for i in ids)

    for home in (first, reference["home"]):
        ids = application_ids(home)
        loops = application_ids(home, "interview_records WHERE stage = 'onsite'")
        journey_keys = published_column(home, "application_journeys", "application_key")
        loop_keys = published_column(home, "loop_skill_coverage", "application_key")
        assert sorted(journey_keys) == keyed(ids) and sorted(loop_keys) == keyed(loops)
        everyone = set(ids) | set(loops)
        guessable = {h(i.encode()).hexdigest() for i in everyone for h in (hashlib.sha256, hashlib.md5)} | everyone
        assert not guessable & (set(journey_keys) | set(loop_keys))
    # not in the published or working database, the Dagster instance (event log, captured logs),
    # the quality pages, the report, nor what the run printed
    assert leaks(first, secret, reference["first_output"]) == []
    assert leaks(reference["home"], secret) == []


def test_a_new_secret_changes_every_key_and_pseudonymize_interviewers_takes_effect_on_the_next_run(reference, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(reference["home"], home)  # a home that has published with the default settings
    (home / "secrets" / "key.secret").unlink()  # revoking: a new secret is generated on the next run
    config = dataclasses.replace(default_config(), pseudonymize_interviewers=True)
    (home / "funnel.yaml").write_text(config.to_yaml(), encoding="utf-8")
    result = run_funnel(home)  # exits 0: every blocking check passed and the marts were published
    secret = secret_of(home)
    assert secret != secret_of(reference["first"])

    old, new = reference["new"], published_tables(home)
    old_keys = {row[0] for row in old["application_journeys"]} | {row[0] for row in old["loop_skill_coverage"]}
    new_keys = {row[0] for row in new["application_journeys"]} | {row[0] for row in new["loop_skill_coverage"]}
    assert len(new_keys) == len(old_keys) and not old_keys & new_keys  # every key changed
    assert sorted(published_column(home, "application_journeys", "application_key")) == sorted(
        hmac.new(secret, i.encode(), hashlib.sha256).hexdigest() for i in application_ids(home))

    interviewers = {row[0] for row in old["interviewer_calibration"]}
    assert {row[0] for row in new["interviewer_calibration"]} == {
        hmac.new(secret, i.encode(), hashlib.sha256).hexdigest() for i in interviewers}
    # nothing else changed
    def without_ids(rows: list[tuple]) -> list[tuple]:
        return sorted((row[1:] for row in rows), key=repr)
    for table in ("application_journeys", "loop_skill_coverage", "interviewer_calibration"):
        assert without_ids(new[table]) == without_ids(old[table]), table
    for table in set(PUBLISHED_MARTS) - {"application_journeys", "loop_skill_coverage", "interviewer_calibration"}:
        assert new[table] == old[table], table
    assert leaks(home, secret, result.stdout + result.stderr) == []


def test_reference_deliveries_differ(reference):
    # otherwise "old or new" below would prove nothing
    assert reference["old"]["stage_pass_rates"] != reference["new"]["stage_pass_rates"]
    assert len(reference["new"]["application_journeys"]) > len(reference["old"]["application_journeys"])


def test_sigkill_at_every_step_leaves_old_or_new_and_the_next_run_recovers(landing, reference, tmp_path):
    home = tmp_path / "home"
    copy_landing(landing, home, held_back=True, secret_from=reference["first"])
    run_funnel(home)
    assert published_tables(home) == reference["old"]
    source, later = landing
    for path in later:  # the second delivery lands
        shutil.copy2(path, home / "landing" / path.relative_to(source))
    hashes = landing_hashes(home)

    # killed while reading files, while rebuilding the marts, and while publishing
    for marker, allowed in [
        (r"^stage_outcomes: .*: read ", ["old"]),
        (r"^building \d+ tables from the records", ["old"]),
        (r"^publishing ", ["old", "new"]),
    ]:
        run_and_kill_at(home, marker)
        snapshot = published_tables(home)  # opens: the file is whole and a valid database
        assert any(snapshot == reference[name] for name in allowed), f"killed at {marker}: a mixed snapshot"
        assert landing_hashes(home) == hashes, "a landing file was modified"
        assert not list((home / "warehouse").glob(".funnel.duckdb.*.building")) or marker == r"^publishing "

    recovered = run_funnel(home)
    assert "marked abandoned run" in recovered.stderr
    assert published_tables(home) == reference["new"]
    assert landing_hashes(home) == hashes
    assert not list((home / "warehouse").glob(".funnel.duckdb.*.building"))


def test_a_failed_run_re_executed_from_failure_publishes_what_a_clean_run_does(landing, reference, tmp_path):
    home = tmp_path / "home"
    copy_landing(landing, home, held_back=False, secret_from=reference["first"])
    # publishing fails: something occupies the published database's path
    (home / "warehouse" / "funnel.duckdb" / "in-the-way").mkdir(parents=True)
    failed = subprocess.run(
        [sys.executable, "-m", "funnel.cli", "--home", str(home), "run"],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300,
    )
    assert failed.returncode == 1
    assert "step published_warehouse failed" in failed.stderr
    assert "Traceback" not in failed.stderr
    run_id = re.search(r"funnel rerun (\S+)` re-executes", failed.stderr).group(1)

    shutil.rmtree(home / "warehouse" / "funnel.duckdb")
    rerun = subprocess.run(
        [sys.executable, "-m", "funnel.cli", "--home", str(home), "rerun", run_id],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert published_tables(home) == reference["new"]
    # only the failed step ran again: nothing was ingested or rebuilt
    assert "read " not in rerun.stderr and "built " not in rerun.stderr
    assert "publishing " in rerun.stderr
