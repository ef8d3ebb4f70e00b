"""Landing files to typed, deduplicated records in DuckDB.

A run reads only files whose content it has not ingested before (by sha256; renaming or touching a
file changes nothing), and loads their rows into a batch table normalized and checked, file by
file. Once every file is loaded, the few rows whose id was read before (in the batch or by an
earlier one) are settled: each row ends accepted, an exact duplicate of a record already kept
(dropped and counted), or quarantined with the first reason code that applies. Nothing is ever
deleted: a rerun over the same landing folder adds nothing.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Callable

import duckdb
import polars as pl

from funnel.config import Config
from funnel.contract import (
    BOOLEAN_FALSE,
    BOOLEAN_TRUE,
    DEMOGRAPHIC_CATEGORIES,
    DEMOGRAPHIC_UNKNOWN,
    FORMATS,
    OUTCOMES,
    RECOMMENDATIONS,
    Feed,
)
from funnel.warehouse import limit_memory

Progress = Callable[[str], None]

RECORD_TABLES = {
    "stage_outcomes": "stage_outcome_records",
    "interviews": "interview_records",
    "demographics": "demographic_records",
}
# Enumerated keys are compared case-insensitively; identifiers are kept exactly as sent (trimmed).
KEY_COLUMNS = {"role", "stage", "outcome", "skill", "recommendation"}
BOOLEAN_COLUMNS = {"requires_travel"}
# Self-identification categories: lower-cased, every run of whitespace, hyphens and punctuation one '_',
# no '_' at either end ("Black or African American" -> black_or_african_american, "I don't wish to
# answer" -> i_don_t_wish_to_answer). \pZ: Unicode spaces (a no-break space); \pP: Unicode punctuation
# (Excel's curly apostrophe); [:punct:]: ASCII punctuation and symbols (/, +, |, ...).
CATEGORY_SEPARATORS = r"[\s\pZ\pP[:punct:]]+"
HASH_CHUNK = 1 << 20
SNIFF_BYTES = 1 << 16
DECODE_CHUNK = 1 << 22  # bytes decoded at a time when a file is not read as UTF-8 straight from disk
HEADER_BYTES = 1 << 20  # at most this much of a CSV's first line is looked at for its separator
# What landing_files.encoding records for the codecs auto-detection reads with (otherwise Python's
# canonical codec name): a UTF-8 byte order mark is a signature, not another encoding.
ENCODING_NAMES = {"utf-8-sig": "utf-8", "cp1252": "windows-1252"}
# The CSV separators detected from the header line, in order of preference when two are as frequent.
SEPARATORS = (",", ";", "\t")


class FileProblem(Exception):
    """A whole file cannot be ingested; it is left in place and recorded with this reason (and the
    text encoding it was decoded with, when reading got that far)."""

    def __init__(self, message: str, encoding: str | None = None):
        super().__init__(message)
        self.encoding = encoding


@dataclass
class FileResult:
    feed: str
    path: str
    status: str  # ingested | already_ingested | unchanged | rejected
    problem: str | None = None
    warning: str | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    encoding: str | None = None  # CSV and JSON Lines: the text encoding read (see ENCODING_NAMES)


@dataclass
class FeedResult:
    feed: str
    files: list[FileResult] = field(default_factory=list)
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)


# ---------------------------------------------------------------------------------------------
# Finding and reading files


def discover(feed_dir: Path) -> list[tuple[str, Path]]:
    """Every file under the feed folder, any depth, in lexicographic order of its relative path.

    Hidden files (a leading dot, e.g. .DS_Store or an editor's swap file) are not exports and are skipped.
    """
    if not feed_dir.is_dir():
        return []
    found = []
    for path in feed_dir.rglob("*"):
        rel = path.relative_to(feed_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        found.append((rel.as_posix(), path))
    return sorted(found)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text, the way it would read in a CSV: timestamps as ISO-8601 in UTC."""
    columns = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            # Parquet timestamps are taken as typed: zone-aware ones are converted to UTC, naive ones are UTC.
            if dtype.time_zone is not None:
                col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            col = col.dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
        elif dtype == pl.Boolean:
            col = col.cast(pl.String).str.to_lowercase()
        elif isinstance(dtype, (pl.List, pl.Struct, pl.Array)):
            col = pl.struct(col).struct.json_encode().str.slice(len(name) + 4).str.head(-1)
        else:
            col = col.cast(pl.String)
        columns.append(col.alias(name))
    return frame.select(columns)


def _json_keys(path: Path) -> list[str]:
    """Every key of a JSON Lines file, in order of first appearance."""
    keys: dict[str, None] = {}
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise FileProblem(f"cannot be read as JSON Lines: line {number}: {getattr(exc, 'msg', exc)}") from None
            if not isinstance(record, dict):
                raise FileProblem(f"cannot be read as JSON Lines: line {number} is not a JSON object")
            keys.update(dict.fromkeys(record))
    return list(keys)


def _separator(header: bytes) -> str:
    """The CSV separator: whichever of comma, semicolon (European Excel) and tab the header line holds
    most outside quotes; on a tie the first in SEPARATORS, so comma when it holds none of them."""
    # A quoted name may hold any of them ("" inside quotes pairs off): only what lies outside counts.
    outside = re.sub(rb'"[^"]*"', b"", header)
    return max(SEPARATORS, key=lambda sep: outside.count(sep.encode()))


def _read_csv(path: Path) -> pl.DataFrame:
    """A UTF-8 CSV, every value as text, split by the separator its header line uses."""
    with path.open("rb") as fh:
        header = fh.readline(HEADER_BYTES)
    return pl.read_csv(path, infer_schema=False, encoding="utf8", separator=_separator(header))


def _regex_literal(text: str) -> str:
    """`text` as a literal in a (Rust) regular expression: anything but ASCII letters and digits escaped."""
    return "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):X}}}" for c in text)


