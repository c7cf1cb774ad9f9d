"""``python -m bench`` (``make bench``): run the suite, print the table, write it as JSON.

The first run on a machine also generates the cached data (a history of a million
requests with its projection, and the open-request sets): about three quarters of an
hour on 2 cores. Later runs reuse it and take about ten minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path

from bench.report import markdown_table, notes_text, text_table, update_readme
from bench.suite import PHASES, Sizes, Suite

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
README = Path(__file__).with_name("README.md")


def main(argv: list[str] | None = None) -> int:
    defaults = Sizes()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("CLOSELOOP_BENCH_DIR", "data/bench")),
        help="where cached data and results live (env CLOSELOOP_BENCH_DIR; default data/bench)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CLOSELOOP_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="a PostgreSQL server on which the suite makes (and drops) the database "
        "closeloop_bench; empty: skip PostgreSQL",
    )
    parser.add_argument(
        "--pg-database",
        default="closeloop_bench",
        help="the database the suite makes and drops on that server (default closeloop_bench)",
    )
    parser.add_argument(
        "--only",
        default=",".join(PHASES),
        help=f"phases to run, comma-separated, of {','.join(PHASES)}",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--readme", action="store_true", help="replace the table in bench/README.md with this run's"
    )
    parser.add_argument("--toy", action="store_true", help="toy sizes: seconds, not minutes")
    for name, value in vars(defaults).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, tuple):
            parser.add_argument(flag, default=None, help=f"comma-separated (default {value})")
        else:
            parser.add_argument(flag, type=type(value), default=None, help=f"default {value}")
    args = parser.parse_args(argv)

    sizes = Sizes.toy() if args.toy else defaults
    overrides = {}
    for name, value in vars(defaults).items():
        given = getattr(args, name)
        if given is not None:
            overrides[name] = (
                tuple(int(x) for x in given.split(",") if x) if isinstance(value, tuple) else given
            )
    if overrides:
        sizes = Sizes(**{**vars(sizes), **overrides})
    phases = tuple(p.strip() for p in args.only.split(",") if p.strip())
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    root = args.data_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()

    def say(message: str) -> None:
        print(f"bench {time.monotonic() - began:6.0f} s  {message}", flush=True)

    suite = Suite(
        root,
        sizes,
        postgres_url=args.postgres_url or None,
        pg_database=args.pg_database,
        phases=phases,
        say=say,
    )
    report = asyncio.run(suite.run())

    print()
    print(text_table(report.rows))
    notes = notes_text(report.rows)
    if notes:
        print("notes:\n" + notes)
    for note in report.notes:
        print(f"  {note}")
    stamp = report.started[:19].replace(":", "").replace("-", "")
    outputs = [root / "results" / f"bench-{stamp}.json", root / "latest.json"]
    if args.json:
        outputs.append(args.json)
    for path in outputs:
        report.write_json(path)
    print(f"\nwritten: {', '.join(str(p) for p in outputs)}")
    if args.readme:
        update_readme(README, report)
        print(f"updated {README}")
    else:
        print("(python -m bench --readme puts the table in bench/README.md)")
    if os.environ.get("BENCH_MARKDOWN"):
        print(markdown_table(report.rows))
    return 1 if suite.failures else 0


if __name__ == "__main__":
    sys.exit(main())
