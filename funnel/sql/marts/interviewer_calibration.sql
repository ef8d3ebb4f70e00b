-- Per interviewer: interviews, the share recommending yes or strong_yes, and agreement with
-- the stage's final decision (the latest record of the application at the interview's stage,
-- when it is passed or failed): a positive recommendation agrees with passed, a negative one
-- (no, strong_no) with failed. no_decision and undecided stages are not compared.
-- interviewer_id is published as it is, or, with pseudonymize_interviewers: true in funnel.yaml,
-- as the HMAC-SHA256 (hex) of the interviewer_id under the installation's secret.
-- depends_on: stg_interviews, int_latest_stage_records, config_settings
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
    published_interviewer_id(agg.interviewer_id, s.pseudonymize_interviewers) AS interviewer_id,
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
CROSS JOIN config_settings AS s
ORDER BY 1
