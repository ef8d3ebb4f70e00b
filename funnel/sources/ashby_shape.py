"""The synthetic funnel in Ashby's shape: contract-shaped stage events and interviews written as the
tables Airbyte's Ashby connector lands (funnel/sources/ashby.py reads them back).

`write_tables(landing_dir, stage_events, interviews, config)` writes under `landing_dir` (a
`landing/ashby/` folder) and returns the matching `sources: ashby:` block:

    application.jsonl                 one row per application (+ older versions of a few: an append sync)
    application_history/part-NNNN.jsonl   each application's stage history
    interview_stage.jsonl             each job's interview plan: the catalog's stages, plus New Lead
                                      (type Lead), Reference Check (unmapped), Offer, Hired, Archived
    archive_reason.jsonl, application_feedback.jsonl, interview_event.jsonl, interview.jsonl

How events become history: a stage's first record opens an entry (enteredStageAt), its decision
closes it (leftStageAt); a failure or withdrawal is followed by an Archived entry (the application's
archive reason says which), a pass at `offer` by a Hired entry, any other pass by the next stage's
entry. Each role has two jobs: one mapped by its id, one by its title.

Ashby's own dirty ways, in deterministic shares of the applications (by a hash of their id):
sourced leads who never applied (status Lead; excluded), converted leads whose history starts at a
New Lead stage (that row excluded), applications deleted in Ashby that a destination marks
(`_ab_cdc_deleted_at`; excluded), an earlier sync of some applications' history and rows kept by an
append sync (superseded; excluded; half of those name the candidate before a merge), and a Reference Check
stage the mapping lacks before some offers (its events quarantined as unknown_stage).

What Ashby cannot express (`expressible` returns the contract events that survive; docs/sources.md):
explicit `skipped` records (a skip is a stage never entered: an implied skip); a pass not followed
by a later stage (in Ashby a pass is the move to the next stage: without one the candidate is still
in the stage); an earlier archival's own reason (Ashby keeps one archive reason per application, the
current one: every archival of an application takes it, none at all being a rejection); teams,
levels and requires_travel (none derived).
"""

from __future__ import annotations

import uuid
from datetime import timezone
from pathlib import Path

import duckdb
import polars as pl

from funnel.config import Config
from funnel.contract import OUTCOMES, RECOMMENDATIONS

HISTORY_PART_ROWS = 200_000
NAMESPACE = uuid.UUID("5f0c3a8e-2b1d-4e6f-9a7c-1d3e5b7f9a0b")

STAGE_TITLES = {
    "application_review": "Application Review",
    "recruiter_screen": "Recruiter Screen",
    "technical_screen": "Technical Interview",
    "take_home": "Take-Home Assignment",
    "onsite": "Onsite Interviews",
    "hiring_committee": "Hiring Committee",
    "team_matching": "Team Matching",
    "offer": "Offer",
}
JOB_TITLES = {
    "ml_engineer": ("Machine Learning Engineer", "Machine Learning Engineer, Ranking"),
    "software_engineer": ("Software Engineer", "Software Engineer, Infrastructure"),
    "research_scientist": ("Research Scientist", "Research Scientist, LLMs"),
    "data_scientist": ("Data Scientist", "Data Scientist, Growth"),
}
SKILL_TITLES = {
    "coding": "Coding Interview",
    "system_design": "System Design",
    "ml_system_design": "ML System Design",
    "ml_theory": "ML Theory",
    "behavioral": "Behavioral Interview",
    "research_depth": "Research Deep Dive",
    "statistics": "Statistics",
    "product_sense": "Product Sense",
    "communication": "Communication",
}
# (text, reasonType); "Accepted another offer" is mapped to withdrew in the block, "Position filled" left to
# its type (Other: a rejection).
REASONS = {
    "not_a_fit": ("Not a fit", "RejectedByOrg"),
    "lacks_depth": ("Lacks technical depth", "RejectedByOrg"),
    "position_filled": ("Position filled", "Other"),
    "rescinded": ("Offer rescinded", "RejectedByOrg"),
    "withdrew": ("Candidate withdrew", "RejectedByCandidate"),
    "other_offer": ("Accepted another offer", "Other"),
    "declined": ("Offer declined", "RejectedByCandidate"),
}
LEAD_STAGE, UNMAPPED_STAGE = "New Lead", "Reference Check"
# Percent of applications (by a hash of their id) per dirty way.
SOURCED_PCT, UNMAPPED_PCT, SUPERSEDED_PCT = 6, 8, 4
EXTRA_LEADS_PER_100, DELETED_PER_100 = 4, 1


