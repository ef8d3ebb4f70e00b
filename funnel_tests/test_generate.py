"""The synthetic data generator: determinism, formats, contract columns, realism, dirty rows, and the
demographics feed with its designed disparity."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

import funnel.generate as gen
from funnel.config import default_config, parse_config
from funnel.contract import (
    BOOLEAN_FALSE, BOOLEAN_TRUE, DEMOGRAPHIC_CATEGORIES, DEMOGRAPHIC_UNKNOWN, DEMOGRAPHICS, INTERVIEWS, OUTCOMES,
    RECOMMENDATIONS, STAGE_OUTCOMES,
)  # fmt: skip
from funnel.generate import GenerateSummary, generate
from funnel_tests.conftest import generated_warehouse

APPLICATIONS, SEED = 2000, 11
CONFIG = default_config()
FEED_OF = {STAGE_OUTCOMES.name: STAGE_OUTCOMES, INTERVIEWS.name: INTERVIEWS, DEMOGRAPHICS.name: DEMOGRAPHICS}
DIRTY_COUNT = {"stage_outcomes": "dirty_stage_events", "interviews": "dirty_interview_rows",
               "demographics": "dirty_demographic_rows"}  # fmt: skip
PLAUSIBLE = (datetime(2000, 1, 1, tzinfo=timezone.utc), datetime.now(timezone.utc) + timedelta(days=1))


def read_text(path: Path) -> pl.DataFrame:
    """A landing file with every column as text (timestamps of Parquet as ISO-8601 UTC)."""
    if path.suffix == ".csv":
        return pl.read_csv(path, infer_schema=False)
    frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_ndjson(path, infer_schema_length=None)
    return frame.select(
        pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(t, pl.Datetime) else pl.col(c).cast(pl.String)
        for c, t in frame.schema.items()
    )


def parse_time(text: str | None) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    landing = tmp_path_factory.mktemp("landing")
    lines: list[str] = []
    summary = generate(landing, APPLICATIONS, SEED, CONFIG, progress=lines.append)
    frames = {}
    for feed in FEED_OF:
        parts = [
            read_text(landing / rel).with_columns(file=pl.lit(rel))
            for rel in summary.files
            if rel.startswith(feed + "/")
        ]
        frames[feed] = pl.concat(parts)
    return landing, summary, lines, frames


def normalize(value: str | None) -> str | None:
    """A demographic value as the contract normalizes it (trimmed, lower-cased, runs of spaces, hyphens and
    punctuation as one `_`); None when empty or one of DEMOGRAPHIC_UNKNOWN (unknown)."""
    key = re.sub(r"[\s\W_]+", "_", (value or "").strip().lower()).strip("_")
    return None if key in ("", *DEMOGRAPHIC_UNKNOWN) else key


def reasons(frame: pl.DataFrame, feed_name: str) -> list[str | None]:
    """The contract reason of each row (the first that applies), None for a clean row."""
    feed = FEED_OF[feed_name]
    ts = feed.timestamp_column
    allowed = {"role": set(CONFIG.roles), "stage": set(CONFIG.stages), "outcome": set(OUTCOMES),
               "skill": set(CONFIG.skills), "recommendation": set(RECOMMENDATIONS)}  # fmt: skip
    checks = [("unknown_" + c, c) for c in ("role", "stage", "outcome", "skill", "recommendation") if c in feed.columns]
    categories = [c for c in DEMOGRAPHIC_CATEGORIES if c in feed.columns]
    rows = frame.select(feed.columns).rows(named=True)
    seen: dict[object, tuple] = {}
    out: list[str | None] = []
    for row in rows:
        reason = None
        when = parse_time(row[ts])
        if any(row[c] in (None, "") for c in feed.required):
            reason = "missing_required"
        elif row[ts] not in (None, "") and when is None:  # an optional timestamp (demographics) may be empty
            reason = "bad_timestamp"
        elif when is not None and not PLAUSIBLE[0] <= when <= PLAUSIBLE[1]:
            reason = "implausible_timestamp"
        elif any(normalize(row[c]) not in (None, *DEMOGRAPHIC_CATEGORIES[c]) for c in categories):
            reason = "unknown_category"
        else:
            reason = next((code for code, col in checks if row[col] not in allowed[col]), None)
        if reason is None and feed.id_column is None:  # a record is its identity: candidate and collected_at
            content = tuple(normalize(row[c]) for c in categories)
            if seen.setdefault((row["candidate_id"], when), content) != content:
                reason = "conflicting_duplicate"
        elif reason is None and row[feed.id_column]:
            content = tuple(row.values())
            first = seen.setdefault(row[feed.id_column], content)
            if first != content:
                reason = "conflicting_duplicate"
        out.append(reason)
    return out


def clean(frame: pl.DataFrame, feed_name: str) -> pl.DataFrame:
    """The rows the ingestion keeps: valid, and without the exact copies of the re-exports; `ts` parsed."""
    feed = FEED_OF[feed_name]
    kept = frame.filter(pl.Series([r is None for r in reasons(frame, feed_name)]))
    kept = kept.unique(subset=list(feed.columns), keep="first", maintain_order=True)
    times = [parse_time(t) for t in kept[feed.timestamp_column]]
    return kept.with_columns(ts=pl.Series(times, dtype=pl.Datetime("us", "UTC")))


def test_summary_counts_match_the_files(dataset):
    landing, summary, lines, frames = dataset
    assert isinstance(summary, GenerateSummary)
    assert summary.applications == APPLICATIONS
    assert summary.stage_events == frames["stage_outcomes"].height
    assert summary.interview_rows == frames["interviews"].height
    assert summary.demographic_rows == frames["demographics"].height
    written = sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file())
    assert written == sorted(summary.files)
    assert len(lines) == len(summary.files) + 1
    assert any(line.startswith("wrote stage_outcomes/") and "rows" in line for line in lines)
    # Roughly 3.4 stage events and 0.37 interview rows per application (see the module docstring).
    assert 3.0 < summary.stage_events / APPLICATIONS < 4.0
    assert 0.2 < summary.interview_rows / APPLICATIONS < 0.6
    assert 0.85 < summary.demographic_rows / APPLICATIONS < 1.0  # one response per candidate, most of them


def test_same_inputs_give_identical_bytes_and_another_seed_differs(tmp_path):
    def run(name: str, seed: int) -> dict[str, bytes]:
        root = tmp_path / name
        summary = generate(root, 700, seed, CONFIG)
        return {rel: (root / rel).read_bytes() for rel in summary.files}

    first, again, other = run("a", 5), run("b", 5), run("c", 6)
    assert first == again
    assert len(first) >= 6
    assert first.keys() != other.keys() or any(first[k] != other[k] for k in first)
    shared = set(first) & set(other)
    assert all(first[k] != other[k] for k in shared)


def test_every_format_nested_folders_and_contract_columns(dataset):
    landing, summary, _, _ = dataset
    for feed_name, feed in FEED_OF.items():
        paths = [landing / rel for rel in summary.files if rel.startswith(feed_name + "/")]
        assert {p.suffix for p in paths} == {".csv", ".parquet", ".jsonl"}
        assert all(len(p.relative_to(landing / feed_name).parts) == 2 for p in paths)  # <year or reexports>/<file>
        for path in paths:
            frame = pl.read_parquet(path) if path.suffix == ".parquet" else read_text(path)
            assert tuple(frame.columns) == feed.columns, path
            assert frame.height > 0
            if path.suffix == ".parquet":
                assert frame.schema[feed.timestamp_column] == pl.Datetime("us", "UTC")
                if feed is STAGE_OUTCOMES:
                    assert frame.schema["requires_travel"] == pl.Boolean
            if path.suffix == ".jsonl" and feed is STAGE_OUTCOMES:
                first = pl.read_ndjson(path, infer_schema_length=None)
                assert first.schema["requires_travel"] == pl.Boolean


def test_text_timestamps_mix_offsets_and_booleans_mix_spellings(dataset):
    _, _, _, frames = dataset
    so = frames["stage_outcomes"]
    text = so.filter(~pl.col("file").str.ends_with(".parquet"))
    suffixes = Counter(
        "Z" if t.endswith("Z") else t[19:] if len(t) > 19 else "naive"
        for t in text["occurred_at"].drop_nulls()
        if parse_time(t) is not None
    )
    assert {"Z", "naive", "-05:00", "+02:00", "+05:30"} <= set(suffixes)
    assert 0.05 < suffixes["naive"] / sum(suffixes.values()) < 0.2
    csv_flags = so.filter(pl.col("file").str.ends_with(".csv"))["requires_travel"]
    assert set(csv_flags.drop_nulls()) == {"true", "false", "yes", "no", "1", "0"}
    assert set(csv_flags.drop_nulls()) <= set(BOOLEAN_TRUE) | set(BOOLEAN_FALSE)
    assert 0.02 < csv_flags.null_count() / len(csv_flags) < 0.1
    ids = so["event_id"]
    assert 0.05 < ids.null_count() / len(ids) < 0.15


def test_every_outcome_role_stage_skill_and_recommendation_appears(dataset):
    _, _, _, frames = dataset
    so = clean(frames["stage_outcomes"], "stage_outcomes")
    iv = clean(frames["interviews"], "interviews")
    assert set(so["outcome"]) == set(OUTCOMES)
    assert set(so["role"]) == set(CONFIG.roles)
    assert set(so["stage"]) == set(CONFIG.stages)
    assert set(so["source"].drop_nulls()) >= {"referral", "job_board", "recruiter_outreach", "university"}
    assert set(so["level"].drop_nulls()) == {"L3", "L4", "L5", "L6"}
    assert set(iv["recommendation"]) == set(RECOMMENDATIONS)
    assert set(iv["skill"]) == set(CONFIG.skills)
    stages = Counter(iv["stage"])
    assert set(stages) == {"onsite", "technical_screen"}
    assert stages["technical_screen"] < 0.1 * stages["onsite"]


@pytest.mark.parametrize("feed_name", ["stage_outcomes", "interviews", "demographics"])
def test_every_quarantine_reason_appears_at_about_one_percent(dataset, feed_name):
    _, summary, _, frames = dataset
    found = Counter(r for r in reasons(frames[feed_name], feed_name) if r is not None)
    assert set(found) == set(FEED_OF[feed_name].reasons)
    dirty = sum(found.values())
    assert dirty == getattr(summary, DIRTY_COUNT[feed_name])
    assert 0.003 <= dirty / frames[feed_name].height <= 0.03
    # The specific corruptions the brief names.
    frame = frames[feed_name]
    if feed_name == "stage_outcomes":
        assert frame.filter(pl.col("application_id").is_null()).height > 0
        assert frame.filter(pl.col("outcome").is_null()).height > 0
        assert frame.filter(pl.col("occurred_at").is_in(["2025-13-45", "not a date"])).height > 0
        assert "onsight" in set(frame["stage"]) or "phone_screen" in set(frame["stage"])
    if feed_name == "demographics":
        assert frame.filter(pl.col("candidate_id").is_null()).height > 0
    placeholders = ["9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]
    assert frame.filter(pl.col(FEED_OF[feed_name].timestamp_column).is_in(placeholders)).height > 0


def test_export_overlap_repeats_rows_of_another_file_exactly(dataset):
    landing, summary, _, frames = dataset
    overlaps = [rel for rel in summary.files if "/reexports/" in rel]
    assert {rel.split("/")[0] for rel in overlaps} == set(FEED_OF)
    total = 0
    for rel in overlaps:
        feed, _, name = rel.split("/")
        source = f"{feed}/{name[:4]}/{name}"
        assert source in summary.files
        repeated, original = read_text(landing / rel), read_text(landing / source)
        assert repeated.height >= 1
        assert repeated.join(original, on=list(repeated.columns), how="anti", nulls_equal=True).height == 0
        if not name.endswith(".parquet"):  # the very same lines of text
            lines = (landing / rel).read_bytes().splitlines()
            assert set(lines) <= set((landing / source).read_bytes().splitlines())
        total += repeated.height
    assert total == summary.duplicate_rows
    # Those are the only exact duplicates in the data.
    copies = sum(frame.height - frame.drop("file").unique().height for frame in frames.values())
    assert copies == summary.duplicate_rows


def test_timestamps_span_a_year_or_more_and_end_at_the_seeded_date(dataset):
    _, summary, _, frames = dataset
    so = clean(frames["stage_outcomes"], "stage_outcomes")
    iv = clean(frames["interviews"], "interviews")
    assert summary.ends_at is not None
    assert so["ts"].max() <= summary.ends_at and iv["ts"].max() <= summary.ends_at
    assert summary.ends_at - so["ts"].max() < timedelta(days=2)
    span = so["ts"].max() - so["ts"].min()
    assert timedelta(days=360) <= span <= timedelta(days=560)
    assert gen._timeline(10, SEED)[0] == summary.ends_at  # derived from the seed, not the clock


def test_applications_walk_their_pipeline_in_order(dataset):
    _, _, _, frames = dataset
    so = clean(frames["stage_outcomes"], "stage_outcomes").sort("application_id", "ts")
    by_app = defaultdict(list)
    for app, role, stage, outcome, travel in so.select("application_id", "role", "stage", "outcome", "requires_travel").iter_rows():
        by_app[app].append((role, stage, outcome, travel))
    assert len(by_app) > 0.95 * APPLICATIONS
    terminal = Counter()
    for app, rows in by_app.items():
        roles = {r for r, _, _, _ in rows}
        assert len(roles) == 1, app
        pipeline = CONFIG.roles[roles.pop()].pipeline
        positions = [pipeline.index(s) for _, s, _, _ in rows]
        assert positions == sorted(positions), app
        # Nothing follows a failure except a correction (passed, same stage); nothing follows a withdrawal.
        for (_, stage, outcome, _), nxt in zip(rows, rows[1:]):
            assert outcome != "withdrew", app
            if outcome == "failed":
                assert nxt[1:3] == (stage, "passed"), app
        if rows[-1][2] in ("failed", "withdrew"):
            terminal[(rows[-1][1], rows[-1][2])] += 1
    # Most applications end at the review or the screens.
    ended_early = sum(n for (stage, _), n in terminal.items() if stage in ("application_review", "recruiter_screen"))
    assert ended_early > 0.6 * len(by_app)
    decided = so.filter(pl.col("outcome").is_in(["passed", "failed", "withdrew"]) & (pl.col("stage") == "application_review"))
    assert 0.25 < (decided["outcome"] == "passed").mean() < 0.45
    # A correction: failed, then passed later on the same stage.
    corrections = (
        so.group_by("application_id", "stage", maintain_order=True)
        .agg(pl.col("outcome").str.join(","))
        .filter(pl.col("outcome").str.contains("failed,passed"))
    )
    assert corrections.height > 0


def test_about_five_percent_of_candidates_apply_twice(dataset):
    _, _, _, frames = dataset
    so = clean(frames["stage_outcomes"], "stage_outcomes")
    per_candidate = so.group_by("candidate_id").agg(n=pl.col("application_id").n_unique())
    share = (per_candidate["n"] >= 2).mean()
    assert 0.02 < share < 0.09
    twice = per_candidate.filter(pl.col("n") >= 2)["candidate_id"]
    roles = so.filter(pl.col("candidate_id").is_in(twice.implode())).group_by("candidate_id").agg(pl.col("role").n_unique())
    assert (roles["role"] >= 2).any()


def test_travel_share_and_fast_tracked_applications_never_require_travel(dataset):
    _, _, _, frames = dataset
    so = clean(frames["stage_outcomes"], "stage_outcomes")
    flag = pl.col("requires_travel").str.to_lowercase()
    so = so.with_columns(travel=pl.when(flag.is_in(BOOLEAN_TRUE)).then(True).when(flag.is_in(BOOLEAN_FALSE)).then(False))
    per_app = so.group_by("application_id").agg(
        travel=pl.col("travel").drop_nulls().first(),
        stages=pl.col("stage").unique(),
        skipped=(pl.col("outcome") == "skipped").any(),
    )
    assert 0.2 < per_app["travel"].drop_nulls().mean() < 0.4
    fast = per_app.filter(
        pl.col("stages").list.contains("onsite")
        & (pl.col("skipped") | ~pl.col("stages").list.contains("recruiter_screen"))
    )
    assert fast.height >= 3
    assert fast["travel"].drop_nulls().len() > 0
    assert not fast["travel"].drop_nulls().any()
    assert fast["skipped"].any() and not fast["skipped"].all()  # explicit skips and implied ones
    skipped = so.filter(pl.col("outcome") == "skipped")
    assert set(skipped["stage"]) <= {"recruiter_screen", "technical_screen", "take_home"}
    # Travel candidates get extra screen rounds more often: a second in_progress on the screen stage.
    rounds = (
        so.filter((pl.col("stage") == "technical_screen") & (pl.col("outcome") == "in_progress"))
        .group_by("application_id")
        .agg(extra=pl.len() >= 2, travel=pl.col("travel").drop_nulls().first())
        .drop_nulls("travel")
    )
    by_travel = dict(rounds.group_by("travel").agg(pl.col("extra").mean()).iter_rows())
    assert by_travel[True] > 2 * by_travel[False]


def test_onsite_loops_have_four_or_five_interviewers_with_the_roles_skills(dataset):
    _, summary, _, frames = dataset
    so = clean(frames["stage_outcomes"], "stage_outcomes")
    iv = clean(frames["interviews"], "interviews")
    role_of = dict(so.select("application_id", "role").unique().iter_rows())
    loops = (
        iv.filter(pl.col("stage") == "onsite")
        .group_by("application_id")
        .agg(n=pl.col("interviewer_id").n_unique(), rows=pl.len(), skills=pl.col("skill"), last=pl.col("ts").max())
        # A loop on the data's last day may be cut short by the end of the data.
        .filter(pl.col("last") < summary.ends_at - timedelta(days=1))
        .drop("last")
    )
    assert loops.height > 50
    assert (loops["n"].is_in([4, 5])).mean() > 0.8
    assert loops["n"].min() >= 3 and loops["n"].max() <= 6
    assert (loops["n"] == loops["rows"]).all()  # interviewers in a loop are distinct
    covered = doubled = 0
    for app, _, _, skills in loops.iter_rows():
        role_skills = set(CONFIG.roles[role_of[app]].onsite_skills)
        assert set(skills) <= role_skills | set(CONFIG.extra_skills)
        covered += role_skills <= set(skills)
        doubled += len(skills) > len(set(skills))
    assert covered > 0.7 * loops.height and covered < loops.height  # sometimes a skill is missing
    assert doubled > 0
    # Recommendations follow the onsite decision.
    decision = dict(
        so.filter((pl.col("stage") == "onsite") & pl.col("outcome").is_in(["passed", "failed"]))
        .group_by("application_id")
        .agg(pl.col("outcome").first())
        .iter_rows()
    )
    positive = defaultdict(list)
    for app, rec in iv.filter(pl.col("stage") == "onsite").select("application_id", "recommendation").iter_rows():
        if app in decision:
            positive[decision[app]].append(rec in ("strong_yes", "yes"))
    assert sum(positive["passed"]) / len(positive["passed"]) > 0.7
    assert sum(positive["failed"]) / len(positive["failed"]) < 0.4
    # Interviews happen after the onsite started and before its decision.
    onsite = so.filter(pl.col("stage") == "onsite").group_by("application_id").agg(
        started=pl.col("ts").filter(pl.col("outcome") == "in_progress").min(),
        decided=pl.col("ts").filter(pl.col("outcome") != "in_progress").min(),
    )
    timed = iv.filter(pl.col("stage") == "onsite").join(onsite, on="application_id")
    assert timed.height > 0.97 * iv.filter(pl.col("stage") == "onsite").height  # some onsites lack an in_progress
    assert timed.filter((pl.col("ts") < pl.col("started")) | (pl.col("ts") > pl.col("decided"))).height == 0


def test_team_matching_and_offers(dataset):
    _, summary, _, frames = dataset
    so = clean(frames["stage_outcomes"], "stage_outcomes")
    outcomes = Counter(so.filter(pl.col("stage") == "team_matching")["outcome"])
    assert outcomes["passed"] > outcomes["failed"] + outcomes["withdrew"]
    offers = Counter(so.filter(pl.col("stage") == "offer")["outcome"])
    assert offers["passed"] > offers["withdrew"] + offers["failed"]
    assert offers["withdrew"] > 0
    assert not so.filter(pl.col("stage") == "team_matching")["role"].is_in(["research_scientist", "data_scientist"]).any()
    last = so.sort("ts").group_by("application_id").agg(pl.col("stage").last(), pl.col("outcome").last(), pl.col("ts").last())
    waiting = last.filter((pl.col("stage") == "team_matching") & (pl.col("outcome") == "in_progress"))
    assert waiting.height > 0
    stall = timedelta(days=CONFIG.team_matching_stall_days)
    assert (waiting["ts"] < summary.ends_at - stall).any()
    # Some applications are still in progress when the data ends.
    assert (last["outcome"] == "in_progress").sum() > 10


def test_large_months_split_into_parts_and_ids_stay_unique(tmp_path, monkeypatch):
    monkeypatch.setattr(gen, "MAX_APPLICATIONS_PER_FILE", 20)
    summary = generate(tmp_path, 400, 3, CONFIG)
    assert any("-part2." in rel for rel in summary.files)
    so = pl.concat([read_text(tmp_path / rel) for rel in summary.files if rel.startswith("stage_outcomes/")])
    assert so["application_id"].drop_nulls().n_unique() == 400
    ids = so["event_id"].drop_nulls()
    assert len(ids) - ids.n_unique() < 0.03 * len(ids)  # only the conflicting duplicates and the re-export


def test_zero_applications_and_a_custom_config(tmp_path):
    empty = generate(tmp_path / "empty", 0, 1, CONFIG)
    assert (empty.applications, empty.stage_events, empty.interview_rows, empty.files) == (0, 0, 0, [])
    assert empty.demographic_rows == 0
    config = parse_config(
        {
            "stages": ["applied", "phone", "onsite", "offer"],
            "roles": {
                "analyst": {"pipeline": ["applied", "offer"]},
                "engineer": {"pipeline": ["applied", "phone", "onsite", "offer"], "onsite_skills": ["coding", "design"]},
            },
        },
        "<test>",
    )
    summary = generate(tmp_path / "custom", 300, 2, config)
    so = pl.concat([read_text(tmp_path / "custom" / rel) for rel in summary.files if rel.startswith("stage_outcomes/")])
    iv = pl.concat([read_text(tmp_path / "custom" / rel) for rel in summary.files if rel.startswith("interviews/")])
    assert set(so["role"].drop_nulls()) >= {"analyst", "engineer"}
    assert set(so["stage"].drop_nulls()) >= {"applied", "phone", "onsite", "offer"}
    assert set(iv["skill"].drop_nulls()) >= {"coding", "design"}
    assert summary.stage_events == so.height


# ------------------------------------------------------------------------------------------------------------
# The demographics feed


def groups(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Each candidate's categories from their latest clean response (greatest collected_at, one without counting as
    the earliest; ties by reading order), normalized; None = unknown."""
    responses = clean(frames["demographics"], "demographics").with_row_index("read")
    latest = responses.sort(pl.col("ts").fill_null(datetime(1, 1, 1, tzinfo=timezone.utc)), "read").group_by(
        "candidate_id"
    ).last()
    return latest.select(
        "candidate_id", *(pl.col(c).map_elements(normalize, return_dtype=pl.String) for c in DEMOGRAPHIC_CATEGORIES)
    )


