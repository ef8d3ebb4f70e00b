"""Greenhouse, as Fivetran's Greenhouse connector syncs it: applications and their status changes into
stage events, scorecards into interviews (docs/sources.md, "Greenhouse").

The tables and columns are those of Fivetran's Greenhouse schema, as `fivetran/dbt_greenhouse_source`
reads them (its `macros/get_<table>_columns.sql` and `integration_tests/seeds/`); `job_stage.priority`
is in Fivetran's changelog (October 2021), `rejection_reason` and `offer` are Fivetran tables the dbt
package does not read (their columns are the Harvest API objects', flattened as Fivetran does:
`rejection_reason.type` -> `type_id`, `type_name`):

    application          one candidate's application: candidate_id, status, current_stage_id,
                         rejected_reason_id, source_id, applied_at / rejected_at / last_activity_at,
                         prospect, _fivetran_deleted / is_deleted
    application_history  every status or stage change: application_id, new_stage_id, new_status, updated_at
    job, job_application the job (name) and each application's job
    job_stage            a job's stages: name, priority (their order)
    rejection_reason     optional: type_name "We rejected them" | "They rejected us" | "None specified"
    offer                optional: status accepted | rejected (declined) | unresolved | deprecated, resolved_at
    source, candidate    optional: source names; candidate.new_candidate_id (merged candidates)
    scorecard, interview optional: interviews (the interview table places a scorecard at its stage)
    eeoc                 optional: one application's EEOC answers (gender_description, race_description,
                         veteran_status_description, disability_status_description, submitted_at),
                         into the demographics feed

How events are derived (all in DuckDB; docs/sources.md says it for users):

- Applications: `application` rows that are not deleted, not prospects and not `converted`; the
  others, and every history, job_application, offer and scorecard row of theirs, are excluded by
  rule (`deleted`, `prospect`, `converted`), never quarantined. One row per application id counts:
  the last read (a later file, a later line). The role is the mapped job of `job_application` (a
  job id, else the job's name; ids win); `candidate.new_candidate_id` replaces a merged candidate's
  id (followed through chains of merges); the source is `source.name` through `source_id`;
  requires_travel the `requires_travel_column` of the application, when the block names one.
- `application_history` per application ordered by `updated_at` (ties: file order):
  `active` at stage S is `in_progress` at S, and `passed` at P, the stage of the previous active
  row, when S comes later in the job's `job_stage.priority` order (not when P and S map to the same
  catalog stage: a move between two Greenhouse stages of one catalog stage decides nothing);
  `rejected` is failed / withdrew / `unspecified_rejection` (by the application's rejection reason
  type) at the current stage (the latest active row's; without one, the row's own stage, the
  application's `current_stage_id`, the job's first stage); `hired` is `passed` at the current stage,
  and at `offer` when the current stage is not mapped to offer. Any other status derives nothing.
- An application without history rows: `in_progress` at the job's first stage (lowest priority) at
  `applied_at`; when `current_stage_id` is another stage, `passed` at the first stage and
  `in_progress` at the current one at `last_activity_at`; then `rejected` at `rejected_at` or
  `hired` at `last_activity_at` as above. (Its `passed` at offer, a fifth event of one row, is read
  as from the application's job_application row.)
- `offer` (its last row per id): `accepted` is `passed` at offer, `rejected` (the candidate
  declined) `withdrew` at offer, at `resolved_at`; deleted offers are excluded.
- `scorecard` (its last row per id, not deleted): an interview at the mapped stage of the
  interview of that name in the application's job (`interview.name` -> `job_stage_id`; of two, the
  stage the application was at on `interviewed_at`, else the earlier), else at `onsite`.
- `eeoc` (its last row per application_id, not deleted, of an application not excluded): one
  self-identification response of the application's candidate (merges followed) at `submitted_at`,
  Greenhouse's wording mapped to the contract's categories (EEOC_ANSWERS); a wording without a
  mapping goes as sent, so ingestion quarantines it as unknown_category. `derived_demographics`.

A job, stage or interview name without a mapping keeps the ATS's text (followed by " (unmapped)" if
that text happens to be a configured key), so ingestion quarantines the event as unknown_role,
unknown_stage or unknown_skill, with the application, the job and the stage in the detail.

Event ids come from Greenhouse's keys, with the instant spelled one way whatever the file's format,
so a resync repeating rows gives the same ids:

    greenhouse:application_history:<application_id>:<updated_at>:<new_status>:<new_stage_id>:in_progress | passed | rejected | hired | hired_offer
    greenhouse:application:<application_id>:applied | first_passed | current | rejected | hired | hired_offer
    greenhouse:offer:<offer_id>:resolved
    greenhouse:scorecard:<scorecard_id>
"""

from __future__ import annotations

import duckdb

from funnel.config import Config
from funnel.ingest import _category
from funnel.sources.mapping import SourceMapping
from funnel.sources.tables import create_empty, ensure_columns

