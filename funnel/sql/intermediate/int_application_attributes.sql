-- One row per application: its role and candidate (from its latest record), its cohort
-- month (the month of its first accepted record), its latest non-null requires_travel and
-- source, and its first and last record times. "Latest" uses the tie rule: greatest occurred_at,
-- then decision > skipped > in_progress, then the greater record_id.
-- depends_on: stg_stage_outcomes
-- incremental_by: application_id
SELECT
    application_id,
    latest[1] AS role,
    latest[2] AS candidate_id,
    CAST(date_trunc('month', first_record_at) AS DATE) AS cohort_month,
    first_record_at,
    last_record_at,
    requires_travel,
    source,
    records,
    role_changed
FROM (
    -- arg_max of the tie-rule key (record_id is unique) rather than ordered aggregates
    SELECT
        application_id,
        arg_max((role, candidate_id), (occurred_at, outcome_rank, record_id)) AS latest,
        min(occurred_at) AS first_record_at,
        max(occurred_at) AS last_record_at,
        arg_max(requires_travel, (occurred_at, outcome_rank, record_id))
            FILTER (WHERE requires_travel IS NOT NULL) AS requires_travel,
        arg_max(source, (occurred_at, outcome_rank, record_id))
            FILTER (WHERE source IS NOT NULL) AS source,
        count(*) AS records,
        min(role) <> max(role) AS role_changed
    FROM stg_stage_outcomes
    GROUP BY application_id
)
