-- Rows ingestion refused, per feed and reason code: how many rows, from how many files.
-- (No ingestion timestamps: the published tables depend only on the landing files, so a rebuild
-- from the same files publishes the same rows.)
-- depends_on: quarantined_rows
SELECT
    feed,
    reason,
    count(*) AS rows,
    count(DISTINCT source_file) AS files
FROM quarantined_rows
GROUP BY feed, reason
ORDER BY feed, reason
