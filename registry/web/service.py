"""What each catalog page shows, read through the same services and the same
visibility rule as the API: a page never holds an item, a count or a facet that its
reader could not get from ``/api/v1`` with the same identity."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.catalog import service as catalog
from registry.catalog.models import App, Dataset, Distribution, Publisher, Release
from registry.peers import Peer
from registry.principal import Principal
from registry.querying import by_ids, live
from registry.search import service as search
from registry.sharing.models import Adoption, Partnership
from registry.sharing.visibility import (
    active_partnership_clause,
    viewer,
    visible_clause,
)
from registry.viewcache import ViewCache

HOME_ITEMS = 6


# --- caches that cannot serve a stale view (registry/viewcache.py) ------------------

# Whole pages are kept by the read cache before routing (registry/web/cache.py).
facet_cache = ViewCache()


# --- home --------------------------------------------------------------------------


@dataclass
class Home:
    newest_apps: list[tuple[App, Publisher]]
    newest_datasets: list[tuple[Dataset, Publisher]]
    most_adopted: list[tuple[App, Publisher, int]]
    # How many apps and datasets the reader may see, counted: by kind.
    counts: dict[str, int]
    facets: dict[str, dict[str, int]]
    # False when the search service estimated the facets from a sample of the catalog.
    exact: bool
    publishers: dict[str, PublisherName]
    peers: dict[str, Peer]


# How many of the newest rows ``newest`` reads at a time, and how many batches before
# it lets the database filter instead (a reader who may see few of the newest items).
NEWEST_BATCH = 4 * HOME_ITEMS
NEWEST_BATCHES = 5

Owned = TypeVar("Owned", App, Dataset)


def newest(
    session: Session, principal: Principal | None, model: type[Owned], limit: int
) -> list[Owned]:
    """The ``limit`` newest live items of ``model`` the reader may see.

    Read in key order and checked with the visibility rule's in-memory form: given
    the rule's SQL form, SQLite (which keeps no statistics unless told to) prefers the
    visibility index and sorts every public row to find the first few. When the newest
    rows hold too few the reader may see, the database filters with the SQL form."""
    sees = viewer(session, principal).sees
    found: list[Owned] = []
    before: uuid.UUID | None = None
    for _ in range(NEWEST_BATCHES):
        stmt = select(model).where(live(model)).order_by(col(model.id).desc())
        if before is not None:
            stmt = stmt.where(col(model.id) < before)
        rows = session.exec(stmt.limit(NEWEST_BATCH)).all()
        found += [row for row in rows if sees(row)]
        if len(found) >= limit or len(rows) < NEWEST_BATCH:
            return found[:limit]
        before = rows[-1].id
    stmt = select(model).where(live(model), visible_clause(model, principal))
    return list(session.exec(stmt.order_by(col(model.id).desc()).limit(limit)).all())


def home(session: Session, principal: Principal | None) -> Home:
    apps = newest(session, principal, App, HOME_ITEMS)
    datasets = newest(session, principal, Dataset, HOME_ITEMS)
    adopted = most_adopted(session, principal, HOME_ITEMS)
    counts = facet_cache.get(
        session, principal, ("home", "kinds"), lambda: kind_counts(session, principal)
    )
    facets, exact = facet_cache.get(
        session,
        principal,
        ("home",),
        lambda: search_facets(session, principal, search.SearchQuery()),
    )
    owners = [a.publisher_id for a in apps] + [d.publisher_id for d in datasets]
    owners += [app.publisher_id for app, _ in adopted]
    publishers = by_ids(session, Publisher, owners)
    codes = publishers_by_code(session, list(facets.get("publisher", {})))
    return Home(
        newest_apps=[(app, publishers[app.publisher_id]) for app in apps],
        newest_datasets=[(d, publishers[d.publisher_id]) for d in datasets],
        most_adopted=[(app, publishers[app.publisher_id], n) for app, n in adopted],
        counts=counts,
        facets=facets,
        exact=exact,
        publishers=codes,
        peers=peers_by_node(session),
    )


def kind_counts(session: Session, principal: Principal | None) -> dict[str, int]:
    """How many live apps and datasets the reader may see, counted rather than taken
    from the search service's facets: over a large catalog those are estimated from a
    sample, which may hold few or none of a kind, and the home page's headline counts
    must be right. One count per kind with the visibility rule's SQL form (for the
    anonymous view a scan of one table's few columns, kept per catalog version)."""
    counts: dict[str, int] = {}
    for kind, model in (("app", App), ("dataset", Dataset)):
        stmt = (
            sa.select(sa.func.count())
            .select_from(model)
            .where(live(model), visible_clause(model, principal))
        )
        counts[kind] = int(session.execute(stmt).scalar_one())
    return counts


