-- team_matching_dropoff by cohort month (the month of each application's first accepted
-- record): one row per role with team_matching and cohort month with at least one application.
-- depends_on: int_team_matching
SELECT
    role,
    cohort_month,
    any_value(final_evaluation_stage) AS final_evaluation_stage,
    any_value(as_of) AS as_of,
    any_value(team_matching_stall_days) AS team_matching_stall_days,
    count(*) AS applications,
    count(*) FILTER (WHERE cleared) AS cleared,
    count(*) FILTER (WHERE tm_status = 'matched') AS matched,
    count(*) FILTER (WHERE tm_status = 'unmatched') AS unmatched,
    count(*) FILTER (WHERE tm_status = 'withdrew') AS withdrew,
    count(*) FILTER (WHERE tm_status = 'in_matching') AS in_matching,
    count(*) FILTER (WHERE stalled) AS stalled,
    count(*) FILTER (WHERE tm_status = 'awaiting') AS awaiting,
    count(*) FILTER (WHERE tm_status = 'skipped') AS skipped,
    count(*) FILTER (WHERE offer_extended) AS offer_extended,
    count(*) FILTER (WHERE offer_accepted) AS offer_accepted,
    ratio_or_null(
        count(*) FILTER (WHERE tm_status IN ('unmatched', 'withdrew')),
        count(*) FILTER (WHERE tm_status IN ('matched', 'unmatched', 'withdrew'))
    ) AS dropoff_rate,
    median(days_to_match) AS median_days_to_match,
    count(days_to_match) AS timed_matches
FROM int_team_matching
GROUP BY role, cohort_month
ORDER BY role, cohort_month
