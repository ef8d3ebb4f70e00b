"""The synthetic funnel written as Fivetran's Greenhouse connector syncs it (`funnel generate --shape
greenhouse`), with the matching `sources.greenhouse` block.

`write_tables(landing_dir, stage_events, interviews, config)` turns contract-shaped events (the frames
`funnel generate` writes; rows the contract would quarantine are dropped, duplicates kept once) into
Greenhouse's tables under `landing_dir` (landing/greenhouse/) and returns the block.

How the contract's events become Greenhouse's (`expressible(stage_events, config)` gives the same
funnel back as contract events, as Greenhouse can express it; docs/sources.md lists the limits):

- one job per role (`4001`, `4002`, ...), its stages the role's pipeline (and any other stage its
  events or interviews reach) in catalog order, plus an unmapped "Reference Check" before the offer;
- an application's history: `active` when it enters a stage; a pass is a move, so `passed` at P and
  the next stage's `in_progress` become one `active` row at the time of the pass (a pass with
  nothing after it moves the application to the next stage of its pipeline); `rejected` for a
  failure or a withdrawal (the application's rejection reason says which: the last one decides,
  an application no longer rejected has none, so "unspecified" = failed); `hired` for a pass at the
  last stage of the pipeline, with an `accepted` offer; a declined offer is a `rejected` offer and a
  rejection. Explicit `skipped` records are dropped (they become implied skips);
- applications of the first tenth of the period that never got past the second stage have no
  history (history exists only from the day the webhooks were set up): the application's own
  columns say the same;
- scorecards from the interviews (an `interview` per job, stage and skill); team and level are not
  written (Greenhouse has neither), the source is the application's, requires_travel a custom field
  `custom_requires_travel`.

Greenhouse's own dirt, none of which reaches the marts: deleted applications (with their history
and a scorecard) and deleted scorecards, prospects, a converted prospect application, merged
candidates (an application under the old candidate id), and applications at the unmapped
"Reference Check" stage (quarantined as unknown_stage).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from funnel.config import Config
from funnel.contract import OUTCOMES, RECOMMENDATIONS, STAGE_OUTCOMES

STAGE_TITLES = {
    "application_review": "Application Review",
    "recruiter_screen": "Phone Screen",
    "technical_screen": "Technical Interview",
    "take_home": "Take Home Test",
    "onsite": "Face to Face",
    "hiring_committee": "Hiring Committee",
    "team_matching": "Team Matching",
    "offer": "Offer",
}
ROLE_TITLES = {
    "ml_engineer": "Machine Learning Engineer",
    "software_engineer": "Software Engineer",
    "research_scientist": "Research Scientist, LLMs",
    "data_scientist": "Data Scientist",
}
SKILL_TITLES = {"ml_theory": "ML Theory", "ml_system_design": "ML System Design"}
UNMAPPED_STAGE = "Reference Check"
# The team-matching stage of the first job that has one is named so, and mapped by a job_stages override.
OVERRIDE_NAME = "Team Selection"
TRAVEL_COLUMN = "custom_requires_travel"
# Greenhouse's scorecard recommendations, from the contract's.
GH_RECOMMENDATION = {"strong_no": "definitely_not", "no": "no", "yes": "yes", "strong_yes": "strong_yes",
                     "no_decision": "no_decision"}
# rejection_reason rows: id, name, type_id, type_name.
REASONS = (
    (101, "Lacking skill(s)/qualification(s)", 1, "We rejected them"),
    (102, "Candidate withdrew", 2, "They rejected us"),
    (103, "Offer declined", 2, "They rejected us"),
    (104, "Other (add notes below)", 3, "None specified"),
    (105, "Hired another candidate", 1, "We rejected them"),
)
HISTORY_LESS_SHARE = 0.10  # of the period: its first tenth has no history rows
JOB_ID, STAGE_ID, APP_ID, CAND_ID = 4001, 5_000_001, 40_000_001, 30_000_001
OFFER_ID, SCORECARD_ID, INTERVIEW_ID, USER_ID, SOURCE_ID = 6_000_001, 8_000_001, 7_000_001, 9_000_001, 4_000_101
TIME = "%Y-%m-%d %H:%M:%S%.3f"  # how Fivetran's CSV exports write a timestamp (UTC, no offset)


def _title(key: str, titles: dict[str, str]) -> str:
    return titles.get(key) or " ".join(w.upper() if len(w) <= 2 else w.capitalize() for w in key.split("_"))


def _unit(text: pl.Expr, salt: str) -> pl.Expr:
    """A stable pseudo-random number in [0, 1) from a text (no seed: the same input, the same output)."""
    return (pl.concat_str(pl.lit(salt), text).hash(seed=7) % 1_000_003) / 1_000_003


# ---------------------------------------------------------------------------------------------
# The contract's events, cleaned


def _utc(frame: pl.DataFrame, column: str) -> pl.Series:
    """A timestamp column as naive UTC datetimes: typed ones converted, text parsed as ingestion does."""
    series = frame[column]
    if isinstance(series.dtype, pl.Datetime):
        if series.dtype.time_zone is not None:
            series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return series.dt.cast_time_unit("us")
    conn = duckdb.connect(":memory:")
    try:
        conn.execute("SET TimeZone = 'UTC'")
        conn.register("t", pl.DataFrame({"v": series.cast(pl.String)}))
        parsed = conn.sql("SELECT try_cast(CASE WHEN trim(v) GLOB '[0-9]*' THEN trim(v) END AS TIMESTAMPTZ)"
                          " AT TIME ZONE 'UTC' AS v FROM t").pl()["v"]
    finally:
        conn.close()
    return parsed.dt.cast_time_unit("us")


def _clean_events(stage_events: pl.DataFrame, config: Config) -> pl.DataFrame:
    """The events the contract would accept, each once: app, cand, role, stage, outcome, t, source,
    travel, ord (reading order)."""
    text = {c: (stage_events[c].cast(pl.String).str.strip_chars() if c in stage_events.columns
                else pl.Series(c, [None] * stage_events.height, dtype=pl.String)) for c in STAGE_OUTCOMES.columns}
    travel = text["requires_travel"].str.to_lowercase()
    ev = pl.DataFrame({
        "event_id": text["event_id"], "app": text["application_id"], "cand": text["candidate_id"],
        "role": text["role"].str.to_lowercase(), "stage": text["stage"].str.to_lowercase(),
        "outcome": text["outcome"].str.to_lowercase(), "t": _utc(stage_events, "occurred_at"),
        "source": text["source"], "travel_text": travel,
    }).with_row_index("ord").with_columns(
        travel=pl.when(pl.col("travel_text").is_in(["true", "1", "yes", "t", "y"])).then(True)
        .when(pl.col("travel_text").is_in(["false", "0", "no", "f", "n"])).then(False).otherwise(None),
    ).drop("travel_text")
    earliest = config.earliest_timestamp
    ev = ev.filter(
        pl.col("app").is_not_null() & pl.col("cand").is_not_null() & pl.col("t").is_not_null()
        & pl.col("role").is_in(list(config.roles)) & pl.col("stage").is_in(list(config.stages))
        & pl.col("outcome").is_in(list(OUTCOMES)) & (pl.col("t") >= earliest)
        & (pl.col("t") < datetime(2200, 1, 1))
    )
    # An id read again: the first read is kept (an exact or a conflicting duplicate); then the same event twice.
    ev = pl.concat([ev.filter(pl.col("event_id").is_null()),
                    ev.filter(pl.col("event_id").is_not_null()).unique("event_id", keep="first")]).sort("ord")
    return ev.unique(["app", "stage", "outcome", "t"], keep="first", maintain_order=True)


# ---------------------------------------------------------------------------------------------
# The plan: jobs, stages, each application's history rows and offers


class _Plan:
    """What Greenhouse holds for the funnel: jobs and their stages, history rows, application
    attributes, offers; `events()` is what the derivation gives back from them."""

    def __init__(self, stage_events: pl.DataFrame, config: Config, interview_stages: pl.DataFrame | None = None):
        self.config = config
        ev = _clean_events(stage_events, config)
        # The application's role and candidate: its latest event's; source and travel: the latest stated.
        last = ev.sort(["app", "t", "ord"]).group_by("app", maintain_order=True).agg(
            pl.col("role").last(), pl.col("cand").last(),
            pl.col("source").drop_nulls().last(), pl.col("travel").drop_nulls().last(),
        )
        self.apps = last.sort("app").with_columns(gh_app=pl.int_range(pl.len()) + APP_ID)
        ev = ev.drop("role", "cand", "source", "travel").join(self.apps.select("app", "role"), on="app")
        self._jobs(ev, interview_stages)
        self._history(ev.filter(pl.col("outcome") != "skipped"))

    # jobs and stages ------------------------------------------------------------------------
    def _jobs(self, ev: pl.DataFrame, interview_stages: pl.DataFrame | None) -> None:
        config = self.config
        seen = ev.select("role", "stage")
        if interview_stages is not None and interview_stages.height:
            seen = pl.concat([seen, interview_stages.select("role", "stage")])
        observed = {(r, s) for r, s in seen.unique().iter_rows()}
        jobs, stages = [], []
        self.override: dict[str, dict[str, str]] = {}
        named_override = False
        stage_id = STAGE_ID
        for i, (name, role) in enumerate(config.roles.items()):
            job_id = JOB_ID + i
            jobs.append((job_id, name, _title(name, ROLE_TITLES)))
            keys = [s for s in config.stages if s in role.pipeline or (name, s) in observed]
            titled = []
            for key in keys:
                title = _title(key, STAGE_TITLES)
                if key == "team_matching" and not named_override:
                    title, named_override = OVERRIDE_NAME, True
                    self.override[str(job_id)] = {OVERRIDE_NAME: "team_matching"}
                titled.append((key, title))
            at = next((k for k, (key, _) in enumerate(titled) if key == "offer"), len(titled))
            titled.insert(at, (None, UNMAPPED_STAGE))
            for priority, (key, title) in enumerate(titled):
                stages.append((stage_id, job_id, name, key, title, priority))
                stage_id += 1
        self.jobs = pl.DataFrame(jobs, schema={"job_id": pl.Int64, "role": pl.String, "name": pl.String}, orient="row")
        self.stages = pl.DataFrame(stages, schema={"stage_id": pl.Int64, "job_id": pl.Int64, "role": pl.String,
                                                   "stage": pl.String, "name": pl.String, "rank": pl.Int64}, orient="row")
        nxt = []
        for name, role in config.roles.items():
            for a, b in zip(role.pipeline, role.pipeline[1:]):
                nxt.append((name, a, b))
        self.next_stage = pl.DataFrame(nxt, schema={"role": pl.String, "stage": pl.String, "next_pipeline": pl.String},
                                       orient="row")

    # history --------------------------------------------------------------------------------
    def _history(self, ev: pl.DataFrame) -> None:
        """History rows (app, t, ord, sub, kind, stage), offers and the applications' columns."""
        ev = ev.sort(["app", "t", "ord"]).join(self.next_stage, on=["role", "stage"], how="left")
        ev = ev.sort(["app", "t", "ord"]).with_columns(
            first=pl.int_range(pl.len()).over("app") == 0,
            prev_outcome=pl.col("outcome").shift(1).over("app"),
            prev_stage=pl.col("stage").shift(1).over("app"),
            next_stage=pl.col("stage").shift(-1).over("app"),
            last_outcome=pl.col("outcome").last().over("app"),
        )
        cols = ["app", "t", "ord", "sub", "kind", "stage", "outcome"]
        rows = [
            # An application's first event is not an entry: it entered the stage then.
            ev.filter(pl.col("first") & (pl.col("outcome") != "in_progress")).select(
                "app", "t", "ord", sub=pl.lit(0), kind=pl.lit("active"), stage="stage", outcome=pl.lit(None, pl.String)),
            # An entry, unless the pass just before (at another stage) moved the application here.
            ev.filter((pl.col("outcome") == "in_progress") & ~(
                (pl.col("prev_outcome") == "passed") & (pl.col("prev_stage") != pl.col("stage"))).fill_null(False)).select(
                "app", "t", "ord", sub=pl.lit(1), kind=pl.lit("active"), stage="stage", outcome=pl.lit(None, pl.String)),
            # A pass is a move to the next stage the application reached (or to its pipeline's next one);
            # at the end of the pipeline it is the hire.
            ev.filter(pl.col("outcome") == "passed").with_columns(
                target=pl.when(pl.col("next_stage").is_not_null() & (pl.col("next_stage") != pl.col("stage")))
                .then(pl.col("next_stage")).otherwise(pl.col("next_pipeline"))).select(
                "app", "t", "ord", sub=pl.lit(1),
                kind=pl.when(pl.col("target").is_null()).then(pl.lit("hired")).otherwise(pl.lit("active")),
                stage="target", outcome=pl.lit("passed")),
            ev.filter(pl.col("outcome").is_in(["failed", "withdrew"])).select(
                "app", "t", "ord", sub=pl.lit(1), kind=pl.lit("rejected"), stage=pl.lit(None, pl.String),
                outcome="outcome"),
        ]
        hist = pl.concat([r.select(cols) for r in rows]).sort(["app", "t", "ord", "sub"])
        self.history = hist.with_columns(seq=pl.int_range(pl.len()).over("app"))
        # The decision of each rejection: the application's reason is its last rejection's (if it ended rejected).
        final = self.history.group_by("app").agg(
            pl.col("kind").last().alias("final_kind"), pl.col("outcome").last().alias("final_outcome"),
            pl.col("t").first().alias("applied_at"), pl.col("t").last().alias("last_activity_at"),
            pl.col("stage").filter(pl.col("kind") == "active").last().alias("current_stage"),
        )
        offer_stage = self.history.filter((pl.col("kind") == "active") & (pl.col("stage") == "offer")).group_by("app").agg(
            pl.col("t").min().alias("offer_at"))
        apps = self.apps.join(final, on="app", how="inner").join(offer_stage, on="app", how="left")
        u = _unit(pl.col("app"), "reason")
        apps = apps.with_columns(
            status=pl.when(pl.col("final_kind") == "rejected").then(pl.lit("rejected"))
            .when(pl.col("final_kind") == "hired").then(pl.lit("hired")).otherwise(pl.lit("active")),
            reason_id=pl.when(pl.col("final_kind") != "rejected").then(None)
            .when(pl.col("final_outcome") == "withdrew")
            .then(pl.when(pl.col("current_stage") == "offer").then(pl.lit(103)).otherwise(pl.lit(102)))
            # a failure: mostly "We rejected them"; some "None specified" or no reason (unspecified = failed)
            .when(u < 0.08).then(pl.lit(104)).when(u < 0.12).then(None)
            .when(u < 0.30).then(pl.lit(105)).otherwise(pl.lit(101)),
        )
        self.apps = apps.sort("app")
        # Offers: every application that reached the offer stage has one; accepted when hired there,
        # rejected (declined) when its last decision withdrew there; otherwise unresolved.
        self.offers = apps.filter(pl.col("offer_at").is_not_null()).select(
            "app", "gh_app", "offer_at",
            status=pl.when((pl.col("status") == "hired") & (pl.col("current_stage") == "offer")).then(pl.lit("accepted"))
            .when((pl.col("status") == "rejected") & (pl.col("final_outcome") == "withdrew")
                  & (pl.col("current_stage") == "offer")).then(pl.lit("rejected"))
            .otherwise(pl.lit("unresolved")),
            resolved_at=pl.when(pl.col("status") != "active").then(pl.col("last_activity_at")),
        ).with_columns(resolved_at=pl.when(pl.col("status") == "unresolved").then(None).otherwise(pl.col("resolved_at")))
        # Without history: applications of the first tenth of the period that got no further than the
        # second stage, without an offer: the application's own columns derive the same events.
        t0, t1 = self.history["t"].min(), self.history["t"].max()
        cutoff = t0 + (t1 - t0) * HISTORY_LESS_SHARE if t0 is not None else None
        ranks = self.stages.select("role", "stage", "rank").drop_nulls("stage")
        shape = self.history.join(self.apps.select("app", "role"), on="app").join(ranks, on=["role", "stage"], how="left")
        pattern = shape.group_by("app").agg(
            pl.col("kind").alias("kinds"), pl.col("rank").alias("ranks"), pl.col("t").first().alias("start"))
        first_rank = ranks.group_by("role").agg(pl.col("rank").min().alias("first_rank"))
        pattern = pattern.join(self.apps.select("app", "role"), on="app").join(first_rank, on="role")
        k, r = pl.col("kinds"), pl.col("ranks")
        eligible = pattern.filter(
            (pl.col("start") < cutoff) & (k.list.first() == "active") & (r.list.first() == pl.col("first_rank"))
            & ((k.list.len() == 1)
               | ((k.list.len() == 2) & (k.list.get(1, null_on_oob=True) == "rejected"))
               | ((k.list.len() == 2) & (k.list.get(1, null_on_oob=True) == "active")
                  & (r.list.get(1, null_on_oob=True) > pl.col("first_rank"))))
        ).select("app")
        self.history_less = set(eligible["app"].to_list()) if cutoff is not None else set()

    def events(self) -> pl.DataFrame:
        """What the Greenhouse derivation makes of these rows (app, stage, outcome, t, kind), in the
        contract's terms: docs/sources.md's rules, for the rows this plan writes."""
        ranks = self.stages.select("role", "stage", "rank").drop_nulls("stage")
        h = self.history.join(self.apps.select("app", "role"), on="app").sort(["app", "seq"])
        h = h.with_columns(
            prev_active=pl.when(pl.col("kind") == "active").then(pl.col("stage")).shift(1).forward_fill().over("app"))
        h = (h.join(ranks, on=["role", "stage"], how="left")
             .join(ranks.rename({"stage": "prev_active", "rank": "prev_rank"}), on=["role", "prev_active"], how="left")
             .sort(["app", "seq"]))
        reject = self.apps.select(
            "app", reject_outcome=pl.when(pl.col("reason_id").is_in([102, 103])).then(pl.lit("withdrew"))
            .otherwise(pl.lit("failed")))
        h = h.join(reject, on="app").sort(["app", "seq"])
        active, hired = pl.col("kind") == "active", pl.col("kind") == "hired"
        parts = [
            h.filter(active).select("app", "seq", sub=pl.lit(0), stage="stage", outcome=pl.lit("in_progress"), t="t"),
            h.filter(active & pl.col("prev_active").is_not_null() & (pl.col("prev_active") != pl.col("stage"))
                     & (pl.col("rank") > pl.col("prev_rank"))).select(
                "app", "seq", sub=pl.lit(1), stage="prev_active", outcome=pl.lit("passed"), t="t"),
            h.filter(pl.col("kind") == "rejected").select(
                "app", "seq", sub=pl.lit(0), stage="prev_active", outcome="reject_outcome", t="t"),
            h.filter(hired).select("app", "seq", sub=pl.lit(0), stage="prev_active", outcome=pl.lit("passed"), t="t"),
            h.filter(hired & (pl.col("prev_active") != "offer")).select(
                "app", "seq", sub=pl.lit(1), stage=pl.lit("offer"), outcome=pl.lit("passed"), t="t"),
            self.offers.filter(pl.col("status") != "unresolved").select(
                "app", seq=pl.lit(10_000), sub=pl.lit(0), stage=pl.lit("offer"),
                outcome=pl.when(pl.col("status") == "accepted").then(pl.lit("passed")).otherwise(pl.lit("withdrew")),
                t="resolved_at"),
        ]
        return pl.concat([p.with_columns(pl.col("seq").cast(pl.Int64), pl.col("sub").cast(pl.Int32)) for p in parts]
                         ).sort(["app", "seq", "sub"])


