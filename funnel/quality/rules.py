"""The rules of the Great Expectations suites, as data, and the results both engines report.

`TABLE_SPECS` holds, per table, its key, column types, counts, rates, ordered columns, accepted
values and row invariants; `rules_for()` turns a spec into a list of `Rule`s (one expectation
each). `ExpectationOutcome` / `SuiteResult` are what a validation reports, whichever engine ran it
(funnel.quality.gx_engine: GX 1.x on a pandas frame; funnel.quality.duckdb_engine: the same rules
as SQL). funnel.quality.validation picks the engine and is the entry point.

Rules the table's declared schema already guarantees (a column's type; NOT NULL, a primary key or
a unique key the DDL enforces) cannot fail: `split_by_schema()` takes them out of the suite and
`schema_outcome()` reports them as one outcome, read from DuckDB's catalog, so a column of the
wrong type still fails the suite, with the column named.

Nothing here imports great_expectations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import duckdb

from funnel.contract import DEMOGRAPHIC_CATEGORIES, FEEDS, OUTCOMES, RECOMMENDATIONS
from funnel.warehouse import table_columns

EXAMPLE_ROWS = 20
PARTIAL_UNEXPECTED = 20

# pandas dtypes (as GX names them) that each column type of the specs may have after DuckDB's .df().
TYPE_LISTS: dict[str, list[str]] = {
    "int": ["int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8",
            "Int64Dtype", "Int32Dtype", "Int16Dtype", "Int8Dtype"],
    "float": ["float64", "float32", "Float64Dtype", "Float32Dtype"],
    "bool": ["bool", "BooleanDtype"],
    "str": ["str"],  # string columns are handed to GX as object dtype: each value must be a str
    "timestamp": ["datetime64[us]", "datetime64[ns]", "datetime64[ms]", "datetime64[s]"],
    "date": ["datetime64[us]", "datetime64[ns]", "datetime64[ms]", "datetime64[s]"],
}

INVARIANT_PREFIX = "__invariant__"
_IDENT = re.compile(r'"((?:[^"]|"")+)"|\b([A-Za-z_][A-Za-z0-9_]*)\b')


# ---------------------------------------------------------------------------------------------
# Specs: the rules of each table, as data


@dataclass(frozen=True)
class TableSpec:
    """The row-level rules of one table.

    key: columns that identify a row (unique together, not null unless in `nullable`); shown in examples.
    types: column -> one of TYPE_LISTS.
    not_null: more columns that must never be NULL.
    nullable: columns of `key` that may be NULL.
    counts: whole numbers, not NULL, >= 0.  minimum: column -> smallest allowed value (overrides 0).
    rates: shares in [0, 1] (NULL allowed: no denominator).
    nonnegative: other numbers >= 0 (NULL allowed).
    ordered: tuples of columns whose values never decrease left to right (where both are not NULL).
    accepted: column -> allowed values, or the name of a config list ("roles", "stages", "skills").
    invariants: name -> SQL boolean over one row that must not be false (NULL operands pass).
    private: columns whose values a result never shows (demographics about a person): example rows
        leave them out, and the unexpected values of a rule on one of them are counted, not listed.
    """

    key: tuple[str, ...]
    types: Mapping[str, str] = field(default_factory=dict)
    not_null: tuple[str, ...] = ()
    nullable: tuple[str, ...] = ()
    counts: tuple[str, ...] = ()
    minimum: Mapping[str, int] = field(default_factory=dict)
    rates: tuple[str, ...] = ()
    nonnegative: tuple[str, ...] = ()
    ordered: tuple[tuple[str, ...], ...] = ()
    accepted: Mapping[str, tuple[Any, ...] | str] = field(default_factory=dict)
    invariants: Mapping[str, str] = field(default_factory=dict)
    private: tuple[str, ...] = ()


_STAGE_RATE_SPEC = dict(
    types={"role": "str", "stage": "str", "stage_order": "int", "pipeline_order": "int",
           "in_pipeline": "bool", "off_pipeline": "bool", "median_days_in_stage": "float",
           "p90_days_in_stage": "float"},
    not_null=("stage_order", "in_pipeline", "off_pipeline"),
    counts=("entered", "passed", "failed", "withdrew", "in_progress", "skipped", "skipped_explicit",
            "skipped_implied", "decided", "timed_decisions"),
    rates=("pass_rate", "pass_rate_low", "pass_rate_high", "pass_through_rate", "skip_rate"),
    nonnegative=("median_days_in_stage", "p90_days_in_stage"),
    ordered=(("pass_rate_low", "pass_rate", "pass_rate_high"), ("median_days_in_stage", "p90_days_in_stage")),
    accepted={"role": "roles", "stage": "stages"},
    invariants={
        "entered = passed + failed + withdrew + in_progress": "entered = passed + failed + withdrew + in_progress",
        "decided = passed + failed": "decided = passed + failed",
        "skipped = skipped_explicit + skipped_implied": "skipped = skipped_explicit + skipped_implied",
        "off_pipeline = NOT in_pipeline": "off_pipeline = NOT in_pipeline",
        "in_pipeline exactly when pipeline_order is set": "in_pipeline = (pipeline_order IS NOT NULL)",
        # every decided record is timed, corrections included: at least one per decided application
        "timed_decisions >= passed + failed + withdrew": "timed_decisions >= passed + failed + withdrew",
    },
)

_TEAM_MATCHING_SPEC = dict(
    types={"role": "str", "final_evaluation_stage": "str", "as_of": "timestamp",
           "team_matching_stall_days": "int", "median_days_to_match": "float"},
    not_null=("as_of", "team_matching_stall_days"),
    counts=("applications", "cleared", "matched", "unmatched", "withdrew", "in_matching", "stalled",
            "awaiting", "skipped", "offer_extended", "offer_accepted", "timed_matches"),
    minimum={"applications": 1, "team_matching_stall_days": 1},
    rates=("dropoff_rate",),
    accepted={"role": "roles", "final_evaluation_stage": "stages"},
    invariants={
        "cleared = matched + unmatched + withdrew + in_matching + skipped + awaiting":
            "cleared = matched + unmatched + withdrew + in_matching + skipped + awaiting",
        "cleared <= applications": "cleared <= applications",
        "stalled <= in_matching": "stalled <= in_matching",
        "offer_accepted <= offer_extended <= matched": "offer_accepted <= offer_extended AND offer_extended <= matched",
        "timed_matches <= matched": "timed_matches <= matched",
    },
)

_SOURCE_SPEC = dict(
    types={"role": "str", "source": "str", "stage": "str", "stage_order": "int", "pipeline_order": "int",
           "in_pipeline": "bool", "hire_stage": "str", "median_days_to_hire": "float"},
    not_null=("stage_order", "in_pipeline", "hire_stage"),
    counts=("entered", "passed", "failed", "withdrew", "in_progress", "skipped", "skipped_explicit",
            "skipped_implied", "decided", "applications", "reached_onsite", "onsite_passed", "onsite_failed",
            "offers_extended", "offers_accepted", "offers_declined", "offers_rescinded", "offers_pending", "hired"),
    minimum={"applications": 1},
    rates=("pass_rate", "pass_rate_low", "pass_rate_high", "pass_through_rate", "skip_rate",
           "onsite_pass_rate", "onsite_pass_rate_low", "onsite_pass_rate_high",
           "offer_acceptance_rate", "offer_acceptance_rate_low", "offer_acceptance_rate_high",
           "hire_rate", "hire_rate_low", "hire_rate_high"),
    nonnegative=("median_days_to_hire",),
    ordered=(("pass_rate_low", "pass_rate", "pass_rate_high"),
             ("onsite_pass_rate_low", "onsite_pass_rate", "onsite_pass_rate_high"),
             ("offer_acceptance_rate_low", "offer_acceptance_rate", "offer_acceptance_rate_high"),
             ("hire_rate_low", "hire_rate", "hire_rate_high")),
    accepted={"role": "roles", "stage": "stages", "hire_stage": "stages"},
    invariants={
        "entered = passed + failed + withdrew + in_progress": "entered = passed + failed + withdrew + in_progress",
        "decided = passed + failed": "decided = passed + failed",
        "skipped = skipped_explicit + skipped_implied": "skipped = skipped_explicit + skipped_implied",
        "in_pipeline exactly when pipeline_order is set": "in_pipeline = (pipeline_order IS NOT NULL)",
        "entered + skipped <= applications": "entered + skipped <= applications",
        "onsite_passed + onsite_failed <= reached_onsite <= applications":
            "onsite_passed + onsite_failed <= reached_onsite AND reached_onsite <= applications",
        "offers_extended = offers_accepted + offers_declined + offers_rescinded + offers_pending <= applications":
            "offers_extended = offers_accepted + offers_declined + offers_rescinded + offers_pending"
            " AND offers_extended <= applications",
        "hired <= applications": "hired <= applications",
        # a hire is the latest record overall, passed at hire_stage: at offer, that is an accepted offer
        "hired <= offers_accepted when hire_stage is offer": "hire_stage <> 'offer' OR hired <= offers_accepted",
        "hire_rate = hired / applications": "abs(hire_rate - hired / applications) < 1e-9",
        "median_days_to_hire set exactly when someone was hired": "(median_days_to_hire IS NULL) = (hired = 0)",
    },
)

MART_SPECS: dict[str, TableSpec] = {
    "stage_pass_rates": TableSpec(key=("role", "stage"), **_STAGE_RATE_SPEC),
    "stage_pass_rates_monthly": TableSpec(
        key=("role", "cohort_month", "stage"),
        **{**_STAGE_RATE_SPEC, "types": {**_STAGE_RATE_SPEC["types"], "cohort_month": "date"}},
    ),
    "skipped_stages": TableSpec(
        key=("role", "stage"),
        types={"role": "str", "stage": "str", "stage_order": "int", "pipeline_order": "int"},
        not_null=("stage_order", "pipeline_order"),
        counts=("applications", "entered", "skipped_explicit", "skipped_implied", "skipped",
                "skippers_entered_onsite", "skippers_onsite_passed", "skippers_onsite_failed", "skippers_hired",
                "enterers_entered_onsite", "enterers_onsite_passed", "enterers_onsite_failed", "enterers_hired",
                "fast_tracked", "fast_tracked_onsite_passed", "fast_tracked_onsite_failed",
                "not_fast_tracked_entered_onsite", "not_fast_tracked_onsite_passed",
                "not_fast_tracked_onsite_failed"),
        minimum={"applications": 1, "pipeline_order": 1},
        rates=("skip_rate", "skippers_onsite_pass_rate", "enterers_onsite_pass_rate",
               "fast_tracked_onsite_pass_rate", "not_fast_tracked_onsite_pass_rate"),
        accepted={"role": "roles", "stage": "stages"},
        invariants={
            "skipped = skipped_explicit + skipped_implied": "skipped = skipped_explicit + skipped_implied",
            "entered + skipped <= applications": "entered + skipped <= applications",
            "skippers_onsite_passed + skippers_onsite_failed <= skippers_entered_onsite <= skipped":
                "skippers_onsite_passed + skippers_onsite_failed <= skippers_entered_onsite"
                " AND skippers_entered_onsite <= skipped",
            "enterers_onsite_passed + enterers_onsite_failed <= enterers_entered_onsite <= entered":
                "enterers_onsite_passed + enterers_onsite_failed <= enterers_entered_onsite"
                " AND enterers_entered_onsite <= entered",
        },
    ),
    "application_journeys": TableSpec(
        key=("application_key",),
        types={"application_key": "str", "role": "str", "cohort_month": "date", "first_record_at": "timestamp",
               "last_record_at": "timestamp", "furthest_stage": "str", "furthest_stage_order": "int",
               "final_stage": "str", "final_outcome": "str", "final_status": "str",
               "has_off_pipeline": "bool", "moved_backward": "bool", "fast_tracked": "bool",
               "requires_travel": "bool"},
        not_null=("role", "cohort_month", "first_record_at", "last_record_at", "final_stage", "final_outcome",
                  "final_status", "has_off_pipeline", "moved_backward", "fast_tracked"),
        counts=("records", "stages_entered_count"),
        minimum={"records": 1},
        ordered=(("cohort_month", "first_record_at", "last_record_at"),),
        accepted={"role": "roles", "furthest_stage": "stages", "final_stage": "stages",
                  "final_outcome": OUTCOMES, "final_status": ("hired", "rejected", "withdrew", "in_progress")},
        invariants={
            "stages_entered_count = len(stages_entered)": "stages_entered_count = len(stages_entered)",
            "has_off_pipeline = (len(off_pipeline_stages) > 0)": "has_off_pipeline = (len(off_pipeline_stages) > 0)",
            "application_key is an HMAC-SHA256 (64 hex digits)": "regexp_full_match(application_key, '[0-9a-f]{64}')",
            "furthest_stage set exactly when a stage was entered":
                "(furthest_stage IS NULL) = (stages_entered_count = 0)",
        },
    ),
    "team_matching_dropoff": TableSpec(key=("role",), **_TEAM_MATCHING_SPEC),
    "team_matching_dropoff_monthly": TableSpec(
        key=("role", "cohort_month"),
        **{**_TEAM_MATCHING_SPEC, "types": {**_TEAM_MATCHING_SPEC["types"], "cohort_month": "date"}},
    ),
    "loop_skill_coverage": TableSpec(
        key=("application_key",),
        types={"application_key": "str", "role": "str", "cohort_month": "date", "first_interview_at": "timestamp",
               "last_interview_at": "timestamp", "fully_covered": "bool", "onsite_outcome": "str"},
        not_null=("first_interview_at", "last_interview_at"),
        counts=("interviews", "interviewers", "skills_covered_count", "skills_doubled_count"),
        minimum={"interviews": 1, "interviewers": 1, "skills_covered_count": 1},
        nonnegative=("skills_missing_count",),
        ordered=(("first_interview_at", "last_interview_at"),),
        accepted={"role": "roles", "onsite_outcome": OUTCOMES},
        invariants={
            "interviewers <= interviews": "interviewers <= interviews",
            "skills_covered_count <= interviews": "skills_covered_count <= interviews",
            "fully_covered = (skills_missing_count = 0)": "fully_covered = (skills_missing_count = 0)",
            "role known exactly when coverage is": "(role IS NULL) = (skills_missing_count IS NULL)",
        },
    ),
    "loop_skill_coverage_summary": TableSpec(
        key=("role",),
        nullable=("role",),  # loops of applications with no stage-outcome record
        types={"role": "str", "most_often_missing_skill": "str", "mean_interviewers": "float"},
        counts=("loops", "fully_covered", "loops_with_doubled_skill", "most_often_missing_loops"),
        minimum={"loops": 1},
        rates=("fully_covered_rate",),
        nonnegative=("mean_interviewers",),
        accepted={"role": "roles", "most_often_missing_skill": "skills"},
        invariants={
            "fully_covered <= loops": "fully_covered <= loops",
            "loops_with_doubled_skill <= loops": "loops_with_doubled_skill <= loops",
            "most_often_missing_loops <= loops": "most_often_missing_loops <= loops",
        },
    ),
    "interviewer_calibration": TableSpec(
        key=("interviewer_id",),
        types={"interviewer_id": "str"},
        counts=("interviews", "applications", "strong_yes", "yes", "no", "strong_no", "no_decision",
                "compared", "agreed"),
        minimum={"interviews": 1, "applications": 1},
        rates=("yes_share", "agreement_rate", "agreement_rate_low", "agreement_rate_high"),
        ordered=(("agreement_rate_low", "agreement_rate", "agreement_rate_high"),),
        invariants={
            "interviews = strong_yes + yes + no + strong_no + no_decision":
                'interviews = strong_yes + yes + "no" + strong_no + no_decision',
            "agreed <= compared <= interviews": "agreed <= compared AND compared <= interviews",
            "applications <= interviews": "applications <= interviews",
        },
    ),
    "travel_vetting": TableSpec(
        key=("role", "requires_travel"),
        types={"role": "str", "requires_travel": "str", "mean_stages_before_onsite": "float"},
        counts=("applications", "reached_onsite", "onsite_passed", "onsite_failed"),
        minimum={"applications": 1},
        rates=("reached_onsite_rate", "onsite_pass_rate", "onsite_pass_rate_low", "onsite_pass_rate_high"),
        nonnegative=("mean_stages_before_onsite",),
        ordered=(("onsite_pass_rate_low", "onsite_pass_rate", "onsite_pass_rate_high"),),
        accepted={"role": "roles", "requires_travel": ("true", "false", "unknown")},
        invariants={
            "onsite_passed + onsite_failed <= reached_onsite <= applications":
                "onsite_passed + onsite_failed <= reached_onsite AND reached_onsite <= applications",
        },
    ),
    "source_effectiveness": TableSpec(key=("role", "source", "stage"), **_SOURCE_SPEC),
    "source_effectiveness_monthly": TableSpec(
        key=("role", "source", "cohort_month", "stage"),
        **{**_SOURCE_SPEC, "types": {**_SOURCE_SPEC["types"], "cohort_month": "date"}},
    ),
    "adverse_impact": TableSpec(
        key=("role", "step", "dimension", "group_name"),
        types={"role": "str", "step": "str", "step_order": "int", "dimension": "str", "group_name": "str",
               "reference_group": "str", "is_reference": "bool", "four_fifths_flag": "bool", "significant": "bool",
               "flip_flop": "bool", "suppressed": "bool", "below_min_share": "bool", "impact_ratio": "float",
               "z": "float", "p_value": "float", "shortfall": "float"},
        not_null=("step_order", "is_reference", "suppressed"),
        minimum={"step_order": 0},
        rates=("selection_rate", "p_value"),
        nonnegative=("applicants", "selected", "impact_ratio"),
        accepted={"role": "roles", "dimension": ("sex", "race_ethnicity", "sex_x_race_ethnicity")},
        invariants={
            "step is overall or a stage": "step = 'overall' OR step IN (SELECT stage FROM config_stages)",
            "selected <= applicants": "selected <= applicants",
            "selection_rate = selected / applicants": "abs(selection_rate - selected / applicants) < 1e-9",
            "suppressed rows have no counts, rate or statistics":
                "NOT suppressed OR (applicants IS NULL AND selected IS NULL AND selection_rate IS NULL"
                " AND impact_ratio IS NULL AND z IS NULL AND p_value IS NULL AND shortfall IS NULL AND NOT is_reference)",
            "no group under min_group_size is shown":
                "suppressed OR applicants >= (SELECT fairness_min_group_size FROM config_settings)",
            "the reference has impact_ratio 1 and is no flag": "NOT is_reference OR (impact_ratio = 1 AND NOT four_fifths_flag)",
            "is_reference exactly on the reference group's row": "is_reference = coalesce(group_name = reference_group, false)",
            "unknown and small-share groups are not compared":
                "(group_name <> 'unknown' AND below_min_share IS NOT TRUE) OR (impact_ratio IS NULL AND p_value IS NULL)",
            "four_fifths_flag = impact_ratio < 4/5": "abs(impact_ratio - 0.8) < 1e-9 OR four_fifths_flag = (impact_ratio < 0.8)",
            "significant = p_value < 0.05": "p_value IS NULL OR significant = (p_value < 0.05)",
        },
    ),
    "quarantine_summary": TableSpec(
        key=("feed", "reason"),
        types={"feed": "str", "reason": "str"},
        counts=("rows", "files"),
        minimum={"rows": 1, "files": 1},
        accepted={"feed": tuple(FEEDS), "reason": tuple(dict.fromkeys(r for f in FEEDS.values() for r in f.reasons))},
        invariants={"files <= rows": 'files <= "rows"'},
    ),
}

_RECORD_COMMON = ("record_id", "application_id", "stage", "occurred_at", "content_hash", "source_file",
                  "source_line", "batch_id", "ingested_at")

RECORD_SPECS: dict[str, TableSpec] = {
    "stage_outcome_records": TableSpec(
        key=("record_id",),
        types={"record_id": "str", "application_id": "str", "candidate_id": "str", "role": "str", "stage": "str",
               "outcome": "str", "occurred_at": "timestamp", "requires_travel": "bool", "source_line": "int"},
        not_null=(*_RECORD_COMMON, "candidate_id", "role", "outcome"),
        accepted={"outcome": OUTCOMES, "role": "roles", "stage": "stages"},
        invariants={"content_hash is a sha256 (64 hex digits)": "regexp_full_match(content_hash, '[0-9a-f]{64}')"},
    ),
    "interview_records": TableSpec(
        key=("record_id",),
        types={"record_id": "str", "application_id": "str", "stage": "str", "interviewer_id": "str",
               "skill": "str", "recommendation": "str", "occurred_at": "timestamp", "source_line": "int"},
        not_null=(*_RECORD_COMMON, "interviewer_id", "skill", "recommendation"),
        accepted={"recommendation": RECOMMENDATIONS, "stage": "stages", "skill": "skills"},
        invariants={"content_hash is a sha256 (64 hex digits)": "regexp_full_match(content_hash, '[0-9a-f]{64}')"},
    ),
    # NULL in a category column is unknown. The pages and check metadata never show a category (or whose it
    # is) next to a record: failing rows are shown by record_id, unexpected values only counted.
    "demographic_records": TableSpec(
        key=("record_id",),
        types={"record_id": "str", "candidate_id": "str", **dict.fromkeys(DEMOGRAPHIC_CATEGORIES, "str"),
               "collected_at": "timestamp", "source_line": "int"},
        not_null=("candidate_id", "content_hash", "source_file", "source_line", "batch_id", "ingested_at"),
        accepted=dict(DEMOGRAPHIC_CATEGORIES),
        invariants={"content_hash is a sha256 (64 hex digits)": "regexp_full_match(content_hash, '[0-9a-f]{64}')",
                    "record_id is a sha256 of candidate_id and collected_at (64 hex digits)":
                        "regexp_full_match(record_id, '[0-9a-f]{64}')"},
        private=("candidate_id", *DEMOGRAPHIC_CATEGORIES),
    ),
}

TABLE_SPECS: dict[str, TableSpec] = {**RECORD_SPECS, **MART_SPECS}


@dataclass(frozen=True)
class ConfigValues:
    """The configuration's keys, as the config_* tables of the working database hold them."""

    roles: tuple[str, ...]
    stages: tuple[str, ...]
    skills: tuple[str, ...]

    @classmethod
    def from_db(cls, conn: duckdb.DuckDBPyConnection) -> "ConfigValues":
        def column(sql: str) -> tuple[str, ...]:
            return tuple(r[0] for r in conn.execute(sql).fetchall())

        return cls(
            roles=column("SELECT DISTINCT role FROM config_role_stages ORDER BY role"),
            stages=column("SELECT stage FROM config_stages ORDER BY stage_order"),
            skills=column("SELECT skill FROM config_skills ORDER BY skill"),
        )

    def resolve(self, values: tuple[Any, ...] | str) -> tuple[Any, ...]:
        if isinstance(values, str):
            return tuple(getattr(self, values))
        return tuple(values)


