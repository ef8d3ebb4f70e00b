-- One row per application, pseudonymous: application_key is the HMAC-SHA256 (hex) of the
-- application_id under the installation's secret (funnel.keys; it cannot be recomputed from an id
-- without the secret; int_applications computes it); no candidate or application ids. Stages entered in catalog order, the
-- furthest stage, the final status from the latest record, skipped stages (explicit and
-- implied), stages outside the role's pipeline, backward moves, fast-tracking, travel.
-- depends_on: int_applications
-- incremental_by: application_id as application_key
SELECT
    application_key,
    role,
    cohort_month,
    first_record_at,
    last_record_at,
    records,
    stages_entered,
    stages_entered_count,
    furthest_stage,
    furthest_stage_order,
    final_stage,
    final_outcome,
    final_status,
    skipped_stages,
    skipped_explicit_stages,
    skipped_implied_stages,
    off_pipeline_stages,
    len(off_pipeline_stages) > 0 AS has_off_pipeline,
    moved_backward,
    fast_tracked,
    requires_travel
FROM int_applications
ORDER BY role, cohort_month, application_key
