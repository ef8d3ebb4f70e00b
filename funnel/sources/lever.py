"""Lever, as Fivetran's Lever connector syncs it: opportunities and their stage changes into stage
events, feedback forms into interviews (docs/sources.md, "Lever"). No self-identification: Lever's
EEO responses are not synced by the connector (they come as the contract's demographics files).

The tables and columns are those of Fivetran's Lever schema, as `fivetran/dbt_lever_source` reads
them (its `macros/get_<table>_columns.sql` and `integration_tests/seeds/`):

    opportunity                 one candidacy (the application): contact (the person), current
                                stage_id, archived_at + archived_reason_id (the outcome)
    opportunity_stage_history   every stage change: opportunity_id, stage_id, to_stage_index, updated_at
    stage                       stage id -> text (the pipeline is account-wide; `lead-*` ids are leads)
    application                 opportunity -> posting_id (the job), requisition_for_hire_id (a hire)
    posting                     the job: text (its title), categories_team, categories_level
    archive_reason              archive reason id -> text ("Hired" is built in)
    opportunity_source          optional: the opportunity's sources
    interview, interview_user (or the older interviewer_user), feedback_form   optional: interviews

How events are derived (all in DuckDB):

- An opportunity is the application (`application_id` = opportunity id, `candidate_id` = its
  `contact`: Lever moves the opportunities of merged duplicates onto the surviving contact). The
  role is the posting of its application, mapped by posting id or by `posting.text` (ids win; an
  opportunity without an application has no role: missing_required); team and level are the
  posting's categories; the source is its first `opportunity_source`.
- `opportunity_stage_history` ordered by `updated_at` per opportunity (ties: file order): every row
  is `in_progress` at its stage; when `to_stage_index` grows over the previous row's, also `passed`
  at the previous row's stage, at the same time (not when both map to the same catalog stage: a
  move between two Lever stages of one catalog stage decides nothing; a row without an index
  compares the catalog order of the mapped stages). A move to a lower index emits only the
  `in_progress` (the marts' backward-move rule takes over). A change synced twice (an overlapping
  re-export) derives what its first copy did.
- `archived_at` with its reason gives the outcome at the stage current then (the latest stage
  change at or before it; without one, the opportunity's `stage_id`): a `requisition_for_hire_id`,
  or the reason "Hired", is `passed` there and at `offer`; a reason in `archive_reasons` as mapped
  (failed, withdrew or hired); any other reason `failed`.
- Excluded (counted by rule, never quarantined): `deleted` (a row with `_fivetran_deleted` true, a
  feedback form with `deleted_at`, and every row of a deleted opportunity), `lead` (every row of an
  opportunity that never left Lever's lead stages, `lead-*`), `lead stage` (the lead-stage changes
  of an opportunity that applied later), `canceled interview` (an interview with `canceled_at`, its
  interviewers and forms), `feedback without interview` and `unsubmitted feedback` (a form without
  `completed_at`).
- Interviews: each feedback form of an interview, at the mapped stage of the interview's
  `stage_id` (onsite when it has none); interviewer = the form's `creator_id` (else the interview's
  only interviewer); skill = `skills` mapping of the form's `text`; recommendation from
  `score_system_value` ("1 - Strong No Hire" strong_no, "2 - No Hire" no, "3 - Hire" yes, "4 -
  Strong Hire" strong_yes; none: no_decision); at the interview's `date`.

Timestamps keep the connector's text (ISO-8601; without an offset it is UTC); a number (the Lever
API's milliseconds since the epoch, as API-level extracts carry them) becomes ISO-8601 UTC text.
Event ids are built from Lever's keys with the instant in a canonical form, so the same table in
another format, or a resync repeating rows, gives the same ids:

    lever:opportunity_stage_history:<opportunity_id>:<updated_at>:<stage_id>:in_progress | passed
    lever:opportunity:<opportunity_id>:<archived_at>:archived | hired_offer
    lever:feedback_form:<feedback_form_id>
"""

from __future__ import annotations

import duckdb

from funnel.config import Config
from funnel.sources.mapping import SourceMapping
from funnel.sources.tables import create_empty, ensure_columns

