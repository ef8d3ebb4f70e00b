-- One row per application of a role whose pipeline has team_matching. The final evaluation
-- stage is the pipeline stage just before team_matching. cleared: passed the final evaluation
-- stage or has any team_matching record. tm_status (cleared only), from the latest
-- team_matching record: matched (passed), unmatched (failed), withdrew, in_matching
-- (in_progress), skipped (explicitly skipped), awaiting (no record). stalled: in_matching and
-- the latest record is more than team_matching_stall_days older than the as-of time (the
-- greatest accepted occurred_at).
-- depends_on: int_application_attributes, int_latest_stage_records, stg_stage_outcomes, config_role_stages, config_settings
WITH tm_roles AS (
    SELECT tm.role, before.stage AS final_evaluation_stage
    FROM config_role_stages AS tm
    LEFT JOIN config_role_stages AS before
      ON before.role = tm.role AND before.pipeline_order = tm.pipeline_order - 1
    WHERE tm.stage = 'team_matching'
),
as_of AS (
    SELECT max(occurred_at) AS as_of FROM stg_stage_outcomes
),
latest AS (
    -- the latest records at the final evaluation stage, team_matching and offer in one pass
    SELECT
        l.application_id,
        any_value(l.outcome) FILTER (WHERE l.stage = r.final_evaluation_stage) AS final_evaluation_outcome,
        any_value(l.occurred_at) FILTER (WHERE l.stage = r.final_evaluation_stage) AS final_evaluation_at,
        any_value(l.is_decision) FILTER (WHERE l.stage = r.final_evaluation_stage) AS final_evaluation_decided,
        any_value(l.outcome) FILTER (WHERE l.stage = 'team_matching') AS team_matching_outcome,
        any_value(l.occurred_at) FILTER (WHERE l.stage = 'team_matching') AS team_matching_at,
        any_value(l.outcome) FILTER (WHERE l.stage = 'offer') AS offer_outcome
    FROM int_latest_stage_records AS l
    JOIN tm_roles AS r ON r.role = l.role
    WHERE l.stage IN (r.final_evaluation_stage, 'team_matching', 'offer')
    GROUP BY l.application_id
),
base AS (
    SELECT
        a.application_id,
        a.role,
        a.cohort_month,
        r.final_evaluation_stage,
        l.final_evaluation_outcome,
        l.final_evaluation_at,
        coalesce(l.final_evaluation_decided, false) AS final_evaluation_decided,
        l.team_matching_outcome,
        l.team_matching_at,
        l.offer_outcome,
        -- team_matching_outcome is never NULL on a team_matching record
        coalesce(l.final_evaluation_outcome = 'passed', false) OR l.team_matching_outcome IS NOT NULL AS cleared
    FROM int_application_attributes AS a
    JOIN tm_roles AS r ON r.role = a.role
    LEFT JOIN latest AS l ON l.application_id = a.application_id
),
classified AS (
    SELECT
        b.*,
        CASE
            WHEN NOT b.cleared THEN NULL
            WHEN b.team_matching_outcome IS NULL THEN 'awaiting'
            WHEN b.team_matching_outcome = 'passed' THEN 'matched'
            WHEN b.team_matching_outcome = 'failed' THEN 'unmatched'
            WHEN b.team_matching_outcome = 'withdrew' THEN 'withdrew'
            WHEN b.team_matching_outcome = 'in_progress' THEN 'in_matching'
            ELSE 'skipped'
        END AS tm_status
    FROM base AS b
)
SELECT
    c.application_id,
    c.role,
    c.cohort_month,
    c.final_evaluation_stage,
    c.final_evaluation_outcome,
    c.final_evaluation_at,
    c.team_matching_outcome,
    c.team_matching_at,
    c.cleared,
    c.tm_status,
    x.as_of,
    s.team_matching_stall_days,
    CASE WHEN c.tm_status = 'in_matching' THEN days_between(c.team_matching_at, x.as_of) END AS days_in_matching,
    coalesce(
        c.tm_status = 'in_matching'
        AND epoch_us(x.as_of) - epoch_us(c.team_matching_at) > s.team_matching_stall_days::BIGINT * 86400000000,
        false
    ) AS stalled,
    coalesce(c.tm_status = 'matched' AND c.offer_outcome IS NOT NULL AND c.offer_outcome <> 'skipped', false) AS offer_extended,
    coalesce(c.tm_status = 'matched' AND c.offer_outcome = 'passed', false) AS offer_accepted,
    CASE
        WHEN c.tm_status = 'matched' AND c.final_evaluation_decided
        THEN days_between(c.final_evaluation_at, c.team_matching_at)
    END AS days_to_match
FROM classified AS c
CROSS JOIN as_of AS x
CROSS JOIN config_settings AS s