# ---------------------------------------------------------------------------------------------
# Rules: one expectation each


@dataclass(frozen=True)
class Rule:
    """One expectation: the GX class name, its arguments, a sentence for people, the columns it reads."""

    expectation: str
    kwargs: Mapping[str, Any]
    description: str
    columns: tuple[str, ...]
    sql: str | None = None  # invariants: the SQL of the computed boolean column

    @property
    def column_label(self) -> str:
        return ", ".join(self.columns)


def referenced_columns(sql: str, available: Iterable[str]) -> tuple[str, ...]:
    """The columns of `available` that an SQL expression names, in the order it names them."""
    names = set(available)
    found: dict[str, None] = {}
    for quoted, bare in _IDENT.findall(sql):
        name = quoted.replace('""', '"') if quoted else bare
        if name in names:
            found[name] = None
    return tuple(found)


def rules_for(spec: TableSpec, config: ConfigValues) -> list[Rule]:
    """The expectations of a table spec, in a stable order."""
    rules: list[Rule] = []
    required = [c for c in spec.key if c not in spec.nullable]
    for column in dict.fromkeys((*required, *spec.not_null, *spec.counts)):
        rules.append(Rule("ExpectColumnValuesToNotBeNull", {"column": column}, f"{column} is never NULL", (column,)))
    typed = dict(spec.types)
    typed.update({c: "int" for c in spec.counts})
    typed.update({c: "float" for c in spec.rates if c not in typed})
    for column, kind in typed.items():
        rules.append(Rule("ExpectColumnValuesToBeInTypeList", {"column": column, "type_list": TYPE_LISTS[kind]},
                          f"{column} is of type {kind}", (column,)))
    if len(spec.key) == 1:
        rules.append(Rule("ExpectColumnValuesToBeUnique", {"column": spec.key[0]},
                          f"{spec.key[0]} is unique", spec.key))
    elif spec.key:
        rules.append(Rule("ExpectCompoundColumnsToBeUnique", {"column_list": list(spec.key)},
                          f"one row per ({', '.join(spec.key)})", spec.key))
    for column in spec.counts:
        low = spec.minimum.get(column, 0)
        rules.append(Rule("ExpectColumnValuesToBeBetween", {"column": column, "min_value": low},
                          f"{column} >= {low}", (column,)))
    for column, low in spec.minimum.items():
        if column not in spec.counts:
            rules.append(Rule("ExpectColumnValuesToBeBetween", {"column": column, "min_value": low},
                              f"{column} >= {low}", (column,)))
    for column in spec.rates:
        rules.append(Rule("ExpectColumnValuesToBeBetween", {"column": column, "min_value": 0, "max_value": 1},
                          f"{column} is in [0, 1]", (column,)))
    for column in spec.nonnegative:
        rules.append(Rule("ExpectColumnValuesToBeBetween", {"column": column, "min_value": 0},
                          f"{column} >= 0", (column,)))
    for chain in spec.ordered:
        for low, high in zip(chain, chain[1:]):
            rules.append(Rule(
                "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": high, "column_B": low, "or_equal": True, "ignore_row_if": "either_value_is_missing"},
                f"{low} <= {high}", (low, high),
            ))
    for column, values in spec.accepted.items():
        allowed = config.resolve(values)
        source = f" (from the configuration's {values})" if isinstance(values, str) else ""
        rules.append(Rule("ExpectColumnValuesToBeInSet", {"column": column, "value_set": list(allowed)},
                          f"{column} is one of {', '.join(map(str, allowed))}{source}", (column,)))
    for n, (name, sql) in enumerate(spec.invariants.items()):
        computed = f"{INVARIANT_PREFIX}{n}"
        rules.append(Rule("ExpectColumnValuesToBeInSet", {"column": computed, "value_set": [True]},
                          name, (computed,), sql=sql))
    return rules


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class ExpectationOutcome:
    description: str
    expectation: str  # GX type, e.g. expect_column_values_to_be_between
    column: str
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    partial_unexpected: tuple[Any, ...] = ()
    example_rows: tuple[dict, ...] = ()
    observed_value: Any = None
    exception: str | None = None  # set when the expectation raised: a broken check, not bad data

    @property
    def broken(self) -> bool:
        return self.exception is not None


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    table: str
    rows: int
    outcomes: tuple[ExpectationOutcome, ...]
    where: str | None = None
    engine: str = "great_expectations"  # or "duckdb": see validate_table

    @property
    def broken(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.broken]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        """Expectations the data did not meet (broken ones excluded)."""
        return [o for o in self.outcomes if not o.success and not o.broken]

    @property
    def success(self) -> bool:
        return all(o.success and not o.broken for o in self.outcomes)

    @property
    def unexpected_rows(self) -> int:
        return sum(o.unexpected_count or 0 for o in self.failed)

    def outcome(self, description: str) -> ExpectationOutcome:
        for o in self.outcomes:
            if o.description == description:
                return o
        raise KeyError(description)

    @property
    def summary(self) -> str:
        if self.broken:
            return (f"BROKEN CHECK: {len(self.broken)} expectation(s) raised instead of evaluating "
                    f"({'; '.join(o.description + ': ' + (o.exception or '') for o in self.broken[:3])})")
        if self.failed:
            parts = [f"{o.description}: {o.unexpected_count} row(s)" if o.unexpected_count is not None
                     else f"{o.description}: {'; '.join(map(str, o.partial_unexpected[:3])) or '?'}"
                     for o in self.failed[:5]]
            return f"{len(self.failed)} of {len(self.outcomes)} expectations failed on {self.rows:,} rows: " + "; ".join(parts)
        return f"all {len(self.outcomes)} expectations passed on {self.rows:,} rows"

    def examples(self, limit: int = 5) -> list[dict]:
        """Example failing rows across the failed expectations, labelled with the rule they break."""
        rows: list[dict] = []
        for o in self.failed:
            for row in o.example_rows:
                rows.append({"rule": o.description, **row})
                if len(rows) >= limit:
                    return rows
            if not o.example_rows and o.partial_unexpected:
                rows.append({"rule": o.description, "unexpected values": list(o.partial_unexpected[:5])})
                if len(rows) >= limit:
                    return rows
        return rows