REQUIRED_TABLES: dict[str, tuple[str, ...]] = {
    "opportunity": ("id", "contact", "stage_id", "archived_at", "archived_reason_id"),
    "opportunity_stage_history": ("opportunity_id", "stage_id", "to_stage_index", "updated_at"),
    "stage": ("id", "text"),
    "application": ("opportunity_id", "posting_id"),
    "posting": ("id", "text"),
    "archive_reason": ("id", "text"),
}
OPTIONAL_TABLES: dict[str, tuple[str, ...]] = {
    "opportunity_source": ("opportunity_id", "source", "_fivetran_deleted"),
    "interview": ("id", "opportunity_id", "stage_id", "date", "canceled_at", "_fivetran_deleted"),
    # Connectors created from July 2024 sync interview_user; older ones interviewer_user.
    "interview_user": ("interview_id", "user_id", "_fivetran_deleted"),
    "interviewer_user": ("interview_id", "user_id", "_fivetran_deleted"),
    "feedback_form": ("id", "interview_id", "opportunity_id", "creator_id", "text", "score_system_value",
                      "completed_at", "created_at", "deleted_at", "_fivetran_deleted"),
}
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "opportunity": ("_fivetran_deleted",),
    "opportunity_stage_history": ("_fivetran_deleted",),
    "stage": ("_fivetran_deleted",),
    "application": ("id", "requisition_for_hire_id", "created_at", "_fivetran_deleted"),
    "posting": ("categories_team", "categories_level", "_fivetran_deleted"),
    "archive_reason": ("_fivetran_deleted",),
}

# The connector's column layouts, as Fivetran syncs the tables (fivetran/dbt_lever_source:
# macros/get_<table>_columns.sql, integration_tests/seeds/). The derivation reads the columns above;
# these are what a sync holds (the samples, the generator's shape and the tests write them).
LAYOUTS: dict[str, tuple[str, ...]] = {
    "opportunity": ("id", "_fivetran_synced", "archived_at", "archived_reason_id", "contact", "created_at",
                    "data_protection_contact_allowed", "data_protection_contact_expires_at",
                    "data_protection_store_allowed", "data_protection_store_expires_at", "headline", "is_anonymized",
                    "last_advanced_at", "last_interaction_at", "location", "name", "origin", "owner_id",
                    "snoozed_until", "stage_id", "updated_at"),
    "opportunity_stage_history": ("opportunity_id", "updated_at", "_fivetran_synced", "stage_id", "to_stage_index",
                                  "updater_id"),
    "stage": ("id", "_fivetran_deleted", "_fivetran_synced", "text"),
    "application": ("id", "_fivetran_synced", "archived_at", "archived_reason_id", "candidate_id", "comments",
                    "company", "created_at", "posting_hiring_manager_id", "posting_id", "posting_owner_id",
                    "referrer_id", "requisition_for_hire_id", "type", "opportunity_id"),
    "posting": ("id", "_fivetran_deleted", "_fivetran_synced", "categories_commitment", "categories_department",
                "categories_level", "categories_location", "categories_team", "content_closing",
                "content_closing_html", "content_description", "content_description_html", "created_at",
                "creator_id", "owner_id", "requisition_code", "state", "text", "updated_at"),
    "archive_reason": ("id", "_fivetran_deleted", "_fivetran_synced", "text"),
    "opportunity_source": ("opportunity_id", "source", "_fivetran_synced"),
    "interview": ("id", "_fivetran_synced", "canceled_at", "candidate_id", "created_at", "creator_id", "date",
                  "duration", "feedback_reminder", "gcal_event_url", "location", "note", "panel_id", "stage_id",
                  "subject", "timezone", "opportunity_id"),
    "interview_user": ("interview_id", "user_id", "_fivetran_synced"),
    "interviewer_user": ("interview_id", "user_id", "_fivetran_synced"),
    "feedback_form": ("id", "_fivetran_synced", "candidate_id", "completed_at", "created_at", "creator_id",
                      "deleted_at", "instructions", "interview_id", "score_system_value", "template_id", "text", "type",
                      "opportunity_id"),
}

# Lever's score system, by its leading digit (feedback_form.score_system_value "3 - Hire").
SCORES = {"1": "strong_no", "2": "no", "3": "yes", "4": "strong_yes"}
# Helper tables of a derivation, dropped when it ends.
WORK_TABLES = (
    "lever_map", "lever_keys", "lever_opp", "lever_status", "lever_iv", "lever_fb", "lever_stage", "lever_posting",
    "lever_app", "lever_hist", "lever_arch", "lever_users", "lever_catalog",
)


# ---------------------------------------------------------------------------------------------
# SQL snippets


def _text(col: str) -> str:
    """A value as text: trimmed, NULL when empty."""
    return f"nullif(trim({col}), '')"


def _true(col: str) -> str:
    """A boolean column (`_fivetran_deleted`): true only when it says so."""
    return f"coalesce(lower(trim({col})) IN ('true', 't', '1', 'yes', 'y'), false)"


