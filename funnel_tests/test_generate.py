"""The synthetic data generator: determinism, formats, contract columns, realism and dirty rows."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

import funnel.generate as gen
from funnel.config import default_config, parse_config
from funnel.contract import BOOLEAN_FALSE, BOOLEAN_TRUE, INTERVIEWS, OUTCOMES, RECOMMENDATIONS, STAGE_OUTCOMES
from funnel.generate import GenerateSummary, generate

APPLICATIONS, SEED = 2000, 11
CONFIG = default_config()
FEED_OF = {STAGE_OUTCOMES.name: STAGE_OUTCOMES, INTERVIEWS.name: INTERVIEWS}
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


def reasons(frame: pl.DataFrame, feed_name: str) -> list[str | None]:
    """The contract reason of each row (the first that applies), None for a clean row."""
    feed = FEED_OF[feed_name]
    allowed = {"role": set(CONFIG.roles), "stage": set(CONFIG.stages), "outcome": set(OUTCOMES),
               "skill": set(CONFIG.skills), "recommendation": set(RECOMMENDATIONS)}  # fmt: skip
    checks = [("unknown_" + c, c) for c in ("role", "stage", "outcome", "skill", "recommendation") if c in feed.columns]
    rows = frame.select(feed.columns).rows(named=True)
    seen: dict[str, tuple] = {}
    out: list[str | None] = []
    for row in rows:
        reason = None
        if any(row[c] in (None, "") for c in feed.required):
            reason = "missing_required"
        elif parse_time(row["occurred_at"]) is None:
            reason = "bad_timestamp"
        elif not PLAUSIBLE[0] <= parse_time(row["occurred_at"]) <= PLAUSIBLE[1]:
            reason = "implausible_timestamp"
        else:
            reason = next((code for code, col in checks if row[col] not in allowed[col]), None)
        if reason is None and row[feed.id_column]:
            content = tuple(row.values())
            first = seen.setdefault(row[feed.id_column], content)
            if first != content:
                reason = "conflicting_duplicate"
        out.append(reason)
    return out


def clean(frame: pl.DataFrame, feed_name: str) -> pl.DataFrame:
    """The rows the ingestion keeps: valid, and without the exact copies of the re-exports; `ts` parsed."""
    kept = frame.filter(pl.Series([r is None for r in reasons(frame, feed_name)]))
    kept = kept.unique(subset=list(FEED_OF[feed_name].columns), keep="first", maintain_order=True)
    return kept.with_columns(ts=pl.Series([parse_time(t) for t in kept["occurred_at"]], dtype=pl.Datetime("us", "UTC")))


def test_summary_counts_match_the_files(dataset):
    landing, summary, lines, frames = dataset
    assert isinstance(summary, GenerateSummary)
    assert summary.applications == APPLICATIONS
    assert summary.stage_events == frames["stage_outcomes"].height
    assert summary.interview_rows == frames["interviews"].height
    written = sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file())
    assert written == sorted(summary.files)
    assert len(lines) == len(summary.files) + 1
    assert any(line.startswith("wrote stage_outcomes/") and "rows" in line for line in lines)
    # Roughly 3.4 stage events and 0.37 interview rows per application (see the module docstring).
    assert 3.0 < summary.stage_events / APPLICATIONS < 4.0
    assert 0.2 < summary.interview_rows / APPLICATIONS < 0.6


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
                assert frame.schema["occurred_at"] == pl.Datetime("us", "UTC")
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


@pytest.mark.parametrize("feed_name", ["stage_outcomes", "interviews"])
def test_every_quarantine_reason_appears_at_about_one_percent(dataset, feed_name):
    _, summary, _, frames = dataset
    found = Counter(r for r in reasons(frames[feed_name], feed_name) if r is not None)
    assert set(found) == set(FEED_OF[feed_name].reasons)
    dirty = sum(found.values())
    expected = summary.dirty_stage_events if feed_name == "stage_outcomes" else summary.dirty_interview_rows
    assert dirty == expected
    assert 0.003 <= dirty / frames[feed_name].height <= 0.03
    # The specific corruptions the brief names.
    frame = frames[feed_name]
    if feed_name == "stage_outcomes":
        assert frame.filter(pl.col("application_id").is_null()).height > 0
        assert frame.filter(pl.col("outcome").is_null()).height > 0
        assert frame.filter(pl.col("occurred_at").is_in(["2025-13-45", "not a date"])).height > 0
        assert "onsight" in set(frame["stage"]) or "phone_screen" in set(frame["stage"])
    assert frame.filter(pl.col("occurred_at").is_in(["9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z"])).height > 0


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
