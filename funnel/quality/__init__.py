"""Data quality: Great Expectations suites (row-level rules), set-based SQL checks in DuckDB, and
HTML result pages under FUNNEL_HOME/quality/. The Dagster asset checks live in funnel.assets.checks.

Nothing here imports great_expectations at module import: it costs seconds, and the Dagster code
location must load fast. funnel.quality.expectations imports it inside the functions that validate.
"""
