"""The node that schemathesis fuzzes, and how it is fuzzed.

Schemathesis builds one pytest item per operation when the test module is imported, so
the app (its routes, hence its OpenAPI document) exists at import time; its database is
attached later by a fixture: a SQLite file of its own, or on the PostgreSQL pass a
scratch database beside the test database (as ``tests/nodes.py`` gives real nodes).
Requests go in-process through schemathesis's ASGI transport, and every request is a
real committed transaction, as in production.

How long the run is comes from the environment, so ``make fuzz`` reuses the same
tests with more examples: ``LUMBUNG_FUZZ_EXAMPLES`` (examples per operation and
generation mode).
"""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import schemathesis
import sqlalchemy as sa
from fastapi import FastAPI
from schemathesis.schemas import BaseSchema

from registry import migrate
from registry.app import create_app
from registry.catalog import schemas, service
from registry.db import create_db_engine, session_scope
from registry.oauth.service import create_client
from registry.principal import Principal
from registry.settings import Settings, load_settings
from registry.viewcache import close_versions
from tests.conftest import on_postgres
from tests.nodes import drop_postgres_database, postgres_database

EXAMPLES = int(os.environ.get("LUMBUNG_FUZZ_EXAMPLES", "5"))

# Operations that make the node call a URL taken from the request: fuzzing them would
# send traffic to generated hosts. Everything else is fuzzed.
CALLS_OUT = [("POST", "/api/v1/peers")]

# What is checked on every response. Left out: checks that need state the fuzzer
# cannot build in a bounded run (use_after_free, ensure_resource_availability, which
# the stateful run does), and those that judge the API's design rather than whether
# the server keeps its published contract (ignored_auth and positive_data_acceptance,
# which expects any schema-valid body to succeed, which no reference to a missing
# publisher can).
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
]


# What a request with invalid data may be answered, beyond schemathesis's defaults:
# 412, since a failed If-Match is decided before the request's content is read (RFC
# 9110, 13.2.2), so a precondition that fails answers 412 however bad the body is.
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "412", "415", "422", "428"]
REJECTED += ["429", "5xx"]


def config(examples: int = EXAMPLES) -> schemathesis.Config:
    checks: dict[str, Any] = {"enabled": False}
    checks.update({name: {"enabled": True} for name in CHECKS})
    checks["negative_data_rejection"]["expected-statuses"] = REJECTED
    return schemathesis.Config.from_dict(
        {
            "generation": {
                "max-examples": examples,
                "mode": "all",
                # No example database: a failure is reported with its reproduction and
                # kept as a regression test, not replayed from a local cache.
                "database": "none",
                # Unknown query parameters are ignored, as HTTP APIs conventionally do,
                # and OpenAPI cannot declare otherwise: sending them is no negative case.
                "allow-extra-parameters": False,
            },
            "checks": checks,
        }
    )


_DATA_DIR = Path(tempfile.mkdtemp(prefix="lumbung-fuzz-"))
atexit.register(shutil.rmtree, _DATA_DIR, True)
SETTINGS: Settings = load_settings(data_dir=_DATA_DIR, base_url="http://testserver")
# The database is attached by ``attach_database``; until then the app has none.
APP: FastAPI = create_app(SETTINGS, engine=sa.create_engine("sqlite://"))


def load_schema(examples: int = EXAMPLES) -> Any:
    schema: BaseSchema = schemathesis.openapi.from_asgi(
        "/openapi.json", APP, config=config(examples)
    )
    for method, path in CALLS_OUT:
        schema = schema.exclude(method=method, path=path)
    schema.hook(flatmap_path_parameters)
    schema.hook(after_call)
    return schema


@dataclass
class Tally:
    """What the run did, printed in pytest's summary (tests/fuzz/conftest.py)."""

    requests: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    operations: set[str] = field(default_factory=set)

    def line(self) -> str:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_status.items()))
        return (
            f"schemathesis: {len(self.operations)} operations, {self.requests} requests "
            f"({statuses})"
        )


TALLY = Tally()


def after_call(context: Any, case: Any, response: Any) -> None:
    TALLY.requests += 1
    TALLY.operations.add(case.operation.label)
    kind = f"{response.status_code // 100}xx"
    TALLY.by_status[kind] = TALLY.by_status.get(kind, 0) + 1


