"""`python -m benchmarks` (`make bench`): the benchmark of docs/benchmarks.md.

    python -m benchmarks [--sizes 100k,1M,10M] [--formats mixed] [--repeat N] [--repeat-large N]

Environment: BENCH_SIZES, BENCH_FORMATS, BENCH_REPEAT, BENCH_REPEAT_LARGE (sizes of 10M events
and more), FUNNEL_BENCH_DIR (default .bench/ in the repository: cached data, results.json).
"""

from __future__ import annotations

import argparse
import os
import sys

from benchmarks.harness import bench_dir, parse_size, run, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", "100k,1M,10M"),
                        help="stage-event counts, comma-separated (default 100k,1M,10M)")
    parser.add_argument("--formats", default=os.environ.get("BENCH_FORMATS", "mixed"),
                        help="landing formats: mixed (as generated: CSV, Parquet, JSONL), csv, parquet (default mixed)")
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", "3")),
                        help="runs per figure below 10M events; the median is reported (default 3)")
    parser.add_argument("--repeat-large", type=int, default=int(os.environ.get("BENCH_REPEAT_LARGE", "1")),
                        help="runs per figure at 10M events and more (default 1)")
    parser.add_argument("--keep-homes", action="store_true", help="keep each size's FUNNEL_HOME under .bench/homes")
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    for fmt in formats:
        if fmt not in ("mixed", "csv", "parquet"):
            parser.error(f"unknown format {fmt!r}: use mixed, csv or parquet")
    repeats = {s: (args.repeat_large if s >= 10_000_000 else args.repeat) for s in sizes}

    def say(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    results = run(sizes, formats, repeats, say=say, keep_homes=args.keep_homes)
    print(table(results))
    print(f"\nwritten: {bench_dir() / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
