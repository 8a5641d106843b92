"""publiccode.yml import and export against the catalog: who may import into which
publisher, how a re-import finds the app it updates, and what an export reads.

Services flush and never commit; the caller's unit of work commits.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from registry.catalog import schemas
from registry.catalog import service as catalog
from registry.catalog.models import App, Dataset, Distribution, Publisher, Visibility
from registry.db import Bind, session_scope
from registry.errors import FieldError, LumbungError, ValidationFailed, field_error
from registry.formats import dcat, publiccode
from registry.formats.publiccode import Issue
from registry.global_ids import global_id
from registry.principal import Principal
from registry.querying import first_live, live
from registry.settings import Settings


class PubliccodeRejected(ValidationFailed):
    code, title = "publiccode-rejected", "publiccode.yml rejected"


# The catalog fields a publiccode.yml decides, with their value when it is silent.
_FROM_FILE: dict[str, Any] = {
    "landing_url": None,
    "logo": None,
    "categories": [],
    "software_type": None,
    "development_status": None,
    "license": None,
    "platforms": [],
    "maintenance": None,
    "localisation": None,
}


class _ImportedAppCreate(schemas.AppCreate):
    """An app as an import creates it: with its publiccode.yml document, so that the
    row is written in one flush (a second would stamp, re-index and re-expose it again)."""

    publiccode: Any = None


class _ImportedAppUpdate(schemas.AppUpdate):
    publiccode: Any = None


@dataclass
class ImportResult:
    app: App
    created: bool
    issues: list[Issue]


def _loc(path: str) -> list[str | int]:
    """``description.en.features[2]`` → ``["publiccode", "description", "en", "features", 2]``."""
    loc: list[str | int] = ["publiccode"]
    for part in path.split(".") if path else []:
        name, *indexes = re.split(r"\[(\d+)\]", part)
        if name:
            loc.append(name)
        loc.extend(int(i) for i in indexes if i.isdigit())
    return loc


def issue_errors(issues: list[Issue]) -> list[FieldError]:
    return [field_error(_loc(i.path), str(i).split(": ", 1)[1]) for i in issues]


def parse_or_reject(data: bytes | str, *, strict: bool) -> publiccode.Parsed:
    """The parsed file, or a 422 listing every problem at once."""
    parsed = publiccode.parse(data)
    if parsed.accepted(strict=strict):
        return parsed
    blocking = parsed.fatal if not strict else [*parsed.fatal, *parsed.errors]
    blocking = list(dict.fromkeys(blocking))
    mode = "strict" if strict else "lenient"
    raise PubliccodeRejected(
        f"the publiccode.yml cannot be imported ({mode} mode): {len(blocking)} blocking "
        f"problem(s), {len(parsed.issues)} in all; each is listed in `errors`",
        errors=issue_errors(blocking + [i for i in parsed.issues if i not in blocking]),
    )


def import_publiccode(
    session: Session,
    principal: Principal,
    data: bytes | str,
    *,
    publisher: str | None,
    strict: bool = False,
    visibility: Visibility | None = None,
) -> ImportResult:
    """Create the app the file describes, or update the publisher's app with the same
    source URL (a re-import never duplicates it)."""
    return _import(session, principal, data, publisher, strict, visibility, _Lookups())


def _import(
    session: Session,
    principal: Principal,
    data: bytes | str,
    publisher: str | None,
    strict: bool,
    visibility: Visibility | None,
    lookups: _Lookups,
) -> ImportResult:
    parsed = parse_or_reject(data, strict=strict)
    owner = lookups.owner(session, principal, publisher)
    fields = dict(parsed.fields)
    existing = lookups.app_with_url(session, owner, fields["url"])
    if not fields.get("tags"):
        fields.pop("tags", None)  # a re-import keeps the tags given in the catalog
    if existing is not None:
        # What the file no longer says is cleared, so the app says what the file says.
        for key, empty in _FROM_FILE.items():
            fields.setdefault(key, empty)
    try:
        if existing is None:
            app_in = _ImportedAppCreate(
                publisher=owner.code,
                slug=lookups.free_slug(session, owner, fields["name"]),
                visibility=visibility or Visibility.private,
                publiccode=parsed.document,
                **fields,
            )
            app = catalog.create_app(session, principal, app_in)
        else:
            if visibility is not None:
                fields["visibility"] = visibility
            update = _ImportedAppUpdate(publiccode=parsed.document, **fields)
            app = catalog.update_app(session, principal, existing, update)
    except ValidationError as exc:
        # The fields come from a checked document; if one still does not fit the
        # catalog, say which, as a validation error rather than a crash.
        raise PubliccodeRejected(
            "the publiccode.yml has values the catalog cannot hold",
            errors=[
                field_error(["publiccode", *map(str, e["loc"])], str(e["msg"]))
                for e in exc.errors()
            ],
        ) from None
    if app.publiccode != parsed.document:
        # Written above as JSON sees it; a value JSON has no form for (NaN, infinity
        # under an extension key) is stored as the file has it, as before.
        app.publiccode = parsed.document
        session.flush()
    return ImportResult(app, existing is None, parsed.issues)


def import_many(
    session: Session,
    principal: Principal,
    files: list[tuple[str, bytes]],
    *,
    publisher: str | None,
    strict: bool = False,
    visibility: Visibility | None = None,
) -> list[tuple[str, ImportResult | LumbungError]]:
    """Import several files in the caller's one unit of work (one commit for all), each
    in a savepoint of its own: a refused file is reported and leaves the others be."""
    outcomes: list[tuple[str, ImportResult | LumbungError]] = []
    lookups = _BatchLookups()
    for name, data in files:
        try:
            with session.begin_nested():
                result = _import(session, principal, data, publisher, strict, visibility, lookups)
            lookups.imported(result.app)
            outcomes.append((name, result))
        except LumbungError as exc:
            outcomes.append((name, exc))
        # Written already; a session holding every app so far would make each flush
        # walk them all again.
        session.expunge_all()
    return outcomes


def _next_free(taken: set[str], base: str) -> str:
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


class _Lookups:
    """How an import finds the app a file updates and a free slug for a new one: by
    asking the database each time."""

    def owner(self, session: Session, principal: Principal, publisher: str | None) -> Publisher:
        return catalog.publisher_for_create(session, principal, publisher)

    def app_with_url(self, session: Session, owner: Publisher, url: str) -> App | None:
        return first_live(
            session, App, App.publisher_id == owner.id, App.url == url, col(App.origin).is_(None)
        )

    def free_slug(self, session: Session, owner: Publisher, name: str) -> str:
        base = _slug_base(name)
        taken = set(
            session.exec(
                select(App.slug).where(
                    App.publisher_id == owner.id, col(App.slug).startswith(base), live(App)
                )
            )
        )
        return _next_free(taken, base)


class _BatchLookups(_Lookups):
    """The same answers for a batch in one unit of work: the publisher's apps are read
    once, and the batch keeps what it learnt up to date with what it imports (nothing
    else writes in its transaction). Asking each time reads every app of the publisher
    per file (no index serves a source URL), which makes a batch quadratic."""

    def __init__(self) -> None:
        self.found_owner: Publisher | None = None
        self.publisher_id: uuid.UUID | None = None
        self.by_url: dict[str, uuid.UUID] = {}
        self.slugs: set[str] = set()

    def owner(self, session: Session, principal: Principal, publisher: str | None) -> Publisher:
        # Every file names the same publisher; once found (and the caller allowed to
        # write for it), it stays so for the batch. A refusal is asked again per file.
        if self.found_owner is None:
            self.found_owner = super().owner(session, principal, publisher)
        return self.found_owner

    def _load(self, session: Session, owner: Publisher) -> None:
        if self.publisher_id == owner.id:
            return
        self.publisher_id, self.by_url, self.slugs = owner.id, {}, set()
        rows = session.exec(
            select(App.id, App.url, App.slug, App.origin).where(
                App.publisher_id == owner.id, live(App)
            )
        )
        for app_id, url, slug, origin in rows:
            self.slugs.add(slug)
            if origin is None and url is not None:
                self.by_url.setdefault(url, app_id)

    def app_with_url(self, session: Session, owner: Publisher, url: str) -> App | None:
        self._load(session, owner)
        app_id = self.by_url.get(url)
        return None if app_id is None else first_live(session, App, App.id == app_id)

    def free_slug(self, session: Session, owner: Publisher, name: str) -> str:
        self._load(session, owner)
        return _next_free(self.slugs, _slug_base(name))

    def imported(self, app: App) -> None:
        if app.publisher_id == self.publisher_id:
            self.slugs.add(app.slug)
            if app.url is not None:
                self.by_url.setdefault(app.url, app.id)


def _slug_base(name: str) -> str:
    return publiccode.slugify(name)[:90].strip("-") or "app"


def view_of(settings: Settings, app: App, publisher: Publisher) -> publiccode.AppView:
    origin = app.origin or settings.issuer
    return publiccode.AppView(
        name=app.name,
        url=app.url,
        landing_url=app.landing_url,
        logo=app.logo,
        description=app.description,
        categories=app.categories,
        software_type=app.software_type,
        development_status=app.development_status,
        license=app.license,
        platforms=app.platforms,
        maintenance=app.maintenance,
        localisation=app.localisation,
        document=app.publiccode,
        organisation_uri=global_id(origin, "publisher", publisher.id),
        organisation_name=publisher.name,
    )


def export_document(
    session: Session, settings: Settings, principal: Principal | None, app_id: uuid.UUID
) -> tuple[App, dict[str, Any]]:
    """The app the caller may see, as a publiccode.yml document."""
    app = catalog.get_app(session, principal, app_id)
    publisher = session.get(Publisher, app.publisher_id)
    assert publisher is not None  # a foreign key guarantees it
    return app, publiccode.document_of(view_of(settings, app, publisher))


# --- DCAT-AP -----------------------------------------------------------------------

CATALOG_BATCH = 500


class _Agents:
    """Publishers as agents, loaded once per stream (a node hosts a handful)."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.cache: dict[uuid.UUID, dcat.Node] = {}

    def of(self, publisher_id: uuid.UUID) -> dcat.Node:
        if publisher_id not in self.cache:
            publisher = self.session.get(Publisher, publisher_id)
            assert publisher is not None  # a foreign key guarantees it
            origin = publisher.origin or self.settings.issuer
            self.cache[publisher_id] = dcat.agent(
                dcat.PublisherView(
                    iri=global_id(origin, "publisher", publisher.id),
                    name=publisher.name,
                    region_code=publisher.region_code,
                    website=publisher.website,
                    email=publisher.email,
                ),
                region_base=f"{self.settings.issuer}/regions",
            )
        return self.cache[publisher_id]


