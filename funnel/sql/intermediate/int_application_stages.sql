-- One row per application and stage, for every stage of the role's pipeline and every other
-- stage the application has a record at. status: entered (latest record is not skipped),
-- skipped_explicit (pipeline stage whose latest record is skipped), skipped_implied (pipeline
-- stage with no record while the application entered a later stage of the pipeline),
-- skipped_off_pipeline (an explicit skip at a stage outside the pipeline: not counted),
-- not_reached.
-- depends_on: int_application_attributes, int_latest_stage_records, config_role_stages, config_stages
WITH keys AS (
    SELECT a.application_id, rs.stage
    FROM int_application_attributes AS a
    JOIN config_role_stages AS rs ON rs.role = a.role
    UNION
    SELECT application_id, stage
    FROM int_latest_stage_records
),
joined AS (
    SELECT
        k.application_id,
        a.role,
        a.cohort_month,
        k.stage,
        cs.stage_order,
        rs.pipeline_order,
        rs.pipeline_order IS NOT NULL AS in_pipeline,
        l.outcome AS latest_outcome,
        l.occurred_at AS latest_occurred_at,
        l.first_occurred_at,
        coalesce(l.records_at_stage, 0) AS records_at_stage,
        coalesce(l.outcome <> 'skipped', false) AS entered
    FROM keys AS k
    JOIN int_application_attributes AS a ON a.application_id = k.application_id
    JOIN config_stages AS cs ON cs.stage = k.stage
    LEFT JOIN config_role_stages AS rs ON rs.role = a.role AND rs.stage = k.stage
    LEFT JOIN int_latest_stage_records AS l ON l.application_id = k.application_id AND l.stage = k.stage
),
flagged AS (
    SELECT
        *,
        max(pipeline_order) FILTER (WHERE entered AND in_pipeline)
            OVER (PARTITION BY application_id) AS furthest_pipeline_order_entered
    FROM joined
)
SELECT
    application_id,
    role,
    cohort_month,
    stage,
    stage_order,
    pipeline_order,
    in_pipeline,
    latest_outcome,
    latest_occurred_at,
    first_occurred_at,
    records_at_stage,
    entered,
    in_pipeline AND latest_outcome = 'skipped' AS skipped_explicit,
    in_pipeline AND latest_outcome IS NULL
        AND coalesce(pipeline_order < furthest_pipeline_order_entered, false) AS skipped_implied,
    in_pipeline AND (
        latest_outcome = 'skipped'
        OR (latest_outcome IS NULL AND coalesce(pipeline_order < furthest_pipeline_order_entered, false))
    ) AS skipped,
    CASE
        WHEN entered THEN 'entered'
        WHEN in_pipeline AND latest_outcome = 'skipped' THEN 'skipped_explicit'
        WHEN in_pipeline AND latest_outcome IS NULL
            AND coalesce(pipeline_order < furthest_pipeline_order_entered, false) THEN 'skipped_implied'
        WHEN latest_outcome = 'skipped' THEN 'skipped_off_pipeline'
        ELSE 'not_reached'
    END AS status
FROM flagged
