"""The Dagster UI for real: `dagster dev` on a loopback port over a temporary FUNNEL_HOME, driven by
headless Chromium. It shows the asset graph, launches the job through the UI's GraphQL API, waits for
the run to succeed and finds the published database. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from funnel.cli import DAGSTER_YAML
from funnel.config import default_config
from funnel.generate import generate

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"Debian's chromium is not installed ({CHROMIUM}); .ci/run installs it"
)

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
STATUS = """query Status($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory):
    home = tmp_path_factory.mktemp("ui_home")
    generate(home / "landing", 120, 4, default_config())
    dagster_home = home / ".dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    port = free_port()
    env = {**os.environ, "FUNNEL_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
           "FUNNEL_SENSOR_DEFAULT": "off"}  # only the run this test launches
    log = (home / "dagster-dev.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("dagster dev did not start:\n" + (home / "dagster-dev.log").read_text()[-3000:])
                time.sleep(1)
        yield url, home
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _dismiss_newsletter(page) -> None:
    """A first-visit newsletter dialog that may open at any moment and cover the page."""
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.first.click()
        page.wait_for_timeout(500)


def _in_side_bar(page, text: str, wait_s: float = 10):
    """The side bar's entry `text` (the graph draws the same names as labels), waiting for it to appear."""
    deadline = time.monotonic() + wait_s
    while True:
        matches = page.get_by_text(text, exact=True)
        for i in range(matches.count()):
            box = matches.nth(i).bounding_box()
            if box and box["x"] < 520:  # the side bar is the left third of the 1600-pixel window
                return matches.nth(i)
        if time.monotonic() > deadline:
            raise AssertionError(f"no side bar entry {text!r}")
        page.wait_for_timeout(250)


def test_asset_graph_shows_the_assets_and_a_launched_run_succeeds(dagster_ui, browser):
    url, home = dagster_ui
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{url}/asset-groups", wait_until="networkidle", timeout=120_000)
    for group in ("sources", "ingestion", "staging", "intermediate", "marts", "publishing", "reporting"):
        page.get_by_text(group, exact=True).first.wait_for(state="visible", timeout=120_000)
    _dismiss_newsletter(page)
    page.mouse.click(1200, 700)
    page.keyboard.press("Alt+e")  # the graph's shortcut: expand all groups
    page.wait_for_timeout(2_000)
    _dismiss_newsletter(page)
    page.screenshot(path=str(ARTIFACTS / "asset_graph.png"))
    # The graph is taller than the window and draws only what is in view (and cuts long names short):
    # the side bar's tree lists every group's assets by name once the group is opened.
    for group, assets in (("sources", ("greenhouse", "lever", "ashby")),
                          ("ingestion", ("funnel_config", "stage_outcome_records", "demographic_records")),
                          ("marts", ("stage_pass_rates", "adverse_impact", "source_effectiveness", "travel_vetting"))):
        _dismiss_newsletter(page)
        box = _in_side_bar(page, group).bounding_box()
        page.mouse.click(box["x"] - 34, box["y"] + box["height"] / 2)  # the caret left of the group's icon
        for asset in assets:
            _in_side_bar(page, asset, wait_s=60)

    launched = page.request.post(f"{url}/graphql", data={"query": LAUNCH, "variables": {"params": {
        "selector": {"repositoryLocationName": "funnel", "repositoryName": "__repository__", "jobName": "funnel_job"},
        "runConfigData": {},
    }}}).json()["data"]["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    deadline = time.monotonic() + 400
    status = None
    while time.monotonic() < deadline:
        status = page.request.post(f"{url}/graphql", data={"query": STATUS, "variables": {"runId": run_id}}).json()[
            "data"]["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert status == "SUCCESS", (home / "dagster-dev.log").read_text()[-3000:]

    page.goto(f"{url}/runs/{run_id}", wait_until="domcontentloaded", timeout=120_000)
    page.get_by_text("published_warehouse").first.wait_for(state="visible", timeout=120_000)
    page.screenshot(path=str(ARTIFACTS / "run.png"))

    published = duckdb.connect(str(home / "warehouse" / "funnel.duckdb"), read_only=True)
    try:
        (run_in_log,) = published.execute("SELECT run_id FROM publish_log").fetchall()[0]
        entered = published.execute("SELECT sum(entered) FROM stage_pass_rates").fetchall()[0][0]
    finally:
        published.close()
    assert run_in_log == run_id  # the run the UI launched is the one that published
    assert entered > 120
    assert (home / "reports" / "funnel_report.html").exists()


REEXECUTE = """
mutation Reexecute($params: ReexecutionParams!) {
  launchPipelineReexecution(reexecutionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""


def test_the_ui_re_executes_a_failed_cli_run_from_its_failure(dagster_ui, browser):
    url, home = dagster_ui
    env = {k: v for k, v in os.environ.items() if k not in ("FUNNEL_HOME", "DAGSTER_HOME")}
    published = home / "warehouse" / "funnel.duckdb"
    published.unlink(missing_ok=True)
    (published / "in-the-way").mkdir(parents=True)  # publishing will fail
    failed = subprocess.run([sys.executable, "-m", "funnel.cli", "--home", str(home), "run"],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert failed.returncode == 1 and "step published_warehouse failed" in failed.stderr
    parent = failed.stderr.split("funnel rerun ")[1].split("`")[0]
    shutil.rmtree(published)

    page = browser.new_page()
    launched = page.request.post(f"{url}/graphql", data={"query": REEXECUTE, "variables": {
        "params": {"parentRunId": parent, "strategy": "FROM_FAILURE"}}}).json()["data"]["launchPipelineReexecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    query = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status stepKeysToExecute } } }"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run = page.request.post(f"{url}/graphql", data={"query": query, "variables": {"id": run_id}}).json()[
            "data"]["runOrError"]
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert run["status"] == "SUCCESS", (home / "dagster-dev.log").read_text()[-3000:]
    # only the failed step and what depends on it ran again: nothing was re-ingested
    assert sorted(run["stepKeysToExecute"]) == ["funnel_report", "published_warehouse"]
    conn = duckdb.connect(str(published), read_only=True)
    try:
        assert conn.execute("SELECT run_id FROM publish_log ORDER BY published_at DESC LIMIT 1").fetchall() == [(run_id,)]
    finally:
        conn.close()