def _dataset_nodes(
    session: Session, settings: Settings, agents: _Agents, datasets: list[Dataset]
) -> list[dcat.Node]:
    ids = [d.id for d in datasets]
    by_dataset: dict[uuid.UUID, list[Distribution]] = {i: [] for i in ids}
    if ids:
        rows = session.exec(
            select(Distribution)
            .where(col(Distribution.dataset_id).in_(ids), live(Distribution))
            .order_by(col(Distribution.id))
        ).all()
        for row in rows:
            by_dataset[row.dataset_id].append(row)
    nodes = []
    for dataset in datasets:
        origin = dataset.origin or settings.issuer
        nodes.append(
            dcat.dataset_node(
                dataset,
                by_dataset[dataset.id],
                agents.of(dataset.publisher_id),
                iri=global_id(origin, "dataset", dataset.id),
                distribution_iri=lambda d, origin=origin: global_id(
                    origin, "distribution", d.id, d.dataset_id
                ),
                region_base=f"{settings.issuer}/regions",
            )
        )
    return nodes


def dataset_document(
    session: Session, settings: Settings, principal: Principal | None, dataset_id: uuid.UUID
) -> tuple[Dataset, list[dcat.Node]]:
    """One dataset the caller may see, with its distributions and publisher."""
    dataset = catalog.get_dataset(session, principal, dataset_id)
    return dataset, _dataset_nodes(session, settings, _Agents(session, settings), [dataset])


