"""Great Expectations (1.x) suites for the typed records and for every published mart.

Suites are data: `TABLE_SPECS` holds, per table, its key, column types, counts, rates, ordered
columns, accepted values and row invariants, and `rules_for()` turns a spec into a list of
`Rule`s (one GX expectation each). `validate_table()` reads the rows from DuckDB into pandas
(GX's SQL datasource over DuckDB is broken: every expectation silently fails), adds one boolean
column per row invariant computed in SQL, and validates them with an ephemeral GX context.

Above FUNNEL_GX_MAX_ROWS rows (a first run's millions of records, one row per application) the
same rules are evaluated as SQL in DuckDB instead (`validate_in_duckdb`): GX in pandas costs about
a second per 100k rows and the whole frame in memory. Both engines report the same outcomes;
funnel_tests/test_quality_expectations.py holds them to it on broken data.

Every expectation's `exception_info` is inspected: an expectation that raised (a missing column,
an impossible argument) is reported as *broken* - a defect of the check, not bad data.

`great_expectations` is imported inside the functions that validate, never at module import.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Iterable, Mapping, Sequence

import duckdb

from funnel.contract import DEMOGRAPHIC_CATEGORIES, FEEDS, OUTCOMES, RECOMMENDATIONS
from funnel.quality.report import plain
from funnel.settings import FunnelError
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
# Rules: one GX expectation each


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


def _referenced_columns(sql: str, available: Iterable[str]) -> tuple[str, ...]:
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


def _gx_expectation(rule: Rule, gxe: Any, index: int) -> Any:
    return getattr(gxe, rule.expectation)(**rule.kwargs, meta={"description": rule.description, "rule_index": index})


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
            parts = [f"{o.description}: {o.unexpected_count if o.unexpected_count is not None else '?'} row(s)"
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


# ---------------------------------------------------------------------------------------------
# Validation


_context_names = count(1)


def _quiet_gx() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # noqa: PLC0415  (seconds to import: only when validating)

    return gx


def _exception_message(info: Any) -> str | None:
    """The message of a raised expectation. GX reports either one flat dict, or one dict per
    metric that failed to resolve."""
    if not info:
        return None
    if isinstance(info, Mapping) and "raised_exception" in info:
        if info.get("raised_exception"):
            return str(info.get("exception_message") or "the expectation raised (no message)")
        return None
    if isinstance(info, Mapping):
        messages = []
        for value in info.values():
            if isinstance(value, Mapping) and value.get("raised_exception"):
                messages.append(str(value.get("exception_message") or "the expectation raised"))
        return "; ".join(dict.fromkeys(messages)) or None
    return str(info)


def _shown_columns(rule: Rule, key: Sequence[str], example_columns: Mapping[str, Sequence[str]] | None,
                   private: Sequence[str] = ()) -> list[str]:
    """The columns of a failing rule's example rows: the key, then the rule's own columns (for an
    invariant, the columns its SQL reads), except the private ones."""
    own = (example_columns or {}).get(rule.description, ()) if rule.sql is not None else rule.columns
    return [c for c in dict.fromkeys((*key, *own)) if c not in private]


def _lists_values(rule: Rule, private: Sequence[str]) -> bool:
    """Whether a rule's unexpected values may be listed: not when they are a private column's."""
    return not set(_columns_of(rule)) & set(private)


def _example_rows(frame: Any, indexes: Sequence[Any], columns: Sequence[str]) -> tuple[dict, ...]:
    shown = [c for c in columns if c in frame.columns]
    rows = []
    for index in list(indexes)[:EXAMPLE_ROWS]:
        try:
            record = frame.loc[index, shown]
        except (KeyError, TypeError):
            continue
        rows.append({c: plain(record[c]) for c in shown})
    return tuple(rows)


def _for_gx(frame: Any) -> Any:
    """String columns as object dtype, so GX checks value types (pandas 3's `str` dtype is not one
    GX's type expectations can name)."""
    import pandas as pd  # noqa: PLC0415

    for column in frame.columns:
        dtype = frame[column].dtype
        if dtype != object and pd.api.types.is_string_dtype(dtype):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def validate_frame(
    suite_name: str,
    frame: Any,
    rules: Sequence[Rule],
    *,
    key: Sequence[str] = (),
    table: str | None = None,
    where: str | None = None,
    example_columns: Mapping[str, Sequence[str]] | None = None,
    broken: Sequence[ExpectationOutcome] = (),
    private: Sequence[str] = (),
) -> SuiteResult:
    """Validate a pandas frame against `rules` with an ephemeral GX context.

    `example_columns` maps a rule's description to extra columns to show in its example rows
    (the key columns and the rule's own columns are always shown, `private` ones never: a rule on
    one lists no unexpected values). `broken` are outcomes already known to be broken (e.g. an
    invariant whose SQL does not bind); they are reported as such.
    """
    gx = _quiet_gx()
    import great_expectations.expectations as gxe  # noqa: PLC0415
    from great_expectations.data_context.types.base import (  # noqa: PLC0415
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # in memory, no Data Docs site (funnel.quality.report writes the pages), no analytics, no progress bars
    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        ),
    )
    n = next(_context_names)
    batch = (
        context.data_sources.add_pandas(f"funnel_{n}")
        .add_dataframe_asset(table or suite_name)
        .add_batch_definition_whole_dataframe("whole_frame")
    )
    outcomes: dict[int, ExpectationOutcome] = {}
    expectations = []
    for index, rule in enumerate(rules):
        try:
            expectations.append(_gx_expectation(rule, gxe, index))
        except Exception as exc:  # an impossible rule (bad arguments): broken, reported, not raised
            outcomes[index] = ExpectationOutcome(rule.description, rule.expectation, rule.column_label, False,
                                                 exception=f"{type(exc).__name__}: {exc}")
    # the whole suite at once: adding expectations one by one to a registered suite re-serializes it each time
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite_name}_validation", data=batch, suite=suite)
    )
    frame = _for_gx(frame)
    result = validation.run(
        batch_parameters={"dataframe": frame},
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": PARTIAL_UNEXPECTED},
    )
    for item in result.results:
        config = item.expectation_config
        index = int((config.meta or {})["rule_index"])
        rule = rules[index]
        res = dict(item.result or {})
        exception = _exception_message(item.exception_info)
        if not item.success and exception is None and not res:
            # what GX's SQL datasource over DuckDB does: success=False with nothing evaluated. Not bad data.
            exception = "failed with an empty result: Great Expectations evaluated nothing"
        shown = _shown_columns(rule, key, example_columns, private)
        failed = not item.success and exception is None
        outcomes[index] = ExpectationOutcome(
            description=rule.description,
            expectation=config.type,
            column=rule.sql if rule.sql is not None else rule.column_label,
            success=bool(item.success) and exception is None,
            element_count=res.get("element_count"),
            unexpected_count=res.get("unexpected_count"),
            unexpected_percent=res.get("unexpected_percent"),
            partial_unexpected=tuple(plain(v) for v in res.get("partial_unexpected_list") or ())
            if _lists_values(rule, private) else (),
            example_rows=_example_rows(frame, res.get("partial_unexpected_index_list") or [], shown) if failed else (),
            observed_value=plain(res.get("observed_value")),
            exception=exception,
        )
    for i, rule in enumerate(rules):  # GX dropped an expectation without a result: never a pass
        if i not in outcomes:
            outcomes[i] = ExpectationOutcome(rule.description, rule.expectation, rule.column_label, False,
                                             exception="Great Expectations returned no result for it")
    merged = [outcomes[i] for i in sorted(outcomes)] + list(broken)
    return SuiteResult(suite=suite_name, table=table or suite_name, rows=len(frame), outcomes=tuple(merged),
                       where=where)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def validate_table(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    spec: TableSpec,
    config: ConfigValues,
    *,
    where: str | None = None,
    params: Sequence[Any] = (),
    suite_name: str | None = None,
    engine: str | None = None,
) -> SuiteResult:
    """Validate the rows of `table` (optionally `WHERE <where>`) against the rules of `spec`.

    `engine`: "great_expectations" (GX on a pandas frame of the rows), "duckdb" (the same rules
    as SQL over the table), or None: GX up to `gx_max_rows()` rows, DuckDB above, where reading
    every row into pandas would cost minutes and gigabytes. Both give the same outcomes.

    Only the columns the rules read are fetched. A rule naming a column the table lacks is broken
    (GX raises on it); an invariant whose SQL does not bind is broken too.
    """
    rules = rules_for(spec, config)
    types = dict(table_columns(conn, table))
    if not types:
        raise ValueError(f"table {table!r} does not exist in the working database")
    wanted: dict[str, None] = {}
    for rule in rules:
        if rule.sql is None:
            wanted.update(dict.fromkeys(c for c in rule.columns if c in types))
    wanted.update(dict.fromkeys(c for c in spec.key if c in types))
    filter_sql = f" WHERE {where}" if where else ""
    invariant_columns: list[str] = []
    broken: list[ExpectationOutcome] = []
    example_columns: dict[str, tuple[str, ...]] = {}
    kept_rules: list[Rule] = []
    for rule in rules:
        if rule.sql is None:
            kept_rules.append(rule)
            continue
        expr = f"(({rule.sql}) IS NOT FALSE) AS {_ident(rule.columns[0])}"
        try:
            conn.execute(f"SELECT {expr} FROM {_ident(table)}{filter_sql} LIMIT 0", list(params))
        except duckdb.Error as exc:
            broken.append(ExpectationOutcome(rule.description, "expect_column_values_to_be_in_set", rule.sql, False,
                                             exception=f"invariant SQL does not run: {str(exc).splitlines()[0]}"))
            continue
        kept_rules.append(rule)
        invariant_columns.append(expr)
        involved = _referenced_columns(rule.sql, types)
        example_columns[rule.description] = involved
        wanted.update(dict.fromkeys(involved))
    shown_where = where
    if where and params:  # the filter with its values: for people, and for the DuckDB engine's view
        parts = where.split("?")
        shown_where = parts[0] + "".join(_literal(value) + part for value, part in zip(params, parts[1:]))
    select = ", ".join([*(_ident(c) for c in wanted), *invariant_columns]) or "1 AS __row"
    if engine is None:
        rows = conn.execute(f"SELECT count(*) FROM {_ident(table)}{filter_sql}", list(params)).fetchone()[0]
        engine = "great_expectations" if rows <= gx_max_rows() else "duckdb"
    common = dict(key=spec.key, table=table, where=shown_where, example_columns=example_columns, broken=broken,
                  private=spec.private)
    if engine == "duckdb":
        rows_sql = f"SELECT {select} FROM {_ident(table)}{f' WHERE {shown_where}' if shown_where else ''}"
        return validate_in_duckdb(conn, suite_name or table, rows_sql, kept_rules,
                                  types={**types, **{c: "BOOLEAN" for c in (r.columns[0] for r in kept_rules if r.sql)}},
                                  **common)
    if engine != "great_expectations":
        raise ValueError(f"unknown validation engine {engine!r}: great_expectations or duckdb")
    frame = conn.execute(f"SELECT {select} FROM {_ident(table)}{filter_sql}", list(params)).df()
    return validate_frame(suite_name or table, frame, kept_rules, **common)


