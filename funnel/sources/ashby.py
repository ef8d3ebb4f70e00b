"""Ashby, as Airbyte's Ashby connector (source-ashby) lands it: stage events from each application's
stage history, interviews from its interviewers' feedback.

Tables (files named after them under landing/ashby/; columns are Airbyte's, i.e. the Ashby API's
field names, which the loader lower-cases: `enteredStageAt` is `enteredstageat`). Nested objects
(`job`, `candidate`, `source`, `archiveReason`, `submittedByUser`, `submittedValues`) are JSON, as a
destination writes them (a JSON Lines or Parquet struct is read as its JSON text).

    application           id, status, job {id, title}, candidate {id}, source {title},
                          archiveReason {id, text, reasonType}, updatedAt
    application_history   id, application_id, stageId, title, enteredStageAt, leftStageAt,
                          stageNumber, application_updated_at (the application's updatedAt when
                          the connector read this history)
    interview_stage       id, title, type (Lead, PreInterviewScreen, Active, Offer, Hired,
                          Archived), orderInInterviewPlan
    archive_reason        id, text, reasonType (RejectedByOrg, RejectedByCandidate, Other)   optional
    application_feedback  id, applicationId, applicationHistoryId, interviewId, interviewEventId,
                          submittedAt, submittedByUser {id}, submittedValues {overall_recommendation}   optional
    interview_event       id, interviewId, startTime, interview {title}                    optional
    interview             id, title   (interview definitions)                              optional
    job                   id, title                                                         optional

How events are derived (docs/sources.md, "Ashby"):

- An application's effective row is its latest version (greatest updatedAt, then
  _airbyte_extracted_at, then file order): an append sync keeps every version, and the older ones
  are excluded as `superseded`. `status` Lead (a sourced prospect who never applied) excludes the
  application and all its rows as `lead`; so does a history made only of Lead (and Archived)
  stages. Airbyte's `_ab_cdc_deleted_at`, when a destination sets it, excludes a row (an
  application: all its rows) as `deleted`.
- Its current history: the history rows of its latest sync (greatest application_updated_at; all
  of them when the column is absent). Rows of earlier syncs are excluded as `superseded`: Ashby
  history can be rewritten (an entry deleted, a time changed), and the current one is re-derived.
  Entries at stages of type Lead are excluded as `lead`.
- Entries ordered by enteredStageAt (ties: file order): each one is `in_progress` at its stage at
  enteredStageAt; it is `passed` at its stage at leftStageAt when the next entry is a later stage
  (interview plan order) or of type Offer or Hired; an entry followed by an entry of type Archived
  is `failed` or `withdrew` at leftStageAt: the archive reason's text through `archive_reasons`,
  else its reasonType (RejectedByCandidate: withdrew; RejectedByOrg and anything else: failed). An
  entry of type Hired is `passed` at `offer` at its enteredStageAt, unless the entry before is at the
  stage mapped to `offer` (its own pass is the hire); Archived entries emit nothing.
- An unmapped job, stage or interview title stays Ashby's text (with ` (unmapped)` when that text
  is a configured key), so ingestion quarantines its events.
- Interviews: each application_feedback row (one interviewer's feedback on one interview), at the
  mapped stage of its application history entry (`onsite` without one), skill = the interview's
  title through `skills`, recommendation from submittedValues.overall_recommendation (1-4 or
  Strong No / No / Yes / Strong Yes; none: no_decision), at the interview event's startTime (else
  submittedAt). Feedback on no interview at all is excluded as `not an interview`.

Event ids come from Ashby's own keys and canonical UTC times, e.g.
`ashby:application_history:<history id>:<enteredStageAt>:entered`,
`...:<leftStageAt>:left` (the entry's departure, whatever its outcome), `...:<enteredStageAt>:hired`,
`ashby:application_feedback:<feedback id>`.
"""

from __future__ import annotations

import duckdb

