-- Every accepted interview record with its stage's catalog order and the direction of its
-- recommendation (positive: yes or strong_yes; negative: no or strong_no).
-- depends_on: interview_records, config_stages
SELECT
    i.record_id,
    i.application_id,
    i.stage,
    s.stage_order,
    i.interviewer_id,
    i.skill,
    i.recommendation,
    i.recommendation IN ('yes', 'strong_yes') AS is_positive,
    i.recommendation IN ('no', 'strong_no') AS is_negative,
    i.occurred_at
FROM interview_records AS i
JOIN config_stages AS s ON s.stage = i.stage
