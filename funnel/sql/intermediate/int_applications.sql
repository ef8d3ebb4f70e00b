-- One row per application (raw ids, not published): its journey through the stages, final
-- status, skipped stages, fast-tracking and the facts travel vetting needs, and the pseudonymous
-- key application_journeys publishes (computed here, so that a run hashes only the applications
-- it touched).
-- depends_on: int_application_attributes, int_application_stages, int_latest_stage_records, stg_stage_outcomes, config_role_stages, config_stages
-- incremental_by: application_id
WITH onsite AS (
    SELECT stage_order AS onsite_order FROM config_stages WHERE stage = 'onsite'
),
catalog AS (
    -- stage names by stage_order (the stage's position in the catalog, 1 = first)
    SELECT list(stage ORDER BY stage_order) AS stage_names FROM config_stages
),
role_constants AS (
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
stage_rows AS (
    -- int_application_stages holds the rows of int_latest_stage_records plus the pipeline stages
    -- without a record, of which only the implied skips count here (not_reached rows count in
    -- nothing below): so read the latest records, which also give the final record, and the
    -- implied skips
    SELECT
        application_id, stage, stage_order, pipeline_order, in_pipeline, outcome,
        occurred_at, outcome_rank, record_id, false AS skipped_implied
    FROM int_latest_stage_records
    UNION ALL
    SELECT
        application_id, stage, stage_order, pipeline_order, in_pipeline, NULL AS outcome,
        NULL AS occurred_at, NULL AS outcome_rank, NULL AS record_id, true AS skipped_implied
    FROM int_application_stages
    WHERE skipped_implied
),
per_application AS (
    -- the stage lists as unordered stage_order lists (cheap to aggregate), sorted and named below
    SELECT
        s.application_id,
        list(s.stage_order) FILTER (WHERE s.entered) AS stages_entered,
        count(*) FILTER (WHERE s.entered) AS stages_entered_count,
        max(s.stage_order) FILTER (WHERE s.entered) AS furthest_stage_order,
        list(s.stage_order) FILTER (WHERE s.skipped) AS skipped_stages,
        list(s.stage_order) FILTER (WHERE s.skipped_explicit) AS skipped_explicit_stages,
        list(s.stage_order) FILTER (WHERE s.skipped_implied) AS skipped_implied_stages,
        list(s.stage_order) FILTER (WHERE NOT s.in_pipeline) AS off_pipeline_stages,
        bool_or(s.stage = 'onsite' AND s.entered) AS entered_onsite,
        any_value(s.outcome) FILTER (WHERE s.stage = 'onsite' AND s.entered) AS onsite_outcome,
        count(*) FILTER (WHERE s.entered AND s.stage_order < o.onsite_order) AS stages_entered_before_onsite,
        count(*) FILTER (WHERE s.in_pipeline AND s.pipeline_order > 1 AND s.stage_order < o.onsite_order AND s.skipped) AS skipped_between_first_and_onsite,
        -- the latest record overall, by the same tie rule as the latest record per stage
        arg_max((s.stage, s.outcome), (s.occurred_at, s.outcome_rank, s.record_id))
            FILTER (WHERE NOT s.skipped_implied) AS final
    FROM (
        SELECT
            *,
            outcome <> 'skipped' AS entered,
            in_pipeline AND outcome = 'skipped' AS skipped_explicit,
            skipped_implied OR (in_pipeline AND outcome = 'skipped') AS skipped
        FROM stage_rows
    ) AS s
    LEFT JOIN onsite AS o ON true
    GROUP BY s.application_id
),
backward AS (
    -- a non-skipped record at an earlier stage that occurred strictly after a non-skipped record
    -- at a later stage: a record whose stage_order is below the running maximum in time order. Among
    -- records at the same instant, ordering by stage_order puts none above the current record's, so
    -- only strictly earlier records can raise the maximum above it (a plain running max, no RANGE frame).
    SELECT application_id, bool_or(stage_order < max_stage_order_so_far) AS moved_backward
    FROM (
        SELECT
            application_id,
            stage_order,
            max(stage_order) OVER (PARTITION BY application_id ORDER BY occurred_at, stage_order) AS max_stage_order_so_far
        FROM stg_stage_outcomes
        WHERE outcome <> 'skipped'
    )
    GROUP BY application_id
)
SELECT
    a.application_id,
    keyed_hash(a.application_id) AS application_key,
    a.candidate_id,
    a.role,
    a.cohort_month,
    a.first_record_at,
    a.last_record_at,
    a.records,
    a.requires_travel,
    coalesce([c.stage_names[i] FOR i IN list_sort(s.stages_entered)], []::VARCHAR[]) AS stages_entered,
    s.stages_entered_count,
    c.stage_names[s.furthest_stage_order] AS furthest_stage,
    s.furthest_stage_order,
    s.final[1] AS final_stage,
    s.final[2] AS final_outcome,
    CASE
        WHEN s.final[2] = 'failed' THEN 'rejected'
        WHEN s.final[2] = 'withdrew' THEN 'withdrew'
        WHEN s.final[2] = 'passed' AND s.final[1] = r.last_pipeline_stage THEN 'hired'
        ELSE 'in_progress'
    END AS final_status,
    coalesce([c.stage_names[i] FOR i IN list_sort(s.skipped_stages)], []::VARCHAR[]) AS skipped_stages,
    coalesce([c.stage_names[i] FOR i IN list_sort(s.skipped_explicit_stages)], []::VARCHAR[]) AS skipped_explicit_stages,
    coalesce([c.stage_names[i] FOR i IN list_sort(s.skipped_implied_stages)], []::VARCHAR[]) AS skipped_implied_stages,
    coalesce([c.stage_names[i] FOR i IN list_sort(s.off_pipeline_stages)], []::VARCHAR[]) AS off_pipeline_stages,
    coalesce(b.moved_backward, false) AS moved_backward,
    coalesce(s.entered_onsite, false) AS entered_onsite,
    s.onsite_outcome,
    s.stages_entered_before_onsite,
    coalesce(s.entered_onsite, false)
        AND coalesce(r.stages_between_first_and_onsite, 0) > 0
        AND s.skipped_between_first_and_onsite = r.stages_between_first_and_onsite AS fast_tracked
FROM int_application_attributes AS a
JOIN per_application AS s ON s.application_id = a.application_id
CROSS JOIN catalog AS c
LEFT JOIN role_constants AS r ON r.role = a.role
LEFT JOIN backward AS b ON b.application_id = a.application_id