from funnel.config import Config
from funnel.sources.mapping import SourceMapping
from funnel.sources.tables import create_empty, ensure_columns

# Airbyte's soft-delete column, set by destinations that keep deleted records.
DELETED = "_ab_cdc_deleted_at"

# Airbyte names most streams in the plural; a folder synced as it lands is read under the singular names.
TABLE_ALIASES: dict[str, str] = {
    "applications": "application",
    "interview_stages": "interview_stage",
    "archive_reasons": "archive_reason",
    "interviews": "interview",
    "jobs": "job",
    "interview_events": "interview_event",
}
REQUIRED_TABLES: dict[str, tuple[str, ...]] = {
    "application": ("id", "status"),
    "application_history": ("id", "stageid", "enteredstageat"),
    "interview_stage": ("id", "type"),
}
OPTIONAL_TABLES: dict[str, tuple[str, ...]] = {
    "archive_reason": ("id", "text", "reasontype"),
    "application_feedback": ("id", "applicationid", "application_id", "applicationhistoryid", "interviewid",
                             "intervieweventid", "submittedat", "submittedbyuser", "submittedbyuserid",
                             "submittedvalues", DELETED),
    "interview_event": ("id", "interviewid", "interview", "starttime"),
    "interview": ("id", "title"),
    "job": ("id", "title"),
}
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "application": ("job", "jobid", "candidate", "candidateid", "source", "archivereason", "archivereasonid",
                    "updatedat", "_airbyte_extracted_at", DELETED),
    "application_history": ("application_id", "applicationid", "title", "leftstageat", "stagenumber",
                            "application_updated_at", "archivereasonid", DELETED),
    "interview_stage": ("title", "orderininterviewplan"),
}

# The work tables a derivation builds (temporary; dropped when it ends).
_WORK = ("ashby_keys", "ashby_map_roles", "ashby_map_stages", "ashby_map_skills", "ashby_map_reasons", "ashby_reasons",
         "ashby_stage_defs", "ashby_app_rows", "ashby_apps", "ashby_hist", "ashby_steps", "ashby_feedback")


# ---------------------------------------------------------------------------------------------
# SQL snippets


def _t(col: str) -> str:
    """A column's text, trimmed; empty is NULL."""
    return f"nullif(trim({col}), '')"


def _obj(col: str, key: str) -> str:
    """A key of a JSON object column (NULL when the column holds no JSON)."""
    return f"json_extract_string(CASE WHEN json_valid({col}) THEN {col} END, '$.{key}')"


def _scalar(col: str) -> str:
    """The column's text when it is a plain value rather than a JSON object, array or null."""
    return (f"CASE WHEN {_t(col)} IS NULL OR lower(trim({col})) = 'null' "
            f"OR (json_valid({col}) AND left(trim({col}), 1) IN ('{{', '[')) THEN NULL ELSE trim({col}) END")


def _ts(col: str) -> str:
    return f"try_cast({_t(col)} AS TIMESTAMPTZ)"


def _canonical(col: str) -> str:
    """A timestamp as canonical UTC text for event ids (the text itself when it does not parse), so the
    same instant written another way (a Parquet re-export, `Z` or `+00:00`) gives the same id."""
    return f"coalesce(strftime({_ts(col)} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ'), {_t(col)})"


def _flag(col: str) -> str:
    """A deletion marker: set (a timestamp, true) unless empty, null or false."""
    return f"coalesce(lower({_t(col)}) NOT IN ('null', 'false', '0'), false)"


def _fold(expr: str) -> str:
    return f"lower(trim({expr}))"


def _unmapped(expr: str, kind: str) -> str:
    """An unmapped ATS name as the event's value: Ashby's own text, so ingestion quarantines the event;
    followed by ` (unmapped)` when that text happens to be a configured key ("Offer" is not mapped to
    offer unless the mapping says so)."""
    return (f"CASE WHEN {_fold(expr)} IN (SELECT key FROM ashby_keys WHERE kind = '{kind}') "
            f"THEN trim({expr}) || ' (unmapped)' ELSE {expr} END")


