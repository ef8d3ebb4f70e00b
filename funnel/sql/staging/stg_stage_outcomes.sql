-- Every accepted stage-outcome record with its stage's catalog order, whether it is a
-- decision, and its rank for breaking ties between records with the same occurred_at
-- (decision 3 > skipped 2 > in_progress 1).
-- depends_on: stage_outcome_records, config_stages
SELECT
    r.record_id,
    r.application_id,
    r.candidate_id,
    r.role,
    r.stage,
    s.stage_order,
    r.outcome,
    r.outcome IN ('passed', 'failed', 'withdrew') AS is_decision,
    CASE
        WHEN r.outcome IN ('passed', 'failed', 'withdrew') THEN 3
        WHEN r.outcome = 'skipped' THEN 2
        ELSE 1
    END AS outcome_rank,
    r.occurred_at,
    r.team,
    r.source,
    r.level,
    r.requires_travel,
    r.source_file,
    r.source_line
FROM stage_outcome_records AS r
JOIN config_stages AS s ON s.stage = r.stage
