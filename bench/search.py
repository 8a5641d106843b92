"""Search benchmark (not a test).

Generates a catalog of N apps and N datasets (default 100,000 each) with
Zipf-distributed Indonesian and English vocabularies and realistic field lengths,
on SQLite and on PostgreSQL, and measures:

- the full reindex (``lumbung search reindex`` in its own process): time, peak RSS;
- service-level search latency, facets included, over realistic queries (one and
  two words, prefixes, typos, cross-language glossary phrases): p50 and p99;
- the cost the index adds to one write (an app created through the catalog service,
  one transaction each, with and without the index's flush hook);
- HTTP throughput at 32 connections (wrk) of ``/api/v1/search``,
  ``/api/v1/apps?limit=20`` and one app on the node, against a bare FastAPI endpoint
  serving the same bytes from the same kind of uvicorn process, in the same run: the
  ratio. The node is measured twice: as it runs, answering anonymous reads from the
  answers it keeps until the catalog changes (``ratio``: every request after the
  first is a cached one), and with that cache off (``uncached_ratio``: what the first
  read after each change costs), with the time of one request alone for each.

The vocabulary: Indonesian roots taken from the demo catalog and the glossary, with
the derivations the language builds from them (pe-/per-/ke- … -an, me-, di-, -kan),
English words from the publiccode.yml corpus in ../shared, and a long tail of
generated place names; words are drawn with Zipf's law (s = 1.07).

Usage: nice .venv/bin/python bench/search.py [--items 100000] [--db sqlite,postgresql]
PostgreSQL uses LUMBUNG_BENCH_DATABASE_URL (its public schema is dropped!); without
it, only SQLite runs. Results go to bench-results/search.json. ``--data DIR`` keeps
the SQLite node's data; a later run with ``--data DIR --reuse`` (or ``--reuse`` alone
for PostgreSQL) measures search, writes and HTTP on it without seeding and reindexing
again (the queries then differ, drawn from the same distributions).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry import migrate  # noqa: E402
from registry.catalog import schemas  # noqa: E402
from registry.catalog import service as catalog  # noqa: E402
from registry.catalog.models import App, Dataset, Distribution, Publisher  # noqa: E402
from registry.db import create_db_engine, session_scope, uuid7  # noqa: E402
from registry.principal import Principal  # noqa: E402
from registry.search import index as search_index  # noqa: E402
from registry.search.analysis import words  # noqa: E402
from registry.search.glossary import shipped  # noqa: E402
from registry.search.service import SearchQuery, search  # noqa: E402
from registry.serving import settle  # noqa: E402
from registry.settings import Settings  # noqa: E402
from registry.startup import start  # noqa: E402

start()  # as every process of a node does before it writes
LUMBUNG = str(Path(sys.executable).with_name("lumbung"))
SHARED = ROOT.parent / "shared" if (ROOT.parent / "shared").exists() else Path("/work/shared")
ADMIN = Principal(client_id="bench", scopes=frozenset({"admin"}))
RNG = random.Random(20261129)

LICENSES = ["EUPL-1.2", "MIT", "Apache-2.0", "GPL-3.0-or-later", "AGPL-3.0-or-later"]
DATA_LICENSES = ["CC-BY-4.0", "CC0-1.0", "CC-BY-SA-4.0", "ODbL-1.0"]
STATUSES = ["concept", "development", "beta", "stable", "obsolete"]
THEMES = ["AGRI", "ECON", "EDUC", "ENER", "ENVI", "GOVE", "HEAL", "INTR", "JUST", "REGI",
          "SOCI", "TECH", "TRAN"]  # fmt: skip
FORMATS = ["CSV", "JSON", "XLSX", "API", "PDF", "SHP", "GEOJSON"]


# --- vocabulary ------------------------------------------------------------------------


class Zipf:
    """Draws words with probability ∝ 1 / rank^s."""

    def __init__(self, vocabulary: list[str], s: float = 1.07) -> None:
        self.vocabulary = vocabulary
        total = 0.0
        self.cumulative = []
        for rank in range(1, len(vocabulary) + 1):
            total += 1 / rank**s
            self.cumulative.append(total)
        self.total = total

    def words(self, n: int) -> list[str]:
        return RNG.choices(self.vocabulary, cum_weights=self.cumulative, k=n)

    def text(self, low: int, high: int, limit: int | None = None) -> str:
        text = " ".join(self.words(RNG.randint(low, high)))
        if limit is not None and len(text) > limit:
            text = text[:limit].rsplit(" ", 1)[0]
        return text


def _indonesian() -> list[str]:
    from registry.search.analysis import stem

    demo = json.loads((ROOT / "registry/demo/catalog.json").read_text())
    text = json.dumps(demo, ensure_ascii=False)
    seen = [w for w in words(text) if w.isalpha()]
    for entry in shipped():
        for phrase in entry.indonesian:
            seen += words(phrase)
    roots = sorted({stem(w, "indonesian") for w in seen if len(w) >= 4})
    forms = set(seen)
    for root in roots:
        forms.update(
            {
                root,
                f"pe{root}an",
                f"per{root}an",
                f"ke{root}an",
                f"me{root}",
                f"di{root}",
                f"{root}an",
                f"{root}kan",
                f"ber{root}",
            }  # fmt: skip
        )
    vocabulary = sorted(forms)
    RNG.shuffle(vocabulary)
    # The words a city's catalog really repeats come first.
    common = list(dict.fromkeys(w for w in seen if len(w) >= 3))
    return common + [w for w in vocabulary if w not in set(common)]


def _english() -> list[str]:
    seen: list[str] = []
    for path in sorted((SHARED / "data/publiccode/corpus").glob("*.yml")):
        seen += [w for w in words(path.read_text(errors="replace")) if w.isalpha()]
    for entry in shipped():
        for phrase in entry.english:
            seen += words(phrase)
    counts: dict[str, int] = {}
    for w in seen:
        if len(w) >= 3:
            counts[w] = counts.get(w, 0) + 1
    return sorted(counts, key=lambda w: -counts[w])


def _places(n: int) -> list[str]:
    syllables = ["su", "ka", "ma", "ju", "ba", "nyu", "wa", "ngi", "pa", "ri", "a", "man",
                 "ta", "lang", "se", "rang", "jo", "go", "lo", "ro", "tu", "ban", "dung",
                 "ci", "wi", "no", "mu", "ra", "gi", "si", "bo", "ne", "pe", "ku"]  # fmt: skip
    names = set()
    while len(names) < n:
        names.add("".join(RNG.choices(syllables, k=RNG.randint(2, 4))))
    return sorted(names)


class Vocabulary:
    def __init__(self) -> None:
        self.id = Zipf(_indonesian() + _places(20_000)[:10_000])
        self.en = Zipf(_english() + _places(20_000)[10_000:])
        self.categories = [
            line.strip()[2:].strip()
            for line in (SHARED / "data/publiccode/categories.txt").read_text().splitlines()
            if line.strip().startswith("- ")
        ] or ["e-government"]


# --- the catalog -----------------------------------------------------------------------


def seed(engine: sa.Engine, vocab: Vocabulary, items: int) -> dict[str, Any]:
    """Bulk-insert publishers, apps, datasets and distributions (no index: the
    reindex that follows builds it)."""
    now = datetime.now(UTC)
    publishers = []
    for n in range(300):
        publishers.append(
            {
                "id": uuid7(),
                "code": f"kab-{n:03d}",
                "name": f"Kabupaten {vocab.id.text(1, 2)}",
                "kind": "regency",
                "origin": None,
                "created_at": now,
                "updated_at": now,
                "change_seq": 0,
                "demo": False,
            }  # fmt: skip
        )
    for n in range(60):
        publishers.append(
            {
                "id": uuid7(),
                "code": f"kota-{n:03d}",
                "name": f"Kota {vocab.id.text(1, 2)}",
                "kind": "city",
                "origin": f"https://peer-{n % 5}.example",
                "created_at": now,
                "updated_at": now,
                "change_seq": 0,
                "demo": False,
                "audience": None,
            }  # fmt: skip
        )
    local = [p for p in publishers if p["origin"] is None]
    audience = [str(local[0]["id"])]
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(sa.insert(Publisher.__table__), publishers)  # type: ignore[attr-defined]
        for start in range(0, items, 5000):
            apps, datasets, distributions = [], [], []
            for _ in range(min(5000, items - start)):
                publisher = RNG.choice(publishers)
                visibility = RNG.choices(["public", "partners", "private"], [80, 15, 5])[0]
                mirrored = publisher["origin"] is not None
                if mirrored and visibility == "private":
                    visibility = "public"
                apps.append(_app(vocab, publisher, visibility, audience, now))
                dataset = _dataset(vocab, publisher, visibility, audience, now)
                datasets.append(dataset)
                for _ in range(RNG.randint(1, 3)):
                    fmt = RNG.choice(FORMATS)
                    distributions.append(
                        {
                            "id": uuid7(),
                            "dataset_id": dataset["id"],
                            "title": f"{fmt} file",
                            "access_url": f"https://data.example/{dataset['id']}.{fmt.lower()}",
                            "format": fmt,
                            "origin": publisher["origin"],
                            "audience": dataset["audience"],
                            "created_at": now,
                            "updated_at": now,
                            "change_seq": 0,
                        }  # fmt: skip
                    )
            connection.execute(sa.insert(App.__table__), apps)  # type: ignore[attr-defined]
            connection.execute(sa.insert(Dataset.__table__), datasets)  # type: ignore[attr-defined]
            connection.execute(sa.insert(Distribution.__table__), distributions)  # type: ignore[attr-defined]
    return {"seconds": round(time.perf_counter() - started, 1), "local_publisher": local[0]}


def _both(vocab: Vocabulary, low: int, high: int, limit: int | None = None) -> dict[str, str]:
    which = RNG.choices(["both", "id", "en"], [70, 20, 10])[0]
    texts = {}
    if which in ("both", "id"):
        texts["id"] = vocab.id.text(low, high, limit)
    if which in ("both", "en"):
        texts["en"] = vocab.en.text(low, high, limit)
    return texts


def _app(vocab: Vocabulary, publisher: dict[str, Any], visibility: str, audience: list[str],
         now: datetime) -> dict[str, Any]:  # fmt: skip
    description: dict[str, Any] = {}
    for language, short in _both(vocab, 8, 22, 150).items():
        words_of = vocab.id if language == "id" else vocab.en
        description[language] = {
            "short_description": short,
            "long_description": words_of.text(40, 160),
            "features": [words_of.text(3, 7) for _ in range(RNG.randint(3, 6))],
        }
    mirrored = publisher["origin"] is not None
    name_words = vocab.id.words(RNG.randint(1, 3))
    return {
        "id": uuid7(), "publisher_id": publisher["id"], "slug": f"app-{uuid.uuid4().hex[:12]}",
        "name": " ".join(w.title() for w in name_words), "description": description,
        "categories": RNG.sample(vocab.categories, RNG.randint(1, 3)),
        "development_status": RNG.choice(STATUSES), "license": RNG.choice(LICENSES),
        "platforms": ["web"], "spbe_class": RNG.choice(["umum", "khusus"]),
        "tags": vocab.id.words(RNG.randint(2, 6)), "visibility": visibility,
        "origin": publisher["origin"],
        "audience": audience if mirrored and visibility == "partners" else None,
        "created_at": now, "updated_at": now, "change_seq": 0, "demo": False,
    }  # fmt: skip


def _dataset(vocab: Vocabulary, publisher: dict[str, Any], visibility: str,
             audience: list[str], now: datetime) -> dict[str, Any]:  # fmt: skip
    mirrored = publisher["origin"] is not None
    return {
        "id": uuid7(), "publisher_id": publisher["id"], "slug": f"ds-{uuid.uuid4().hex[:12]}",
        "title": _both(vocab, 4, 10), "description": _both(vocab, 20, 80),
        "keywords": vocab.id.words(RNG.randint(2, 6)), "themes": RNG.sample(THEMES, 2),
        "license": RNG.choice(DATA_LICENSES), "visibility": visibility,
        "origin": publisher["origin"],
        "audience": audience if mirrored and visibility == "partners" else None,
        "created_at": now, "updated_at": now, "change_seq": 0, "demo": False,
    }  # fmt: skip


# --- measurements ----------------------------------------------------------------------


def queries(vocab: Vocabulary, n: int) -> list[tuple[str, str]]:
    """(type, query) pairs, as people type them."""
    found: list[tuple[str, str]] = []
    glossary = [p for e in shipped() for p in (*e.indonesian, *e.english) if len(p) > 3]
    while len(found) < n:
        kind = RNG.choice(["one", "two", "prefix", "typo", "cross", "english"])
        source = vocab.en if kind == "english" else vocab.id
        word = source.words(1)[0]
        if kind in ("one", "english"):
            found.append((kind, word))
        elif kind == "two":
            found.append((kind, " ".join(source.words(2))))
        elif kind == "prefix" and len(word) >= 5:
            found.append((kind, word[: RNG.randint(3, len(word) - 1)]))
        elif kind == "typo" and len(word) >= 6:
            i = RNG.randrange(1, len(word) - 1)
            typo = word[:i] + word[i + 1 :] if RNG.random() < 0.5 else word[:i] + "x" + word[i:]
            found.append((kind, typo))
        elif kind == "cross":
            found.append((kind, RNG.choice(glossary)))
    return found


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def service_latency(engine: sa.Engine, vocab: Vocabulary, n: int, rounds: int) -> dict[str, Any]:
    asked = queries(vocab, n)
    timings: dict[str, list[float]] = {}
    cpu: list[float] = []
    totals: list[int] = []
    estimated = 0
    # As a node does once it has started (registry.serving.settle): the benchmark's own
    # catalog generator and queries are not the service's to collect either.
    settle()
    with session_scope(engine, write=False) as session:
        for _, q in asked:  # warm caches, as a running node has them
            search(session, None, SearchQuery(q=q), limit=20)
        load = os.getloadavg()
        for _ in range(rounds):
            for kind, q in asked:
                began, began_cpu = time.perf_counter(), time.process_time()
                result = search(session, None, SearchQuery(q=q), limit=20)
                timings.setdefault(kind, []).append((time.perf_counter() - began) * 1000)
                # The process's own CPU time: on a shared machine, wall time also counts
                # the time spent waiting for a core.
                cpu.append((time.process_time() - began_cpu) * 1000)
                totals.append(result.total)
                estimated += not getattr(result, "total_exact", True)  # older services: exact
    every = [t for values in timings.values() for t in values]
    return {
        "queries": len(asked),
        "samples": len(every),
        "load_average": [round(x, 1) for x in (*load, *os.getloadavg())],
        "p50_ms": round(percentile(every, 50), 2),
        "p99_ms": round(percentile(every, 99), 2),
        "cpu_p50_ms": round(percentile(cpu, 50), 2),
        "cpu_p99_ms": round(percentile(cpu, 99), 2),
        "by_type_p50_ms": {k: round(percentile(v, 50), 2) for k, v in sorted(timings.items())},
        "by_type_p99_ms": {k: round(percentile(v, 99), 2) for k, v in sorted(timings.items())},
        "median_matches": statistics.median(totals),
        "estimated_totals": f"{estimated} of {len(totals)}",
    }


def filtered_latency(engine: sa.Engine, vocab: Vocabulary, publisher: str) -> dict[str, Any]:
    """Common words narrowed to one publisher's items, as a click on a publisher facet
    asks: few of the sample pass the filter, so every match is counted and ranked."""
    words = vocab.id.words(15) + vocab.en.words(15)
    timings = []
    with session_scope(engine, write=False) as session:
        for word in words:  # warm caches
            search(session, None, SearchQuery(q=word, publisher=publisher), limit=20)
        for word in words:
            began = time.perf_counter()
            search(session, None, SearchQuery(q=word, publisher=publisher), limit=20)
            timings.append((time.perf_counter() - began) * 1000)
    return {
        "queries": len(words),
        "publisher": publisher,
        "p50_ms": round(percentile(timings, 50), 2),
        "p99_ms": round(percentile(timings, 99), 2),
    }


def write_cost(engine: sa.Engine, publisher_code: str, vocab: Vocabulary, n: int) -> dict[str, Any]:
    """Median time of one app created (its own transaction), with and without the
    index's flush hook."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session as OrmSession

    def one() -> float:
        description = {"id": {"short_description": vocab.id.text(8, 20, 150),
                              "long_description": vocab.id.text(40, 160),
                              "features": [vocab.id.text(3, 7) for _ in range(4)]}}  # fmt: skip
        app_in = schemas.AppCreate(
            publisher=publisher_code, slug=f"w-{uuid.uuid4().hex[:16]}",
            name=vocab.id.text(1, 3).title(), description=description, visibility="public",
            tags=vocab.id.words(4),
        )  # fmt: skip
        began = time.perf_counter()
        with session_scope(engine) as session:
            catalog.create_app(session, ADMIN, app_in)
        return (time.perf_counter() - began) * 1000

    with_index, without = [], []
    for _ in range(n):
        with_index.append(one())
        event.remove(OrmSession, "after_flush", search_index._refresh_flushed)
        try:
            without.append(one())
        finally:
            event.listen(OrmSession, "after_flush", search_index._refresh_flushed)
    return {
        "writes": n,
        "with_index_ms": round(statistics.median(with_index), 2),
        "without_index_ms": round(statistics.median(without), 2),
        "index_adds_ms": round(statistics.median(with_index) - statistics.median(without), 2),
    }


