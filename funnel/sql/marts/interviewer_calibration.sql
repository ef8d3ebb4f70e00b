-- Per interviewer: interviews, the share recommending yes or strong_yes, and agreement with
-- the stage's final decision (the latest record of the application at the interview's stage,
-- when it is passed or failed): a positive recommendation agrees with passed, a negative one
-- (no, strong_no) with failed. no_decision and undecided stages are not compared.
-- depends_on: stg_interviews, int_latest_stage_records
WITH iv AS (
    SELECT
        i.*,
        l.outcome AS stage_outcome
    FROM stg_interviews AS i
    LEFT JOIN int_latest_stage_records AS l
      ON l.application_id = i.application_id AND l.stage = i.stage
),
agg AS (
    SELECT
        interviewer_id,
        count(*) AS interviews,
        count(DISTINCT application_id) AS applications,
        count(*) FILTER (WHERE recommendation = 'strong_yes') AS strong_yes,
        count(*) FILTER (WHERE recommendation = 'yes') AS yes,
        count(*) FILTER (WHERE recommendation = 'no') AS no,
        count(*) FILTER (WHERE recommendation = 'strong_no') AS strong_no,
        count(*) FILTER (WHERE recommendation = 'no_decision') AS no_decision,
        count(*) FILTER (WHERE (is_positive OR is_negative) AND stage_outcome IN ('passed', 'failed')) AS compared,
        count(*) FILTER (
            WHERE (is_positive AND stage_outcome = 'passed') OR (is_negative AND stage_outcome = 'failed')
        ) AS agreed
    FROM iv
    GROUP BY interviewer_id
)
SELECT
    interviewer_id,
    interviews,
    applications,
    strong_yes,
    yes,
    no,
    strong_no,
    no_decision,
    ratio_or_null(strong_yes + yes, interviews) AS yes_share,
    compared,
    agreed,
    ratio_or_null(agreed, compared) AS agreement_rate,
    wilson_low(agreed, compared) AS agreement_rate_low,
    wilson_high(agreed, compared) AS agreement_rate_high
FROM agg
ORDER BY interviewer_id