def _uid(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(map(str, parts))))


def _title(key: str, titles: dict[str, str]) -> str:
    return titles.get(key) or key.replace("_", " ").title()


def _earliest(config: Config) -> str:
    moment = config.earliest_timestamp
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat(sep=" ") + "+00"


def _as_text(frame: pl.DataFrame, column: str) -> pl.Expr:
    """A timestamp column as ISO-8601 text (typed ones in UTC), whatever the frame holds."""
    dtype = frame.schema[column]
    if isinstance(dtype, pl.Datetime):
        col = pl.col(column)
        if dtype.time_zone is not None:
            col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return col.dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ").alias(column)
    return pl.col(column).cast(pl.String)


def _connect() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(":memory:")
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("SET threads = 2")
    conn.execute("""
        CREATE MACRO uid(x) AS lower(substr(md5(x), 1, 8) || '-' || substr(md5(x), 9, 4) || '-4'
            || substr(md5(x), 14, 3) || '-a' || substr(md5(x), 18, 3) || '-' || substr(md5(x), 21, 12));
        CREATE MACRO pct(x, salt) AS md5_number(x || '/' || salt) % 100;
        CREATE MACRO iso(t) AS strftime(t AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ');
    """)
    return conn


def _load_events(conn: duckdb.DuckDBPyConnection, stage_events: pl.DataFrame, config: Config) -> None:
    """`ev`: the valid stage events (roles, stages, outcomes the config knows; plausible times), each id once,
    in reading order (`ord`)."""
    frame = stage_events.select(
        [pl.col(c).cast(pl.String) for c in ("event_id", "application_id", "candidate_id", "role", "stage",
                                             "outcome", "source") if c in stage_events.columns]
        + [_as_text(stage_events, "occurred_at")]
    )
    for c in ("event_id", "source"):
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    conn.register("input_events", frame.with_row_index("ord"))
    roles = list(config.roles)
    conn.execute("CREATE TABLE catalog (stage VARCHAR, stage_order INTEGER)")
    conn.executemany("INSERT INTO catalog VALUES (?, ?)", [(s, i + 1) for i, s in enumerate(config.stages)])
    conn.execute("CREATE TABLE roles (role VARCHAR)")
    conn.executemany("INSERT INTO roles VALUES (?)", [(r,) for r in roles])
    conn.execute(f"""
        CREATE TABLE ev AS
        WITH typed AS (
            SELECT ord, nullif(trim(event_id), '') AS event_id, nullif(trim(application_id), '') AS app,
                nullif(trim(candidate_id), '') AS candidate, lower(trim(role)) AS role, lower(trim(stage)) AS stage,
                lower(trim(outcome)) AS outcome, nullif(trim(source), '') AS source,
                try_cast(trim(occurred_at) AS TIMESTAMPTZ) AS t
            FROM input_events
        ),
        valid AS (
            SELECT * FROM typed
            WHERE app IS NOT NULL AND candidate IS NOT NULL AND t IS NOT NULL
                AND t >= TIMESTAMPTZ '{_earliest(config)}' AND t < TIMESTAMPTZ '2200-01-01 00:00:00+00'
                AND role IN (SELECT role FROM roles) AND stage IN (SELECT stage FROM catalog)
                AND outcome IN ({", ".join(f"'{o}'" for o in OUTCOMES)})
            QUALIFY event_id IS NULL OR row_number() OVER (PARTITION BY event_id ORDER BY ord) = 1
        )
        SELECT v.*, c.stage_order FROM valid AS v JOIN catalog AS c USING (stage)
    """)
    conn.unregister("input_events")


