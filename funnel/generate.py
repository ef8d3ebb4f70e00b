"""Synthetic landing data: a realistic technical-hiring funnel written as CSV, Parquet and JSON Lines files.

`generate(landing, applications, seed, config)` writes the three landing feeds (stage_outcomes, interviews,
demographics) for `applications` job applications and returns a `GenerateSummary`. The output depends only on
(applications, seed, config): the same inputs give byte-identical files, and the wall clock is never read.

What it writes
--------------
    landing/stage_outcomes/<yyyy>/<yyyy-mm>.<ext>       one file per arrival month (the month applications came in)
    landing/interviews/<yyyy>/<yyyy-mm>.<ext>           the onsite loops (and a few screen interviews) of those applications
    landing/demographics/<yyyy>/<yyyy-mm>.<ext>         self-identification responses of that month's new candidates
    landing/<feed>/reexports/<yyyy-mm>.<ext>            an export overlap: the last ~3% of clean rows of one month, again

A month with more than `MAX_APPLICATIONS_PER_FILE` applications is split into `<yyyy-mm>-partN` files. The format
rotates per file (stage_outcomes: parquet, csv, jsonl, ...; interviews: csv, jsonl, parquet, ...; demographics:
jsonl, parquet, csv, ...). CSV and JSONL timestamps are ISO-8601 strings with per-application offsets (`Z`,
`+00:00`, `-05:00`, `+05:30`, ... and ~10% with no offset, which then means UTC); Parquet holds a UTC timestamp
column. `requires_travel` is 'true'/'false'/'yes'/'no'/'1'/'0' in CSV, a boolean in Parquet and JSONL, and empty
on ~5% of rows. `event_id` / `interview_id` are empty on ~10% of rows (the ingestion then hashes the record).

The simulated funnel
--------------------
The data ends at a fixed date derived from the seed (between 2024-09-30 and 2025-09-30) and spans 12-18 months. Each
application has one role (from `config.roles`) and one candidate; ~5% of candidates apply twice (another role at the
same time, or a re-application months later). A latent candidate strength drives pass rates; each application walks
its role's pipeline in order: usually an `in_progress` record when a stage starts, then a decision
(`passed`/`failed`/`withdrew`) days later. Unconditional pass-rate targets per stage: application_review 35%,
recruiter_screen 60% (but for the designed disparity below), technical_screen 45%, take_home 55%, onsite 40%,
hiring_committee 80% (the strength makes the observed rates of later stages somewhat higher, since stronger
candidates get there). ~30% of candidates require travel: more withdrawals, more often an extra screen round (a
second `in_progress` on the screen stage, sometimes with a `technical_screen` interview row), never fast-tracked.
~5% of strong non-travel candidates are fast-tracked from application_review straight to onsite (the stages between
are absent or explicit `skipped`). Onsite loops have 4-5 interviewers (a few 3 or 6), each with a skill from the
role's `onsite_skills` (now and then a skill missing or doubled, or an extra `skills:` entry); recommendations
follow the onsite decision. After the hiring committee, team matching takes 1-8 weeks for most, stalls for months
for some, rarely fails or is withdrawn; offers are mostly accepted (passed), some declined (withdrew), rarely
rescinded (failed). ~1% of failures are corrected to `passed` a few days later (a later record). Everything after
the end date is cut, so recent applications are still in progress.

Demographics and the designed disparity
---------------------------------------
Sex, race/ethnicity, veteran and disability status are candidate traits (hashed from the candidate, like strength
and travel, so every application of a candidate has them; independent of strength): sex 30% female, 68.8% male,
1.2% another; race/ethnicity 38% asian, 37% white, 12% hispanic_or_latino, 10% black_or_african_american and small
shares of two_or_more_races, american_indian_or_alaska_native and native_hawaiian_or_other_pacific_islander (few,
large groups: each small group adverse_impact compares is one more chance of a flag without a disparity). ~6% of
candidates never respond (no row); the others respond a few minutes after their first application, ~5.5% declining
every question, ~3.5% declining only race/ethnicity, ~3.5% only sex: so ~15% of candidates are unknown in sex and
~15% in race/ethnicity. ~4% respond twice, days or weeks apart (the later wins: a full answer after declining or
after naming another race/ethnicity, or a decline after a full answer); ~4% of rows have no `collected_at` (never
the later of two). Values are written as an ATS displays them ("Black or African American", "Not Protected
Veteran", "Female"), now and then as the normalized key, upper-cased or padded with spaces, and the unknowns as
"Decline To Self Identify", "Decline to self-identify", "I don't wish to answer", "Unknown" or empty: every one
normalizes (trim, lower-case, runs of spaces and punctuation as `_`) to a contract category or unknown.

One stage is designed to discriminate: at `DISPARITY_STAGE` (recruiter_screen) women's pass logit is 1.2 lower
(their true sex, whether they told it or not), so they pass at about half the men's rate (~0.29 against ~0.55) and
adverse_impact flags it (four-fifths and p < 0.05) at the demo size (2,000 applications) for most roles, and
for at least one with every seed tried. Every other stage gives every group the same pass probability: no flag
there but by chance. (Women who got through are a little stronger on average, so they pass later stages slightly
more often.)

Volume: about 3.3 stage events per application with the default config (not 6-7: with these pass rates ~63% of
applications end at application_review with two records), so 1.5M applications give ~4.9M stage events and 10M
stage events take ~3.04M applications; plus ~0.33 interview rows and ~0.94 demographics rows per application.

Dirty rows: ~1% extra rows per feed (not replacing clean ones), covering every quarantine reason of the contract:
missing_required, bad_timestamp (CSV/JSONL only: Parquet holds real timestamps), implausible_timestamp (9999-12-31,
0001-01-01, 1970-01-01, 2205-03-14: typed in Parquet, text elsewhere), unknown_role, unknown_stage,
unknown_outcome, conflicting_duplicate (an existing id with another outcome / recommendation), and for interviews
unknown_skill and unknown_recommendation. Dirty rows carry no id, except the conflicting duplicates. Demographics
has no id column (a record is its candidate_id and collected_at): missing_required is a row without candidate_id,
unknown_category a value no category or unknown normalizes from ("Mail", "Caucasian", "Veteran", "Prefer not to
say", ...), and conflicting_duplicate a response's candidate_id and collected_at again with the other sex.

Scale: applications are simulated in chunks (one arrival month, at most `MAX_APPLICATIONS_PER_FILE` applications)
with vectorised numpy, and each chunk is written before the next one is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from funnel.config import Config
from funnel.contract import (
    DEMOGRAPHIC_CATEGORIES, DEMOGRAPHICS, INTERVIEWS, OUTCOMES, RECOMMENDATIONS, STAGE_OUTCOMES,
)  # fmt: skip

MAX_APPLICATIONS_PER_FILE = 150_000
DAY = 86_400.0
HOUR = 3_600.0

IN_PROGRESS, PASSED, FAILED, WITHDREW, SKIPPED = (OUTCOMES.index(o) for o in ("in_progress", "passed", "failed", "withdrew", "skipped"))

# stage -> (unconditional pass rate, mean days from start to decision, withdrawal rate, share with an in_progress record)
STAGE_PARAMS: dict[str, tuple[float, float, float, float]] = {
    "application_review": (0.35, 5.0, 0.01, 0.95),
    "recruiter_screen": (0.60, 6.0, 0.04, 0.93),
    "technical_screen": (0.45, 8.0, 0.03, 0.93),
    "take_home": (0.55, 9.0, 0.06, 0.93),
    "onsite": (0.40, 11.0, 0.03, 0.96),
    "hiring_committee": (0.80, 7.0, 0.01, 0.90),
    "team_matching": (0.80, 28.0, 0.04, 1.0),
    "offer": (0.85, 6.0, 0.13, 1.0),
}
DEFAULT_STAGE_PARAMS = (0.5, 7.0, 0.03, 0.93)
STRENGTH_EFFECT = 0.8  # logit change per standard deviation of candidate strength
# Intercept shift so that the strength-selected survivors of earlier stages land near the targets above.
LATER_STAGE_SHIFT = -0.55

ROLE_WEIGHTS = {"software_engineer": 0.42, "ml_engineer": 0.28, "data_scientist": 0.18, "research_scientist": 0.12}
TEAMS = (
    "search", "ads_ranking", "recommendations", "ml_platform", "infrastructure", "payments",
    "growth", "ai_research", "trust_and_safety", "developer_tools", "mobile", "data_platform",
)  # fmt: skip
SOURCES = ("referral", "job_board", "recruiter_outreach", "university", "company_website", "agency")
SOURCE_WEIGHTS = (0.16, 0.40, 0.20, 0.10, 0.10, 0.04)
SOURCE_REVIEW_BONUS = np.array([0.8, -0.3, 1.0, -0.2, 0.0, 0.2])
LEVELS = ("L3", "L4", "L5", "L6")
LEVEL_WEIGHTS = (0.28, 0.36, 0.26, 0.10)
# (suffix, minutes east of UTC, weight); the empty suffix is a naive timestamp meaning UTC.
TZ_OFFSETS = (
    ("Z", 0, 0.30), ("+00:00", 0, 0.08), ("", 0, 0.10), ("-05:00", -300, 0.12), ("-04:00", -240, 0.06),
    ("-08:00", -480, 0.08), ("-07:00", -420, 0.04), ("+01:00", 60, 0.08), ("+02:00", 120, 0.06),
    ("+05:30", 330, 0.05), ("+09:00", 540, 0.03),
)  # fmt: skip
TRAVEL_TEXT = ("false", "true", "no", "yes", "0", "1")  # index = 2 * style + value
# recommendation shares (strong_yes, yes, no, strong_no, no_decision) by decision: passed, failed, withdrew
REC_TABLE = np.array(
    [
        [0.30, 0.50, 0.14, 0.02, 0.04],
        [0.03, 0.22, 0.50, 0.20, 0.05],
        [0.12, 0.38, 0.30, 0.08, 0.12],
    ]
)
REC_CUM = np.cumsum(REC_TABLE, axis=1)

STAGE_DIRTY_RATE = 0.010
INTERVIEW_DIRTY_RATE = 0.012
ID_MISSING_SHARE = 0.10
OVERLAP_SHARE = 0.03

BAD_TIMESTAMPS = ("2025-13-45", "not a date", "2024-02-30T10:00:00Z", "2025-06-31 25:61:00", "32/01/2025")
# Real timestamps outside the plausible range (default: 2000-01-01 to a day after ingestion): a placeholder date,
# Unix epoch zero, a typo'd century.
IMPLAUSIBLE_TIMESTAMPS = (
    datetime(9999, 12, 31, tzinfo=timezone.utc), datetime(1, 1, 1, tzinfo=timezone.utc),
    datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(2205, 3, 14, 9, 30, tzinfo=timezone.utc),
)
BAD_ROLES = ("ml_enginer", "product_manager", "recruiting_coordinator", "sofware_engineer")
BAD_STAGES = ("onsight", "phone_screen", "final_round", "tech_screen")
BAD_OUTCOMES = ("pased", "hired", "rejected", "on_hold")
BAD_SKILLS = ("codeing", "leadership", "culture_fit", "system_desing")
BAD_RECOMMENDATIONS = ("maybe", "lean_yes", "hire", "strong_maybe")
CONFLICT_OUTCOME = {"in_progress": "withdrew", "passed": "failed", "failed": "passed", "withdrew": "in_progress", "skipped": "passed"}
CONFLICT_RECOMMENDATION = {"strong_yes": "yes", "yes": "no", "no": "yes", "strong_no": "no", "no_decision": "yes"}

# Voluntary self-identification: the shares of each candidate's true categories (in the order of
# DEMOGRAPHIC_CATEGORIES), a candidate trait like strength and travel. Few, large groups: adverse_impact compares
# every group of 10+ applicants and 2%+ of the known ones with the best of them, so each small group is one more
# chance of a flag without a disparity; `another` and the three smallest races mostly stay under
# fairness.min_group_share (shown, not compared).
DEMOGRAPHIC_SHARES: dict[str, tuple[float, ...]] = {
    "sex": (0.30, 0.688, 0.012),  # female, male, another
    # hispanic_or_latino, white, black_or_african_american, asian, native_hawaiian_or_other_pacific_islander,
    # american_indian_or_alaska_native, two_or_more_races
    "race_ethnicity": (0.12, 0.37, 0.10, 0.38, 0.006, 0.008, 0.016),
    "veteran_status": (0.06, 0.94),  # protected_veteran, not_protected_veteran
    "disability_status": (0.08, 0.92),  # yes, no
}
# Response patterns (bands of one uniform per candidate): no response at all (no row), then a response
# declining everything, one declining only race/ethnicity, one declining only sex. Unknown sex and unknown
# race/ethnicity: 6% + 5.5% + 3.5% = 15% each.
NO_RESPONSE, DECLINE_ALL, DECLINE_RACE, DECLINE_SEX = 0.06, 0.115, 0.15, 0.185
VETERAN_UNKNOWN, DISABILITY_UNKNOWN = 0.10, 0.12  # of the other responses, left unanswered
ANSWER_TWICE = 0.04  # of the candidates with a response: a second, later one (which wins)
COLLECTED_AT_MISSING = 0.04  # rows without collected_at (never the later of two responses)
# The designed disparity: at DISPARITY_STAGE only, candidates of DISPARITY_GROUP (in DISPARITY_COLUMN, their
# true category, told or not) have their pass logit shifted: women pass the recruiter screen at about half the
# men's rate (0.29 against 0.55). Every other stage treats every group alike (women who got through are a
# little stronger, so they pass later stages slightly more often). The recruiter screen rather than a later
# stage: with ~2.5x the technical screen's applicants, adverse_impact over the demo (2,000 applications) flags
# it with p < 0.05 for at least one role with every seed tried (software_engineer: p = 0.0002 with seed 7).
DISPARITY_STAGE, DISPARITY_COLUMN, DISPARITY_GROUP, DISPARITY_SHIFT = "recruiter_screen", "sex", "female", -1.2
# How exports spell a category: as the ATS displays it (most), as the normalized key, upper-cased, padded.
DISPLAY = {
    "hispanic_or_latino": "Hispanic or Latino",
    "black_or_african_american": "Black or African American",
    "native_hawaiian_or_other_pacific_islander": "Native Hawaiian or Other Pacific Islander",
    "american_indian_or_alaska_native": "American Indian or Alaska Native",
    "two_or_more_races": "Two or More Races",
    "protected_veteran": "Protected Veteran",
    "not_protected_veteran": "Not Protected Veteran",
}
SPELLING_STYLES = (0.82, 0.08, 0.05, 0.05)  # display, key, UPPER, " padded "
# A declined or unanswered question (an empty value is written as null); all normalize into DEMOGRAPHIC_UNKNOWN.
UNKNOWN_SPELLINGS = ("Decline To Self Identify", "Decline to self-identify", "I don't wish to answer", "Unknown")
UNKNOWN_WEIGHTS = (0.35, 0.10, 0.25, 0.10, 0.20)  # the last: empty
BAD_CATEGORIES = (
    ("sex", "Mail"), ("race_ethnicity", "Caucasian"), ("veteran_status", "Veteran"),
    ("disability_status", "Prefer not to say"), ("race_ethnicity", "Other"), ("sex", "X"),
)  # fmt: skip
DEMOGRAPHIC_DIRTY_RATE = 0.010
# Hash salts of the demographic traits (added to seed * 7, like the other candidate traits' 2, 3 and 4).
DEMOGRAPHIC_SALT = 1 << 32

FEED_OF = {feed.name: feed for feed in (STAGE_OUTCOMES, INTERVIEWS, DEMOGRAPHICS)}
FORMAT_ROTATION = {
    STAGE_OUTCOMES.name: ("parquet", "csv", "jsonl"),
    INTERVIEWS.name: ("csv", "jsonl", "parquet"),
    DEMOGRAPHICS.name: ("jsonl", "parquet", "csv"),
}
DIRTY_KINDS = {name: feed.reasons for name, feed in FEED_OF.items()}
FEEDS_ID = {name: feed.id_column for name, feed in FEED_OF.items()}


@dataclass(frozen=True)
class GenerateSummary:
    applications: int
    stage_events: int  # rows written to stage_outcomes, dirty rows and export-overlap duplicates included
    interview_rows: int  # the same for interviews
    files: list[str]  # paths written, relative to the landing folder, '/'-separated
    dirty_stage_events: int = 0
    dirty_interview_rows: int = 0
    duplicate_rows: int = 0  # rows of the re-export files (exact copies of rows in another file), every feed
    ends_at: datetime | None = None  # the data's end (UTC): nothing is later
    demographic_rows: int = 0  # rows written to demographics, dirty rows and export-overlap duplicates included
    dirty_demographic_rows: int = 0


@dataclass(frozen=True)
class _Chunk:
    index: int
    label: str  # "2025/2025-01" or "2025/2025-01-part2"
    month: str  # "2025-01"
    t0: float  # arrival window, epoch seconds
    t1: float
    count: int
    offset: int  # global ordinal of the first application


class _Names:
    """The config flattened into index arrays for vectorised lookups."""

    def __init__(self, config: Config):
        self.stages = tuple(config.stages)
        self.roles = tuple(config.roles)
        roles = [config.roles[r] for r in self.roles]
        self.skills = tuple(config.skills)
        self.extra_skills = tuple(s for s in config.extra_skills if s in self.skills)
        n_roles, n_stages = len(roles), len(self.stages)
        self.width = max(len(r.pipeline) for r in roles)
        self.pipeline = np.full((n_roles, self.width), -1, dtype=np.int64)
        self.onsite_pos = np.full(n_roles, -1, dtype=np.int64)  # pipeline position of onsite
        self.screen_stage = np.full(n_roles, -1, dtype=np.int64)  # where extra screen rounds happen
        skill_lists = []
        for i, role in enumerate(roles):
            for k, stage in enumerate(role.pipeline):
                self.pipeline[i, k] = self.stages.index(stage)
            if "onsite" in role.pipeline:
                self.onsite_pos[i] = role.pipeline.index("onsite")
            for screen in ("technical_screen", "recruiter_screen"):
                if screen in role.pipeline:
                    self.screen_stage[i] = self.stages.index(screen)
                    break
            skills = role.onsite_skills or (self.skills if "onsite" in role.pipeline else ())
            skill_lists.append([self.skills.index(s) for s in skills])
        self.n_skills = np.array([len(s) for s in skill_lists], dtype=np.int64)
        self.role_skills = np.zeros((n_roles, max(1, int(self.n_skills.max()))), dtype=np.int64)
        for i, lst in enumerate(skill_lists):
            self.role_skills[i, : len(lst)] = lst
        self.can_fast_track = self.onsite_pos >= 2
        weights = np.array([ROLE_WEIGHTS.get(r, 0.15) for r in self.roles])
        self.role_p = weights / weights.sum()
        params = [STAGE_PARAMS.get(s, DEFAULT_STAGE_PARAMS) for s in self.stages]
        self.pass_rate = np.array([p[0] for p in params])
        self.mean_days = np.array([p[1] for p in params])
        self.withdraw_rate = np.array([p[2] for p in params])
        self.in_progress_share = np.array([p[3] for p in params])
        self.base_logit = np.log(self.pass_rate / (1 - self.pass_rate))
        self.later_shift = np.where(np.arange(n_stages) > 0, LATER_STAGE_SHIFT, 0.0)

        def idx(name: str) -> int:
            return self.stages.index(name) if name in self.stages else -2

        self.s_review, self.s_onsite = idx("application_review"), idx("onsite")
        self.s_technical, self.s_team, self.s_offer = idx("technical_screen"), idx("team_matching"), idx("offer")
        self.s_disparity = idx(DISPARITY_STAGE)
        self.teams = [[TEAMS[(3 * i + j) % len(TEAMS)] for j in range(4)] for i in range(n_roles)]
        self.team_names = tuple(dict.fromkeys(t for ts in self.teams for t in ts))
        self.role_teams = np.array([[self.team_names.index(t) for t in ts] for ts in self.teams], dtype=np.int64)
        self.bad_roles = _unknown(BAD_ROLES, self.roles)
        self.bad_stages = _unknown(BAD_STAGES, self.stages)
        self.bad_skills = _unknown(BAD_SKILLS, self.skills)
        # The fallback skill of a technical-screen interview.
        self.screen_skill = self.skills.index("coding") if "coding" in self.skills else 0


def _unknown(candidates: tuple[str, ...], known: tuple[str, ...]) -> tuple[str, ...]:
    left = tuple(c for c in candidates if c not in known)
    return left or ("zz_unknown",)


def _hash_unit(x: np.ndarray, salt: int) -> np.ndarray:
    """A deterministic uniform [0, 1) per integer (splitmix64): candidate traits that survive re-applications."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(salt & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _trait(candidate: np.ndarray, seed: int, column: str) -> np.ndarray:
    """Each candidate's true category in a demographic column: an index into DEMOGRAPHIC_CATEGORIES[column]."""
    k = list(DEMOGRAPHIC_SHARES).index(column)
    cum = np.cumsum(DEMOGRAPHIC_SHARES[column])
    u = _hash_unit(candidate, seed * 7 + DEMOGRAPHIC_SALT + k) * cum[-1]
    return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)