# --- the database and what is in it -------------------------------------------------


@dataclass
class Seeded:
    """Ids of rows that exist, so that some generated requests reach real items
    instead of stopping at 404."""

    path_values: dict[str, list[str]] = field(default_factory=dict)


SEEDED = Seeded()


def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    """Half of the generated requests address a seeded row instead of a random id."""
    if not path_parameters:
        return st.just(path_parameters)
    known = {
        name: st.sampled_from(SEEDED.path_values[name])
        for name in path_parameters
        if SEEDED.path_values.get(name)
    }
    if not known:
        return st.just(path_parameters)
    return st.one_of(
        st.just(path_parameters),
        st.fixed_dictionaries(known).map(lambda chosen: {**path_parameters, **chosen}),
    )


def _seed(engine: sa.Engine) -> None:
    admin = Principal(client_id="fuzz-seed", scopes=frozenset({"admin"}))
    values: dict[str, list[str]] = {}
    with session_scope(engine, write=True) as session:
        for code in ("kab-banyuwangi", "kota-pariaman"):
            publisher = service.create_publisher(
                session, schemas.PublisherCreate(code=code, name=code.title())
            )
            values.setdefault("publisher_ref", []).extend([code, str(publisher.id)])
            for visibility in ("public", "partners", "private"):
                app = service.create_app(
                    session,
                    admin,
                    schemas.AppCreate(
                        publisher=code,
                        slug=f"app-{visibility}",
                        name="Layanan",
                        visibility=visibility,
                    ),
                )
                values.setdefault("app_id", []).append(str(app.id))
                release = service.create_release(
                    session,
                    admin,
                    app,
                    schemas.ReleaseCreate(
                        version="1.0.0",
                        artifacts=[
                            schemas.Artifact(
                                name="layanan.zip", url="https://example.org/layanan.zip"
                            )
                        ],
                    ),
                )
                values.setdefault("release_id", []).append(str(release.id))
                dataset = service.create_dataset(
                    session,
                    admin,
                    schemas.DatasetCreate(
                        publisher=code,
                        slug=f"data-{visibility}",
                        title={"id": "Data"},
                        visibility=visibility,
                    ),
                )
                values.setdefault("dataset_id", []).append(str(dataset.id))
                distribution = service.create_distribution(
                    session,
                    admin,
                    dataset,
                    schemas.DistributionCreate(access_url="https://example.org/data.csv"),
                )
                values.setdefault("distribution_id", []).append(str(distribution.id))
    values["name"] = ["layanan.zip"]
    SEEDED.path_values = values


@dataclass
class FuzzNode:
    engine: sa.Engine
    client_id: str
    secret: str
    _token: tuple[str, float] | None = None

    def admin_headers(self) -> dict[str, str]:
        """A bearer token of the node's admin client, renewed before it expires
        (tokens live 300 s; a long run outlasts one)."""
        from starlette.testclient import TestClient

        if self._token is None or self._token[1] < time.monotonic():
            basic = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
            response = TestClient(APP).post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
            )
            response.raise_for_status()
            self._token = (response.json()["access_token"], time.monotonic() + 200)
        return {"Authorization": f"Bearer {self._token[0]}"}


def attach_database() -> Iterator[FuzzNode]:
    """Give the app a fresh, migrated and seeded database for one test module."""
    url = postgres_database(f"fuzz{uuid.uuid4().hex[:6]}") if on_postgres() else None
    settings = SETTINGS.model_copy(
        update={"database_url": url or f"sqlite:///{_DATA_DIR / f'{uuid.uuid4().hex}.db'}"}
    )
    migrate.upgrade(settings)
    engine = create_db_engine(settings)
    _seed(engine)
    with session_scope(engine, write=True) as session:
        client, secret = create_client(
            session, name="fuzz admin", scopes="admin", publisher_id=None, settings=settings
        )
        client_id = client.client_id
    assert secret is not None
    APP.state.engine = engine
    try:
        yield FuzzNode(engine=engine, client_id=client_id, secret=secret)
    finally:
        close_versions(APP.state)
        engine.dispose()
        if url:
            drop_postgres_database(url)
