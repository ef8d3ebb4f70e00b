-- The latest record per application and stage: greatest occurred_at (UTC instant); ties go to
-- a decision (passed/failed/withdrew) over skipped over in_progress, then to the greater
-- record_id. Carries the application's role, whether the stage is in that role's pipeline,
-- and the first record time and record count at the stage.
-- depends_on: stg_stage_outcomes, int_application_attributes, config_role_stages
WITH ranked AS (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY application_id, stage
            ORDER BY occurred_at DESC, outcome_rank DESC, record_id DESC
        ) AS recency,
        count(*) OVER (PARTITION BY application_id, stage) AS records_at_stage,
        min(occurred_at) OVER (PARTITION BY application_id, stage) AS first_occurred_at
    FROM stg_stage_outcomes
)
SELECT
    r.application_id,
    a.role,
    a.cohort_month,
    r.stage,
    r.stage_order,
    rs.pipeline_order,
    rs.pipeline_order IS NOT NULL AS in_pipeline,
    r.outcome,
    r.is_decision,
    r.outcome_rank,
    r.occurred_at,
    r.record_id,
    r.first_occurred_at,
    r.records_at_stage
FROM ranked AS r
JOIN int_application_attributes AS a ON a.application_id = r.application_id
LEFT JOIN config_role_stages AS rs ON rs.role = a.role AND rs.stage = r.stage
WHERE r.recency = 1
