"""Standards benchmark (not a test).

Measures, on SQLite in a temporary data directory:
- import of N publiccode.yml files (default 1,000), each in its own unit of work as
  ``lumbung import publiccode`` does it: the files are the real corpus and official
  examples (../shared/data/publiccode) and generated variants of them, so the mix of
  legacy keys and faults is the real one;
- the DCAT-AP export of the whole catalog (default 100,000 datasets, one distribution
  each) as Turtle and as JSON-LD, streamed, in a fresh process whose peak RSS is read
  from the kernel; the same export of a tenth of it shows whether memory grows with
  the catalog;
- a harvest of N CKAN packages (default 10,000) from the fake CKAN on loopback that
  the tests use, built from the real package in ../shared/data/ckan, paged 1000 rows
  at a time, then an incremental re-run with 100 changed packages.
It also prints the corpus conformance counts (imported / warned / rejected).

Usage: .venv/bin/python bench/standards.py [--imports 1000] [--datasets 100000]
       [--packages 10000]
Results go to bench-results/standards.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry import migrate  # noqa: E402
from registry.catalog import schemas  # noqa: E402
from registry.catalog import service as catalog  # noqa: E402
from registry.catalog.models import Dataset, Distribution, Publisher  # noqa: E402
from registry.db import create_db_engine, session_scope, take_change_seqs, utcnow  # noqa: E402
from registry.formats import dcat, harvest, publiccode, service  # noqa: E402
from registry.principal import Principal  # noqa: E402
from registry.settings import Settings, load_settings  # noqa: E402
from registry.startup import start  # noqa: E402

start()  # as every process of a node does before it writes
SHARED = ROOT.parent / "shared" / "data"
OPERATOR = Principal(client_id="bench", scopes=frozenset({"admin"}))


def cpu_seconds() -> float:
    """CPU time of this process so far: on a machine shared with other work, a fairer
    figure than wall time, which counts the time other processes hold the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def node(tmp: Path, **overrides: Any) -> tuple[Settings, sa.Engine]:
    settings = load_settings(data_dir=tmp, base_url="http://127.0.0.1:8000", **overrides)
    migrate.upgrade(settings)
    engine = create_db_engine(settings)
    with session_scope(engine) as session:
        catalog.create_publisher(
            session, schemas.PublisherCreate(code="kab-bench", name="Kabupaten Bench",
                                             region_code="35.10")
        )  # fmt: skip
    return settings, engine


def corpus_files() -> list[tuple[str, bytes]]:
    folders = [SHARED / "publiccode" / "corpus", SHARED / "publiccode" / "examples"]
    return [(p.name, p.read_bytes()) for f in folders for p in sorted(f.glob("*.yml"))]


def corpus_counts() -> dict[str, int]:
    counts = {"files": 0, "imported_clean": 0, "imported_with_warnings": 0, "rejected": 0}
    for _, data in corpus_files():
        parsed = publiccode.parse(data)
        counts["files"] += 1
        if not parsed.accepted(strict=False):
            counts["rejected"] += 1
        elif parsed.issues:
            counts["imported_with_warnings"] += 1
        else:
            counts["imported_clean"] += 1
    counts["strict_accepted"] = sum(
        publiccode.parse(d).accepted(strict=True) for _, d in corpus_files()
    )
    return counts


def bench_import(count: int) -> dict[str, Any]:
    sources = [d for _, d in corpus_files() if publiccode.parse(d).accepted(strict=False)]
    files = []
    for n in range(count):
        text = sources[n % len(sources)].decode("utf-8")
        # A different repository each time, so every file creates an app.
        url = re.search(r"^url:\s*['\"]?\s*(\S+?)['\"]?\s*$", text, re.M)
        assert url is not None
        files.append(text.replace(url[1], f"{url[1]}-{n}", 1).encode())
    with tempfile.TemporaryDirectory() as tmp:
        _, engine = node(Path(tmp))
        named = [(f"file-{n}", data) for n, data in enumerate(files)]
        cpu = cpu_seconds()
        started = time.perf_counter()
        # As `lumbung import publiccode FOLDER` does it: one commit, a savepoint per file.
        with session_scope(engine) as session:
            outcomes = service.import_many(session, OPERATOR, named, publisher="kab-bench")
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds() - cpu
        created = sum(isinstance(o, service.ImportResult) and o.created for _, o in outcomes)
        started = time.perf_counter()
        # And one file at a time, each its own transaction (a city's CI, the API).
        with engine.connect() as connection:
            for data in files[:100]:
                with session_scope(connection) as session:
                    service.import_publiccode(session, OPERATOR, data, publisher="kab-bench")
        single = (time.perf_counter() - started) / 100
        engine.dispose()
    print(f"import: {count} publiccode.yml files in {elapsed:.2f} s, {cpu:.2f} s CPU "
          f"({created} apps created); "
          f"one file in its own transaction: {single * 1000:.0f} ms")  # fmt: skip
    return {"files": count, "seconds": round(elapsed, 2), "cpu_seconds": round(cpu, 2),
            "apps_created": created,
            "single_file_transaction_ms": round(single * 1000, 1)}  # fmt: skip