def gx_max_rows() -> int:
    """Tables with more rows than this (FUNNEL_GX_MAX_ROWS, default 200,000) are validated in DuckDB:
    Great Expectations costs ~1 s per 100k rows in pandas plus the frame's memory."""
    value = os.environ.get("FUNNEL_GX_MAX_ROWS", "200000")
    try:
        return int(value)
    except ValueError:
        raise FunnelError(f"FUNNEL_GX_MAX_ROWS: {value!r} is not a whole number of rows") from None


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


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _literal(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "NULL"}[value]
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _columns_of(rule: Rule) -> list[str]:
    kwargs = rule.kwargs
    return list(kwargs.get("column_list") or dict.fromkeys(kwargs[k] for k in ("column", "column_A", "column_B")
                                                        if k in kwargs))


def _row_rule_sql(rule: Rule, types: Mapping[str, str]) -> tuple[str, str, list[Any]]:
    """(condition of an unexpected row, condition of a row the rule looks at, the condition's
    parameters) of a row-by-row rule. Raises ValueError for a rule that cannot be evaluated, as GX
    raises: a broken check."""
    kwargs = rule.kwargs
    columns = [_ident(c) for c in _columns_of(rule)]
    if rule.expectation == "ExpectColumnValuesToNotBeNull":
        return f"{columns[0]} IS NULL", "true", []
    if rule.expectation == "ExpectColumnValuesToBeBetween":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if low is None and high is None:
            raise ValueError("min_value and max_value cannot both be None")
        outside = [f"{columns[0]} < ?" for _ in [low] if low is not None] + [f"{columns[0]} > ?" for _ in [high]
                                                                             if high is not None]
        return "(" + " OR ".join(outside) + ")", f"{columns[0]} IS NOT NULL", [v for v in (low, high) if v is not None]
    if rule.expectation == "ExpectColumnValuesToBeInSet":
        return f"NOT list_contains(?, {columns[0]})", f"{columns[0]} IS NOT NULL", [list(kwargs["value_set"])]
    if rule.expectation == "ExpectColumnPairValuesAToBeGreaterThanB":
        a, b = columns
        return f"NOT ({a} {'>=' if kwargs.get('or_equal') else '>'} {b})", f"{a} IS NOT NULL AND {b} IS NOT NULL", []
    raise ValueError(f"{rule.expectation} has no SQL form")


