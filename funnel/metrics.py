"""Small, pure metric helpers shared by Python and SQL.

The Wilson score interval is defined once here and emitted as DuckDB macros
(`wilson_low`, `wilson_high`) from the same constants and the same order of
floating-point operations, so SQL and Python give the same numbers.
"""

from __future__ import annotations

import math

import duckdb

from funnel import fairness, keys

# Two-sided 95%: the 0.975 quantile of the standard normal distribution.
Z_95 = 1.959963984540054

DECISIONS = ("passed", "failed", "withdrew")
# Tie rule for records of one application and stage with the same occurred_at:
# a decision beats skipped, which beats in_progress (higher rank wins).
OUTCOME_RANK = {"passed": 3, "failed": 3, "withdrew": 3, "skipped": 2, "in_progress": 1}

MICROSECONDS_PER_DAY = 86_400_000_000


def ratio(numerator: int | float, denominator: int | float) -> float | None:
    """numerator / denominator, or None when the denominator is 0."""
    return None if not denominator else numerator / denominator


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval (low, high) for `successes` out of `n`; None when n is 0.

    Always 0 <= low <= successes/n <= high <= 1 (clamped against floating-point error).
    """
    if n is None or n == 0:
        return None
    if successes < 0 or successes > n:
        raise ValueError(f"successes must be between 0 and n, got {successes} of {n}")
    n = float(n)
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    center = p + z2 / (2.0 * n)
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = min(p, max(0.0, (center - half) / denominator))
    high = max(p, min(1.0, (center + half) / denominator))
    return low, high


def _sql_wilson(sign: str, z: float) -> str:
    z2 = z * z
    # Same operation order as wilson_interval: ((p + z2/(2n)) -/+ z*sqrt(...)) / (1 + z2/n).
    p = "(x::DOUBLE / n::DOUBLE)"
    nd = "n::DOUBLE"
    numerator = f"(({p} + {z2!r} / (2.0 * {nd})) {sign} {z!r} * sqrt({p} * (1.0 - {p}) / {nd} + {z2!r} / (4.0 * {nd} * {nd})))"
    bound = f"({numerator} / (1.0 + {z2!r} / {nd}))"
    if sign == "-":
        value = f"least({p}, greatest(0.0, {bound}))"
    else:
        value = f"greatest({p}, least(1.0, {bound}))"
    return f"CASE WHEN n IS NULL OR n = 0 OR x IS NULL THEN NULL ELSE {value} END"


def sql_macros(z: float = Z_95) -> list[str]:
    """DuckDB macros the SQL models use."""
    return [
        f"CREATE OR REPLACE MACRO wilson_low(x, n) AS {_sql_wilson('-', z)}",
        f"CREATE OR REPLACE MACRO wilson_high(x, n) AS {_sql_wilson('+', z)}",
        # DuckDB returns inf for x/0: the models want NULL.
        "CREATE OR REPLACE MACRO ratio_or_null(a, b) AS CASE WHEN b IS NULL OR b = 0 THEN NULL ELSE a::DOUBLE / b::DOUBLE END",
        f"CREATE OR REPLACE MACRO days_between(a, b) AS (epoch_us(b) - epoch_us(a))::DOUBLE / {MICROSECONDS_PER_DAY}.0",
        # keyed_hash(value), published_interviewer_id(id, pseudonymize): HMAC-SHA256 under the
        # key funnel.keys.install_key gives the connection (the secret itself is in no macro).
        *keys.sql_macros(),
    ]


def create_sql_macros(conn: duckdb.DuckDBPyConnection) -> None:
    for statement in sql_macros():
        conn.execute(statement)
    fairness.create_functions(conn)