def _normalized_sql() -> str:
    """The events Ashby's history keeps, as the derivation gives them back (module docstring)."""
    return """
        WITH kept AS (
            SELECT *,
                lead(stage_order) OVER w AS next_order,
                lag(outcome) OVER w AS prev_outcome, lag(stage) OVER w AS prev_stage
            FROM ev WHERE outcome <> 'skipped'
            WINDOW w AS (PARTITION BY app ORDER BY t, ord)
        ),
        passes AS (
            -- a pass is the move to a later stage (or the hire at offer); without one the candidate is in the stage
            SELECT * EXCLUDE (outcome),
                CASE WHEN outcome <> 'passed' OR stage = 'offer' OR next_order > stage_order THEN outcome
                     WHEN prev_outcome = 'in_progress' AND prev_stage = stage THEN NULL
                     ELSE 'in_progress' END AS outcome
            FROM kept
        ),
        settled AS (
            SELECT *, last(outcome) OVER (PARTITION BY app ORDER BY t, ord
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS final_outcome
            FROM passes WHERE outcome IS NOT NULL
        )
        SELECT * EXCLUDE (outcome),
            CASE WHEN outcome NOT IN ('failed', 'withdrew') THEN outcome
                 WHEN final_outcome IN ('failed', 'withdrew') THEN final_outcome
                 ELSE 'failed' END AS outcome
        FROM settled
    """


def expressible(stage_events: pl.DataFrame, config: Config) -> pl.DataFrame:
    """The stage events (contract columns) that survive a trip through Ashby's tables: what the funnel
    written by `write_tables` gives back, so the same funnel as contract files can be compared with it."""
    conn = _connect()
    try:
        _load_events(conn, stage_events, config)
        keep = conn.sql(f"SELECT ord, outcome FROM ({_normalized_sql()}) ORDER BY ord").pl()
    finally:
        conn.close()
    base = stage_events.with_row_index("ord").join(keep, on="ord", how="inner", suffix="_kept")
    return base.with_columns(pl.col("outcome_kept").alias("outcome")).drop("ord", "outcome_kept")


def write_tables(landing_dir: Path, stage_events: pl.DataFrame, interviews: pl.DataFrame, config: Config) -> dict:
    """Write the funnel in Ashby's shape under `landing_dir` and return its `sources: ashby:` block."""
    landing_dir = Path(landing_dir)
    landing_dir.mkdir(parents=True, exist_ok=True)
    conn = _connect()
    try:
        _load_events(conn, stage_events, config)
        block = _plans(conn, config)
        _entries(conn)
        _applications(conn)
        _history(conn)
        _feedback(conn, interviews, config, block)
        _write(conn, landing_dir)
    finally:
        conn.close()
    return block


def _plans(conn: duckdb.DuckDBPyConnection, config: Config) -> dict:
    """Jobs (two per role), their interview plans (one stage per catalog stage, plus Ashby's own), reasons."""
    jobs, stages = [], []
    roles_block: dict[str, str] = {}
    for r, role in enumerate(config.roles):
        titles = JOB_TITLES.get(role) or (_title(role, {}), f"{_title(role, {})}, II")
        for k, title in enumerate(titles):
            job_id, plan = _uid("job", role, k), _uid("plan", role, k)
            jobs.append((job_id, title, role, k, plan))
            roles_block[job_id if k == 0 else title] = role
            plan_stages = [(LEAD_STAGE, "Lead", None)]
            for s in config.stages:
                if s == "offer":
                    plan_stages.append((UNMAPPED_STAGE, "Active", None))
                kind = "Offer" if s == "offer" else ("PreInterviewScreen" if s == config.stages[0] else "Active")
                plan_stages.append((_title(s, STAGE_TITLES), kind, s))
            plan_stages += [("Hired", "Hired", None), ("Archived", "Archived", None)]
            for order, (title_s, kind, key) in enumerate(plan_stages):
                stages.append((_uid("stage", plan, title_s), title_s, kind, order, plan, job_id, key))
    conn.execute("CREATE TABLE jobs (job_id VARCHAR, title VARCHAR, role VARCHAR, k INTEGER, plan VARCHAR)")
    conn.executemany("INSERT INTO jobs VALUES (?, ?, ?, ?, ?)", jobs)
    conn.execute("CREATE TABLE plan_stages (id VARCHAR, title VARCHAR, type VARCHAR, stage_order INTEGER,"
                 " plan VARCHAR, job_id VARCHAR, stage VARCHAR)")
    conn.executemany("INSERT INTO plan_stages VALUES (?, ?, ?, ?, ?, ?, ?)", stages)
    conn.execute("CREATE TABLE reasons (key VARCHAR, id VARCHAR, text VARCHAR, reason_type VARCHAR)")
    conn.executemany("INSERT INTO reasons VALUES (?, ?, ?, ?)",
                     [(key, _uid("reason", key), text, kind) for key, (text, kind) in REASONS.items()])
    return {
        "roles": roles_block,
        "stages": {_title(s, STAGE_TITLES): s for s in config.stages},
        "archive_reasons": {REASONS["other_offer"][0]: "withdrew"},
    }


