-- One row per application: its role and candidate (from its latest record), its cohort
-- month (the month of its first accepted record), its latest non-null requires_travel,
-- and its first and last record times. "Latest" uses the tie rule: greatest occurred_at,
-- then decision > skipped > in_progress, then the greater record_id.
-- depends_on: stg_stage_outcomes
SELECT
    application_id,
    first(role ORDER BY occurred_at DESC, outcome_rank DESC, record_id DESC) AS role,
    first(candidate_id ORDER BY occurred_at DESC, outcome_rank DESC, record_id DESC) AS candidate_id,
    CAST(date_trunc('month', min(occurred_at)) AS DATE) AS cohort_month,
    min(occurred_at) AS first_record_at,
    max(occurred_at) AS last_record_at,
    first(requires_travel ORDER BY occurred_at DESC, outcome_rank DESC, record_id DESC)
        FILTER (WHERE requires_travel IS NOT NULL) AS requires_travel,
    count(*) AS records,
    count(DISTINCT role) > 1 AS role_changed
FROM stg_stage_outcomes
GROUP BY application_id
