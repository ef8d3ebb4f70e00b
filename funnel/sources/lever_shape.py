"""The synthetic funnel written as Fivetran's Lever connector syncs it (`funnel generate --shape lever`).

`write_tables(landing_dir, stage_events, interviews, config)` takes the contract-shaped frames the
generator produces (their clean, accepted rows) and writes Lever's tables under `landing/lever/`
in the connector's column layouts (fivetran/dbt_lever_source), returning the matching `sources:`
block. `expressible(stage_events, interviews, config)` gives the same funnel as contract rows, as
Lever can carry it: what funnel/sources/lever.py derives from the tables written here. The
equivalence test ingests both and compares the marts.

What Lever cannot express, so `expressible` leaves it out or moves it (docs/sources.md, "Lever"):

- A stage is left only by a move to another stage or by the archive: a `passed` is the instant the
  application moves to the next stage, so the next stage is entered (`in_progress`) at that very
  instant, not hours later; a pass with no later record (the data ends before the next stage
  starts, or a team match before the offer) is a move into the next stage of the role's pipeline.
  Team matching therefore has no `awaiting` applications: cleared is in matching.
- No explicit `skipped` records: a jump over stages, whose skips the marts imply.
- An `in_progress` record is a stage change: a stage's first one is the move into it (at the
  previous pass); a later one (another screen round) is a move to the same stage.
- Only the final archive survives in the tables: a failure or withdrawal followed by later records
  (a decision corrected, a candidate unarchived) is lost; the later records count.
- Team and level are the posting's (one per role, team and level), the source the opportunity's
  first; `requires_travel` does not exist in Lever.

The synthetic ids are kept where the rest of the funnel joins on them (opportunity = application
id, contact = candidate id, users = interviewer ids); postings, stages, interviews, feedback forms
and archive reasons get UUIDs. Lever's own kinds of dirt are added, none of them counted in the
marts: leads that never applied and sourced candidates' lead-stage changes (excluded), opportunities
a re-sync marked `_fivetran_deleted` and deleted feedback forms (excluded), rescheduled interviews
canceled (excluded), candidates imported straight into a "Reference Check" stage the block does not
map (quarantined, unknown_stage) and a posting it does not map (quarantined, unknown_role), and an
overlapping re-export of the stage history's last rows (exact duplicates).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from funnel.config import Config

# Lever's built-in stages: the leads' at the start, "New applicant" and "Offer".
LEAD_STAGES = (("lead-new", "New lead"), ("lead-reached-out", "Reached out"), ("lead-responded", "Responded"))
STAGE_NAMES = {
    "application_review": "New applicant", "recruiter_screen": "Recruiter Screen",
    "technical_screen": "Technical Phone Screen", "take_home": "Take-Home Assignment", "onsite": "On-site Interview",
    "hiring_committee": "Hiring Committee", "team_matching": "Team Matching", "offer": "Offer",
}
UNMAPPED_STAGE = "Reference Check"
UNMAPPED_POSTING = "Sales Development Representative"
ROLE_NAMES = {
    "ml_engineer": "Machine Learning Engineer", "software_engineer": "Software Engineer",
    "research_scientist": "Research Scientist", "data_scientist": "Data Scientist",
}
SKILL_NAMES = {"ml_system_design": "ML System Design", "ml_theory": "ML Theory"}
SCORES = {"strong_no": "1 - Strong No Hire", "no": "2 - No Hire", "yes": "3 - Hire", "strong_yes": "4 - Strong Hire"}
# Archive reasons: (text, mapped outcome or None: unmapped, so failed).
REASONS = (
    ("Hired", None), ("Withdrew", "withdrew"), ("Offer Declined", "withdrew"), ("Underqualified", "failed"),
    ("No team match", "failed"), ("Not a fit", None), ("Offer rescinded", None), ("Not interested", None),
)
FIRST_MOVE, PASS_MOVE, ROUND_MOVE = 0, 1, 2
LATEST = "2100-01-01"  # later than this is a placeholder date, not an event
HISTORY_PART_APPLICATIONS = 100_000
OVERLAP_ROWS = 3
TS = "%Y-%m-%d %H:%M:%S.%g"  # how Fivetran's timestamps read in a CSV export: UTC, no offset


def _title(key: str) -> str:
    return key.replace("_", " ").title()


def _uuid(expr: str) -> str:
    """A UUID-shaped id from a text key (md5), as Lever's ids look."""
    return f"regexp_replace(md5({expr}), '^(.{{8}})(.{{4}})(.{{4}})(.{{4}})(.{{12}})$', '\\1-\\2-\\3-\\4-\\5')"


