"""Applicant tracking systems' tables, as their connectors sync them, read into the contract's feeds.

    landing/greenhouse/   Greenhouse tables (Fivetran)      funnel/sources/greenhouse.py
    landing/lever/        Lever tables (Fivetran)           funnel/sources/lever.py
    landing/ashby/        Ashby tables (Airbyte)            funnel/sources/ashby.py

Each folder holds one file per table named after it (`application_history.csv`) or one folder per
table holding many files (`application_history/part-0001.parquet`). `sources:` in funnel.yaml maps
each ATS's jobs, stages, interview names and reasons to the configuration (mapping.py). A run
derives stage events and interviews of the contract's shape from the tables in DuckDB (and
self-identification responses, when the ATS's EEO answers are synced) and hands them to the same
ingestion as the contract files (runner.py). See docs/sources.md.

An ATS module (funnel/sources/<ats>.py) provides:

    REQUIRED_TABLES: dict[str, tuple[str, ...]]   table -> the columns a derivation cannot do without
    OPTIONAL_TABLES: dict[str, tuple[str, ...]]   table -> columns; an absent table is created empty
    OPTIONAL_COLUMNS: dict[str, tuple[str, ...]]  columns of required tables that may be absent (added as NULL)
    TABLE_ALIASES: dict[str, str]                 (optional) another name a connector syncs a table under
    derive(conn, mapping, config) -> dict[str, int]
    inventory(conn, mapping) -> list[dict]

`derive` reads the temporary tables `ats_<table>` (every column VARCHAR under its lower-cased name,
plus `__file_index` INTEGER and `__line` BIGINT: the row's table file and line) and creates three
temporary tables, and optionally a fourth:

    derived_stage_events (event_id, application_id, candidate_id, role, stage, outcome, occurred_at,
                          team, source, level, requires_travel, __file_index, __line, __seq, __context)
    derived_interviews   (interview_id, application_id, stage, interviewer_id, skill, recommendation,
                          occurred_at, __file_index, __line, __seq, __context)
    excluded_rows        (__file_index, __line, rule)
    derived_demographics (candidate_id, sex, race_ethnicity, veteran_status, disability_status,
                          collected_at, __file_index, __line, __seq, __context)      optional

`derived_demographics` holds self-identification responses (an EEO table's rows) for the
demographics feed, ingested like a contract demographics file's rows: the categories as text a
contract file could hold (the ATS's own wording mapped to the contract's categories in SQL, an
unknown spelling such as "I don't wish to answer" left as it is; a wording without a mapping is
passed through as sent, so ingestion quarantines it as unknown_category and names it), candidate_id
the candidate after merges, collected_at ISO-8601 text. A module that creates no such table derives
no responses, and nothing about demographics changes for its ATS. `__context` names where a response
comes from (the table and the application), never a category: it is appended to quarantine details.
The runner records counts of responses only, never their values (docs/privacy.md).

Event columns are text exactly as a contract file would hold them (occurred_at ISO-8601; without an
offset it is UTC). A mapped job, stage or interview name becomes the role, stage or skill key; an
unmapped one stays the ATS's own text, so ingestion quarantines the event (unknown_role,
unknown_stage, unknown_skill), and `__context` names the ATS value and the job for the detail.
`__file_index, __line` is the table row an event comes from and `__seq` (0 to 3) tells apart the
events one row derives (a response is `__seq` 0). `excluded_rows` lists the rows a rule leaves out
(a prospect, a deleted row, a lead), once per rule. `derive` returns notes for the asset's metadata ({"derived without
history": 12}).

`inventory` lists what the tables hold, for `funnel sources suggest` and `funnel validate`: one dict
per job (kind "job": job_id, job_name, applications), per stage name of a job (kind "stage": job_id,
job_name, name, applications reaching it), per interview name (kind "interview": name, interviews)
and per archive/rejection reason (kind "reason": name, applications).
"""

ATS_NAMES = ("greenhouse", "lever", "ashby")
