"""The Great Expectations suites: they pass on good data, name the right expectation with the right
counts and example rows on bad data, and tell a broken expectation (it raised) from bad data.

One generated warehouse per module; tests that change data work on a copy of its file.
GX is imported once per session (it takes seconds).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from funnel.models import PUBLISHED_MARTS
from funnel.ingest import RECORD_TABLES
from funnel.quality.gx_engine import validate_frame
from funnel.quality.rules import (
    MART_SPECS,
    RECORD_SPECS,
    SCHEMA_RULE,
    ConfigValues,
    DeclaredSchema,
    Rule,
    rules_for,
    split_by_schema,
)
from funnel.quality.validation import validate_mart, validate_records, validate_table
from funnel.settings import FunnelError
from funnel_tests.conftest import generated_warehouse, private_copy

BATCH = "run-good"
ENGINES = ("great_expectations", "duckdb")


@pytest.fixture(scope="module")
def warehouse_file(tmp_path_factory) -> Path:
    return generated_warehouse(tmp_path_factory.mktemp("gx"), 150, 5, BATCH)


@pytest.fixture
def conn(warehouse_file: Path, tmp_path: Path):
    """A private copy of the good warehouse, to break on purpose."""
    with private_copy(warehouse_file, tmp_path) as connection:
        yield connection


def test_a_suite_is_defined_for_every_published_mart_and_both_record_tables():
    assert set(MART_SPECS) == set(PUBLISHED_MARTS)
    assert set(RECORD_SPECS) == set(RECORD_TABLES.values())
    config = ConfigValues(roles=("r",), stages=("s",), skills=("k",))
    descriptions = [r.description for r in rules_for(MART_SPECS["stage_pass_rates"], config)]
    assert len(descriptions) == len(set(descriptions))
    for expected in ("pass_rate is in [0, 1]", "pass_rate_low <= pass_rate", "pass_rate <= pass_rate_high",
                     "entered >= 0", "one row per (role, stage)", "entered = passed + failed + withdrew + in_progress",
                     "role is one of r (from the configuration's roles)"):
        assert expected in descriptions


def test_suites_pass_on_good_data(conn):
    # (every mart's suite passing on good data is also asserted end to end in test_quality_checks)
    config = ConfigValues.from_db(conn)
    for mart in ("stage_pass_rates", "application_journeys", "loop_skill_coverage"):
        result = validate_mart(conn, mart, config)
        assert result.success, (mart, result.summary)
        assert not result.broken and not result.failed
        assert result.rows == conn.execute(f"SELECT count(*) FROM {mart}").fetchone()[0] > 0
        # every rule of the suite is evaluated: those the table's schema guarantees (its column types) as
        # the one schema outcome, each of the others as an outcome of its own
        rules = rules_for(MART_SPECS[mart], config)
        covered, evaluated = split_by_schema(rules, DeclaredSchema.of(conn, mart))
        assert covered and len(covered) + len(evaluated) == len(rules)
        assert [o.description for o in result.outcomes] == [SCHEMA_RULE, *(r.description for r in evaluated)]
    for table in RECORD_TABLES.values():
        result = validate_records(conn, table, BATCH, config)
        assert result.success, (table, result.summary)
        assert result.rows == conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_rates_and_a_broken_sum_are_reported_with_counts_and_example_rows(conn, engine):
    # three rows broken three ways: a rate of 1.2, low above the rate, entered != the sum of outcomes
    rows = conn.execute(
        "SELECT role, stage FROM stage_pass_rates WHERE pass_rate BETWEEN 0.05 AND 0.9 ORDER BY role, stage LIMIT 3"
    ).fetchall()
    (r1, s1), (r2, s2), (r3, s3) = rows
    conn.execute("UPDATE stage_pass_rates SET pass_rate = 1.2 WHERE role = ? AND stage = ?", [r1, s1])
    conn.execute("UPDATE stage_pass_rates SET pass_rate_low = pass_rate + 0.01 WHERE role = ? AND stage = ?", [r2, s2])
    conn.execute("UPDATE stage_pass_rates SET entered = entered + 3 WHERE role = ? AND stage = ?", [r3, s3])
    result = validate_mart(conn, "stage_pass_rates", engine=engine)
    assert result.engine == engine
    assert not result.success and not result.broken
    failed = {o.description: o for o in result.failed}
    assert set(failed) == {
        "pass_rate is in [0, 1]",
        "pass_rate <= pass_rate_high",  # 1.2 is also above its interval
        "pass_rate_low <= pass_rate",
        "entered = passed + failed + withdrew + in_progress",
    }
    assert all(o.unexpected_count == 1 for o in failed.values())
    rate = failed["pass_rate is in [0, 1]"]
    assert rate.partial_unexpected == (1.2,)
    assert rate.example_rows == ({"role": r1, "stage": s1, "pass_rate": 1.2},)
    low = failed["pass_rate_low <= pass_rate"].example_rows[0]
    assert (low["role"], low["stage"]) == (r2, s2) and low["pass_rate_low"] > low["pass_rate"]
    total = failed["entered = passed + failed + withdrew + in_progress"].example_rows[0]
    assert (total["role"], total["stage"]) == (r3, s3)
    assert total["entered"] == total["passed"] + total["failed"] + total["withdrew"] + total["in_progress"] + 3
    assert result.unexpected_rows == 4
    assert result.summary.startswith("4 of ")
    assert {row["rule"] for row in result.examples(10)} == set(failed)


@pytest.mark.parametrize("engine", ENGINES)
def test_records_suite_reads_only_the_batch_and_catches_values_outside_the_contract(conn, engine):
    conn.execute(
        """
        INSERT INTO stage_outcome_records
        SELECT record_id || '-new', application_id, candidate_id, role, stage, outcome, occurred_at, team, source,
               level, requires_travel, content_hash, source_file, source_line, 'run-bad', ingested_at
        FROM stage_outcome_records ORDER BY record_id LIMIT 5
        """
    )
    conn.execute("UPDATE stage_outcome_records SET outcome = 'pased' WHERE record_id = (SELECT min(record_id) FROM stage_outcome_records WHERE batch_id = 'run-bad')")
    conn.execute("UPDATE stage_outcome_records SET role = 'astronaut' WHERE record_id = (SELECT max(record_id) FROM stage_outcome_records WHERE batch_id = 'run-bad')")
    bad = validate_records(conn, "stage_outcome_records", "run-bad", engine=engine)
    assert bad.rows == 5
    assert {o.description for o in bad.failed} == {
        "outcome is one of in_progress, passed, failed, withdrew, skipped",
        "role is one of data_scientist, ml_engineer, research_scientist, software_engineer "
        "(from the configuration's roles)",
    }
    outcome = next(o for o in bad.failed if o.description.startswith("outcome"))
    assert outcome.unexpected_count == 1 and outcome.partial_unexpected == ("pased",)
    assert outcome.example_rows[0]["outcome"] == "pased" and outcome.example_rows[0]["record_id"].endswith("-new")
    # the good batch is not re-read and still passes
    good = validate_records(conn, "stage_outcome_records", BATCH, engine=engine)
    assert good.success and good.rows > 5


def test_an_expectation_that_raises_is_broken_not_bad_data(conn):
    frame = pd.DataFrame({"rate": [0.5, 0.25]})
    rules = [
        Rule("ExpectColumnValuesToBeBetween", {"column": "rate", "min_value": 0, "max_value": 1}, "rate in [0, 1]",
             ("rate",)),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "no_such_column"}, "no_such_column is never NULL",
             ("no_such_column",)),
        Rule("ExpectColumnValuesToBeBetween", {"column": "rate"}, "between without bounds", ("rate",)),
    ]
    result = validate_frame("broken_suite", frame, rules)
    assert not result.success
    assert result.failed == []  # nothing is blamed on the data
    assert result.outcome("rate in [0, 1]").success
    missing = result.outcome("no_such_column is never NULL")
    assert missing.broken and "no_such_column" in missing.exception
    assert result.outcome("between without bounds").broken
    assert result.summary.startswith("BROKEN CHECK: 2 expectation(s) raised")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_spec_naming_a_missing_column_or_sql_that_does_not_bind_is_broken(conn, engine):
    spec = MART_SPECS["travel_vetting"]
    broken_spec = type(spec)(key=spec.key, counts=("applications", "not_a_column"),
                             invariants={"nonsense": "no_column_here > 1"})
    table = validate_table(conn, "travel_vetting", broken_spec, ConfigValues.from_db(conn), engine=engine)
    # the type of a missing column is judged with the schema: that outcome is broken, naming the rule and column
    assert {o.description for o in table.broken} == {"not_a_column is never NULL", SCHEMA_RULE,
                                                       "not_a_column >= 0", "nonsense"}
    assert "not_a_column" in table.outcome("not_a_column >= 0").exception
    schema = table.outcome(SCHEMA_RULE)
    assert schema.exception.startswith('not_a_column is of type int: ValueError: column "not_a_column"')
    assert "does not run" in table.outcome("nonsense").exception
    assert table.outcome("applications >= 0").success and table.failed == []


def test_both_engines_report_the_same_outcomes_on_broken_data(conn, monkeypatch):
    # duplicated keys, NULLs, values outside their sets and ranges, a broken invariant, in two tables
    conn.execute("UPDATE application_journeys SET final_status = 'ghosted' WHERE application_key IN "
                 "(SELECT application_key FROM application_journeys ORDER BY application_key LIMIT 3)")
    conn.execute("UPDATE application_journeys SET records = 0, role = NULL WHERE application_key = "
                 "(SELECT max(application_key) FROM application_journeys)")
    conn.execute("INSERT INTO application_journeys SELECT * FROM application_journeys ORDER BY application_key LIMIT 2")
    conn.execute("UPDATE application_journeys SET stages_entered_count = stages_entered_count + 1 WHERE "
                 "application_key = (SELECT min(application_key) FROM application_journeys WHERE stages_entered_count > 0)")
    conn.execute("UPDATE stage_pass_rates SET pass_rate_high = pass_rate - 0.5, skip_rate = -0.25 "
                 "WHERE pass_rate > 0.5")
    conn.execute("INSERT INTO stage_pass_rates SELECT * FROM stage_pass_rates LIMIT 1")
    config = ConfigValues.from_db(conn)
    for mart in ("application_journeys", "stage_pass_rates"):
        by_engine = {engine: validate_mart(conn, mart, config, engine=engine) for engine in ENGINES}
        gx, sql = by_engine["great_expectations"], by_engine["duckdb"]
        assert gx.rows == sql.rows
        assert [o.description for o in gx.outcomes] == [o.description for o in sql.outcomes]
        failed = {o.description for o in gx.failed}
        assert failed == {o.description for o in sql.failed} and len(failed) >= 3, mart
        for g, d in zip(gx.outcomes, sql.outcomes):
            assert g.success == d.success, g.description
            if not g.success:
                assert g.unexpected_count == d.unexpected_count, g.description
                assert sorted(map(str, g.partial_unexpected)) == sorted(map(str, d.partial_unexpected)), g.description
                assert len(d.example_rows) == min(d.unexpected_count, 20), g.description
    # left to choose, the engine follows FUNNEL_GX_MAX_ROWS
    monkeypatch.setenv("FUNNEL_GX_MAX_ROWS", "10")
    assert validate_mart(conn, "application_journeys", config).engine == "duckdb"
    assert validate_mart(conn, "travel_vetting", config).engine == "great_expectations"
    monkeypatch.setenv("FUNNEL_GX_MAX_ROWS", "many")
    with pytest.raises(FunnelError, match="FUNNEL_GX_MAX_ROWS: 'many' is not a whole number"):
        validate_mart(conn, "travel_vetting", config)


def test_both_engines_judge_column_types_alike(conn):
    # an unCAST sum() is a HUGEINT, a float64 in pandas: not a count for either engine
    conn.execute("ALTER TABLE travel_vetting ALTER applications TYPE HUGEINT")
    conn.execute("ALTER TABLE travel_vetting ALTER reached_onsite_rate TYPE DECIMAL(9, 6)")
    config = ConfigValues.from_db(conn)
    by_engine = {engine: validate_mart(conn, "travel_vetting", config, engine=engine) for engine in ENGINES}
    for result in by_engine.values():
        # one schema outcome judges every column type: it fails naming applications, and only it
        # (reached_onsite_rate, a DECIMAL, is a float)
        assert {o.description for o in result.failed} == {SCHEMA_RULE}
        types = result.outcome(SCHEMA_RULE)
        assert types.partial_unexpected == ("applications is HUGEINT, not int",)
        assert types.observed_value["column types"]["reached_onsite_rate"] == "DECIMAL(9,6)"
        assert result.summary.endswith(f"{SCHEMA_RULE}: applications is HUGEINT, not int")


def test_rules_the_ddl_enforces_are_left_to_the_schema_and_evaluated_again_without_it(conn):
    # the records tables declare their required columns NOT NULL: no expectation re-checks them
    result = validate_records(conn, "stage_outcome_records", BATCH)
    descriptions = [o.description for o in result.outcomes]
    assert "candidate_id is never NULL" not in descriptions and "occurred_at is of type timestamp" not in descriptions
    schema = result.outcome(SCHEMA_RULE)
    assert schema.success and "candidate_id is never NULL" in schema.observed_value["enforced by the DDL"]
    assert schema.observed_value["column types"]["occurred_at"] == "TIMESTAMP"
    assert "record_id is unique" in descriptions  # no key constraint (see funnel.warehouse): evaluated on the rows
    # a column the DDL no longer holds NOT NULL is evaluated again, and its NULL caught by either engine
    conn.execute("ALTER TABLE stage_outcome_records ALTER candidate_id DROP NOT NULL")
    conn.execute("UPDATE stage_outcome_records SET candidate_id = NULL WHERE record_id = "
                 "(SELECT min(record_id) FROM stage_outcome_records)")
    for engine in ENGINES:
        bad = validate_records(conn, "stage_outcome_records", BATCH, engine=engine)
        assert {o.description for o in bad.failed} == {"candidate_id is never NULL"}, engine
        assert bad.outcome("candidate_id is never NULL").unexpected_count == 1
        assert "candidate_id is never NULL" not in bad.outcome(SCHEMA_RULE).observed_value["enforced by the DDL"]


def unique(*columns: str) -> Rule:
    if len(columns) == 1:
        return Rule("ExpectColumnValuesToBeUnique", {"column": columns[0]}, f"{columns[0]} is unique", columns)
    return Rule("ExpectCompoundColumnsToBeUnique", {"column_list": list(columns)}, "one row per key", columns)


def not_null(column: str) -> Rule:
    return Rule("ExpectColumnValuesToNotBeNull", {"column": column}, f"{column} is never NULL", (column,))


def test_a_declared_key_guarantees_the_key_rules(conn):
    conn.execute("CREATE TABLE keyed_travel AS SELECT * FROM travel_vetting WITH NO DATA")
    conn.execute("ALTER TABLE keyed_travel ADD PRIMARY KEY (role, requires_travel)")
    conn.execute("INSERT INTO keyed_travel SELECT * FROM travel_vetting")
    result = validate_table(conn, "keyed_travel", MART_SPECS["travel_vetting"], ConfigValues.from_db(conn))
    assert result.success, result.summary
    enforced = result.outcome(SCHEMA_RULE).observed_value["enforced by the DDL"]
    assert enforced == ["role is never NULL", "requires_travel is never NULL", "one row per (role, requires_travel)"]
    assert not set(enforced) & {o.description for o in result.outcomes}
    # what each kind of constraint guarantees: a UNIQUE column may hold NULLs, which GX compares in a compound key
    conn.execute("CREATE TABLE t (a VARCHAR UNIQUE, b VARCHAR NOT NULL, c VARCHAR, UNIQUE (b, c))")
    schema = DeclaredSchema.of(conn, "t")
    assert schema.guarantees(unique("a")) and schema.guarantees(not_null("b"))
    assert not schema.guarantees(not_null("a")) and not schema.guarantees(unique("b"))
    assert not schema.guarantees(unique("a", "b"))  # b is never NULL, a may be: (NULL, x) twice is allowed
    assert not schema.guarantees(unique("b", "c"))  # c may be NULL
    assert not schema.guarantees(not_null("no_such_column"))


def test_one_gx_context_serves_every_validation_and_keeps_nothing(conn):
    from funnel.quality import gx_engine

    config = ConfigValues.from_db(conn)
    validate_mart(conn, "travel_vetting", config, engine="great_expectations")
    with gx_engine.gx_runtime() as first:
        pass
    validate_mart(conn, "stage_pass_rates", config, engine="great_expectations")
    with gx_engine.gx_runtime() as second:
        pass
    assert first is second
    # nothing registered per validation, no analytics, no progress bars
    assert first.context.suites.all() == [] and first.context.validation_definitions.all() == []
    assert first.context.variables.config.analytics_enabled is False
    assert first.context.variables.progress_bars.globally is False


SHARED_CONTEXT = """
import sys, threading
import pandas as pd
from funnel.quality import gx_engine
from funnel.quality.rules import Rule
assert "great_expectations" not in sys.modules
builds = []
build = gx_engine._build
gx_engine._build = lambda: builds.append(threading.current_thread().name) or build()
rule = Rule("ExpectColumnValuesToBeBetween", {"column": "rate", "min_value": 0, "max_value": 1}, "rate in [0, 1]",
            ("rate",))
results = []
validate = lambda: results.append(gx_engine.validate_frame("s", pd.DataFrame({"rate": [0.5, 1.5]}), [rule]))
workers = [threading.Thread(target=validate) for _ in range(3)]
for worker in workers:
    worker.start()
validate()
for worker in workers:
    worker.join()
print(len(builds), sorted(r.outcome("rate in [0, 1]").unexpected_count for r in results))
"""


def test_one_context_is_built_once_and_validations_from_several_threads_take_turns():
    # a fresh process: this one has imported GX already
    out = subprocess.run([sys.executable, "-c", SHARED_CONTEXT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "[1,", "1,", "1,", "1]"]
