"""The ATS commands as a user meets them: `funnel sources suggest`, `funnel validate` on an ATS folder,
`funnel generate --shape`, and a FUNNEL_HOME holding only one ATS's tables publishing every mart."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from funnel.models import PUBLISHED_MARTS
from funnel.cli import main
from funnel.config import default_config, load_config

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
DEFAULT_YAML = (ROOT / "funnel" / "default_config.yaml").read_text(encoding="utf-8")
ATS = ("greenhouse", "lever", "ashby")
PLACEHOLDER = re.compile(r"^(\s+)# (.+?): (ROLE|STAGE|SKILL|failed)  #.*$")


def home_with_sample(tmp_path: Path, ats: str) -> Path:
    """A FUNNEL_HOME whose landing holds only the sample's tables (not its sources.yaml)."""
    home = tmp_path / "home"
    shutil.copytree(SAMPLES / ats, home / "landing" / ats, ignore=shutil.ignore_patterns("sources.yaml"))
    return home


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("FUNNEL_HOME", "DAGSTER_HOME")}


def filled_in(block: str) -> str:
    """The suggested block with every commented placeholder line filled in, as a user would."""
    config = default_config()
    values = {"ROLE": config.roles and next(iter(config.roles)), "STAGE": "hiring_committee",
              "SKILL": "behavioral", "failed": "failed"}
    out = []
    for line in block.splitlines():
        match = PLACEHOLDER.match(line)
        out.append(f"{match[1]}{match[2]}: {values[match[3]]}" if match else line)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("ats", ATS)
def test_suggest_on_each_sample_filled_in_makes_validate_clean(tmp_path, capsys, ats):
    home = home_with_sample(tmp_path, ats)
    assert main(["sources", "suggest", "--home", str(home)]) == 0
    block = capsys.readouterr().out
    assert block.startswith("# A starting point") and f"\nsources:\n  {ats}:\n    roles:" in block
    # the sample's deliberately unmapped names are offered commented out, to fill in
    assert re.search(r"# Reference Check: STAGE  # applications reaching it: .+: [12]", block), block
    assert re.search(r"# Culture Add: SKILL  # 1 interviews", block), block
    # plain names are guessed
    assert re.search(r"\n      (Phone Screen|Recruiter Screen|Phone Interview): recruiter_screen  #", block), block
    (home / "funnel.yaml").write_text(DEFAULT_YAML + "\n" + filled_in(block), encoding="utf-8")
    assert ats in load_config(home / "funnel.yaml").sources
    assert main(["validate", str(home / "landing" / ats), "--home", str(home)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"checked {ats} tables under {home / 'landing' / ats}: no problems")


@pytest.mark.parametrize("ats", ATS)
def test_validate_a_sample_lists_only_the_problems_it_is_built_to_have(capsys, ats):
    assert main(["validate", str(SAMPLES / ats)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"note: funnel.yaml has no sources.{ats}: using the block in {SAMPLES / ats / 'sources.yaml'}"
    assert len(out) == 4 and out[-1] == f"checked {ats} tables under {SAMPLES / ats}: 2 unmapped value(s), 0 other problem(s)"
    problems = sorted(line.split(": ", 2)[1] + ": " + line.split("'")[1] for line in out[1:3])
    assert problems == ["unknown_skill: culture add", "unknown_stage: reference check"]
    assert all(re.search(r": [12] event\(s\)$", line) for line in out[1:3])


def test_an_ats_folder_without_a_block_stops_with_one_line(tmp_path, capsys):
    home = home_with_sample(tmp_path, "greenhouse")
    assert main(["validate", str(home / "landing" / "greenhouse"), "--home", str(home)]) == 1
    assert "no_mapping: funnel.yaml has no sources.greenhouse block: `funnel sources suggest` prints one" \
        in capsys.readouterr().out
    # a run in its own process: the definitions bind FUNNEL_HOME when they load
    done = subprocess.run([sys.executable, "-m", "funnel.cli", "run", "--home", str(home)], capture_output=True,
                          text=True, env=_clean_env(), timeout=300)
    assert done.returncode == 1
    assert (f"funnel: step greenhouse failed: {home / 'landing' / 'greenhouse'} holds 12 file(s) but funnel.yaml has "
            "no sources.greenhouse block mapping its jobs and stages: `funnel sources suggest` prints one to start from"
            in done.stderr.splitlines())


def test_suggest_with_no_ats_tables_says_where_it_looked(tmp_path, capsys):
    assert main(["sources", "suggest", "--home", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"funnel: no ATS tables under {tmp_path / 'landing'} (looked in greenhouse/, lever/, ashby/)")


def test_generate_shape_writes_the_tables_and_adds_the_block(tmp_path, capsys):
    home = tmp_path / "home"
    assert main(["generate", "--shape", "lever", "--applications", "60", "--seed", "3", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert f"added" not in out and f"wrote {home / 'funnel.yaml'}" in out
    tables = {p.name.split(".")[0] for p in (home / "landing" / "lever").iterdir()}
    assert {"opportunity", "posting", "stage"} <= tables
    assert (home / "landing" / "demographics").is_dir()
    assert not (home / "landing" / "stage_outcomes").exists()
    config = load_config(home / "funnel.yaml")
    assert config.stages == default_config().stages and set(config.sources) == {"lever"}
    # a second shape joins the existing sources: block only by hand: the user is told what to add
    assert main(["generate", "--shape", "ashby", "--applications", "20", "--force", "--home", str(home)]) == 0
    assert "has a sources: block without ashby; add this under it:" in capsys.readouterr().out


def test_a_home_with_only_greenhouse_tables_publishes_every_mart(tmp_path, capsys):
    home = home_with_sample(tmp_path, "greenhouse")
    assert main(["sources", "suggest", "--home", str(home)]) == 0
    (home / "funnel.yaml").write_text(DEFAULT_YAML + "\n" + filled_in(capsys.readouterr().out), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "funnel.cli", "run", "--home", str(home)],
                          capture_output=True, text=True, env=_clean_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    published = duckdb.connect(str(home / "warehouse" / "funnel.duckdb"), read_only=True)
    try:
        tables = {name for (name,) in published.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        applications = published.execute("SELECT count(*) FROM application_journeys").fetchone()[0]
        passed = published.execute("SELECT sum(passed) FROM stage_pass_rates").fetchone()[0]
        # the sample's eeoc answers are groups of adverse_impact, every one under min_group_size: suppressed
        groups = published.execute("SELECT count(DISTINCT group_name), bool_and(suppressed) FROM adverse_impact"
                                   " WHERE dimension = 'sex'").fetchone()
    finally:
        published.close()
    assert set(PUBLISHED_MARTS) <= tables
    assert applications == 14 - 3 and passed > 0  # the sample's 14 applications less a prospect, a deleted one, a converted one
    assert groups == (3, True)  # female, male, unknown
    working = duckdb.connect(str(home / "warehouse" / "pipeline.duckdb"), read_only=True)
    try:
        accounted = working.execute(
            "SELECT bool_and(rows_read = rows_accepted + rows_duplicate + rows_quarantined + rows_excluded),"
            " sum(rows_excluded) FROM landing_files WHERE feed = 'greenhouse'").fetchone()
        responses = working.execute("SELECT count(*), count(DISTINCT candidate_id) FROM demographic_records"
                                    " WHERE source_file = 'greenhouse/eeoc.csv'").fetchone()
    finally:
        working.close()
    assert accounted[0] is True and accounted[1] > 0
    assert responses == (7, 6)  # the eeoc rows less the deleted application's; 3012 answered twice
