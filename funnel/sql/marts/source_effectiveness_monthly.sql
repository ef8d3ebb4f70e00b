-- source_effectiveness by cohort month (the month of each application's first accepted record):
-- for every role, source and cohort month with at least one application, one row per stage of the
-- role's pipeline and per other catalog stage an application of that group entered, with the
-- group's application-level figures repeated on each of its rows.
-- depends_on: int_application_attributes, int_applications, int_application_stages, config_role_stages, config_stages
WITH apps AS (
    SELECT
        a.application_id,
        a.role,
        coalesce(a.source, 'unknown') AS source,
        a.cohort_month,
        i.final_status = 'hired' AS hired,
        -- the hire is the application's latest record (passed at the pipeline's last stage)
        CASE WHEN i.final_status = 'hired' THEN days_between(a.first_record_at, a.last_record_at) END AS days_to_hire
    FROM int_application_attributes AS a
    JOIN int_applications AS i ON i.application_id = a.application_id
),
counts AS (
    SELECT
        s.role,
        p.source,
        p.cohort_month,
        s.stage,
        count(*) FILTER (WHERE s.entered) AS entered,
        count(*) FILTER (WHERE s.entered AND s.latest_outcome = 'passed') AS passed,
        count(*) FILTER (WHERE s.entered AND s.latest_outcome = 'failed') AS failed,
        count(*) FILTER (WHERE s.entered AND s.latest_outcome = 'withdrew') AS withdrew,
        count(*) FILTER (WHERE s.entered AND s.latest_outcome = 'in_progress') AS in_progress,
        count(*) FILTER (WHERE s.skipped_explicit) AS skipped_explicit,
        count(*) FILTER (WHERE s.skipped_implied) AS skipped_implied,
        count(*) FILTER (WHERE s.skipped) AS skipped
    FROM int_application_stages AS s
    JOIN apps AS p ON p.application_id = s.application_id
    GROUP BY s.role, p.source, p.cohort_month, s.stage
),
per_source AS (
    SELECT
        role,
        source,
        cohort_month,
        count(*) AS applications,
        count(*) FILTER (WHERE hired) AS hired,
        median(days_to_hire) AS median_days_to_hire
    FROM apps
    GROUP BY role, source, cohort_month
),
milestones AS (
    -- the onsite and offer figures are those of the onsite and offer rows (one per role, source, stage)
    SELECT
        role,
        source,
        cohort_month,
        any_value(entered) FILTER (WHERE stage = 'onsite') AS reached_onsite,
        any_value(passed) FILTER (WHERE stage = 'onsite') AS onsite_passed,
        any_value(failed) FILTER (WHERE stage = 'onsite') AS onsite_failed,
        any_value(entered) FILTER (WHERE stage = 'offer') AS offers_extended,
        any_value(passed) FILTER (WHERE stage = 'offer') AS offers_accepted,
        any_value(withdrew) FILTER (WHERE stage = 'offer') AS offers_declined,
        any_value(failed) FILTER (WHERE stage = 'offer') AS offers_rescinded,
        any_value(in_progress) FILTER (WHERE stage = 'offer') AS offers_pending
    FROM counts
    GROUP BY role, source, cohort_month
),
hire_stages AS (
    SELECT role, arg_max(stage, pipeline_order) AS hire_stage
    FROM config_role_stages
    GROUP BY role
),
grid AS (
    SELECT p.role, p.source, p.cohort_month, rs.stage
    FROM per_source AS p
    JOIN config_role_stages AS rs ON rs.role = p.role
    UNION
    SELECT role, source, cohort_month, stage FROM counts WHERE entered > 0
),
rows AS (
    SELECT
        g.role,
        g.source,
        g.cohort_month,
        g.stage,
        cs.stage_order,
        rs.pipeline_order,
        rs.pipeline_order IS NOT NULL AS in_pipeline,
        coalesce(c.entered, 0) AS entered,
        coalesce(c.passed, 0) AS passed,
        coalesce(c.failed, 0) AS failed,
        coalesce(c.withdrew, 0) AS withdrew,
        coalesce(c.in_progress, 0) AS in_progress,
        coalesce(c.skipped, 0) AS skipped,
        coalesce(c.skipped_explicit, 0) AS skipped_explicit,
        coalesce(c.skipped_implied, 0) AS skipped_implied,
        p.applications,
        coalesce(m.reached_onsite, 0) AS reached_onsite,
        coalesce(m.onsite_passed, 0) AS onsite_passed,
        coalesce(m.onsite_failed, 0) AS onsite_failed,
        coalesce(m.offers_extended, 0) AS offers_extended,
        coalesce(m.offers_accepted, 0) AS offers_accepted,
        coalesce(m.offers_declined, 0) AS offers_declined,
        coalesce(m.offers_rescinded, 0) AS offers_rescinded,
        coalesce(m.offers_pending, 0) AS offers_pending,
        h.hire_stage,
        p.hired,
        p.median_days_to_hire
    FROM grid AS g
    JOIN config_stages AS cs ON cs.stage = g.stage
    JOIN per_source AS p ON p.role = g.role AND p.source = g.source AND p.cohort_month = g.cohort_month
    LEFT JOIN config_role_stages AS rs ON rs.role = g.role AND rs.stage = g.stage
    LEFT JOIN counts AS c
      ON c.role = g.role AND c.source = g.source AND c.cohort_month = g.cohort_month AND c.stage = g.stage
    LEFT JOIN milestones AS m ON m.role = g.role AND m.source = g.source AND m.cohort_month = g.cohort_month
    LEFT JOIN hire_stages AS h ON h.role = g.role
)
SELECT
    role,
    source,
    cohort_month,
    stage,
    stage_order,
    pipeline_order,
    in_pipeline,
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
    applications,
    reached_onsite,
    onsite_passed,
    onsite_failed,
    ratio_or_null(onsite_passed, onsite_passed + onsite_failed) AS onsite_pass_rate,
    wilson_low(onsite_passed, onsite_passed + onsite_failed) AS onsite_pass_rate_low,
    wilson_high(onsite_passed, onsite_passed + onsite_failed) AS onsite_pass_rate_high,
    offers_extended,
    offers_accepted,
    offers_declined,
    offers_rescinded,
    offers_pending,
    ratio_or_null(offers_accepted, offers_accepted + offers_declined) AS offer_acceptance_rate,
    wilson_low(offers_accepted, offers_accepted + offers_declined) AS offer_acceptance_rate_low,
    wilson_high(offers_accepted, offers_accepted + offers_declined) AS offer_acceptance_rate_high,
    hire_stage,
    hired,
    ratio_or_null(hired, applications) AS hire_rate,
    wilson_low(hired, applications) AS hire_rate_low,
    wilson_high(hired, applications) AS hire_rate_high,
    median_days_to_hire
FROM rows
ORDER BY role, source, cohort_month, stage_order
