"""The demo catalog: four local governments with apps, releases, datasets and
distributions, and which of them use each other's apps, loaded into an empty node so
that a first look at Lumbung has something to browse, filter and share.

Everything in ``catalog.json`` is invented. Apps carry the ``demo`` tag, every
description says "(data contoh / demo data)", links point at the reserved
``.example`` domain, and the loaded rows are marked ``demo=True`` so the catalog
pages can label them and an operator can find them again.

Each entry goes through the API's own request schemas and the catalog services,
so the demo can never hold data that the API would refuse.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from importlib import resources
from typing import TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlmodel import Session, col, select

from registry.catalog import schemas, service
from registry.catalog.models import App, Dataset, Distribution, Publisher, Release
from registry.principal import Principal
from registry.querying import live
from registry.sharing import schemas as sharing_schemas
from registry.sharing import service as sharing

__all__ = [
    "DemoAdoption",
    "DemoApp",
    "DemoCatalog",
    "DemoCatalogError",
    "DemoDataset",
    "demo_summary",
    "load_demo",
    "read_catalog",
]

CATALOG_FILE = "catalog.json"

M = TypeVar("M", bound=BaseModel)
Owned = TypeVar("Owned", schemas.AppCreate, schemas.DatasetCreate)

# The loader writes on behalf of several publishers at once, which only the node's
# admin may do. It is never issued a token: it exists only inside this process.
LOADER = Principal(client_id="demo-loader", scopes=frozenset({"admin"}))


class DemoCatalogError(ValueError):
    """``catalog.json`` holds an entry the API would refuse, or names an unknown publisher."""


@dataclass(frozen=True)
class DemoApp:
    app: schemas.AppCreate
    releases: tuple[schemas.ReleaseCreate, ...]


@dataclass(frozen=True)
class DemoDataset:
    dataset: schemas.DatasetCreate
    distributions: tuple[schemas.DistributionCreate, ...]


@dataclass(frozen=True)
class DemoAdoption:
    """A demo publisher's use of a demo app, named ``publisher/slug``; the app's id is
    known only once the app is created."""

    app: tuple[str, str]
    adoption: sharing_schemas.AdoptionCreate


@dataclass(frozen=True)
class DemoCatalog:
    publishers: tuple[schemas.PublisherCreate, ...]
    apps: tuple[DemoApp, ...]
    datasets: tuple[DemoDataset, ...]
    adoptions: tuple[DemoAdoption, ...] = ()


def read_catalog() -> DemoCatalog:
    """The demo catalog, every entry validated by the API's request schemas.

    Raises :class:`DemoCatalogError` naming the first entry that does not validate.
    """
    text = resources.files(__name__).joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    raw = _mapping(json.loads(text), "catalog")
    publishers = tuple(
        _validate(schemas.PublisherCreate, entry, f"publishers[{i}]")
        for i, entry in enumerate(_list(raw, "publishers", "catalog"))
    )
    codes = {p.code for p in publishers}
    apps = tuple(
        _parse_app(entry, f"apps[{i}]", codes)
        for i, entry in enumerate(_list(raw, "apps", "catalog"))
    )
    datasets = tuple(
        _parse_dataset(entry, f"datasets[{i}]", codes)
        for i, entry in enumerate(_list(raw, "datasets", "catalog"))
    )
    names = {(entry.app.publisher, entry.app.slug) for entry in apps}
    adoptions = tuple(
        _parse_adoption(entry, f"adoptions[{i}]", codes, names)
        for i, entry in enumerate(_as_list(raw.get("adoptions", []), "adoptions"))
    )
    return DemoCatalog(publishers, apps, datasets, adoptions)


def load_demo(session: Session) -> bool:
    """Fill an empty node with the demo catalog.

    Does nothing and returns ``False`` when the node already has a live publisher:
    the demo is for a first start, never mixed into a real catalog. Otherwise
    creates every publisher, app, release, dataset and distribution, marks them as
    demo, and returns ``True``. Flushes but does not commit; the caller does.
    """
    if session.exec(select(Publisher.id).where(live(Publisher)).limit(1)).first() is not None:
        return False
    # Validate the whole file before writing anything, so a bad entry leaves no half catalog.
    catalog = read_catalog()
    for publisher_in in catalog.publishers:
        service.create_publisher(session, publisher_in, demo=True)
    created: dict[tuple[str, str], App] = {}
    for entry in catalog.apps:
        app = service.create_app(session, LOADER, entry.app)
        app.demo = True
        created[(entry.app.publisher or "", entry.app.slug)] = app
        for release_in in entry.releases:
            service.create_release(session, LOADER, app, release_in)
    for dataset_entry in catalog.datasets:
        dataset = service.create_dataset(session, LOADER, dataset_entry.dataset)
        dataset.demo = True
        for distribution_in in dataset_entry.distributions:
            service.create_distribution(session, LOADER, dataset, distribution_in)
    # Who uses what, so an app's page shows its users from the first start.
    for use in catalog.adoptions:
        adoption_in = use.adoption.model_copy(update={"app_id": created[use.app].id})
        sharing.create_adoption(session, LOADER, adoption_in)
    session.flush()
    return True


def demo_summary(session: Session) -> dict[str, int]:
    """How many live demo rows of each kind the node holds, e.g. for the CLI to print."""
    live_demo_apps = select(App.id).where(col(App.demo).is_(True), live(App))
    live_demo_datasets = select(Dataset.id).where(col(Dataset.demo).is_(True), live(Dataset))
    counts = {
        "publishers": select(Publisher.id).where(col(Publisher.demo).is_(True), live(Publisher)),
        "apps": live_demo_apps,
        "releases": select(Release.id).where(
            col(Release.app_id).in_(live_demo_apps), live(Release)
        ),
        "datasets": live_demo_datasets,
        "distributions": select(Distribution.id).where(
            col(Distribution.dataset_id).in_(live_demo_datasets), live(Distribution)
        ),
    }
    return {
        name: session.exec(select(sa.func.count()).select_from(stmt.subquery())).one()
        for name, stmt in counts.items()
    }


# --- parsing -----------------------------------------------------------------------


def _parse_app(raw: object, where: str, publishers: set[str]) -> DemoApp:
    app_in, releases = _parse_owned(
        raw, where, publishers, schemas.AppCreate, "releases", schemas.ReleaseCreate
    )
    return DemoApp(app_in, releases)


def _parse_dataset(raw: object, where: str, publishers: set[str]) -> DemoDataset:
    dataset_in, distributions = _parse_owned(
        raw, where, publishers, schemas.DatasetCreate, "distributions", schemas.DistributionCreate
    )
    return DemoDataset(dataset_in, distributions)


def _parse_owned(
    raw: object, where: str, publishers: set[str], model: type[Owned], key: str, part: type[M]
) -> tuple[Owned, tuple[M, ...]]:
    """An app or a dataset, owned by a demo publisher, and the list under ``key`` that
    holds its parts (releases, distributions)."""
    fields = dict(_mapping(raw, where))
    parts = fields.pop(key, [])
    owned = _validate(model, fields, where)
    _check_publisher(owned.publisher, where, publishers)
    return owned, tuple(
        _validate(part, entry, f"{where}.{key}[{i}]")
        for i, entry in enumerate(_as_list(parts, f"{where}.{key}"))
    )


def _parse_adoption(
    raw: object, where: str, publishers: set[str], apps: set[tuple[str | None, str]]
) -> DemoAdoption:
    entry = dict(_mapping(raw, where))
    ref = str(entry.pop("app", ""))
    owner, _, slug = ref.partition("/")
    if (owner, slug) not in apps:
        raise DemoCatalogError(
            f"demo catalog, {where}.app: {ref!r} is not a demo app (publisher/slug)"
        )
    _check_publisher(entry.get("publisher"), where, publishers)
    # Validated with a placeholder id: the app's own exists only once it is loaded.
    placeholder = {**entry, "app_id": uuid.UUID(int=0)}
    adoption = _validate(sharing_schemas.AdoptionCreate, placeholder, where)
    return DemoAdoption((owner, slug), adoption)


def _validate(model: type[M], raw: object, where: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise DemoCatalogError(f"demo catalog, {where}: {exc}") from exc


def _check_publisher(code: object, where: str, publishers: set[str]) -> None:
    # The loader acts for no publisher of its own, so every item must name its owner.
    if code not in publishers:
        raise DemoCatalogError(
            f"demo catalog, {where}: publisher {code!r} is not one of the demo publishers"
        )


def _mapping(raw: object, where: str) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise DemoCatalogError(f"demo catalog, {where}: expected an object")
    return raw


def _list(raw: dict[str, object], key: str, where: str) -> list[object]:
    return _as_list(raw.get(key, []), f"{where}.{key}")


def _as_list(raw: object, where: str) -> list[object]:
    if not isinstance(raw, list):
        raise DemoCatalogError(f"demo catalog, {where}: expected a list")
    return raw
