"""The benchmark harness: data, measurements, comparison, the table and the JSON file.

For each size (stage events) and landing format it measures, `repeat` times and interleaved so
that machine noise hits every figure alike:

- floor: one DuckDB scan of the landing files with the contract's types (benchmarks/floor.py);
- pipeline full: `funnel run` in a new FUNNEL_HOME (empty warehouse), with per-step timings
  from the run's own Dagster events, grouped into ingest, marts, checks, publish, report and overhead;
- pipeline incremental: one more day of data (1/365 of the events, new applications) dropped
  into that FUNNEL_HOME, then `funnel run` again;
- pandas baseline: benchmarks/pandas_baseline.py on the same files; its three marts are
  compared with the published ones (same rows, numbers within 1e-9).

Every figure runs in its own process; its wall time and the peak RSS of its process tree
(sampled from /proc every 50 ms) are recorded.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
EVENTS_PER_APPLICATION = 3.267  # measured at 100k applications (the generator with demographics: fewer women pass the recruiter screen)
SEED = 20_260_101
FEED_NAMES = ("stage_outcomes", "interviews")
INGEST_STEPS = {"funnel_config", "stage_outcome_records", "interview_records", "demographic_records",
                "greenhouse", "lever", "ashby"}
MODEL_STEPS = {"sql_models"}  # one step builds every SQL model (before: one step per model)
PUBLISH_STEPS = {"published_warehouse"}
REPORT_STEPS = {"funnel_report"}
STAGES = ("ingest", "marts", "checks", "publish", "report", "dagster_overhead")
COMPARED = ("stage_pass_rates", "skipped_stages", "team_matching_dropoff")
FIGURES = ("floor", "pipeline_full", *STAGES, "pipeline_incremental", *(f"incremental_{s}" for s in STAGES),
           "pandas_baseline")
GIB = 2**30
# The targets of issue 13, each (size, what, limit): a figure's median seconds at most `limit`
# seconds, or at most another figure's median (a name), or the full run's peak RSS at most `limit` bytes.
TARGETS: tuple[tuple[str, str, float | str], ...] = (
    ("10M", "pipeline_incremental", 10.0),
    ("100k", "pipeline_incremental", 4.0),
    ("100k", "pipeline_full", 6.0),
    ("1M", "pipeline_full", "pandas_baseline"),
    ("10M", "pipeline_full", 60.0),
    ("10M", "peak_rss", 2 * GIB),
)
TOLERANCE = 1e-9


def bench_dir() -> Path:
    return Path(os.environ.get("FUNNEL_BENCH_DIR") or REPO / ".bench").resolve()


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    if not m:
        raise ValueError(f"not a size: {text!r} (e.g. 10k, 100k, 1M, 10M)")
    return int(float(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()])


def size_label(events: int) -> str:
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if events >= div and events % div == 0:
            return f"{events // div}{unit}"
    return str(events)


# ------------------------------------------------------------------------------------------
# Processes: wall time and peak RSS of the whole tree


def _tree_rss(root: int) -> int:
    """Sum of VmRSS (bytes) of `root` and its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total


@dataclass
class Measured:
    seconds: float
    peak_rss: int
    stdout: str
    stderr: str


def measure(command: list[str], env: dict | None = None, interval: float = 0.05) -> Measured:
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, cwd=REPO)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}:\n{err[-3000:]}")
    return Measured(seconds, peak, out, err)


# ------------------------------------------------------------------------------------------
# Data: generated once per size, cached under FUNNEL_BENCH_DIR/data


def _as_text_frame(path: Path) -> pl.DataFrame:
    """A landing file with every column as text, the way ingestion sees it."""
    from funnel.ingest import as_text

    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pl.read_csv(path, infer_schema=False)
    if suffix == ".parquet":
        return as_text(pl.read_parquet(path))
    try:
        return as_text(pl.read_ndjson(path, infer_schema_length=None))
    except Exception:
        from funnel.ingest import _json_keys
        return as_text(pl.read_ndjson(path, schema=dict.fromkeys(_json_keys(path), pl.String)))


