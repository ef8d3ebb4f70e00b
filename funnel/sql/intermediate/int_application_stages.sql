-- One row per application and stage, for every stage of the role's pipeline and every other
-- stage the application has a record at. status: entered (latest record is not skipped),
-- skipped_explicit (pipeline stage whose latest record is skipped), skipped_implied (pipeline
-- stage with no record while the application entered a later stage of the pipeline),
-- skipped_off_pipeline (an explicit skip at a stage outside the pipeline: not counted),
-- not_reached.
-- depends_on: int_application_attributes, int_latest_stage_records, config_role_stages, config_stages
-- incremental_by: application_id
-- The rows with a record are int_latest_stage_records' own; the pipeline stages without one are
-- found per application (the stages it has records at, and the furthest pipeline stage it
-- entered, aggregated once) rather than by joining every (application, stage) pair back.
WITH per_application AS (
    SELECT
        application_id,
        list(stage_order) AS recorded_stage_orders,
        max(pipeline_order) FILTER (WHERE outcome <> 'skipped') AS furthest_pipeline_order_entered
    FROM int_latest_stage_records
    GROUP BY application_id
),
unrecorded AS (
    -- pipeline stages of the role with no record: skipped_implied when a later one was entered
    SELECT
        a.application_id, a.role, a.cohort_month, rs.stage, cs.stage_order, rs.pipeline_order,
        coalesce(rs.pipeline_order < p.furthest_pipeline_order_entered, false) AS skipped_implied
    FROM int_application_attributes AS a
    JOIN per_application AS p ON p.application_id = a.application_id
    JOIN config_role_stages AS rs ON rs.role = a.role
    JOIN config_stages AS cs ON cs.stage = rs.stage
    WHERE NOT list_contains(p.recorded_stage_orders, cs.stage_order)
)
SELECT
    application_id,
    role,
    cohort_month,
    stage,
    stage_order,
    pipeline_order,
    in_pipeline,
    outcome AS latest_outcome,
    occurred_at AS latest_occurred_at,
    first_occurred_at,
    records_at_stage,
    outcome <> 'skipped' AS entered,
    in_pipeline AND outcome = 'skipped' AS skipped_explicit,
    false AS skipped_implied,
    in_pipeline AND outcome = 'skipped' AS skipped,
    CASE
        WHEN outcome <> 'skipped' THEN 'entered'
        WHEN in_pipeline THEN 'skipped_explicit'
        ELSE 'skipped_off_pipeline'
    END AS status
FROM int_latest_stage_records
UNION ALL
SELECT
    application_id, role, cohort_month, stage, stage_order, pipeline_order,
    true AS in_pipeline,
    NULL AS latest_outcome,
    NULL AS latest_occurred_at,
    NULL AS first_occurred_at,
    0 AS records_at_stage,
    false AS entered,
    -- NULL, not false: there is no latest record to be skipped (`in_pipeline AND NULL = 'skipped'`)
    NULL::BOOLEAN AS skipped_explicit,
    skipped_implied,
    CASE WHEN skipped_implied THEN true END AS skipped,
    CASE WHEN skipped_implied THEN 'skipped_implied' ELSE 'not_reached' END AS status
FROM unrecorded