REQUIRED_TABLES: dict[str, tuple[str, ...]] = {
    "application": ("id", "candidate_id"),
    "application_history": ("application_id", "new_stage_id", "new_status", "updated_at"),
    "job": ("id", "name"),
    "job_application": ("application_id", "job_id"),
    "job_stage": ("id", "job_id", "name"),
}
OPTIONAL_TABLES: dict[str, tuple[str, ...]] = {
    "rejection_reason": ("id", "name", "type_name"),
    "offer": ("id", "application_id", "status", "resolved_at", "_fivetran_deleted"),
    "source": ("id", "name"),
    "candidate": ("id", "new_candidate_id"),
    "scorecard": ("id", "application_id", "interview", "interviewed_at", "overall_recommendation",
                  "submitted_by_user_id", "_fivetran_deleted"),
    "interview": ("id", "job_stage_id", "name"),
    "eeoc": ("application_id", "gender_description", "race_description", "veteran_status_description",
             "disability_status_description", "submitted_at", "_fivetran_deleted"),
}
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "application": ("status", "applied_at", "rejected_at", "last_activity_at", "current_stage_id",
                    "rejected_reason_id", "source_id", "prospect", "is_deleted", "_fivetran_deleted"),
    "job_stage": ("priority",),
}

# Greenhouse's rejection reason types (rejection_reason.type_name), matched ignoring case.
REJECTION_TYPES = {"we rejected them": "failed", "they rejected us": "withdrew"}
# scorecard.overall_recommendation -> the contract's recommendation.
RECOMMENDATIONS = {"definitely_not": "strong_no", "no": "no", "yes": "yes", "strong_yes": "strong_yes",
                   "no_decision": "no_decision"}
# Greenhouse's EEOC answers (eeoc.<column>_description) in the contract's categories, matched on the
# answer normalized as ingestion normalizes a category (lower case, runs of spaces and punctuation '_').
# Listed are only the wordings that are not a category's spelling already: "Male", "Female", "Asian",
# "White", "Black or African American", "Hispanic or Latino", "Native Hawaiian or Other Pacific
# Islander" and "Two or More Races" normalize to categories as they are, "Decline To Self Identify" and
# "I don't wish to answer" to unknown. Each rule: ("=", wording, category) for that exact wording, or
# ("^", start, category) for every wording that starts so (the long answers of the veteran and
# disability questions come in several versions of the federal forms). Any other wording is handed over
# as sent and quarantined (unknown_category), its detail naming it.
EEOC_COLUMNS = {"sex": "gender_description", "race_ethnicity": "race_description",
                "veteran_status": "veteran_status_description", "disability_status": "disability_status_description"}
EEOC_ANSWERS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "sex": (),
    "race_ethnicity": (("=", "american_indian_or_alaskan_native", "american_indian_or_alaska_native"),),
    "veteran_status": (
        # "I identify as one or more of the classifications of protected veteran [listed above]"
        ("^", "i_identify_as_one_or_more_of_the_classifications_of", "protected_veteran"),
        ("=", "i_am_not_a_protected_veteran", "not_protected_veteran"),
    ),
    "disability_status": (
        # "Yes, I have a disability, or have a history/record of having a disability" (form CC-305 before its
        # 2023 revision), "Yes, I have a disability, or have had one in the past" (since), "Yes, I have a disability
        # (or previously had a disability)"; the "No" answers likewise
        ("^", "yes_i_have_a_disability", "yes"),
        ("^", "no_i_don_t_have_a_disability", "no"),
        ("^", "no_i_do_not_have_a_disability", "no"),
        ("=", "i_do_not_want_to_answer", "unknown"),  # CC-305 since 2023: declined
    ),
}
# Helper tables of a derivation or an inventory, dropped when it ends.
WORK_TABLES = ("gh_map", "gh_keys", "gh_job", "gh_stage", "gh_cand", "gh_app", "gh_hist", "gh_events",
               "gh_sc", "gh_iv")


# ---------------------------------------------------------------------------------------------
# SQL snippets


def _text(col: str) -> str:
    """A value as text: trimmed, NULL when empty."""
    return f"nullif(trim({col}), '')"


def _id(col: str) -> str:
    """An id as text: trimmed; a whole number written as a float (4001.0, from a typed column) is the number."""
    return f"regexp_replace({_text(col)}, '^([0-9]+)\\.0+$', '\\1')"


def _true(col: str) -> str:
    """A boolean column (`_fivetran_deleted`, `prospect`): true only when it says so."""
    return f"coalesce(lower(trim({col})) IN ('true', 't', '1', 'yes', 'y'), false)"


def _instant(text: str) -> str:
    """The UTC instant of a timestamp text (NULL when unreadable), as ingestion reads it."""
    return f"try_cast(CASE WHEN {text} GLOB '[0-9]*' THEN {text} END AS TIMESTAMPTZ) AT TIME ZONE 'UTC'"


def _canon(text: str) -> str:
    """A timestamp as an event id spells it: one spelling per instant, whatever the file's format."""
    return f"coalesce(strftime({_instant(text)}, '%Y-%m-%dT%H:%M:%S.%fZ'), {text}, '')"


def _order(alias: str = "") -> str:
    """A table row's reading position: file, then line."""
    p = f"{alias}." if alias else ""
    return f"({p}__file_index::BIGINT * 10000000000 + {p}__line)"


def _sql_list(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) or "NULL"


