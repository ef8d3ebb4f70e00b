"""The input contract: the three landing feeds, their columns, accepted values and reason codes."""

from __future__ import annotations

from dataclasses import dataclass

OUTCOMES = ("in_progress", "passed", "failed", "withdrew", "skipped")
RECOMMENDATIONS = ("strong_yes", "yes", "no", "strong_no", "no_decision")
BOOLEAN_TRUE = ("true", "1", "yes", "t", "y")
BOOLEAN_FALSE = ("false", "0", "no", "f", "n")

# Voluntary self-identification (the demographics feed): each column's categories, normalized. Anything
# in DEMOGRAPHIC_UNKNOWN (or empty) is unknown; anything else is quarantined as unknown_category.
DEMOGRAPHIC_CATEGORIES = {
    "sex": ("female", "male", "another"),
    "race_ethnicity": (
        "hispanic_or_latino", "white", "black_or_african_american", "asian",
        "native_hawaiian_or_other_pacific_islander", "american_indian_or_alaska_native", "two_or_more_races",
    ),
    "veteran_status": ("protected_veteran", "not_protected_veteran"),
    "disability_status": ("yes", "no"),
}
DEMOGRAPHIC_UNKNOWN = ("decline_to_self_identify", "i_don_t_wish_to_answer", "unknown")

# File formats by extension; anything else under a feed folder is recorded as an unsupported file.
FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class Feed:
    name: str
    # The column holding the record's own id; None: the feed has none, and a record's id is a hash of
    # its identity_columns.
    id_column: str | None
    required: tuple[str, ...]
    optional: tuple[str, ...]
    # Row-level reason codes, in the order they are checked; the first that applies is the row's reason.
    reasons: tuple[str, ...]
    # The timestamp column checked for bad_timestamp and implausible_timestamp.
    timestamp_column: str = "occurred_at"
    # What identifies a record when it has no id: two rows equal in these columns and different in another
    # are a conflicting_duplicate. None: the required columns (plus team, where the feed has it).
    identity_columns: tuple[str, ...] | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return (*((self.id_column,) if self.id_column else ()), *self.required, *self.optional)


STAGE_OUTCOMES = Feed(
    name="stage_outcomes",
    id_column="event_id",
    required=("application_id", "candidate_id", "role", "stage", "outcome", "occurred_at"),
    optional=("team", "source", "level", "requires_travel"),
    reasons=(
        "missing_required",
        "bad_timestamp",
        "implausible_timestamp",
        "unknown_role",
        "unknown_stage",
        "unknown_outcome",
        "conflicting_duplicate",
    ),
)

INTERVIEWS = Feed(
    name="interviews",
    id_column="interview_id",
    required=("application_id", "stage", "interviewer_id", "skill", "recommendation", "occurred_at"),
    optional=(),
    reasons=(
        "missing_required",
        "bad_timestamp",
        "implausible_timestamp",
        "unknown_stage",
        "unknown_skill",
        "unknown_recommendation",
        "conflicting_duplicate",
    ),
)

# Voluntary self-identification, one row per response: the latest response per candidate wins (by
# collected_at, then reading order). A response has no id of its own: the same candidate and collected_at
# with other values is a conflicting_duplicate.
DEMOGRAPHICS = Feed(
    name="demographics",
    id_column=None,
    required=("candidate_id",),
    optional=("sex", "race_ethnicity", "veteran_status", "disability_status", "collected_at"),
    reasons=(
        "missing_required",
        "bad_timestamp",
        "implausible_timestamp",
        "unknown_category",
        "conflicting_duplicate",
    ),
    timestamp_column="collected_at",
    identity_columns=("candidate_id", "collected_at"),
)

FEEDS = {feed.name: feed for feed in (STAGE_OUTCOMES, INTERVIEWS, DEMOGRAPHICS)}