# ---------------------------------------------------------------------------------------------
# The contract's events as Greenhouse can express them


def expressible(stage_events: pl.DataFrame, config: Config) -> pl.DataFrame:
    """The same funnel as contract events (the contract's columns, text), as Greenhouse can express it:
    what the derivation gives back from the tables `write_tables` writes. For comparing the two ways in."""
    plan = _Plan(stage_events, config)
    ev = plan.events().join(plan.apps.select("app", "cand", "role", "source", "travel"), on="app")
    return ev.sort(["app", "seq", "sub"]).select(
        event_id=pl.format("gh-{}-{}-{}", pl.col("app"), pl.col("seq"), pl.col("sub")),
        application_id="app", candidate_id="cand", role="role", stage="stage", outcome="outcome",
        occurred_at=pl.col("t").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        team=pl.lit(None, pl.String), source="source", level=pl.lit(None, pl.String),
        requires_travel=pl.col("travel").cast(pl.String),
    )


# ---------------------------------------------------------------------------------------------
# Writing the tables


def _ts(expr: pl.Expr) -> pl.Expr:
    return expr.dt.strftime(TIME)


def _write_csv(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path)


def write_tables(landing_dir: Path, stage_events: pl.DataFrame, interviews: pl.DataFrame, config: Config) -> dict[str, Any]:
    """Greenhouse's tables for the funnel under `landing_dir` (CSV, application_history as Parquet
    parts); returns the `sources.greenhouse` block that maps them."""
    landing_dir = Path(landing_dir)
    iv = _clean_interviews(interviews, config)
    roles_of = _clean_events(stage_events, config).sort(["app", "t", "ord"]).group_by("app").agg(pl.col("role").last())
    iv = iv.join(roles_of, on="app", how="inner")
    plan = _Plan(stage_events, config, iv.select("role", "stage"))
    if plan.apps.height == 0:
        raise ValueError("no stage events to write as Greenhouse tables")
    t_min, t_max = plan.history["t"].min(), plan.history["t"].max()
    synced = t_max + timedelta(hours=3)
    synced_text = synced.strftime("%Y-%m-%d %H:%M:%S.000")

    # candidates, with merges: ~3% of candidates have a second, older record merged into the first,
    # and one of their applications still names the old id
    cands = plan.apps.select("cand").unique().sort("cand").with_columns(gh_cand=pl.int_range(pl.len()) + CAND_ID)
    n_cand = cands.height
    merged = cands.filter(_unit(pl.col("cand"), "merge") < 0.03).with_columns(
        old_id=pl.int_range(pl.len()) + CAND_ID + n_cand + 1000)
    apps = plan.apps.join(cands, on="cand").join(merged.select("cand", "old_id"), on="cand", how="left").sort("app")
    first_app = apps.group_by("cand").agg(pl.col("app").min().alias("first_app"))
    apps = apps.join(first_app, on="cand").with_columns(
        candidate_id=pl.when(pl.col("old_id").is_not_null() & (pl.col("app") == pl.col("first_app")))
        .then(pl.col("old_id")).otherwise(pl.col("gh_cand"))).sort("app")

    jobs = plan.jobs
    job_of_role = dict(zip(jobs["role"], jobs["job_id"]))
    stage_ids = plan.stages.drop_nulls("stage").select("role", "stage", "stage_id")
    first_stage = plan.stages.filter(pl.col("rank") == 0).select("role", first_stage_id="stage_id")
    unmapped_stage = plan.stages.filter(pl.col("stage").is_null()).select("role", rc_stage_id="stage_id")
    sources = apps.select("source").drop_nulls().unique().sort("source").with_columns(
        source_id=pl.int_range(pl.len()) + SOURCE_ID)
    apps = (apps.join(sources, on="source", how="left")
            .join(stage_ids.rename({"stage": "current_stage", "stage_id": "current_stage_id"}),
                  on=["role", "current_stage"], how="left")
            .with_columns(job_id=pl.col("role").replace_strict(job_of_role, return_dtype=pl.Int64))
            .sort("app"))

    # application_history (the applications that have one)
    hist = (plan.history.filter(~pl.col("app").is_in(list(plan.history_less)))
            .join(apps.select("app", "role", "gh_app"), on="app")
            .join(stage_ids, on=["role", "stage"], how="left")
            .sort(["app", "seq"]))
    history = hist.select(
        application_id="gh_app", updated_at="t", _fivetran_synced=pl.lit(synced),
        new_stage_id=pl.when(pl.col("kind") == "active").then(pl.col("stage_id")),
        new_status=pl.col("kind"))

    # the dirt: extra applications no mart sees
    extra = _extra_applications(plan, apps, job_of_role, first_stage, unmapped_stage, t_min, t_max)
    next_cand = CAND_ID + n_cand + 1000 + merged.height + 1
    extra = extra.with_columns(candidate_id=pl.int_range(pl.len()) + next_cand)

    application = pl.concat([
        apps.select(
            id="gh_app", _fivetran_deleted=pl.lit(False), _fivetran_synced=pl.lit(synced_text),
            applied_at=_ts(pl.col("applied_at")), candidate_id="candidate_id", credited_to_user_id=pl.lit(None, pl.Int64),
            current_stage_id="current_stage_id", is_deleted=pl.lit(False),
            last_activity_at=_ts(pl.col("last_activity_at")), location_address=pl.lit(None, pl.String),
            prospect=pl.lit(False), prospect_owner_id=pl.lit(None, pl.Int64), prospect_pool_id=pl.lit(None, pl.Int64),
            prospect_stage_id=pl.lit(None, pl.Int64),
            rejected_at=pl.when(pl.col("status") == "rejected").then(_ts(pl.col("last_activity_at"))),
            rejected_reason_id=pl.col("reason_id").cast(pl.Int64), source_id="source_id", status="status",
            custom_requires_travel=pl.col("travel"),
        ),
        extra.select(
            id="gh_app", _fivetran_deleted="deleted", _fivetran_synced=pl.lit(synced_text),
            applied_at=_ts(pl.col("t")), candidate_id="candidate_id", credited_to_user_id=pl.lit(None, pl.Int64),
            current_stage_id="current_stage_id", is_deleted=pl.lit(False), last_activity_at=_ts(pl.col("t")),
            location_address=pl.lit(None, pl.String), prospect="prospect", prospect_owner_id=pl.lit(None, pl.Int64),
            prospect_pool_id=pl.when(pl.col("prospect")).then(pl.lit(11)).cast(pl.Int64),
            prospect_stage_id=pl.lit(None, pl.Int64),
            rejected_at=pl.when(pl.col("status") == "rejected").then(_ts(pl.col("t") + timedelta(days=2))),
            rejected_reason_id=pl.when(pl.col("status") == "rejected").then(pl.lit(101)).cast(pl.Int64),
            source_id=pl.lit(None, pl.Int64), status="status", custom_requires_travel=pl.lit(None, pl.Boolean),
        ),
    ])
    _write_csv(application, landing_dir / "application.csv")

    extra_history = extra.filter(pl.col("history")).select(
        application_id="gh_app", updated_at="t", _fivetran_synced=pl.lit(synced),
        new_stage_id="history_stage_id", new_status=pl.lit("active"))
    extra_rejections = extra.filter(pl.col("history") & (pl.col("status") == "rejected")).select(
        application_id="gh_app", updated_at=pl.col("t") + timedelta(days=2), _fivetran_synced=pl.lit(synced),
        new_stage_id=pl.lit(None, pl.Int64), new_status=pl.lit("rejected"))
    history = pl.concat([history, extra_history, extra_rejections]).sort("application_id", maintain_order=True)
    # A sync folder of parts: the history in two Parquet files (typed, as a warehouse unload writes them).
    half = (history.height + 1) // 2
    for n, part in enumerate((history.head(half), history.tail(history.height - half)), 1):
        path = landing_dir / "application_history" / f"part-{n:04d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        part.write_parquet(path)

    job_application = pl.concat([
        apps.select(application_id="gh_app", job_id="job_id"),
        extra.select(application_id="gh_app", job_id="job_id"),
    ]).with_columns(_fivetran_synced=pl.lit(synced_text))
    _write_csv(job_application, landing_dir / "job_application.csv")

    created = _ts(pl.lit(t_min - timedelta(days=30)))
    _write_csv(jobs.select(
        id="job_id", _fivetran_deleted=pl.lit(False), _fivetran_synced=pl.lit(synced_text),
        closed_at=pl.lit(None, pl.String), confidential=pl.lit(False), created_at=created, name="name",
        notes=pl.lit(None, pl.String), requisition_id=pl.format("REQ-{}", pl.col("job_id")), status=pl.lit("open"),
        updated_at=created), landing_dir / "job.csv")
    _write_csv(plan.stages.select(
        id="stage_id", _fivetran_deleted=pl.lit(False), _fivetran_synced=pl.lit(synced_text), created_at=created,
        job_id="job_id", name="name", updated_at=created, priority="rank"), landing_dir / "job_stage.csv")
    _write_csv(pl.DataFrame(REASONS, schema=["id", "name", "type_id", "type_name"], orient="row").select(
        "id", _fivetran_deleted=pl.lit(False), _fivetran_synced=pl.lit(synced_text), name="name", type_id="type_id",
        type_name="type_name"), landing_dir / "rejection_reason.csv")
    _write_csv(sources.select(
        id="source_id", _fivetran_deleted=pl.lit(False), _fivetran_synced=pl.lit(synced_text), name="source",
        source_type_id=pl.lit(4_000_003), source_type_name=pl.lit("Other")), landing_dir / "source.csv")

    # candidates: every one, the merged records pointing at the surviving one
    all_cands = pl.concat([
        cands.select(id="gh_cand", new_candidate_id=pl.lit(None, pl.Int64)),
        merged.join(cands, on="cand").select(id="old_id", new_candidate_id="gh_cand"),
        extra.select(id="candidate_id", new_candidate_id=pl.lit(None, pl.Int64)),
    ])
    _write_csv(all_cands.select(
        "id", _fivetran_deleted=pl.lit(False), _fivetran_synced=pl.lit(synced_text), company=pl.lit(None, pl.String),
        coordinator_id=pl.lit(None, pl.Int64), created_at=created, first_name=pl.lit("Candidate"),
        is_private=pl.lit(False), last_activity=created, last_name=pl.col("id").cast(pl.String),
        new_candidate_id="new_candidate_id", recruiter_id=pl.lit(None, pl.Int64), title=pl.lit(None, pl.String),
        updated_at=created), landing_dir / "candidate.csv")

    offers = plan.offers.join(apps.select("app", "gh_cand", "job_id"), on="app").sort("app").with_columns(
        id=pl.int_range(pl.len()) + OFFER_ID, deleted=pl.lit(False))
    # a deleted offer (an offer sent by mistake and removed): excluded
    deleted_offer = offers.head(1).with_columns(id=pl.lit(OFFER_ID + offers.height + 1, dtype=pl.Int64), deleted=pl.lit(True),
                                                status=pl.lit("accepted"))
    offers = pl.concat([offers, deleted_offer])
    _write_csv(offers.select(
        "id", _fivetran_deleted="deleted", _fivetran_synced=pl.lit(synced_text), application_id="gh_app",
        candidate_id="gh_cand", job_id="job_id", created_at=_ts(pl.col("offer_at")), updated_at=_ts(pl.col("offer_at")),
        sent_at=_ts(pl.col("offer_at")), resolved_at=_ts(pl.col("resolved_at")),
        starts_at=_ts(pl.col("offer_at") + timedelta(days=30)), status="status", version=pl.lit(1)),
        landing_dir / "offer.csv")

    skills = _write_interviews(landing_dir, iv, plan, apps, extra, synced_text)
    block: dict[str, Any] = {
        "roles": {(str(job_id) if i % 2 == 0 else name): role
                  for i, (job_id, role, name) in enumerate(jobs.iter_rows())},
        "stages": {_title(key, STAGE_TITLES): key for key in config.stages
                   if key in set(plan.stages["stage"].drop_nulls().to_list())},
        "unspecified_rejection": "failed",
        "skills": skills,
        "requires_travel_column": TRAVEL_COLUMN,
    }
    if plan.override:
        block["job_stages"] = plan.override
    if not block["skills"]:
        del block["skills"]
    return block