def _timeline(applications: int, seed: int) -> tuple[datetime, list[_Chunk]]:
    meta = np.random.default_rng([seed, 7919])
    end = datetime(2024, 9, 30, tzinfo=timezone.utc) + timedelta(days=int(meta.integers(0, 366)))
    start = end - timedelta(days=int(meta.integers(365, 549)))
    windows: list[tuple[datetime, datetime]] = []
    cursor = start
    while cursor < end:
        nxt = datetime(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1, tzinfo=timezone.utc)
        windows.append((cursor, min(nxt, end)))
        cursor = nxt
    span = (end - start).total_seconds()
    season = {1: 1.15, 2: 1.1, 3: 1.05, 8: 0.9, 9: 1.1, 12: 0.8}
    weights = np.array(
        [
            (b - a).total_seconds()
            * (1 + 0.4 * ((a - start).total_seconds() + (b - a).total_seconds() / 2) / span)
            * season.get(a.month, 1.0)
            for a, b in windows
        ]
    )
    counts = meta.multinomial(applications, weights / weights.sum())
    chunks: list[_Chunk] = []
    offset = 0
    for (a, b), count in zip(windows, counts.tolist()):
        parts = max(1, math.ceil(count / MAX_APPLICATIONS_PER_FILE))
        t0, t1 = a.timestamp(), b.timestamp()
        month = f"{a.year}-{a.month:02d}"
        for p in range(parts):
            n = count // parts + (1 if p < count % parts else 0)
            if n == 0:
                continue
            label = f"{a.year}/{month}" + (f"-part{p + 1}" if parts > 1 else "")
            lo, hi = t0 + (t1 - t0) * p / parts, t0 + (t1 - t0) * (p + 1) / parts
            chunks.append(_Chunk(len(chunks), label, month, lo, hi, n, offset))
            offset += n
    return end, chunks


