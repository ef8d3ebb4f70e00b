"""The quality checks as Dagster asset checks, end to end: the real asset graph plus `asset_checks`,
run in process over a FUNNEL_HOME in a temp folder.

One home, three runs in order (module-scoped, since every run imports GX and builds every mart):
  1. good generated data               -> every check evaluated, published_warehouse materialized
  2. a batch whose outcomes are typos  -> quarantine_share fails at ERROR, nothing downstream runs,
                                          the published file's bytes are unchanged
  3. a deliberately wrong mart SQL     -> the mart's blocking checks fail, publishing is skipped
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from unittest import mock

from funnel import models as marts
from funnel.assets.checks import asset_checks
from funnel.config import default_config
from funnel.definitions import defs as project_defs
from funnel.generate import generate
from funnel.resources import FunnelWarehouse
from funnel.settings import FunnelHome

PUBLISH = dg.AssetKey("published_warehouse")


# 10 on the three record assets, 3 on the ATS assets (quarantine_share); on the 14 published marts: 14 suites,
# 11 config checks, 14 reconciliations, single_terminal_outcome and no_person_level_demographics
CHECKS = 54


def project_assets() -> list:
    """The assets of the code location exactly as funnel.definitions assembles them."""
    return list(project_defs.assets or [])


def definitions(home: Path, assets: list | None = None, selection: dg.AssetSelection | None = None) -> dg.Definitions:
    # the wiring funnel/definitions.py needs: asset_checks=checks.asset_checks
    return dg.Definitions(
        assets=assets or project_assets(),
        asset_checks=asset_checks,
        jobs=[dg.define_asset_job("funnel_job", selection=selection or dg.AssetSelection.all())],
        resources={"warehouse": FunnelWarehouse(home=str(home))},
        executor=dg.in_process_executor,
    )


def run(defs: dg.Definitions) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def("funnel_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e for e in result.get_asset_check_evaluations()}


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def started_steps(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_typo_batch(home: Path) -> int:
    """40 stage outcomes of new applications, 30 of them with a misspelled outcome. Returns the typo count."""
    path = home / "landing" / "stage_outcomes" / "late" / "typos.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    typos = ["pased", "faild", "PASSD", "withdrawn", "in progress"]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["event_id", "application_id", "candidate_id", "role", "stage", "outcome", "occurred_at"])
        for i in range(40):
            outcome = typos[i % len(typos)] if i < 30 else "passed"
            writer.writerow([f"typo-{i}", f"typo-app-{i}", f"typo-cand-{i}", "software_engineer",
                             "application_review", outcome, "2025-01-15T10:00:00Z"])
    return 30


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("funnel_home")
    generate(root / "landing", 150, 11, default_config())
    return root


@pytest.fixture(scope="module")
def good_run(home: Path):
    result = run(definitions(home))
    return result, digest(FunnelHome(home).published_db)


@pytest.fixture(scope="module")
def typo_run(home: Path, good_run):
    typos = write_typo_batch(home)
    result = run(definitions(home))
    return result, typos


@pytest.fixture(scope="module")
def wrong_sql_run(home: Path, typo_run):
    """stage_pass_rates built from SQL that counts one application too many as entered on every row."""
    model = next(m for m in marts.load_models() if m.name == "stage_pass_rates")
    wrong = dataclasses.replace(model, sql=f"SELECT * REPLACE (entered + 1 AS entered) FROM ({model.sql})")
    models = tuple(wrong if m.name == "stage_pass_rates" else m for m in marts.load_models())
    published_before = digest(FunnelHome(home).published_db)
    # accept the typo batch (still the newest batch, so it would block again) by raising the threshold
    config = dataclasses.replace(default_config(), quarantine_threshold=1.0)
    (home / "funnel.yaml").write_text(config.to_yaml())
    # only what stage_pass_rates needs, and the publish step (which would otherwise run on the old marts)
    selection = dg.AssetSelection.assets("stage_pass_rates").upstream() | dg.AssetSelection.assets(PUBLISH)
    with mock.patch("funnel.build.load_models", lambda: models), \
            mock.patch("funnel.assets.marts.load_models", lambda: models):
        return run(definitions(home, project_assets(), selection)), published_before


def test_every_check_is_blocking_and_targets_an_asset_of_the_graph():
    graph_keys = set(definitions(Path("/nonexistent")).resolve_asset_graph().get_all_asset_keys())
    specs = [spec for check in asset_checks for spec in check.check_specs]
    assert len(specs) == CHECKS
    assert all(spec.blocking for spec in specs)
    assert {spec.asset_key for spec in specs} <= graph_keys
    targets = {spec.asset_key.to_user_string() for spec in specs}
    assert set(marts.PUBLISHED_MARTS) <= targets
    assert {"stage_outcome_records", "interview_records", "demographic_records"} <= targets
    # published_warehouse is downstream of every checked mart, so an ERROR on any of them blocks it
    graph = definitions(Path("/nonexistent")).resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get(PUBLISH).parent_keys} >= set(marts.PUBLISHED_MARTS)
    dg.Definitions.validate_loadable(definitions(Path("/nonexistent")))


def test_loading_the_checks_does_not_import_great_expectations():
    code = ("import sys, funnel.assets.checks as c; "
            "print(sum(len(list(a.check_specs)) for a in c.asset_checks), 'great_expectations' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(CHECKS), "False"]


def test_good_data_publishes_and_every_check_is_evaluated(home: Path, good_run):
    result, published_digest = good_run
    assert result.success
    assert "published_warehouse" in materialized(result)
    evals = evaluations(result)
    assert len(evals) == CHECKS
    failed = {k: e for k, e in evals.items() if not e.passed}
    # the generator's ~1% dirty rows are quarantined: a warning, never an error
    assert all(e.severity == dg.AssetCheckSeverity.WARN for e in failed.values()), failed
    assert set(failed) <= {"stage_outcome_records:quarantine_share", "interview_records:quarantine_share",
                           "demographic_records:quarantine_share"}
    spr = evals["stage_pass_rates:expectations"]
    assert spr.passed and spr.metadata["broken_expectations"].value == 0
    assert spr.metadata["expectations"].value > 40
    page = Path(spr.metadata["report"].value)
    assert page == home / "quality" / result.run_id / "stage_pass_rates.expectations.html"
    assert "entered = passed + failed + withdrew + in_progress" in page.read_text()
    assert (home / "quality" / "latest" / "stage_pass_rates.expectations.html").exists()
    assert (home / "quality" / result.run_id / "index.html").read_text().count("<li>") == CHECKS
    records = evals["stage_outcome_records:batch_expectations"]
    assert records.passed and records.metadata["rows_validated"].value > 100
    assert records.metadata["selection"].value == f"batch_id = '{result.run_id}'"
    assert FunnelHome(home).published_db.exists() and published_digest


def test_a_batch_of_typos_blocks_publishing_and_leaves_the_published_file_alone(home: Path, good_run, typo_run):
    _, published_digest = good_run
    result, typos = typo_run
    assert not result.success
    assert digest(FunnelHome(home).published_db) == published_digest
    done = materialized(result)
    assert "stage_outcome_records" in done
    assert "published_warehouse" not in done
    assert not done & set(marts.PUBLISHED_MARTS)  # nothing downstream of the failed check ran
    check = evaluations(result)["stage_outcome_records:quarantine_share"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    meta = check.metadata
    assert meta["rows_read"].value == 40
    assert meta["rows_quarantined"].value == typos == meta["failing"].value
    assert meta["share"].value == pytest.approx(0.75)
    assert meta["threshold"].value == pytest.approx(0.05)
    assert meta["quarantined_by_reason"].value == {"unknown_outcome": typos}
    examples = meta["examples"].value
    assert examples.count("\n") == 6  # header, rule and the first 5 rows
    assert "late/typos.csv" in examples and "unknown_outcome" in examples
    page = Path(meta["report"].value).read_text()
    assert f"Example failing rows (first 20 of {typos})" in page
    assert "outcome &#x27;pased&#x27; is not one of" in page
    # the step of the failed blocking check (the records' checks) is the only failed step, and the
    # publish step never started
    assert {e.step_key for e in result.get_step_failure_events()} == {"record_checks"}
    assert "published_warehouse" not in started_steps(result)


def test_a_wrong_mart_sql_fails_its_checks_and_publishing_is_skipped(home: Path, wrong_sql_run):
    result, published_before = wrong_sql_run
    assert not result.success
    done = materialized(result)
    assert "stage_pass_rates" in done and "published_warehouse" not in done
    assert "published_warehouse" not in started_steps(result)
    failed_steps = {e.step_key for e in result.get_step_failure_events()}
    assert failed_steps == {"mart_checks"}  # the step of the marts' checks
    assert digest(FunnelHome(home).published_db) == published_before
    evals = evaluations(result)
    suite = evals["stage_pass_rates:expectations"]
    assert not suite.passed and suite.severity == dg.AssetCheckSeverity.ERROR
    assert suite.metadata["failed_expectations"].value == 1
    assert suite.metadata["broken_expectations"].value == 0
    rows = suite.metadata["unexpected_rows"].value
    assert rows > 0
    assert "entered = passed + failed + withdrew + in_progress" in suite.metadata["failed"].value
    assert "entered = passed + failed + withdrew + in_progress" in suite.metadata["examples"].value
    reconcile = evals["stage_pass_rates:reconciles_with_records"]
    assert reconcile.passed  # passed/failed/withdrew/in_progress were not touched
    # the typo batch is still the newest batch: with the threshold at 100% it is a warning, not a block
    share = evals["stage_outcome_records:quarantine_share"]
    assert not share.passed and share.severity == dg.AssetCheckSeverity.WARN
    assert share.metadata["threshold"].value == pytest.approx(1.0)
    assert share.metadata["rows_quarantined"].value == 30
    # only the selected assets' checks ran
    # (the ATS assets are upstream of the records: not in use here, their checks pass)
    assert {k.split(":")[0] for k in evals} == {"stage_outcome_records", "stage_pass_rates", "greenhouse", "lever", "ashby"}
    assert all(evals[f"{ats}:quarantine_share"].passed for ats in ("greenhouse", "lever", "ashby"))
