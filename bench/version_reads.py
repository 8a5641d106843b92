"""The cost of telling whether the catalog changed (not a test).

Each answer the read cache gives an anonymous reader first asks the app's
``registry.viewcache.VersionReader`` for the catalog's version. This times that read
alone, while nothing changes (the case of a cached answer), over a database already
migrated (it is migrated first): 5 runs of 2,000 reads, median wall and CPU time per read.

Usage: .venv/bin/python bench/version_reads.py [--database-url URL] [--data DIR]
(without a URL, the SQLite database in DIR).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from registry import migrate, viewcache
from registry.db import create_db_engine
from registry.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--data", type=Path, default=Path("var"))
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    settings = load_settings(data_dir=args.data, database_url=args.database_url)
    migrate.upgrade(settings)
    engine = create_db_engine(settings)
    reader = viewcache.VersionReader(engine)
    try:
        reader.read()
        wall: list[float] = []
        cpu: list[float] = []
        for _ in range(5):
            started, started_cpu = time.perf_counter(), time.process_time()
            for _ in range(args.reads):
                reader.read()
            wall.append((time.perf_counter() - started) / args.reads * 1e6)
            cpu.append((time.process_time() - started_cpu) / args.reads * 1e6)
        print(
            f"{engine.dialect.name}: one read of the version, median of 5 x {args.reads}: "
            f"{statistics.median(wall):.1f} µs wall, {statistics.median(cpu):.1f} µs CPU "
            f"({getattr(reader, 'queries', '?')} queries of the version in all)"
        )
    finally:
        reader.close()
        engine.dispose()


if __name__ == "__main__":
    main()