def _ts(col: str) -> str:
    """A timestamp as the text an event carries: the connector's ISO-8601 text as it is; a number is
    the Lever API's milliseconds since the epoch, made ISO-8601 UTC."""
    return (f"CASE WHEN regexp_full_match(trim({col}), '[0-9]{{11,}}(\\.0*)?') "
            f"THEN strftime(epoch_ms(CAST(CAST(trim({col}) AS DOUBLE) AS BIGINT)), '%Y-%m-%dT%H:%M:%S.%gZ') "
            f"ELSE {_text(col)} END")


def _instant(text: str) -> str:
    """The UTC instant of a timestamp text (NULL when unreadable), as ingestion reads it."""
    return f"try_cast(CASE WHEN {text} GLOB '[0-9]*' THEN {text} END AS TIMESTAMPTZ) AT TIME ZONE 'UTC'"


def _canon(text: str, instant: str) -> str:
    """The timestamp in an event id: one spelling per instant, whatever the file's format."""
    return f"coalesce(strftime({instant}, '%Y-%m-%dT%H:%M:%S.%fZ'), {text}, '')"


def _quote(expr: str) -> str:
    return f"'\"' || {expr} || '\"'"


def _context(stage_name: str, posting_context: str) -> str:
    """What a quarantined event's detail adds: the Lever stage and the posting (the job). Not the
    opportunity: the quarantined row names its table row, and `funnel validate` counts by detail."""
    name = _quote(f"coalesce({stage_name}, '')")
    return f"'Lever stage ' || {name} || ', ' || {posting_context}"


def _last(table: str, key: str) -> str:
    """One row per key of an ATS table: the last one read (a later file, a later line)."""
    return (f"SELECT * FROM ats_{table} WHERE {_text(key)} IS NOT NULL "
            f"QUALIFY row_number() OVER (PARTITION BY trim({key}) ORDER BY __file_index DESC, __line DESC) = 1")


# ---------------------------------------------------------------------------------------------
# The mapping and what every derivation and inventory needs


def _unmapped(text: str, kind: str) -> str:
    """An unmapped name as the event carries it: Lever's own text, which ingestion quarantines; marked
    ` (unmapped)` when that text happens to read as a configured key (a form named "Coding" is not
    the skill coding until `skills` says so)."""
    return (f"CASE WHEN lower({text}) IN (SELECT key FROM lever_keys WHERE kind = '{kind}')"
            f" THEN {text} || ' (unmapped)' ELSE {text} END")


def _load_mapping(conn: duckdb.DuckDBPyConnection, mapping: SourceMapping, config: Config | None) -> None:
    """lever_map (kind, key, target): posting ids exactly (trimmed), names trimmed and lower-cased;
    lever_keys (kind, key): the configuration's roles, stages and skills."""
    keys = []
    if config is not None:
        keys = [("role", r) for r in config.roles] + [("stage", st) for st in config.stages]
        keys += [("skill", sk) for sk in config.skills]
    conn.execute("CREATE OR REPLACE TEMP TABLE lever_keys (kind VARCHAR, key VARCHAR)")
    if keys:
        conn.executemany("INSERT INTO lever_keys VALUES (?, ?)", keys)
    rows = [("role_id", str(k).strip(), v) for k, v in mapping.roles.items()]
    rows += [("role_name", str(k).strip().lower(), v) for k, v in mapping.roles.items()]
    rows += [("stage", str(k).strip().lower(), v) for k, v in mapping.stages.items()]
    rows += [("skill", str(k).strip().lower(), v) for k, v in mapping.skills.items()]
    rows += [("reason", str(k).strip().lower(), v) for k, v in mapping.archive_reasons.items()]
    conn.execute("CREATE OR REPLACE TEMP TABLE lever_map (kind VARCHAR, key VARCHAR, target VARCHAR)")
    if rows:
        conn.executemany("INSERT INTO lever_map VALUES (?, ?, ?)", rows)


