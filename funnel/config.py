"""The stage catalog and role pipelines: the package default, or FUNNEL_HOME/funnel.yaml."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from funnel.settings import FunnelError
from funnel.sources.mapping import SourceMapping, parse_sources

DEFAULT_CONFIG_NAME = "default_config.yaml"
TOP_LEVEL_KEYS = {
    "stages", "roles", "skills", "team_matching_stall_days", "quarantine_threshold",
    "future_tolerance_days", "earliest_timestamp", "encoding", "pseudonymize_interviewers", "fairness", "sources",
}
FAIRNESS_KEYS = {"min_group_size", "min_group_share"}
DEFAULT_EARLIEST_TIMESTAMP = datetime(2000, 1, 1)
ROLE_KEYS = {"pipeline", "onsite_skills"}


class ConfigError(FunnelError):
    """An invalid funnel.yaml: one message naming the file, the key and the problem."""

    def __init__(self, source: str, key: str, problem: str):
        super().__init__(f"{source}: {key}: {problem}")
        self.source, self.key, self.problem = source, key, problem


@dataclass(frozen=True)
class Role:
    name: str
    pipeline: tuple[str, ...]
    onsite_skills: tuple[str, ...]


@dataclass(frozen=True)
class Fairness:
    """adverse_impact's small-cell rules: a group with fewer applicants is suppressed; one under this
    share of the known applicants keeps its counts but gets no impact ratio."""

    min_group_size: int = 10
    min_group_share: float = 0.02


@dataclass(frozen=True)
class Config:
    stages: tuple[str, ...]
    roles: dict[str, Role]
    extra_skills: tuple[str, ...] = ()
    team_matching_stall_days: int = 56
    quarantine_threshold: float = 0.05
    # A record later than ingestion time plus this many days, or earlier than earliest_timestamp, is implausible.
    future_tolerance_days: float = 1
    earliest_timestamp: datetime = DEFAULT_EARLIEST_TIMESTAMP  # naive UTC
    # The text encoding of CSV and JSON Lines files; None: UTF-8 (BOM or not), else Windows-1252.
    encoding: str | None = None
    pseudonymize_interviewers: bool = False
    fairness: Fairness = Fairness()
    # ATS name -> its mapping (funnel/sources/mapping.py); empty when only contract files are used.
    sources: Mapping[str, SourceMapping] = field(default_factory=dict)
    source: str = "<default>"

    @property
    def skills(self) -> tuple[str, ...]:
        """Every valid skill key: those any role's loop must cover, then the extra `skills:`."""
        seen: dict[str, None] = {}
        for role in self.roles.values():
            seen.update(dict.fromkeys(role.onsite_skills))
        seen.update(dict.fromkeys(self.extra_skills))
        return tuple(seen)

    def stage_order(self, stage: str) -> int:
        return self.stages.index(stage) + 1

    def to_yaml(self) -> str:
        data: dict[str, Any] = {
            "stages": list(self.stages),
            "roles": {
                r.name: {"pipeline": list(r.pipeline), "onsite_skills": list(r.onsite_skills)}
                for r in self.roles.values()
            },
        }
        if self.extra_skills:
            data["skills"] = list(self.extra_skills)
        data["team_matching_stall_days"] = self.team_matching_stall_days
        data["quarantine_threshold"] = self.quarantine_threshold
        data["future_tolerance_days"] = self.future_tolerance_days
        data["earliest_timestamp"] = self.earliest_timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.encoding is not None:
            data["encoding"] = self.encoding
        data["pseudonymize_interviewers"] = self.pseudonymize_interviewers
        data["fairness"] = {"min_group_size": self.fairness.min_group_size, "min_group_share": self.fairness.min_group_share}
        if self.sources:
            data["sources"] = {ats: mapping.to_dict() for ats, mapping in self.sources.items()}
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)