def _quoted(expr: str) -> str:
    return f"'''' || coalesce({expr}, '?') || ''''"


# ---------------------------------------------------------------------------------------------
# Staging: the tables read, versions settled, rows ruled out, mapping applied


def _ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Every table and column the SQL names: the runner checks the required ones and adds the optional
    ones before `derive`; `inventory` may be called on whatever was loaded (a table missing is empty)."""
    have = {name for (name,) in conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'temp'").fetchall()}
    for table in {**REQUIRED_TABLES, **OPTIONAL_TABLES}:
        columns = REQUIRED_TABLES.get(table, ()) + OPTIONAL_TABLES.get(table, ()) + OPTIONAL_COLUMNS.get(table, ())
        if f"ats_{table}" in have:
            ensure_columns(conn, table, columns)
        else:
            create_empty(conn, table, columns)


def _mapping_tables(conn: duckdb.DuckDBPyConnection, mapping: SourceMapping) -> None:
    for name, key, value, items in (
        ("ashby_map_roles", "key", "role", mapping.roles),
        ("ashby_map_stages", "name", "stage", mapping.stages),
        ("ashby_map_skills", "name", "skill", mapping.skills),
        ("ashby_map_reasons", "name", "outcome", mapping.archive_reasons),
    ):
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({key} VARCHAR, {value} VARCHAR)")
        if items:
            conn.executemany(f"INSERT INTO {name} VALUES (?, ?)", [(str(k), v) for k, v in items.items()])
        if key == "name":
            conn.execute(f"ALTER TABLE {name} ADD COLUMN folded VARCHAR")
            conn.execute(f"UPDATE {name} SET folded = {_fold('name')}")


def _stage(conn: duckdb.DuckDBPyConnection, mapping: SourceMapping) -> None:
    """The work tables both derive and inventory read."""
    _ensure_tables(conn)
    _mapping_tables(conn, mapping)
    pos = "__file_index, __line"
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE ashby_reasons AS
        SELECT {_t('id')} AS id, last({_t('text')} ORDER BY {pos}) AS text,
            last({_t('reasontype')} ORDER BY {pos}) AS reason_type
        FROM ats_archive_reason WHERE {_t('id')} IS NOT NULL GROUP BY 1
    """)
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE ashby_stage_defs AS
        SELECT {_t('id')} AS id, last({_t('title')} ORDER BY {pos}) AS title,
            last({_t('type')} ORDER BY {pos}) AS stage_type,
            last(try_cast({_t('orderininterviewplan')} AS DOUBLE) ORDER BY {pos}) AS stage_order
        FROM ats_interview_stage WHERE {_t('id')} IS NOT NULL GROUP BY 1
    """)
    # Every application row (an append sync keeps each version): the latest version per id is the
    # application, its identical copies are read as they are, older versions are superseded.
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE ashby_app_rows AS
        WITH raw AS (
            SELECT __file_index, __line,
                {_t('id')} AS app_id,
                {_t('status')} AS status,
                coalesce({_obj('job', 'id')}, {_t('jobid')}, {_scalar('job')}) AS job_id,
                {_obj('job', 'title')} AS job_title,
                coalesce({_obj('candidate', 'id')}, {_t('candidateid')}, {_scalar('candidate')}) AS candidate_id,
                coalesce({_obj('source', 'title')}, {_scalar('source')}) AS source,
                coalesce({_obj('archivereason', 'id')}, {_t('archivereasonid')},
                         {_scalar('archivereason')}) AS reason_id,
                {_obj('archivereason', 'text')} AS reason_text,
                {_obj('archivereason', 'reasonType')} AS reason_type,
                {_ts('updatedat')} AS updated_ts,
                {_ts('_airbyte_extracted_at')} AS extracted_ts,
                {_flag(DELETED)} AS deleted
            FROM ats_application
        )
        SELECT *,
            row_number() OVER w AS version_rank,
            updated_ts IS NOT DISTINCT FROM first_value(updated_ts) OVER w
                AND extracted_ts IS NOT DISTINCT FROM first_value(extracted_ts) OVER w AS is_latest
        FROM raw
        WINDOW w AS (PARTITION BY app_id ORDER BY updated_ts DESC NULLS LAST, extracted_ts DESC NULLS LAST,
                     __file_index DESC, __line DESC)
    """)
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE ashby_apps AS
        SELECT v.app_id, v.status, v.job_id,
            coalesce(v.job_title, j.title) AS job_title,
            v.candidate_id, v.source, v.reason_id,
            coalesce(v.reason_text, r.text) AS reason_text,
            coalesce(v.reason_type, r.reason_type) AS reason_type,
            CASE WHEN v.deleted THEN 'deleted' WHEN {_fold('v.status')} = 'lead' THEN 'lead' END AS rule,
            coalesce(by_id.role, by_name.role) AS role
        FROM ashby_app_rows AS v
        LEFT JOIN (SELECT {_t('id')} AS id, last({_t('title')} ORDER BY {pos}) AS title FROM ats_job GROUP BY 1) AS j
            ON j.id = v.job_id
        LEFT JOIN ashby_reasons AS r ON r.id = v.reason_id
        LEFT JOIN ashby_map_roles AS by_id ON by_id.key = v.job_id
        LEFT JOIN ashby_map_roles AS by_name ON {_fold('by_name.key')} = {_fold('coalesce(v.job_title, j.title)')}
        WHERE v.version_rank = 1 AND v.app_id IS NOT NULL
    """)
    # History rows: the stage each one is at (its title, type and order in the interview plan), and
    # whether it belongs to the application's latest sync of its history.
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE ashby_hist AS
        WITH raw AS (
            SELECT h.__file_index, h.__line,
                coalesce({_t('h.application_id')}, {_t('h.applicationid')}) AS app_id,
                {_t('h.id')} AS hid,
                {_t('h.stageid')} AS stage_id,
                coalesce({_t('h.title')}, s.title) AS stage_title,
                lower(coalesce(s.stage_type, CASE {_fold('h.title')} WHEN 'archived' THEN 'Archived'
                                                                   WHEN 'hired' THEN 'Hired' END)) AS stage_type,
                coalesce(s.stage_order, try_cast({_t('h.stagenumber')} AS DOUBLE)) AS stage_order,
                {_t('h.enteredstageat')} AS entered_at,
                {_ts('h.enteredstageat')} AS entered_ts,
                {_canonical('h.enteredstageat')} AS entered_key,
                {_t('h.leftstageat')} AS left_at,
                {_canonical('h.leftstageat')} AS left_key,
                {_t('h.archivereasonid')} AS reason_id,
                {_ts('h.application_updated_at')} AS synced_ts,
                {_flag('h.' + DELETED)} AS deleted
            FROM ats_application_history AS h
            LEFT JOIN ashby_stage_defs AS s ON s.id = {_t('h.stageid')}
        )
        SELECT *, synced_ts IS NOT DISTINCT FROM max(synced_ts) OVER (PARTITION BY app_id) AS is_current
        FROM raw
    """)
    # An application whose current history is only Lead stages (and an archival) never applied.
    conn.execute("""
        UPDATE ashby_apps SET rule = 'lead'
        WHERE rule IS NULL AND app_id IN (
            SELECT app_id FROM ashby_hist WHERE is_current AND NOT deleted GROUP BY app_id
            HAVING bool_or(stage_type = 'lead') AND bool_and(coalesce(stage_type, '') IN ('lead', 'archived')))
    """)
    conn.execute("ALTER TABLE ashby_hist ADD COLUMN rule VARCHAR")
    conn.execute("""
        UPDATE ashby_hist AS h SET rule = coalesce(
            (SELECT a.rule FROM ashby_apps AS a WHERE a.app_id = h.app_id),
            CASE WHEN h.deleted THEN 'deleted' WHEN NOT h.is_current THEN 'superseded'
                 WHEN h.stage_type = 'lead' THEN 'lead' END)
    """)
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE ashby_feedback AS
        WITH events AS (
            SELECT {_t('id')} AS id, last({_t('starttime')} ORDER BY {pos}) AS start_time,
                last({_t('interviewid')} ORDER BY {pos}) AS interview_id,
                last({_obj('interview', 'title')} ORDER BY {pos}) AS title
            FROM ats_interview_event WHERE {_t('id')} IS NOT NULL GROUP BY 1
        ),
        definitions AS (
            SELECT {_t('id')} AS id, last({_t('title')} ORDER BY {pos}) AS title
            FROM ats_interview WHERE {_t('id')} IS NOT NULL GROUP BY 1
        ),
        entries AS (
            -- the history entry a feedback names: its current row when there is one
            SELECT hid, arg_max(stage_title, (is_current, __file_index, __line)) AS stage_title,
                arg_max(stage_id, (is_current, __file_index, __line)) AS stage_id
            FROM ashby_hist WHERE hid IS NOT NULL GROUP BY hid
        ),
        raw AS (
            SELECT __file_index, __line,
                {_t('id')} AS feedback_id,
                coalesce({_t('applicationid')}, {_t('application_id')}) AS app_id,
                {_t('applicationhistoryid')} AS hid,
                {_t('interviewid')} AS interview_id,
                {_t('intervieweventid')} AS event_id,
                {_t('submittedat')} AS submitted_at,
                coalesce({_obj('submittedbyuser', 'id')}, {_t('submittedbyuserid')}, {_scalar('submittedbyuser')})
                    AS interviewer_id,
                coalesce({_obj('submittedvalues', 'overall_recommendation.value')},
                         {_obj('submittedvalues', 'overall_recommendation')},
                         {_obj('submittedvalues', 'overallRecommendation')}) AS recommendation_raw,
                {_flag(DELETED)} AS deleted
            FROM ats_application_feedback
        )
        SELECT f.*,
            e.hid IS NOT NULL AS has_entry, e.stage_title, e.stage_id,
            coalesce(ev.title, d.title) AS interview_title,
            coalesce(ev.start_time, f.submitted_at) AS occurred_at,
            coalesce(
                (SELECT a.rule FROM ashby_apps AS a WHERE a.app_id = f.app_id),
                CASE WHEN f.deleted THEN 'deleted'
                     WHEN f.interview_id IS NULL AND f.event_id IS NULL THEN 'not an interview' END) AS rule
        FROM raw AS f
        LEFT JOIN events AS ev ON ev.id = f.event_id
        LEFT JOIN definitions AS d ON d.id = coalesce(f.interview_id, ev.interview_id)
        LEFT JOIN entries AS e ON e.hid = f.hid
    """)


def _drop_work(conn: duckdb.DuckDBPyConnection) -> None:
    for name in _WORK:
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")


# ---------------------------------------------------------------------------------------------
# Deriving


_OUTCOME_OF_REASON = f"""coalesce(
    mr.outcome,
    CASE WHEN {_fold('reason_type')} = 'rejectedbycandidate' THEN 'withdrew' ELSE 'failed' END)"""

_RECOMMENDATION = """CASE
    WHEN recommendation_raw IS NULL OR norm IN ('', 'null', 'no_decision') THEN 'no_decision'
    WHEN regexp_matches(norm, '^1(_|$)') OR norm IN ('strong_no', 'strong_no_hire', 'definitely_not') THEN 'strong_no'
    WHEN regexp_matches(norm, '^2(_|$)') OR norm IN ('no', 'no_hire') THEN 'no'
    WHEN regexp_matches(norm, '^3(_|$)') OR norm IN ('yes', 'hire') THEN 'yes'
    WHEN regexp_matches(norm, '^4(_|$)') OR norm IN ('strong_yes', 'strong_hire', 'definitely_yes') THEN 'strong_yes'
    ELSE recommendation_raw END"""


def derive(conn: duckdb.DuckDBPyConnection, mapping: SourceMapping, config: Config) -> dict[str, int]:
    """derived_stage_events, derived_interviews and excluded_rows from the ats_* tables (see the module)."""
    try:
        _stage(conn, mapping)
        conn.execute("CREATE OR REPLACE TEMP TABLE ashby_keys (kind VARCHAR, key VARCHAR)")
        conn.executemany("INSERT INTO ashby_keys VALUES (?, ?)",
                         [("stage", s) for s in config.stages] + [("role", r) for r in config.roles]
                         + [("skill", k) for k in config.skills])
        return _derive(conn)
    finally:
        _drop_work(conn)


def _derive(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    # One entry per distinct history entry of a current history (a repeated row is the same entry), in order.
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE ashby_steps AS
        WITH entries AS (
            SELECT app_id, hid, stage_id, entered_at, left_at, reason_id,
                any_value(stage_title) AS stage_title, any_value(stage_type) AS stage_type,
                any_value(stage_order) AS stage_order, any_value(entered_ts) AS entered_ts,
                any_value(entered_key) AS entered_key, any_value(left_key) AS left_key,
                min(__file_index::BIGINT * 1000000000000 + __line) AS first_pos
            FROM ashby_hist WHERE rule IS NULL
            GROUP BY app_id, hid, stage_id, entered_at, left_at, reason_id
        )
        SELECT *,
            lead(true) OVER w AS has_next,
            lead(stage_type) OVER w AS next_type,
            lead(stage_order) OVER w AS next_order,
            lead(entered_at) OVER w AS next_entered_at,
            lead(entered_key) OVER w AS next_entered_key,
            lead(reason_id) OVER w AS next_reason_id,
            lag(stage_title) OVER w AS prev_title
        FROM entries
        WINDOW w AS (PARTITION BY app_id ORDER BY entered_ts NULLS LAST, first_pos)
    """)
    stage_of = f"coalesce(ms.stage, {_unmapped('coalesce(s.stage_title, s.stage_id)', 'stage')})"
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE derived_stage_events AS
        WITH events AS (
            -- seq 0: the entry itself (in_progress at its stage; a Hired entry passes the offer)
            SELECT s.app_id, s.hid, s.stage_id, s.entered_at, s.left_at, s.reason_id, 0 AS __seq,
                'ashby:application_history:' || s.hid || ':' || s.entered_key
                    || CASE WHEN s.stage_type = 'hired' THEN ':hired' ELSE ':entered' END AS event_id,
                CASE WHEN s.stage_type = 'hired' THEN 'offer' ELSE {stage_of} END AS stage,
                CASE WHEN s.stage_type = 'hired' THEN 'passed' ELSE 'in_progress' END AS outcome,
                s.entered_at AS occurred_at,
                s.stage_title
            FROM ashby_steps AS s
            LEFT JOIN ashby_map_stages AS ms ON ms.folded = {_fold('s.stage_title')}
            LEFT JOIN ashby_map_stages AS prev ON prev.folded = {_fold('s.prev_title')}
            -- after the offer's own entry its pass is the hire already
            WHERE coalesce(s.stage_type, '') <> 'archived'
                AND NOT (s.stage_type = 'hired' AND coalesce(prev.stage = 'offer', false))
            UNION ALL
            -- seq 1: its departure (passed to a later stage, an offer or a hire; archived: failed or withdrew)
            SELECT * EXCLUDE (reason_type) FROM (
                SELECT s.app_id, s.hid, s.stage_id, s.entered_at, s.left_at, s.reason_id, 1 AS __seq,
                    'ashby:application_history:' || s.hid || ':' || coalesce(s.left_key, s.next_entered_key)
                        || ':left' AS event_id,
                    {stage_of} AS stage,
                    CASE WHEN s.next_type = 'archived' THEN {_OUTCOME_OF_REASON}
                         WHEN s.next_type IN ('hired', 'offer') THEN 'passed'
                         WHEN s.next_order > s.stage_order THEN 'passed' END AS outcome,
                    coalesce(s.left_at, s.next_entered_at) AS occurred_at,
                    s.stage_title,
                    reason_type
                FROM (
                    SELECT s.*,
                        CASE WHEN s.next_reason_id IS NOT NULL THEN own.text ELSE a.reason_text END AS reason_text,
                        CASE WHEN s.next_reason_id IS NOT NULL THEN own.reason_type ELSE a.reason_type END
                            AS reason_type
                    FROM ashby_steps AS s
                    LEFT JOIN ashby_apps AS a ON a.app_id = s.app_id
                    LEFT JOIN ashby_reasons AS own ON own.id = s.next_reason_id
                ) AS s
                LEFT JOIN ashby_map_stages AS ms ON ms.folded = {_fold('s.stage_title')}
                LEFT JOIN ashby_map_reasons AS mr ON mr.folded = {_fold('s.reason_text')}
                WHERE s.has_next AND coalesce(s.stage_type, '') NOT IN ('archived', 'hired')
            )
            WHERE outcome IS NOT NULL
        )
        -- every row of the entry (a repeated row derives the same events: exact duplicates)
        SELECT e.event_id, e.app_id AS application_id, a.candidate_id,
            coalesce(a.role, {_unmapped('coalesce(a.job_title, a.job_id)', 'role')}) AS role, e.stage, e.outcome,
            e.occurred_at,
            NULL::VARCHAR AS team, a.source, NULL::VARCHAR AS level, NULL::VARCHAR AS requires_travel,
            h.__file_index::INTEGER AS __file_index, h.__line::BIGINT AS __line, e.__seq::INTEGER AS __seq,
            'ashby ' || CASE WHEN a.app_id IS NULL
                             THEN 'application ' || {_quoted('e.app_id')} || ' (no application row)'
                             ELSE 'job ' || {_quoted('a.job_title')} || ' (id ' || coalesce(a.job_id, '?') || ')' END
                || ', stage ' || {_quoted('e.stage_title')} AS __context
        FROM events AS e
        JOIN ashby_hist AS h ON h.rule IS NULL AND h.app_id IS NOT DISTINCT FROM e.app_id
            AND h.hid IS NOT DISTINCT FROM e.hid AND h.stage_id IS NOT DISTINCT FROM e.stage_id
            AND h.entered_at IS NOT DISTINCT FROM e.entered_at AND h.left_at IS NOT DISTINCT FROM e.left_at
            AND h.reason_id IS NOT DISTINCT FROM e.reason_id
        LEFT JOIN ashby_apps AS a ON a.app_id = e.app_id
    """)
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE derived_interviews AS
        SELECT
            'ashby:application_feedback:' || f.feedback_id AS interview_id,
            f.app_id AS application_id,
            CASE WHEN f.has_entry THEN coalesce(ms.stage, {_unmapped('coalesce(f.stage_title, f.stage_id)', 'stage')})
                 ELSE 'onsite' END AS stage,
            f.interviewer_id,
            coalesce(sk.skill, {_unmapped('f.interview_title', 'skill')}) AS skill,
            {_RECOMMENDATION} AS recommendation,
            f.occurred_at,
            f.__file_index::INTEGER AS __file_index, f.__line::BIGINT AS __line, 0 AS __seq,
            'ashby interview ' || {_quoted('f.interview_title')} || ' of job ' || {_quoted('a.job_title')}
                || CASE WHEN f.has_entry THEN ', stage ' || {_quoted('f.stage_title')} ELSE '' END AS __context
        FROM (SELECT *, trim(regexp_replace({_fold('recommendation_raw')}, '[^a-z0-9]+', '_', 'g'), '_') AS norm
              FROM ashby_feedback WHERE rule IS NULL) AS f
        LEFT JOIN ashby_apps AS a ON a.app_id = f.app_id
        LEFT JOIN ashby_map_stages AS ms ON ms.folded = {_fold('f.stage_title')}
        LEFT JOIN ashby_map_skills AS sk ON sk.folded = {_fold('f.interview_title')}
    """)
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE excluded_rows AS
        SELECT __file_index, __line, rule FROM (
            SELECT r.__file_index::INTEGER AS __file_index, r.__line::BIGINT AS __line,
                coalesce(a.rule, CASE WHEN r.deleted THEN 'deleted'
                                      WHEN r.app_id IS NOT NULL AND NOT r.is_latest THEN 'superseded' END) AS rule
            FROM ashby_app_rows AS r LEFT JOIN ashby_apps AS a ON a.app_id = r.app_id
        ) WHERE rule IS NOT NULL
        UNION ALL
        SELECT __file_index, __line, rule FROM ashby_hist WHERE rule IS NOT NULL
        UNION ALL
        SELECT __file_index, __line, rule FROM ashby_feedback WHERE rule IS NOT NULL
    """)
    # fetchall: a fetched-once result left open would keep DuckDB from registering the runner's frames
    [(applications, without_history)] = conn.execute("""
        SELECT count(*), count(*) FILTER (WHERE app_id NOT IN (SELECT app_id FROM ashby_steps WHERE app_id IS NOT NULL))
        FROM ashby_apps WHERE rule IS NULL
    """).fetchall()
    return {"applications": applications, "applications without history": without_history}


# ---------------------------------------------------------------------------------------------
# What the tables hold, for `funnel sources suggest` and `funnel validate`


def inventory(conn: duckdb.DuckDBPyConnection, mapping: SourceMapping) -> list[dict]:
    """Jobs, their stage names (the stages a mapping needs: not those of type Lead, Archived or Hired),
    interview names and archive reasons, over the applications a derivation reads."""
    try:
        _stage(conn, mapping)
        out: list[dict] = []
        for job_id, job_name, n in conn.execute("""
            SELECT job_id, job_title, count(*) FROM ashby_apps WHERE rule IS NULL
            GROUP BY ALL ORDER BY job_title NULLS LAST, job_id NULLS LAST
        """).fetchall():
            out.append({"kind": "job", "job_id": job_id, "job_name": job_name, "applications": n})
        for job_id, job_name, name, n in conn.execute("""
            SELECT a.job_id, a.job_title, h.stage_title, count(DISTINCT h.app_id)
            FROM ashby_hist AS h JOIN ashby_apps AS a ON a.app_id = h.app_id
            WHERE h.rule IS NULL AND coalesce(h.stage_type, '') NOT IN ('archived', 'hired', 'lead')
            GROUP BY ALL
            ORDER BY a.job_title NULLS LAST, a.job_id NULLS LAST, min(h.stage_order) NULLS LAST, h.stage_title
        """).fetchall():
            out.append({"kind": "stage", "job_id": job_id, "job_name": job_name, "name": name, "applications": n})
        for name, n in conn.execute("""
            SELECT interview_title, count(*) FROM ashby_feedback WHERE rule IS NULL AND interview_title IS NOT NULL
            GROUP BY ALL ORDER BY interview_title
        """).fetchall():
            out.append({"kind": "interview", "name": name, "interviews": n})
        for name, n in conn.execute("""
            SELECT reason_text, count(*) FROM ashby_apps WHERE rule IS NULL AND reason_text IS NOT NULL
            GROUP BY ALL ORDER BY reason_text
        """).fetchall():
            out.append({"kind": "reason", "name": name, "applications": n})
        return out
    finally:
        _drop_work(conn)
