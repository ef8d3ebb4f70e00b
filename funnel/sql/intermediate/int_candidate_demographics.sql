-- One row per candidate with a self-identification: the values of the candidate's latest
-- response (greatest collected_at, a response without one counting as the earliest; ties by
-- reading order: batch, file, line). The whole response wins, unknowns included: a candidate who
-- later declines is unknown. NULL = unknown. Working database only: never published.
-- depends_on: demographic_records
-- incremental_by: candidate_id
SELECT
    candidate_id,
    latest.sex,
    latest.race_ethnicity,
    latest.veteran_status,
    latest.disability_status,
    latest.collected_at
FROM (
    SELECT
        candidate_id,
        arg_max(
            {'sex': sex, 'race_ethnicity': race_ethnicity, 'veteran_status': veteran_status,
             'disability_status': disability_status, 'collected_at': collected_at},
            (coalesce(collected_at, TIMESTAMP '0001-01-01'), collected_at IS NOT NULL, ingested_at, batch_id, source_file, source_line)
        ) AS latest
    FROM demographic_records
    GROUP BY candidate_id
)
ORDER BY candidate_id
