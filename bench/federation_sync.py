"""Federation sync benchmark (not a test).

Two nodes on loopback: a source seeded with N apps and N datasets (bulk inserts that
take proper change_seq values from the node's counter), and a puller that mirrors it.

Measures, as medians over several runs:
- full sync throughput (entities/s) of ``lumbung sync`` on the puller, end to end
  (the process starts, pulls every page, exits);
- the peak RSS of that sync process (it streams page by page, so it should not grow
  with the catalog);
- an incremental sync of 10 changes, end to end inside a running process
  (``sync_peer``: lease, one feed page, one transaction, bookkeeping), as the
  background worker does it: anonymously, and as a partner (token from the cache).
  One round with changes runs first to warm the process, as a worker's first pull
  would; it is not counted.

Usage: .venv/bin/python bench/federation_sync.py [--entities 100000] [--runs 3]
Results go to bench-results/federation_sync.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2
import sqlalchemy as sa
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry.catalog.models import App, Dataset, Publisher  # noqa: E402
from registry.db import take_change_seqs, utcnow  # noqa: E402

LUMBUNG = str(Path(sys.executable).with_name("lumbung"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Node:
    def __init__(self, name: str, base: Path) -> None:
        self.name = name
        self.data_dir = base / name
        self.data_dir.mkdir(parents=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.engine = sa.create_engine(
            f"sqlite:///{self.data_dir / 'lumbung.db'}", poolclass=sa.pool.NullPool
        )

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LUMBUNG_")}
        env.update(LUMBUNG_DATA_DIR=str(self.data_dir), LUMBUNG_BASE_URL=self.url,
                   LUMBUNG_NODE_NAME=self.name, LUMBUNG_SYNC_INTERVAL="0")  # fmt: skip
        return env

    def cli(self, *args: str) -> str:
        result = subprocess.run([LUMBUNG, *args], env=self.env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"lumbung {' '.join(args)}: {result.stdout}{result.stderr}")
        return result.stdout

    def start(self) -> None:
        self.process = subprocess.Popen(
            [LUMBUNG, "serve", "--port", str(self.port), "--no-demo"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(300):
            try:
                if httpx2.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        self.engine.dispose()


def seed(node: Node, apps: int, datasets: int) -> None:
    """Bulk insert, each row with its own change_seq from the node's counter."""
    with Session(node.engine) as session, session.begin():
        publisher_id = session.execute(
            sa.select(Publisher.__table__.c.id).where(Publisher.__table__.c.code == "kab-bench")
        ).scalar_one()
        now = utcnow()
        for model, count in ((App, apps), (Dataset, datasets)):
            for start in range(0, count, 10_000):
                n = min(10_000, count - start)
                rows = []
                for i, seq in enumerate(take_change_seqs(session, n)):
                    row: dict[str, Any] = {
                        "id": uuid.uuid4(), "created_at": now, "updated_at": now,
                        "deleted_at": None, "change_seq": seq, "origin": None, "audience": None,
                        "publisher_id": publisher_id, "slug": f"item-{start + i}",
                        "visibility": "public", "demo": False, "license": "EUPL-1.2",
                    }  # fmt: skip
                    if model is App:
                        row.update(
                            name=f"Aplikasi {start + i}",
                            description={"id": {"short_description": "Layanan publik",
                                                "features": ["pengaduan", "antrean"]}},
                            categories=["e-government"], platforms=["web"], tags=["layanan"],
                        )  # fmt: skip
                    else:
                        row.update(
                            title={"id": f"Data {start + i}"},
                            description={"id": "Data terbuka"},
                            keywords=["statistik"], themes=["GOVE"],
                        )  # fmt: skip
                    rows.append(row)
                session.execute(sa.insert(model.__table__), rows)


def reset_mirror(node: Node, origin: str) -> None:
    with node.engine.begin() as connection:
        for table in ("adoptions", "distributions", "releases", "apps", "datasets", "publishers"):
            connection.execute(sa.text(f"DELETE FROM {table} WHERE origin = :o"), {"o": origin})
        connection.execute(
            sa.text("UPDATE peers SET cursor = '0', lease_holder = NULL, lease_expires_at = NULL")
        )


