"""The change feed: ``GET /federation/v1/changes?after=CURSOR&limit=N``.

Compacted and ordered by ``change_seq``: each changed local entity appears once, at
its latest state, after the cursor. The cursor is the decimal ``change_seq`` of the
last entry served. For each entity the reader may see the feed gives an ``upsert``;
for one it may not (deleted, private, its parent hidden, a partnership revoked or
expired) a ``delete`` tombstone. A change of what a reader may see that does not touch
the row itself re-stamps the affected rows (``registry.sharing.restamp``), so it also
lands after every cursor that predates it.

Only local rows are fed (``origin IS NULL``); mirrors keep ``change_seq`` 0.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from registry.catalog.models import (
    App,
    Dataset,
    Distribution,
    Publisher,
    Release,
    Visibility,
)
from registry.db import ChangeCounter
from registry.errors import invalid
from registry.oauth.principal import Principal
from registry.settings import Settings
from registry.sharing.models import Adoption
from registry.sharing.visibility import partner_codes

MAX_LIMIT = 1000
DEFAULT_LIMIT = 500

# Parents before children when they share a page.
KINDS: dict[str, Any] = {
    "publisher": Publisher,
    "app": App,
    "dataset": Dataset,
    "release": Release,
    "distribution": Distribution,
    "adoption": Adoption,
}
RANK = {kind: n for n, kind in enumerate(KINDS)}
_SKIP = {"id", "change_seq", "origin", "audience", "deleted_at"}


def parse_cursor(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    if not cursor.isdigit() or len(cursor) > 19:
        raise invalid(["query", "after"], "not a cursor of this feed")
    return int(cursor)


def global_id(settings: Settings, kind: str, row: Any) -> str:
    base = f"{settings.issuer}/api/v1"
    if kind == "release":
        return f"{base}/apps/{row.app_id}/releases/{row.id}"
    if kind == "distribution":
        return f"{base}/datasets/{row.dataset_id}/distributions/{row.id}"
    return f"{base}/{kind}s/{row.id}"


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _data(row: Any) -> dict[str, Any]:
    return {name: _json(value) for name, value in row._mapping.items() if name not in _SKIP}


def changes(
    session: Session,
    settings: Settings,
    principal: Principal | None,
    *,
    after: int,
    limit: int,
) -> dict[str, Any]:
    limit = max(1, min(limit, MAX_LIMIT))
    # Every row at or below the counter's committed value is committed (writers take
    # the counter inside their transaction), so each per-table query below sees all of
    # them, whatever the isolation level; a row above it waits for the next call.
    high = session.exec(select(ChangeCounter.value).where(ChangeCounter.id == 1)).one()
    heads: list[list[tuple[int, int, uuid.UUID]]] = []
    for kind, model in KINDS.items():
        table = model.__table__
        stmt = (
            sa.select(table.c.change_seq, table.c.id)
            .where(
                table.c.origin.is_(None),
                table.c.change_seq > after,
                table.c.change_seq <= high,
            )
            .order_by(table.c.change_seq)
            .limit(limit + 1)
        )
        heads.append([(seq, RANK[kind], row_id) for seq, row_id in session.execute(stmt)])
    merged = list(heapq.merge(*heads))[: limit + 1]
    has_more = len(merged) > limit
    page = merged[:limit]

    kinds = list(KINDS)
    wanted: dict[str, list[uuid.UUID]] = {kind: [] for kind in KINDS}
    for _, rank, row_id in page:
        wanted[kinds[rank]].append(row_id)
    rows = {kind: _load(session, KINDS[kind], ids) for kind, ids in wanted.items()}

    apps = dict(rows["app"])
    apps.update(_load(session, App, [r.app_id for r in rows["release"].values()]))
    apps.update(_load(session, App, [r.app_id for r in rows["adoption"].values()]))
    datasets = dict(rows["dataset"])
    datasets.update(_load(session, Dataset, [r.dataset_id for r in rows["distribution"].values()]))
    owners = [a.publisher_id for a in apps.values()] + [d.publisher_id for d in datasets.values()]
    publishers = _load(session, Publisher, owners)
    node_id = principal.node_id if principal is not None and _is_node(principal) else None
    audience_of = partner_codes(session, node_id) if node_id is not None else {}

    def verdict(item: App | Dataset | None) -> tuple[bool, list[str] | None]:
        """May the reader see this app or dataset, and with which audience?"""
        if item is None or item.deleted_at is not None or item.origin is not None:
            return False, None
        if item.visibility == Visibility.public:
            return True, None
        if item.visibility == Visibility.partners and item.publisher_id in audience_of:
            return True, audience_of[item.publisher_id]
        return False, None

    entries: list[dict[str, Any]] = []
    sent_publishers: set[uuid.UUID] = set(wanted["publisher"])
    for _seq, rank, row_id in page:
        kind = kinds[rank]
        row = rows[kind].get(row_id)
        if row is None:  # pragma: no cover - rows are never removed
            continue
        visible, audience = True, None
        if kind in ("app", "dataset"):
            visible, audience = verdict(row)
            if visible and row.publisher_id not in sent_publishers:
                # A publisher changed after its items sits later in the feed; send it
                # first so a mirror never holds an item whose publisher it lacks.
                publisher = publishers.get(row.publisher_id)
                if publisher is not None and publisher.change_seq > after:
                    entries.append(_entry(settings, "publisher", publisher, None))
                    sent_publishers.add(publisher.id)
        elif kind in ("release", "adoption"):
            visible, audience = verdict(apps.get(row.app_id))
        elif kind == "distribution":
            visible, audience = verdict(datasets.get(row.dataset_id))
        if row.deleted_at is not None:
            visible = False
        if kind == "adoption" and getattr(apps.get(row.app_id), "origin", None) is not None:
            continue  # adoptions of mirrored apps are fed by the app's origin
        entries.append(
            _entry(settings, kind, row, audience) if visible else _tombstone(settings, kind, row)
        )
    next_cursor = str(page[-1][0]) if page else str(after)
    return {
        "origin": settings.issuer,
        "entries": entries,
        "next_cursor": next_cursor,
        "has_more": has_more,
        "remaining": _remaining(session, int(next_cursor), high) if has_more else 0,
    }


def _is_node(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.node_id is not None
        and principal.has_scope("federation:read")
    )


def _entry(settings: Settings, kind: str, row: Any, audience: list[str] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": kind,
        "op": "upsert",
        "id": str(row.id),
        "global_id": global_id(settings, kind, row),
        "origin": settings.issuer,
        "seq": row.change_seq,
        "data": _data(row),
    }
    if kind in ("app", "dataset", "release", "distribution", "adoption") and audience is not None:
        entry["audience"] = audience
    return entry


def _tombstone(settings: Settings, kind: str, row: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "op": "delete",
        "id": str(row.id),
        "global_id": global_id(settings, kind, row),
        "origin": settings.issuer,
        "seq": row.change_seq,
    }


def _load(session: Session, model: Any, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """Rows by id, as plain Core rows: a feed page reads thousands, and building ORM
    objects for them would cost more than the query."""
    unique = list(set(ids))
    found: dict[uuid.UUID, Any] = {}
    table = model.__table__
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        for row in session.execute(sa.select(table).where(table.c.id.in_(chunk))):
            found[row.id] = row
    return found


def _remaining(session: Session, after: int, high: int) -> int:
    """About how many entries are left (before compaction and visibility)."""
    total = 0
    for model in KINDS.values():
        table = model.__table__
        total += session.execute(
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c.origin.is_(None), table.c.change_seq > after, table.c.change_seq <= high)
        ).scalar_one()
    return int(total)
