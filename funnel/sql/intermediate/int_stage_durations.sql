-- Time in stage: one row per decided record (passed/failed/withdrew; a corrected decision, failed
-- then passed, is two rows). It starts at the application's previous decision at an earlier
-- stage (catalog order; the most recent one at or before this decision) or, when there is
-- none, at the application's first record at this stage; it ends at this decision.
-- depends_on: stg_stage_outcomes, int_application_attributes, config_role_stages, config_stages
-- incremental_by: application_id
WITH first_records AS (
    -- keyed by stage_order, which stands for the stage (one per catalog stage) and compares cheaper
    SELECT application_id, stage_order, min(occurred_at) AS first_occurred_at
    FROM stg_stage_outcomes
    GROUP BY application_id, stage_order
),
decisions AS (
    SELECT
        o.record_id, o.application_id, a.role, a.cohort_month, o.stage, o.stage_order,
        rs.pipeline_order IS NOT NULL AS in_pipeline, o.outcome, o.occurred_at, f.first_occurred_at
    FROM stg_stage_outcomes AS o
    JOIN first_records AS f ON f.application_id = o.application_id AND f.stage_order = o.stage_order
    JOIN int_application_attributes AS a ON a.application_id = o.application_id
    LEFT JOIN config_role_stages AS rs ON rs.role = a.role AND rs.stage = o.stage
    WHERE o.is_decision
),
previous AS (
    -- the most recent earlier-stage decision; among several at that instant, the later stage
    SELECT
        d.record_id,
        max(p.occurred_at) AS previous_decision_at,
        arg_max(p.stage_order, (p.occurred_at, p.stage_order)) AS previous_stage_order
    FROM decisions AS d
    JOIN decisions AS p
      ON p.application_id = d.application_id
     AND p.stage_order < d.stage_order
     AND p.occurred_at <= d.occurred_at
    GROUP BY d.record_id
)
SELECT
    d.record_id,
    d.application_id,
    d.role,
    d.cohort_month,
    d.stage,
    d.stage_order,
    d.in_pipeline,
    d.outcome,
    coalesce(pr.previous_decision_at, d.first_occurred_at) AS started_at,
    d.occurred_at AS decided_at,
    CASE WHEN pr.previous_decision_at IS NULL THEN 'first_record_at_stage' ELSE 'previous_decision' END AS start_basis,
    ps.stage AS previous_stage,
    days_between(coalesce(pr.previous_decision_at, d.first_occurred_at), d.occurred_at) AS days_in_stage
FROM decisions AS d
LEFT JOIN previous AS pr ON pr.record_id = d.record_id
LEFT JOIN config_stages AS ps ON ps.stage_order = pr.previous_stage_order