def _uniform_jsonl_keys(path: Path) -> list[str] | None:
    """The keys of a JSON Lines file whose every non-blank line is an object with the keys of the first
    line, in the same order, and only strings, booleans and nulls as values; None for any other file.

    Such a file reads the same with every key as text as with the types polars infers from every line
    (a key is text, boolean or null; booleans read as text are 'true' and 'false'), and reading it so
    skips the inference pass over the whole file, which is most of the time polars takes to read it."""
    with path.open("rb") as fh:  # lines end at LF only, as polars reads them
        first = next((line for line in fh if line.strip(b" \t\r\n")), None)
    if first is None:
        return None
    pairs = json.loads(first.decode("utf-8"), object_pairs_hook=list)
    keys = [key for key, _ in pairs] if isinstance(pairs, list) else []
    if not keys or len(set(keys)) != len(keys):
        return None
    ws = "[ \\t\\r]*"  # JSON whitespace (a line holds no newline)
    value = '(?:"[^"\\\\]*(?:\\\\.[^"\\\\]*)*"|true|false|null)'  # a string, a boolean or null
    members = f"{ws},{ws}".join(
        f"{_regex_literal(json.dumps(key, ensure_ascii=False))}{ws}:{ws}{value}" for key in keys)
    line = pl.col("line")
    blank = line.is_null() | (line.str.strip_chars(" \t\r") == "")
    # Every line as one text value (no field separator or quote in JSON text), checked as it streams by.
    uniform = pl.scan_csv(path, has_header=False, separator="\x00", quote_char=None, new_columns=["line"],
                          infer_schema=False, encoding="utf8").select(
        (blank | line.str.contains(f"^{ws}\\{{{ws}{members}{ws}\\}}{ws}$")).all()
    ).collect(engine="streaming").item()
    return keys if uniform else None


def _read_jsonl(path: Path) -> pl.DataFrame:
    """A UTF-8 JSON Lines file, every value as text."""
    try:
        keys = _uniform_jsonl_keys(path)
    except Exception:
        keys = None  # whatever it is, the reading below tells
    if keys is not None:
        try:
            return pl.read_ndjson(path, schema=dict.fromkeys(keys, pl.String))
        except Exception:
            pass
    try:
        frame = pl.read_ndjson(path, infer_schema_length=None)
    except Exception:
        # A key whose values have no common type (true in one row, 1 in another): every key as text.
        frame = pl.read_ndjson(path, schema=dict.fromkeys(_json_keys(path), pl.String))
    return as_text(frame)


def _unreadable(fmt: str, exc: Exception, encoding: str | None = None) -> FileProblem:
    """The FileProblem for a reader's failure: polars raises many kinds; the message is what the user needs."""
    if isinstance(exc, FileProblem):
        exc.encoding = encoding
        return exc
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return FileProblem(f"cannot be read as {fmt.upper() if fmt != 'jsonl' else 'JSON Lines'}: {message}", encoding)


class _Undecodable(Exception):
    """A file's bytes are not text in an encoding: the message says where (line, byte offset) and why.
    `text_before` is (line, character) of the first non-ASCII character decoded before that, if any."""

    def __init__(self, where: str, text_before: tuple[int, str] | None = None):
        super().__init__(where)
        self.text_before = text_before


def _first_non_ascii(text: str, newlines: int) -> tuple[int, str] | None:
    """(line, character) of the first non-ASCII character of `text`, which starts after `newlines` lines."""
    if text.isascii():  # O(1) on a str
        return None
    at = re.search(r"[^\x00-\x7f]", text).start()
    return newlines + text.count("\n", 0, at) + 1, text[at]


def _transcode(path: Path, encoding: str, out: IO[bytes] | None = None) -> None:
    """Decode the file with `encoding` chunk by chunk (memory stays flat however large the file),
    writing the text as UTF-8 to `out` when given. Raises _Undecodable at the first bad byte."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = newlines = 0
    text_before = None
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(DECODE_CHUNK)
            state = decoder.getstate()
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                raise _where(exc, encoding, state, offset, newlines, text_before) from None
            if out is not None:
                out.write(text.encode("utf-8"))
            text_before = text_before or _first_non_ascii(text, newlines)
            newlines += text.count("\n")
            offset += len(chunk)
            if not chunk:
                return


def _where(exc: UnicodeDecodeError, encoding: str, state: tuple[bytes, int], offset: int, newlines: int,
           text_before: tuple[int, str] | None) -> _Undecodable:
    """'line N, byte offset B: byte 0x.., why' for a decoding error in the chunk read at byte `offset`,
    after `newlines` decoded newlines. The decoder saw the bytes it held back (`state`), then the chunk."""
    pending, flag = state
    try:
        # The text before it in this chunk: lines counted in text, where a newline is one whatever the
        # encoding (not so in UTF-16 bytes).
        before = codecs.getincrementaldecoder(encoding)()
        before.setstate((b"", flag))
        prefix = before.decode(exc.object[: exc.start])
        text_before = text_before or _first_non_ascii(prefix, newlines)
        newlines += prefix.count("\n")
    except Exception:
        newlines += exc.object[: exc.start].count(b"\n")
    bad = exc.object[exc.start : min(exc.end, exc.start + 4)]
    what = ("byte " if len(bad) == 1 else "bytes ") + " ".join(f"0x{b:02X}" for b in bad)
    # Single-byte codecs say "character maps to <undefined>" for a byte they leave undefined.
    why = exc.reason
    if why == "character maps to <undefined>":
        why = f"undefined in {ENCODING_NAMES.get(encoding, encoding)}"
    at = offset - len(pending) + exc.start
    return _Undecodable(f"line {newlines + 1}, byte offset {at}: {what}, {why}", text_before)


def _decoded(path: Path, encoding: str, fmt: str) -> tuple[pl.DataFrame, str]:
    """A file in another encoding than plain UTF-8: polars reads only UTF-8, so it reads a UTF-8 copy,
    made in a temporary file (on disk, not in memory) with the same lines. Raises _Undecodable."""
    read = _read_csv if fmt == "csv" else _read_jsonl
    name = ENCODING_NAMES.get(encoding, encoding)
    with tempfile.NamedTemporaryFile(suffix=path.suffix) as copy:
        _transcode(path, encoding, copy)
        copy.flush()
        try:
            return read(Path(copy.name)), name
        except Exception as exc:
            raise _unreadable(fmt, exc, name) from None


def _read_utf8(path: Path, fmt: str, head: bytes) -> tuple[pl.DataFrame, str]:
    """A UTF-8 file, read by polars straight from the file (no copy). Raises _Undecodable if it is not UTF-8."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)  # not final: the head may end inside a character
    except UnicodeDecodeError:
        _transcode(path, "utf-8")  # a bad byte near the top (the usual case): polars need not read it all to fail
    if head.startswith(codecs.BOM_UTF8) and fmt == "jsonl":
        # polars' JSON reader does not skip a byte order mark (its CSV reader does)
        return _decoded(path, "utf-8-sig", fmt)
    try:
        frame = _read_csv(path) if fmt == "csv" else _read_jsonl(path)
    except Exception as exc:
        _transcode(path, "utf-8")  # not UTF-8 (the likeliest reason): then another encoding may read it
        raise _unreadable(fmt, exc, "utf-8") from None
    if any("\ufffd" in name for name in frame.columns):
        _transcode(path, "utf-8")  # polars fails on invalid UTF-8, except in the header: there it puts U+FFFD
    return frame, "utf-8"


