-- Per role and stage, all time: how many applications entered the stage and how their latest
-- record there ended, how many skipped it, pass rates with a 95% Wilson interval, and time in
-- stage. One row per stage of the role's pipeline (zero counts when nobody got there) and per
-- other catalog stage an application of the role entered (in_pipeline = false).
-- depends_on: int_application_stages, int_stage_durations, config_role_stages, config_stages
WITH counts AS (
    SELECT
        role,
        stage,
        count(*) FILTER (WHERE entered) AS entered,
        count(*) FILTER (WHERE entered AND latest_outcome = 'passed') AS passed,
        count(*) FILTER (WHERE entered AND latest_outcome = 'failed') AS failed,
        count(*) FILTER (WHERE entered AND latest_outcome = 'withdrew') AS withdrew,
        count(*) FILTER (WHERE entered AND latest_outcome = 'in_progress') AS in_progress,
        count(*) FILTER (WHERE skipped_explicit) AS skipped_explicit,
        count(*) FILTER (WHERE skipped_implied) AS skipped_implied,
        count(*) FILTER (WHERE skipped) AS skipped
    FROM int_application_stages
    GROUP BY role, stage
),
durations AS (
    SELECT
        role,
        stage,
        count(*) AS timed_decisions,
        median(days_in_stage) AS median_days_in_stage,
        quantile_cont(days_in_stage, 0.9) AS p90_days_in_stage
    FROM int_stage_durations
    GROUP BY role, stage
),
grid AS (
    SELECT role, stage FROM config_role_stages
    UNION
    SELECT role, stage FROM counts WHERE entered > 0
),
rows AS (
    SELECT
        g.role,
        g.stage,
        cs.stage_order,
        rs.pipeline_order,
        rs.pipeline_order IS NOT NULL AS in_pipeline,
        coalesce(c.entered, 0) AS entered,
        coalesce(c.passed, 0) AS passed,
        coalesce(c.failed, 0) AS failed,
        coalesce(c.withdrew, 0) AS withdrew,
        coalesce(c.in_progress, 0) AS in_progress,
        coalesce(c.skipped_explicit, 0) AS skipped_explicit,
        coalesce(c.skipped_implied, 0) AS skipped_implied,
        coalesce(c.skipped, 0) AS skipped,
        coalesce(d.timed_decisions, 0) AS timed_decisions,
        d.median_days_in_stage,
        d.p90_days_in_stage
    FROM grid AS g
    JOIN config_stages AS cs ON cs.stage = g.stage
    LEFT JOIN config_role_stages AS rs ON rs.role = g.role AND rs.stage = g.stage
    LEFT JOIN counts AS c ON c.role = g.role AND c.stage = g.stage
    LEFT JOIN durations AS d ON d.role = g.role AND d.stage = g.stage
)
SELECT
    role,
    stage,
    stage_order,
    pipeline_order,
    in_pipeline,
    NOT in_pipeline AS off_pipeline,
    entered,
    passed,
    failed,
    withdrew,
    in_progress,
    skipped,
    skipped_explicit,
    skipped_implied,
    passed + failed AS decided,
    ratio_or_null(passed, passed + failed) AS pass_rate,
    wilson_low(passed, passed + failed) AS pass_rate_low,
    wilson_high(passed, passed + failed) AS pass_rate_high,
    ratio_or_null(passed, entered) AS pass_through_rate,
    ratio_or_null(skipped, skipped + entered) AS skip_rate,
    timed_decisions,
    median_days_in_stage,
    p90_days_in_stage
FROM rows
ORDER BY role, stage_order
