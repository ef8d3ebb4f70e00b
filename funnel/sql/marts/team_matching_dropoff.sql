-- Team-matching drop-off per role whose pipeline has team_matching (roles with at least one
-- application). Among cleared applications (passed the final evaluation stage, the stage just
-- before team_matching, or have any team_matching record), by latest team_matching record:
-- matched, unmatched, withdrew, in_matching (of which stalled), skipped, awaiting (no record).
-- dropoff_rate = (unmatched + withdrew) / (matched + unmatched + withdrew).
-- depends_on: int_team_matching
SELECT
    role,
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
GROUP BY role
ORDER BY role