def _write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.write_csv(path)
    else:
        frame.write_parquet(path, compression="zstd", statistics=True)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def dataset(events: int, fmt: str, say) -> Path:
    """The landing folder for `events` stage events in `fmt` (mixed, csv or parquet)."""
    from funnel.config import default_config
    from funnel.generate import generate

    root = bench_dir() / "data" / size_label(events)
    applications = max(1, round(events / EVENTS_PER_APPLICATION))
    meta_path = root / "meta.json"
    mixed = root / "mixed"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    if meta is None or meta.get("applications") != applications or meta.get("seed") != SEED:
        shutil.rmtree(root, ignore_errors=True)
        say(f"generating {applications:,} applications (~{size_label(events)} stage events) into {mixed}")
        summary = generate(mixed, applications, SEED, default_config())
        meta = {"applications": applications, "seed": SEED, "stage_events": summary.stage_events,
                "interview_rows": summary.interview_rows, "files": len(summary.files)}
        meta_path.write_text(json.dumps(meta, indent=2))
    if fmt == "mixed":
        return mixed
    target = root / fmt
    if not (target / ".complete").exists():
        say(f"converting {mixed} to all-{fmt}")
        shutil.rmtree(target, ignore_errors=True)
        for path in _files(mixed):
            rel = path.relative_to(mixed).with_suffix("." + fmt)
            _write(_as_text_frame(path), target / rel)
        (target / ".complete").write_text("")
    return target


def extra_day(events: int, fmt: str, day: int, say) -> dict[str, Path]:
    """One more day of data: 1/365 of the size's applications, new ones (ids prefixed `d<day>-`),
    one file per feed in the format (CSV for mixed)."""
    from funnel.config import default_config
    from funnel.generate import generate

    root = bench_dir() / "data" / size_label(events) / f"day-{day}"
    suffix = "parquet" if fmt == "parquet" else "csv"
    out = {feed: root / suffix / feed / f"daily/day-{day}.{suffix}" for feed in FEED_NAMES}
    if all(p.exists() for p in out.values()):
        return out
    applications = max(1, round(events / EVENTS_PER_APPLICATION / 365))
    raw = root / "generated"
    shutil.rmtree(raw, ignore_errors=True)
    say(f"generating day {day}: {applications:,} applications")
    generate(raw, applications, SEED + day, default_config())
    prefix = f"d{day}-"
    for feed in FEED_NAMES:
        frames = [_as_text_frame(p) for p in _files(raw / feed)]
        frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
        ids = [c for c in ("application_id", "candidate_id", "event_id", "interview_id") if c in frame.columns]
        frame = frame.with_columns((pl.lit(prefix) + pl.col(c)).alias(c) for c in ids)
        _write(frame, out[feed])
    shutil.rmtree(raw, ignore_errors=True)
    return out


def make_home(home: Path, landing: Path) -> None:
    """A new FUNNEL_HOME whose landing folder links every file of `landing` (so files can be added)."""
    shutil.rmtree(home, ignore_errors=True)
    for path in _files(landing):
        link = home / "landing" / path.relative_to(landing)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path)


# ------------------------------------------------------------------------------------------
# The pipeline


def funnel_run(home: Path) -> tuple[Measured, str]:
    measured = measure([sys.executable, "-m", "funnel.cli", "--home", str(home), "run"])
    match = re.search(r"^run (\S+) succeeded", measured.stdout, re.MULTILINE)
    if not match:
        raise RuntimeError(f"funnel run printed no run id:\n{measured.stdout}\n{measured.stderr[-2000:]}")
    return measured, match.group(1)


def step_times(home: Path, run_id: str, wall: float) -> dict[str, float]:
    """Seconds per stage of the run, from its step events; overhead = wall - sum of steps."""
    from dagster import DagsterInstance

    from funnel.models import load_models

    model_names = {m.name for m in load_models()} | MODEL_STEPS
    groups = dict.fromkeys(STAGES[:-1], 0.0)
    with DagsterInstance.from_config(str(home / ".dagster")) as instance:
        for stat in instance.get_run_step_stats(run_id):
            if stat.start_time is None or stat.end_time is None:
                continue
            key = stat.step_key
            group = ("ingest" if key in INGEST_STEPS else "publish" if key in PUBLISH_STEPS
                     else "report" if key in REPORT_STEPS else "marts" if key in model_names else "checks")
            groups[group] += stat.end_time - stat.start_time
    groups["dagster_overhead"] = wall - sum(groups.values())
    return groups


# ------------------------------------------------------------------------------------------
# Comparing the pandas baseline with the published marts


def compare(published_db: Path, pandas_dir: Path) -> dict[str, str]:
    """{table: 'equal' or what differs}."""
    import duckdb
    import numpy as np
    import pandas as pd

    verdicts = {}
    conn = duckdb.connect(str(published_db), read_only=True)
    try:
        for table in COMPARED:
            ours = conn.sql(f"SELECT * FROM {table}").df()
            theirs = pd.read_parquet(pandas_dir / f"{table}.parquet")
            verdicts[table] = _diff(ours, theirs, np, pd)
    finally:
        conn.close()
    return verdicts