def _read_text(path: Path, fmt: str, head: bytes, encoding: str | None) -> tuple[pl.DataFrame, str]:
    """A CSV or JSON Lines file's rows and the encoding they were decoded with: `encoding` (funnel.yaml's)
    when set, else UTF-8 (with or without a byte order mark), else Windows-1252 (Excel on Windows).
    A file in none of them is rejected naming the first bad byte, never decoded into something else."""
    bom = head.startswith(codecs.BOM_UTF8)
    if encoding is not None and ENCODING_NAMES.get(encoding, encoding) != "utf-8":
        if bom:
            raise FileProblem(
                f"starts with a UTF-8 byte order mark, so it is UTF-8, but funnel.yaml sets encoding: {encoding}; "
                "remove encoding: to detect each file's encoding"
            )
        try:
            return _decoded(path, encoding, fmt)
        except _Undecodable as failure:
            raise FileProblem(f"not valid {encoding}, the encoding funnel.yaml sets: {failure}") from None
    try:
        return _read_utf8(path, fmt, head)
    except _Undecodable as failure:
        not_utf8 = failure
    if encoding is not None:
        raise FileProblem(f"not valid UTF-8, the encoding funnel.yaml sets: {not_utf8}")
    if bom:
        raise FileProblem(f"starts with a UTF-8 byte order mark but is not valid UTF-8: {not_utf8}")
    if not_utf8.text_before:
        # UTF-8 text, then bytes that are not (rows appended in another encoding, a cut file): read as
        # Windows-1252, its UTF-8 text would turn into mojibake ('é' into 'Ã©').
        line, char = not_utf8.text_before
        raise FileProblem(
            f"mixed encodings: UTF-8 text ({char!r} on line {line}), then bytes that are not UTF-8 ({not_utf8}); "
            "save the file in one encoding (if it is all Windows-1252, set encoding: windows-1252 in funnel.yaml)"
        )
    try:
        return _decoded(path, "cp1252", fmt)
    except _Undecodable as not_cp1252:
        raise FileProblem(
            f"neither UTF-8 ({not_utf8}) nor Windows-1252 ({not_cp1252}); "
            "if it is in another encoding, set encoding: in funnel.yaml"
        ) from None


