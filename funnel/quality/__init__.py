"""Data quality: Great Expectations suites (row-level rules), set-based SQL checks in DuckDB, and
HTML result pages under FUNNEL_HOME/quality/. The Dagster asset checks live in funnel.assets.checks.

    funnel.quality.rules          the suites as data (TableSpec, rules_for) and their results (SuiteResult)
    funnel.quality.validation     validate_mart / validate_records / validate_table
    funnel.quality.gx_engine      Great Expectations on a pandas frame, one context per process
    funnel.quality.duckdb_engine  the same rules as SQL in DuckDB, for tables too large for pandas
    funnel.quality.sql_checks     set-based checks: keys, configuration, reconciliations, quarantine share
    funnel.quality.report         the HTML pages

Nothing here imports great_expectations at module import: it costs seconds, and the Dagster code
location must load fast. funnel.quality.gx_engine imports it on first use.
"""