@dataclass(frozen=True)
class Reporting:
    """How a suite's outcomes are reported, whichever engine evaluates its rules.

    key: the columns that identify a row: shown first in example rows, which the DuckDB engine orders by it.
    table: the table validated (default: the suite's name). where: the selection, as people read it.
    example_columns: a rule's description -> extra columns its example rows show (an invariant's columns).
    broken: outcomes already known to be broken (e.g. an invariant whose SQL does not bind).
    private: columns never shown: left out of example rows; a rule on one lists no unexpected values.
    """

    key: Sequence[str] = ()
    table: str | None = None
    where: str | None = None
    example_columns: Mapping[str, Sequence[str]] = field(default_factory=dict)
    broken: Sequence[ExpectationOutcome] = ()
    private: Sequence[str] = ()

    def result(self, suite_name: str, rows: int, outcomes: Mapping[int, ExpectationOutcome],
               engine: str) -> SuiteResult:
        """The suite's result: the outcomes by rule index, then the known broken ones."""
        merged = [outcomes[i] for i in sorted(outcomes)] + list(self.broken)
        return SuiteResult(suite=suite_name, table=self.table or suite_name, rows=rows, outcomes=tuple(merged),
                           where=self.where, engine=engine)


# ---------------------------------------------------------------------------------------------
# Helpers both engines use


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def snake(name: str) -> str:
    """A GX expectation's class name as its type: ExpectColumnValuesToBeUnique -> expect_column_values_to_be_unique."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def columns_of(rule: Rule) -> list[str]:
    """The table columns a rule's arguments name (an invariant: its computed column)."""
    kwargs = rule.kwargs
    return list(kwargs.get("column_list") or dict.fromkeys(kwargs[k] for k in ("column", "column_A", "column_B")
                                                        if k in kwargs))