def _unmapped(expr: str, kind: str) -> str:
    """An ATS name without a mapping, as the event carries it: its own text, followed by ' (unmapped)'
    when that text is a configured key (so that it is quarantined all the same)."""
    return (f"CASE WHEN lower(trim({expr})) IN (SELECT key FROM gh_keys WHERE kind = '{kind}') "
            f"THEN trim({expr}) || ' (unmapped)' ELSE trim({expr}) END")


def _last(table: str, key: str) -> str:
    """One row per key of an ATS table: the last one read (a later file, a later line)."""
    return (f"SELECT *, {_id(key)} AS __key FROM ats_{table} WHERE {_id(key)} IS NOT NULL "
            f"QUALIFY row_number() OVER (PARTITION BY {_id(key)} ORDER BY __file_index DESC, __line DESC) = 1")


# ---------------------------------------------------------------------------------------------
# The mapping and what every derivation and inventory needs


def _ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """The optional tables and columns, as the runner makes them (an inventory may come first)."""
    have = {name for (name,) in conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'temp'").fetchall()}
    for table, columns in OPTIONAL_TABLES.items():
        if f"ats_{table}" in have:
            ensure_columns(conn, table, columns)
        else:
            create_empty(conn, table, columns)
    for table, columns in OPTIONAL_COLUMNS.items():
        if f"ats_{table}" in have:
            ensure_columns(conn, table, columns)


def _load_mapping(conn: duckdb.DuckDBPyConnection, mapping: SourceMapping, config: Config | None) -> None:
    """gh_map (kind, job, key, target): job ids exactly (trimmed), names trimmed and lower-cased; a
    job_stages override has its job id. gh_keys (kind, key): the configured keys (unmapped names that
    equal one are marked, see _unmapped)."""
    rows = [("role_id", None, str(k).strip(), v) for k, v in mapping.roles.items()]
    rows += [("role_name", None, str(k).strip().lower(), v) for k, v in mapping.roles.items()]
    rows += [("stage", None, str(k).strip().lower(), v) for k, v in mapping.stages.items()]
    rows += [("stage", str(job).strip(), str(k).strip().lower(), v)
             for job, overrides in mapping.job_stages.items() for k, v in overrides.items()]
    rows += [("skill", None, str(k).strip().lower(), v) for k, v in mapping.skills.items()]
    conn.execute("CREATE OR REPLACE TEMP TABLE gh_map (kind VARCHAR, job VARCHAR, key VARCHAR, target VARCHAR)")
    if rows:
        conn.executemany("INSERT INTO gh_map VALUES (?, ?, ?, ?)", rows)
    keys = []
    if config is not None:
        keys = [("role", r) for r in config.roles] + [("stage", s) for s in config.stages]
        keys += [("skill", s) for s in config.skills]
    conn.execute("CREATE OR REPLACE TEMP TABLE gh_keys (kind VARCHAR, key VARCHAR)")
    if keys:
        conn.executemany("INSERT INTO gh_keys VALUES (?, ?)", keys)


def _prepare(conn: duckdb.DuckDBPyConnection, mapping: SourceMapping, config: Config | None,
             unspecified: str = "failed") -> None:
    """The helper tables: jobs and stages with their mapped values, merged candidates, and each
    application's attributes and exclusion rule."""
    _ensure_tables(conn)
    _load_mapping(conn, mapping, config)
    # Jobs: the role by id, else by name (ids win); unmapped, the job's name (or id) as the ATS has it.
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gh_job AS
        WITH j AS ({_last('job', 'id')})
        SELECT j.__key AS job_id, {_text('j.name')} AS name,
            coalesce(by_id.target, by_name.target) AS role_key
        FROM j
        LEFT JOIN gh_map AS by_id ON by_id.kind = 'role_id' AND by_id.key = j.__key
        LEFT JOIN gh_map AS by_name ON by_name.kind = 'role_name' AND by_name.key = lower(trim(j.name))
        """
    )
    # Stages: their order in the job (priority, then id), the mapped catalog stage (the job's
    # override first), and what an event carries (the catalog stage, else the stage's own name).
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gh_stage AS
        WITH s AS ({_last('job_stage', 'id')})
        SELECT s.__key AS stage_id, {_id('s.job_id')} AS job_id, {_text('s.name')} AS name,
            row_number() OVER (PARTITION BY {_id('s.job_id')}
                               ORDER BY try_cast(trim(s.priority) AS DOUBLE) NULLS LAST,
                                        try_cast(s.__key AS HUGEINT) NULLS LAST, s.__key) AS rank,
            coalesce(o.target, g.target) AS stage_key,
            coalesce(o.target, g.target, {_unmapped("coalesce(nullif(trim(s.name), ''), 'job_stage ' || s.__key)", 'stage')})
                AS stage_text
        FROM s
        LEFT JOIN gh_map AS o ON o.kind = 'stage' AND o.job = {_id('s.job_id')} AND o.key = lower(trim(s.name))
        LEFT JOIN gh_map AS g ON g.kind = 'stage' AND g.job IS NULL AND g.key = lower(trim(s.name))
        """
    )
    # Merged candidates: new_candidate_id, followed through chains of merges (at most 10 deep).
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gh_cand AS
        WITH RECURSIVE c AS (
            SELECT __key AS id, {_id('new_candidate_id')} AS new_id FROM ({_last('candidate', 'id')})
        ),
        walk(start_id, cur, depth) AS (
            SELECT id, new_id, 1 FROM c WHERE new_id IS NOT NULL AND new_id <> id
            UNION ALL
            SELECT w.start_id, c.new_id, w.depth + 1
            FROM walk AS w JOIN c ON c.id = w.cur
            WHERE c.new_id IS NOT NULL AND c.new_id <> c.id AND w.depth < 10
        )
        SELECT start_id AS candidate_id, arg_max(cur, depth) AS final_id FROM walk GROUP BY start_id
        """
    )
    travel = mapping.requires_travel_column
    if travel:
        ensure_columns(conn, "application", (travel,))
    travel_sql = f'{_text(f"a.{_quoted(travel)}")}' if travel else "NULL::VARCHAR"
    # Applications, by their last row: the exclusion rule, the job and role, the candidate (merges
    # followed), the source, the rejection outcome, the job's first stage, the timestamps.
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gh_app AS
        WITH a AS ({_last('application', 'id')}),
        ja AS (
            SELECT {_id('application_id')} AS app_id,
                arg_min({_id('job_id')}, {_order()}) AS job_id,
                arg_min(__file_index, {_order()}) AS ja_file, arg_min(__line, {_order()}) AS ja_line
            FROM ats_job_application WHERE {_id('application_id')} IS NOT NULL GROUP BY ALL
        ),
        src AS ({_last('source', 'id')}),
        rr AS ({_last('rejection_reason', 'id')})
        SELECT a.__key AS app_id, a.__file_index AS app_file, a.__line AS app_line,
            CASE WHEN {_true('a._fivetran_deleted')} OR {_true('a.is_deleted')} THEN 'deleted'
                 WHEN {_true('a.prospect')} THEN 'prospect'
                 WHEN lower(trim(a.status)) = 'converted' THEN 'converted' END AS rule,
            lower(trim(a.status)) AS status,
            coalesce(m.final_id, {_id('a.candidate_id')}) AS candidate_id,
            m.final_id IS NOT NULL AS merged,
            ja.job_id, ja.ja_file, ja.ja_line, j.name AS job_name,
            CASE WHEN ja.job_id IS NULL THEN NULL
                 ELSE coalesce(j.role_key, by_id.target,
                               {_unmapped("coalesce(j.name, 'job ' || ja.job_id)", 'role')}) END AS role,
            {_text('src.name')} AS source,
            {travel_sql} AS requires_travel,
            CASE lower(trim(rr.type_name)) {' '.join(f"WHEN '{k}' THEN '{v}'" for k, v in REJECTION_TYPES.items())}
                 ELSE '{unspecified}' END AS reject_outcome,
            first.stage_id AS first_stage,
            {_id('a.current_stage_id')} AS current_stage,
            {_text('a.applied_at')} AS applied_at,
            {_text('a.last_activity_at')} AS last_activity_at,
            {_text('a.rejected_at')} AS rejected_at,
            CASE WHEN ja.job_id IS NULL THEN 'application ' || a.__key || ' has no job_application row'
                 ELSE 'job ' || ja.job_id || coalesce(' "' || j.name || '"', ' (not in the job table)') END AS context
        FROM a
        LEFT JOIN gh_cand AS m ON m.candidate_id = {_id('a.candidate_id')}
        LEFT JOIN ja ON ja.app_id = a.__key
        LEFT JOIN gh_job AS j ON j.job_id = ja.job_id
        LEFT JOIN gh_map AS by_id ON by_id.kind = 'role_id' AND by_id.key = ja.job_id
        LEFT JOIN src ON src.__key = {_id('a.source_id')}
        LEFT JOIN rr ON rr.__key = {_id('a.rejected_reason_id')}
        LEFT JOIN gh_stage AS first ON first.job_id = ja.job_id AND first.rank = 1
        """
    )


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _drop_work_tables(conn: duckdb.DuckDBPyConnection) -> None:
    for name in WORK_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")


