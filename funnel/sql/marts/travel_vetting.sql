-- Per role and requires_travel ('true', 'false', 'unknown': the application's latest non-null
-- value): applications, how many reached (entered) onsite, the mean number of stages before
-- onsite in catalog order that those onsite applications entered, and the onsite pass rate.
-- Tests the claim that candidates who travel are vetted more before the onsite.
-- depends_on: int_applications
WITH apps AS (
    SELECT
        *,
        CASE WHEN requires_travel THEN 'true' WHEN NOT requires_travel THEN 'false' ELSE 'unknown' END AS travel
    FROM int_applications
),
agg AS (
    SELECT
        role,
        travel,
        count(*) AS applications,
        count(*) FILTER (WHERE entered_onsite) AS reached_onsite,
        avg(stages_entered_before_onsite) FILTER (WHERE entered_onsite) AS mean_stages_before_onsite,
        count(*) FILTER (WHERE onsite_outcome = 'passed') AS onsite_passed,
        count(*) FILTER (WHERE onsite_outcome = 'failed') AS onsite_failed
    FROM apps
    GROUP BY role, travel
)
SELECT
    role,
    travel AS requires_travel,
    applications,
    reached_onsite,
    ratio_or_null(reached_onsite, applications) AS reached_onsite_rate,
    mean_stages_before_onsite,
    onsite_passed,
    onsite_failed,
    ratio_or_null(onsite_passed, onsite_passed + onsite_failed) AS onsite_pass_rate,
    wilson_low(onsite_passed, onsite_passed + onsite_failed) AS onsite_pass_rate_low,
    wilson_high(onsite_passed, onsite_passed + onsite_failed) AS onsite_pass_rate_high
FROM agg
ORDER BY role, CASE requires_travel WHEN 'true' THEN 1 WHEN 'false' THEN 2 ELSE 3 END