def read_table(path: Path, encoding: str | None = None) -> tuple[pl.DataFrame, pl.Series, str | None]:
    """Any table file's rows, every column as text under its name trimmed and lower-cased; the line of
    each row (CSV: the line in the file; JSON Lines: the record's position counting non-blank lines;
    Parquet: the row number, from 1); and the text encoding it was read with (None for Parquet).
    `encoding` (a Python codec name) forces one; None detects it. Raises FileProblem when the file
    cannot be read at all."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise FileProblem(
            f"unsupported file type {path.suffix or '(no extension)'!r}; expected one of {', '.join(sorted(FORMATS))}"
        )
    if path.stat().st_size == 0:
        raise FileProblem("empty file")
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if fmt == "parquet" and not head.startswith(b"PAR1"):
        raise FileProblem("not a Parquet file (no PAR1 magic bytes)")
    if fmt != "parquet":
        if encoding is None and head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise FileProblem("UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8, "
                              "or set encoding: utf-16 in funnel.yaml")
        try:
            # In the text, not the bytes: UTF-16 text is full of NUL bytes.
            binary = b"\x00" in head if encoding is None else "\x00" in head.decode(encoding, "replace")
        except LookupError:  # a codec Python has that is not a text encoding (base64, rot13, ...)
            raise FileProblem(f"encoding: {encoding} in funnel.yaml is not a text encoding") from None
        if binary:
            raise FileProblem(f"binary content (NUL bytes), not a {'CSV' if fmt == 'csv' else 'JSON Lines'} text file")
    used = None
    try:
        if fmt == "parquet":
            frame = as_text(pl.read_parquet(path))
            first_line = 1
        else:
            frame, used = _read_text(path, fmt, head, encoding)
            first_line = 2 if fmt == "csv" else 1  # CSV: line 1 is the header
    except FileProblem:
        raise
    except Exception as exc:
        raise _unreadable(fmt, exc) from None
    lines = pl.int_range(first_line, first_line + frame.height, dtype=pl.Int64, eager=True)
    if fmt == "csv":
        # polars reads a blank line as a row of nulls: it is not a row. Line numbers stay those of the file.
        keep = ~frame.select(pl.all_horizontal(pl.all().is_null())).to_series()
        frame, lines = frame.filter(keep), lines.filter(keep)
    if frame.height == 0:
        raise FileProblem("empty: no data rows", used)
    columns = [c.strip().lower() for c in frame.columns]
    if len(set(columns)) != len(columns):
        raise FileProblem(f"duplicate column names in header: {', '.join(frame.columns)}", used)
    return frame.rename(dict(zip(frame.columns, columns))), lines, used


def read_landing_file(path: Path, feed: Feed, encoding: str | None = None) -> tuple[pl.DataFrame, str | None]:
    """A feed's file: its rows as text in the feed's columns, with `__line` (see read_table) and `__raw`
    (the row's original values: a struct of every column of the file, in file order); and the text
    encoding it was read with. Raises FileProblem when the file cannot be ingested at all."""
    frame, lines, used = read_table(path, encoding)
    missing = [c for c in feed.required if c not in frame.columns]
    if missing:
        raise FileProblem(f"missing required column(s): {', '.join(missing)}", used)
    return frame.select(
        pl.lit(lines).alias("__line"),
        pl.struct(frame.columns).alias("__raw"),
        *[(pl.col(c) if c in frame.columns else pl.lit(None, dtype=pl.String)).alias(c) for c in feed.columns],
    ), used


def _keep_raw_values(conn: duckdb.DuckDBPyConnection, order: int, frame: pl.DataFrame, records_held: bool) -> None:
    """Into `batch_raw`, the raw values (JSON) of the rows of the part just loaded at `order` that may end
    quarantined: the invalid ones, and the valid ones whose id may have been read before (twice in the
    part, in a part loaded before, or by an earlier batch when `records_held`: then `batch_held` holds
    the hashes of the records' ids). Ids are compared by their 64-bit hash, so a few more rows are kept.
    classify_batch quarantines no other row, and only these (about 1%) are encoded, while the part's
    frame is at hand: no copy of every row's raw values is kept."""
    held = """
        UNION ALL
        SELECT __line FROM part WHERE reason IS NULL AND __id_hash IN (SELECT __id_hash FROM batch_held)"""
    lines = conn.sql(
        f"""
        WITH part AS MATERIALIZED (SELECT __line, reason, record_id, __id_hash FROM batch_rows WHERE __file_order = $1)
        SELECT __line FROM part
        WHERE reason IS NOT NULL
           OR __id_hash IN (SELECT __id_hash FROM part WHERE reason IS NULL GROUP BY ALL HAVING count(*) > 1)
        UNION ALL
        SELECT __line FROM part
        WHERE reason IS NULL
            AND __id_hash IN (SELECT __id_hash FROM batch_rows WHERE __file_order <> $1 AND reason IS NULL)
        {held if records_held else ''}
        """,
        params=[order],
    ).pl()
    if lines.is_empty():
        return
    lines = lines.select(pl.col("__line").cast(frame.schema["__line"])).unique()
    raw = frame.join(lines, on="__line", how="semi").select(
        pl.lit(order, dtype=pl.Int32).alias("__file_order"), "__line", pl.col("__raw").struct.json_encode()
    )
    conn.register("part_raw", raw)
    conn.execute("INSERT INTO batch_raw SELECT * FROM part_raw")
    conn.unregister("part_raw")


# ---------------------------------------------------------------------------------------------
# Classifying a batch in SQL


def _sql_list(values) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _category(text: str) -> str:
    """SQL for a self-identification value normalized: NULL when empty (or only separators)."""
    return f"nullif(trim(regexp_replace(lower({text}), '{CATEGORY_SEPARATORS}', '_', 'g'), '_'), '')"


def _landing_sql(feed: Feed) -> str:
    """The rows of `landing_frame` and, for each self-identification column, its value normalized
    (`__<column>_category`, see _category): the regular expression runs once per distinct value (a
    few spellings), not once per row."""
    categories = [col for col in feed.columns if col in DEMOGRAPHIC_CATEGORIES]
    if not categories:
        return "landing_frame"
    joins = "".join(
        f"""
            LEFT JOIN (
                SELECT __text, {_category('__text')} AS __category
                FROM (SELECT DISTINCT nullif(trim({col}), '') AS __text FROM landing_frame)
            ) AS __{col} ON __{col}.__text = nullif(trim(f.{col}), '')"""
        for col in categories
    )
    selected = ", ".join(f"__{col}.__category AS __{col}_category" for col in categories)
    return f"(SELECT f.*, {selected} FROM landing_frame AS f {joins})"


def _normalized(feed: Feed) -> str:
    """The feed's columns normalized, from the columns of _landing_sql."""
    exprs = []
    for col in feed.columns:
        text = f"nullif(trim({col}), '')"
        if col in DEMOGRAPHIC_CATEGORIES:
            # The unknown spellings (declined, not asked) are unknown, as an empty value is: NULL.
            category = f"__{col}_category"
            exprs.append(f"CASE WHEN {category} NOT IN ({_sql_list(DEMOGRAPHIC_UNKNOWN)}) THEN {category} END AS {col}")
            exprs.append(f"{text} AS __{col}_text")
        elif col in KEY_COLUMNS:
            exprs.append(f"lower({text}) AS {col}")
        elif col in BOOLEAN_COLUMNS:
            exprs.append(
                f"CASE WHEN lower({text}) IN ({_sql_list(BOOLEAN_TRUE)}) THEN true "
                f"WHEN lower({text}) IN ({_sql_list(BOOLEAN_FALSE)}) THEN false END AS {col}"
            )
            exprs.append(f"{text} AS __{col}_text")
        elif col == feed.timestamp_column:
            # Only text starting with a digit: DuckDB also casts 'infinity', '-infinity' and 'epoch'.
            exprs.append(
                f"try_cast(CASE WHEN {text} GLOB '[0-9]*' THEN {text} END AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS {col}"
            )
            exprs.append(f"{text} AS __{col}_text")
        else:
            exprs.append(f"{text} AS {col}")
    return ",\n        ".join(exprs)


def _allowed_values(feed: Feed, config: Config) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Column -> (reason code, accepted values), in reason-code order."""
    if feed.name == "stage_outcomes":
        return {
            "role": ("unknown_role", tuple(config.roles)),
            "stage": ("unknown_stage", config.stages),
            "outcome": ("unknown_outcome", OUTCOMES),
        }
    if feed.name == "demographics":
        return {col: ("unknown_category", values) for col, values in DEMOGRAPHIC_CATEGORIES.items()}
    return {
        "stage": ("unknown_stage", config.stages),
        "skill": ("unknown_skill", config.skills),
        "recommendation": ("unknown_recommendation", RECOMMENDATIONS),
    }


def _quote(expr: str) -> str:
    return f"'''' || {expr} || ''''"


def plausible_range(config: Config, now: datetime) -> tuple[datetime, datetime]:
    """(latest, earliest) occurred_at accepted at ingestion time `now` (naive UTC)."""
    return now + timedelta(days=config.future_tolerance_days), config.earliest_timestamp


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _reason_sql(feed: Feed, config: Config, now: datetime) -> tuple[str, str]:
    """CASE expressions for the first reason code that applies to a row (checked at ingestion time
    `now`), and its detail text. The feed's timestamp column may be optional (demographics' collected_at):
    empty, it is NULL and no reason; sent but unreadable, it is a bad_timestamp either way."""
    ts = feed.timestamp_column
    missing = " OR ".join(f"{c} IS NULL AND __{c}_text IS NULL" if c == ts else f"{c} IS NULL" for c in feed.required)
    missing_detail = (
        "'missing ' || concat_ws(', ', "
        + ", ".join(
            f"CASE WHEN {c} IS NULL{' AND __' + c + '_text IS NULL' if c == ts else ''} THEN '{c}' END"
            for c in feed.required
        )
        + ")"
    )
    reasons = [("missing_required", missing, missing_detail)]
    reasons.append(
        ("bad_timestamp", f"{ts} IS NULL AND __{ts}_text IS NOT NULL",
         f"'{ts} ' || {_quote(f'__{ts}_text')} || ' is not an ISO-8601 timestamp'")
    )
    # A date like 9999-12-31 would become the dataset's as-of time and stall every team match.
    latest, earliest = plausible_range(config, now)
    reasons.append(
        ("implausible_timestamp",
         f"{ts} > TIMESTAMP '{latest.isoformat()}' OR {ts} < TIMESTAMP '{earliest.isoformat()}'",
         f"'{ts} ' || {_quote(f'__{ts}_text')} || CASE WHEN {ts} > TIMESTAMP '{latest.isoformat()}' "
         f"THEN ' is later than the time of ingestion plus future_tolerance_days ({_iso(latest)})' "
         f"ELSE ' is earlier than earliest_timestamp ({_iso(earliest)})' END")
    )
    for col, (code, allowed) in _allowed_values(feed, config).items():
        listed = ", ".join(allowed).replace(chr(39), chr(39) * 2)
        if col in DEMOGRAPHIC_CATEGORIES:
            # The value as sent, and what it normalized to: the reason it is no category is often there.
            text = (f"'{col} ' || {_quote(f'__{col}_text')} || ' (normalized: ' || {_quote(col)} || ') is not one of: "
                    f"{listed}; nor unknown: {', '.join(DEMOGRAPHIC_UNKNOWN)} or empty'")
        else:
            text = f"'{col} ' || {_quote(col)} || ' is not one of: {listed}'"
        reasons.append((code, f"{col} NOT IN ({_sql_list(allowed)})", text))
    reason = "CASE " + " ".join(f"WHEN {cond} THEN '{code}'" for code, cond, _ in reasons) + " END"
    detail = "CASE " + " ".join(f"WHEN {cond} THEN {text}" for _, cond, text in reasons) + " END"
    return reason, detail


def _identity_sql(feed: Feed) -> tuple[str, str]:
    """The record id (the given id, else a hash of the normalized identity columns: by default the
    required fields plus team) and a hash of all normalized content, which tells an exact duplicate
    from a conflicting one. A NULL field is hashed as empty text."""

    def field_text(col: str) -> str:
        if col == feed.timestamp_column:
            return f"coalesce(strftime({col}, '%Y-%m-%dT%H:%M:%S.%fZ'), '')"
        if col in BOOLEAN_COLUMNS:
            return f"coalesce(CAST({col} AS VARCHAR), '')"
        return f"coalesce({col}, '')"

    id_fields = feed.identity_columns or (*feed.required, *(["team"] if "team" in feed.optional else []))
    hashed = f"sha256(concat_ws(chr(31), {', '.join(field_text(c) for c in id_fields)}))"
    record_id = f"coalesce({feed.id_column}, {hashed})" if feed.id_column else hashed
    content = f"sha256(concat_ws(chr(31), {', '.join(field_text(c) for c in (*feed.required, *feed.optional))}))"
    return record_id, content


def _file_name(order: str) -> str:
    """SQL for the relative path of the file at reading position `order`; the parameter is the list
    of the batch's files in reading order (DuckDB lists count from 1)."""
    return f"list_extract(?, {order} + 1)"


def _rows_sql(feed: Feed, config: Config, now: datetime) -> str:
    """Every row of `landing_frame` (one file's text columns) normalized and checked, for `batch_rows`:
    an invalid row is quarantined with its first reason code; a valid one gets its record id and is
    accepted until classify_batch finds its id read before. The parameter is the file's position in
    reading order. The content hash is computed only where needed (classify_batch, _store_batch): in
    the batch, 64 hex digits a row made loading it twice as slow."""
    reason, detail = _reason_sql(feed, config, now)
    record_id, _ = _identity_sql(feed)
    # Texts as sent, needed for details only (requires_travel's stays: it names the unreadable value in a warning).
    excluded = ["__context", *([feed.id_column] if feed.id_column else [])]
    excluded += [f"__{c}_text" for c in (feed.timestamp_column, *DEMOGRAPHIC_CATEGORIES) if c in feed.columns]
    sent_id = feed.id_column or "NULL::VARCHAR"
    # In line order: the batch then holds its rows in reading order, and storing them keeps it without a sort.
    return f"""
        WITH normalized AS (
            SELECT __line, __context,
                {_normalized(feed)}
            FROM {_landing_sql(feed)}
        ),
        checked AS (
            -- __context: where a derived row came from (an ATS table's job and stage), for the detail
            SELECT *, {reason} AS reason, {detail} || coalesce(' (' || __context || ')', '') AS detail FROM normalized
        )
        SELECT ?::INTEGER AS __file_order, * EXCLUDE ({', '.join(excluded)}),
            -- an invalid row keeps only the id it was sent with: a hash of invalid fields means nothing
            CASE WHEN reason IS NULL THEN {record_id} ELSE {sent_id} END AS record_id,
            CASE WHEN reason IS NULL THEN 'accepted' ELSE 'quarantined' END AS status,
            -- ids read more than once are looked for among these 64-bit hashes first
            hash(record_id) AS __id_hash
        FROM checked
        ORDER BY __line
        """


def classify_batch(conn: duckdb.DuckDBPyConnection, feed: Feed, file_names: list[str],
                   records_held: bool = True) -> None:
    """Settle the valid rows of `batch_rows` whose id was read before: more than once in the batch
    (the first read is accepted) or by an earlier batch (looked for only when `records_held`: the
    feed's records table is not empty). The same content again is a duplicate, different content is
    quarantined. Then every quarantined row gets its raw values as read."""
    record_table = RECORD_TABLES[feed.name]
    held = f"""
                UNION
                SELECT record_id FROM {record_table}
                WHERE record_id IN (SELECT record_id FROM batch_rows WHERE reason IS NULL)"""
    # Only the rows of those ids (a few in a thousand) are ranked, by narrow columns: ranking every row
    # of a large batch with all its columns is what made ingestion slow and memory-hungry. The ids read
    # twice are among those whose 64-bit hash is: grouping these is much faster than grouping the ids.
    conn.execute(
        f"""
        UPDATE batch_rows AS b SET status = d.status, reason = d.reason, detail = d.detail
        FROM (
            WITH read_before AS (
                SELECT record_id FROM batch_rows
                WHERE reason IS NULL AND __id_hash IN (
                    SELECT __id_hash FROM batch_rows WHERE reason IS NULL GROUP BY ALL HAVING count(*) > 1)
                GROUP BY record_id HAVING count(*) > 1
                {held if records_held else ''}
            ),
            ranked AS (
                SELECT __file_order, __line, record_id, content_hash,
                    row_number() OVER w AS nth_in_batch,
                    first_value(content_hash) OVER w AS first_hash,
                    first_value(__file_order) OVER w AS first_file_order,
                    first_value(__line) OVER w AS first_line
                FROM (
                    SELECT __file_order, __line, record_id, {_identity_sql(feed)[1]} AS content_hash FROM batch_rows
                    WHERE reason IS NULL AND record_id IN (SELECT record_id FROM read_before)
                )
                WINDOW w AS (PARTITION BY record_id ORDER BY __file_order, __line)
            )
            SELECT r.__file_order, r.__line,
                CASE
                    WHEN kept.record_id IS NOT NULL AND kept.content_hash = r.content_hash THEN 'duplicate'
                    WHEN kept.record_id IS NOT NULL THEN 'quarantined'
                    WHEN nth_in_batch = 1 THEN 'accepted'
                    WHEN r.content_hash = first_hash THEN 'duplicate'
                    ELSE 'quarantined'
                END AS status,
                CASE WHEN (kept.record_id IS NOT NULL AND kept.content_hash <> r.content_hash)
                          OR (kept.record_id IS NULL AND nth_in_batch > 1 AND r.content_hash <> first_hash)
                     THEN 'conflicting_duplicate' END AS reason,
                CASE WHEN kept.record_id IS NOT NULL AND kept.content_hash <> r.content_hash
                     THEN 'id ' || {_quote('r.record_id')} || ' was already ingested with different content (from '
                          || kept.source_file || ' line ' || kept.source_line || ')'
                     WHEN kept.record_id IS NULL AND nth_in_batch > 1 AND r.content_hash <> first_hash
                     THEN 'id ' || {_quote('r.record_id')} || ' was read first with different content ('
                          || {_file_name('first_file_order')} || ' line ' || first_line || ')' END AS detail
            FROM ranked r
            LEFT JOIN {record_table} kept ON kept.record_id = r.record_id
        ) AS d
        WHERE b.__file_order = d.__file_order AND b.__line = d.__line AND d.status <> 'accepted'
        """,
        [file_names],
    )
    _quarantine_raw_values(conn, feed)


def _quarantine_raw_values(conn: duckdb.DuckDBPyConnection, feed: Feed) -> None:
    """The raw values (JSON, kept in `batch_raw` as the parts were loaded) of the quarantined rows.

    A quarantined row already in quarantine (the same raw values for the same reason, e.g. an
    overwritten export read again) is a duplicate, not a second quarantined row. Only the
    quarantined rows (about 1%) are hashed and compared."""
    conn.execute("ALTER TABLE batch_rows ADD COLUMN __raw VARCHAR")
    conn.execute("ALTER TABLE batch_rows ADD COLUMN raw_hash VARCHAR")
    conn.execute(
        f"""
        UPDATE batch_rows AS b
        SET __raw = q.__raw, raw_hash = sha256('{feed.name}' || chr(31) || b.reason || chr(31) || q.__raw)
        FROM batch_raw q
        WHERE b.__file_order = q.__file_order AND b.__line = q.__line AND b.status = 'quarantined'
        """
    )
    missing = conn.execute(
        "SELECT count(*) FROM batch_rows WHERE status = 'quarantined' AND __raw IS NULL").fetchall()[0][0]
    if missing:  # _keep_raw_values keeps every row classify_batch may quarantine: this is a bug, not bad data
        raise RuntimeError(f"{feed.name}: {missing} quarantined row(s) without their raw values")
    conn.execute(
        f"""
        UPDATE batch_rows AS b SET status = 'duplicate'
        FROM (
            SELECT __file_order, __line
            FROM (
                SELECT __file_order, __line, raw_hash,
                    row_number() OVER (PARTITION BY raw_hash ORDER BY __file_order, __line) AS nth
                FROM batch_rows WHERE status = 'quarantined'
            )
            WHERE nth > 1 OR raw_hash IN (SELECT raw_hash FROM quarantined_rows WHERE feed = '{feed.name}')
        ) AS again
        WHERE b.__file_order = again.__file_order AND b.__line = again.__line
        """
    )


def _count_batch(conn: duckdb.DuckDBPyConnection, feed: Feed, loaded: dict[int, FileResult], result: FeedResult) -> None:
    """Each file's rows accepted, duplicate and quarantined, its warning, and the quarantine's reasons."""
    for order, status, n in conn.execute("SELECT __file_order, status, count(*) FROM batch_rows GROUP BY ALL").fetchall():
        setattr(loaded[order], {"accepted": "rows_accepted", "duplicate": "rows_duplicate",
                                "quarantined": "rows_quarantined"}[status], n)
    if "requires_travel" in feed.columns:
        for order, n, line, value in conn.execute(
            "SELECT __file_order, count(*), min(__line), arg_min(__requires_travel_text, __line) FROM batch_rows "
            "WHERE status = 'accepted' AND requires_travel IS NULL AND __requires_travel_text IS NOT NULL GROUP BY ALL"
        ).fetchall():
            loaded[order].warning = (
                f"{n} row(s) with an unreadable requires_travel, kept as unknown (first: line {line}, {value!r})"
            )
    result.quarantined_by_reason = dict(
        conn.execute(
            "SELECT reason, count(*) FROM batch_rows WHERE status = 'quarantined' GROUP BY reason ORDER BY reason"
        ).fetchall()
    )


def _store_batch(conn: duckdb.DuckDBPyConnection, feed: Feed, batch_id: str, now: datetime, file_names: list[str]) -> None:
    record_table = RECORD_TABLES[feed.name]
    columns = [c for c in feed.columns if c != feed.id_column]
    # No ORDER BY: the batch is in reading order already, and sorting 10M records takes nearly as long as storing
    # them. DuckDB keeps a table's order through a filter and a projection (preserve_insertion_order).
    conn.execute(
        f"""
        INSERT INTO {record_table} (record_id, {', '.join(columns)}, content_hash, source_file, source_line, batch_id, ingested_at)
        SELECT record_id, {', '.join(columns)}, {_identity_sql(feed)[1]}, {_file_name('__file_order')}, __line, ?, ?
        FROM batch_rows WHERE status = 'accepted'
        """,
        [file_names, batch_id, now],
    )
    conn.execute(
        f"""
        INSERT INTO quarantined_rows
        SELECT ?, {_file_name('__file_order')}, __line, reason, detail, record_id, __raw, raw_hash, ?, ?
        FROM batch_rows WHERE status = 'quarantined'
        """,
        [feed.name, file_names, batch_id, now],
    )


# ---------------------------------------------------------------------------------------------
# One feed, end to end


def _known_files(conn: duckdb.DuckDBPyConnection, feed: str) -> tuple[dict, dict, set]:
    """(path -> (size, mtime, hash) of its latest version, hash ingested -> its encoding, (path, hash) pairs seen)."""
    rows = conn.execute(
        "SELECT path, size_bytes, modified_at, content_hash, status, encoding FROM landing_files WHERE feed = ?"
        " ORDER BY processed_at",
        [feed],
    ).fetchall()
    latest = {path: (size, mtime, digest) for path, size, mtime, digest, _, _ in rows}
    ingested = {digest: encoding for _, _, _, digest, status, encoding in rows
                if status in ("ingested", "already_ingested")}
    seen = {(path, digest) for path, _, _, digest, _, _ in rows}
    return latest, ingested, seen


def _mtime(path: Path) -> tuple[int, datetime]:
    st = path.stat()
    return st.st_size, datetime.fromtimestamp(st.st_mtime, tz=timezone.utc).replace(tzinfo=None)


def already_held(conn: duckdb.DuckDBPyConnection, feed: str, files: list[tuple[str, Path]]) -> set[str]:
    """The relative paths among `files` that a run would not read, because the working database holds
    their content: the same path with the same content (rejected files too), or the same content under
    another name. Files untouched since they were hashed are not read; a vanished one is not held."""
    latest, ingested_hashes, seen = _known_files(conn, feed)
    held = set()
    for rel, path in files:
        try:
            size, mtime = _mtime(path)
            known = latest.get(rel)
            digest = known[2] if known and known[:2] == (size, mtime) else file_sha256(path)
        except OSError:
            continue
        if (rel, digest) in seen or digest in ingested_hashes:
            held.add(rel)
    return held


def ingest_feed(
    conn: duckdb.DuckDBPyConnection,
    feed_dir: Path,
    feed: Feed,
    config: Config,
    batch_id: str,
    progress: Progress | None = None,
) -> FeedResult:
    """Ingest every new or changed file under the feed folder."""
    return ingest_files(conn, discover(feed_dir), feed, config, batch_id, progress)


class Batch:
    """One feed's rows on their way in: loaded into a temporary `batch_rows` part by part (a landing
    file, or the rows derived from an ATS table), then settled, counted and stored. Used as a context
    manager: the temporary table and the connection's settings are cleaned up however it ends.

    The batch is loaded and classified outside any transaction, each statement committed on its own:
    rows a transaction adds to a temporary table stay in memory whatever the limit (3.5 GB for 10M
    events under a 1 GiB limit). Meanwhile no automatic checkpoint: it would compress the batch,
    dropped soon after, adding about half to the loading time."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, feed: Feed, config: Config,
                 now: datetime | None = None) -> None:
        self.conn, self.feed = conn, feed
        self.now = now or datetime.now(timezone.utc).replace(tzinfo=None)
        self.orders: set[int] = set()
        self._settings = conn.execute(
            "SELECT current_setting('memory_limit'), current_setting('checkpoint_threshold')"
        ).fetchone()
        # A large batch would otherwise take DuckDB's default budget (80% of RAM); capped, DuckDB spills
        # to its temp directory instead.
        limit_memory(conn)
        conn.execute("SET checkpoint_threshold = '1TB'")
        self.rows_sql = _rows_sql(feed, config, self.now)
        # Whether an id read now may have been ingested before: not on a first run, so no need to look.
        self.records_held = conn.execute(f"SELECT EXISTS (FROM {RECORD_TABLES[feed.name]})").fetchall()[0][0]
        # The batch table takes its columns from the rows of an empty file.
        conn.register("landing_frame", pl.DataFrame(
            schema={"__line": pl.Int64, "__context": pl.String, **dict.fromkeys(feed.columns, pl.String)}))
        conn.execute(f"CREATE OR REPLACE TEMP TABLE batch_rows AS {self.rows_sql} LIMIT 0", [0])
        conn.unregister("landing_frame")
        conn.execute("CREATE OR REPLACE TEMP TABLE batch_raw (__file_order INTEGER, __line BIGINT, __raw VARCHAR)")

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, *exc) -> None:
        self.conn.execute("DROP TABLE IF EXISTS batch_rows")
        self.conn.execute("DROP TABLE IF EXISTS batch_raw")
        self.conn.execute("DROP TABLE IF EXISTS batch_held")
        memory_limit, checkpoint_threshold = self._settings
        self.conn.execute(f"SET memory_limit = '{memory_limit}'")
        self.conn.execute(f"SET checkpoint_threshold = '{checkpoint_threshold}'")

    def add(self, order: int, frame: pl.DataFrame) -> None:
        """The rows of one part, at reading position `order`: `__line`, `__raw`, the feed's columns as
        text and optionally `__context` (appended to a quarantined row's detail)."""
        if "__context" not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("__context"))
        self.conn.register("landing_frame", frame.drop("__raw"))
        self.conn.execute(f"INSERT INTO batch_rows {self.rows_sql}", [order])
        self.conn.unregister("landing_frame")
        if self.records_held and not self.orders:
            # The ids held by earlier batches, hashed once (0.2 s for 10M records), not looked up part by part.
            self.conn.execute("CREATE OR REPLACE TEMP TABLE batch_held AS "
                              f"SELECT hash(record_id) AS __id_hash FROM {RECORD_TABLES[self.feed.name]}")
        _keep_raw_values(self.conn, order, frame, self.records_held)
        self.orders.add(order)

    def settle(self, file_names: list[str], loaded: dict[int, FileResult], result: FeedResult) -> None:
        """Classify the rows read before and count each part's rows into `loaded` (order -> FileResult)."""
        if self.orders:
            classify_batch(self.conn, self.feed, file_names, self.records_held)
            _count_batch(self.conn, self.feed, loaded, result)
        self.conn.execute(f"SET checkpoint_threshold = '{self._settings[1]}'")

    def store(self, batch_id: str, file_names: list[str]) -> None:
        """Inside the caller's transaction: the accepted rows into the records, the quarantined ones into quarantine."""
        if self.orders:
            _store_batch(self.conn, self.feed, batch_id, self.now, file_names)


def ingest_files(
    conn: duckdb.DuckDBPyConnection,
    files: list[tuple[str, Path]],
    feed: Feed,
    config: Config,
    batch_id: str,
    progress: Progress | None = None,
) -> FeedResult:
    """Ingest the new and changed ones of `files` ((relative path, path) in reading order) in one
    transaction, so a killed run leaves no partial batch behind."""
    say = progress or (lambda _msg: None)
    result = FeedResult(feed.name)
    latest, ingested_hashes, seen = _known_files(conn, feed.name)
    file_names = [rel for rel, _ in files]
    loaded: dict[int, FileResult] = {}
    to_record: list[tuple[FileResult, str, int, datetime]] = []
    with Batch(conn, feed, config) as batch:
        for order, (rel, path) in enumerate(files):
            try:
                size, mtime = _mtime(path)
                known = latest.get(rel)
                if known and known[0] == size and known[1] == mtime:
                    digest = known[2]  # untouched since we hashed it
                else:
                    digest = file_sha256(path)
            except OSError as exc:
                # Unreadable (permissions, vanished): reported, not recorded (it has no content hash), read next run.
                problem = f"cannot be read: {exc.strerror or exc}"
                result.files.append(FileResult(feed.name, rel, "rejected", problem=problem))
                say(f"{feed.name}: {rel}: rejected: {problem}")
                continue
            if (rel, digest) in seen:
                if known and known[1] != mtime:  # touched, same content: remember the new mtime, read nothing
                    conn.execute(
                        "UPDATE landing_files SET modified_at = ? WHERE feed = ? AND path = ? AND content_hash = ?",
                        [mtime, feed.name, rel, digest],
                    )
                result.files.append(FileResult(feed.name, rel, "unchanged"))
                continue
            if digest in ingested_hashes:
                # The same content under another name (a renamed or copied export): nothing new to read,
                # and the encoding is the one those bytes were read with.
                file_result = FileResult(feed.name, rel, "already_ingested", encoding=ingested_hashes[digest])
                result.files.append(file_result)
                to_record.append((file_result, digest, size, mtime))
                continue
            try:
                frame, encoding = read_landing_file(path, feed, config.encoding)
            except FileProblem as problem:
                file_result = FileResult(feed.name, rel, "rejected", problem=str(problem), encoding=problem.encoding)
                say(f"{feed.name}: {rel}: rejected: {problem}")
            else:
                batch.add(order, frame)
                file_result = FileResult(feed.name, rel, "ingested", rows_read=frame.height, encoding=encoding)
                loaded[order] = file_result
                read_as = f" ({encoding})" if encoding not in (None, "utf-8") else ""
                say(f"{feed.name}: {rel}: read {frame.height:,} rows{read_as}")
            if file_result.status == "ingested":
                ingested_hashes[digest] = file_result.encoding
            seen.add((rel, digest))
            result.files.append(file_result)
            to_record.append((file_result, digest, size, mtime))
        batch.settle(file_names, loaded, result)

        conn.execute("BEGIN TRANSACTION")
        try:
            batch.store(batch_id, file_names)
            record_landing_files(conn, feed.name, to_record, batch_id, batch.now)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return result


def record_landing_files(conn: duckdb.DuckDBPyConnection, feed: str,
                         files: list[tuple[FileResult, str, int, datetime]], batch_id: str, now: datetime) -> None:
    """One landing_files row per (file result, content hash, size, mtime)."""
    if files:
        conn.executemany(
            "INSERT INTO landing_files (feed, path, content_hash, size_bytes, modified_at, status, problem,"
            " rows_read, rows_accepted, rows_duplicate, rows_quarantined, batch_id, processed_at, encoding)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (feed, f.path, digest, size, mtime, f.status, f.problem or f.warning, f.rows_read,
                 f.rows_accepted, f.rows_duplicate, f.rows_quarantined, batch_id, now, f.encoding)
                for f, digest, size, mtime in files
            ],
        )
