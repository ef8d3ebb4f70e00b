-- One row per application (raw ids, not published): its journey through the stages, final
-- status, skipped stages, fast-tracking and the facts travel vetting needs.
-- depends_on: int_application_attributes, int_application_stages, int_latest_stage_records, stg_stage_outcomes, config_role_stages, config_stages
WITH onsite AS (
    SELECT stage_order AS onsite_order FROM config_stages WHERE stage = 'onsite'
),
last_stage AS (
    SELECT role, arg_max(stage, pipeline_order) AS last_pipeline_stage
    FROM config_role_stages
    GROUP BY role
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
        count(*) FILTER (WHERE s.in_pipeline AND s.pipeline_order > 1 AND s.stage_order < o.onsite_order) AS stages_between_first_and_onsite,
        count(*) FILTER (WHERE s.in_pipeline AND s.pipeline_order > 1 AND s.stage_order < o.onsite_order AND s.skipped) AS skipped_between_first_and_onsite
    FROM int_application_stages AS s
    LEFT JOIN onsite AS o ON true
    GROUP BY s.application_id
),
final AS (
    SELECT
        application_id,
        first(stage ORDER BY occurred_at DESC, outcome_rank DESC, record_id DESC) AS final_stage,
        first(outcome ORDER BY occurred_at DESC, outcome_rank DESC, record_id DESC) AS final_outcome
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
    f.final_stage,
    f.final_outcome,
    CASE
        WHEN f.final_outcome = 'failed' THEN 'rejected'
        WHEN f.final_outcome = 'withdrew' THEN 'withdrew'
        WHEN f.final_outcome = 'passed' AND f.final_stage = ls.last_pipeline_stage THEN 'hired'
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
        AND s.stages_between_first_and_onsite > 0
        AND s.skipped_between_first_and_onsite = s.stages_between_first_and_onsite AS fast_tracked
FROM int_application_attributes AS a
JOIN stages AS s ON s.application_id = a.application_id
JOIN final AS f ON f.application_id = a.application_id
LEFT JOIN last_stage AS ls ON ls.role = a.role
LEFT JOIN backward AS b ON b.application_id = a.application_id