def _ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Every table and column the SQL names: what a sync lacks, empty (the runner checks the required
    ones before a derivation; `inventory` may look at an incomplete folder)."""
    have = {name for (name,) in conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'temp'").fetchall()}
    for table, columns in (*REQUIRED_TABLES.items(), *OPTIONAL_TABLES.items()):
        columns = (*columns, *OPTIONAL_COLUMNS.get(table, ()))
        if f"ats_{table}" in have:
            ensure_columns(conn, table, columns)
        else:
            create_empty(conn, table, columns)


def _prepare(conn: duckdb.DuckDBPyConnection, mapping: SourceMapping, config: Config | None = None) -> None:
    """The helper tables: each opportunity's status (deleted, lead), the rows every rule excludes,
    stages and postings with their mapped values, and each opportunity's application attributes."""
    _ensure_tables(conn)
    _load_mapping(conn, mapping, config)
    conn.execute(f"CREATE OR REPLACE TEMP TABLE lever_opp AS {_last('opportunity', 'id')}")
    # Deleted: the opportunity's latest row says so. A lead: no stage change out of the lead stages,
    # and its current stage is one of them (or none).
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE lever_status AS
        WITH ids AS (
            SELECT trim(id) AS opp FROM ats_opportunity WHERE {_text('id')} IS NOT NULL
            UNION SELECT trim(opportunity_id) FROM ats_opportunity_stage_history WHERE {_text('opportunity_id')} IS NOT NULL
        ),
        applied AS (
            SELECT DISTINCT trim(opportunity_id) AS opp FROM ats_opportunity_stage_history
            WHERE NOT {_true('_fivetran_deleted')} AND {_text('stage_id')} IS NOT NULL
              AND lower(trim(stage_id)) NOT LIKE 'lead-%'
        )
        SELECT ids.opp,
            coalesce({_true('o._fivetran_deleted')}, false) AS deleted,
            applied.opp IS NULL AND coalesce(lower(trim(o.stage_id)) LIKE 'lead-%', true) AS lead
        FROM ids
        LEFT JOIN lever_opp AS o ON trim(o.id) = ids.opp
        LEFT JOIN applied ON applied.opp = ids.opp
        """
    )
    conn.execute(f"CREATE OR REPLACE TEMP TABLE lever_iv AS {_last('interview', 'id')}")
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE lever_fb AS
        SELECT f.*, coalesce({_text('i.opportunity_id')}, {_text('f.opportunity_id')}) AS opp,
            i.id IS NOT NULL AS has_interview_row,
            {_true('i._fivetran_deleted')} AS interview_deleted,
            {_text('i.canceled_at')} IS NOT NULL AS interview_canceled
        FROM ats_feedback_form AS f
        LEFT JOIN lever_iv AS i ON trim(i.id) = trim(f.interview_id)
        """
    )
    excluded = []

    def rule(table: str, opp: str, own: str, extra: str = "") -> None:
        """One table's excluded rows: deleted (the row or its opportunity), then lead, then `extra`."""
        excluded.append(
            f"""
            SELECT t.__file_index, t.__line,
                CASE WHEN {own} OR coalesce(s.deleted, false) THEN 'deleted'
                     WHEN coalesce(s.lead, false) THEN 'lead'
                     {extra} END AS rule
            FROM ats_{table} AS t LEFT JOIN lever_status AS s ON s.opp = trim({opp})
            """
        )

    rule("opportunity", "t.id", _true("t._fivetran_deleted"))
    rule("opportunity_stage_history", "t.opportunity_id", _true("t._fivetran_deleted"),
         "WHEN lower(trim(t.stage_id)) LIKE 'lead-%' THEN 'lead stage'")
    rule("application", "t.opportunity_id", _true("t._fivetran_deleted"))
    rule("opportunity_source", "t.opportunity_id", _true("t._fivetran_deleted"))
    rule("interview", "t.opportunity_id", _true("t._fivetran_deleted"),
         f"WHEN {_text('t.canceled_at')} IS NOT NULL THEN 'canceled interview'")
    for users in ("interview_user", "interviewer_user"):
        excluded.append(
            f"""
            SELECT t.__file_index, t.__line,
                CASE WHEN {_true('t._fivetran_deleted')} OR {_true('i._fivetran_deleted')}
                          OR coalesce(s.deleted, false) THEN 'deleted'
                     WHEN coalesce(s.lead, false) THEN 'lead'
                     WHEN {_text('i.canceled_at')} IS NOT NULL THEN 'canceled interview' END AS rule
            FROM ats_{users} AS t
            LEFT JOIN lever_iv AS i ON trim(i.id) = trim(t.interview_id)
            LEFT JOIN lever_status AS s ON s.opp = trim(i.opportunity_id)
            """
        )
    excluded.append(
        f"""
        SELECT t.__file_index, t.__line,
            CASE WHEN {_text('t.deleted_at')} IS NOT NULL OR {_true('t._fivetran_deleted')} OR t.interview_deleted
                      OR coalesce(s.deleted, false) THEN 'deleted'
                 WHEN coalesce(s.lead, false) THEN 'lead'
                 WHEN t.interview_canceled THEN 'canceled interview'
                 WHEN {_text('t.interview_id')} IS NULL THEN 'feedback without interview'
                 WHEN {_text('t.completed_at')} IS NULL THEN 'unsubmitted feedback' END AS rule
        FROM lever_fb AS t LEFT JOIN lever_status AS s ON s.opp = t.opp
        """
    )
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE excluded_rows AS SELECT * FROM ("
        + " UNION ALL ".join(excluded) + ") WHERE rule IS NOT NULL"
    )
    # Stages: the mapped catalog stage, else Lever's text (quarantined as unknown_stage).
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE lever_stage AS
        SELECT trim(s.id) AS stage_id, {_text('s.text')} AS name,
            coalesce(m.target, {_unmapped(_text('s.text'), 'stage')}, trim(s.id)) AS value
        FROM ({_last('stage', 'id')}) AS s
        LEFT JOIN lever_map AS m ON m.kind = 'stage' AND m.key = lower(trim(s.text))
        """
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE lever_posting AS
        SELECT trim(p.id) AS posting_id, {_text('p.text')} AS name,
            coalesce(by_id.target, by_name.target, {_unmapped(_text('p.text'), 'role')}, trim(p.id)) AS role,
            {_text('p.categories_team')} AS team, {_text('p.categories_level')} AS level
        FROM ({_last('posting', 'id')}) AS p
        LEFT JOIN lever_map AS by_id ON by_id.kind = 'role_id' AND by_id.key = trim(p.id)
        LEFT JOIN lever_map AS by_name ON by_name.kind = 'role_name' AND by_name.key = lower(trim(p.text))
        """
    )
    # Each opportunity that is not excluded, with what its events carry. Its application: the latest
    # created one not excluded (Lever gives an opportunity one).
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE lever_app AS
        WITH apps AS (
            SELECT a.* FROM ats_application AS a
            ANTI JOIN excluded_rows AS x ON x.__file_index = a.__file_index AND x.__line = a.__line
            WHERE {_text('a.opportunity_id')} IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY trim(a.opportunity_id)
                ORDER BY {_instant(_ts('a.created_at'))} DESC NULLS LAST, a.__file_index DESC, a.__line DESC) = 1
        ),
        sources AS (
            SELECT trim(o.opportunity_id) AS opp, {_text('o.source')} AS source FROM ats_opportunity_source AS o
            ANTI JOIN excluded_rows AS x ON x.__file_index = o.__file_index AND x.__line = o.__line
            WHERE {_text('o.source')} IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY trim(o.opportunity_id) ORDER BY o.__file_index, o.__line) = 1
        )
        SELECT s.opp, {_text('o.contact')} AS candidate_id, trim(o.stage_id) AS stage_id,
            {_text('a.posting_id')} AS posting_id, p.name AS posting_name,
            CASE WHEN {_text('a.posting_id')} IS NOT NULL THEN coalesce(p.role, trim(a.posting_id)) END AS role,
            p.team, p.level, src.source,
            {_text('a.requisition_for_hire_id')} IS NOT NULL AS hired_against_requisition,
            CASE WHEN a.opportunity_id IS NULL THEN 'no posting: the opportunity has no application'
                 ELSE 'posting ' || {_quote("coalesce(p.name, '')")} || ' (posting_id ' || trim(a.posting_id) || ')'
            END AS posting_context
        FROM lever_status AS s
        LEFT JOIN lever_opp AS o ON trim(o.id) = s.opp
        LEFT JOIN apps AS a ON trim(a.opportunity_id) = s.opp
        LEFT JOIN lever_posting AS p ON p.posting_id = trim(a.posting_id)
        LEFT JOIN sources AS src ON src.opp = s.opp
        WHERE NOT s.deleted AND NOT s.lead
        """
    )
    # The stage changes that count, in order, each with the one before it.
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE lever_hist AS
        WITH rows AS (
            SELECT trim(h.opportunity_id) AS opp, trim(h.stage_id) AS stage_id,
                try_cast(trim(h.to_stage_index) AS DOUBLE) AS stage_index,
                {_ts('h.updated_at')} AS ts_text, h.__file_index, h.__line
            FROM ats_opportunity_stage_history AS h
            ANTI JOIN excluded_rows AS x ON x.__file_index = h.__file_index AND x.__line = h.__line
            WHERE {_text('h.opportunity_id')} IS NOT NULL
        ),
        timed AS (
            SELECT r.*, {_instant('r.ts_text')} AS instant,
                coalesce(st.value, r.stage_id) AS stage, coalesce(st.name, r.stage_id) AS stage_name
            FROM rows AS r LEFT JOIN lever_stage AS st ON st.stage_id = r.stage_id
        ),
        -- A change synced twice (an overlapping re-export) is one change: the previous one of each is
        -- found among the first copies, and a copy derives what its first did (exact duplicates).
        firsts AS (
            SELECT * FROM timed
            QUALIFY row_number() OVER (PARTITION BY opp, instant, stage_id, stage_index ORDER BY __file_index, __line) = 1
        ),
        ordered AS (
            SELECT opp, instant, stage_id, stage_index,
                lag(stage_id) OVER w AS prev_stage_id, lag(stage_index) OVER w AS prev_index,
                lag(stage) OVER w AS prev_stage, lag(stage_name) OVER w AS prev_stage_name
            FROM firsts
            WINDOW w AS (PARTITION BY opp ORDER BY instant NULLS LAST, __file_index, __line)
        )
        SELECT t.*, o.prev_stage_id, o.prev_index, o.prev_stage, o.prev_stage_name
        FROM timed AS t
        JOIN ordered AS o ON o.opp = t.opp AND o.instant IS NOT DISTINCT FROM t.instant
            AND o.stage_id IS NOT DISTINCT FROM t.stage_id AND o.stage_index IS NOT DISTINCT FROM t.stage_index
        """
    )