def decisions(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """adverse_impact's applicants: per application and stage, the latest clean record when it is passed or
    failed; with the candidate's groups (unknown: None)."""
    so = clean(frames["stage_outcomes"], "stage_outcomes").with_row_index("read")
    latest = so.sort("ts", "read").group_by("application_id", "stage").agg(
        pl.col("role").last(), pl.col("candidate_id").last(), pl.col("outcome").last()
    )
    decided = latest.filter(pl.col("outcome").is_in(["passed", "failed"]))
    return decided.join(groups(frames), on="candidate_id", how="left")


def rates(decided: pl.DataFrame, stage: str, column: str, min_applicants: int = 30) -> dict[str, tuple[int, float]]:
    """{known group: (applicants, selection rate)} at the stage, all roles together, groups of min_applicants or more."""
    table = (
        decided.filter((pl.col("stage") == stage) & pl.col(column).is_not_null())
        .group_by(column)
        .agg(n=pl.len(), rate=(pl.col("outcome") == "passed").mean())
        .filter(pl.col("n") >= min_applicants)
    )
    return {group: (n, rate) for group, n, rate in table.iter_rows()}


def test_demographics_feed_one_response_per_candidate_about_15_percent_unknown(dataset):
    _, summary, _, frames = dataset
    so = clean(frames["stage_outcomes"], "stage_outcomes")
    responses = clean(frames["demographics"], "demographics")
    assert responses["ts"].max() <= summary.ends_at and responses["ts"].min() >= so["ts"].min()
    applied = set(so["candidate_id"])
    assert set(responses["candidate_id"]) <= applied  # every response is from a candidate who applied
    told = groups(frames)
    per_candidate = pl.DataFrame({"candidate_id": sorted(applied)}).join(told, on="candidate_id", how="left")
    for column in ("sex", "race_ethnicity"):
        unknown = per_candidate[column].null_count() / per_candidate.height
        assert 0.10 < unknown < 0.20, column
        # every category shows up, the big ones in about their shares
        assert set(per_candidate[column].drop_nulls()) == set(DEMOGRAPHIC_CATEGORIES[column]), column
    sex = Counter(per_candidate["sex"].drop_nulls())
    assert 0.24 < sex["female"] / sum(sex.values()) < 0.36
    # some never respond (no row), some respond declining (a row with unknowns)
    never = len(applied - set(responses["candidate_id"])) / len(applied)
    assert 0.03 < never < 0.10
    declined = responses.filter(pl.all_horizontal(pl.col(c).map_elements(normalize, return_dtype=pl.String).is_null()
                                                  for c in DEMOGRAPHIC_CATEGORIES))
    assert declined.height > 0.03 * len(applied)
    # a few respond twice (collected_at tells which is later), and some rows have no collected_at
    answers = responses.group_by("candidate_id").agg(n=pl.len(), timed=pl.col("ts").is_not_null().sum())
    twice = answers.filter(pl.col("n") == 2)
    assert 0.01 * len(applied) < twice.height < 0.08 * len(applied)
    assert answers["n"].max() == 2
    assert (twice["timed"] >= 1).all()  # never two responses without collected_at
    assert 0.01 < responses["ts"].null_count() / responses.height < 0.08
    # the later of two responses says something else than the earlier (else why count the later)
    normalized = [pl.col(c).map_elements(normalize, return_dtype=pl.String) for c in DEMOGRAPHIC_CATEGORIES]
    answers = responses.filter(pl.col("candidate_id").is_in(twice["candidate_id"].implode()))
    changed = answers.group_by("candidate_id").agg(pl.struct(*normalized).n_unique().alias("different"))
    assert (changed["different"] == 2).all()


def test_demographic_values_are_ats_spellings_of_contract_categories(dataset):
    _, _, _, frames = dataset
    frame = frames["demographics"]
    why = reasons(frame, "demographics")
    unknown_category = frame.filter(pl.Series([r == "unknown_category" for r in why]))
    others = frame.filter(pl.Series([r != "unknown_category" for r in why]))
    spelled = Counter()
    for column, categories in DEMOGRAPHIC_CATEGORIES.items():
        values = others[column].to_list()
        # every value normalizes to a category or to unknown (the rule applied by hand, as documented)
        assert {normalize(v) for v in values} <= {None, *categories}, column
        spelled.update(v for v in values if v is not None)
    # as an ATS displays them, sometimes as the key, upper-cased or padded; unknowns spelled several ways
    for text in ("Female", "Male", "Black or African American", "Hispanic or Latino", "Two or More Races", "Asian",
                 "White", "Not Protected Veteran", "Decline To Self Identify", "I don't wish to answer", "Unknown",
                 "black_or_african_american", "FEMALE", " White "):  # fmt: skip
        assert spelled[text] > 0, text
    assert spelled["Female"] > spelled["female"]
    assert others["sex"].null_count() > 0  # empty is unknown too
    # the unknown_category rows: a value no category or unknown normalizes from
    bad = {value for _, value in gen.BAD_CATEGORIES}
    assert unknown_category.height > 0
    for row in unknown_category.select(*DEMOGRAPHIC_CATEGORIES).iter_rows():
        assert len(bad & set(row)) == 1


def test_the_designed_disparity_is_at_one_stage_only(dataset):
    """Women pass the designed stage at under 4/5 of the best group's rate; every other stage treats them
    alike (within 4/5 of the best)."""
    _, _, _, frames = dataset
    decided = decisions(frames)
    stage, column, group = gen.DISPARITY_STAGE, gen.DISPARITY_COLUMN, gen.DISPARITY_GROUP
    assert (stage, column, group) == ("recruiter_screen", "sex", "female")
    at_stage = rates(decided, stage, column)
    n, rate = at_stage[group]
    best = max(r for _, r in at_stage.values())
    assert n >= 100
    assert rate < 0.8 * best
    assert rate < 0.7 * at_stage["male"][1]  # clearly lower: about half
    for other in ("application_review", "technical_screen"):  # the stages before and after, with 30+ women
        elsewhere = rates(decided, other, column)
        n, rate = elsewhere[group]
        assert n >= 30, other
        assert rate >= 0.8 * max(r for _, r in elsewhere.values()), other
    # race/ethnicity: no designed disparity anywhere, the largest groups alike at the designed stage too
    for other in ("application_review", stage):
        by_race = rates(decided, other, "race_ethnicity", min_applicants=150)
        assert len(by_race) >= 2
        assert min(r for _, r in by_race.values()) >= 0.8 * max(r for _, r in by_race.values()), other


def test_without_the_designed_shift_the_stage_treats_everyone_alike(tmp_path, monkeypatch):
    """The disparity is the shift alone: set to 0, the designed stage passes women at the men's rate, and the
    other feeds do not depend on the demographics at all (the same seed, the same events, wherever the shift
    does not apply)."""
    monkeypatch.setattr(gen, "DISPARITY_SHIFT", 0.0)
    summary = generate(tmp_path, APPLICATIONS, SEED, CONFIG)
    frames = {
        feed: pl.concat([read_text(tmp_path / rel) for rel in summary.files if rel.startswith(feed + "/")])
        for feed in FEED_OF
    }
    at_stage = rates(decisions(frames), gen.DISPARITY_STAGE, gen.DISPARITY_COLUMN)
    assert at_stage["female"][1] >= 0.8 * max(r for _, r in at_stage.values())
    # the demographics feed itself does not depend on the shift
    monkeypatch.setattr(gen, "DISPARITY_SHIFT", -1.2)
    again = generate(tmp_path / "again", 300, SEED, CONFIG)
    monkeypatch.setattr(gen, "DISPARITY_SHIFT", 0.0)
    shifted = generate(tmp_path / "shifted", 300, SEED, CONFIG)
    for rel in again.files:
        if rel.startswith("demographics/"):
            assert (tmp_path / "again" / rel).read_bytes() == (tmp_path / "shifted" / rel).read_bytes(), rel


def test_demographics_are_candidate_traits():
    """The same candidate gets the same categories whatever the chunk or seed stream it is drawn in."""
    candidates = np.arange(50_000)
    for column, shares in gen.DEMOGRAPHIC_SHARES.items():
        assert len(shares) == len(DEMOGRAPHIC_CATEGORIES[column]) and sum(shares) == pytest.approx(1.0), column
        codes = gen._trait(candidates, 7, column)
        assert (gen._trait(candidates[::-1], 7, column) == codes[::-1]).all()
        observed = np.bincount(codes, minlength=len(shares)) / len(candidates)
        assert np.abs(observed - np.array(shares)).max() < 0.01, column
        assert (gen._trait(candidates, 8, column) != codes).any()  # another seed, other people



def test_the_demo_warehouse_flags_the_designed_stage_and_no_other(tmp_path):
    """End to end on the demo (`make run`: 2,000 applications, seed 7): ingested (the dirty demographics rows
    quarantined, one per reason) and built, adverse_impact flags women at the designed stage (four-fifths and
    p < 0.05) and flags no sex group at any other stage."""
    path = generated_warehouse(tmp_path, 2000, 7, "demo")
    conn = duckdb.connect(str(path), read_only=True)
    try:
        quarantined = dict(conn.execute(
            "SELECT reason, count(*) FROM quarantined_rows WHERE feed = 'demographics' GROUP BY reason"
        ).fetchall())  # fmt: skip
        read, accepted = conn.execute(
            "SELECT sum(rows_read), sum(rows_accepted) FROM landing_files WHERE feed = 'demographics'"
        ).fetchone()
        flagged = conn.execute(
            "SELECT role, step, group_name, p_value FROM adverse_impact "
            "WHERE dimension = 'sex' AND four_fifths_flag AND significant AND step <> 'overall'"
        ).fetchall()
        known = conn.execute("SELECT count(sex), count(race_ethnicity), count(*) FROM int_candidate_demographics").fetchone()
    finally:
        conn.close()
    assert set(quarantined) == set(DEMOGRAPHICS.reasons)
    assert accepted > 0.95 * read
    assert {step for _, step, _, _ in flagged} == {gen.DISPARITY_STAGE}
    assert {group for _, _, group, _ in flagged} == {gen.DISPARITY_GROUP}
    assert len(flagged) >= 2 and min(p for *_, p in flagged) < 0.001
    assert known[0] < known[2] and known[1] < known[2]  # responses declining a question are unknown there