def _entries(conn: duckdb.DuckDBPyConnection) -> None:
    """`entries`: each application's history, one row per entry, in order (`pos`)."""
    conn.execute("""
        CREATE TABLE apps AS
        SELECT app, last(role ORDER BY t, ord) AS role,
            last(candidate ORDER BY t, ord) AS candidate,
            last(source ORDER BY t, ord) FILTER (WHERE source IS NOT NULL) AS source,
            min(t) AS first_t, max(t) AS last_t,
            last(outcome ORDER BY t, ord) AS last_outcome, last(stage ORDER BY t, ord) AS last_stage
        FROM ev WHERE outcome <> 'skipped' GROUP BY app
    """)
    conn.execute("""
        ALTER TABLE apps ADD COLUMN job_id VARCHAR;
        UPDATE apps SET job_id = (SELECT j.job_id FROM jobs AS j
                                  WHERE j.role = apps.role AND j.k = pct(apps.app, 'job') % 2);
    """)
    # An event opens an entry, unless it is the decision of the stage its previous event (an in_progress) opened.
    conn.execute("""
        CREATE TABLE opened AS
        SELECT *,
            NOT coalesce(outcome IN ('passed', 'failed', 'withdrew') AND prev_outcome = 'in_progress'
                         AND prev_stage = stage, false) AS opens
        FROM (
            SELECT *, lag(outcome) OVER w AS prev_outcome, lag(stage) OVER w AS prev_stage,
                lead(t) OVER w AS next_t, lead(outcome) OVER w AS next_outcome, lead(stage) OVER w AS next_stage,
                lead(stage_order) OVER w AS next_order,
                row_number() OVER w AS n
            FROM ev WHERE outcome <> 'skipped'
            WINDOW w AS (PARTITION BY app ORDER BY t, ord)
        )
    """)
    conn.execute("""
        CREATE TABLE stage_entries AS
        SELECT app, n, stage, t AS entered,
            CASE WHEN outcome <> 'in_progress' THEN t ELSE next_t END AS left_at,
            CASE WHEN outcome <> 'in_progress' THEN outcome
                 WHEN next_stage = stage AND next_outcome IN ('passed', 'failed', 'withdrew') THEN next_outcome END
                AS decision,
            CASE WHEN outcome <> 'in_progress' THEN next_order
                 WHEN next_stage = stage AND next_outcome IN ('passed', 'failed', 'withdrew')
                 THEN lead(next_order) OVER (PARTITION BY app ORDER BY t, ord) END AS after_order,
            CASE WHEN outcome <> 'in_progress' THEN next_stage
                 WHEN next_stage = stage AND next_outcome IN ('passed', 'failed', 'withdrew')
                 THEN lead(next_stage) OVER (PARTITION BY app ORDER BY t, ord) END AS after_stage
        FROM opened
        QUALIFY opens
    """)
    # The history: the stage entries, an Archived entry after a failure or withdrawal, a Hired entry after
    # the offer's pass, a Reference Check before some offers, a New Lead entry before some applications.
    conn.execute("""
        CREATE TABLE entries_raw AS
        SELECT app, n * 10 AS pos, stage AS key, NULL AS special, entered, left_at FROM stage_entries
        UNION ALL
        SELECT app, n * 10 + 5, NULL, 'Archived', left_at, NULL FROM stage_entries
        WHERE decision IN ('failed', 'withdrew')
        UNION ALL
        SELECT app, n * 10 + 5, NULL, 'Hired', left_at, NULL FROM stage_entries
        WHERE decision = 'passed' AND stage = 'offer'
        UNION ALL
        SELECT app, n * 10 + 5, NULL, 'Reference Check', left_at, left_at FROM stage_entries
        WHERE decision = 'passed' AND after_stage = 'offer'
        QUALIFY pct(app, 'refcheck') < """ + str(UNMAPPED_PCT) + """
            OR md5(app) = min(md5(app)) OVER ()   -- at least one, whatever the size
        UNION ALL
        SELECT a.app, 0, NULL, 'New Lead', a.first_t - INTERVAL 3 DAY, a.first_t FROM apps AS a
        WHERE pct(a.app, 'sourced') < """ + str(SOURCED_PCT) + """
    """)
    # An entry without a decision leaves when the next entry starts (an Archived entry: when reopened).
    conn.execute("""
        CREATE TABLE entries AS
        SELECT e.app, e.pos, e.key, e.special, e.entered,
            CASE WHEN e.special = 'Hired' THEN NULL
                 ELSE coalesce(e.left_at, lead(e.entered) OVER (PARTITION BY e.app ORDER BY e.pos)) END AS left_at,
            p.id AS stage_id, p.title, p.stage_order,
            row_number() OVER (PARTITION BY e.app ORDER BY e.pos) - 1 AS k
        FROM entries_raw AS e
        JOIN apps AS a USING (app)
        JOIN jobs AS j ON j.job_id = a.job_id
        JOIN plan_stages AS p ON p.plan = j.plan
            AND (p.stage = e.key OR (e.key IS NULL AND p.title = e.special AND p.stage IS NULL))
    """)


