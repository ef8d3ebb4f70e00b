-- Time in stage: one row per application and stage whose latest record is a decision
-- (passed/failed/withdrew). It starts at the application's previous decision at an earlier
-- stage (catalog order; the most recent one at or before this decision) or, when there is
-- none, at the application's first record at this stage; it ends at this decision.
-- depends_on: int_latest_stage_records, config_stages
WITH decisions AS (
    SELECT application_id, role, cohort_month, stage, stage_order, in_pipeline, outcome,
           occurred_at, first_occurred_at
    FROM int_latest_stage_records
    WHERE is_decision
),
previous AS (
    SELECT
        d.application_id,
        d.stage,
        max(p.occurred_at) AS previous_decision_at
    FROM decisions AS d
    JOIN decisions AS p
      ON p.application_id = d.application_id
     AND p.stage_order < d.stage_order
     AND p.occurred_at <= d.occurred_at
    GROUP BY d.application_id, d.stage
),
previous_stage AS (
    -- the stage of the previous decision; among decisions at the same instant, the later stage
    SELECT d.application_id, d.stage, max(p.stage_order) AS previous_stage_order
    FROM decisions AS d
    JOIN previous AS pr ON pr.application_id = d.application_id AND pr.stage = d.stage
    JOIN decisions AS p
      ON p.application_id = d.application_id
     AND p.stage_order < d.stage_order
     AND p.occurred_at = pr.previous_decision_at
    GROUP BY d.application_id, d.stage
)
SELECT
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
    ps_stage.stage AS previous_stage,
    days_between(coalesce(pr.previous_decision_at, d.first_occurred_at), d.occurred_at) AS days_in_stage
FROM decisions AS d
LEFT JOIN previous AS pr ON pr.application_id = d.application_id AND pr.stage = d.stage
LEFT JOIN previous_stage AS ps ON ps.application_id = d.application_id AND ps.stage = d.stage
LEFT JOIN config_stages AS ps_stage ON ps_stage.stage_order = ps.previous_stage_order
