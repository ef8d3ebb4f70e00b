"""Adverse impact statistics: one group's selections against the reference group's.

The Uniform Guidelines (29 CFR 1607.4) judge a step of a selection process by the four-fifths rule;
the OFCCP adds significance tests. Each statistic is a DuckDB macro (the adverse_impact mart computes
them in SQL over its group counts), except Fisher's exact test, which is scipy's, registered as a
Python function on the connection. Arguments are always (selected, applicants) of the group, then of
the reference group: s_g, n_g, s_ref, n_ref.
"""

from __future__ import annotations

import duckdb

FISHER_FUNCTION = "fisher_exact_p"


def fisher_exact_p(selected: int, applicants: int, ref_selected: int, ref_applicants: int) -> float:
    """Two-sided p-value of Fisher's exact test on the 2x2 table (selected, not selected) x (group,
    reference), scipy's convention: the sum of the probabilities of every table with the same margins
    that is no more likely than the observed one."""
    from scipy.stats import fisher_exact  # ~0.3 s to import: only when a mart needs it

    table = [[selected, applicants - selected], [ref_selected, ref_applicants - ref_selected]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)


def sql_macros() -> list[str]:
    return [
        # Below four-fifths of the reference's rate, compared exactly in integers: s_g/n_g < 4/5 * s_ref/n_ref.
        # (3 of 5 against 3 of 4 is exactly 4/5 and is not flagged, though 0.6 / 0.75 < 0.8 in floating point.)
        "CREATE OR REPLACE MACRO below_four_fifths(s_g, n_g, s_ref, n_ref) AS "
        "5 * s_g::HUGEINT * n_ref::HUGEINT < 4 * s_ref::HUGEINT * n_g::HUGEINT",
        # The pooled two-proportion z statistic, positive when the reference's rate is higher; NULL when
        # the pooled rate is 0 or 1 (no variance).
        "CREATE OR REPLACE MACRO two_proportion_z(s_g, n_g, s_ref, n_ref) AS "
        "CASE WHEN s_g + s_ref > 0 AND s_g + s_ref < n_g + n_ref THEN "
        "(s_ref::DOUBLE / n_ref - s_g::DOUBLE / n_g) / sqrt("
        "((s_g + s_ref)::DOUBLE / (n_g + n_ref)) * (1.0 - (s_g + s_ref)::DOUBLE / (n_g + n_ref)) * (1.0 / n_g + 1.0 / n_ref)) END",
        # Selections the group lacks against the two groups' pooled rate: n_g * S / N - s_g.
        "CREATE OR REPLACE MACRO selection_shortfall(s_g, n_g, s_ref, n_ref) AS "
        "n_g::DOUBLE * (s_g + s_ref) / (n_g + n_ref) - s_g",
        # The Guidelines' one-person rule: moving one selection from the reference to the group makes the
        # group's rate at least the reference's ((s_g + 1) / n_g >= (s_ref - 1) / n_ref, in integers).
        "CREATE OR REPLACE MACRO flip_flop(s_g, n_g, s_ref, n_ref) AS "
        "s_ref > 0 AND (s_g + 1)::HUGEINT * n_ref::HUGEINT >= (s_ref - 1)::HUGEINT * n_g::HUGEINT",
    ]


def create_functions(conn: duckdb.DuckDBPyConnection) -> None:
    """The macros and fisher_exact_p on this connection. Python functions live with the connection,
    never in the database file: nothing of them reaches the published database."""
    for statement in sql_macros():
        conn.execute(statement)
    try:
        conn.create_function(FISHER_FUNCTION, fisher_exact_p, ["BIGINT"] * 4, "DOUBLE")
    except duckdb.NotImplementedException as exc:
        if "already created" not in str(exc):
            raise
