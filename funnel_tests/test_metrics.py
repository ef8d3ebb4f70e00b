"""The Wilson interval in Python and as DuckDB macros, against published values."""

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funnel.metrics import Z_95, create_sql_macros, ratio, wilson_interval

approx = pytest.approx


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (8, 10, 0.4902, 0.9433),
        (2, 3, 0.2077, 0.9385),
        (1, 2, 0.0945, 0.9055),
        (50, 100, 0.4038, 0.5962),
        (1, 1, 0.2065, 1.0),
        # 0 of 10: the upper bound is z^2 / (n + z^2) = 3.8415 / 13.8415
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_known_values(successes, n, low, high):
    got = wilson_interval(successes, n)
    assert got == (approx(low, abs=1e-4), approx(high, abs=1e-4))


def test_wilson_undefined_without_trials():
    assert wilson_interval(0, 0) is None


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_z_is_the_two_sided_95_percent_quantile():
    assert Z_95 == approx(1.96, abs=1e-3)


def test_ratio():
    assert ratio(1, 4) == 0.25
    assert ratio(3, 0) is None


@pytest.fixture(scope="module")
def macro_conn():
    conn = duckdb.connect()
    create_sql_macros(conn)
    yield conn
    conn.close()


def _sql(conn, x, n):
    return conn.execute("SELECT wilson_low(?, ?), wilson_high(?, ?)", [x, n, x, n]).fetchall()[0]


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_sql_macro_agrees_with_python(macro_conn, pair):
    x, n = pair
    expected = wilson_interval(x, n)
    low, high = _sql(macro_conn, x, n)
    if expected is None:
        assert (low, high) == (None, None)
    else:
        assert low == approx(expected[0], abs=1e-12)
        assert high == approx(expected[1], abs=1e-12)
        assert 0.0 <= low <= x / n <= high <= 1.0


def test_sql_macro_known_value_and_nulls(macro_conn):
    low, high = _sql(macro_conn, 8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert _sql(macro_conn, 0, 0) == (None, None)
    assert macro_conn.execute("SELECT ratio_or_null(1, 0), ratio_or_null(1, 4)").fetchall()[0] == (None, 0.25)
    assert macro_conn.execute(
        "SELECT days_between(TIMESTAMP '2024-03-01 09:00', TIMESTAMP '2024-03-02 21:00')"
    ).fetchall()[0][0] == 1.5