def shown_columns(rule: Rule, reporting: Reporting) -> list[str]:
    """The columns of a failing rule's example rows: the key, then the rule's own columns (for an
    invariant, the columns its SQL reads), except the private ones."""
    own = reporting.example_columns.get(rule.description, ()) if rule.sql is not None else rule.columns
    return [c for c in dict.fromkeys((*reporting.key, *own)) if c not in reporting.private]


def lists_values(rule: Rule, private: Sequence[str]) -> bool:
    """Whether a rule's unexpected values may be listed: not when they are a private column's."""
    return not set(columns_of(rule)) & set(private)


# ---------------------------------------------------------------------------------------------
# The declared schema: rules the DDL already guarantees

SCHEMA_RULE = "column types match the suite (from the declared table schema)"
SCHEMA_EXPECTATION = "declared_schema"

# DuckDB column types each kind of TYPE_LISTS accepts: those .df() turns into its pandas dtypes
# (a HUGEINT, e.g. an unCAST sum() of integers, and a DECIMAL arrive in pandas as float64)
DUCKDB_TYPES: dict[str, tuple[str, ...]] = {
    "int": ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"),
    "float": ("FLOAT", "DOUBLE", "DECIMAL", "HUGEINT"),
    "bool": ("BOOLEAN",),
    "str": ("VARCHAR",),
    "timestamp": ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE"),
    "date": ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE"),
}
_KIND_OF_TYPE_LIST = {tuple(v): k for k, v in TYPE_LISTS.items()}
_TYPE_RULE = "ExpectColumnValuesToBeInTypeList"