# ---------------------------------------------------------------------------------------------
# Derivation


def derive(conn: duckdb.DuckDBPyConnection, mapping: SourceMapping, config: Config) -> dict[str, int]:
    """derived_stage_events, derived_interviews, derived_demographics and excluded_rows from the `ats_*`
    tables."""
    try:
        travel = mapping.requires_travel_column
        travel_missing = bool(travel) and not conn.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE database_name = 'temp' AND table_name = 'ats_application'"
            " AND column_name = ?", [travel]).fetchall()[0][0]
        _prepare(conn, mapping, config, mapping.unspecified_rejection)
        _excluded(conn)
        _history(conn)
        _events(conn)
        _interviews(conn)
        _demographics(conn)
        notes = {}
        without, merged = conn.execute(
            """
            SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM gh_hist AS h WHERE h.app_id = a.app_id)),
                count(*) FILTER (WHERE merged)
            FROM gh_app AS a WHERE rule IS NULL
            """).fetchall()[0]
        if without:
            notes["derived without history"] = without
        if merged:
            notes["merged candidates"] = merged
        if travel_missing:  # requires_travel stays unknown
            notes[f"application has no {travel} column (requires_travel_column)"] = 1
        return notes
    finally:
        _drop_work_tables(conn)


def _deleted_or_excluded(table: str, key: str) -> str:
    """SQL for the rows of `table` that are out: every version of a `key` whose last version read is
    deleted ('deleted'), and the rows of an excluded application (its rule). Reads `app_rule`."""
    return f"""SELECT t.__file_index, t.__line,
                CASE WHEN last_deleted THEN 'deleted' ELSE r.rule END
            FROM (SELECT *, first_value({_true('_fivetran_deleted')}) OVER (
                      PARTITION BY coalesce({_id(key)}, 'row ' || __file_index || ':' || __line)
                      ORDER BY __file_index DESC, __line DESC) AS last_deleted
                  FROM {table}) AS t
            LEFT JOIN app_rule AS r ON r.app_id = {_id('t.application_id')}
            WHERE last_deleted OR r.rule IS NOT NULL"""


