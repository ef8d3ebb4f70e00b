"""The pandas baseline: what an analyst would write without funnel.

Reads every landing file of both feeds with pandas, normalizes the values and timestamps the way
docs/contract.md says, drops invalid rows and duplicate ids (the first record read wins), and
computes three marts following docs/metrics.md: stage_pass_rates, skipped_stages and
team_matching_dropoff. It reuses only the contract's constants and the configuration loader;
every metric is plain pandas.

    python -m benchmarks.pandas_baseline LANDING OUT_DIR [--config funnel.yaml]

writes OUT_DIR/<table>.parquet and prints a JSON line with the timings of its phases.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from funnel.config import Config, default_config, load_config
from funnel.contract import FORMATS, INTERVIEWS, OUTCOMES, RECOMMENDATIONS, STAGE_OUTCOMES, Feed

Z = 1.959963984540054
DAY_US = 86_400_000_000
OUTCOME_RANK = {"passed": 3, "failed": 3, "withdrew": 3, "skipped": 2, "in_progress": 1}
LOWERED = {"role", "stage", "outcome", "skill", "recommendation"}
TABLES = ("stage_pass_rates", "skipped_stages", "team_matching_dropoff")


# ------------------------------------------------------------------------------------------
# Reading and cleaning


def landing_files(feed_dir: Path) -> list[Path]:
    """Every non-hidden file of the feed, in lexicographic order of its relative path."""
    found = []
    for path in feed_dir.rglob("*"):
        rel = path.relative_to(feed_dir)
        if path.is_file() and not any(p.startswith(".") for p in rel.parts):
            found.append((rel.as_posix(), path))
    return [p for _, p in sorted(found)]


def _utc(values: pd.Series) -> pd.Series:
    """occurred_at as UTC instants (NaT when missing or not ISO-8601)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize("UTC").astype("datetime64[us, UTC]")
    text = values.astype("string").str.strip()
    text = text.where(text.str.match(r"[0-9]", na=False))  # like the contract: 'epoch', 'infinity' are not timestamps
    return pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce").astype("datetime64[us, UTC]")


def read_feed(landing: Path, feed: Feed) -> pd.DataFrame:
    frames = []
    for order, path in enumerate(landing_files(landing / feed.name)):
        fmt = FORMATS.get(path.suffix.lower())
        if fmt == "csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif fmt == "parquet":
            df = pd.read_parquet(path)
        elif fmt == "jsonl":
            df = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
        else:
            continue
        df.columns = [c.strip().lower() for c in df.columns]
        out = pd.DataFrame(index=df.index)
        for col in (feed.id_column, *feed.required, *([] if feed is INTERVIEWS else ["team"])):
            if col == "occurred_at":
                raw = df[col]
                if pd.api.types.is_datetime64_any_dtype(raw):
                    out["ts_missing"] = raw.isna()
                else:
                    stripped = raw.astype("string").str.strip()
                    out["ts_missing"] = stripped.isna() | (stripped == "")
                out[col] = _utc(raw)
                continue
            values = df[col].astype("string").str.strip() if col in df.columns else pd.Series(pd.NA, index=df.index, dtype="string")
            values = values.mask(values == "")
            out[col] = values.str.lower() if col in LOWERED else values
        out["file_order"] = order
        out["line"] = np.arange(len(df))
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def clean(df: pd.DataFrame, feed: Feed, config: Config) -> pd.DataFrame:
    """Drop rows the contract quarantines, then keep the first record of every id."""
    required = [c for c in feed.required if c != "occurred_at"]
    ok = df[required].notna().all(axis=1) & ~df["ts_missing"] & df["occurred_at"].notna()
    # implausible_timestamp: before earliest_timestamp or later than now plus future_tolerance_days
    now = pd.Timestamp.now(tz="UTC")
    ok &= df["occurred_at"].between(pd.Timestamp(config.earliest_timestamp, tz="UTC"),
                                    now + pd.Timedelta(days=config.future_tolerance_days))
    ok &= df["stage"].isin(config.stages)
    if feed is STAGE_OUTCOMES:
        ok &= df["role"].isin(list(config.roles)) & df["outcome"].isin(OUTCOMES)
    else:
        ok &= df["skill"].isin(config.skills) & df["recommendation"].isin(RECOMMENDATIONS)
    df = df[ok.fillna(False)].copy()
    # No id: a sha256 of the normalized required fields (plus team), as the contract says.
    fields = list(feed.required) + (["team"] if feed is STAGE_OUTCOMES else [])
    missing_id = df[feed.id_column].isna()
    if missing_id.any():
        part = df.loc[missing_id, fields].copy()
        part["occurred_at"] = part["occurred_at"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        part = part.fillna("")
        joined = part.astype(str).agg("\x1f".join, axis=1)
        df.loc[missing_id, feed.id_column] = [hashlib.sha256(s.encode()).hexdigest() for s in joined]
    df = df.rename(columns={feed.id_column: "record_id"})
    df = df.sort_values(["file_order", "line"], kind="stable")
    return df.drop_duplicates("record_id", keep="first").drop(columns=["ts_missing"])


# ------------------------------------------------------------------------------------------
# Metrics (docs/metrics.md)


def ratio(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / b, np.nan)


def wilson(x, n, sign: float):
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        z2 = Z * Z
        bound = ((p + z2 / (2.0 * n)) + sign * Z * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))) / (1.0 + z2 / n)
        value = np.minimum(p, np.maximum(0.0, bound)) if sign < 0 else np.maximum(p, np.minimum(1.0, bound))
    return np.where(n > 0, value, np.nan)