def timed_reindex(env: dict[str, str]) -> dict[str, Any]:
    began = time.perf_counter()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = children.ru_maxrss
    result = subprocess.run(
        [LUMBUNG, "search", "reindex", "--quiet"], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"reindex failed: {result.stdout}{result.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": round(time.perf_counter() - began, 1),
        "cpu_seconds": round(
            used.ru_utime + used.ru_stime - children.ru_utime - children.ru_stime, 1
        ),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "peak_rss_mb": round(max(peak, before) / 1024, 1),
        "output": result.stdout.strip(),
    }


# --- HTTP ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str) -> None:
    for _ in range(600):
        try:
            if httpx2.get(url, timeout=1).status_code < 500:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, seconds: int) -> float:
    result = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    if found is None or errors is not None:
        raise RuntimeError(f"wrk on {url}: {result.stdout}")
    return float(found.group(1))


BARE = """
import sys, uvicorn
from fastapi import FastAPI, Response
body = open(sys.argv[1], "rb").read()
app = FastAPI()
@app.get("/{path:path}")
def bare(path: str) -> Response:
    return Response(content=body, media_type="application/json")
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="info")
"""


def start_node(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    node = subprocess.Popen([LUMBUNG, "serve", "--no-demo", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/healthz")
    return node, base


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    process.wait(30)


def one_request_ms(url: str, n: int = 20) -> float:
    """The median time of one request at a time (no concurrency), in milliseconds."""
    times = []
    with httpx2.Client(timeout=30) as client:
        for _ in range(n):
            started = time.perf_counter()
            client.get(url).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def http_ratios(env: dict[str, str], paths: dict[str, str], seconds: int, rounds: int,
                workdir: Path) -> dict[str, Any]:  # fmt: skip
    """Each path on two nodes over the same database: one as a node runs (anonymous
    answers kept per catalog version, so every request after the first is served from
    the cache: ``cached``), one with the cache turned off (every request read and
    encoded: ``uncached``, the cost of the first read after a change), against a bare
    endpoint serving the same bytes. A node without the cache (before it existed)
    shows the same figure in both."""
    cached, cached_base = start_node(env)
    uncached, uncached_base = start_node({**env, "LUMBUNG_API_CACHE_BYTES": "0"})
    figures: dict[str, Any] = {}
    try:
        for name, path in paths.items():
            if path == "{first app}":
                first = httpx2.get(cached_base + "/api/v1/apps?limit=1", timeout=30).json()
                path = f"/api/v1/apps/{first['items'][0]['id']}"
            body = httpx2.get(cached_base + path, timeout=30).content
            httpx2.get(uncached_base + path, timeout=30).raise_for_status()
            body_file = workdir / f"{name}.json"
            body_file.write_bytes(body)
            bare_port = free_port()
            bare = subprocess.Popen(
                [sys.executable, "-c", BARE, str(body_file), str(bare_port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            bare_base = f"http://127.0.0.1:{bare_port}"
            try:
                wait_for(f"{bare_base}/x")
                for base in (cached_base, uncached_base, bare_base):  # warm up each
                    wrk(base + path, 2)
                runs: dict[str, list[float]] = {"cached": [], "uncached": [], "bare": []}
                for _ in range(rounds):  # interleaved, so the machine's noise hits all
                    runs["cached"].append(wrk(cached_base + path, seconds))
                    runs["uncached"].append(wrk(uncached_base + path, seconds))
                    runs["bare"].append(wrk(bare_base + path, seconds))
                uncached_ms = one_request_ms(uncached_base + path)
                cached_ms = one_request_ms(cached_base + path)
                bare_ms = one_request_ms(bare_base + path)
            finally:
                stop(bare)
            rps = {kind: statistics.median(values) for kind, values in runs.items()}
            figures[name] = {
                "load_average": [round(x, 1) for x in os.getloadavg()],
                "path": path,
                "bytes": len(body),
                "node_rps": round(rps["cached"], 1),
                "bare_rps": round(rps["bare"], 1),
                "ratio": round(rps["cached"] / rps["bare"], 3),
                "uncached_rps": round(rps["uncached"], 1),
                "uncached_ratio": round(rps["uncached"] / rps["bare"], 3),
                "one_request_ms": {"cached": cached_ms, "uncached": uncached_ms, "bare": bare_ms},
            }
    finally:
        stop(cached)
        stop(uncached)
    return figures


# --- one database ----------------------------------------------------------------------


def run(database: str, url: str | None, args: argparse.Namespace, vocab: Vocabulary) -> dict:
    keep = args.data is not None and database == "sqlite"
    temporary = Path(tempfile.mkdtemp(prefix=f"lumbung-bench-search-{database}-"))
    workdir = args.data if keep else temporary
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMBUNG_")}
    env.update(LUMBUNG_DATA_DIR=str(workdir), LUMBUNG_SYNC_INTERVAL="0")
    settings_fields: dict[str, Any] = {"data_dir": workdir, "sync_interval": 0}
    if url is not None:
        env["LUMBUNG_DATABASE_URL"] = url
        settings_fields["database_url"] = url
    if url is not None and not args.reuse:
        reset = sa.create_engine(url)
        with reset.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
        reset.dispose()
    settings = Settings(**settings_fields)
    migrate.upgrade(settings)
    engine = create_db_engine(settings)
    figures: dict[str, Any] = {"database": database}
    try:
        if args.reuse:
            # The catalog and index a previous run left (--data, or the PostgreSQL
            # database): the search figures without seeding and reindexing again.
            print(f"[{database}] reusing the catalog and index already there", flush=True)
            figures["reused"] = True
            seeded = {"local_publisher": {"code": "kab-000"}}
        else:
            print(f"[{database}] seeding {args.items} apps and {args.items} datasets", flush=True)
            seeded = seed(engine, vocab, args.items)
            figures["seed_seconds"] = seeded["seconds"]
            print(f"[{database}] reindex", flush=True)
            figures["reindex"] = timed_reindex(env)
        if database == "postgresql":
            # Fresh statistics, as autovacuum would have them on a running node.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("VACUUM ANALYZE")
        print(f"[{database}] service latency", flush=True)
        figures["search"] = service_latency(engine, vocab, args.queries, args.rounds)
        print(f"[{database}] one publisher's items", flush=True)
        figures["filtered"] = filtered_latency(engine, vocab, seeded["local_publisher"]["code"])
        print(f"[{database}] write cost", flush=True)
        figures["write"] = write_cost(engine, seeded["local_publisher"]["code"], vocab, 30)
        if shutil.which("wrk") and not args.no_http:
            print(f"[{database}] HTTP throughput", flush=True)
            paths = {
                "search": "/api/v1/search?q=" + vocab.id.words(1)[0] + "&limit=20",
                "list": "/api/v1/apps?limit=20",
                "get": "{first app}",
            }
            figures["http"] = http_ratios(env, paths, args.seconds, args.http_rounds, workdir)
    finally:
        engine.dispose()
        shutil.rmtree(temporary, ignore_errors=True)
    print(json.dumps(figures, indent=2), flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="apps, and as many datasets")
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--http-rounds", type=int, default=3)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument(
        "--data", type=Path, help="SQLite: keep the node's data in DIR (not a temporary one)"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the catalog and index a previous run left (--data, or the PostgreSQL "
        "database) instead of seeding and reindexing",
    )
    args = parser.parse_args()
    vocab = Vocabulary()
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "sqlite": __import__("sqlite3").sqlite_version,
            "system": platform.platform(),
        },
        "load_average_before": os.getloadavg(),
        "items_per_kind": args.items,
        "vocabulary": {"indonesian": len(vocab.id.vocabulary), "english": len(vocab.en.vocabulary)},
        "runs": [],
    }
    for database in args.db.split(","):
        url = None
        if database == "postgresql":
            url = os.environ.get("LUMBUNG_BENCH_DATABASE_URL")
            if not url:
                print("[postgresql] skipped: set LUMBUNG_BENCH_DATABASE_URL", flush=True)
                continue
        results["runs"].append(run(database, url, args, vocab))
    results["load_average_after"] = os.getloadavg()
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "search.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"written to {out / 'search.json'}")


if __name__ == "__main__":
    main()