def _drop(conn: duckdb.DuckDBPyConnection) -> None:
    for name in WORK_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")


# ---------------------------------------------------------------------------------------------
# Derivation


def derive(conn: duckdb.DuckDBPyConnection, mapping: SourceMapping, config: Config) -> dict[str, int]:
    """derived_stage_events, derived_interviews and excluded_rows from the loaded ats_* tables."""
    _prepare(conn, mapping, config)
    conn.execute("CREATE OR REPLACE TEMP TABLE lever_catalog (stage VARCHAR, pos INTEGER)")
    conn.executemany("INSERT INTO lever_catalog VALUES (?, ?)", [(s, n) for n, s in enumerate(config.stages)])
    # Each archived opportunity row: its outcome, and the stage current then.
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE lever_arch AS
        WITH arch AS (
            SELECT trim(o.id) AS opp, {_ts('o.archived_at')} AS ts_text, {_text('o.archived_reason_id')} AS reason_id,
                o.__file_index, o.__line
            FROM ats_opportunity AS o
            ANTI JOIN excluded_rows AS x ON x.__file_index = o.__file_index AND x.__line = o.__line
            WHERE {_text('o.id')} IS NOT NULL AND {_text('o.archived_at')} IS NOT NULL
        ),
        timed AS (SELECT *, {_instant('ts_text')} AS instant FROM arch),
        current_then AS (
            SELECT a.*, h.stage AS hist_stage, h.stage_name AS hist_stage_name
            FROM timed AS a
            LEFT JOIN lever_hist AS h ON h.opp = a.opp AND h.instant <= a.instant
            QUALIFY row_number() OVER (PARTITION BY a.__file_index, a.__line
                ORDER BY h.instant DESC NULLS LAST, h.__file_index DESC NULLS LAST, h.__line DESC NULLS LAST) = 1
        ),
        reasons AS (
            SELECT trim(id) AS reason_id, {_text('text')} AS name FROM ({_last('archive_reason', 'id')})
        )
        SELECT c.*, app.candidate_id, app.role, app.team, app.source, app.level, app.posting_context,
            coalesce(c.hist_stage, CASE WHEN lower(app.stage_id) NOT LIKE 'lead-%' THEN coalesce(st.value, app.stage_id) END)
                AS stage,
            coalesce(c.hist_stage_name, CASE WHEN lower(app.stage_id) NOT LIKE 'lead-%' THEN coalesce(st.name, app.stage_id) END)
                AS stage_name,
            r.name AS reason,
            CASE WHEN app.hired_against_requisition THEN 'hired'
                 WHEN m.target IS NOT NULL THEN m.target
                 WHEN lower(r.name) = 'hired' THEN 'hired'
                 ELSE 'failed' END AS kind
        FROM current_then AS c
        JOIN lever_app AS app ON app.opp = c.opp
        LEFT JOIN lever_stage AS st ON st.stage_id = app.stage_id
        LEFT JOIN reasons AS r ON r.reason_id = c.reason_id
        LEFT JOIN lever_map AS m ON m.kind = 'reason' AND m.key = lower(r.name)
        """
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE derived_stage_events AS
        WITH hist AS (SELECT h.*, {_canon('h.ts_text', 'h.instant')} AS at_key FROM lever_hist AS h)
        SELECT 'lever:opportunity_stage_history:' || h.opp || ':' || h.at_key || ':' || coalesce(h.stage_id, '')
                   || ':in_progress' AS event_id,
            h.opp AS application_id, app.candidate_id, app.role, h.stage, 'in_progress' AS outcome, h.ts_text AS occurred_at,
            app.team, app.source, app.level, NULL::VARCHAR AS requires_travel,
            h.__file_index, h.__line, 0 AS __seq,
            {_context('h.stage_name', 'app.posting_context')} AS __context
        FROM hist AS h JOIN lever_app AS app ON app.opp = h.opp
        UNION ALL
        SELECT 'lever:opportunity_stage_history:' || h.opp || ':' || h.at_key || ':' || coalesce(h.stage_id, '')
                   || ':passed',
            h.opp, app.candidate_id, app.role, h.prev_stage, 'passed', h.ts_text,
            app.team, app.source, app.level, NULL,
            h.__file_index, h.__line, 1,
            {_context('h.prev_stage_name', 'app.posting_context')}
        FROM hist AS h JOIN lever_app AS app ON app.opp = h.opp
        LEFT JOIN lever_catalog AS now ON now.stage = h.stage
        LEFT JOIN lever_catalog AS before ON before.stage = h.prev_stage
        WHERE h.prev_stage_id IS NOT NULL AND h.stage IS DISTINCT FROM h.prev_stage
          -- without an index (a row the connector left it empty in), the catalog order of the mapped stages
          AND coalesce(h.stage_index > h.prev_index, now.pos > before.pos, false)
        UNION ALL
        SELECT 'lever:opportunity:' || a.opp || ':' || {_canon('a.ts_text', 'a.instant')} || ':archived',
            a.opp, a.candidate_id, a.role, a.stage,
            CASE WHEN a.kind = 'hired' THEN 'passed' ELSE a.kind END, a.ts_text,
            a.team, a.source, a.level, NULL,
            a.__file_index, a.__line, 0,
            {_context('a.stage_name', 'a.posting_context')}
                || ', archive reason ' || {_quote("coalesce(a.reason, '')")}
        FROM lever_arch AS a
        UNION ALL
        SELECT 'lever:opportunity:' || a.opp || ':' || {_canon('a.ts_text', 'a.instant')} || ':hired_offer',
            a.opp, a.candidate_id, a.role, 'offer', 'passed', a.ts_text,
            a.team, a.source, a.level, NULL,
            a.__file_index, a.__line, 1,
            'Lever archive reason ' || {_quote("coalesce(a.reason, '')")} || ' (hired), ' || a.posting_context
        FROM lever_arch AS a
        WHERE a.kind = 'hired' AND a.stage IS DISTINCT FROM 'offer'
        """
    )
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE lever_users AS
        SELECT trim(interview_id) AS interview_id, min(trim(user_id)) AS user_id, count(DISTINCT trim(user_id)) AS users
        FROM (SELECT interview_id, user_id FROM ats_interview_user UNION ALL
              SELECT interview_id, user_id FROM ats_interviewer_user)
        WHERE nullif(trim(user_id), '') IS NOT NULL GROUP BY 1
        """
    )
    scores = " ".join(f"WHEN '{digit}' THEN '{rec}'" for digit, rec in SCORES.items())
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE derived_interviews AS
        SELECT 'lever:feedback_form:' || trim(f.id) AS interview_id,
            f.opp AS application_id,
            CASE WHEN {_text('i.stage_id')} IS NULL THEN 'onsite' ELSE coalesce(st.value, trim(i.stage_id)) END AS stage,
            coalesce({_text('f.creator_id')}, CASE WHEN u.users = 1 THEN u.user_id END) AS interviewer_id,
            coalesce(m.target, {_unmapped(_text('f.text'), 'skill')}) AS skill,
            CASE WHEN {_text('f.score_system_value')} IS NULL OR lower(trim(f.score_system_value)) = 'null'
                 THEN 'no_decision'
                 ELSE CASE regexp_extract(f.score_system_value, '^\\s*([1-4])\\b', 1) {scores}
                      ELSE lower(trim(f.score_system_value)) END END AS recommendation,
            coalesce({_ts('i.date')}, {_ts('f.completed_at')}) AS occurred_at,
            f.__file_index, f.__line, 0 AS __seq,
            'Lever feedback form ' || {_quote("coalesce(f.text, '')")}
                || ', interview stage ' || {_quote("coalesce(st.name, i.stage_id, '')")}
                || ', ' || coalesce(app.posting_context, 'opportunity not synced') AS __context
        FROM lever_fb AS f
        ANTI JOIN excluded_rows AS x ON x.__file_index = f.__file_index AND x.__line = f.__line
        LEFT JOIN lever_iv AS i ON trim(i.id) = trim(f.interview_id)
        LEFT JOIN lever_stage AS st ON st.stage_id = trim(i.stage_id)
        LEFT JOIN lever_users AS u ON u.interview_id = trim(f.interview_id)
        LEFT JOIN lever_map AS m ON m.kind = 'skill' AND m.key = lower(trim(f.text))
        LEFT JOIN lever_app AS app ON app.opp = f.opp
        """
    )
    notes = dict(zip(
        ("opportunities", "archived", "hired"),
        conn.execute(
            "SELECT (SELECT count(*) FROM lever_app), (SELECT count(DISTINCT opp) FROM lever_arch),"
            " (SELECT count(DISTINCT opp) FROM lever_arch WHERE kind = 'hired')").fetchall()[0],
    ))
    _drop(conn)
    return notes