class _Events:
    def __init__(self) -> None:
        self.app: list[np.ndarray] = []
        self.stage: list[np.ndarray] = []
        self.outcome: list[np.ndarray] = []
        self.time: list[np.ndarray] = []

    def add(self, app: np.ndarray, stage: np.ndarray | int, outcome: np.ndarray | int, time: np.ndarray) -> None:
        if len(app) == 0:
            return
        self.app.append(app)
        self.stage.append(np.broadcast_to(np.asarray(stage, dtype=np.int64), app.shape))
        self.outcome.append(np.broadcast_to(np.asarray(outcome, dtype=np.int64), app.shape))
        self.time.append(time)

    def arrays(self) -> tuple[np.ndarray, ...]:
        if not self.app:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, np.zeros(0)
        return tuple(np.concatenate(x) for x in (self.app, self.stage, self.outcome, self.time))


def _gamma_days(rng: np.random.Generator, mean: np.ndarray | float, n: int, shape: float = 2.0) -> np.ndarray:
    return rng.gamma(shape, 1.0, n) * (np.asarray(mean) / shape) * DAY


def _simulate(chunk: _Chunk, names: _Names, seed: int, end_s: float, candidate_offset: int) -> tuple[dict, dict, dict]:
    """One chunk of applications: (stage event arrays, interview arrays, the new candidates: their ordinal,
    first application's start and time zone)."""
    rng = np.random.default_rng([seed, chunk.index, 31337])
    n = chunk.count
    n_roles = len(names.roles)
    start = np.sort(rng.uniform(chunk.t0, chunk.t1, n))
    role = rng.choice(n_roles, n, p=names.role_p)

    # Candidates: ~5% apply twice, to another role at the same time or again months later.
    repeat = rng.random(n) < 0.048
    repeat[0] = False
    reapply = repeat & (rng.random(n) < 0.4) & (candidate_offset > 0)
    concurrent = repeat & ~reapply
    new = ~repeat
    new_pos = np.flatnonzero(new)
    candidate = np.empty(n, dtype=np.int64)
    candidate[new] = candidate_offset + np.arange(len(new_pos))
    before = np.cumsum(new)  # new applications at or before each index
    conc = np.flatnonzero(concurrent)
    ref = new_pos[np.minimum((rng.random(len(conc)) * before[conc]).astype(np.int64), before[conc] - 1)]
    candidate[conc] = candidate[ref]
    if n_roles > 1:
        role[conc] = (role[ref] + rng.integers(1, n_roles, len(conc))) % n_roles
    re = np.flatnonzero(reapply)
    candidate[re] = (rng.random(len(re)) * candidate_offset).astype(np.int64)

    travel = _hash_unit(candidate, seed * 7 + 2) < 0.30
    u1 = np.maximum(_hash_unit(candidate, seed * 7 + 3), 1e-12)
    u2 = _hash_unit(candidate, seed * 7 + 4)
    talent = np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)
    strength = 0.85 * talent + 0.53 * rng.standard_normal(n)  # role fit varies per application
    group = DEMOGRAPHIC_CATEGORIES[DISPARITY_COLUMN].index(DISPARITY_GROUP)
    disadvantaged = _trait(candidate, seed, DISPARITY_COLUMN) == group
    source = rng.choice(len(SOURCES), n, p=SOURCE_WEIGHTS)
    level = rng.choice(len(LEVELS), n, p=LEVEL_WEIGHTS)
    university = source == SOURCES.index("university")
    level[university] = np.where(rng.random(int(university.sum())) < 0.85, 0, 1)
    team = names.role_teams[role, rng.choice(4, n, p=(0.4, 0.3, 0.2, 0.1))]
    tz = rng.choice(len(TZ_OFFSETS), n, p=[w for _, _, w in TZ_OFFSETS])

    fast = (strength > 0.6) & ~travel & names.can_fast_track[role] & (rng.random(n) < 0.05)
    fast_explicit = rng.random(n) < 0.5
    extra_screen = (rng.random(n) < np.where(travel, 0.35, 0.08)) & (names.screen_stage[role] >= 0)

    ev = _Events()
    alive = np.ones(n, dtype=bool)
    t = start.copy()
    loop_time = np.full(n, np.nan)  # onsite loop day
    loop_outcome = np.zeros(n, dtype=np.int64)
    screen_time = np.full(n, np.nan)  # second screen round with an interviewer
    screen_outcome = np.zeros(n, dtype=np.int64)

    for k in range(names.width):
        stage_k = names.pipeline[role, k]
        active = alive & (stage_k >= 0)
        if not active.any():
            break
        skip = active & fast & (k >= 1) & (k < names.onsite_pos[role])
        shown = np.flatnonzero(skip & fast_explicit)
        ev.add(shown, stage_k[shown], SKIPPED, t[shown] + 60.0 * k)
        idx = np.flatnonzero(active & ~skip)
        m = len(idx)
        if m == 0:
            continue
        s = stage_k[idx]
        if k == 0:
            t_enter = start[idx]
        else:
            t_enter = t[idx] + 2 * HOUR + _gamma_days(rng, 2.0, m, 1.5)
        keep_ip = rng.random(m) < names.in_progress_share[s]
        ev.add(idx[keep_ip], s[keep_ip], IN_PROGRESS, t_enter[keep_ip])

        # The decision.
        trav = travel[idx]
        p_withdraw = names.withdraw_rate[s] + np.where(trav, 0.02, 0.0)
        logit = names.base_logit[s] + names.later_shift[s] + STRENGTH_EFFECT * strength[idx]
        logit = logit + np.where((s == names.s_disparity) & disadvantaged[idx], DISPARITY_SHIFT, 0.0)
        if k == 0:
            logit = logit + SOURCE_REVIEW_BONUS[source[idx]] - 0.25
        p_pass = 1 / (1 + np.exp(-logit))
        u = rng.random(m)
        out = np.where(u < p_withdraw, WITHDREW, np.where(rng.random(m) < p_pass, PASSED, FAILED))
        if k == 0:
            out = np.where(fast[idx], PASSED, out)
        dur = _gamma_days(rng, names.mean_days[s], m)
        dur = np.where(out == WITHDREW, dur * rng.uniform(0.2, 1.0, m), dur)

        # Team matching: most matched in 1-8 weeks, some wait for months, a few never matched or withdraw.
        tm = s == names.s_team
        if tm.any():
            v = rng.random(m)
            out = np.where(tm, np.select([v < 0.72, v < 0.88, v < 0.95], [PASSED, PASSED, FAILED], WITHDREW), out)
            tm_days = np.select(
                [v < 0.72, v < 0.88, v < 0.95],
                [rng.uniform(7, 56, m), rng.uniform(60, 300, m), rng.uniform(90, 200, m)],
                rng.uniform(14, 120, m),
            )
            dur = np.where(tm, tm_days * DAY, dur)
        # Offers: most accepted, some declined (withdrew), rarely rescinded (failed).
        of = s == names.s_offer
        if of.any():
            v = rng.random(m)
            out = np.where(of, np.select([v < 0.85, v < 0.98], [PASSED, WITHDREW], FAILED), out)

        # Onsite: the loop day, then the debrief; some withdraw before the loop.
        on = s == names.s_onsite
        if on.any():
            sched = _gamma_days(rng, 8.0, m)
            debrief = _gamma_days(rng, 3.0, m) + 0.5 * DAY
            before_loop = (out == WITHDREW) & (rng.random(m) < 0.5)
            dur = np.where(on, np.where(before_loop, sched * rng.uniform(0.2, 0.9, m), sched + debrief), dur)
            held = on & ~before_loop
            loop_time[idx[held]] = t_enter[held] + sched[held]
            loop_outcome[idx[held]] = out[held]

        # Extra screen round: another in_progress on the screen stage, and a longer stage.
        ex = extra_screen[idx] & (s == names.screen_stage[role[idx]]) & (out != WITHDREW)
        if ex.any():
            second = t_enter + dur
            extra = _gamma_days(rng, 5.0, m) + DAY
            ev.add(idx[ex], s[ex], IN_PROGRESS, second[ex])
            dur = np.where(ex, dur + extra, dur)
            logged = ex & (s == names.s_technical) & (rng.random(m) < 0.5)
            screen_time[idx[logged]] = second[logged] + rng.uniform(0.3, 0.9, m)[logged] * extra[logged]
            screen_outcome[idx[logged]] = out[logged]

        t_dec = t_enter + dur
        ev.add(idx, s, out, t_dec)
        # ~1% of failures are corrected to passed a few days later.
        corr = (out == FAILED) & ~tm & ~of & (rng.random(m) < 0.01)
        t_corr = t_dec + rng.uniform(1, 5, m) * DAY
        ev.add(idx[corr], s[corr], PASSED, t_corr[corr])
        out = np.where(corr, PASSED, out)
        t_dec = np.where(corr, t_corr, t_dec)
        t[idx] = t_dec
        alive[idx] = out == PASSED

    app, stage, outcome, time = ev.arrays()
    time = np.floor(time)
    keep = time <= end_s
    app, stage, outcome, time = app[keep], stage[keep], outcome[keep], time[keep]
    order = np.lexsort((np.arange(len(app)), time, app))
    app, stage, outcome, time = app[order], stage[order], outcome[order], time[order]
    seq = _sequence(app)
    r = len(app)
    events = {
        "app": app + chunk.offset,
        "seq": seq,
        "candidate": candidate[app],
        "role": role[app],
        "stage": stage,
        "outcome": outcome,
        "time": time.astype(np.int64),
        "tz": tz[app],
        "team": np.where(rng.random(r) < 0.02, -1, team[app]),
        "source": np.where(rng.random(r) < 0.03, -1, source[app]),
        "level": np.where(rng.random(r) < 0.02, -1, level[app]),
        "travel": travel[app],
        "travel_missing": rng.random(r) < 0.05,
        "travel_style": rng.choice(3, r, p=(0.6, 0.2, 0.2)),
        "id_missing": rng.random(r) < ID_MISSING_SHARE,
    }

    # Interviews: onsite loops of 4-5 interviewers (a few 3 or 6), and a few technical-screen rounds.
    loops = np.flatnonzero(~np.isnan(loop_time) & (names.n_skills[role] > 0))
    size = rng.choice(np.array([3, 4, 5, 6]), len(loops), p=(0.04, 0.47, 0.43, 0.06))
    i_app = np.repeat(loops, size)
    starts = np.cumsum(size) - size
    j = np.arange(len(i_app)) - np.repeat(starts, size)
    n_sk = names.n_skills[role[i_app]]
    rot = rng.integers(0, 1 << 20, len(loops))
    skill = names.role_skills[role[i_app], (j + np.repeat(rot, size)) % n_sk]
    odd = np.repeat(rng.random(len(loops)) < 0.08, size) & (j == 0)  # a skill missing: doubled, or an extra skill
    doubled = names.role_skills[role[i_app], (j + np.repeat(rot, size) + 1) % n_sk]
    if names.extra_skills:
        extra_idx = names.skills.index(names.extra_skills[0])
        skill = np.where(odd, np.where(rng.random(len(i_app)) < 0.4, extra_idx, doubled), skill)
    else:
        skill = np.where(odd, doubled, skill)
    i_time = loop_time[i_app] + j * HOUR + rng.uniform(0, 15 * 60, len(i_app))
    i_outcome = loop_outcome[i_app]
    i_stage = np.full(len(i_app), names.s_onsite)
    screens = np.flatnonzero(~np.isnan(screen_time))
    if len(screens) and names.skills:
        i_app = np.concatenate([i_app, screens])
        j = np.concatenate([j, np.zeros(len(screens), dtype=np.int64)])
        skill = np.concatenate([skill, np.full(len(screens), names.screen_skill)])
        i_time = np.concatenate([i_time, screen_time[screens]])
        i_outcome = np.concatenate([i_outcome, screen_outcome[screens]])
        i_stage = np.concatenate([i_stage, np.full(len(screens), names.s_technical)])
    pool = 150 + (chunk.offset + n) // 400
    base = rng.integers(0, pool, n)
    interviewer = (base[i_app] + j * 7 + np.where(i_stage == names.s_onsite, 0, 3)) % pool
    category = np.select([i_outcome == PASSED, i_outcome == FAILED], [0, 1], 2)
    rec = (rng.random(len(i_app))[:, None] > REC_CUM[category][:, :-1]).sum(axis=1)
    i_time = np.floor(i_time)
    keep = i_time <= end_s
    order = np.lexsort((j[keep], i_time[keep], i_app[keep]))
    sel = np.flatnonzero(keep)[order]
    i_app = i_app[sel]
    interviews = {
        "app": i_app + chunk.offset,
        "seq": _sequence(i_app),
        "stage": i_stage[sel],
        "interviewer": interviewer[sel],
        "skill": skill[sel],
        "rec": rec[sel],
        "time": i_time[sel].astype(np.int64),
        "tz": tz[i_app],
        "id_missing": rng.random(len(i_app)) < ID_MISSING_SHARE,
    }
    newcomers = {"candidate": candidate[new_pos], "time": start[new_pos], "tz": tz[new_pos]}
    return events, interviews, newcomers


