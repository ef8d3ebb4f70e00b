"""`funnel validate`: check landing files against the contract without touching the warehouse.

The files go through exactly the rules ingestion applies, in an in-memory database, so what this
reports is what a run would quarantine or reject (conflicts with records already in the warehouse
aside: the files are checked on their own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from funnel.config import Config
from funnel.contract import FEEDS
from funnel.ingest import Progress, discover, ingest_files
from funnel.settings import FunnelError
from funnel.warehouse import connect, create_schema


@dataclass
class Problems:
    """Every problem found, as (file, line or None, reason, detail), plus counts of what was fine."""

    items: list[tuple[str, int | None, str, str]] = field(default_factory=list)
    files: int = 0
    rows: int = 0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # information, not problems: a file read as another encoding

    @property
    def count(self) -> int:
        return len(self.items)

    def lines(self) -> list[str]:
        out = [f"{path}:{line}: {reason}: {detail}" if line else f"{path}: {reason}: {detail}"
               for path, line, reason, detail in self.items]
        return out + [f"warning: {w}" for w in self.warnings] + [f"note: {n}" for n in self.notes]

    def summary(self) -> str:
        verdict = "no problems" if not self.items else f"{len(self.items)} problem(s)"
        return f"checked {self.files} file(s), {self.rows:,} rows: {verdict}"


def _pass_feed() -> str:
    return "pass " + ", ".join(f"--feed {f}" for f in list(FEEDS)[:-1]) + f" or --feed {list(FEEDS)[-1]}"


def _feed_of(path: Path) -> str | None:
    return next((part for part in reversed(path.resolve().parts) if part in FEEDS), None)


def _groups(path: Path, feed: str | None) -> dict[str, list[tuple[str, Path]]]:
    """{feed: [(name shown, path)]} for a file, a feed folder or a landing folder."""
    if not path.exists():
        raise FunnelError(f"{path}: no such file or folder")
    if path.is_file():
        name = feed or _feed_of(path)
        if name is None:
            raise FunnelError(f"{path}: cannot tell which feed it belongs to; {_pass_feed()}")
        return {name: [(str(path), path)]}
    if feed is None and any((path / f).is_dir() for f in FEEDS):
        return {f: [(str(path / f / rel), p) for rel, p in discover(path / f)] for f in FEEDS if (path / f).is_dir()}
    name = feed or _feed_of(path)
    if name is None:
        raise FunnelError(f"{path}: cannot tell which feed it holds; {_pass_feed()}")
    return {name: [(str(path / rel), p) for rel, p in discover(path)]}


def validate_path(path: Path, config: Config, feed: str | None = None, progress: Progress | None = None) -> Problems:
    problems = Problems()
    conn = connect(":memory:")
    try:
        create_schema(conn)
        for name, files in _groups(path, feed).items():
            result = ingest_files(conn, files, FEEDS[name], config, "validate", progress)
            problems.files += len(result.files)
            problems.rows += result.total("rows_read")
            for f in result.files:
                if f.status == "rejected":
                    problems.items.append((f.path, None, "rejected_file", f.problem or ""))
                elif f.warning:
                    problems.warnings.append(f"{f.path}: {f.warning}")
                if f.status != "rejected" and f.encoding not in (None, "utf-8"):
                    # Worth a look: a file in yet another encoding would read as Windows-1252 text all the same.
                    problems.notes.append(f"{f.path}: read as {f.encoding}, not UTF-8")
            problems.items.extend(
                conn.execute(
                    "SELECT source_file, source_line, reason, detail FROM quarantined_rows WHERE feed = ?"
                    " ORDER BY source_file, source_line",
                    [name],
                ).fetchall()
            )
    finally:
        conn.close()
    problems.items.sort(key=lambda item: (item[0], item[1] or 0))
    return problems
