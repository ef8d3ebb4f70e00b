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


def test_sizes_parse():
    assert [harness.parse_size(s) for s in ("10k", "100k", "1M", "10M", "2500")] == [10_000, 100_000, 1_000_000, 10_000_000, 2500]
    assert harness.size_label(1_000_000) == "1M"
    with pytest.raises(ValueError):
        harness.parse_size("ten")