def _sequence(sorted_keys: np.ndarray) -> np.ndarray:
    """Position of each row within its run of equal (sorted) keys."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    starts = np.flatnonzero(first)
    run = np.cumsum(first) - 1
    return np.arange(len(sorted_keys)) - starts[run]


def _pad(values: np.ndarray, width: int) -> pl.Expr:
    return pl.lit(pl.Series(values)).cast(pl.String).str.zfill(width)


def _timestamps(time: np.ndarray, tz: np.ndarray, fmt: str) -> pl.Series:
    if fmt == "parquet":
        return pl.from_epoch(pl.Series("occurred_at", time), time_unit="s").dt.replace_time_zone("UTC")
    minutes = np.array([m for _, m, _ in TZ_OFFSETS], dtype=np.int64)
    local = pl.from_epoch(pl.Series(time + minutes[tz] * 60), time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S")
    suffix = pl.Series([s for s, _, _ in TZ_OFFSETS]).gather(tz)
    return (local + suffix).alias("occurred_at")


def _vocab(values: tuple[str, ...] | list[str], codes: np.ndarray) -> pl.Series:
    """values[code], null where code is -1."""
    series = pl.Series(list(values), dtype=pl.String).gather(np.maximum(codes, 0))
    return series.scatter(np.flatnonzero(codes < 0), None) if (codes < 0).any() else series


def _stage_frame(ev: dict, names: _Names, fmt: str) -> pl.DataFrame:
    app_id = _pad(ev["app"] + 1, 8)
    df = pl.select(
        event_id=pl.when(pl.lit(pl.Series(ev["id_missing"])))
        .then(None)
        .otherwise(pl.format("ev-{}-{}", app_id, _pad(ev["seq"], 2))),
        application_id=pl.format("app-{}", app_id),
        candidate_id=pl.format("cand-{}", _pad(ev["candidate"] + 1, 7)),
        role=pl.lit(_vocab(names.roles, ev["role"])),
        stage=pl.lit(_vocab(names.stages, ev["stage"])),
        outcome=pl.lit(_vocab(OUTCOMES, ev["outcome"])),
        occurred_at=pl.lit(_timestamps(ev["time"], ev["tz"], fmt)),
        team=pl.lit(_vocab(names.team_names, ev["team"])),
        source=pl.lit(_vocab(SOURCES, ev["source"])),
        level=pl.lit(_vocab(LEVELS, ev["level"])),
    )
    travel = ev["travel"].astype(np.int64)
    if fmt == "csv":
        codes = np.where(ev["travel_missing"], -1, 2 * ev["travel_style"] + travel)
        flag = _vocab(TRAVEL_TEXT, codes)
    else:
        flag = pl.Series(ev["travel"]).scatter(np.flatnonzero(ev["travel_missing"]), None)
    return df.with_columns(requires_travel=pl.lit(flag)).select(STAGE_OUTCOMES.columns)


def _interview_frame(iv: dict, names: _Names, fmt: str) -> pl.DataFrame:
    app_id = _pad(iv["app"] + 1, 8)
    return pl.select(
        interview_id=pl.when(pl.lit(pl.Series(iv["id_missing"])))
        .then(None)
        .otherwise(pl.format("iv-{}-{}", app_id, _pad(iv["seq"], 2))),
        application_id=pl.format("app-{}", app_id),
        stage=pl.lit(_vocab(names.stages, iv["stage"])),
        interviewer_id=pl.format("emp-{}", _pad(iv["interviewer"] + 1, 5)),
        skill=pl.lit(_vocab(names.skills, iv["skill"])),
        recommendation=pl.lit(_vocab(RECOMMENDATIONS, iv["rec"])),
        occurred_at=pl.lit(_timestamps(iv["time"], iv["tz"], fmt)),
    ).select(INTERVIEWS.columns)


def _responses(newcomers: dict, seed: int, chunk: _Chunk, end_s: float) -> dict:
    """The self-identification rows of a chunk's new candidates: most respond when they first apply, a few
    respond again later (the later response wins), some never do (no row). Categories are codes into
    DEMOGRAPHIC_CATEGORIES, -1 where the question was declined or left empty."""
    rng = np.random.default_rng([seed, chunk.index, 5150])  # a stream of its own: the other feeds stay as they were
    cand = newcomers["candidate"]
    n = len(cand)
    salt = seed * 7 + DEMOGRAPHIC_SALT
    u = _hash_unit(cand, salt + 10)
    answered, declined = u >= NO_RESPONSE, u < DECLINE_ALL
    known = {
        "sex": ~declined & ~((u >= DECLINE_RACE) & (u < DECLINE_SEX)),
        "race_ethnicity": ~declined & ~((u >= DECLINE_ALL) & (u < DECLINE_RACE)),
        "veteran_status": ~declined & (_hash_unit(cand, salt + 11) >= VETERAN_UNKNOWN),
        "disability_status": ~declined & (_hash_unit(cand, salt + 12) >= DISABILITY_UNKNOWN),
    }
    truth = {column: _trait(cand, seed, column) for column in DEMOGRAPHIC_SHARES}
    final = {column: np.where(known[column], truth[column], -1) for column in truth}
    # The earlier of two responses: one declining everything or naming another race/ethnicity, then the full
    # answer; or the full answer, then one declining some of it.
    complete = np.logical_and.reduce(list(known.values()))
    earlier_declined = rng.random(n) < 0.5
    n_race = len(DEMOGRAPHIC_CATEGORIES["race_ethnicity"])
    other_race = (truth["race_ethnicity"] + rng.integers(1, n_race, n)) % n_race
    earlier = {column: np.where(complete & earlier_declined, -1, truth[column]) for column in truth}
    earlier["race_ethnicity"] = np.where(complete & ~earlier_declined, other_race, earlier["race_ethnicity"])
    # Collected a few minutes after the first application; the second response days or weeks later.
    first = np.minimum(newcomers["time"] + rng.uniform(60, 1800, n), end_s)
    room = end_s - first
    twice = answered & (_hash_unit(cand, salt + 13) < ANSWER_TWICE) & (room > 2 * HOUR)
    second = first + np.minimum(_gamma_days(rng, 21.0, n), room * rng.uniform(0.3, 0.95, n))
    once, both = np.flatnonzero(answered & ~twice), np.flatnonzero(twice)
    who = np.concatenate([once, both, both])
    time = np.floor(np.concatenate([first[once], first[both], second[both]]))
    later = np.concatenate([np.zeros(len(once) + len(both), dtype=bool), np.ones(len(both), dtype=bool)])
    order = np.lexsort((np.arange(len(who)), time))
    who, time, later = who[order], time[order], later[order]
    r = len(who)
    rows = {
        "candidate": cand[who],
        "time": time.astype(np.int64),
        "tz": newcomers["tz"][who],
        # Never the later of two responses: a response without collected_at counts as the earliest.
        "time_missing": ~later & (rng.random(r) < COLLECTED_AT_MISSING),
        "style": rng.choice(len(SPELLING_STYLES), r, p=SPELLING_STYLES),  # one spelling style per response
        "unknown": rng.choice(len(UNKNOWN_WEIGHTS), r, p=UNKNOWN_WEIGHTS),
    }
    for column in truth:
        rows[column] = np.where(later | ~twice[who], final[column][who], earlier[column][who])
    return rows


def _spellings(column: str) -> tuple[str, ...]:
    """Every way a value of the column is written: each category in each SPELLING_STYLES style, then the
    UNKNOWN_SPELLINGS."""
    out = []
    for key in DEMOGRAPHIC_CATEGORIES[column]:
        display = DISPLAY.get(key, key.capitalize())
        out += [display, key, display.upper(), f" {display} "]
    return (*out, *UNKNOWN_SPELLINGS)


def _demographic_frame(rows: dict, names: _Names, fmt: str) -> pl.DataFrame:
    styles, spelled = len(SPELLING_STYLES), len(UNKNOWN_SPELLINGS)
    collected = _timestamps(rows["time"], rows["tz"], fmt).alias("collected_at")
    if rows["time_missing"].any():
        collected = collected.scatter(np.flatnonzero(rows["time_missing"]), None)
    values = {}
    for column, categories in DEMOGRAPHIC_CATEGORIES.items():
        unknown = np.where(rows["unknown"] < spelled, len(categories) * styles + rows["unknown"], -1)
        codes = np.where(rows[column] >= 0, rows[column] * styles + rows["style"], unknown)
        values[column] = pl.lit(_vocab(_spellings(column), codes))
    return pl.select(
        candidate_id=pl.format("cand-{}", _pad(rows["candidate"] + 1, 7)),
        **values,
        collected_at=pl.lit(collected),
    ).select(DEMOGRAPHICS.columns)


class _DirtyPlanner:
    """How many dirty rows each chunk gets (error diffusion of the rate) and of which kind (least used so far)."""

    def __init__(self, feed: str, rate: float):
        self.kinds = DIRTY_KINDS[feed]
        self.rate = rate
        self.carry = 0.0
        self.used = dict.fromkeys(self.kinds, 0)

    def plan(self, rows: int, fmt: str, can_conflict: bool) -> list[str]:
        exact = self.carry + self.rate * rows
        count = int(exact) if rows else 0
        self.carry = exact - count
        allowed = [k for k in self.kinds if not (k == "bad_timestamp" and fmt == "parquet")]
        if not can_conflict:
            allowed.remove("conflicting_duplicate")
        chosen = []
        for _ in range(count):
            kind = min(allowed, key=lambda k: self.used[k])
            self.used[kind] += 1
            chosen.append(kind)
        return chosen


def _normalized(value: pl.Expr) -> pl.Expr:
    """A demographic value as ingestion normalizes it: trimmed, lower-cased, runs of spaces, hyphens and
    punctuation as one `_`."""
    return value.str.strip_chars().str.to_lowercase().str.replace_all(r"[\s\W_]+", "_").str.strip_chars("_")


def _conflict_sources(df: pl.DataFrame, feed: str) -> np.ndarray:
    """The rows a conflicting duplicate can repeat: those with an id; in demographics (no id column: a
    record is its candidate and collected_at), those with a collected_at."""
    return df[FEEDS_ID[feed] or FEED_OF[feed].timestamp_column].is_not_null().to_numpy()


def _add_dirty(df: pl.DataFrame, feed: str, kinds: list[str], rng: np.random.Generator, names: _Names, fmt: str) -> pl.DataFrame:
    """df plus one corrupted copy of a random row per kind, each right after its source row; adds `_dirty`."""
    id_col, ts = FEEDS_ID[feed], FEED_OF[feed].timestamp_column
    df = df.with_columns(_pos=pl.lit(pl.Series(np.arange(df.height, dtype=np.float64))), _dirty=pl.lit(False))
    if not kinds:
        return df
    kind = np.array(kinds)
    has_id = np.flatnonzero(_conflict_sources(df, feed))
    src = rng.integers(0, df.height, len(kind))
    conflict = kind == "conflicting_duplicate"
    src[conflict] = has_id[rng.integers(0, len(has_id), int(conflict.sum()))]
    pick = rng.integers(0, 1 << 30, len(kind))
    variant = rng.random(len(kind)) < 0.5
    d = df[src].with_columns(_kind=pl.lit(pl.Series(kind)), _pos=pl.lit(pl.Series(src + 0.5)), _dirty=pl.lit(True))

    def bad(values: tuple[str, ...]) -> pl.Expr:
        return pl.lit(pl.Series([values[p % len(values)] for p in pick], dtype=pl.String))

    k = pl.col("_kind")
    missing_a = (k == "missing_required") & pl.lit(pl.Series(variant))
    missing_b = (k == "missing_required") & ~pl.lit(pl.Series(variant))
    if feed == DEMOGRAPHICS.name:  # no id column: a record is its candidate_id and collected_at
        updates = {"candidate_id": pl.when(k == "missing_required").then(None).otherwise(pl.col("candidate_id"))}
    else:
        updates = {
            id_col: pl.when(k == "conflicting_duplicate").then(pl.col(id_col)).otherwise(None),
            "application_id": pl.when(missing_a).then(None).otherwise(pl.col("application_id")),
            "stage": pl.when(k == "unknown_stage").then(bad(names.bad_stages)).otherwise(pl.col("stage")),
        }
    implausible = [IMPLAUSIBLE_TIMESTAMPS[p % len(IMPLAUSIBLE_TIMESTAMPS)] for p in pick]
    if fmt == "parquet":
        typed = pl.lit(pl.Series(implausible, dtype=pl.Datetime("us", "UTC")))
        updates[ts] = pl.when(k == "implausible_timestamp").then(typed).otherwise(pl.col(ts))
    else:
        text = pl.lit(pl.Series([t.isoformat().replace("+00:00", "Z") for t in implausible], dtype=pl.String))
        updates[ts] = (
            pl.when(k == "bad_timestamp").then(bad(BAD_TIMESTAMPS))
            .when(k == "implausible_timestamp").then(text)
            .otherwise(pl.col(ts))
        )
    if feed == DEMOGRAPHICS.name:
        bad_column = pl.lit(pl.Series([BAD_CATEGORIES[p % len(BAD_CATEGORIES)][0] for p in pick], dtype=pl.String))
        bad_value = pl.lit(pl.Series([BAD_CATEGORIES[p % len(BAD_CATEGORIES)][1] for p in pick], dtype=pl.String))
        for column in DEMOGRAPHIC_CATEGORIES:
            updates[column] = pl.when((k == "unknown_category") & (bad_column == column)).then(bad_value)
            if column == "sex":  # the same candidate and collected_at with another sex (male <-> female)
                other = pl.when(_normalized(pl.col("sex")) == "male").then(pl.lit("Female")).otherwise(pl.lit("Male"))
                updates[column] = updates[column].when(k == "conflicting_duplicate").then(other)
            updates[column] = updates[column].otherwise(pl.col(column))
    elif feed == STAGE_OUTCOMES.name:
        updates["role"] = pl.when(k == "unknown_role").then(bad(names.bad_roles)).otherwise(pl.col("role"))
        updates["outcome"] = (
            pl.when(missing_b)
            .then(None)
            .when(k == "unknown_outcome")
            .then(bad(BAD_OUTCOMES))
            .when(k == "conflicting_duplicate")
            .then(pl.col("outcome").replace_strict(CONFLICT_OUTCOME, default=pl.col("outcome")))
            .otherwise(pl.col("outcome"))
        )
    else:
        updates["skill"] = pl.when(k == "unknown_skill").then(bad(names.bad_skills)).otherwise(pl.col("skill"))
        updates["recommendation"] = (
            pl.when(missing_b)
            .then(None)
            .when(k == "unknown_recommendation")
            .then(bad(BAD_RECOMMENDATIONS))
            .when(k == "conflicting_duplicate")
            .then(pl.col("recommendation").replace_strict(CONFLICT_RECOMMENDATION, default=pl.col("recommendation")))
            .otherwise(pl.col("recommendation"))
        )
    d = d.with_columns(**updates).drop("_kind")
    return pl.concat([df, d]).sort("_pos", maintain_order=True)



def _rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")


def _write(df: pl.DataFrame, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        df.write_csv(path)
    elif fmt == "jsonl":
        df.write_ndjson(path)
    else:
        df.write_parquet(path, compression="zstd", statistics=True)


def generate(
    landing: Path,
    applications: int,
    seed: int,
    config: Config,
    progress: Callable[[str], None] | None = None,
) -> GenerateSummary:
    """Write synthetic stage_outcomes, interviews and demographics files for `applications` applications
    under `landing`."""
    if applications < 0:
        raise ValueError("applications must not be negative")
    say = progress or (lambda _line: None)
    landing = Path(landing)
    seed = int(seed) & 0xFFFFFFFF_FFFFFFFF  # numpy seeds must not be negative
    names = _Names(config)
    end, chunks = _timeline(applications, seed)
    end_s = end.timestamp()
    say(f"generating {applications:,} applications up to {end:%Y-%m-%d} in {len(chunks)} monthly files per feed")
    for feed in FEED_OF:
        (landing / feed).mkdir(parents=True, exist_ok=True)
    overlap_chunk = min(1, len(chunks) - 1)
    planners = {
        STAGE_OUTCOMES.name: _DirtyPlanner(STAGE_OUTCOMES.name, STAGE_DIRTY_RATE),
        INTERVIEWS.name: _DirtyPlanner(INTERVIEWS.name, INTERVIEW_DIRTY_RATE),
        DEMOGRAPHICS.name: _DirtyPlanner(DEMOGRAPHICS.name, DEMOGRAPHIC_DIRTY_RATE),
    }
    totals = dict.fromkeys(FEED_OF, 0)
    dirty = dict.fromkeys(totals, 0)
    duplicates = 0
    files: list[str] = []
    candidates = 0
    for chunk in chunks:
        events, interviews, newcomers = _simulate(chunk, names, seed, end_s, candidates)
        candidates += len(newcomers["candidate"])
        responses = _responses(newcomers, seed, chunk, end_s)
        rng = np.random.default_rng([seed, chunk.index, 4242])
        for feed, arrays, build, dirty_rng in (
            (STAGE_OUTCOMES.name, events, _stage_frame, rng),
            (INTERVIEWS.name, interviews, _interview_frame, rng),
            (DEMOGRAPHICS.name, responses, _demographic_frame, np.random.default_rng([seed, chunk.index, 4243])),
        ):
            fmt = FORMAT_ROTATION[feed][chunk.index % 3]
            df = build(arrays, names, fmt)
            if df.height == 0:
                continue
            kinds = planners[feed].plan(df.height, fmt, bool(_conflict_sources(df, feed).any()))
            df = _add_dirty(df, feed, kinds, dirty_rng, names, fmt)
            rel = f"{feed}/{chunk.label}.{fmt}"
            _write(df.drop("_pos", "_dirty"), landing / rel, fmt)
            files.append(rel)
            totals[feed] += df.height
            dirty[feed] += len(kinds)
            say(f"wrote {rel} ({_rows(df.height)})")
            if chunk.index == overlap_chunk:
                clean = df.filter(~pl.col("_dirty")).drop("_pos", "_dirty")
                overlap = clean.tail(max(1, round(clean.height * OVERLAP_SHARE)))
                rel = f"{feed}/reexports/{chunk.month}.{fmt}"
                _write(overlap, landing / rel, fmt)
                files.append(rel)
                totals[feed] += overlap.height
                duplicates += overlap.height
                say(f"wrote {rel} ({_rows(overlap.height)}, repeating rows of {feed}/{chunk.label}.{fmt})")
    return GenerateSummary(
        applications=applications,
        stage_events=totals[STAGE_OUTCOMES.name],
        interview_rows=totals[INTERVIEWS.name],
        files=files,
        dirty_stage_events=dirty[STAGE_OUTCOMES.name],
        dirty_interview_rows=dirty[INTERVIEWS.name],
        duplicate_rows=duplicates,
        ends_at=end,
        demographic_rows=totals[DEMOGRAPHICS.name],
        dirty_demographic_rows=dirty[DEMOGRAPHICS.name],
    )