def type_problem(rule: Rule, types: Mapping[str, str]) -> str | None:
    """Why a column-type rule fails on a table whose columns have the DuckDB `types` (None: it holds).
    Raises ValueError for a rule that cannot be judged: a missing column, a type list of no kind."""
    column = rule.kwargs["column"]
    if column not in types:
        raise ValueError(f'column "{column}" does not exist in the table')
    kind = _KIND_OF_TYPE_LIST.get(tuple(rule.kwargs["type_list"]))
    if kind is None:
        raise ValueError(f"type list {list(rule.kwargs['type_list'])} is none of {', '.join(TYPE_LISTS)}")
    declared = types[column]
    return None if declared.split("(")[0] in DUCKDB_TYPES[kind] else f"{column} is {declared}, not {kind}"


@dataclass(frozen=True)
class DeclaredSchema:
    """What a table's DDL guarantees of every row, from DuckDB's catalog: each column's type, the
    columns declared NOT NULL, and the column sets declared PRIMARY KEY or UNIQUE."""

    types: Mapping[str, str]
    not_null: frozenset[str] = frozenset()
    unique: tuple[frozenset[str], ...] = ()

    @classmethod
    def of(cls, conn: duckdb.DuckDBPyConnection, table: str) -> "DeclaredSchema":
        constraints = conn.execute(
            "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() WHERE table_name = ?"
            " AND schema_name = current_schema() AND database_name = current_database()"
            " AND constraint_type IN ('NOT NULL', 'PRIMARY KEY', 'UNIQUE')", [table]).fetchall()
        not_null = {c for kind, columns in constraints if kind in ("NOT NULL", "PRIMARY KEY") for c in columns}
        unique = tuple(frozenset(columns) for kind, columns in constraints if kind in ("PRIMARY KEY", "UNIQUE"))
        return cls(dict(table_columns(conn, table)), frozenset(not_null), unique)

    def guarantees(self, rule: Rule) -> bool:
        """Whether no row can break `rule`. Every column-type rule is judged here, from the catalog
        (a column holds values of its declared type only); a missing column is not guaranteed."""
        if rule.expectation == _TYPE_RULE:
            return True
        columns = set(columns_of(rule))
        if rule.sql is not None or not columns <= set(self.types):
            return False
        if rule.expectation == "ExpectColumnValuesToNotBeNull":
            return columns <= self.not_null
        if rule.expectation == "ExpectColumnValuesToBeUnique":  # NULLs are not compared, by GX nor by UNIQUE
            return any(key == columns or (key <= self.not_null and key <= columns) for key in self.unique)
        if rule.expectation == "ExpectCompoundColumnsToBeUnique":  # a key with a NULL is compared by GX
            return any(key <= columns and key <= self.not_null for key in self.unique)
        return False


