"""Search across apps and datasets, local and mirrored, with facet counts.

Matching is the catalog's text match for now; it reuses the list queries, so a search
result is exactly what the caller could find by listing: visibility is not a second
implementation here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session, select

from registry.catalog.models import App, Dataset, Publisher
from registry.catalog.service import (
    AppFilters,
    DatasetFilters,
    apps_query,
    datasets_query,
    publisher_ref,
)
from registry.oauth.principal import Principal
from registry.querying import by_ids, decode_cursor, encode_cursor, json_array_elements

Kind = Literal["app", "dataset"]


@dataclass(frozen=True)
class SearchQuery:
    q: str | None = None
    kind: Kind | None = None
    publisher: str | None = None
    category: str | None = None
    theme: str | None = None
    origin: str | None = None

    def kinds(self) -> list[Kind]:
        # Categories belong to apps and themes to datasets: filtering on one leaves
        # the other kind out rather than ignoring the filter.
        if self.kind is not None:
            return [self.kind]
        kinds: list[Kind] = []
        if self.theme is None:
            kinds.append("app")
        if self.category is None:
            kinds.append("dataset")
        return kinds


@dataclass
class Hit:
    kind: Kind
    item: App | Dataset
    publisher: Publisher


@dataclass
class SearchPage:
    hits: list[Hit]
    next_cursor: str | None
    total: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)


def search(
    session: Session,
    principal: Principal | None,
    query: SearchQuery,
    *,
    limit: int,
    cursor: str | None,
) -> SearchPage:
    statements = _statements(session, principal, query)
    after = decode_cursor(cursor) if cursor else None

    # Ids are time-ordered UUIDs in both tables, so one keyset over their union pages
    # both kinds together: take the next `limit + 1` of each and merge.
    found: list[tuple[Kind, App | Dataset]] = []
    for kind, stmt, model in statements:
        if after is not None:
            stmt = stmt.where(model.id > after)
        rows = session.exec(stmt.order_by(model.id).limit(limit + 1)).all()
        found += [(kind, row) for row in rows]
    found.sort(key=lambda pair: pair[1].id)
    more = len(found) > limit
    found = found[:limit]
    publishers = by_ids(session, Publisher, [item.publisher_id for _, item in found])
    hits = [Hit(kind, item, publishers[item.publisher_id]) for kind, item in found]
    next_cursor = encode_cursor(found[-1][1].id) if more and found else None

    facets = _facets(session, statements)
    return SearchPage(hits, next_cursor, sum(facets["kind"].values()), facets)


def _statements(
    session: Session, principal: Principal | None, query: SearchQuery
) -> list[tuple[Kind, Any, Any]]:
    statements: list[tuple[Kind, Any, Any]] = []
    for kind in query.kinds():
        if kind == "app":
            app_filters = AppFilters(
                q=query.q, publisher=query.publisher, category=query.category, origin=query.origin
            )
            statements.append(("app", apps_query(session, principal, app_filters), App))
        else:
            dataset_filters = DatasetFilters(
                q=query.q, publisher=query.publisher, theme=query.theme, origin=query.origin
            )
            statements.append(
                ("dataset", datasets_query(session, principal, dataset_filters), Dataset)
            )
    return statements


def _facets(session: Session, statements: list[tuple[Kind, Any, Any]]) -> dict[str, dict[str, int]]:
    """Counts over every match (not just this page): by kind, publisher, app category
    and dataset theme."""
    kinds: dict[str, int] = {"app": 0, "dataset": 0}
    by_publisher: dict[uuid.UUID, int] = {}
    categories: dict[str, int] = {}
    themes: dict[str, int] = {}
    for kind, stmt, _model in statements:
        matches = stmt.subquery()
        for publisher_id, count in session.execute(
            sa.select(matches.c.publisher_id, sa.func.count()).group_by(matches.c.publisher_id)
        ):
            by_publisher[publisher_id] = by_publisher.get(publisher_id, 0) + count
            kinds[kind] += count
        array = matches.c.categories if kind == "app" else matches.c.themes
        elements = json_array_elements(session, array)
        counted = categories if kind == "app" else themes
        for value, count in session.execute(
            sa.select(elements.c.value, sa.func.count())
            .select_from(matches)
            .join(elements, sa.true())
            .group_by(elements.c.value)
        ):
            counted[str(value)] = count
    # Keyed by identity (``code@node-id`` for a mirror), not by code: a peer's
    # publisher may share a code with ours, and must neither merge with it nor hide it.
    refs = {
        row.id: publisher_ref(row)
        for row in session.exec(select(Publisher).where(Publisher.id.in_(list(by_publisher))))  # type: ignore[attr-defined]
    }
    return {
        "kind": kinds,
        "publisher": {refs[pid]: n for pid, n in by_publisher.items() if pid in refs},
        "category": categories,
        "theme": themes,
    }
