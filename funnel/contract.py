"""The input contract: the two landing feeds, their columns, accepted values and reason codes."""

from __future__ import annotations

from dataclasses import dataclass

OUTCOMES = ("in_progress", "passed", "failed", "withdrew", "skipped")
RECOMMENDATIONS = ("strong_yes", "yes", "no", "strong_no", "no_decision")
BOOLEAN_TRUE = ("true", "1", "yes", "t", "y")
BOOLEAN_FALSE = ("false", "0", "no", "f", "n")

# File formats by extension; anything else under a feed folder is recorded as an unsupported file.
FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class Feed:
    name: str
    id_column: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    # Row-level reason codes, in the order they are checked; the first that applies is the row's reason.
    reasons: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.id_column, *self.required, *self.optional)


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

FEEDS = {feed.name: feed for feed in (STAGE_OUTCOMES, INTERVIEWS)}