def split_by_schema(rules: Sequence[Rule], schema: DeclaredSchema) -> tuple[list[Rule], list[Rule]]:
    """(the rules `schema` guarantees or judges from the catalog, the rules left to evaluate on the rows)."""
    covered = [r for r in rules if schema.guarantees(r)]
    return covered, [r for r in rules if not schema.guarantees(r)]


def schema_outcome(covered: Sequence[Rule], schema: DeclaredSchema, rows: int) -> ExpectationOutcome:
    """The rules `split_by_schema` took out of the suite, as one outcome: failed when a column is
    not of the suite's type (each such column named with its type), broken when a rule names a
    column the table lacks or a type list of no kind."""
    types: dict[str, str] = {}
    problems: list[str] = []
    broken: list[str] = []
    for rule in covered:
        if rule.expectation != _TYPE_RULE:
            continue  # a NOT NULL / unique rule the DDL enforces: it holds on every row
        try:
            problem = type_problem(rule, schema.types)
        except ValueError as exc:
            broken.append(f"{rule.description}: ValueError: {exc}")
            continue
        types[rule.kwargs["column"]] = schema.types[rule.kwargs["column"]]
        if problem:
            problems.append(problem)
    enforced = [r.description for r in covered if r.expectation != _TYPE_RULE]
    return ExpectationOutcome(
        description=SCHEMA_RULE,
        expectation=SCHEMA_EXPECTATION,
        column=", ".join(dict.fromkeys(c for rule in covered for c in columns_of(rule))),
        success=not problems and not broken,
        element_count=rows,
        partial_unexpected=tuple(problems),
        observed_value={"column types": types, **({"enforced by the DDL": enforced} if enforced else {})},
        exception="; ".join(broken) or None,
    )