@dataclass(frozen=True)
class CatalogPage:
    """Which slice of the catalog a request asks for (Hydra paging on dataset ids)."""

    limit: int
    cursor: uuid.UUID | None = None
    modified_since: datetime | None = None
    publisher: str | None = None


def catalog_nodes(
    bind: Bind,
    settings: Settings,
    principal: Principal | None,
    page: CatalogPage,
    page_url: Callable[[uuid.UUID | None], str],
) -> tuple[list[dcat.Node], Iterator[list[dcat.Node]]]:
    """The catalog's head nodes and an iterator of dataset nodes, read in batches in a
    read-only unit of work of its own (a response streams after its request's session
    has closed); memory stays flat whatever the catalog's size."""
    catalog_iri = f"{settings.issuer}/catalog"
    node_agent = dcat.Node(f"{settings.issuer}/.well-known/lumbung-node", ["foaf:Agent"]).add(
        "foaf:name", dcat.text(settings.node_name)
    )
    head = [dcat.catalog_node(catalog_iri, settings.node_name, node_agent, [], themes=True)]

    def batches() -> Iterator[list[dcat.Node]]:
        with session_scope(bind, write=False) as session:
            agents = _Agents(session, settings)
            stmt = catalog.datasets_query(
                session, principal, schemas.DatasetFilters(publisher=page.publisher)
            )
            if page.modified_since is not None:
                stmt = stmt.where(col(Dataset.updated_at) >= page.modified_since)
            after, left, last = page.cursor, page.limit, None
            more = False
            while left > 0:
                batch_stmt = stmt
                if after is not None:
                    batch_stmt = batch_stmt.where(col(Dataset.id) > after)
                size = min(CATALOG_BATCH, left)
                rows = list(session.exec(batch_stmt.order_by(col(Dataset.id)).limit(size + 1)))
                more = len(rows) > size
                rows = rows[:size]
                if not rows:
                    break
                left -= len(rows)
                after = last = rows[-1].id
                nodes = _dataset_nodes(session, settings, agents, rows)
                links = dcat.Node(catalog_iri, ["dcat:Catalog"])
                links.add("dcat:dataset", *(dcat.IRI(n.id or "") for n in nodes))
                yield [links, *nodes]
                session.expunge_all()  # rows of past batches need not stay in memory
                if not more:
                    break
            view = dcat.Node(page_url(page.cursor), ["hydra:PartialCollectionView"])
            view.add("hydra:first", dcat.IRI(page_url(None)))
            if more and last is not None:
                view.add("hydra:next", dcat.IRI(page_url(last)))
            yield [dcat.Node(catalog_iri, ["dcat:Catalog"]).add("hydra:view", view)]

    return head, batches()
