"""The code location loads, and the asset graph only changes on purpose.

The snapshot (snapshots/asset_graph.json) lists every asset with its group, kinds and upstream
assets. When a change to the graph is intended, regenerate it with
`FUNNEL_UPDATE_SNAPSHOTS=1 make test` and review the diff.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from graphlib import TopologicalSorter
from pathlib import Path

from funnel.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"
ROOT = Path(__file__).resolve().parent.parent


def asset_graph() -> dict:
    graph = defs.resolve_asset_graph()
    out = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        out[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "upstream": sorted(k.to_user_string() for k in node.parent_keys),
            "has_description": bool(node.description and node.description.strip()),
        }
    return out


def test_asset_graph_matches_snapshot():
    current = asset_graph()
    if os.environ.get("FUNNEL_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_every_asset_has_a_group_and_a_description():
    graph = asset_graph()
    assert {"funnel_config", "stage_outcome_records", "interview_records", "published_warehouse"} <= set(graph)
    assert all(node["has_description"] for node in graph.values())
    assert graph["stage_outcome_records"]["group"] == "ingestion"
    assert graph["stage_outcome_records"]["upstream"] == ["ashby", "funnel_config", "greenhouse", "lever"]
    assert graph["demographic_records"]["upstream"] == ["ashby", "funnel_config", "greenhouse", "lever"]
    assert {graph[ats]["group"] for ats in ("greenhouse", "lever", "ashby")} == {"sources"}
    assert graph["published_warehouse"]["group"] == "publishing"


def test_job_runs_every_asset_in_one_process():
    job = defs.resolve_job_def("funnel_job")
    assert job.executor_def.name == "in_process"
    assert set(job.asset_layer.executable_asset_keys) == set(defs.resolve_asset_graph().get_all_asset_keys())


def test_dagster_definitions_validate_passes_from_the_repo_root():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def package_imports() -> dict[str, set[str]]:
    """{module: the package's modules it imports}, from the source: top-level and deferred imports alike."""
    def name_of(path: Path) -> str:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    modules = {name_of(path): path for path in (ROOT / "funnel").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        graph[name] = (imported & set(modules)) - {name}
    return graph


def test_imports_run_one_way_and_nothing_imports_the_definitions():
    graph = package_imports()
    assert {"funnel.cli", "funnel.jobs", "funnel.sensors", "funnel.definitions"} <= set(graph)
    assert "funnel.jobs" in graph["funnel.sensors"]  # the parser sees the imports it should
    assert sorted(name for name, imported in graph.items() if "funnel.definitions" in imported) == []
    order = list(TopologicalSorter(graph).static_order())  # raises CycleError on an import circle
    assert sorted(order) == sorted(graph)


def test_the_cli_runs_the_job_the_code_location_defines():
    from funnel.cli import _funnel_job

    job = _funnel_job()
    assert job.job_name == "funnel_job"
    assert job.get_definition().executor_def.name == "in_process"
    assert set(job.get_definition().asset_layer.executable_asset_keys) == set(defs.resolve_asset_graph().get_all_asset_keys())