def most_adopted(
    session: Session, principal: Principal | None, limit: int
) -> list[tuple[App, int]]:
    """Apps the reader may see, by how many publishers use them (retired uses left out),
    newest first among equals.

    The counts are read most first, a batch at a time, and their apps checked with the
    visibility rule's in-memory form, for the reason :func:`newest` gives (joined to
    the rule's SQL form, every counted app is looked up and sorted to find the first
    few). When those batches hold too few the reader may see, the database filters."""
    sees = viewer(session, principal).sees
    n = sa.func.count().label("n")
    counts: Any = (
        sa.select(col(Adoption.app_id).label("app_id"), n)
        .where(live(Adoption), col(Adoption.status) != "retired")
        .group_by(col(Adoption.app_id))
    )
    ranked = counts.order_by(n.desc(), col(Adoption.app_id).desc())
    found: list[tuple[App, int]] = []
    for batch in range(NEWEST_BATCHES):
        rows = session.execute(ranked.offset(batch * NEWEST_BATCH).limit(NEWEST_BATCH)).all()
        apps = by_ids(session, App, [row.app_id for row in rows])
        for row in rows:
            app = apps.get(row.app_id)
            if app is not None and app.deleted_at is None and sees(app):
                found.append((app, int(row.n)))
        if len(found) >= limit or len(rows) < NEWEST_BATCH:
            return found[:limit]
    subquery = counts.subquery()
    stmt = (
        select(App, subquery.c.n)
        .join(subquery, subquery.c.app_id == App.id)
        .where(live(App), visible_clause(App, principal))
        .order_by(subquery.c.n.desc(), col(App.id).desc())
        .limit(limit)
    )
    return [(app, int(count)) for app, count in session.exec(stmt).all()]


def search_facets(
    session: Session, principal: Principal | None, query: search.SearchQuery
) -> tuple[dict[str, dict[str, int]], bool]:
    """The facet counts of ``query`` over everything the reader may see, and whether
    they are exact (the search service estimates them over a large catalog)."""
    page = search.search(session, principal, query, limit=0, cursor=None)
    return page.facets, exact_counts(page)


def exact_counts(page: search.SearchResult) -> bool:
    """Whether a search result's total and counts are exact: over many matches the
    search service estimates them, and says so."""
    return page.total_exact and page.facets_exact


class PublisherName(NamedTuple):
    """What a facet link shows of a publisher."""

    code: str
    origin: str | None
    name: str


def publishers_by_code(session: Session, keys: list[str]) -> dict[str, PublisherName]:
    """The publishers a facet names, by its keys: a code, or ``code@origin`` for a
    mirrored publisher (a code names the local publisher first). Their names alone:
    every publisher of a facet is read for each page built, and a row costs much less
    than an object."""
    if not keys:
        return {}
    refs = {key: catalog.parse_publisher_ref(key) for key in keys}
    codes = {code for code, _ in refs.values()}
    rows = session.execute(
        sa.select(col(Publisher.code), col(Publisher.origin), col(Publisher.name)).where(
            live(Publisher), col(Publisher.code).in_(codes)
        )
    ).all()
    by_code: dict[str, list[PublisherName]] = {}
    for row in rows:
        by_code.setdefault(row.code, []).append(PublisherName(*row))
    found: dict[str, PublisherName] = {}
    for key, (code, origin) in refs.items():
        matching = by_code.get(code, [])
        exact = [row for row in matching if row.origin == (origin or None)]
        if exact or matching:
            found[key] = (exact or matching)[0]
    return found


# --- search ------------------------------------------------------------------------


@dataclass
class Results:
    page: search.SearchResult
    # False when the total and counts are estimates (see :func:`exact_counts`).
    exact: bool
    publishers: dict[str, PublisherName]
    peers: dict[str, Peer]


def results(
    session: Session,
    principal: Principal | None,
    query: search.SearchQuery,
    *,
    limit: int,
    cursor: str | None,
) -> Results:
    page = search.search(session, principal, query, limit=limit, cursor=cursor)
    publishers = publishers_by_code(session, list(page.facets.get("publisher", {})))
    return Results(page, exact_counts(page), publishers, peers_by_node(session))


# --- app ---------------------------------------------------------------------------


@dataclass
class AppPage:
    app: App
    publisher: Publisher
    releases: list[Release]
    adoptions: list[Adoption]
    adopters: dict[uuid.UUID, Publisher]
    peers: dict[str, Peer] = field(default_factory=dict)


RELEASES_SHOWN = 20
ADOPTIONS_SHOWN = 200