def _extra_applications(plan: _Plan, apps: pl.DataFrame, job_of_role: dict[str, int], first_stage: pl.DataFrame,
                        unmapped_stage: pl.DataFrame, t_min: datetime, t_max: datetime) -> pl.DataFrame:
    """Applications no mart sees: prospects (no history), a converted prospect application, deleted
    applications (with history and a rejection) and applications at the unmapped stage."""
    n = apps.height
    kinds = (["prospect"] * max(1, n // 100) + ["converted"] * max(1, n // 300) + ["deleted"] * max(1, n // 200)
             + ["unmapped"] * max(1, n // 200))
    roles = list(job_of_role)
    span = (t_max - t_min) if t_max > t_min else timedelta(days=1)
    rows = []
    for i, kind in enumerate(kinds):
        role = roles[i % len(roles)]
        t = t_min + span * ((i * 0.37) % 1.0) * 0.9
        rows.append((kind, role, t))
    extra = pl.DataFrame(rows, schema=["kind", "role", "t"], orient="row").with_columns(
        gh_app=pl.int_range(pl.len()) + APP_ID + n + 100,
        job_id=pl.col("role").replace_strict(job_of_role, return_dtype=pl.Int64),
        t=pl.col("t").dt.truncate("1s"),
    )
    extra = extra.join(first_stage, on="role").join(unmapped_stage, on="role").sort("gh_app")
    return extra.with_columns(
        deleted=pl.col("kind") == "deleted",
        prospect=pl.col("kind") == "prospect",
        status=pl.when(pl.col("kind") == "converted").then(pl.lit("converted"))
        .when(pl.col("kind").is_in(["deleted", "unmapped"]) & (pl.int_range(pl.len()) % 2 == 0)).then(pl.lit("rejected"))
        .otherwise(pl.lit("active")),
        history=pl.col("kind").is_in(["converted", "deleted", "unmapped"]),
        history_stage_id=pl.when(pl.col("kind") == "unmapped").then(pl.col("rc_stage_id")).otherwise(pl.col("first_stage_id")),
        current_stage_id=pl.when(pl.col("kind") == "unmapped").then(pl.col("rc_stage_id"))
        .when(pl.col("kind") == "prospect").then(None).otherwise(pl.col("first_stage_id")),
    )


def _clean_interviews(interviews: pl.DataFrame, config: Config) -> pl.DataFrame:
    """The interviews the contract would accept, each once: app, stage, interviewer, skill, rec, t."""
    cols = ("interview_id", "application_id", "stage", "interviewer_id", "skill", "recommendation")
    text = {c: (interviews[c].cast(pl.String).str.strip_chars() if c in interviews.columns
                else pl.Series(c, [None] * interviews.height, dtype=pl.String)) for c in cols}
    if interviews.height == 0:
        return pl.DataFrame(schema={"iid": pl.String, "app": pl.String, "stage": pl.String, "interviewer": pl.String,
                                    "skill": pl.String, "rec": pl.String, "t": pl.Datetime("us"), "ord": pl.UInt32})
    iv = pl.DataFrame({
        "iid": text["interview_id"], "app": text["application_id"], "stage": text["stage"].str.to_lowercase(),
        "interviewer": text["interviewer_id"], "skill": text["skill"].str.to_lowercase(),
        "rec": text["recommendation"].str.to_lowercase(), "t": _utc(interviews, "occurred_at"),
    }).with_row_index("ord")
    iv = iv.filter(
        pl.col("app").is_not_null() & pl.col("interviewer").is_not_null() & pl.col("t").is_not_null()
        & pl.col("stage").is_in(list(config.stages)) & pl.col("skill").is_in(list(config.skills))
        & pl.col("rec").is_in(list(RECOMMENDATIONS)) & (pl.col("t") >= config.earliest_timestamp)
        & (pl.col("t") < datetime(2200, 1, 1)))
    iv = pl.concat([iv.filter(pl.col("iid").is_null()),
                    iv.filter(pl.col("iid").is_not_null()).unique("iid", keep="first")]).sort("ord")
    return iv.unique(["app", "stage", "interviewer", "skill", "rec", "t"], keep="first", maintain_order=True)


def _write_interviews(landing_dir: Path, iv: pl.DataFrame, plan: _Plan, apps: pl.DataFrame, extra: pl.DataFrame,
                      synced_text: str) -> dict[str, str]:
    """scorecard.csv (one per interview, a few deleted copies; a deleted application's scorecard) and
    interview.csv (each job's interviews by stage); returns the skills mapping (interview name -> skill)."""
    iv = iv.join(apps.select("app", "gh_app", "gh_cand"), on="app", how="inner").sort("ord")
    # The interview's name: the skill's ("Coding") at the onsite, "<stage> - <skill>" at another stage.
    stage_title = {key: _title(key, STAGE_TITLES) for key in plan.config.stages}
    skill_title = {key: _title(key, SKILL_TITLES) for key in plan.config.skills}
    iv = iv.with_columns(
        name=pl.when(pl.col("stage") == "onsite").then(pl.col("skill").replace_strict(skill_title))
        .otherwise(pl.format("{} - {}", pl.col("stage").replace_strict(stage_title),
                             pl.col("skill").replace_strict(skill_title))))
    stage_ids = plan.stages.drop_nulls("stage").select("role", "stage", "stage_id")
    catalog = iv.select("role", "stage", "name").unique().join(stage_ids, on=["role", "stage"]).sort(
        ["stage_id", "name"]).with_columns(id=pl.int_range(pl.len()) + INTERVIEW_ID)
    _write_csv(catalog.select("id", job_stage_id="stage_id", _fivetran_synced=pl.lit(synced_text),
                              interview_kit_content=pl.lit(None, pl.String), name="name"),
               landing_dir / "interview.csv")
    users = iv.select("interviewer").unique().sort("interviewer").with_columns(user_id=pl.int_range(pl.len()) + USER_ID)
    iv = iv.join(users, on="interviewer").sort("ord").with_columns(id=pl.int_range(pl.len()) + SCORECARD_ID,
                                                                     deleted=pl.lit(False))
    # Deleted scorecards: ~1% submitted twice by mistake, the copy deleted; and the deleted applications'.
    copies = iv.filter(_unit(pl.col("id").cast(pl.String), "copy") < 0.01).with_columns(deleted=pl.lit(True))
    gone = extra.filter(pl.col("deleted")).head(1)
    gone_rows = iv.head(gone.height).with_columns(
        gh_app=pl.lit(gone["gh_app"][0], dtype=pl.Int64) if gone.height else pl.col("gh_app"),
        gh_cand=pl.lit(gone["candidate_id"][0], dtype=pl.Int64) if gone.height else pl.col("gh_cand"),
    ) if iv.height else iv
    scorecards = pl.concat([iv, copies, gone_rows]).with_columns(id=pl.int_range(pl.len()) + SCORECARD_ID)
    _write_csv(scorecards.select(
        "id", _fivetran_deleted="deleted", _fivetran_synced=pl.lit(synced_text), application_id="gh_app",
        candidate_id="gh_cand", created_at=_ts(pl.col("t") + timedelta(hours=2)), interview="name",
        interviewed_at=_ts(pl.col("t")), overall_recommendation=pl.col("rec").replace_strict(GH_RECOMMENDATION),
        submitted_at=_ts(pl.col("t") + timedelta(hours=2)), submitted_by_user_id="user_id",
        updated_at=_ts(pl.col("t") + timedelta(hours=2))), landing_dir / "scorecard.csv")
    return {name: skill for name, skill in iv.select("name", "skill").unique().sort("name").iter_rows()}

