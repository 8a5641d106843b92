"""Catalog pages benchmark (not a test).

A node seeded with N apps and N datasets (100,000 each by default: bulk inserts that
take proper change_seq values from the node's counter, then ``lumbung search reindex``),
one distribution per dataset, 60 publishers, 5,000 adoptions and releases for 2,000
apps, served by ``lumbung serve`` (one process, as a city runs it).

Measures:
- latency of the home page, search result pages and app pages, one request at a time
  on one keep-alive connection (the client's wall time per request: an upper bound of
  the server's time), as p50 and p99 over many distinct URLs; the first request of
  each distinct page is also reported on its own ("cold"), since later ones may be
  answered from the node's read cache; and the node's CPU time per request, cold
  and warm (on a shared machine wall time is mostly waiting for a core);
- throughput at 32 connections (wrk, 2 threads) over the same URLs, against the node
  and against a bare FastAPI endpoint serving the very same HTML bytes from memory
  under the same uvicorn settings, and the ratio of the two.

Runs under ``nice`` is up to the caller: ``nice -n 10 .venv/bin/python bench/web.py``.
Usage: .venv/bin/python bench/web.py [--entities 100000] [--runs 3] [--duration 15]
Results go to bench-results/web.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2
import sqlalchemy as sa
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry.catalog.models import App, Dataset, Distribution, Publisher, Release  # noqa: E402
from registry.db import take_change_seqs, utcnow, uuid7  # noqa: E402
from registry.sharing.models import Adoption  # noqa: E402

BIN = Path(sys.executable).parent
LUMBUNG = str(BIN / "lumbung")
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Language": "id-ID,id"}

WORDS_ID = [
    "layanan",
    "desa",
    "kependudukan",
    "perizinan",
    "pajak",
    "kesehatan",
    "sekolah",
    "pengaduan",
    "bencana",
    "keuangan",
    "anggaran",
    "arsip",
    "surat",
    "antrean",
    "wisata",
    "pasar",
    "sampah",
    "air",
    "jalan",
    "transportasi",
    "posyandu",
    "bansos",
]
WORDS_EN = [
    "services",
    "village",
    "population",
    "permits",
    "tax",
    "health",
    "school",
    "complaints",
    "disaster",
    "finance",
    "budget",
    "archive",
    "letters",
    "queue",
    "tourism",
    "market",
    "waste",
    "water",
    "roads",
    "transport",
    "clinic",
    "welfare",
]
CATEGORIES = [
    "village-services",
    "document-management",
    "e-signature",
    "online-booking",
    "workflow-management",
    "data-collection",
    "accounting",
    "education",
    "emergency-management",
    "geographic-information-systems",
    "healthcare",
    "procurement",
    "taxes-management",
    "public-relations",
    "feedback-and-reviews",
]
FORMATS = ["CSV", "XLSX", "JSON", "PDF"]
THEMES = [
    "AGRI",
    "ECON",
    "EDUC",
    "ENER",
    "ENVI",
    "GOVE",
    "HEAL",
    "JUST",
    "REGI",
    "SOCI",
    "TECH",
    "TRAN",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], path: str = "/readyz") -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx2.get(url + path, timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become ready")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- seeding -----------------------------------------------------------------------


def describe(wi: int, we: int) -> dict[str, Any]:
    """An app's description in both languages, about two of the vocabulary's topics."""
    a_id, b_id, a_en, b_en = WORDS_ID[wi], WORDS_ID[we], WORDS_EN[wi], WORDS_EN[we]
    return {
        "id": {
            "short_description": f"Aplikasi {a_id} dan {b_id} untuk pemerintah daerah",
            "long_description": f"Membantu perangkat daerah mengelola {a_id} dan {b_id}. " * 4,
            "features": [f"Fitur {a_id}", f"Laporan {b_id}"],
        },
        "en": {
            "short_description": f"{a_en.title()} and {b_en} for local government",
            "long_description": f"Helps local agencies manage {a_en} and {b_en}. " * 4,
            "features": [f"{a_en.title()} features", f"{b_en.title()} reports"],
        },
    }


def seed(engine: sa.Engine, n: int, rng: random.Random) -> dict[str, Any]:
    now = utcnow()
    base = {
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
        "origin": None,
        "audience": None,
    }
    with Session(engine) as session, session.begin():
        publishers = []
        for i in range(60):
            kind = "city" if i % 2 else "regency"
            name = f"{'Kota' if kind == 'city' else 'Kabupaten'} Contoh {i:02d}"
            publishers.append(
                dict(
                    base,
                    id=uuid7(),
                    change_seq=take_change_seqs(session, 1)[0],
                    code=f"{'kota' if kind == 'city' else 'kab'}-contoh-{i:02d}",
                    name=name,
                    kind=kind,
                    region_code=f"{11 + i % 80}.{i:02d}",
                    website=None,
                    email=None,
                    demo=False,
                )
            )
        session.execute(sa.insert(Publisher.__table__), publishers)
        app_ids: list[uuid.UUID] = []
        batch = 5000
        for start in range(0, n, batch):
            count = min(batch, n - start)
            rows = []
            for i, seq in enumerate(take_change_seqs(session, count)):
                k = start + i
                wi, we = rng.randrange(len(WORDS_ID)), rng.randrange(len(WORDS_ID))
                vis = "public" if k % 10 < 8 else ("partners" if k % 10 == 8 else "private")
                app_id = uuid7()
                app_ids.append(app_id)
                rows.append(
                    dict(
                        base,
                        id=app_id,
                        change_seq=seq,
                        publisher_id=publishers[k % 60]["id"],
                        slug=f"aplikasi-{k}",
                        name=f"Aplikasi {WORDS_ID[wi].title()} {WORDS_ID[we].title()} {k}",
                        url=f"https://git.contoh.example/app-{k}",
                        landing_url=None,
                        logo=None,
                        description=describe(wi, we),
                        categories=rng.sample(CATEGORIES, 2),
                        software_type="standalone/web",
                        development_status="stable",
                        license="EUPL-1.2",
                        platforms=["web"],
                        maintenance={
                            "type": "internal",
                            "contacts": [{"name": "Tim TI", "email": "ti@contoh.example"}],
                        },
                        localisation=None,
                        spbe_class=rng.choice(["umum", "khusus"]),
                        tags=[WORDS_ID[wi], WORDS_ID[we]],
                        visibility=vis,
                        demo=False,
                    )
                )
            session.execute(sa.insert(App.__table__), rows)
        for start in range(0, n, batch):
            count = min(batch, n - start)
            rows = []
            files = []
            for i, seq in enumerate(take_change_seqs(session, count)):
                k = start + i
                wi = rng.randrange(len(WORDS_ID))
                dataset_id = uuid7()
                vis = "public" if k % 10 < 8 else ("partners" if k % 10 == 8 else "private")
                rows.append(
                    dict(
                        base,
                        id=dataset_id,
                        change_seq=seq,
                        publisher_id=publishers[k % 60]["id"],
                        slug=f"data-{k}",
                        title={
                            "id": f"Data {WORDS_ID[wi]} {k}",
                            "en": f"{WORDS_EN[wi].title()} data {k}",
                        },
                        description={
                            "id": f"Rekap {WORDS_ID[wi]} per kecamatan.",
                            "en": f"{WORDS_EN[wi].title()} by district.",
                        },
                        keywords=[WORDS_ID[wi]],
                        themes=rng.sample(THEMES, 2),
                        license="CC-BY-4.0",
                        access_rights="PUBLIC",
                        contact=None,
                        temporal=None,
                        spatial=None,
                        update_frequency="ANNUAL",
                        landing_page=None,
                        visibility=vis,
                        demo=False,
                    )
                )
                fmt = FORMATS[k % len(FORMATS)]
                files.append(
                    dict(
                        base,
                        id=uuid7(),
                        dataset_id=dataset_id,
                        title=f"Data {k} ({fmt})",
                        access_url=f"https://data.contoh.example/{k}.{fmt.lower()}",
                        download_url=f"https://data.contoh.example/{k}.{fmt.lower()}",
                        media_type=None,
                        format=fmt,
                        byte_size=1000 + k,
                        checksum=None,
                    )
                )
            session.execute(sa.insert(Dataset.__table__), rows)
            for file, seq in zip(files, take_change_seqs(session, len(files)), strict=True):
                file["change_seq"] = seq
            session.execute(sa.insert(Distribution.__table__), files)
        public_apps = [a for k, a in enumerate(app_ids) if k % 10 < 8]
        releases = []
        for k, app_id in enumerate(public_apps[:2000]):
            for v, seq in enumerate(take_change_seqs(session, 2)):
                releases.append(
                    dict(
                        base,
                        id=uuid7(),
                        change_seq=seq,
                        app_id=app_id,
                        version=f"1.{v}.0",
                        released_at=now,
                        notes="Perbaikan dan fitur baru.",
                        artifacts=[
                            {
                                "name": f"app-{k}-1.{v}.0.tar.gz",
                                "url": f"https://git.contoh.example/app-{k}-1.{v}.0.tar.gz",
                                "sha256": "ab" * 32,
                                "size": 10_000_000 + k,
                                "media_type": "application/gzip",
                            }
                        ],
                    )
                )
        session.execute(sa.insert(Release.__table__), releases)
        adoptions = []
        for seq in take_change_seqs(session, 5000):
            adopter = rng.choice(publishers)
            adoptions.append(
                dict(
                    base,
                    id=uuid7(),
                    change_seq=seq,
                    app_id=rng.choice(public_apps[:3000]),
                    publisher_id=adopter["id"],
                    adopter_node=None,
                    adopter_code=adopter["code"],
                    adopter_name=adopter["name"],
                    version="1.0.0",
                    status=rng.choice(["evaluating", "piloting", "production"]),
                    deployment_url=None,
                    started_on=None,
                    ended_on=None,
                    delivered_at=None,
                )
            )
        session.execute(sa.insert(Adoption.__table__), adoptions)
    return {"app_ids": public_apps, "publishers": [p["code"] for p in publishers]}


# --- measuring ---------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def cpu_ms(pid: int) -> float:
    """CPU time (user and system) the process has used so far, in milliseconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def latencies(url: str, paths: list[str], pid: int) -> dict[str, float]:
    """Wall times seen by the client, and the server's CPU time per request: on a
    loaded machine a request waits for a core, and CPU time is the work it did. The
    first ``len(set(paths))`` requests are each page's first (``paths`` repeats)."""
    seen: set[str] = set()
    all_ms: list[float] = []
    cold_ms: list[float] = []
    distinct = len(set(paths))
    with httpx2.Client(base_url=url, headers=HTML, timeout=60) as client:
        client.get("/healthz")  # the connection, not counted
        cpu = [cpu_ms(pid)]
        for path in paths:
            started = time.perf_counter()
            response = client.get(path)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (path, response.status_code)
            all_ms.append(elapsed)
            if path not in seen:
                cold_ms.append(elapsed)
                seen.add(path)
            if len(all_ms) == distinct:
                cpu.append(cpu_ms(pid))
        cpu.append(cpu_ms(pid))
    warm = len(all_ms) - distinct
    return {
        "requests": len(all_ms),
        "p50_ms": round(percentile(all_ms, 50), 2),
        "p99_ms": round(percentile(all_ms, 99), 2),
        "cold_p50_ms": round(percentile(cold_ms, 50), 2),
        "cold_p99_ms": round(percentile(cold_ms, 99), 2),
        "cold_cpu_ms": round((cpu[1] - cpu[0]) / distinct, 2),
        "warm_cpu_ms": round((cpu[2] - cpu[1]) / warm, 3) if warm else 0.0,
    }