def days_between(a: pd.Series, b: pd.Series) -> pd.Series:
    us = b.astype("int64").to_numpy() - a.astype("int64").to_numpy()
    return pd.Series(us.astype(float) / float(DAY_US), index=a.index)


def compute(records: pd.DataFrame, config: Config) -> dict[str, pd.DataFrame]:
    stage_order = {s: i + 1 for i, s in enumerate(config.stages)}
    role_stages = pd.DataFrame(
        [(r.name, s, i + 1) for r in config.roles.values() for i, s in enumerate(r.pipeline)],
        columns=["role", "stage", "pipeline_order"],
    )
    role_stages["stage_order"] = role_stages["stage"].map(stage_order)

    df = records[["record_id", "application_id", "role", "stage", "outcome", "occurred_at"]].copy()
    df["rank"] = df["outcome"].map(OUTCOME_RANK)
    # Latest first: greatest occurred_at, then decision > skipped > in_progress, then the greater record_id.
    df = df.sort_values(["occurred_at", "rank", "record_id"], ascending=False, kind="stable")
    as_of = records["occurred_at"].max()

    # The application's role: its latest record overall.
    apps = df.drop_duplicates("application_id", keep="first")[["application_id", "role", "stage", "outcome"]]
    apps = apps.rename(columns={"stage": "final_stage", "outcome": "final_outcome"}).set_index("application_id")

    # The latest record per application and stage.
    first_at = df.groupby(["application_id", "stage"])["occurred_at"].min().rename("first_occurred_at")
    latest = df.drop_duplicates(["application_id", "stage"], keep="first").drop(columns=["role"])
    latest = latest.join(first_at, on=["application_id", "stage"]).join(apps["role"], on="application_id")
    latest = latest.merge(role_stages[["role", "stage", "pipeline_order"]], on=["role", "stage"], how="left")
    latest["stage_order"] = latest["stage"].map(stage_order)
    latest["in_pipeline"] = latest["pipeline_order"].notna()
    latest["entered"] = latest["outcome"] != "skipped"

    furthest = latest[latest["entered"] & latest["in_pipeline"]].groupby("application_id")["pipeline_order"].max()
    apps["furthest"] = furthest.reindex(apps.index)

    # Application x stage: recorded stages, plus pipeline stages without a record.
    recorded = latest[["application_id", "role", "stage", "stage_order", "pipeline_order", "in_pipeline", "outcome", "entered"]].copy()
    recorded["skipped_explicit"] = recorded["in_pipeline"] & (recorded["outcome"] == "skipped")
    recorded["skipped_implied"] = False
    grid = apps[["role", "furthest"]].reset_index().merge(role_stages, on="role")
    grid = grid.merge(latest[["application_id", "stage"]], on=["application_id", "stage"], how="left", indicator=True)
    grid = grid[grid["_merge"] == "left_only"].drop(columns=["_merge"])
    grid["in_pipeline"] = True
    grid["outcome"] = None
    grid["entered"] = False
    grid["skipped_explicit"] = False
    grid["skipped_implied"] = (grid["pipeline_order"] < grid["furthest"]).fillna(False)
    stages = pd.concat([recorded, grid.drop(columns=["furthest"])], ignore_index=True)
    stages["skipped"] = stages["skipped_explicit"] | stages["skipped_implied"]

    # Per application: onsite, final status, fast-tracking.
    last_stage = {r.name: r.pipeline[-1] for r in config.roles.values()}
    onsite = latest[(latest["stage"] == "onsite") & latest["entered"]].set_index("application_id")["outcome"]
    apps["entered_onsite"] = apps.index.isin(onsite.index)
    apps["onsite_outcome"] = onsite.reindex(apps.index)
    apps["final_status"] = np.select(
        [
            apps["final_outcome"] == "failed",
            apps["final_outcome"] == "withdrew",
            (apps["final_outcome"] == "passed") & (apps["final_stage"] == apps["role"].map(last_stage)),
        ],
        ["rejected", "withdrew", "hired"],
        "in_progress",
    )
    onsite_order = stage_order["onsite"]
    between = stages[stages["in_pipeline"] & (stages["pipeline_order"] > 1) & (stages["stage_order"] < onsite_order)]
    between_total = between.groupby("application_id").size()
    between_skipped = between[between["skipped"]].groupby("application_id").size()
    total = between_total.reindex(apps.index).fillna(0)
    apps["fast_tracked"] = apps["entered_onsite"] & (total > 0) & (between_skipped.reindex(apps.index).fillna(0) == total)

    # Time in stage: every decided record (a corrected decision is timed twice), from the application's
    # previous decision at an earlier catalog stage, else from its first record at this stage.
    decisions = df.loc[df["outcome"].isin(["passed", "failed", "withdrew"]),
                       ["record_id", "application_id", "stage", "occurred_at"]].copy()
    decisions["role"] = decisions["application_id"].map(apps["role"])
    decisions["stage_order"] = decisions["stage"].map(stage_order)
    decisions = decisions.join(first_at, on=["application_id", "stage"])
    pairs = decisions[["record_id", "application_id", "stage_order", "occurred_at"]].merge(
        decisions[["application_id", "stage_order", "occurred_at"]], on="application_id", suffixes=("", "_p"))
    pairs = pairs[(pairs["stage_order_p"] < pairs["stage_order"]) & (pairs["occurred_at_p"] <= pairs["occurred_at"])]
    previous = pairs.groupby("record_id")["occurred_at_p"].max().rename("previous_at")
    decisions = decisions.join(previous, on="record_id")
    start = decisions["previous_at"].fillna(decisions["first_occurred_at"])
    decisions["days"] = days_between(start, decisions["occurred_at"])
    durations = decisions.groupby(["role", "stage"])["days"].agg(
        timed_decisions="size", median_days_in_stage="median", p90_days_in_stage=lambda s: s.quantile(0.9)
    )

    # stage_pass_rates
    s = stages.assign(**{o: stages["entered"] & (stages["outcome"] == o) for o in ("passed", "failed", "withdrew", "in_progress")})
    counts = s.groupby(["role", "stage"])[["entered", "passed", "failed", "withdrew", "in_progress",
                                            "skipped_explicit", "skipped_implied", "skipped"]].sum()
    keys = set(map(tuple, role_stages[["role", "stage"]].to_numpy())) | set(counts.index[counts["entered"] > 0])
    spr = pd.DataFrame(sorted(keys), columns=["role", "stage"])
    spr["stage_order"] = spr["stage"].map(stage_order)
    spr = spr.merge(role_stages[["role", "stage", "pipeline_order"]], on=["role", "stage"], how="left")
    spr["in_pipeline"] = spr["pipeline_order"].notna()
    spr["off_pipeline"] = ~spr["in_pipeline"]
    spr = spr.join(counts, on=["role", "stage"]).join(durations, on=["role", "stage"])
    count_cols = ["entered", "passed", "failed", "withdrew", "in_progress", "skipped", "skipped_explicit", "skipped_implied"]
    spr[count_cols + ["timed_decisions"]] = spr[count_cols + ["timed_decisions"]].fillna(0).astype("int64")
    spr["decided"] = spr["passed"] + spr["failed"]
    spr["pass_rate"] = ratio(spr["passed"], spr["decided"])
    spr["pass_rate_low"] = wilson(spr["passed"], spr["decided"], -1.0)
    spr["pass_rate_high"] = wilson(spr["passed"], spr["decided"], +1.0)
    spr["pass_through_rate"] = ratio(spr["passed"], spr["entered"])
    spr["skip_rate"] = ratio(spr["skipped"], spr["skipped"] + spr["entered"])
    spr = spr[["role", "stage", "stage_order", "pipeline_order", "in_pipeline", "off_pipeline", *count_cols, "decided",
               "pass_rate", "pass_rate_low", "pass_rate_high", "pass_through_rate", "skip_rate", "timed_decisions",
               "median_days_in_stage", "p90_days_in_stage"]].sort_values(["role", "stage_order"], ignore_index=True)

    # skipped_stages
    ps = stages[stages["in_pipeline"]].join(apps[["entered_onsite", "onsite_outcome", "final_status"]], on="application_id")
    flags = {
        "skippers_entered_onsite": ps["skipped"] & ps["entered_onsite"],
        "skippers_onsite_passed": ps["skipped"] & (ps["onsite_outcome"] == "passed"),
        "skippers_onsite_failed": ps["skipped"] & (ps["onsite_outcome"] == "failed"),
        "skippers_hired": ps["skipped"] & (ps["final_status"] == "hired"),
        "enterers_entered_onsite": ps["entered"] & ps["entered_onsite"],
        "enterers_onsite_passed": ps["entered"] & (ps["onsite_outcome"] == "passed"),
        "enterers_onsite_failed": ps["entered"] & (ps["onsite_outcome"] == "failed"),
        "enterers_hired": ps["entered"] & (ps["final_status"] == "hired"),
    }
    ps = ps.assign(**{k: v.fillna(False) for k, v in flags.items()}, applications=1)
    ss = ps.groupby(["role", "stage"]).agg(
        stage_order=("stage_order", "first"), pipeline_order=("pipeline_order", "first"), applications=("applications", "sum"),
        entered=("entered", "sum"), skipped_explicit=("skipped_explicit", "sum"), skipped_implied=("skipped_implied", "sum"),
        skipped=("skipped", "sum"), **{k: (k, "sum") for k in flags},
    ).reset_index()
    ss["skip_rate"] = ratio(ss["skipped"], ss["skipped"] + ss["entered"])
    ss["skippers_onsite_pass_rate"] = ratio(ss["skippers_onsite_passed"], ss["skippers_onsite_passed"] + ss["skippers_onsite_failed"])
    ss["enterers_onsite_pass_rate"] = ratio(ss["enterers_onsite_passed"], ss["enterers_onsite_passed"] + ss["enterers_onsite_failed"])
    a = apps.assign(
        ft=apps["fast_tracked"],
        ft_passed=apps["fast_tracked"] & (apps["onsite_outcome"] == "passed"),
        ft_failed=apps["fast_tracked"] & (apps["onsite_outcome"] == "failed"),
        nft_onsite=~apps["fast_tracked"] & apps["entered_onsite"],
        nft_passed=~apps["fast_tracked"] & (apps["onsite_outcome"] == "passed"),
        nft_failed=~apps["fast_tracked"] & (apps["onsite_outcome"] == "failed"),
    )
    per_role = a.groupby("role")[["ft", "ft_passed", "ft_failed", "nft_onsite", "nft_passed", "nft_failed"]].sum()
    per_role.columns = ["fast_tracked", "fast_tracked_onsite_passed", "fast_tracked_onsite_failed",
                        "not_fast_tracked_entered_onsite", "not_fast_tracked_onsite_passed", "not_fast_tracked_onsite_failed"]
    per_role["fast_tracked_onsite_pass_rate"] = ratio(per_role["fast_tracked_onsite_passed"],
                                                      per_role["fast_tracked_onsite_passed"] + per_role["fast_tracked_onsite_failed"])
    per_role["not_fast_tracked_onsite_pass_rate"] = ratio(
        per_role["not_fast_tracked_onsite_passed"], per_role["not_fast_tracked_onsite_passed"] + per_role["not_fast_tracked_onsite_failed"])
    ss = ss.join(per_role, on="role").sort_values(["role", "stage_order"], ignore_index=True)
    ss = ss[["role", "stage", "stage_order", "pipeline_order", "applications", "entered", "skipped_explicit",
             "skipped_implied", "skipped", "skip_rate", "skippers_entered_onsite", "skippers_onsite_passed",
             "skippers_onsite_failed", "skippers_onsite_pass_rate", "skippers_hired", "enterers_entered_onsite",
             "enterers_onsite_passed", "enterers_onsite_failed", "enterers_onsite_pass_rate", "enterers_hired",
             "fast_tracked", "fast_tracked_onsite_passed", "fast_tracked_onsite_failed", "fast_tracked_onsite_pass_rate",
             "not_fast_tracked_entered_onsite", "not_fast_tracked_onsite_passed", "not_fast_tracked_onsite_failed",
             "not_fast_tracked_onsite_pass_rate"]]

    # team_matching_dropoff
    rows = []
    for role in config.roles.values():
        if "team_matching" not in role.pipeline:
            continue
        members = apps[apps["role"] == role.name]
        if members.empty:
            continue
        final_eval = role.pipeline[role.pipeline.index("team_matching") - 1] if role.pipeline.index("team_matching") > 0 else None
        at = {st: latest[latest["stage"] == st].set_index("application_id").reindex(members.index)
              for st in (final_eval, "team_matching", "offer") if st is not None}
        fe = at.get(final_eval)
        tm, offer = at["team_matching"], at["offer"]
        cleared = tm["outcome"].notna()
        if fe is not None:
            cleared |= fe["outcome"] == "passed"
        status = tm["outcome"].where(cleared)
        matched = status == "passed"
        in_matching = status == "in_progress"
        stalled = in_matching & ((as_of - tm["occurred_at"]) > pd.Timedelta(days=config.team_matching_stall_days))
        decided_fe = fe["outcome"].isin(["passed", "failed", "withdrew"]) if fe is not None else pd.Series(False, index=members.index)
        timed = matched & decided_fe
        days = days_between(fe["occurred_at"][timed], tm["occurred_at"][timed]) if timed.any() else pd.Series(dtype=float)
        n = {k: int(v.sum()) for k, v in {
            "cleared": cleared, "matched": matched, "unmatched": status == "failed", "withdrew": status == "withdrew",
            "in_matching": in_matching, "stalled": stalled, "awaiting": cleared & tm["outcome"].isna(),
            "skipped": status == "skipped",
            "offer_extended": matched & offer["outcome"].notna() & (offer["outcome"] != "skipped"),
            "offer_accepted": matched & (offer["outcome"] == "passed"),
        }.items()}
        lost = n["unmatched"] + n["withdrew"]
        rows.append({
            "role": role.name, "final_evaluation_stage": final_eval, "as_of": as_of,
            "team_matching_stall_days": config.team_matching_stall_days, "applications": len(members), **n,
            "dropoff_rate": lost / (lost + n["matched"]) if lost + n["matched"] else math.nan,
            "median_days_to_match": float(days.median()) if len(days) else math.nan, "timed_matches": int(timed.sum()),
        })
    tmd = pd.DataFrame(rows).sort_values("role", ignore_index=True) if rows else pd.DataFrame()
    return {"stage_pass_rates": spr, "skipped_stages": ss, "team_matching_dropoff": tmd}


def run(landing: Path, config: Config) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    t0 = time.perf_counter()
    stage_rows = read_feed(landing, STAGE_OUTCOMES)
    interview_rows = read_feed(landing, INTERVIEWS)
    t1 = time.perf_counter()
    records = clean(stage_rows, STAGE_OUTCOMES, config)
    clean(interview_rows, INTERVIEWS, config)  # read and cleaned like the analyst would; these marts do not use it
    t2 = time.perf_counter()
    tables = compute(records, config)
    t3 = time.perf_counter()
    return tables, {"read_s": t1 - t0, "clean_s": t2 - t1, "compute_s": t3 - t2, "total_s": t3 - t0,
                    "records": len(records)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pandas_baseline")
    parser.add_argument("landing", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--config", type=Path)
    args = parser.parse_args(argv)
    tables, timings = run(args.landing, load_config(args.config) if args.config else default_config())
    args.out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(args.out / f"{name}.parquet", index=False)
    print(json.dumps(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
