-- Per role and stage of the role's pipeline (roles with at least one application): explicit
-- skips (latest record skipped), implied skips (no record, but a later pipeline stage
-- entered), the skip rate, and how skippers fared later compared with those who entered the
-- stage: onsite pass rate and hires. The role-level fast_tracked_* columns compare the onsite
-- pass rate of fast-tracked applications with the other applications that entered onsite.
-- depends_on: int_application_stages, int_applications
WITH stage_counts AS (
    SELECT
        role,
        stage,
        any_value(stage_order) AS stage_order,
        any_value(pipeline_order) AS pipeline_order,
        count(*) AS applications,
        count(*) FILTER (WHERE entered) AS entered,
        count(*) FILTER (WHERE skipped_explicit) AS skipped_explicit,
        count(*) FILTER (WHERE skipped_implied) AS skipped_implied,
        count(*) FILTER (WHERE skipped) AS skipped
    FROM int_application_stages
    WHERE in_pipeline
    GROUP BY role, stage
),
later_fates AS (
    -- how skippers and enterers fared later: only their rows need the application's facts
    SELECT
        s.role,
        s.stage,
        count(*) FILTER (WHERE s.skipped AND a.entered_onsite) AS skippers_entered_onsite,
        count(*) FILTER (WHERE s.skipped AND a.onsite_outcome = 'passed') AS skippers_onsite_passed,
        count(*) FILTER (WHERE s.skipped AND a.onsite_outcome = 'failed') AS skippers_onsite_failed,
        count(*) FILTER (WHERE s.skipped AND a.final_status = 'hired') AS skippers_hired,
        count(*) FILTER (WHERE s.entered AND a.entered_onsite) AS enterers_entered_onsite,
        count(*) FILTER (WHERE s.entered AND a.onsite_outcome = 'passed') AS enterers_onsite_passed,
        count(*) FILTER (WHERE s.entered AND a.onsite_outcome = 'failed') AS enterers_onsite_failed,
        count(*) FILTER (WHERE s.entered AND a.final_status = 'hired') AS enterers_hired
    FROM int_application_stages AS s
    JOIN int_applications AS a ON a.application_id = s.application_id
    WHERE s.in_pipeline AND (s.entered OR s.skipped)
    GROUP BY s.role, s.stage
),
per_stage AS (
    SELECT
        c.*,
        coalesce(f.skippers_entered_onsite, 0) AS skippers_entered_onsite,
        coalesce(f.skippers_onsite_passed, 0) AS skippers_onsite_passed,
        coalesce(f.skippers_onsite_failed, 0) AS skippers_onsite_failed,
        coalesce(f.skippers_hired, 0) AS skippers_hired,
        coalesce(f.enterers_entered_onsite, 0) AS enterers_entered_onsite,
        coalesce(f.enterers_onsite_passed, 0) AS enterers_onsite_passed,
        coalesce(f.enterers_onsite_failed, 0) AS enterers_onsite_failed,
        coalesce(f.enterers_hired, 0) AS enterers_hired
    FROM stage_counts AS c
    LEFT JOIN later_fates AS f ON f.role = c.role AND f.stage = c.stage
),
per_role AS (
    SELECT
        role,
        count(*) FILTER (WHERE fast_tracked) AS fast_tracked,
        count(*) FILTER (WHERE fast_tracked AND onsite_outcome = 'passed') AS fast_tracked_onsite_passed,
        count(*) FILTER (WHERE fast_tracked AND onsite_outcome = 'failed') AS fast_tracked_onsite_failed,
        count(*) FILTER (WHERE NOT fast_tracked AND entered_onsite) AS not_fast_tracked_entered_onsite,
        count(*) FILTER (WHERE NOT fast_tracked AND onsite_outcome = 'passed') AS not_fast_tracked_onsite_passed,
        count(*) FILTER (WHERE NOT fast_tracked AND onsite_outcome = 'failed') AS not_fast_tracked_onsite_failed
    FROM int_applications
    GROUP BY role
)
SELECT
    s.role,
    s.stage,
    s.stage_order,
    s.pipeline_order,
    s.applications,
    s.entered,
    s.skipped_explicit,
    s.skipped_implied,
    s.skipped,
    ratio_or_null(s.skipped, s.skipped + s.entered) AS skip_rate,
    s.skippers_entered_onsite,
    s.skippers_onsite_passed,
    s.skippers_onsite_failed,
    ratio_or_null(s.skippers_onsite_passed, s.skippers_onsite_passed + s.skippers_onsite_failed) AS skippers_onsite_pass_rate,
    s.skippers_hired,
    s.enterers_entered_onsite,
    s.enterers_onsite_passed,
    s.enterers_onsite_failed,
    ratio_or_null(s.enterers_onsite_passed, s.enterers_onsite_passed + s.enterers_onsite_failed) AS enterers_onsite_pass_rate,
    s.enterers_hired,
    r.fast_tracked,
    r.fast_tracked_onsite_passed,
    r.fast_tracked_onsite_failed,
    ratio_or_null(r.fast_tracked_onsite_passed, r.fast_tracked_onsite_passed + r.fast_tracked_onsite_failed) AS fast_tracked_onsite_pass_rate,
    r.not_fast_tracked_entered_onsite,
    r.not_fast_tracked_onsite_passed,
    r.not_fast_tracked_onsite_failed,
    ratio_or_null(r.not_fast_tracked_onsite_passed, r.not_fast_tracked_onsite_passed + r.not_fast_tracked_onsite_failed) AS not_fast_tracked_onsite_pass_rate
FROM per_stage AS s
JOIN per_role AS r ON r.role = s.role
ORDER BY s.role, s.stage_order