WRK_SCRIPT = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
wrk.headers["Accept"] = "text/html"
wrk.headers["Accept-Language"] = "id-ID,id"
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def wrk(url: str, paths: list[str], duration: int, work: Path) -> float:
    listing = work / f"paths-{uuid.uuid4().hex}.txt"
    listing.write_text("\n".join(paths) + "\n")
    script = work / f"wrk-{uuid.uuid4().hex}.lua"
    script.write_text(WRK_SCRIPT % listing)
    try:
        result = subprocess.run(
            ["wrk", "-t2", "-c32", f"-d{duration}s", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        listing.unlink()
        script.unlink()
    if "Non-2xx" in result.stdout:
        raise RuntimeError(f"{url} answered errors under load:\n{result.stdout}")
    for line in result.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(result.stdout + result.stderr)


BARE_APP = """
import json, sys
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

pages = json.load(open(sys.argv[1]))
app = FastAPI()

@app.get("/{path:path}")
async def page(request: Request) -> HTMLResponse:
    query = request.url.query
    return HTMLResponse(pages[request.url.path + ("?" + query if query else "")])

if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument(
        "--data", type=Path, help="keep the seeded node here and reuse it on the next run"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    rng = random.Random(7)
    work = args.data or Path(tempfile.mkdtemp(prefix="lumbung-web-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    seeded_file = work / "seeded.json"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMBUNG_")}
    env.update(
        LUMBUNG_DATA_DIR=str(work / "node"),
        LUMBUNG_BASE_URL=url,
        LUMBUNG_NODE_NAME="Bench node",
        LUMBUNG_SYNC_INTERVAL="0",
    )
    results: dict[str, Any] = {
        "entities": args.entities,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "load_before": load(),
    }
    node = None
    bare = None
    try:
        if seeded_file.exists():
            seeded = json.loads(seeded_file.read_text())
            assert seeded["entities"] == args.entities, "the kept node has another size"
        else:
            subprocess.run([LUMBUNG, "db", "upgrade"], env=env, check=True, capture_output=True)
            engine = sa.create_engine(f"sqlite:///{work / 'node' / 'lumbung.db'}")
            started = time.perf_counter()
            seeded = seed(engine, args.entities, rng)
            seeded["entities"] = args.entities
            seeded["app_ids"] = [str(a) for a in seeded["app_ids"]]
            results["seed_seconds"] = round(time.perf_counter() - started, 1)
            engine.dispose()
            # Bulk inserts bypass the search index's hooks: build it as an upgrade would.
            started = time.perf_counter()
            subprocess.run(
                [LUMBUNG, "search", "reindex", "--quiet"], env=env, check=True, capture_output=True
            )
            results["reindex_seconds"] = round(time.perf_counter() - started, 1)
            seeded_file.write_text(json.dumps(seeded))
            print(f"seeded {args.entities} apps and datasets in {results['seed_seconds']} s")
        node = subprocess.Popen(
            [LUMBUNG, "serve", "--port", str(port), "--no-demo"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_ready(url, node)

        queries = [f"q={w}" for w in WORDS_ID[:12]] + [f"q={w}" for w in WORDS_EN[:6]]
        queries += [
            f"q={w}&kind=app&category={c}" for w, c in zip(WORDS_ID[:6], CATEGORIES, strict=False)
        ]
        queries += [
            f"q={w}&publisher={p}"
            for w, p in zip(WORDS_EN[6:12], seeded["publishers"][:6], strict=True)
        ]
        search_paths = [f"/search?{q}" for q in queries]
        app_paths = [f"/apps/{a}" for a in rng.sample(seeded["app_ids"], 400)]
        sets = {"home": ["/"], "search": search_paths, "app": app_paths}

        runs: dict[str, list[dict[str, float]]] = {name: [] for name in sets}
        for run in range(args.runs):
            for name, paths in sets.items():
                # Every run sees each page first cold: a write between runs is a new
                # catalog version, which no cached page survives.
                with (
                    Session(sa.create_engine(f"sqlite:///{work / 'node' / 'lumbung.db'}")) as s,
                    s.begin(),
                ):
                    take_change_seqs(s, 1)
                repeat = {"home": 200, "search": 4, "app": 1}[name]
                runs[name].append(latencies(url, paths * repeat, node.pid))
                print(f"run {run + 1} {name}: {runs[name][-1]}")
        results["latency"] = {
            name: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
            for name, rs in runs.items()
        }

        # The same HTML bytes, served from memory by a bare FastAPI endpoint.
        with httpx2.Client(base_url=url, headers=HTML, timeout=60) as client:
            pages = {p: client.get(p).text for paths in sets.values() for p in paths}
        (work / "pages.json").write_text(json.dumps(pages))
        (work / "bare.py").write_text(textwrap.dedent(BARE_APP))
        bare_port = free_port()
        bare = subprocess.Popen(
            [sys.executable, str(work / "bare.py"), str(work / "pages.json"), str(bare_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        bare_url = f"http://127.0.0.1:{bare_port}"
        wait_ready(bare_url, bare, "/")

        throughput: dict[str, Any] = {}
        for name, paths in sets.items():
            # Steady state: every page built once before the clock starts, so the
            # figure is the pages' serving rate, not the first build of a few slow
            # searches (which the latencies above report).
            with httpx2.Client(base_url=url, headers=HTML, timeout=120) as client:
                for path in paths:
                    client.get(path)
            page_rps, bare_rps = [], []
            for run in range(args.runs):
                # Alternate which goes first; a pause lets the other's work drain.
                order = [(url, page_rps), (bare_url, bare_rps)]
                for target, figures in order if run % 2 == 0 else order[::-1]:
                    time.sleep(3)
                    figures.append(wrk(target, paths, args.duration, work))
            throughput[name] = {
                "page_rps": statistics.median(page_rps),
                "bare_rps": statistics.median(bare_rps),
                "ratio": round(statistics.median(page_rps) / statistics.median(bare_rps), 2),
            }
            print(f"throughput {name}: {throughput[name]}")
        results["throughput_32_connections"] = throughput
        results["page_bytes"] = {
            name: max(len(pages[p].encode()) for p in paths) for name, paths in sets.items()
        }
    finally:
        for process in (node, bare):
            if process is not None:
                stop(process)
        results["load_after"] = load()
        if args.data is None:
            shutil.rmtree(work, ignore_errors=True)
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "web.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
