-- One row per application (raw ids, not published): its journey through the stages, final
-- status, skipped stages, fast-tracking and the facts travel vetting needs.
-- depends_on: int_application_attributes, int_application_stages, int_latest_stage_records, stg_stage_outcomes, config_role_stages, config_stages
WITH onsite AS (
    SELECT stage_order AS onsite_order FROM config_stages WHERE stage = 'onsite'
),
role_stages AS (
    -- per role: the pipeline's last stage, and how many pipeline stages lie strictly between the
    -- first one and onsite (every application has a row at each of them in int_application_stages)
    SELECT
        rs.role,
        arg_max(rs.stage, rs.pipeline_order) AS last_pipeline_stage,
        count(*) FILTER (WHERE rs.pipeline_order > 1 AND rs.stage_order < o.onsite_order) AS stages_between_first_and_onsite
    FROM config_role_stages AS rs
    LEFT JOIN onsite AS o ON true
    GROUP BY rs.role
),
stages AS (
    -- the stage lists: one unordered list of (stage_order, stage) per flag, sorted afterwards
    -- (cheaper than ordered aggregates); empty when nothing is flagged
    SELECT
        s.application_id,
        coalesce(list_transform(list_sort(list((s.stage_order, s.stage)) FILTER (WHERE s.entered)), lambda x: x[2]), []::VARCHAR[]) AS stages_entered,
        count(*) FILTER (WHERE s.entered) AS stages_entered_count,
        arg_max(s.stage, s.stage_order) FILTER (WHERE s.entered) AS furthest_stage,
        max(s.stage_order) FILTER (WHERE s.entered) AS furthest_stage_order,
        coalesce(list_transform(list_sort(list((s.stage_order, s.stage)) FILTER (WHERE s.skipped)), lambda x: x[2]), []::VARCHAR[]) AS skipped_stages,
        coalesce(list_transform(list_sort(list((s.stage_order, s.stage)) FILTER (WHERE s.skipped_explicit)), lambda x: x[2]), []::VARCHAR[]) AS skipped_explicit_stages,
        coalesce(list_transform(list_sort(list((s.stage_order, s.stage)) FILTER (WHERE s.skipped_implied)), lambda x: x[2]), []::VARCHAR[]) AS skipped_implied_stages,
        coalesce(list_transform(list_sort(list((s.stage_order, s.stage)) FILTER (WHERE NOT s.in_pipeline)), lambda x: x[2]), []::VARCHAR[]) AS off_pipeline_stages,
        bool_or(s.stage = 'onsite' AND s.entered) AS entered_onsite,
        any_value(s.latest_outcome) FILTER (WHERE s.stage = 'onsite' AND s.entered) AS onsite_outcome,
        count(*) FILTER (WHERE s.entered AND s.stage_order < o.onsite_order) AS stages_entered_before_onsite,
        count(*) FILTER (WHERE s.in_pipeline AND s.pipeline_order > 1 AND s.stage_order < o.onsite_order AND s.skipped) AS skipped_between_first_and_onsite
    FROM int_application_stages AS s
    LEFT JOIN onsite AS o ON true
    -- not_reached rows (no record, not skipped) count in none of these
    WHERE s.latest_outcome IS NOT NULL OR s.skipped_implied
    GROUP BY s.application_id
),
final AS (
    SELECT
        application_id,
        arg_max((stage, outcome), (occurred_at, outcome_rank, record_id)) AS final
    FROM int_latest_stage_records
    GROUP BY application_id
),
backward AS (
    -- a non-skipped record at an earlier stage that occurred strictly after a non-skipped record
    -- at a later stage: some stage's last such record is after a later stage's first one
    SELECT application_id, bool_or(first_at < earlier_stages_last_at) AS moved_backward
    FROM (
        SELECT
            application_id,
            first_at,
            max(last_at) OVER (
                PARTITION BY application_id ORDER BY stage_order
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
            ) AS earlier_stages_last_at
        FROM (
            SELECT application_id, stage_order, min(occurred_at) AS first_at, max(occurred_at) AS last_at
            FROM stg_stage_outcomes
            WHERE outcome <> 'skipped'
            GROUP BY application_id, stage_order
        )
    )
    GROUP BY application_id
)
SELECT
    a.application_id,
    a.candidate_id,
    a.role,
    a.cohort_month,
    a.first_record_at,
    a.last_record_at,
    a.records,
    a.requires_travel,
    s.stages_entered,
    s.stages_entered_count,
    s.furthest_stage,
    s.furthest_stage_order,
    f.final[1] AS final_stage,
    f.final[2] AS final_outcome,
    CASE
        WHEN f.final[2] = 'failed' THEN 'rejected'
        WHEN f.final[2] = 'withdrew' THEN 'withdrew'
        WHEN f.final[2] = 'passed' AND f.final[1] = rl.last_pipeline_stage THEN 'hired'
        ELSE 'in_progress'
    END AS final_status,
    s.skipped_stages,
    s.skipped_explicit_stages,
    s.skipped_implied_stages,
    s.off_pipeline_stages,
    coalesce(b.moved_backward, false) AS moved_backward,
    coalesce(s.entered_onsite, false) AS entered_onsite,
    s.onsite_outcome,
    s.stages_entered_before_onsite,
    coalesce(s.entered_onsite, false)
        AND coalesce(rl.stages_between_first_and_onsite, 0) > 0
        AND s.skipped_between_first_and_onsite = rl.stages_between_first_and_onsite AS fast_tracked
FROM int_application_attributes AS a
JOIN stages AS s ON s.application_id = a.application_id
JOIN final AS f ON f.application_id = a.application_id
LEFT JOIN role_stages AS rl ON rl.role = a.role
LEFT JOIN backward AS b ON b.application_id = a.application_id