def _applications(conn: duckdb.DuckDBPyConnection) -> None:
    """`applications`: one row per application (latest version), plus leads, deleted ones and older versions."""
    conn.execute("""
        CREATE TABLE app_state AS
        SELECT a.*,
            CASE WHEN a.last_outcome = 'passed' AND a.last_stage = 'offer' THEN 'Hired'
                 WHEN a.last_outcome IN ('failed', 'withdrew') THEN 'Archived' ELSE 'Active' END AS status,
            CASE WHEN a.last_outcome = 'withdrew' AND a.last_stage = 'offer' THEN 'declined'
                 WHEN a.last_outcome = 'withdrew'
                 THEN CASE WHEN pct(a.app, 'reason') < 25 THEN 'other_offer' ELSE 'withdrew' END
                 WHEN a.last_outcome = 'failed' AND a.last_stage = 'offer' THEN 'rescinded'
                 WHEN a.last_outcome = 'failed' THEN CASE WHEN pct(a.app, 'reason') < 20 THEN 'position_filled'
                                                          WHEN pct(a.app, 'reason') < 60 THEN 'lacks_depth'
                                                          ELSE 'not_a_fit' END END AS reason_key,
            (SELECT max(entered) FROM entries AS e WHERE e.app = a.app) AS last_entered,
            j.title AS job_title, j.plan
        FROM apps AS a JOIN jobs AS j USING (job_id)
    """)
    conn.execute("""
        ALTER TABLE app_state ADD COLUMN updated_at TIMESTAMPTZ;
        UPDATE app_state SET updated_at = greatest(last_t, last_entered);
    """)
    app_row = """
        SELECT {id} AS id, iso({created}) AS "createdAt", iso({updated}) AS "updatedAt", {status} AS status,
            struct_pack(id := {candidate}, name := 'Candidate ' || right({candidate}, 6)) AS candidate,
            struct_pack(id := j.job_id, title := j.title, "locationId" := NULL::VARCHAR,
                        "departmentId" := NULL::VARCHAR) AS job,
            CASE WHEN {source} IS NOT NULL THEN struct_pack(id := uid('source/' || {source}), title := {source},
                                                           "isArchived" := false) END AS source,
            CASE WHEN {reason} IS NOT NULL THEN struct_pack(id := r.id, text := r.text, "reasonType" := r.reason_type,
                                                           "isArchived" := false) END AS "archiveReason",
            CASE WHEN {status} = 'Archived' THEN iso({updated}) END AS "archivedAt",
            {deleted} AS _ab_cdc_deleted_at,
            {sort1} AS __app, {sort2} AS __version
    """
    conn.execute("CREATE TABLE applications AS " + app_row.format(
        id="a.app", created="a.first_t", updated="a.updated_at", status="a.status", candidate="a.candidate",
        source="a.source", reason="a.reason_key", deleted="NULL::VARCHAR", sort1="a.app", sort2="2") + """
        FROM app_state AS a JOIN jobs AS j USING (job_id) LEFT JOIN reasons AS r ON r.key = a.reason_key
    """)
    # Applications whose history an earlier sync read too (an append sync keeps both): the older row
    # version (one of them before its candidate was merged) and the history as it was then.
    conn.execute("""
        CREATE TABLE superseded AS
        SELECT a.app, (SELECT e.entered FROM entries AS e WHERE e.app = a.app ORDER BY e.pos DESC LIMIT 1 OFFSET 1)
            AS synced_at
        FROM app_state AS a
        WHERE pct(a.app, 'resync') < """ + str(SUPERSEDED_PCT) + """
            AND (SELECT count(*) FROM entries AS e WHERE e.app = a.app) >= 2
    """)
    conn.execute("DELETE FROM superseded WHERE synced_at IS NULL OR synced_at >= "
                 "(SELECT updated_at FROM app_state AS a WHERE a.app = superseded.app)")
    conn.execute("INSERT INTO applications " + app_row.format(
        id="a.app", created="a.first_t", updated="s.synced_at", status="'Active'",
        candidate="CASE WHEN pct(a.app, 'merge') < 50 THEN a.candidate || '-dup' ELSE a.candidate END",
        source="a.source", reason="NULL", deleted="NULL::VARCHAR", sort1="a.app", sort2="1") + """
        FROM superseded AS s JOIN app_state AS a USING (app) JOIN jobs AS j USING (job_id)
        LEFT JOIN reasons AS r ON false
    """)
    # Sourced leads who never applied, and applications deleted in Ashby: applications of their own.
    conn.execute("""
        CREATE TABLE extra_apps AS
        SELECT 'ashby-lead-' || a.app AS app, 'Lead' AS status, a.job_id, a.first_t,
            a.candidate || '-lead' AS candidate,
            NULL::VARCHAR AS deleted
        FROM app_state AS a
        QUALIFY pct(a.app, 'lead') < """ + str(EXTRA_LEADS_PER_100) + """ OR md5(a.app) = min(md5(a.app)) OVER ()
        UNION ALL
        SELECT 'ashby-deleted-' || a.app, 'Active', a.job_id, a.first_t, a.candidate || '-deleted',
            iso(a.first_t + INTERVAL 2 DAY)
        FROM app_state AS a
        QUALIFY pct(a.app, 'deleted') < """ + str(DELETED_PER_100) + """ OR md5(a.app) = max(md5(a.app)) OVER ()
    """)
    conn.execute("INSERT INTO applications " + app_row.format(
        id="x.app", created="x.first_t", updated="x.first_t", status="x.status", candidate="x.candidate",
        source="NULL::VARCHAR", reason="NULL", deleted="x.deleted", sort1="x.app", sort2="2") + """
        FROM extra_apps AS x JOIN jobs AS j USING (job_id) LEFT JOIN reasons AS r ON false
    """)


