"""Smoke test of the benchmark harness (benchmarks/, docs/benchmarks.md) at ~10k stage events.

No timed assertions: the machines are shared and noisy. It checks that the harness runs end to end,
that the JSON has every figure, and that the pandas baseline agrees with the published marts.
"""

import json

import pytest

from benchmarks import harness


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    bench = tmp_path_factory.mktemp("bench")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FUNNEL_BENCH_DIR", str(bench))
        results = harness.run([10_000], ["mixed"], {10_000: 1}, say=lambda _msg: None)
        saved = json.loads((bench / "results.json").read_text())
    return results, saved


def test_json_has_every_figure(results):
    _, saved = results
    (result,) = saved["results"]
    assert result["size"] == "10k" and result["format"] == "mixed"
    assert 9_000 <= result["stage_events"] <= 11_000
    assert set(result["figures"]) == set(harness.FIGURES)
    for name, figure in result["figures"].items():
        assert figure["median_s"] is not None, name
        assert len(figure["runs_s"]) == 1, name
        assert figure["ratio_to_floor"] is not None, name
    for name in ("floor", "pipeline_full", "pipeline_incremental", "pandas_baseline"):
        assert result["figures"][name]["peak_rss_bytes"] > 0, name
    assert result["figures"]["floor"]["ratio_to_floor"] == pytest.approx(1.0)


def test_pandas_baseline_equals_published_marts(results):
    _, saved = results
    (result,) = saved["results"]
    assert result["pandas_equal"] == {table: "equal" for table in harness.COMPARED}


def test_table_lists_every_figure(results):
    printed = harness.table(results[0])
    for name in harness.FIGURES:
        assert name in printed
    assert "targets (issue 13):" not in printed  # none at 10k events


def _figures(**medians):
    return {name: {"median_s": medians.get(name), "peak_rss_bytes": medians.get(f"{name}_rss"), "runs_s": [],
                   "ratio_to_floor": None} for name in harness.FIGURES}


def test_targets_say_met_or_not_met_for_each_measured_size():
    results = {"results": [
        {"size": "100k", "format": "mixed", "figures": _figures(pipeline_full=5.5, pipeline_incremental=4.5)},
        {"size": "1M", "format": "mixed", "figures": _figures(pipeline_full=12.0, pandas_baseline=20.0)},
        {"size": "10M", "format": "mixed", "figures": _figures(
            pipeline_full=61.0, pipeline_incremental=9.0, pipeline_full_rss=2 * 2**30 + 1,
            pipeline_incremental_rss=2**30)},
    ]}
    verdicts = {(v["size"], v["target"].split(" <=")[0]): (v["measured"], v["verdict"])
                for v in harness.target_verdicts(results)}
    assert verdicts == {
        ("100k", "100k pipeline_incremental"): ("4.5 s", "not met"),
        ("100k", "100k pipeline_full"): ("5.5 s", "met"),
        ("1M", "1M pipeline_full"): ("12.0 s", "met"),
        ("10M", "10M pipeline_incremental"): ("9.0 s", "met"),
        ("10M", "10M pipeline_full"): ("61.0 s", "not met"),
        ("10M", "10M peak RSS"): ("2.00 GiB", "not met"),
    }
    printed = harness.table(results)
    assert "1M pipeline_full <= pandas_baseline (20.0 s) [mixed]" in printed
    assert printed.count("not met") == 3 and printed.count(" met") == 6


def test_sizes_parse():
    assert [harness.parse_size(s) for s in ("10k", "100k", "1M", "10M", "2500")] == [10_000, 100_000, 1_000_000, 10_000_000, 2500]
    assert harness.size_label(1_000_000) == "1M"
    with pytest.raises(ValueError):
        harness.parse_size("ten")