def _diff(ours, theirs, np, pd) -> str:
    if len(ours) != len(theirs):
        return f"rows differ: ours {len(ours)}, pandas {len(theirs)}"
    if list(ours.columns) != list(theirs.columns):
        return f"columns differ: ours {list(ours.columns)}, pandas {list(theirs.columns)}"
    keys = [c for c in ("role", "stage") if c in ours.columns]
    ours = ours.sort_values(keys, ignore_index=True)
    theirs = theirs.sort_values(keys, ignore_index=True)
    problems = []
    for col in ours.columns:
        a, b = ours[col], theirs[col]
        if pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a):
            x = a.astype("float64").to_numpy()
            y = pd.to_numeric(b, errors="coerce").astype("float64").to_numpy()
            bad = ~((np.isnan(x) & np.isnan(y)) | (np.abs(x - y) <= TOLERANCE))
        else:
            if pd.api.types.is_datetime64_any_dtype(a) or pd.api.types.is_datetime64_any_dtype(b):
                a = pd.to_datetime(a, utc=True)
                b = pd.to_datetime(b, utc=True)
            bad = ~((a.isna() & b.isna()) | (a.astype(object) == b.astype(object))).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            row = ", ".join(str(ours.loc[i, k]) for k in keys)
            problems.append(f"{col} differs in {int(bad.sum())} row(s), first ({row}): ours {a.iloc[i]!r}, pandas {b.iloc[i]!r}")
    return "equal" if not problems else "; ".join(problems)


# ------------------------------------------------------------------------------------------
# The run


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def bench_size(events: int, fmt: str, repeat: int, say, keep_homes: bool = False) -> dict:
    landing = dataset(events, fmt, say)
    label = f"{size_label(events)}-{fmt}"
    runs: dict[str, list[float]] = {f: [] for f in FIGURES}
    rss: dict[str, list[int]] = {f: [] for f in ("floor", "pipeline_full", "pipeline_incremental", "pandas_baseline")}
    comparison: dict[str, str] = {}
    errors: list[str] = []
    home = bench_dir() / "homes" / label
    pandas_out = bench_dir() / "pandas" / label
    for i in range(repeat):
        say(f"[{label}] run {i + 1}/{repeat}: floor")
        floor = measure([sys.executable, "-m", "benchmarks.floor", str(landing)])
        runs["floor"].append(json.loads(floor.stdout)["scan_s"])
        rss["floor"].append(floor.peak_rss)

        say(f"[{label}] run {i + 1}/{repeat}: funnel run (full)")
        make_home(home, landing)
        full, run_id = funnel_run(home)
        runs["pipeline_full"].append(full.seconds)
        rss["pipeline_full"].append(full.peak_rss)
        for group, seconds in step_times(home, run_id, full.seconds).items():
            runs[group].append(seconds)

        say(f"[{label}] run {i + 1}/{repeat}: pandas baseline")
        shutil.rmtree(pandas_out, ignore_errors=True)
        pandas = measure([sys.executable, "-m", "benchmarks.pandas_baseline", str(landing), str(pandas_out)])
        runs["pandas_baseline"].append(pandas.seconds)
        rss["pandas_baseline"].append(pandas.peak_rss)
        if i == 0:
            comparison = compare(home / "warehouse" / "funnel.duckdb", pandas_out)
            say(f"[{label}] pandas vs published: {comparison}")

        say(f"[{label}] run {i + 1}/{repeat}: funnel run (incremental, one more day)")
        for feed, path in extra_day(events, fmt, 366, say).items():
            link = home / "landing" / feed / path.relative_to(path.parents[1])
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
        try:
            incremental, incremental_id = funnel_run(home)
        except RuntimeError as exc:  # e.g. a blocking quality check failed: recorded, the benchmark goes on
            errors.append(f"run {i + 1}: incremental: {str(exc)[-1500:]}")
            say(f"[{label}] incremental run failed: {str(exc)[-500:]}")
        else:
            runs["pipeline_incremental"].append(incremental.seconds)
            rss["pipeline_incremental"].append(incremental.peak_rss)
            for group, seconds in step_times(home, incremental_id, incremental.seconds).items():
                runs[f"incremental_{group}"].append(seconds)
        if not keep_homes:
            shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(pandas_out, ignore_errors=True)

    floor_median = median(runs["floor"])
    figures = {}
    for name in FIGURES:
        med = median(runs[name])
        figures[name] = {
            "runs_s": runs[name],
            "median_s": med,
            "ratio_to_floor": (med / floor_median) if med is not None and floor_median else None,
            "peak_rss_bytes": max(rss[name]) if name in rss and rss[name] else None,
        }
    meta = json.loads((bench_dir() / "data" / size_label(events) / "meta.json").read_text())
    return {"size": size_label(events), "events_target": events, "stage_events": meta["stage_events"],
            "interview_rows": meta["interview_rows"], "applications": meta["applications"], "format": fmt,
            "repeat": repeat, "figures": figures, "pandas_equal": comparison, "errors": errors}


