"""A CKAN portal on loopback: a real HTTP server answering ``package_search`` as CKAN
does (filters, a stable sort, start/rows paging), over packages taken from the real
responses in ``../shared/data/ckan``. Tests and the benchmark change it between runs."""

from __future__ import annotations

import copy
import http.server
import json
import re
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

RANGE = re.compile(r"metadata_modified:\[(\S+) TO \*\]")
ORGANIZATION = re.compile(r'organization:"?([\w-]+)"?')


def real_packages(folder: Path) -> list[dict[str, Any]]:
    """Every package dict in the folder's real CKAN responses, each with an id and a
    metadata_modified (the package_create examples have neither)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "result" in data:
            data = data["result"]
        if isinstance(data, dict) and "results" in data:
            data = data["results"]
        for package in data if isinstance(data, list) else [data]:
            if not isinstance(package, dict) or "name" not in package:
                continue
            package = copy.deepcopy(package)
            package.setdefault("id", str(uuid.uuid5(uuid.NAMESPACE_URL, package["name"])))
            package.setdefault("metadata_modified", "2024-01-01T00:00:00.000000")
            package.setdefault("state", "active")
            for n, resource in enumerate(package.get("resources") or []):
                # A portal gives every resource an id; the create examples have none yet.
                resource.setdefault(
                    "id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"{package['id']}/{n}"))
                )
            found[package["id"]] = package
    return list(found.values())


class FakeCkan:
    def __init__(self, packages: list[dict[str, Any]]) -> None:
        self.packages = {p["id"]: p for p in packages}
        self.raw: list[Any] = []  # malformed records served as they are
        self.requests: list[dict[str, list[str]]] = []
        self.repeat_on_next_page = False  # serve each page's last record again on the next
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                parts = urlsplit(self.path)
                if parts.path != "/api/3/action/package_search":
                    self._send(404, {"success": False, "error": {"message": "Not found"}})
                    return
                self._send(200, fake.search(parse_qs(parts.query)))

            def _send(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeCkan:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def search(self, query: dict[str, list[str]]) -> dict[str, Any]:
        with self.lock:
            self.requests.append(query)
            fq = query.get("fq", [""])[0]
            rows = min(int(query.get("rows", ["10"])[0]), 1000)
            start = int(query.get("start", ["0"])[0])
            listed = [
                p for p in self.packages.values()
                if not p.get("private") and p.get("state", "active") == "active"
            ]  # fmt: skip
            since = RANGE.search(fq)
            if since:
                bound = since[1].rstrip("Z")
                listed = [p for p in listed if p["metadata_modified"] >= bound]
            organization = ORGANIZATION.search(fq)
            if organization:
                listed = [
                    p for p in listed
                    if isinstance(p.get("organization"), dict)
                    and p["organization"].get("name") == organization[1]
                ]  # fmt: skip
            listed.sort(key=lambda p: (p["metadata_modified"], p["id"]))
            results: list[Any] = copy.deepcopy(listed + self.raw)
            page = results[start : start + rows]
            if self.repeat_on_next_page and start > 0 and start <= len(results):
                page = [results[start - 1], *page]
            return {
                "help": "package_search",
                "success": True,
                "result": {"count": len(results), "sort": "metadata_modified asc", "results": page},
            }