def timed_sync(node: Node, peer: str) -> tuple[float, int]:
    """Run ``lumbung sync`` and return its wall time and peak RSS in MiB."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [LUMBUNG, "sync", peer, "--quiet"], env=node.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(
            f"sync failed: {process.stderr.read().decode() if process.stderr else ''}"
        )
    if process.stderr:
        process.stderr.close()
    process.returncode = 0
    return elapsed, usage.ru_maxrss // 1024


def mirrored(node: Node, origin: str) -> int:
    with node.engine.connect() as connection:
        return sum(
            connection.execute(
                sa.text(f"SELECT count(*) FROM {t} WHERE origin = :o AND deleted_at IS NULL"),
                {"o": origin},
            ).scalar_one()
            for t in ("apps", "datasets", "publishers")
        )


def change_apps(source: Node, apps: list[dict[str, Any]], label: str) -> None:
    headers = source_admin_headers(source)
    for n, app in enumerate(apps):
        response = httpx2.patch(
            f"{source.url}/api/v1/apps/{app['id']}",
            json={"name": f"Aplikasi diubah {label}-{n}"},
            headers=headers,
        )
        response.raise_for_status()


def source_admin_headers(source: Node) -> dict[str, str]:
    admin = json.loads((source.data_dir / "admin-client.json").read_text())
    token = httpx2.post(
        f"{source.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(admin["client_id"], admin["client_secret"]),
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def partner(source: Node, puller: Node) -> None:
    """A partnership between the two nodes' publishers, so the puller syncs with a
    token (fetched once, then taken from the process's cache)."""
    puller.cli("publisher", "add", "kota-penarik", "--name", "Kota Penarik")
    source.cli("peer", "add", puller.url, "--yes")
    partnership = puller.cli(
        "partnership", "request", "--publisher", "kota-penarik", "--peer", source.url,
        "--partner", "kab-bench", "--reference", "PKS/BENCH",
    ).strip()  # fmt: skip
    source.cli("partnership", "approve", partnership)
    source.cli("sync")  # delivers the approval notice to the puller


def incremental(source: Node, puller: Node, runs: int, *, as_partner: bool) -> list[float]:
    """Change 10 apps on the source, then time one in-process sync of the puller."""
    from registry.db import create_db_engine
    from registry.federation.sync import sync_peer
    from registry.oauth.keys import KeyStore
    from registry.settings import load_settings
    from registry.startup import start

    start()  # as every process of a node does before it writes
    settings = load_settings(data_dir=puller.data_dir, base_url=puller.url)
    engine = create_db_engine(settings)
    keys = KeyStore.open(settings.keys_dir)
    # Catch up (as a partner: the wider view reads the feed again from the start).
    result = sync_peer(engine, settings, keys, source.url)
    if result.error or result.mode != ("token" if as_partner else "anonymous"):
        raise RuntimeError(f"catching up: {result}")
    apps = httpx2.get(f"{source.url}/api/v1/apps", params={"limit": 200}).json()["items"]
    offset = 100 if as_partner else 0
    times = []
    for run in range(runs + 1):
        batch = apps[offset + run * 10 : offset + run * 10 + 10]
        change_apps(source, batch, f"{int(as_partner)}-{run}")
        started = time.perf_counter()
        result = sync_peer(engine, settings, keys, source.url)
        elapsed = time.perf_counter() - started
        if result.error or result.upserts != 10:
            raise RuntimeError(f"incremental sync: {result}")
        if run > 0:  # the first round warms the process
            times.append(elapsed)
    engine.dispose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000, help="apps + datasets")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    # Other work on the machine skews every figure: the load average is recorded.
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    base = Path(tempfile.mkdtemp(prefix="lumbung-bench-"))
    source, puller = Node("Sumber", base), Node("Penarik", base)
    try:
        source.start()
        puller.start()
        source.cli("publisher", "add", "kab-bench", "--name", "Kabupaten Bench")
        t0 = time.perf_counter()
        seed(source, args.entities // 2, args.entities - args.entities // 2)
        seeded = time.perf_counter() - t0
        puller.cli("peer", "add", source.url, "--yes")
        full_times, rss = [], []
        for _ in range(args.runs):
            reset_mirror(puller, source.url)
            elapsed, peak = timed_sync(puller, source.url)
            count = mirrored(puller, source.url)
            if count < args.entities:
                raise RuntimeError(f"mirror holds {count} of {args.entities}")
            full_times.append(elapsed)
            rss.append(peak)
            print(f"full sync: {count} entities in {elapsed:.1f} s, peak RSS {peak} MiB")
        inc = incremental(source, puller, max(args.runs, 5), as_partner=False)
        partner(source, puller)
        inc_partner = incremental(source, puller, max(args.runs, 5), as_partner=True)
        median_full = statistics.median(full_times)
        results = {
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "load_average_at_start": load_at_start,
                "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            },  # fmt: skip
            "database": "sqlite",
            "entities": args.entities,
            "runs": args.runs,
            "seed_seconds": round(seeded, 2),
            "full_sync_seconds_median": round(median_full, 2),
            "full_sync_entities_per_second_median": round(args.entities / median_full),
            "full_sync_peak_rss_mib_median": statistics.median(rss),
            "incremental_10_changes_ms_median": round(statistics.median(inc) * 1000, 1),
            "incremental_10_changes_as_partner_ms_median": round(
                statistics.median(inc_partner) * 1000, 1
            ),
            "raw": {
                "full_seconds": full_times,
                "peak_rss_mib": rss,
                "incremental_seconds": inc,
                "incremental_as_partner_seconds": inc_partner,
            },
        }
        out = ROOT / "bench-results" / "federation_sync.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps({k: v for k, v in results.items() if k != "raw"}, indent=2))
    finally:
        puller.stop()
        source.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
