-- Adverse impact per role, step, dimension and group (29 CFR 1607.4; NYC Local Law 144): at each
-- stage of the role's pipeline, applicants are the applications whose latest record there is
-- passed or failed and selected are the passed ones; at step `overall`, applicants are the
-- applications hired or rejected and selected the hired. Groups come from the candidate's latest
-- self-identification (sex, race_ethnicity and their intersection; unknown in either is unknown).
-- A group with fewer applicants than fairness.min_group_size is suppressed (counts NULL), and so
-- is the next smallest when only one would be; one under fairness.min_group_share of the known
-- applicants keeps its counts but is not compared. The reference group has the highest rate among
-- the rest (ties: more applicants, then name). Aggregates only: no row is about a person.
-- depends_on: int_applications, int_latest_stage_records, int_candidate_demographics, config_role_stages, config_settings
WITH application_groups AS (
    SELECT
        a.application_id,
        coalesce(d.sex, 'unknown') AS sex,
        coalesce(d.race_ethnicity, 'unknown') AS race_ethnicity,
        CASE WHEN d.sex IS NULL OR d.race_ethnicity IS NULL THEN 'unknown'
             ELSE d.sex || '_x_' || d.race_ethnicity END AS sex_x_race_ethnicity
    FROM int_applications AS a
    LEFT JOIN int_candidate_demographics AS d ON d.candidate_id = a.candidate_id
),
decisions AS (
    SELECT l.application_id, l.role, l.stage AS step, rs.pipeline_order AS step_order, l.outcome = 'passed' AS selected
    FROM int_latest_stage_records AS l
    JOIN config_role_stages AS rs ON rs.role = l.role AND rs.stage = l.stage
    WHERE l.outcome IN ('passed', 'failed')
    UNION ALL
    SELECT application_id, role, 'overall', 0, final_status = 'hired'
    FROM int_applications
    WHERE final_status IN ('hired', 'rejected')
),
per_group AS (
    -- counted once per (sex, race_ethnicity) pair, then summed into the three dimensions below
    SELECT d.role, d.step, d.step_order, a.sex, a.race_ethnicity, a.sex_x_race_ethnicity,
        count(*) AS n, count(*) FILTER (WHERE d.selected) AS s
    FROM decisions AS d
    JOIN application_groups AS a ON a.application_id = d.application_id
    GROUP BY ALL
),
counts AS (
    SELECT p.role, p.step, p.step_order, g.dimension, g.dimension_order, g.group_name,
        sum(p.n)::BIGINT AS n, sum(p.s)::BIGINT AS s
    FROM per_group AS p
    CROSS JOIN LATERAL (
        VALUES ('sex', 1, p.sex), ('race_ethnicity', 2, p.race_ethnicity), ('sex_x_race_ethnicity', 3, p.sex_x_race_ethnicity)
    ) AS g(dimension, dimension_order, group_name)
    GROUP BY ALL
),
small AS (
    SELECT c.*, c.n < cfg.fairness_min_group_size AS too_small, cfg.fairness_min_group_share AS min_share
    FROM counts AS c CROSS JOIN config_settings AS cfg
),
suppression AS (
    -- A lone suppressed group could be recovered by subtracting the others off a total: the next smallest
    -- group (unknown included) is suppressed with it.
    SELECT *,
        too_small OR (
            count(*) FILTER (WHERE too_small) OVER cell = 1
            AND NOT too_small
            AND row_number() OVER (PARTITION BY role, step, dimension, too_small ORDER BY n, group_name) = 1
        ) AS suppressed,
        sum(n) FILTER (WHERE group_name <> 'unknown') OVER cell AS known_applicants
    FROM small
    WINDOW cell AS (PARTITION BY role, step, dimension)
),
eligibility AS (
    SELECT *,
        CASE WHEN group_name <> 'unknown' AND NOT suppressed THEN n < min_share * known_applicants END AS below_min_share
    FROM suppression
),
ranked AS (
    SELECT *,
        group_name <> 'unknown' AND NOT suppressed AND NOT below_min_share AS compared,
        row_number() OVER (
            PARTITION BY role, step, dimension
            ORDER BY (group_name <> 'unknown' AND NOT suppressed AND NOT below_min_share) DESC,
                s::DOUBLE / n DESC, n DESC, group_name
        ) AS rate_rank
    FROM eligibility
),
reference AS (
    SELECT role, step, dimension, group_name AS reference_group, s AS s_ref, n AS n_ref
    FROM ranked
    WHERE compared AND rate_rank = 1
),
against_reference AS (
    -- each compared group against its reference (the reference against itself is left out)
    SELECT r.role, r.step, r.dimension, r.group_name,
        (r.s::HUGEINT * ref.n_ref) / (r.n::HUGEINT * ref.s_ref) AS impact_ratio,
        below_four_fifths(r.s, r.n, ref.s_ref, ref.n_ref) AS four_fifths_flag,
        two_proportion_z(r.s, r.n, ref.s_ref, ref.n_ref) AS z,
        fisher_exact_p(r.s, r.n, ref.s_ref, ref.n_ref) AS p_value,
        selection_shortfall(r.s, r.n, ref.s_ref, ref.n_ref) AS shortfall,
        flip_flop(r.s, r.n, ref.s_ref, ref.n_ref) AS flip_flop
    FROM ranked AS r
    JOIN reference AS ref ON ref.role = r.role AND ref.step = r.step AND ref.dimension = r.dimension
    WHERE r.compared AND r.group_name <> ref.reference_group
)
SELECT
    r.role,
    r.step,
    r.step_order,
    r.dimension,
    r.group_name,
    CASE WHEN NOT r.suppressed THEN r.n END AS applicants,
    CASE WHEN NOT r.suppressed THEN r.s END AS selected,
    CASE WHEN NOT r.suppressed AND r.group_name <> 'unknown' THEN r.s::DOUBLE / r.n END AS selection_rate,
    ref.reference_group,
    coalesce(r.group_name = ref.reference_group, false) AS is_reference,
    -- one division of integer products: 3 of 20 against 16 of 80 is exactly 0.75
    CASE WHEN r.group_name = ref.reference_group THEN 1.0 WHEN ref.s_ref > 0 THEN c.impact_ratio END AS impact_ratio,
    CASE WHEN r.group_name = ref.reference_group THEN false ELSE c.four_fifths_flag END AS four_fifths_flag,
    c.z,
    c.p_value,
    CASE WHEN r.group_name = ref.reference_group THEN false ELSE c.p_value < 0.05 END AS significant,
    c.shortfall,
    CASE WHEN r.group_name = ref.reference_group THEN false ELSE c.flip_flop END AS flip_flop,
    r.suppressed,
    r.below_min_share
FROM ranked AS r
LEFT JOIN reference AS ref ON ref.role = r.role AND ref.step = r.step AND ref.dimension = r.dimension
LEFT JOIN against_reference AS c
    ON c.role = r.role AND c.step = r.step AND c.dimension = r.dimension AND c.group_name = r.group_name
ORDER BY r.role, r.step_order, r.dimension_order, r.group_name = 'unknown', r.group_name
