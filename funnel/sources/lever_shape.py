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
from funnel.ingest import as_text
from funnel.sources.lever import LAYOUTS

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
TS = "%Y-%m-%d %H:%M:%S.%g"
STAGE_KEY = "'stage:' || text"  # how Fivetran's timestamps read in a CSV export: UTC, no offset


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
    conn.register("stage_frame", as_text(stage_events))
    conn.register("interview_frame", as_text(interviews))
    conn.execute("CREATE TABLE lever_stages (stage_id VARCHAR, text VARCHAR, stage VARCHAR, idx INTEGER)")
    conn.executemany("INSERT INTO lever_stages VALUES (?, ?, ?, ?)", _stages(config))
    conn.execute(f"UPDATE lever_stages SET stage_id = {_uuid(STAGE_KEY)} WHERE stage_id = ''")
    pipeline = [(role, stage, pos, pos == len(spec.pipeline) - 1, nxt)
                for role, spec in config.roles.items()
                for pos, (stage, nxt) in enumerate(zip(spec.pipeline, (*spec.pipeline[1:], None)))]
    conn.execute("CREATE TABLE pipeline (role VARCHAR, stage VARCHAR, pos INTEGER, last BOOLEAN, next VARCHAR)")
    conn.executemany("INSERT INTO pipeline VALUES (?, ?, ?, ?, ?)", pipeline)
    _plan(conn, config)
    return conn


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
        QUALIFY row_number() OVER (PARTITION BY v.app, v.stage, v.outcome, v.t ORDER BY v.ord) = 1
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
                 WHEN right(md5(f.app), 1) IN ('0', '1', '2', '3', '4') THEN 'Not a fit'
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
        kept = conn.sql(_interviews_sql() + " ORDER BY ord").pl()
    finally:
        conn.close()
    return events, kept


def _interviews_sql() -> str:
    """The clean interviews, each id once (the first read)."""
    return f"""
        SELECT * FROM (
            SELECT row_number() OVER () AS ord, nullif(trim(interview_id), '') AS interview_id,
                trim(application_id) AS application_id, lower(trim(stage)) AS stage,
                trim(interviewer_id) AS interviewer_id, lower(trim(skill)) AS skill,
                lower(trim(recommendation)) AS recommendation,
                strftime({_instant('occurred_at')}, '%Y-%m-%dT%H:%M:%SZ') AS occurred_at
            FROM interview_frame
        )
        WHERE nullif(application_id, '') IS NOT NULL AND occurred_at IS NOT NULL
          AND stage IN (SELECT stage FROM lever_stages WHERE stage IS NOT NULL)
        QUALIFY interview_id IS NULL OR row_number() OVER (PARTITION BY interview_id ORDER BY ord) = 1
        """


# ---------------------------------------------------------------------------------------------
# The tables


def write_tables(landing_dir: Path, stage_events: pl.DataFrame, interviews: pl.DataFrame, config: Config) -> dict:
    """Lever's tables for the funnel under `landing_dir` (landing/lever/), in the connector's layouts,
    with Lever's own dirt; returns the `sources: lever:` block that maps them."""
    conn = _connect(stage_events, interviews, config)
    try:
        tables = _tables(conn)
        landing_dir.mkdir(parents=True, exist_ok=True)
        for table, frame in tables.items():
            if table == "opportunity_stage_history":
                _write_parts(landing_dir / table, frame)
            else:
                _csv(frame).write_csv(landing_dir / f"{table}.csv")
    finally:
        conn.close()
    return sources_block(config)


def sources_block(config: Config) -> dict[str, Any]:
    """The `sources: lever:` block for the tables `write_tables` writes (everything but its dirt mapped)."""
    return {
        "roles": {ROLE_NAMES.get(role, _title(role)): role for role in config.roles},
        "stages": {text: stage for _, text, stage, _ in _stages(config) if stage},
        "archive_reasons": {text: outcome for text, outcome in REASONS if outcome},
        "skills": {SKILL_NAMES.get(skill, _title(skill)): skill for skill in config.skills},
    }


def _names(conn: duckdb.DuckDBPyConnection, table: str, names: dict[str, str]) -> None:
    conn.execute(f"CREATE OR REPLACE TABLE {table} (key VARCHAR, name VARCHAR)")
    if names:
        conn.executemany(f"INSERT INTO {table} VALUES (?, ?)", list(names.items()))