def _excluded(conn: duckdb.DuckDBPyConnection) -> None:
    """excluded_rows: the rows of deleted applications, prospects and converted prospects (every table
    of theirs), and deleted offers, scorecards and EEOC answers; one rule per row."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE excluded_rows AS
        WITH app_rule AS (SELECT app_id, rule FROM gh_app WHERE rule IS NOT NULL),
        rows AS (
            SELECT a.__file_index, a.__line, r.rule
            FROM ats_application AS a JOIN app_rule AS r ON r.app_id = {_id('a.id')}
            UNION ALL
            SELECT h.__file_index, h.__line, r.rule
            FROM ats_application_history AS h JOIN app_rule AS r ON r.app_id = {_id('h.application_id')}
            UNION ALL
            SELECT j.__file_index, j.__line, r.rule
            FROM ats_job_application AS j JOIN app_rule AS r ON r.app_id = {_id('j.application_id')}
            UNION ALL
            {_deleted_or_excluded('ats_offer', 'id')}
            UNION ALL
            {_deleted_or_excluded('ats_scorecard', 'id')}
            UNION ALL
            -- eeoc: one row per application (the last read); all of an application's rows go with its last
            {_deleted_or_excluded('ats_eeoc', 'application_id')}
        )
        SELECT __file_index::INTEGER AS __file_index, __line::BIGINT AS __line, rule FROM rows
        """
    )


def _history(conn: duckdb.DuckDBPyConnection) -> None:
    """gh_hist: the history rows of the applications not excluded (and of applications missing from
    the application table), in order, each with the stage of the previous active row."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gh_hist AS
        WITH h AS (
            SELECT h.__file_index, h.__line, {_id('h.application_id')} AS app_id,
                {_text('h.updated_at')} AS updated_at, {_instant(_text('h.updated_at'))} AS at_ts,
                lower(trim(h.new_status)) AS status, {_id('h.new_stage_id')} AS stage_id
            FROM ats_application_history AS h
            LEFT JOIN gh_app AS a ON a.app_id = {_id('h.application_id')}
            WHERE a.rule IS NULL AND {_id('h.application_id')} IS NOT NULL
        )
        SELECT *,
            last_value(CASE WHEN status = 'active' THEN stage_id END IGNORE NULLS) OVER (
                PARTITION BY app_id ORDER BY at_ts NULLS LAST, __file_index, __line
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_active
        FROM h
        """
    )


