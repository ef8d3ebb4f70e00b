"""`funnel sources suggest`: a starting `sources:` block for the ATS tables in the landing folders, and
`funnel validate` on an ATS folder: what the mapping lacks, with counts, before anything is ingested."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from funnel.config import Config
from funnel.sources import ATS_NAMES
from funnel.sources.mapping import SourceMapping
from funnel.sources.runner import ats_module, derive, drop_work_tables
from funnel.sources.tables import discover_tables, load_tables
from funnel.warehouse import connect, create_schema

# A catalog stage, and words that make an ATS stage name plainly that stage (in this order: the first that
# matches wins, so "Phone Screen" is a recruiter screen, not a technical one).
STAGE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("team_matching", ("team matching", "team match", "team selection", "host matching")),
    ("hiring_committee", ("hiring committee", "committee", "debrief")),
    ("offer", ("offer",)),
    ("take_home", ("take home", "take-home", "takehome", "assignment", "homework", "coding challenge", "exercise")),
    ("onsite", ("onsite", "on-site", "on site", "face to face", "face-to-face", "final round", "final interview",
                "virtual onsite", "loop")),
    ("technical_screen", ("technical", "tech screen", "coding interview", "technical phone")),
    ("recruiter_screen", ("phone screen", "recruiter", "phone interview", "screening call", "hr screen", "intro call")),
    ("application_review", ("application review", "applied", "new lead", "new applicant", "resume review",
                            "review", "application")),
)
ROLE_WORDS = {"ml": ("machine learning", "ml"), "swe": ("software",), "software": ("software",),
              "research": ("research",), "scientist": ("scientist",), "engineer": ("engineer",),
              "data": ("data",)}


def guess_stage(name: str, catalog: tuple[str, ...]) -> str | None:
    text = " ".join(name.lower().split())
    for stage, words in STAGE_WORDS:
        if stage in catalog and any(word in text for word in words):
            return stage
    return None


def guess_role(job_name: str | None, roles: tuple[str, ...]) -> str | None:
    """The one role whose key's words all appear in the job's name (ml_engineer: "ML Engineer",
    "Machine Learning Engineer"); None when no role or several fit."""
    if not job_name:
        return None
    text = " " + re.sub(r"[^a-z0-9]+", " ", job_name.lower()) + " "
    fits = []
    for role in roles:
        words = role.split("_")
        if all(any(f" {w} " in text or (len(w) > 3 and w in text) for w in ROLE_WORDS.get(word, (word,)))
               for word in words):
            fits.append(role)
    return fits[0] if len(fits) == 1 else None


def _inventory(ats: str, folder: Path, config: Config) -> list[dict]:
    conn = connect(":memory:")
    try:
        create_schema(conn)
        load_tables(conn, discover_tables(folder), config.encoding)
        return ats_module(ats).inventory(conn, config.sources.get(ats) or SourceMapping(ats, {}, {}))
    finally:
        conn.close()


def _quoted(key: str) -> str:
    return yaml.safe_dump({key: None}, default_flow_style=True, width=10_000).strip()[1:-1].rsplit(":", 1)[0]


def suggest_block(ats: str, folder: Path, config: Config) -> str:
    """The `sources:` block for one ATS folder as commented YAML: every job, stage name, interview name
    and reason found, guessed where the name makes it plain, the rest commented out to fill in."""
    items = _inventory(ats, folder, config)
    roles, stages, skills = tuple(config.roles), tuple(config.stages), tuple(config.skills)
    lines = [f"  {ats}:", "    roles:                    # job id -> role (a job's exact name works too; ids win)"]
    jobs = [i for i in items if i["kind"] == "job"]
    for job in sorted(jobs, key=lambda j: (-(j.get("applications") or 0), str(j.get("job_id")))):
        role = guess_role(job.get("job_name"), roles)
        note = f"# {job.get('job_name') or '(no name)'}: {job.get('applications') or 0} applications"
        key = _quoted(str(job["job_id"]))
        lines.append(f"      {key}: {role}  {note}" if role else f"      # {key}: ROLE  {note}; one of: {', '.join(roles)}")
    lines.append("    stages:                   # ATS stage name -> catalog stage, for every job")
    by_name: dict[str, list[dict]] = {}
    for stage in (i for i in items if i["kind"] == "stage"):
        by_name.setdefault(stage["name"].strip(), []).append(stage)
    for name in sorted(by_name, key=lambda n: (-sum(s.get("applications") or 0 for s in by_name[n]), n.lower())):
        found = by_name[name]
        guess = guess_stage(name, stages)
        per_job = ", ".join(f"{s.get('job_name') or s.get('job_id')}: {s.get('applications') or 0}" for s in found[:4])
        more = f" and {len(found) - 4} more jobs" if len(found) > 4 else ""
        note = f"# applications reaching it: {per_job}{more}"
        key = _quoted(name)
        lines.append(f"      {key}: {guess}  {note}" if guess else f"      # {key}: STAGE  {note}; one of: {', '.join(stages)}")
    interviews = [i for i in items if i["kind"] == "interview"]
    if interviews:
        lines.append("    skills:                   # interview name -> the skill it evaluates")
        for item in sorted(interviews, key=lambda i: (-(i.get("interviews") or 0), i["name"].lower())):
            guess = next((s for s in skills if s.replace("_", " ") in item["name"].lower()), None)
            note = f"# {item.get('interviews') or 0} interviews"
            key = _quoted(item["name"].strip())
            lines.append(f"      {key}: {guess}  {note}" if guess else
                         f"      # {key}: SKILL  {note}; one of: {', '.join(skills)}")
    reasons = [i for i in items if i["kind"] == "reason"]
    if ats == "greenhouse":
        lines.append("    unspecified_rejection: failed   # rejection type \"None specified\": failed or withdrew")
    elif reasons:
        allowed = "failed, withdrew, hired" if ats == "lever" else "failed, withdrew"
        lines.append(f"    archive_reasons:          # archive reason -> {allowed} (unlisted: "
                     + ("failed; Hired: hired)" if ats == "lever" else "by its type)"))
        for item in sorted(reasons, key=lambda i: (-(i.get("applications") or 0), i["name"].lower())):
            text = item["name"].lower()
            guess = ("withdrew" if any(w in text for w in ("withdr", "declin", "candidate", "accepted another",
                                                             "not interested")) else
                     "hired" if ats == "lever" and "hired" in text else None)
            note = f"# {item.get('applications') or 0} applications"
            key = _quoted(item["name"].strip())
            lines.append(f"      {key}: {guess}  {note}" if guess else f"      # {key}: failed  {note}")
    return "\n".join(lines)


def suggest(landing: Path, config: Config) -> str:
    """The whole `sources:` block for every ATS folder under `landing` that holds tables."""
    blocks = [suggest_block(ats, landing / ats, config) for ats in ATS_NAMES if discover_tables(landing / ats)]
    if not blocks:
        return ""
    header = ("# A starting point: check every guess, fill in (and uncomment) the lines marked ROLE, STAGE or\n"
              "# SKILL, then put the block into funnel.yaml. `funnel validate landing/<ats>` lists what is still missing.\n")
    return header + "sources:\n" + "\n".join(blocks) + "\n"


def mapping_beside(folder: Path, config: Config) -> Config | None:
    """The configuration with the `sources:` block of a sources.yaml kept beside the tables (as the
    samples do), or None when there is none. Checked like funnel.yaml: a bad block is a ConfigError."""
    from funnel.config import parse_config
    from funnel.sources.tables import MAPPING_FILE

    path = folder / MAPPING_FILE
    if not path.is_file():
        return None
    block = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("sources")
    if not isinstance(block, dict) or folder.name not in block:
        return None
    data = yaml.safe_load(config.to_yaml())
    data["sources"] = {**data.get("sources", {}), folder.name: block[folder.name]}
    return parse_config(data, str(path))


def unmapped(ats: str, folder: Path, config: Config) -> tuple[list[tuple[str, int]], list[tuple[str, int | None, str, str]]]:
    """What a run would quarantine or reject, without ingesting: ([(unmapped value with its job, events)],
    [(file, line or None, reason, detail)] of the other problems)."""
    from funnel.ingest import Batch, FeedResult, FileResult
    from funnel.sources.runner import DERIVED, EVENTS_PER_ROW, _part, derived_feeds

    mapping = config.sources.get(ats)
    if mapping is None:
        return [], [(str(folder), None, "no_mapping",
                     f"funnel.yaml has no sources.{ats} block: `funnel sources suggest` prints one to start from")]
    conn = connect(":memory:")
    problems: list[tuple[str, int | None, str, str]] = []
    counts: dict[str, int] = {}
    try:
        create_schema(conn)
        files = discover_tables(folder)
        loaded, problem, _ = derive(conn, folder, ats, mapping, config, files)
        problems += [(str(folder / f.path), None, "rejected_file", f.problem) for f in loaded.files if f.problem]
        if problem:
            return [], problems + [(str(folder), None, "cannot_derive", problem)]
        names = [str(folder / f.path) for f in files for _ in range(EVENTS_PER_ROW)]
        for feed in derived_feeds(conn):  # self-identification too, when the ATS syncs it (unknown_category)
            table = DERIVED[feed.name]
            with Batch(conn, feed, config) as batch:
                for file_index, seq in conn.execute(f"SELECT DISTINCT __file_index, __seq FROM {table} ORDER BY ALL").fetchall():
                    batch.add(file_index * EVENTS_PER_ROW + seq, _part(conn, table, feed, file_index, seq))
                batch.settle(names, {o: FileResult(feed.name, names[o], "ingested") for o in batch.orders}, FeedResult(feed.name))
                for order, line, reason, detail in conn.execute(
                        "SELECT __file_order, __line, reason, detail FROM batch_rows WHERE status = 'quarantined'"
                        " ORDER BY __file_order, __line").fetchall():
                    if reason in ("unknown_role", "unknown_stage", "unknown_skill"):
                        key = f"{reason}: {detail}"
                        counts[key] = counts.get(key, 0) + 1
                    else:
                        problems.append((names[order], line, reason, detail))
    finally:
        drop_work_tables(conn)
        conn.close()
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])), problems
