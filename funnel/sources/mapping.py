"""`sources:` in funnel.yaml: how each ATS's jobs, stages, interview names and reasons map to the
configuration. Parsed and checked with the rest of funnel.yaml: an invalid block is one line naming
the file, the key and the problem."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from funnel.sources import ATS_NAMES

# Keys each ATS's block may have; roles and stages are required.
ALLOWED_KEYS = {
    "greenhouse": {"roles", "stages", "job_stages", "unspecified_rejection", "skills", "requires_travel_column"},
    "lever": {"roles", "stages", "archive_reasons", "skills"},
    "ashby": {"roles", "stages", "archive_reasons", "skills"},
}
ARCHIVE_OUTCOMES = {"lever": ("failed", "withdrew", "hired"), "ashby": ("failed", "withdrew")}
REJECTION_OUTCOMES = ("failed", "withdrew")


@dataclass(frozen=True)
class SourceMapping:
    """One ATS's block. Job ids are text (YAML may read them as numbers); ATS names are kept as
    written and matched after trimming, case-insensitively (ids exactly)."""

    ats: str
    roles: Mapping[str, str]
    stages: Mapping[str, str]
    job_stages: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    skills: Mapping[str, str] = field(default_factory=dict)
    archive_reasons: Mapping[str, str] = field(default_factory=dict)
    unspecified_rejection: str = "failed"
    requires_travel_column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"roles": dict(self.roles), "stages": dict(self.stages)}
        if self.job_stages:
            data["job_stages"] = {job: dict(stages) for job, stages in self.job_stages.items()}
        if self.ats == "greenhouse":
            data["unspecified_rejection"] = self.unspecified_rejection
        if self.archive_reasons:
            data["archive_reasons"] = dict(self.archive_reasons)
        if self.skills:
            data["skills"] = dict(self.skills)
        if self.requires_travel_column:
            data["requires_travel_column"] = self.requires_travel_column
        return data

    def fingerprint(self) -> str:
        """Changes whenever the mapping does: a run then derives every event again."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def parse_sources(value: Any, source: str, *, stages: tuple[str, ...], roles: tuple[str, ...],
                  skills: tuple[str, ...], error: Any) -> dict[str, SourceMapping]:
    """`sources:` checked against the stage catalog, roles and skills; `error(key, problem)` raises."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise error("sources", f"must be a mapping of ATS name ({', '.join(ATS_NAMES)}) to its block")
    out: dict[str, SourceMapping] = {}
    for ats, block in value.items():
        key = f"sources.{ats}"
        if ats not in ATS_NAMES:
            raise error(key, f"unknown ATS (allowed: {', '.join(ATS_NAMES)})")
        if not isinstance(block, dict):
            raise error(key, f"must be a mapping with roles and stages, got {type(block).__name__}")
        unknown = sorted(set(map(str, block)) - ALLOWED_KEYS[ats])
        if unknown:
            raise error(f"{key}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(ALLOWED_KEYS[ats]))})")
        for required in ("roles", "stages"):
            if required not in block:
                raise error(f"{key}.{required}", "is required")
        mapping = SourceMapping(
            ats=ats,
            roles=_names(block["roles"], f"{key}.roles", roles, "a configured role", error),
            stages=_names(block["stages"], f"{key}.stages", stages, "a stage of the catalog", error),
            job_stages=_job_stages(block.get("job_stages", {}), f"{key}.job_stages", stages, error),
            skills=_names(block.get("skills", {}), f"{key}.skills", skills, "a configured skill", error, allow_empty=True),
            archive_reasons=_names(block.get("archive_reasons", {}), f"{key}.archive_reasons",
                                   ARCHIVE_OUTCOMES.get(ats, ()), "one of", error, allow_empty=True, listed=True),
            unspecified_rejection=_choice(block.get("unspecified_rejection", "failed"), f"{key}.unspecified_rejection",
                                          REJECTION_OUTCOMES, error),
            requires_travel_column=_column(block.get("requires_travel_column"), f"{key}.requires_travel_column", error),
        )
        out[ats] = mapping
    return out


def _text_key(item: Any, key: str, error: Any) -> str:
    if isinstance(item, bool) or not isinstance(item, (str, int)) or not str(item).strip():
        raise error(key, f"names must be non-empty text or ids, got {item!r}")
    return str(item).strip()


def _names(value: Any, key: str, allowed: tuple[str, ...], what: str, error: Any, *,
           allow_empty: bool = False, listed: bool = False) -> dict[str, str]:
    if not isinstance(value, dict):
        raise error(key, f"must be a mapping of ATS name to {what.split(' ', 1)[-1]}, got {type(value).__name__}")
    if not value and not allow_empty:
        raise error(key, "must not be empty")
    out: dict[str, str] = {}
    folded: dict[str, str] = {}
    for name, target in value.items():
        text = _text_key(name, key, error)
        if not isinstance(target, str) or target not in allowed:
            expected = f"one of: {', '.join(allowed)}" if listed else f"{what} ({', '.join(allowed)})"
            raise error(f"{key}.{text}", f"{target!r} is not {expected}")
        if text.lower() in folded:
            raise error(f"{key}.{text}", f"lists the same name as {folded[text.lower()]!r} (names match ignoring case)")
        folded[text.lower()] = text
        out[text] = target
    return out


def _job_stages(value: Any, key: str, stages: tuple[str, ...], error: Any) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict):
        raise error(key, f"must be a mapping of job id to {{stage name: catalog stage}}, got {type(value).__name__}")
    return {_text_key(job, key, error): _names(overrides, f"{key}.{job}", stages, "a stage of the catalog", error)
            for job, overrides in value.items()}


def _choice(value: Any, key: str, allowed: tuple[str, ...], error: Any) -> str:
    if value not in allowed:
        raise error(key, f"must be one of: {', '.join(allowed)}, got {value!r}")
    return value


def _column(value: Any, key: str, error: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise error(key, f"must be a column name, got {value!r}")
    return value.strip().lower()
