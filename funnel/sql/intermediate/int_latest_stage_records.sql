-- The latest record per application and stage: greatest occurred_at (UTC instant); ties go to
-- a decision (passed/failed/withdrew) over skipped over in_progress, then to the greater
-- record_id. Carries the application's role, whether the stage is in that role's pipeline,
-- and the first record time and record count at the stage.
-- depends_on: stg_stage_outcomes, int_application_attributes, config_role_stages
-- incremental_by: application_id
WITH latest AS (
    -- one aggregate per (application, stage), not a window over every record: the latest record
    -- is the arg_max of (occurred_at, outcome_rank, record_id)
    SELECT
        application_id,
        stage,
        any_value(stage_order) AS stage_order,
        arg_max((outcome, outcome_rank, record_id), (occurred_at, outcome_rank, record_id)) AS latest,
        max(occurred_at) AS occurred_at,
        min(occurred_at) AS first_occurred_at,
        count(*) AS records_at_stage
    FROM stg_stage_outcomes
    GROUP BY application_id, stage
)
SELECT
    r.application_id,
    a.role,
    a.cohort_month,
    r.stage,
    r.stage_order,
    rs.pipeline_order,
    rs.pipeline_order IS NOT NULL AS in_pipeline,
    r.latest[1] AS outcome,
    r.latest[2] = 3 AS is_decision,
    r.latest[2] AS outcome_rank,
    r.occurred_at,
    r.latest[3] AS record_id,
    r.first_occurred_at,
    r.records_at_stage
FROM latest AS r
JOIN int_application_attributes AS a ON a.application_id = r.application_id
LEFT JOIN config_role_stages AS rs ON rs.role = a.role AND rs.stage = r.stage
