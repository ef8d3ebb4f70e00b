-- One row per onsite loop (application with at least one interview at onsite), pseudonymous
-- (application_key = HMAC-SHA256 of application_id under the installation's secret, the same key
-- as in application_journeys): interviews, distinct interviewers, the skills
-- covered, the role's onsite_skills missing, the skills evaluated by more than one
-- interviewer, and whether every required skill was covered. Interviews of an application
-- with no stage-outcome record have role NULL and NULL coverage.
-- depends_on: stg_interviews, int_application_attributes, int_latest_stage_records, config_role_skills
WITH onsite AS (
    SELECT * FROM stg_interviews WHERE stage = 'onsite'
),
per_skill AS (
    SELECT application_id, skill, count(DISTINCT interviewer_id) AS interviewers
    FROM onsite
    GROUP BY application_id, skill
),
skills AS (
    SELECT
        application_id,
        list(skill ORDER BY skill) AS skills_covered,
        coalesce(list(skill ORDER BY skill) FILTER (WHERE interviewers > 1), []::VARCHAR[]) AS skills_doubled
    FROM per_skill
    GROUP BY application_id
),
loops AS (
    SELECT
        application_id,
        count(*) AS interviews,
        count(DISTINCT interviewer_id) AS interviewers,
        min(occurred_at) AS first_interview_at,
        max(occurred_at) AS last_interview_at
    FROM onsite
    GROUP BY application_id
),
required AS (
    SELECT
        l.application_id,
        list(rs.skill ORDER BY rs.skill) AS skills_required,
        list(rs.skill ORDER BY rs.skill) FILTER (WHERE ps.skill IS NULL) AS skills_missing
    FROM loops AS l
    JOIN int_application_attributes AS a ON a.application_id = l.application_id
    JOIN config_role_skills AS rs ON rs.role = a.role
    LEFT JOIN per_skill AS ps ON ps.application_id = l.application_id AND ps.skill = rs.skill
    GROUP BY l.application_id
),
joined AS (
    SELECT
        l.application_id,
        a.role,
        a.cohort_month,
        l.interviews,
        l.interviewers,
        l.first_interview_at,
        l.last_interview_at,
        s.skills_covered,
        s.skills_doubled,
        CASE WHEN a.role IS NOT NULL THEN coalesce(r.skills_required, []::VARCHAR[]) END AS skills_required,
        CASE WHEN a.role IS NOT NULL THEN coalesce(r.skills_missing, []::VARCHAR[]) END AS skills_missing,
        o.outcome AS onsite_outcome
    FROM loops AS l
    JOIN skills AS s ON s.application_id = l.application_id
    LEFT JOIN int_application_attributes AS a ON a.application_id = l.application_id
    LEFT JOIN required AS r ON r.application_id = l.application_id
    LEFT JOIN int_latest_stage_records AS o ON o.application_id = l.application_id AND o.stage = 'onsite'
)
SELECT
    keyed_hash(application_id) AS application_key,
    role,
    cohort_month,
    interviews,
    interviewers,
    first_interview_at,
    last_interview_at,
    skills_required,
    skills_covered,
    len(skills_covered) AS skills_covered_count,
    skills_missing,
    len(skills_missing) AS skills_missing_count,
    skills_doubled,
    len(skills_doubled) AS skills_doubled_count,
    len(skills_missing) = 0 AS fully_covered,
    onsite_outcome
FROM joined
ORDER BY role NULLS LAST, cohort_month, application_key