def _string_list(value: Any, source: str, key: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(source, key, f"must be a list of names, got {type(value).__name__}")
    if not value and not allow_empty:
        raise ConfigError(source, key, "must not be empty")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(source, key, f"every entry must be a non-empty name, got {item!r}")
        if item != item.strip().lower():
            raise ConfigError(source, key, f"{item!r} must be lower case with no surrounding spaces")
    duplicates = sorted({item for item in value if value.count(item) > 1})
    if duplicates:
        raise ConfigError(source, key, f"lists {', '.join(duplicates)} more than once")
    return tuple(value)


def parse_config(data: Any, source: str) -> Config:
    """Validate a parsed funnel.yaml. Raises ConfigError on the first problem."""
    if not isinstance(data, dict):
        raise ConfigError(source, "<top level>", "must be a mapping with keys stages and roles")
    unknown = sorted(set(map(str, data)) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(source, unknown[0], f"unknown key (allowed: {', '.join(sorted(TOP_LEVEL_KEYS))})")
    for required in ("stages", "roles"):
        if required not in data:
            raise ConfigError(source, required, "is required")
    stages = _string_list(data["stages"], source, "stages")
    roles_raw = data["roles"]
    if not isinstance(roles_raw, dict) or not roles_raw:
        raise ConfigError(source, "roles", "must be a non-empty mapping of role name to its pipeline")
    roles: dict[str, Role] = {}
    for name, spec in roles_raw.items():
        key = f"roles.{name}"
        if not isinstance(name, str) or name != name.strip().lower() or not name:
            raise ConfigError(source, key, "role names must be lower-case strings")
        if not isinstance(spec, dict):
            raise ConfigError(source, key, f"must be a mapping with a pipeline, got {type(spec).__name__}")
        unknown = sorted(set(map(str, spec)) - ROLE_KEYS)
        if unknown:
            raise ConfigError(source, f"{key}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(ROLE_KEYS))})")
        if "pipeline" not in spec:
            raise ConfigError(source, f"{key}.pipeline", "is required")
        pipeline = _string_list(spec["pipeline"], source, f"{key}.pipeline")
        for stage in pipeline:
            if stage not in stages:
                raise ConfigError(source, f"{key}.pipeline", f"stage {stage!r} is not in the stage catalog")
        for before, after in zip(pipeline, pipeline[1:]):
            if stages.index(after) < stages.index(before):
                raise ConfigError(
                    source, f"{key}.pipeline", f"{after!r} comes before {before!r} in the stage catalog; list stages in catalog order"
                )
        skills = _string_list(spec.get("onsite_skills", []), source, f"{key}.onsite_skills", allow_empty=True)
        if skills and "onsite" not in pipeline:
            raise ConfigError(source, f"{key}.onsite_skills", "is set but the role's pipeline has no onsite stage")
        roles[name] = Role(name, pipeline, skills)
    extra = _string_list(data.get("skills", []), source, "skills", allow_empty=True)
    stall = data.get("team_matching_stall_days", 56)
    if isinstance(stall, bool) or not isinstance(stall, int) or stall <= 0:
        raise ConfigError(source, "team_matching_stall_days", f"must be a positive whole number of days, got {stall!r}")
    threshold = data.get("quarantine_threshold", 0.05)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ConfigError(
            source, "quarantine_threshold", f"must be a share between 0 and 1 (0.05 = 5%), got {threshold!r}"
        )
    tolerance = data.get("future_tolerance_days", 1)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance <= 36500:
        raise ConfigError(
            source, "future_tolerance_days", f"must be a number of days, 0 or more (1 = one day ahead of ingestion), got {tolerance!r}"
        )
    earliest = _timestamp(data.get("earliest_timestamp", DEFAULT_EARLIEST_TIMESTAMP), source, "earliest_timestamp")
    encoding = _encoding(data.get("encoding"), source)
    pseudonymize = data.get("pseudonymize_interviewers", False)
    if not isinstance(pseudonymize, bool):
        raise ConfigError(source, "pseudonymize_interviewers", f"must be true or false, got {pseudonymize!r}")
    all_skills = tuple(dict.fromkeys([*(s for r in roles.values() for s in r.onsite_skills), *extra]))
    sources = parse_sources(data.get("sources"), source, stages=stages, roles=tuple(roles), skills=all_skills,
                            error=lambda key, problem: ConfigError(source, key, problem))
    return Config(
        stages, roles, extra, stall, float(threshold), tolerance, earliest, encoding, pseudonymize,
        _fairness(data.get("fairness", {}), source), sources, source,
    )


def _fairness(value: Any, source: str) -> Fairness:
    if not isinstance(value, dict):
        raise ConfigError(source, "fairness", f"must be a mapping with min_group_size and min_group_share, got {value!r}")
    unknown = sorted(set(map(str, value)) - FAIRNESS_KEYS)
    if unknown:
        raise ConfigError(source, f"fairness.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(FAIRNESS_KEYS))})")
    size = value.get("min_group_size", Fairness.min_group_size)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(source, "fairness.min_group_size", f"must be a whole number of applicants, 1 or more, got {size!r}")
    share = value.get("min_group_share", Fairness.min_group_share)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise ConfigError(source, "fairness.min_group_share", f"must be a share between 0 and 1 (0.02 = 2%), got {share!r}")
    return Fairness(size, float(share))


def _timestamp(value: Any, source: str, key: str) -> datetime:
    """A date or timestamp (YAML's own, or ISO-8601 text) as naive UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            moment = None
    else:
        moment = None
    if moment is None:
        raise ConfigError(source, key, f"must be a date or an ISO-8601 timestamp (e.g. 2000-01-01), got {value!r}")
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _encoding(value: Any, source: str) -> str | None:
    """An encoding Python knows, by its canonical name (cp1252, latin-1, ...); None or auto: detect."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    if not isinstance(value, str):
        raise ConfigError(source, "encoding", f"must be an encoding name (utf-8, windows-1252, ...), got {value!r}")
    try:
        codec = codecs.lookup(value.strip())
    except LookupError:
        raise ConfigError(source, "encoding", f"unknown encoding {value!r} (e.g. utf-8, utf-8-sig, windows-1252, latin-1)") from None
    if not getattr(codec, "_is_text_encoding", True):  # base64, rot13, hex: codecs, not text encodings
        raise ConfigError(source, "encoding", f"{value!r} is not a text encoding (e.g. utf-8, windows-1252, latin-1)")
    return codec.name


def load_config_file(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "<file>", f"cannot be read ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "<file>"
        raise ConfigError(str(path), where, f"is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse_config(data, str(path))


def default_config() -> Config:
    text = resources.files("funnel").joinpath(DEFAULT_CONFIG_NAME).read_text(encoding="utf-8")
    return parse_config(yaml.safe_load(text), "<default config>")


def load_config(config_file: Path) -> Config:
    """FUNNEL_HOME/funnel.yaml when it exists (it replaces the default entirely), else the default."""
    return load_config_file(config_file) if config_file.exists() else default_config()