def _stages(config: Config) -> list[tuple[str, str, str | None, int]]:
    """Lever's account-wide pipeline: (stage id, text, catalog stage or None, to_stage_index)."""
    out = [(sid, text, None) for sid, text in LEAD_STAGES]
    for n, stage in enumerate(config.stages):
        text = STAGE_NAMES.get(stage, _title(stage))
        sid = "applicant-new" if n == 0 else "offer" if stage == "offer" else None
        out.append((sid, text, stage))
        if stage == "onsite" or (n == len(config.stages) - 2 and "onsite" not in config.stages):
            out.append((None, UNMAPPED_STAGE, None))
    return [(sid or "", text, stage, index) for index, (sid, text, stage) in enumerate(out)]


# ---------------------------------------------------------------------------------------------
# The plan: each application's stage changes and archive, as Lever records them


def _connect(stage_events: pl.DataFrame, interviews: pl.DataFrame, config: Config) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(":memory:")
    conn.execute("SET TimeZone = 'UTC'")
    conn.register("stage_frame", _as_text(stage_events))
    conn.register("interview_frame", _as_text(interviews))
    conn.execute("CREATE TABLE lever_stages (stage_id VARCHAR, text VARCHAR, stage VARCHAR, idx INTEGER)")
    conn.executemany("INSERT INTO lever_stages VALUES (?, ?, ?, ?)", _stages(config))
    conn.execute(f"UPDATE lever_stages SET stage_id = {_uuid(\"'stage:' || text\")} WHERE stage_id = ''")
    pipeline = [(role, stage, pos, pos == len(spec.pipeline) - 1, nxt)
                for role, spec in config.roles.items()
                for pos, (stage, nxt) in enumerate(zip(spec.pipeline, (*spec.pipeline[1:], None)))]
    conn.execute("CREATE TABLE pipeline (role VARCHAR, stage VARCHAR, pos INTEGER, last BOOLEAN, next VARCHAR)")
    conn.executemany("INSERT INTO pipeline VALUES (?, ?, ?, ?, ?)", pipeline)
    _plan(conn, config)
    return conn


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text; a typed timestamp as ISO-8601 UTC."""
    columns = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            col = col.dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
        columns.append(col.cast(pl.String).alias(name))
    return frame.select(columns)


def _instant(col: str) -> str:
    return f"try_cast(CASE WHEN trim({col}) GLOB '[0-9]*' THEN trim({col}) END AS TIMESTAMPTZ) AT TIME ZONE 'UTC'"


def _plan(conn: duckdb.DuckDBPyConnection, config: Config) -> None:
    """apps (one per application), moves (its stage changes) and archives (its final outcome)."""
    earliest = config.earliest_timestamp.isoformat()
    roles = ", ".join(f"'{r}'" for r in config.roles)
    stages = ", ".join(f"'{s}'" for s in config.stages)
    # The clean events, each id once and each event once (the first read wins, as ingestion keeps it).
    conn.execute(
        f"""
        CREATE TABLE ev AS
        WITH raw AS (
            SELECT row_number() OVER () AS ord, nullif(trim(event_id), '') AS event_id,
                nullif(trim(application_id), '') AS app, nullif(trim(candidate_id), '') AS cand,
                lower(trim(role)) AS role, lower(trim(stage)) AS stage, lower(trim(outcome)) AS outcome,
                {_instant('occurred_at')} AS t,
                nullif(trim(team), '') AS team, nullif(trim(source), '') AS source, nullif(trim(level), '') AS level
            FROM stage_frame
        ),
        valid AS (
            SELECT * FROM raw
            WHERE app IS NOT NULL AND cand IS NOT NULL AND role IN ({roles}) AND stage IN ({stages})
              AND outcome IN ('in_progress', 'passed', 'failed', 'withdrew', 'skipped')
              AND t >= TIMESTAMP '{earliest}' AND t < TIMESTAMP '{LATEST}'
            QUALIFY event_id IS NULL OR row_number() OVER (PARTITION BY event_id ORDER BY ord) = 1
        )
        SELECT v.*, s.idx FROM valid AS v JOIN lever_stages AS s ON s.stage = v.stage
        QUALIFY row_number() OVER (PARTITION BY app, stage, outcome, t ORDER BY ord) = 1
        """
    )
    # An application's role and candidate: those of its latest record; team, source and level: the first named.
    conn.execute(
        """
        CREATE TABLE apps AS
        WITH latest AS (SELECT * FROM ev QUALIFY row_number() OVER (PARTITION BY app ORDER BY t DESC, ord DESC) = 1)
        SELECT l.app, l.cand, l.role,
            (list(e.team ORDER BY e.t, e.ord) FILTER (WHERE e.team IS NOT NULL))[1] AS team,
            (list(e.source ORDER BY e.t, e.ord) FILTER (WHERE e.source IS NOT NULL))[1] AS source,
            (list(e.level ORDER BY e.t, e.ord) FILTER (WHERE e.level IS NOT NULL))[1] AS level,
            min(e.t) AS first_t, max(e.t) AS last_t
        FROM latest AS l JOIN ev AS e ON e.app = l.app
        GROUP BY l.app, l.cand, l.role
        """
    )
    # The records Lever keeps: no explicit skips; a failure or withdrawal only as the final record.
    conn.execute(
        """
        CREATE TABLE kept AS
        WITH numbered AS (
            SELECT e.app, e.stage, e.outcome, e.t, e.ord, e.idx, a.role,
                row_number() OVER (PARTITION BY e.app ORDER BY e.t, e.ord) AS k,
                count(*) OVER (PARTITION BY e.app) AS n
            FROM ev AS e JOIN apps AS a ON a.app = e.app
            WHERE e.outcome <> 'skipped'
        ),
        terminal AS (
            SELECT nb.*, k = n AND (outcome IN ('failed', 'withdrew') OR (outcome = 'passed' AND coalesce(p.last, false)))
                AS terminal
            FROM numbered AS nb LEFT JOIN pipeline AS p ON p.role = nb.role AND p.stage = nb.stage
            WHERE NOT (outcome IN ('failed', 'withdrew') AND k < n)
        ),
        renumbered AS (
            SELECT *, row_number() OVER (PARTITION BY app ORDER BY k) AS k2,
                row_number() OVER (PARTITION BY app, stage ORDER BY k) AS nth_at_stage
            FROM terminal
        ),
        runs AS (
            SELECT *, sum(CASE WHEN stage IS DISTINCT FROM prev THEN 1 ELSE 0 END) OVER (PARTITION BY app ORDER BY k2) AS run
            FROM (SELECT *, lag(stage) OVER (PARTITION BY app ORDER BY k2) AS prev FROM renumbered)
        ),
        run_stages AS (
            SELECT app, run, any_value(stage) AS stage, any_value(idx) AS idx,
                lead(any_value(stage)) OVER (PARTITION BY app ORDER BY run) AS next_stage,
                lead(any_value(idx)) OVER (PARTITION BY app ORDER BY run) AS next_idx
            FROM runs GROUP BY app, run
        )
        SELECT r.* EXCLUDE (prev), CASE WHEN rs.next_idx > r.idx THEN rs.next_stage ELSE p.next END AS next_stage
        FROM runs AS r
        JOIN run_stages AS rs ON rs.app = r.app AND rs.run = r.run
        LEFT JOIN pipeline AS p ON p.role = r.role AND p.stage = r.stage
        """
    )
    # Stage changes: into the first record's stage; at every pass, into the next stage; another round
    # (an in_progress that is not the stage's first record) into the same stage.
    conn.execute(
        f"""
        CREATE TABLE moves AS
        WITH m AS (
            SELECT app, stage, t, {FIRST_MOVE} AS kind, k2 FROM kept WHERE k2 = 1
            UNION ALL
            SELECT app, next_stage, t, {PASS_MOVE}, k2 FROM kept
            WHERE outcome = 'passed' AND NOT terminal AND next_stage IS NOT NULL
            UNION ALL
            SELECT app, stage, t, {ROUND_MOVE}, k2 FROM kept WHERE outcome = 'in_progress' AND nth_at_stage > 1
        )
        SELECT m.*, s.stage_id, s.idx, row_number() OVER (PARTITION BY m.app ORDER BY m.t, m.kind, m.k2) AS mi
        FROM m JOIN lever_stages AS s ON s.stage = m.stage
        """
    )
    conn.execute(
        """
        CREATE TABLE archives AS
        WITH final AS (
            SELECT app, stage, t, CASE WHEN outcome = 'passed' THEN 'hired' ELSE outcome END AS kind
            FROM kept WHERE terminal
        )
        SELECT f.app, f.t, f.kind, m.stage AS current_stage, m.stage_id AS current_stage_id,
            CASE WHEN f.kind = 'hired' THEN 'Hired'
                 WHEN f.kind = 'withdrew' AND m.stage = 'offer' THEN 'Offer Declined'
                 WHEN f.kind = 'withdrew' THEN 'Withdrew'
                 WHEN m.stage = 'team_matching' THEN 'No team match'
                 WHEN m.stage = 'offer' THEN 'Offer rescinded'
                 WHEN hash(f.app) % 3 = 0 THEN 'Not a fit'
                 ELSE 'Underqualified' END AS reason
        FROM final AS f
        JOIN moves AS m ON m.app = f.app AND m.t <= f.t
        QUALIFY row_number() OVER (PARTITION BY f.app ORDER BY m.mi DESC) = 1
        """
    )


# ---------------------------------------------------------------------------------------------
# The funnel as contract rows, as Lever carries it


def expressible(stage_events: pl.DataFrame, interviews: pl.DataFrame, config: Config) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The stage events and interviews funnel/sources/lever.py derives from the tables `write_tables`
    writes for these frames, as contract rows (without Lever's added dirt)."""
    conn = _connect(stage_events, interviews, config)
    try:
        events = conn.sql(
            """
            WITH m AS (
                SELECT *, lag(stage) OVER w AS prev_stage, lag(idx) OVER w AS prev_idx FROM moves
                WINDOW w AS (PARTITION BY app ORDER BY mi)
            ),
            rows AS (
                SELECT app, stage, 'in_progress' AS outcome, t, mi * 4 AS seq FROM m
                UNION ALL
                SELECT app, prev_stage, 'passed', t, mi * 4 + 1 FROM m WHERE prev_stage IS NOT NULL AND idx > prev_idx
                UNION ALL
                SELECT app, current_stage, CASE WHEN kind = 'hired' THEN 'passed' ELSE kind END, t, 1000000 FROM archives
                UNION ALL
                SELECT app, 'offer', 'passed', t, 1000001 FROM archives WHERE kind = 'hired' AND current_stage <> 'offer'
            )
            SELECT 'lever-' || r.app || '-' || r.seq AS event_id, r.app AS application_id, a.cand AS candidate_id,
                a.role, r.stage, r.outcome, strftime(r.t, '%Y-%m-%dT%H:%M:%SZ') AS occurred_at,
                a.team, a.source, a.level, NULL::VARCHAR AS requires_travel
            FROM rows AS r JOIN apps AS a ON a.app = r.app
            ORDER BY r.app, r.t, r.seq
            """
        ).pl()
        kept = _interviews(conn).pl()
    finally:
        conn.close()
    return events, kept