def validate_in_duckdb(
    conn: duckdb.DuckDBPyConnection,
    suite_name: str,
    rows_sql: str,
    rules: Sequence[Rule],
    *,
    types: Mapping[str, str],
    key: Sequence[str] = (),
    table: str | None = None,
    where: str | None = None,
    example_columns: Mapping[str, Sequence[str]] | None = None,
    broken: Sequence[ExpectationOutcome] = (),
    private: Sequence[str] = (),
) -> SuiteResult:
    """The rules of `validate_frame`, evaluated as SQL over the rows of `rows_sql`: one scan for
    every row-by-row rule, one GROUP BY per uniqueness rule, the column types from the table. The
    counts, sample values and example rows are those GX reports (examples ordered by the key)."""
    # a view, not a table: the rows are read by each of the few queries below, never held in memory
    conn.execute(f"CREATE OR REPLACE TEMP VIEW validated_rows AS {rows_sql}")
    try:
        return _validate_rows(conn, suite_name, rules, types, key, example_columns or {}, broken,
                              table or suite_name, where, private)
    finally:
        conn.execute("DROP VIEW IF EXISTS validated_rows")


def _validate_rows(conn: duckdb.DuckDBPyConnection, suite_name: str, rules: Sequence[Rule],
                   types: Mapping[str, str], key: Sequence[str], example_columns: Mapping[str, Sequence[str]],
                   broken: Sequence[ExpectationOutcome], table: str, where: str | None,
                   private: Sequence[str] = ()) -> SuiteResult:
    total = conn.execute("SELECT count(*) FROM validated_rows").fetchone()[0]
    order = ", ".join(_ident(c) for c in key if c in types) or "ALL"
    counted: dict[int, tuple[str, list[Any]]] = {}  # rule index -> (where an unexpected row is, its parameters)
    aggregates: list[str] = []
    aggregate_params: list[Any] = []
    outcomes: dict[int, ExpectationOutcome] = {}

    def broken_rule(index: int, rule: Rule, problem: str) -> None:
        outcomes[index] = ExpectationOutcome(rule.description, _snake(rule.expectation), rule.column_label, False,
                                             exception=problem)

    for index, rule in enumerate(rules):
        missing = [c for c in _columns_of(rule) if c not in types]
        if missing:
            broken_rule(index, rule, f'ValueError: column "{missing[0]}" does not exist in the table')
        elif rule.expectation == "ExpectColumnValuesToBeInTypeList":
            column = rule.kwargs["column"]
            allowed = DUCKDB_TYPES[_KIND_OF_TYPE_LIST[tuple(rule.kwargs["type_list"])]]
            outcomes[index] = ExpectationOutcome(rule.description, _snake(rule.expectation), rule.column_label,
                                                 types[column].split("(")[0] in allowed, element_count=total,
                                                 observed_value=types[column])
        elif rule.expectation in ("ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique"):
            columns = ", ".join(_ident(c) for c in _columns_of(rule))
            present = " OR ".join(f"{_ident(c)} IS NOT NULL" for c in _columns_of(rule))
            counted[index] = (f"({present}) AND ({columns}) IN (SELECT ({columns}) FROM validated_rows "
                              f"GROUP BY ALL HAVING count(*) > 1)", [])
            aggregates += [f"count(*) FILTER (WHERE {counted[index][0]})", f"count(*) FILTER (WHERE {present})"]
        else:
            try:
                condition, domain, condition_params = _row_rule_sql(rule, types)
            except ValueError as exc:
                broken_rule(index, rule, f"ValueError: {exc}")
                continue
            counted[index] = (f"{domain} AND {condition}", condition_params)
            aggregates += [f"count(*) FILTER (WHERE {domain} AND {condition})", f"count(*) FILTER (WHERE {domain})"]
            aggregate_params += condition_params
    counts = conn.execute(f"SELECT {', '.join(aggregates) or '0'} FROM validated_rows", aggregate_params).fetchone()
    for n, (index, (condition, condition_params)) in enumerate(counted.items()):
        rule = rules[index]
        unexpected, looked_at = counts[2 * n], counts[2 * n + 1]
        partial: tuple[Any, ...] = ()
        examples: tuple[dict, ...] = ()
        if unexpected:
            picked = _columns_of(rule)
            shown = [c for c in _shown_columns(rule, key, example_columns, private) if c in types]
            fetched = conn.execute(
                f"SELECT {', '.join(_ident(c) for c in (*picked, *shown))} FROM validated_rows WHERE {condition} "
                f"ORDER BY {order} LIMIT {PARTIAL_UNEXPECTED}", condition_params).fetchall()
            width = len(picked)
            # as GX lists them: a value, a pair as [A, B], a compound key as {column: value}
            compound = rule.expectation == "ExpectCompoundColumnsToBeUnique"
            partial = tuple(plain(row[0]) if width == 1 else plain(dict(zip(picked, row)) if compound else
                                                                    list(row[:width])) for row in fetched
                            ) if _lists_values(rule, private) else ()
            examples = tuple({c: plain(v) for c, v in zip(shown, row[width:])} for row in fetched[:EXAMPLE_ROWS])
        outcomes[index] = ExpectationOutcome(
            description=rule.description,
            expectation=_snake(rule.expectation),
            column=rule.sql if rule.sql is not None else rule.column_label,
            success=unexpected == 0,
            element_count=total,
            unexpected_count=unexpected,
            unexpected_percent=100.0 * unexpected / looked_at if looked_at else 0.0,
            partial_unexpected=partial,
            example_rows=examples,
        )
    merged = [outcomes[i] for i in sorted(outcomes)] + list(broken)
    return SuiteResult(suite=suite_name, table=table, rows=total, outcomes=tuple(merged), where=where,
                       engine="duckdb")


def validate_mart(conn: duckdb.DuckDBPyConnection, mart: str, config: ConfigValues | None = None, *,
                  engine: str | None = None) -> SuiteResult:
    """Every row of a published mart against its suite."""
    return validate_table(conn, mart, MART_SPECS[mart], config or ConfigValues.from_db(conn),
                          suite_name=f"{mart}_suite", engine=engine)


def validate_records(
    conn: duckdb.DuckDBPyConnection, table: str, batch_id: str, config: ConfigValues | None = None, *,
    engine: str | None = None,
) -> SuiteResult:
    """The records one run (batch) ingested against the records suite; older batches are not re-read."""
    return validate_table(
        conn,
        table,
        RECORD_SPECS[table],
        config or ConfigValues.from_db(conn),
        where="batch_id = ?",
        params=[batch_id],
        suite_name=f"{table}_batch_suite",
        engine=engine,
    )
