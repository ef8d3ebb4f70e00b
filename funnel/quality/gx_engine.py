"""The Great Expectations (1.x) engine: rules validated on a pandas frame.

One GX context per process, built on first use and reused by every validation after it (a Dagster
run evaluates all its checks in one process): importing great_expectations costs seconds, and
building a context, registering a suite and storing its results cost tenths of a second each
time. The context is ephemeral (in memory), with analytics and progress bars off; a validation
registers nothing in it (an unsaved suite, validated as `Batch.validate` does), so it does not grow.

A lock guards the context: a validation waits for a build under way, and validations from
several threads take turns. (Importing GX in a background thread while ingestion or the marts run
was measured and does not pay: the import competes for the interpreter lock and the two cores.)

Every expectation's `exception_info` is inspected: an expectation that raised (a missing column,
an impossible argument) is reported as *broken* - a defect of the check, not bad data.

`great_expectations` is imported on first use, never at module import.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from funnel.quality.report import plain
from funnel.quality.rules import (
    EXAMPLE_ROWS,
    PARTIAL_UNEXPECTED,
    ExpectationOutcome,
    Reporting,
    Rule,
    SuiteResult,
    columns_of,
    lists_values,
    shown_columns,
)

log = logging.getLogger("funnel")


@dataclass(frozen=True)
class GxRuntime:
    """What every validation of the process shares."""

    gx: Any  # the great_expectations module
    expectations: Any  # great_expectations.expectations
    context: Any  # the ephemeral data context
    batch_definition: Any  # a whole-dataframe batch of the context's one pandas data source
    validator: Any  # great_expectations.validator.v1_validator.Validator: what Batch.validate runs


_lock = threading.Lock()  # held while the runtime is built and while it validates
_runtime: GxRuntime | None = None


def _build() -> GxRuntime:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # noqa: PLC0415  (seconds to import: only when validating)
    import great_expectations.expectations as gxe  # noqa: PLC0415
    from great_expectations.validator.v1_validator import Validator  # noqa: PLC0415
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
    batch_definition = (
        context.data_sources.add_pandas("funnel")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole_frame")
    )
    return GxRuntime(gx, gxe, context, batch_definition, Validator)


@contextmanager
def gx_runtime() -> Iterator[GxRuntime]:
    """The process's GX runtime (built now if no one has), held for the caller alone until the
    block ends."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = _build()
        yield _runtime


def _gx_expectation(rule: Rule, gxe: Any, index: int) -> Any:
    return getattr(gxe, rule.expectation)(**rule.kwargs, meta={"description": rule.description, "rule_index": index})


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


def validate_frame(suite_name: str, frame: Any, rules: Sequence[Rule],
                   reporting: Reporting = Reporting()) -> SuiteResult:
    """Validate a pandas frame against `rules` with the process's GX context; `reporting` says how
    the outcomes are shown (the example rows' columns, the private ones, known broken outcomes)."""
    outcomes: dict[int, ExpectationOutcome] = {}
    frame = _for_gx(frame)
    with gx_runtime() as runtime:
        expectations = []
        for index, rule in enumerate(rules):
            try:
                expectations.append(_gx_expectation(rule, runtime.expectations, index))
            except Exception as exc:  # an impossible rule (bad arguments): broken, reported, not raised
                outcomes[index] = ExpectationOutcome(rule.description, rule.expectation, rule.column_label, False,
                                                     exception=f"{type(exc).__name__}: {exc}")
        # An unsaved suite, validated as Batch.validate does it (but reading the batch once, not twice): nothing
        # is registered in or serialized into the shared context. GX gets only the columns the rules read: it
        # fingerprints the frame, by pickling it when a column holds lists (the example rows' extra columns).
        suite = runtime.gx.ExpectationSuite(name=suite_name, expectations=expectations)
        evaluated = [c for c in dict.fromkeys(c for rule in rules for c in columns_of(rule)) if c in frame.columns]
        result = runtime.validator(
            batch_definition=runtime.batch_definition,
            batch_parameters={"dataframe": frame[evaluated]},
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": PARTIAL_UNEXPECTED},
        ).validate_expectation_suite(suite)
    for item in result.results:
        config = item.expectation_config
        index = int((config.meta or {})["rule_index"])
        rule = rules[index]
        res = dict(item.result or {})
        exception = _exception_message(item.exception_info)
        if not item.success and exception is None and not res:
            # what GX's SQL datasource over DuckDB does: success=False with nothing evaluated. Not bad data.
            exception = "failed with an empty result: Great Expectations evaluated nothing"
        shown = shown_columns(rule, reporting)
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
            if lists_values(rule, reporting.private) else (),
            example_rows=_example_rows(frame, res.get("partial_unexpected_index_list") or [], shown) if failed else (),
            observed_value=plain(res.get("observed_value")),
            exception=exception,
        )
    for i, rule in enumerate(rules):  # GX dropped an expectation without a result: never a pass
        if i not in outcomes:
            outcomes[i] = ExpectationOutcome(rule.description, rule.expectation, rule.column_label, False,
                                             exception="Great Expectations returned no result for it")
    return reporting.result(suite_name, len(frame), outcomes, "great_expectations")
