-- Per role with at least one onsite loop: loops, fully covered loops and their share (of the
-- loops whose role is known), and the
-- required skill most often missing (most loops missing it; ties to the alphabetically first).
-- depends_on: loop_skill_coverage
WITH missing AS (
    SELECT role, skill, count(*) AS loops_missing
    FROM (SELECT role, unnest(skills_missing) AS skill FROM loop_skill_coverage)
    GROUP BY role, skill
),
top_missing AS (
    SELECT
        role,
        first(skill ORDER BY loops_missing DESC, skill) AS most_often_missing_skill,
        max(loops_missing) AS most_often_missing_loops
    FROM missing
    GROUP BY role
)
SELECT
    c.role,
    count(*) AS loops,
    count(*) FILTER (WHERE c.fully_covered) AS fully_covered,
    ratio_or_null(count(*) FILTER (WHERE c.fully_covered), count(c.fully_covered)) AS fully_covered_rate,
    count(*) FILTER (WHERE c.skills_doubled_count > 0) AS loops_with_doubled_skill,
    avg(c.interviewers) AS mean_interviewers,
    any_value(t.most_often_missing_skill) AS most_often_missing_skill,
    coalesce(any_value(t.most_often_missing_loops), 0) AS most_often_missing_loops
FROM loop_skill_coverage AS c
LEFT JOIN top_missing AS t ON t.role IS NOT DISTINCT FROM c.role
GROUP BY c.role
ORDER BY c.role NULLS LAST