def _tables(conn: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """Every table, as a frame in its layout (timestamps typed, naive UTC)."""
    config_roles = [r for (r,) in conn.execute("SELECT DISTINCT role FROM pipeline").fetchall()]
    _names(conn, "role_names", {r: ROLE_NAMES.get(r, _title(r)) for r in config_roles})
    skills = [s for (s,) in conn.execute(
        "SELECT DISTINCT lower(trim(skill)) FROM interview_frame WHERE skill IS NOT NULL").fetchall()]
    _names(conn, "skill_names", {s: SKILL_NAMES.get(s, _title(s)) for s in skills})
    _names(conn, "scores", SCORES)
    conn.execute("CREATE TABLE reasons AS SELECT * FROM (VALUES " + ", ".join(
        f"('{text}')" for text, _ in REASONS) + f") AS r(text)")
    reason_id = _uuid("'reason:' || text")
    conn.execute(f"ALTER TABLE reasons ADD COLUMN id VARCHAR; UPDATE reasons SET id = {reason_id}")
    n = conn.execute("SELECT count(*) FROM apps").fetchall()[0][0]
    synced = conn.execute("SELECT coalesce(max(t), TIMESTAMP '2025-01-01') + INTERVAL 1 DAY FROM ev").fetchall()[0][0]
    conn.execute("CREATE TABLE synced AS SELECT ?::TIMESTAMP AS synced_at", [synced])
    recruiter = _uuid("'user:recruiter'")
    # Postings: one per role, team and level (Lever's categories).
    conn.execute(
        f"""
        CREATE TABLE postings AS
        SELECT {_uuid("'posting:' || a.role || ':' || coalesce(a.team, '') || ':' || coalesce(a.level, '')")} AS id,
            a.role, a.team, a.level, rn.name AS text, min(a.first_t) - INTERVAL 14 DAY AS created_at
        FROM apps AS a JOIN role_names AS rn ON rn.key = a.role
        GROUP BY ALL
        """
    )
    conn.execute(
        f"""
        INSERT INTO postings SELECT {_uuid("'posting:unmapped'")}, NULL, NULL, NULL, '{UNMAPPED_POSTING}',
            (SELECT min(first_t) FROM apps) - INTERVAL 14 DAY
        """
    )
    conn.execute(
        f"""
        CREATE TABLE app_posting AS
        SELECT a.*, p.id AS posting_id FROM apps AS a
        JOIN postings AS p ON p.role = a.role AND p.team IS NOT DISTINCT FROM a.team AND p.level IS NOT DISTINCT FROM a.level
        """
    )
    # The dirt's opportunities, each modelled on a real application (the first ones by id).
    n_lead, n_deleted, n_import, n_unmapped = max(1, n // 50), max(1, n // 100), max(1, n // 100), max(1, n // 200)
    conn.execute(
        f"""
        CREATE TABLE templates AS
        SELECT *, row_number() OVER (ORDER BY app) AS i FROM app_posting
        ORDER BY app LIMIT {max(n_lead, n_deleted, n_import, n_unmapped)}
        """
    )
    lead = "'lead-new'"
    conn.execute(
        f"""
        CREATE TABLE dirt_moves AS
        -- leads that never applied: New lead, then Reached out
        SELECT 'opp-lead-' || lpad(i::VARCHAR, 5, '0') AS app, {lead} AS stage_id, 0 AS idx, first_t AS t, 1 AS mi
        FROM templates WHERE i <= {n_lead}
        UNION ALL
        SELECT 'opp-lead-' || lpad(i::VARCHAR, 5, '0'), 'lead-reached-out', 1, first_t + INTERVAL 1 DAY, 2
        FROM templates WHERE i <= {n_lead}
        UNION ALL
        -- opportunities a re-sync marked deleted: the template's whole history
        SELECT 'opp-deleted-' || lpad(t.i::VARCHAR, 5, '0'), m.stage_id, m.idx, m.t, m.mi
        FROM templates AS t JOIN moves AS m ON m.app = t.app WHERE t.i <= {n_deleted}
        UNION ALL
        -- candidates imported straight into the Reference Check (unmapped)
        SELECT 'opp-import-' || lpad(i::VARCHAR, 5, '0'), s.stage_id, s.idx, first_t + INTERVAL 2 HOUR, 1
        FROM templates, lever_stages AS s WHERE i <= {n_import} AND s.text = '{UNMAPPED_STAGE}'
        UNION ALL
        -- applicants to a posting the block does not map
        SELECT 'opp-sdr-' || lpad(t.i::VARCHAR, 5, '0'), m.stage_id, m.idx, m.t, m.mi
        FROM templates AS t JOIN moves AS m ON m.app = t.app AND m.mi <= 2 WHERE t.i <= {n_unmapped}
        """
    )
    conn.execute(
        f"""
        CREATE TABLE dirt_opps AS
        SELECT d.app AS id,
            CASE WHEN d.app LIKE 'opp-lead-%' THEN 'cand-lead-' WHEN d.app LIKE 'opp-deleted-%' THEN 'cand-deleted-'
                 WHEN d.app LIKE 'opp-import-%' THEN 'cand-import-' ELSE 'cand-sdr-' END || right(d.app, 5) AS contact,
            min(d.t) AS created_at, max(d.t) AS updated_at, arg_max(d.stage_id, d.mi) AS stage_id,
            CASE WHEN d.app LIKE 'opp-lead-%' AND right(d.app, 1) IN ('1', '3', '5', '7', '9')
                 THEN max(d.t) + INTERVAL 5 DAY END AS archived_at,
            CASE WHEN d.app LIKE 'opp-lead-%' THEN 'sourced' ELSE 'applied' END AS origin,
            d.app LIKE 'opp-deleted-%' AS deleted,
            CASE WHEN d.app LIKE 'opp-sdr-%' THEN {_uuid("'posting:unmapped'")} ELSE any_value(t.posting_id) END AS posting_id,
            d.app LIKE 'opp-lead-%' AND right(d.app, 1) IN ('0', '2', '4', '6', '8') AS no_application
        FROM dirt_moves AS d
        JOIN templates AS t ON t.i = CAST(right(d.app, 5) AS INTEGER)
        GROUP BY d.app
        """
    )
    # Sourced applicants were leads first: a New lead and a Reached out before they applied.
    conn.execute(
        """
        CREATE TABLE sourced_moves AS
        SELECT app, 'lead-new' AS stage_id, 0 AS idx, first_t - INTERVAL 3 DAY AS t, -1 AS mi FROM apps
        WHERE source = 'recruiter_outreach'
        UNION ALL
        SELECT app, 'lead-reached-out', 1, first_t - INTERVAL 2 DAY, 0 FROM apps WHERE source = 'recruiter_outreach'
        """
    )
    out: dict[str, pl.DataFrame] = {}
    out["stage"] = _layout("stage", conn.sql(
        "SELECT stage_id AS id, 'false' AS _fivetran_deleted, (SELECT synced_at FROM synced) AS _fivetran_synced, text"
        " FROM lever_stages ORDER BY idx"))
    out["archive_reason"] = _layout("archive_reason", conn.sql(
        "SELECT id, 'false' AS _fivetran_deleted, (SELECT synced_at FROM synced) AS _fivetran_synced, text FROM reasons"))
    out["posting"] = _layout("posting", conn.sql(
        f"""
        SELECT id, 'false' AS _fivetran_deleted, (SELECT synced_at FROM synced) AS _fivetran_synced,
            'Full-time' AS categories_commitment, 'Engineering' AS categories_department, level AS categories_level,
            'Remote' AS categories_location, team AS categories_team, created_at, {recruiter} AS creator_id,
            {recruiter} AS owner_id, 'published' AS state, text, created_at AS updated_at
        FROM postings ORDER BY text, id
        """))
    out["opportunity"] = _layout("opportunity", conn.sql(
        f"""
        WITH last_move AS (SELECT * FROM moves QUALIFY row_number() OVER (PARTITION BY app ORDER BY mi DESC) = 1)
        SELECT a.app AS id, (SELECT synced_at FROM synced) AS _fivetran_synced, ar.t AS archived_at,
            r.id AS archived_reason_id, a.cand AS contact, a.first_t AS created_at, 'false' AS is_anonymized,
            lm.t AS last_advanced_at, a.last_t AS last_interaction_at, 'Candidate ' || a.cand AS name,
            CASE a.source WHEN 'referral' THEN 'referred' WHEN 'agency' THEN 'agency'
                 WHEN 'recruiter_outreach' THEN 'sourced' ELSE 'applied' END AS origin,
            {recruiter} AS owner_id, lm.stage_id, a.last_t AS updated_at, 'false' AS _fivetran_deleted
        FROM apps AS a
        JOIN last_move AS lm ON lm.app = a.app
        LEFT JOIN archives AS ar ON ar.app = a.app
        LEFT JOIN reasons AS r ON r.text = ar.reason
        UNION ALL
        SELECT d.id, (SELECT synced_at FROM synced), d.archived_at,
            CASE WHEN d.archived_at IS NOT NULL THEN (SELECT id FROM reasons WHERE text = 'Not interested') END,
            d.contact, d.created_at, 'false', d.updated_at, d.updated_at, 'Candidate ' || d.contact, d.origin,
            {recruiter}, d.stage_id, d.updated_at, CASE WHEN d.deleted THEN 'true' ELSE 'false' END
        FROM dirt_opps AS d
        ORDER BY id
        """))
    history = conn.sql(
        f"""
        WITH all_moves AS (
            SELECT app, stage_id, idx, t, mi FROM moves
            UNION ALL SELECT app, stage_id, idx, t, mi FROM sourced_moves
            UNION ALL SELECT app, stage_id, idx, t, mi FROM dirt_moves
        )
        SELECT app AS opportunity_id, t AS updated_at, (SELECT synced_at FROM synced) AS _fivetran_synced, stage_id,
            idx AS to_stage_index, {recruiter} AS updater_id
        FROM all_moves ORDER BY app LIKE 'opp-%', app, t, mi
        """)
    out["opportunity_stage_history"] = _layout("opportunity_stage_history", history)
    out["application"] = _layout("application", conn.sql(
        f"""
        SELECT {_uuid("'application:' || a.app")} AS id, (SELECT synced_at FROM synced) AS _fivetran_synced,
            ar.t AS archived_at, r.id AS archived_reason_id, a.first_t AS created_at, a.posting_id,
            CASE WHEN ar.kind = 'hired' AND right(md5(a.app), 1) IN ('0', '2', '4', '6', '8', 'a', 'c', 'e')
                 THEN {_uuid("'requisition:' || a.role")} END AS requisition_for_hire_id,
            CASE WHEN a.source = 'referral' THEN 'referral' WHEN a.source = 'recruiter_outreach' THEN 'user'
                 ELSE 'posting' END AS type,
            a.app AS opportunity_id
        FROM app_posting AS a
        LEFT JOIN archives AS ar ON ar.app = a.app
        LEFT JOIN reasons AS r ON r.text = ar.reason
        UNION ALL
        SELECT {_uuid("'application:' || d.id")}, (SELECT synced_at FROM synced), NULL, NULL, d.created_at, d.posting_id, NULL,
            CASE WHEN d.origin = 'sourced' THEN 'user' ELSE 'posting' END, d.id
        FROM dirt_opps AS d WHERE NOT d.no_application
        ORDER BY opportunity_id
        """))
    out["opportunity_source"] = _layout("opportunity_source", conn.sql(
        """
        SELECT app AS opportunity_id, source, (SELECT synced_at FROM synced) AS _fivetran_synced
        FROM apps WHERE source IS NOT NULL
        UNION ALL
        SELECT id, 'LinkedIn', (SELECT synced_at FROM synced) FROM dirt_opps WHERE origin = 'sourced'
        ORDER BY opportunity_id
        """))
    # Interviews: one Lever interview per interviewer, its user and its feedback form; every tenth was
    # rescheduled (the first one canceled), every twentieth form has a deleted draft.
    conn.execute(
        f"""
        CREATE TABLE ivs AS
        SELECT i.*, coalesce(i.interview_id, i.application_id || ':' || i.ord) AS key,
            {_uuid("'interview:' || coalesce(i.interview_id, i.application_id || ':' || i.ord)")} AS id,
            {_uuid("'form:' || coalesce(i.interview_id, i.application_id || ':' || i.ord)")} AS form_id,
            s.stage_id, sk.name AS form_text, sc.name AS score, CAST(i.occurred_at AS TIMESTAMP) AS t
        FROM ({_interviews_sql()}) AS i
        JOIN lever_stages AS s ON s.stage = i.stage
        LEFT JOIN skill_names AS sk ON sk.key = i.skill
        LEFT JOIN scores AS sc ON sc.key = i.recommendation
        """
    )
    out["interview"] = _layout("interview", conn.sql(
        f"""
        SELECT id, (SELECT synced_at FROM synced) AS _fivetran_synced, NULL::TIMESTAMP AS canceled_at,
            t - INTERVAL 5 DAY AS created_at, {recruiter} AS creator_id, t AS date, 45 AS duration, 'once' AS feedback_reminder,
            stage_id, coalesce(form_text, skill) || ' interview' AS subject, 'UTC' AS timezone, application_id AS opportunity_id
        FROM ivs
        UNION ALL
        SELECT {_uuid("'canceled:' || key")}, (SELECT synced_at FROM synced), t - INTERVAL 3 DAY,
            t - INTERVAL 6 DAY, {recruiter},
            t - INTERVAL 2 DAY, 45, 'once', stage_id, coalesce(form_text, skill) || ' interview', 'UTC', application_id
        FROM ivs WHERE ord % 10 = 0
        ORDER BY opportunity_id, date
        """))
    out["interview_user"] = _layout("interview_user", conn.sql(
        """
        SELECT id AS interview_id, interviewer_id AS user_id, (SELECT synced_at FROM synced) AS _fivetran_synced FROM ivs
        UNION ALL
        SELECT {canceled}, interviewer_id, (SELECT synced_at FROM synced) FROM ivs WHERE ord % 10 = 0
        """.format(canceled=_uuid("'canceled:' || key"))))
    out["feedback_form"] = _layout("feedback_form", conn.sql(
        f"""
        SELECT form_id AS id, (SELECT synced_at FROM synced) AS _fivetran_synced, t + INTERVAL 2 HOUR AS completed_at,
            t + INTERVAL 1 HOUR AS created_at, interviewer_id AS creator_id, NULL::TIMESTAMP AS deleted_at,
            id AS interview_id, score AS score_system_value, {_uuid("'template:' || skill")} AS template_id,
            coalesce(form_text, skill) AS text, 'interview' AS type, application_id AS opportunity_id,
            'false' AS _fivetran_deleted
        FROM ivs
        UNION ALL
        SELECT {_uuid("'draft:' || key")}, (SELECT synced_at FROM synced), t + INTERVAL 1 HOUR, t + INTERVAL 30 MINUTE,
            interviewer_id, t + INTERVAL 3 HOUR, id, '2 - No Hire', {_uuid("'template:' || skill")},
            coalesce(form_text, skill), 'interview', application_id, 'true'
        FROM ivs WHERE ord % 20 = 5
        ORDER BY opportunity_id, created_at
        """))
    return out


def _layout(table: str, relation: duckdb.DuckDBPyRelation) -> pl.DataFrame:
    """A table's rows in the connector's column order (columns it lacks empty; extra ones last)."""
    frame = relation.pl()
    columns = [pl.col(c) if c in frame.columns else pl.lit(None, dtype=pl.String).alias(c) for c in LAYOUTS[table]]
    extra = [pl.col(c) for c in frame.columns if c not in LAYOUTS[table]]
    return frame.select(columns + extra)


def _csv(frame: pl.DataFrame) -> pl.DataFrame:
    """Timestamps as a CSV export of Fivetran's tables shows them: UTC, no offset, milliseconds."""
    return frame.with_columns(
        [pl.col(c).dt.strftime("%Y-%m-%d %H:%M:%S%.3f") for c, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime)])


def _write_parts(folder: Path, history: pl.DataFrame) -> None:
    """The stage history as a folder of Parquet parts (typed timestamps), whole opportunities per part,
    each part after the first starting with the previous part's last rows again (an overlapping re-export)."""
    folder.mkdir(parents=True, exist_ok=True)
    opps = history.get_column("opportunity_id").unique(maintain_order=True)
    size = max(1, min(HISTORY_PART_APPLICATIONS, -(-opps.len() // 2)))
    part_of = pl.DataFrame({"opportunity_id": opps, "__part": pl.int_range(0, opps.len(), eager=True) // size})
    history = history.join(part_of, on="opportunity_id", how="left", maintain_order="left")
    previous = None
    for number, part in enumerate(history.partition_by("__part", maintain_order=True, include_key=False), start=1):
        rows = part if previous is None else pl.concat([previous.tail(OVERLAP_ROWS), part])
        rows.write_parquet(folder / f"part-{number:04d}.parquet")
        previous = part