def seed_datasets(engine: sa.Engine, count: int) -> None:
    with Session(engine) as session, session.begin():
        publisher_id = session.execute(
            sa.select(Publisher.__table__.c.id).where(Publisher.__table__.c.code == "kab-bench")
        ).scalar_one()
        now = utcnow()
        for start in range(0, count, 10_000):
            n = min(10_000, count - start)
            datasets, distributions = [], []
            seqs = take_change_seqs(session, 2 * n)
            for i in range(n):
                dataset_id = uuid.uuid4()
                datasets.append({
                    "id": dataset_id, "created_at": now, "updated_at": now, "deleted_at": None,
                    "change_seq": seqs[2 * i], "origin": None, "audience": None,
                    "publisher_id": publisher_id, "slug": f"data-{start + i}",
                    "visibility": "public", "demo": False, "license": "CC-BY-4.0",
                    "title": {"id": f"Data {start + i}", "en": f"Data {start + i}"},
                    "description": {"id": "Data terbuka kabupaten"}, "keywords": ["statistik"],
                    "themes": ["GOVE"], "access_rights": "PUBLIC", "update_frequency": "ANNUAL",
                    "spatial": {"region_code": "35.10"},
                })  # fmt: skip
                distributions.append({
                    "id": uuid.uuid4(), "created_at": now, "updated_at": now, "deleted_at": None,
                    "change_seq": seqs[2 * i + 1], "origin": None, "audience": None,
                    "dataset_id": dataset_id, "access_url": f"https://data.example/{start + i}.csv",
                    "format": "CSV", "media_type": "text/csv", "byte_size": 1024,
                })  # fmt: skip
            session.execute(sa.insert(Dataset.__table__), datasets)
            session.execute(sa.insert(Distribution.__table__), distributions)


def export_child(data_dir: str, limit: int, media: str) -> None:
    """Run in a fresh process: stream the catalog to nowhere, print bytes and RSS."""
    from registry.cli import tune_gc

    tune_gc()  # as `lumbung serve` starts
    settings = load_settings(data_dir=Path(data_dir), base_url="http://127.0.0.1:8000")
    engine = create_db_engine(settings)
    page = service.CatalogPage(limit=limit)
    cpu = cpu_seconds()
    started = time.perf_counter()
    head, pages = service.catalog_nodes(engine, settings, None, page, lambda c: "http://x/")
    writer = dcat.stream_turtle if media == "ttl" else dcat.stream_jsonld
    size = sum(len(chunk) for chunk in writer(head, pages))
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps({"bytes": size, "seconds": elapsed, "cpu_seconds": cpu, "peak_rss_mib": peak}))


def bench_export(count: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        _, engine = node(Path(tmp))
        seed_datasets(engine, count)
        engine.dispose()
        for media in ("ttl", "jsonld"):
            for limit in (count // 10, count):
                out = subprocess.run(
                    [sys.executable, __file__, "_export", tmp, str(limit), media],
                    check=True, capture_output=True, text=True,
                )  # fmt: skip
                figures = json.loads(out.stdout)
                results[f"{media}_{limit}"] = figures
                print(
                    f"export {media}: {limit} datasets, {figures['bytes'] / 1e6:.0f} MB in "
                    f"{figures['seconds']:.1f} s ({figures['cpu_seconds']:.1f} s CPU), "
                    f"peak RSS {figures['peak_rss_mib']} MiB"
                )
    return results


def bench_harvest(count: int) -> dict[str, Any]:
    from tests.formats.fake_ckan import FakeCkan, real_packages

    template = next(
        p for p in real_packages(SHARED / "ckan")
        if p["id"] == "62513382-3b26-4bc8-9096-40b6ce8383c0"
    )  # fmt: skip
    packages = []
    for n in range(count):
        package = copy.deepcopy(template)
        package["id"] = str(uuid.UUID(int=n + 1))
        package["name"] = f"package-{n}"
        package["title"] = f"Package {n}"
        package["metadata_modified"] = f"2025-01-01T00:00:{n % 60:02d}.{n:06d}"
        for r, res in enumerate(package["resources"]):
            res["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{n}/{r}"))
        packages.append(package)
    with tempfile.TemporaryDirectory() as tmp, FakeCkan(packages) as portal:
        settings, engine = node(Path(tmp), fetch_allow=["127.0.0.0/8"])
        with session_scope(engine) as session:
            source_id = harvest.add_source(session, publisher="kab-bench", ckan_url=portal.url).id
        cpu = cpu_seconds()
        started = time.perf_counter()
        first = harvest.run(engine, settings, source_id)
        full_seconds = time.perf_counter() - started
        # The fake portal is a thread of this process: its CPU time is counted too.
        full_cpu = cpu_seconds() - cpu
        for package in packages[:100]:
            package["title"] += " (revised)"
            package["metadata_modified"] = "2026-01-01T00:00:00.000000"
        started = time.perf_counter()
        second = harvest.run(engine, settings, source_id)
        incremental_seconds = time.perf_counter() - started
        engine.dispose()
    print(
        f"harvest: {first.created} of {count} packages in {full_seconds:.1f} s "
        f"({full_cpu:.1f} s CPU, the fake portal's included); "
        f"incremental ({second.updated} changed) in {incremental_seconds:.2f} s"
    )
    return {
        "packages": count,
        "created": first.created,
        "seconds": round(full_seconds, 2),
        "cpu_seconds": round(full_cpu, 2),
        "incremental_updated": second.updated,
        "incremental_seconds": round(incremental_seconds, 2),
        "status": [first.status, second.status],
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_export":
        export_child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--imports", type=int, default=1000)
    parser.add_argument("--datasets", type=int, default=100_000)
    parser.add_argument("--packages", type=int, default=10_000)
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs the real material in {SHARED}")
    machine = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }
    counts = corpus_counts()
    print(f"corpus: {counts}")
    results: dict[str, Any] = {"machine": machine, "corpus": counts}
    if args.imports:
        results["import"] = bench_import(args.imports)
    if args.datasets:
        results["dcat_export"] = bench_export(args.datasets)
    if args.packages:
        results["harvest"] = bench_harvest(args.packages)
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "standards.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