def machine() -> dict:
    mem = 0
    try:
        with open("/proc/meminfo") as fh:
            mem = int(fh.readline().split()[1]) * 1024
    except OSError:
        pass
    import duckdb
    import pandas
    import polars

    return {"python": platform.python_version(), "cpus": os.cpu_count(), "memory_bytes": mem,
            "duckdb": duckdb.__version__, "pandas": pandas.__version__, "polars": polars.__version__,
            "platform": platform.platform()}


def run(sizes: list[int], formats: list[str], repeats: dict[int, int], say=print, keep_homes: bool = False,
        output: Path | None = None) -> dict:
    results = {"machine": machine(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": []}
    for events in sizes:
        for fmt in formats:
            results["results"].append(bench_size(events, fmt, repeats[events], say, keep_homes))
            _save(results, output)  # after every size: a long run that dies later keeps what it measured
    _save(results, output)
    return results


def _save(results: dict, output: Path | None) -> None:
    results["targets"] = target_verdicts(results)
    output = output or bench_dir() / "results.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, default=str))


def _gib(n: int | None) -> str:
    return "" if n is None else f"{n / 2**30:.2f} GiB"


def table(results: dict) -> str:
    lines = [f"{'size':>6} {'format':<8} {'figure':<22} {'median s':>10} {'x floor':>8} {'peak RSS':>10}  runs"]
    for r in results["results"]:
        for name, fig in r["figures"].items():
            med = fig["median_s"]
            ratio = fig["ratio_to_floor"]
            shown = "  " + name if name.removeprefix("incremental_") in STAGES else name
            lines.append(
                f"{r['size']:>6} {r['format']:<8} {shown:<22} "
                f"{'' if med is None else f'{med:.2f}':>10} {'' if ratio is None else f'{ratio:.1f}':>8} "
                f"{_gib(fig['peak_rss_bytes']):>10}  {len(fig['runs_s'])}"
            )
        verdicts = r.get("pandas_equal") or {}
        for error in r.get("errors", []):
            lines.append(f"{r['size']:>6} {r['format']:<8} FAILED: {error.splitlines()[-1] if error.strip() else error}")
        lines.append(f"{r['size']:>6} {r['format']:<8} pandas == published: "
                     + ", ".join(f"{t}: {v if len(v) < 200 else v[:200] + '…'}" for t, v in verdicts.items()))
    targets = target_verdicts(results)
    if targets:
        lines += ["", "targets (issue 13):", *(f"  {t['target']:<52} {t['measured']:<28} {t['verdict']}" for t in targets)]
    return "\n".join(lines)


def target_verdicts(results: dict) -> list[dict]:
    """Each target whose size was measured: what it asks, what was measured, met / not met."""
    verdicts = []
    for r in results["results"]:
        figures = r["figures"]
        for size, what, limit in TARGETS:
            if size != r["size"]:
                continue
            if what == "peak_rss":
                value = max((f["peak_rss_bytes"] or 0) for n, f in figures.items()
                            if n in ("pipeline_full", "pipeline_incremental"))
                target, measured, met = f"{size} peak RSS <= {_gib(limit)}", _gib(value), value <= limit
            else:
                value = figures[what]["median_s"]
                bound = figures[limit]["median_s"] if isinstance(limit, str) else limit
                if value is None or bound is None:
                    continue
                target = f"{size} {what} <= " + (f"{limit} ({bound:.1f} s)" if isinstance(limit, str) else f"{limit:g} s")
                measured, met = f"{value:.1f} s", value <= bound
            verdicts.append({"size": size, "format": r["format"], "target": f"{target} [{r['format']}]",
                             "measured": measured, "verdict": "met" if met else "not met"})
    return verdicts