def _history(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("""
        CREATE TABLE history AS
        SELECT uid('history/' || e.app || '/' || e.pos) AS id, e.app AS application_id, e.stage_id AS "stageId",
            e.title, iso(e.entered) AS "enteredStageAt", iso(e.left_at) AS "leftStageAt",
            e.stage_order AS "stageNumber",
            NULL::VARCHAR AS "actorId", iso(a.updated_at) AS application_updated_at,
            e.app AS __app, a.updated_at AS __synced, e.pos AS __pos
        FROM entries AS e JOIN app_state AS a USING (app)
    """)
    # The earlier sync's copy: the entries entered by then, the last one still open.
    conn.execute("""
        INSERT INTO history
        SELECT uid('history/' || e.app || '/' || e.pos), e.app, e.stage_id, e.title, iso(e.entered),
            CASE WHEN e.entered = s.synced_at THEN NULL ELSE iso(e.left_at) END, e.stage_order, NULL,
            iso(s.synced_at), e.app, s.synced_at, e.pos
        FROM entries AS e JOIN superseded AS s USING (app) WHERE e.entered <= s.synced_at
    """)
    conn.execute("""
        INSERT INTO history
        SELECT uid('history/' || x.app || '/0'), x.app, p.id, p.title, iso(x.first_t), NULL, p.stage_order, NULL,
            iso(x.first_t), x.app, x.first_t, 0
        FROM extra_apps AS x JOIN jobs AS j USING (job_id)
        JOIN plan_stages AS p ON p.plan = j.plan
            AND p.title = CASE WHEN x.status = 'Lead' THEN 'New Lead' ELSE 'Application Review' END
    """)
    conn.execute("""
        CREATE TABLE stages_out AS
        SELECT id, title, type, stage_order AS "orderInInterviewPlan", plan AS "interviewPlanId",
            false AS "isArchived", NULL::VARCHAR AS "interviewStageGroupId"
        FROM plan_stages ORDER BY plan, stage_order
    """)
    conn.execute("""
        CREATE TABLE reasons_out AS
        SELECT id, text, reason_type AS "reasonType", false AS "isArchived" FROM reasons ORDER BY text
    """)


def _feedback(conn: duckdb.DuckDBPyConnection, interviews: pl.DataFrame, config: Config, block: dict) -> None:
    """application_feedback, interview_event and interview (definitions) from the interviews frame."""
    frame = interviews.select([_as_text(interviews, c) if c == "occurred_at" else pl.col(c).cast(pl.String)
                               for c in interviews.columns])
    for c in ("interview_id", "application_id", "stage", "interviewer_id", "skill", "recommendation", "occurred_at"):
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    conn.register("input_interviews", frame.with_row_index("ord"))
    skills = list(config.skills)
    conn.execute("CREATE TABLE skills (skill VARCHAR, title VARCHAR)")
    conn.executemany("INSERT INTO skills VALUES (?, ?)", [(s, _title(s, SKILL_TITLES)) for s in skills])
    block["skills"] = {_title(s, SKILL_TITLES): s for s in skills}
    score = {"strong_no": 1, "no": 2, "yes": 3, "strong_yes": 4}
    conn.execute("CREATE TABLE scores (recommendation VARCHAR, score INTEGER)")
    conn.executemany("INSERT INTO scores VALUES (?, ?)", [(r, score.get(r)) for r in RECOMMENDATIONS])
    conn.execute(f"""
        CREATE TABLE iv AS
        SELECT ord, coalesce(nullif(trim(interview_id), ''), 'row-' || ord) AS key,
            nullif(trim(application_id), '') AS app, lower(trim(stage)) AS stage,
            nullif(trim(interviewer_id), '') AS interviewer, lower(trim(skill)) AS skill,
            lower(trim(recommendation)) AS recommendation,
            try_cast(trim(occurred_at) AS TIMESTAMPTZ) AS t
        FROM input_interviews
        WHERE nullif(trim(application_id), '') IS NOT NULL AND nullif(trim(interviewer_id), '') IS NOT NULL
            AND try_cast(trim(occurred_at) AS TIMESTAMPTZ)
                BETWEEN TIMESTAMPTZ '{_earliest(config)}' AND TIMESTAMPTZ '2200-01-01 00:00:00+00'
            AND lower(trim(skill)) IN (SELECT skill FROM skills)
            AND lower(trim(stage)) IN (SELECT stage FROM catalog)
            AND lower(trim(recommendation)) IN (SELECT recommendation FROM scores)
        QUALIFY row_number() OVER (PARTITION BY coalesce(nullif(trim(interview_id), ''), 'row-' || ord)
                                   ORDER BY ord) = 1
    """)
    conn.unregister("input_interviews")
    conn.execute("""
        CREATE TABLE feedback_rows AS
        SELECT i.*, a.job_id, s.title AS interview_title,
            uid('interview/' || coalesce(a.job_id, 'none') || '/' || i.skill) AS interview_def,
            uid('event/' || i.key) AS event_id,
            (SELECT uid('history/' || e.app || '/' || e.pos) FROM entries AS e
             WHERE e.app = i.app AND e.key = i.stage AND e.entered <= i.t ORDER BY e.pos DESC LIMIT 1) AS history_id,
            sc.score
        FROM iv AS i
        LEFT JOIN apps AS a ON a.app = i.app
        JOIN skills AS s ON s.skill = i.skill
        JOIN scores AS sc ON sc.recommendation = i.recommendation
    """)
    conn.execute("""
        CREATE TABLE feedback_out AS
        SELECT uid('feedback/' || key) AS id, app AS "applicationId", history_id AS "applicationHistoryId",
            uid('form/scorecard') AS "feedbackFormDefinitionId", interview_def AS "interviewId",
            event_id AS "interviewEventId", iso(t + INTERVAL 2 HOUR) AS "submittedAt",
            struct_pack(id := interviewer) AS "submittedByUser",
            struct_pack(overall_recommendation := score) AS "submittedValues",
            app AS __app, t AS __t, ord AS __ord
        FROM feedback_rows
    """)
    conn.execute("""
        CREATE TABLE events_out AS
        SELECT event_id AS id, interview_def AS "interviewId", uid('schedule/' || app) AS "interviewScheduleId",
            [interviewer] AS "interviewerUserIds", iso(t) AS "startTime", iso(t + INTERVAL 45 MINUTE) AS "endTime",
            true AS "hasSubmittedFeedback", app AS __app, t AS __t, ord AS __ord
        FROM feedback_rows
    """)
    conn.execute("""
        CREATE TABLE definitions_out AS
        SELECT DISTINCT interview_def AS id, interview_title AS title, interview_title AS "externalTitle",
            false AS "isArchived", false AS "isDebrief", job_id AS "jobId"
        FROM feedback_rows ORDER BY title, id
    """)


def _write(conn: duckdb.DuckDBPyConnection, landing_dir: Path) -> None:
    def frame(sql: str) -> pl.DataFrame:
        return conn.sql(sql).pl()

    def write(name: str, df: pl.DataFrame) -> None:
        df.select([c for c in df.columns if not c.startswith("__")]).write_ndjson(landing_dir / f"{name}.jsonl")

    applications = frame("SELECT * FROM applications ORDER BY \"createdAt\", __app, __version")
    # Only a destination that keeps deletions has the column; here every row has it (null but for the deleted).
    write("application", applications)
    write("interview_stage", frame("SELECT * FROM stages_out"))
    write("archive_reason", frame("SELECT * FROM reasons_out"))
    write("application_feedback", frame("SELECT * FROM feedback_out ORDER BY __t, __app, __ord"))
    write("interview_event", frame("SELECT * FROM events_out ORDER BY __t, __app, __ord"))
    write("interview", frame("SELECT * FROM definitions_out"))
    history = frame("SELECT * FROM history ORDER BY __app, __synced, __pos")
    parts = landing_dir / "application_history"
    parts.mkdir(exist_ok=True)
    for old in parts.glob("part-*.jsonl"):
        old.unlink()
    for k, start in enumerate(range(0, max(history.height, 1), HISTORY_PART_ROWS), 1):
        chunk = history.slice(start, HISTORY_PART_ROWS)
        chunk.select([c for c in chunk.columns if not c.startswith("__")]).write_ndjson(parts / f"part-{k:04d}.jsonl")