def app_page(session: Session, principal: Principal | None, app_id: uuid.UUID) -> AppPage:
    app = catalog.get_app(session, principal, app_id)
    publisher = session.get(Publisher, app.publisher_id)
    assert publisher is not None  # a foreign key guarantees it
    releases = session.exec(
        select(Release)
        .where(Release.app_id == app.id, live(Release))
        .order_by(col(Release.released_at).desc(), col(Release.id).desc())
        .limit(RELEASES_SHOWN)
    ).all()
    # Who uses it: local publishers' records, those received from peers' publishers
    # and those the origin fed back. One publisher's use is listed once, the local
    # record first (as the adoptions API does).
    rows = session.exec(
        select(Adoption)
        .where(Adoption.app_id == app.id, live(Adoption))
        .order_by(col(Adoption.origin).is_not(None), col(Adoption.id))
        .limit(ADOPTIONS_SHOWN)
    ).all()
    seen: set[tuple[str | None, str]] = set()
    adoptions = []
    for adoption in rows:
        key = (adoption.adopter_node, adoption.adopter_code)
        if key not in seen:
            seen.add(key)
            adoptions.append(adoption)
    adopters = by_ids(
        session, Publisher, [a.publisher_id for a in adoptions if a.publisher_id is not None]
    )
    return AppPage(
        app, publisher, list(releases), adoptions, adopters, peers=peers_by_node(session)
    )


def peers_by_node(session: Session) -> dict[str, Peer]:
    return {peer.node_id: peer for peer in session.exec(select(Peer)).all()}


# --- dataset -----------------------------------------------------------------------


@dataclass
class DatasetPage:
    dataset: Dataset
    publisher: Publisher
    distributions: list[Distribution]
    peers: dict[str, Peer] = field(default_factory=dict)


def dataset_page(
    session: Session, principal: Principal | None, dataset_id: uuid.UUID
) -> DatasetPage:
    dataset = catalog.get_dataset(session, principal, dataset_id)
    publisher = session.get(Publisher, dataset.publisher_id)
    assert publisher is not None
    distributions = session.exec(
        select(Distribution)
        .where(Distribution.dataset_id == dataset.id, live(Distribution))
        .order_by(col(Distribution.id))
        .limit(200)
    ).all()
    return DatasetPage(dataset, publisher, list(distributions), peers_by_node(session))


# --- publisher ---------------------------------------------------------------------


@dataclass
class PublisherPage:
    publisher: Publisher
    apps: list[App]
    datasets: list[Dataset]
    app_count: int
    dataset_count: int
    partners: list[Partnership]


PUBLISHER_ITEMS = 50


def publisher_page(session: Session, principal: Principal | None, ref: str) -> PublisherPage:
    publisher = catalog.get_publisher(session, ref)
    apps, app_count = _owned_by(session, principal, App, publisher, col(App.name), str.lower)
    datasets, dataset_count = _owned_by(session, principal, Dataset, publisher, col(Dataset.slug))
    # Partner cities: partnerships in force. An agreement between two governments
    # (a perjanjian kerja sama) is public; requests, refusals and ended ones are not shown.
    partners = (
        session.exec(
            select(Partnership)
            .where(
                Partnership.publisher_id == publisher.id,
                live(Partnership),
                active_partnership_clause(),
            )
            .order_by(col(Partnership.partner_code))
        ).all()
        if publisher.origin is None
        else []
    )
    return PublisherPage(publisher, apps, datasets, app_count, dataset_count, list(partners))


def _owned_by(
    session: Session,
    principal: Principal | None,
    model: type[Owned],
    publisher: Publisher,
    field: Any,
    order: Callable[[str], str] = str,
) -> tuple[list[Owned], int]:
    """The first PUBLISHER_ITEMS of the publisher's live items the reader may see, in
    the ``order`` of ``field`` (then of key), and how many there are.

    Only the key and the sort field of each are read, by owner (its index) and
    checked with the visibility rule's SQL form: a city may publish thousands of
    datasets, and building every one of them to show fifty made a page of 1,667 apps
    and as many datasets take 140 ms (13 ms so). The fifty are then read whole."""
    owned = session.execute(
        sa.select(col(model.id), field).where(
            col(model.publisher_id) == publisher.id, live(model), visible_clause(model, principal)
        )
    )
    rows = sorted(owned, key=lambda row: (order(row[1]), row[0]))
    first = [row[0] for row in rows[:PUBLISHER_ITEMS]]
    items = by_ids(session, model, first)
    return [items[item_id] for item_id in first], len(rows)


# --- node --------------------------------------------------------------------------


@dataclass
class NodePage:
    publishers: list[Publisher]
    peers: list[Peer]


def node_page(session: Session) -> NodePage:
    publishers = session.exec(
        select(Publisher)
        .where(live(Publisher), col(Publisher.origin).is_(None))
        .order_by(col(Publisher.name))
    ).all()
    peers = session.exec(select(Peer).order_by(col(Peer.name))).all()
    return NodePage(list(publishers), list(peers))