# ---------------------------------------------------------------------------------------------
# Inventory


def inventory(conn: duckdb.DuckDBPyConnection, mapping: SourceMapping) -> list[dict]:
    """Postings (jobs), the stages each one's opportunities reached, feedback form names and archive
    reasons, with counts, over the opportunities a derivation reads (no leads, nothing deleted)."""
    _prepare(conn, mapping)
    out: list[dict] = []
    for job_id, job_name, n in conn.execute(
        """
        SELECT p.posting_id, p.name, count(DISTINCT app.opp)
        FROM lever_posting AS p LEFT JOIN lever_app AS app ON app.posting_id = p.posting_id
        GROUP BY ALL ORDER BY p.name, p.posting_id
        """
    ).fetchall():
        out.append({"kind": "job", "job_id": job_id, "job_name": job_name, "applications": n})
    for job_id, job_name, name, n in conn.execute(
        """
        WITH reached AS (
            SELECT opp, stage_name, stage_index FROM lever_hist
            UNION SELECT app.opp, coalesce(st.name, app.stage_id), NULL FROM lever_app AS app
            LEFT JOIN lever_stage AS st ON st.stage_id = app.stage_id
            WHERE app.stage_id IS NOT NULL AND lower(app.stage_id) NOT LIKE 'lead-%'
        )
        SELECT app.posting_id, app.posting_name, r.stage_name, count(DISTINCT r.opp)
        FROM reached AS r JOIN lever_app AS app ON app.opp = r.opp
        WHERE r.stage_name IS NOT NULL
        GROUP BY app.posting_id, app.posting_name, r.stage_name
        -- in Lever's pipeline order
        ORDER BY app.posting_name NULLS LAST, app.posting_id, min(r.stage_index) NULLS LAST, r.stage_name
        """
    ).fetchall():
        out.append({"kind": "stage", "job_id": job_id, "job_name": job_name, "name": name, "applications": n})
    for name, n in conn.execute(
        """
        SELECT trim(f.text), count(*) FROM lever_fb AS f
        ANTI JOIN excluded_rows AS x ON x.__file_index = f.__file_index AND x.__line = f.__line
        WHERE nullif(trim(f.text), '') IS NOT NULL GROUP BY 1 ORDER BY 1
        """
    ).fetchall():
        out.append({"kind": "interview", "name": name, "interviews": n})
    for name, n in conn.execute(
        f"""
        WITH archived AS (
            SELECT DISTINCT trim(o.id) AS opp, trim(o.archived_reason_id) AS reason_id FROM lever_opp AS o
            JOIN lever_app AS app ON app.opp = trim(o.id) WHERE {_text('o.archived_at')} IS NOT NULL
        )
        SELECT {_text('r.text')}, count(DISTINCT a.opp)
        FROM ({_last('archive_reason', 'id')}) AS r LEFT JOIN archived AS a ON a.reason_id = trim(r.id)
        WHERE {_text('r.text')} IS NOT NULL GROUP BY 1 ORDER BY 1
        """
    ).fetchall():
        out.append({"kind": "reason", "name": name, "applications": n})
    _drop(conn)
    conn.execute("DROP TABLE IF EXISTS temp.excluded_rows")
    return out