def _events(conn: duckdb.DuckDBPyConnection) -> None:
    """derived_stage_events: from the history rows, the applications without history, and the offers."""
    hist_id = ("'greenhouse:application_history:' || h.app_id || ':' || " + _canon("h.updated_at")
               + " || ':' || coalesce(h.status, '') || ':' || coalesce(h.stage_id, '') || ':'")
    app_id = "'greenhouse:application:' || a.app_id || ':'"
    # The current stage of a rejection or a hire: the latest active row's, else the row's own, the
    # application's current stage, the job's first stage.
    current = "coalesce(h.prev_active, h.stage_id, a.current_stage, a.first_stage)"
    no_history = "a.rule IS NULL AND NOT EXISTS (SELECT 1 FROM gh_hist AS x WHERE x.app_id = a.app_id)"
    app_current = "coalesce(a.current_stage, a.first_stage)"
    moved = f"{app_current} IS DISTINCT FROM a.first_stage AND a.current_stage IS NOT NULL"
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gh_events AS
        -- history: active
        SELECT h.__file_index, h.__line, 0 AS __seq, {hist_id} || 'in_progress' AS event_id, h.app_id,
            h.stage_id, NULL AS stage_key, 'in_progress' AS outcome, h.updated_at AS occurred_at
        FROM gh_hist AS h WHERE h.status = 'active'
        UNION ALL
        SELECT h.__file_index, h.__line, 1, {hist_id} || 'passed', h.app_id, h.prev_active, NULL, 'passed', h.updated_at
        FROM gh_hist AS h
        JOIN gh_stage AS s ON s.stage_id = h.stage_id
        JOIN gh_stage AS p ON p.stage_id = h.prev_active
        WHERE h.status = 'active' AND h.prev_active <> h.stage_id AND s.rank > p.rank
          AND NOT (s.stage_key IS NOT NULL AND s.stage_key IS NOT DISTINCT FROM p.stage_key)
        UNION ALL
        -- history: rejected, hired
        SELECT h.__file_index, h.__line, 0, {hist_id} || 'rejected', h.app_id, {current}, NULL,
            coalesce(a.reject_outcome, 'failed'), h.updated_at
        FROM gh_hist AS h LEFT JOIN gh_app AS a ON a.app_id = h.app_id
        WHERE h.status = 'rejected'
        UNION ALL
        SELECT h.__file_index, h.__line, 0, {hist_id} || 'hired', h.app_id, {current}, NULL, 'passed', h.updated_at
        FROM gh_hist AS h LEFT JOIN gh_app AS a ON a.app_id = h.app_id
        WHERE h.status = 'hired' AND {current} IS NOT NULL
        UNION ALL
        SELECT h.__file_index, h.__line, 1, {hist_id} || 'hired_offer', h.app_id, NULL, 'offer', 'passed', h.updated_at
        FROM gh_hist AS h LEFT JOIN gh_app AS a ON a.app_id = h.app_id
        LEFT JOIN gh_stage AS c ON c.stage_id = {current}
        WHERE h.status = 'hired' AND c.stage_key IS DISTINCT FROM 'offer'
        UNION ALL
        -- applications without history
        SELECT a.app_file, a.app_line, 0, {app_id} || 'applied', a.app_id, a.first_stage, NULL, 'in_progress', a.applied_at
        FROM gh_app AS a WHERE {no_history}
        UNION ALL
        SELECT a.app_file, a.app_line, 1, {app_id} || 'first_passed', a.app_id, a.first_stage, NULL, 'passed',
            a.last_activity_at
        FROM gh_app AS a WHERE {no_history} AND {moved}
        UNION ALL
        SELECT a.app_file, a.app_line, 2, {app_id} || 'current', a.app_id, a.current_stage, NULL, 'in_progress',
            a.last_activity_at
        FROM gh_app AS a WHERE {no_history} AND {moved}
        UNION ALL
        SELECT a.app_file, a.app_line, 3, {app_id} || 'rejected', a.app_id, {app_current}, NULL, a.reject_outcome,
            a.rejected_at
        FROM gh_app AS a WHERE {no_history} AND a.status = 'rejected'
        UNION ALL
        SELECT a.app_file, a.app_line, 3, {app_id} || 'hired', a.app_id, {app_current}, NULL, 'passed',
            a.last_activity_at
        FROM gh_app AS a WHERE {no_history} AND a.status = 'hired'
        UNION ALL
        -- the fifth event of an application row: read as from its job_application row
        SELECT coalesce(a.ja_file, a.app_file), coalesce(a.ja_line, a.app_line), CASE WHEN a.ja_file IS NULL THEN 1 ELSE 0 END,
            {app_id} || 'hired_offer', a.app_id, NULL, 'offer', 'passed', a.last_activity_at
        FROM gh_app AS a LEFT JOIN gh_stage AS c ON c.stage_id = {app_current}
        WHERE {no_history} AND a.status = 'hired' AND c.stage_key IS DISTINCT FROM 'offer'
          AND (a.ja_file IS NOT NULL OR NOT ({moved}))
        UNION ALL
        -- offers: accepted is passed at offer, rejected (declined by the candidate) withdrew
        SELECT o.__file_index, o.__line, 0, 'greenhouse:offer:' || o.__key || ':resolved', {_id('o.application_id')},
            NULL, 'offer',
            CASE lower(trim(o.status)) WHEN 'accepted' THEN 'passed' ELSE 'withdrew' END, {_text('o.resolved_at')}
        FROM ({_last('offer', 'id')}) AS o
        LEFT JOIN gh_app AS a ON a.app_id = {_id('o.application_id')}
        WHERE NOT {_true('o._fivetran_deleted')} AND a.rule IS NULL AND lower(trim(o.status)) IN ('accepted', 'rejected')
        """
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE derived_stage_events AS
        SELECT e.event_id, e.app_id AS application_id, a.candidate_id, a.role,
            coalesce(e.stage_key, s.stage_text,
                     CASE WHEN e.stage_id IS NOT NULL THEN {_unmapped("'job_stage ' || e.stage_id", 'stage')} END) AS stage,
            e.outcome, e.occurred_at, NULL::VARCHAR AS team, a.source, NULL::VARCHAR AS level, a.requires_travel,
            e.__file_index::INTEGER AS __file_index, e.__line::BIGINT AS __line, e.__seq::INTEGER AS __seq,
            'greenhouse ' || coalesce(a.context, 'application ' || e.app_id || ' is not in the application table')
                || CASE WHEN e.stage_key IS NOT NULL THEN ''
                        WHEN s.stage_id IS NOT NULL THEN ', stage "' || coalesce(s.name, '') || '" (job_stage ' || s.stage_id || ')'
                        WHEN e.stage_id IS NOT NULL THEN ', job_stage ' || e.stage_id || ' (not in the job_stage table)'
                        ELSE ', no stage' END AS __context
        FROM gh_events AS e
        LEFT JOIN gh_app AS a ON a.app_id = e.app_id
        LEFT JOIN gh_stage AS s ON s.stage_id = e.stage_id
        """
    )