def _interviews(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation:
    """The clean interviews, each id once."""
    return conn.sql(
        f"""
        SELECT row_number() OVER () AS ord, nullif(trim(interview_id), '') AS interview_id,
            trim(application_id) AS application_id, lower(trim(stage)) AS stage, trim(interviewer_id) AS interviewer_id,
            lower(trim(skill)) AS skill, lower(trim(recommendation)) AS recommendation,
            strftime({_instant('occurred_at')}, '%Y-%m-%dT%H:%M:%SZ') AS occurred_at
        FROM interview_frame
        WHERE nullif(trim(application_id), '') IS NOT NULL AND {_instant('occurred_at')} IS NOT NULL
          AND lower(trim(stage)) IN (SELECT stage FROM lever_stages WHERE stage IS NOT NULL)
        QUALIFY interview_id IS NULL OR row_number() OVER (PARTITION BY interview_id ORDER BY ord) = 1
        """
    )


# ---------------------------------------------------------------------------------------------
# The tables


def write_tables(landing_dir: Path, stage_events: pl.DataFrame, interviews: pl.DataFrame, config: Config) -> dict:
    """Lever's tables for the funnel under `landing_dir` (landing/lever/), in the connector's layouts,
    with Lever's own dirt; returns the `sources: lever:` block that maps them."""
    from funnel_columns import COLUMNS  # noqa: F401  (placeholder, replaced below)