def _interviews(conn: duckdb.DuckDBPyConnection) -> None:
    """derived_interviews: one per scorecard (its last row, not deleted) of an application not excluded."""
    recommendation = ("CASE lower(trim(sc.overall_recommendation)) "
                      + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in RECOMMENDATIONS.items())
                      + f" ELSE {_text('sc.overall_recommendation')} END")
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gh_sc AS
        SELECT sc.*, {_id('sc.application_id')} AS app_id, {_text('sc.interviewed_at')} AS interviewed_text,
            {_instant(_text('sc.interviewed_at'))} AS interviewed
        FROM ({_last('scorecard', 'id')}) AS sc
        LEFT JOIN gh_app AS a ON a.app_id = {_id('sc.application_id')}
        WHERE NOT {_true('sc._fivetran_deleted')} AND a.rule IS NULL
        """
    )
    # The stage of a scorecard's interview: the interview of that name in the application's job; of
    # two, the one at the stage the application was at then (its latest active row), else the earlier.
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gh_iv AS
        WITH iv AS ({_last('interview', 'id')}),
        active AS (SELECT app_id, at_ts, stage_id FROM gh_hist WHERE status = 'active' AND at_ts IS NOT NULL),
        at_stage AS (
            SELECT sc.__key, act.stage_id AS stage_then
            FROM gh_sc AS sc ASOF LEFT JOIN active AS act ON act.app_id = sc.app_id AND sc.interviewed >= act.at_ts
        )
        SELECT sc.__key, arg_min(s.stage_id, (CASE WHEN s.stage_id = t.stage_then THEN 0 ELSE 1 END) * 1000000 + s.rank)
            AS stage_id
        FROM gh_sc AS sc
        JOIN gh_app AS a ON a.app_id = sc.app_id
        JOIN iv ON lower(trim(iv.name)) = lower(trim(sc.interview))
        JOIN gh_stage AS s ON s.stage_id = {_id('iv.job_stage_id')} AND s.job_id = a.job_id
        LEFT JOIN at_stage AS t ON t.__key = sc.__key
        GROUP BY sc.__key
        """
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE derived_interviews AS
        SELECT 'greenhouse:scorecard:' || sc.__key AS interview_id, sc.app_id AS application_id,
            CASE WHEN s.stage_id IS NOT NULL THEN s.stage_text ELSE 'onsite' END AS stage,
            {_id('sc.submitted_by_user_id')} AS interviewer_id,
            coalesce(k.target, {_unmapped('sc.interview', 'skill')}) AS skill,
            {recommendation} AS recommendation,
            sc.interviewed_text AS occurred_at,
            sc.__file_index::INTEGER AS __file_index, sc.__line::BIGINT AS __line, 0 AS __seq,
            'greenhouse ' || coalesce(a.context, 'application ' || coalesce(sc.app_id, '?') || ' is not in the application table')
                || ', interview "' || coalesce(trim(sc.interview), '') || '"'
                || CASE WHEN s.stage_id IS NOT NULL THEN ' at stage "' || coalesce(s.name, '') || '" (job_stage '
                        || s.stage_id || ')' ELSE '' END AS __context
        FROM gh_sc AS sc
        LEFT JOIN gh_app AS a ON a.app_id = sc.app_id
        LEFT JOIN gh_iv AS i ON i.__key = sc.__key
        LEFT JOIN gh_stage AS s ON s.stage_id = i.stage_id
        LEFT JOIN gh_map AS k ON k.kind = 'skill' AND k.key = lower(trim(sc.interview))
        """
    )


def _eeoc_answer(column: str) -> str:
    """An EEOC answer as the demographics feed gets it: the category of a mapped wording, else the
    answer as sent (trimmed; NULL when empty)."""
    text = _text(f"e.{EEOC_COLUMNS[column]}")
    key = _category(text)
    cases = " ".join(
        f"WHEN {key} = '{wording}' THEN '{category}'" if kind == "=" else
        f"WHEN starts_with({key}, '{wording}') THEN '{category}'"
        for kind, wording, category in EEOC_ANSWERS[column])
    return f"CASE {cases} ELSE {text} END" if cases else text


def _demographics(conn: duckdb.DuckDBPyConnection) -> None:
    """derived_demographics: one self-identification response per `eeoc` row (the last per application,
    not deleted) of an application not excluded: the application's candidate (merges followed), the
    answers in the contract's categories, collected at `submitted_at`. A row without an application id,
    or of an application the application table lacks, has no candidate: quarantined (missing_required)."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE derived_demographics AS
        WITH e AS (
            SELECT *, {_id('application_id')} AS __key FROM ats_eeoc
            QUALIFY row_number() OVER (
                PARTITION BY coalesce({_id('application_id')}, 'row ' || __file_index || ':' || __line)
                ORDER BY __file_index DESC, __line DESC) = 1
        )
        SELECT a.candidate_id,
            {_eeoc_answer('sex')} AS sex,
            {_eeoc_answer('race_ethnicity')} AS race_ethnicity,
            {_eeoc_answer('veteran_status')} AS veteran_status,
            {_eeoc_answer('disability_status')} AS disability_status,
            {_text('e.submitted_at')} AS collected_at,
            e.__file_index::INTEGER AS __file_index, e.__line::BIGINT AS __line, 0 AS __seq,
            'greenhouse eeoc of application ' || coalesce(e.__key, '(none)')
                || CASE WHEN e.__key IS NOT NULL AND a.app_id IS NULL THEN ' (not in the application table)'
                        ELSE '' END AS __context
        FROM e
        LEFT JOIN gh_app AS a ON a.app_id = e.__key
        WHERE NOT {_true('e._fivetran_deleted')} AND a.rule IS NULL
        """
    )


# ---------------------------------------------------------------------------------------------
# Inventory


def inventory(conn: duckdb.DuckDBPyConnection, mapping: SourceMapping) -> list[dict]:
    """What the tables hold, for `funnel sources suggest` and `funnel validate`: every job (with its
    applications), every stage of a job (with the applications that reached it: an active history
    row there, their current stage, or, without history, the job's first stage), every interview
    name (scorecards) and every rejection reason (applications). Excluded applications and deleted
    scorecards are not counted. Each dict also says what the mapping maps it to (`role`, `stage`,
    `skill`; None when unmapped); a stage its `order` in the job, a reason its `type`."""
    try:
        _prepare(conn, mapping, None)
        out: list[dict] = []
        jobs = conn.execute(
            """
            WITH ids AS (SELECT job_id FROM gh_job UNION SELECT job_id FROM gh_app WHERE job_id IS NOT NULL)
            SELECT ids.job_id, j.name, coalesce(j.role_key, m.target) AS role,
                (SELECT count(*) FROM gh_app AS a WHERE a.job_id = ids.job_id AND a.rule IS NULL) AS applications
            FROM ids LEFT JOIN gh_job AS j ON j.job_id = ids.job_id
            LEFT JOIN gh_map AS m ON m.kind = 'role_id' AND m.key = ids.job_id
            ORDER BY try_cast(ids.job_id AS HUGEINT) NULLS LAST, ids.job_id
            """).fetchall()
        out += [{"kind": "job", "job_id": job_id, "job_name": name, "applications": n, "role": role}
                for job_id, name, role, n in jobs]
        stages = conn.execute(
            f"""
            WITH reached AS (
                SELECT DISTINCT {_id('h.application_id')} AS app_id, {_id('h.new_stage_id')} AS stage_id
                FROM ats_application_history AS h WHERE lower(trim(h.new_status)) = 'active'
                UNION
                SELECT app_id, current_stage FROM gh_app WHERE current_stage IS NOT NULL
                UNION  -- an application without history starts at its job's first stage
                SELECT a.app_id, a.first_stage FROM gh_app AS a
                WHERE a.first_stage IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM ats_application_history AS h WHERE {_id('h.application_id')} = a.app_id)
            )
            SELECT s.job_id, j.name, s.name, s.stage_key, s.rank,
                (SELECT count(DISTINCT r.app_id) FROM reached AS r JOIN gh_app AS a ON a.app_id = r.app_id
                 WHERE r.stage_id = s.stage_id AND a.rule IS NULL) AS applications
            FROM gh_stage AS s LEFT JOIN gh_job AS j ON j.job_id = s.job_id
            ORDER BY try_cast(s.job_id AS HUGEINT) NULLS LAST, s.job_id, s.rank
            """).fetchall()
        out += [{"kind": "stage", "job_id": job_id, "job_name": job_name, "name": name or "", "applications": n,
                 "stage": stage, "order": rank}
                for job_id, job_name, name, stage, rank, n in stages]
        interviews = conn.execute(
            f"""
            WITH sc AS ({_last('scorecard', 'id')})
            SELECT min(trim(sc.interview)) AS name, count(*) AS n, any_value(k.target) AS skill
            FROM sc LEFT JOIN gh_app AS a ON a.app_id = {_id('sc.application_id')}
            LEFT JOIN gh_map AS k ON k.kind = 'skill' AND k.key = lower(trim(sc.interview))
            WHERE {_text('sc.interview')} IS NOT NULL AND NOT {_true('sc._fivetran_deleted')} AND a.rule IS NULL
            GROUP BY lower(trim(sc.interview)) ORDER BY name
            """).fetchall()
        out += [{"kind": "interview", "name": name, "interviews": n, "skill": skill} for name, n, skill in interviews]
        reasons = conn.execute(
            f"""
            WITH rr AS ({_last('rejection_reason', 'id')}),
            used AS (
                SELECT {_id('x.rejected_reason_id')} AS reason_id, count(*) AS n
                FROM ({_last('application', 'id')}) AS x JOIN gh_app AS a ON a.app_id = x.__key
                WHERE a.rule IS NULL GROUP BY 1
            )
            SELECT coalesce({_text('rr.name')}, 'rejection reason ' || rr.__key), {_text('rr.type_name')}, coalesce(used.n, 0)
            FROM rr LEFT JOIN used ON used.reason_id = rr.__key
            ORDER BY try_cast(rr.__key AS HUGEINT) NULLS LAST, rr.__key
            """).fetchall()
        out += [{"kind": "reason", "name": name, "applications": n, "type": type_name}
                for name, type_name, n in reasons]
        return out
    finally:
        _drop_work_tables(conn)
