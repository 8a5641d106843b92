"""The change feed: ``GET /federation/v1/changes?after=CURSOR&limit=N``.

Compacted and ordered by ``change_seq``: each changed local entity appears once, at
its latest state, after the cursor. The cursor is the decimal ``change_seq`` of the
last entry served. For each entity the reader may see the feed gives an ``upsert``;
for one it may not (deleted, private, its parent hidden, a partnership revoked or
expired) a ``delete`` tombstone — if the reader could ever see it (its exposures,
``registry.sharing.models.Exposure``); of an item the reader never could see, the
feed says nothing. A change of what a reader may see that does not touch
the row itself re-stamps the affected rows (``registry.sharing.restamp``), so it also
lands after every cursor that predates it. The one such change no write makes is a
partnership reaching its end date: until a job marks it ``expired`` (and so
re-stamps), the page that ends the feed carries the tombstones it owes (``_lapsed``),
so that reading a page never has to write.

Only local rows are fed (``origin IS NULL``); mirrors keep ``change_seq`` 0.

A page is read with plain Core queries and encoded in one pass: JSON columns are
read as the text the database holds and spliced into the response as it is, so no
document is parsed and serialised again on the way out.
"""

from __future__ import annotations

import heapq
import re
import uuid
from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.catalog.models import App, Dataset, Publisher, Visibility
from registry.db import ChangeCounter, table_of
from registry.errors import invalid
from registry.federation.models import KINDS
from registry.principal import Principal
from registry.settings import Settings
from registry.sharing.models import EVERYONE, Exposure, Partnership
from registry.sharing.visibility import ANONYMOUS, Viewer, overdue_partnership_clause, viewer

MAX_LIMIT = 1000
DEFAULT_LIMIT = 500

_SKIP = {"id", "change_seq", "origin", "audience", "deleted_at"}
# Read first, in this order, before the entity's fields (see ``_layout``).
_HEAD = ("id", "change_seq", "deleted_at", "origin")
# What deciding an app's or dataset's visibility needs.
_VERDICT = ("id", "deleted_at", "origin", "visibility", "publisher_id", "audience")


# The kinds that follow a parent's visibility: (kind, column naming the parent, its kind).
_CHILDREN = (
    ("release", "app_id", "app"),
    ("adoption", "app_id", "app"),
    ("distribution", "dataset_id", "dataset"),
)

_CURSOR = re.compile(r"[0-9]{1,19}")
MAX_SEQ = 2**63 - 1


def parse_cursor(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    # ASCII digits only (str.isdigit also accepts "²" and other Unicode digits, which
    # int() refuses), and within the BIGINT that change_seq is stored in.
    if not _CURSOR.fullmatch(cursor) or int(cursor) > MAX_SEQ:
        raise invalid(["query", "after"], "not a cursor of this feed")
    return int(cursor)


def encode(body: dict[str, Any]) -> bytes:
    """The page as JSON bytes: datetimes in ISO 8601, UUIDs as strings, JSON columns
    as read."""
    return orjson.dumps(body)


def _raw_json(column: sa.Column[Any], dialect: sa.Dialect) -> sa.ColumnElement[Any]:
    """A JSON column as the text the database holds (SQLite stores text; PostgreSQL
    renders jsonb as text), so it is never parsed here."""
    if dialect.name == "postgresql":
        return sa.cast(column, sa.Text).label(column.name)
    return sa.type_coerce(column, sa.Text).label(column.name)


class _Layout(NamedTuple):
    """How a page reads one kind: ``_HEAD``, then the entity's fields."""

    columns: list[Any]
    names: list[str]
    json_names: set[str]


def _layout(table: sa.Table, dialect: sa.Dialect) -> _Layout:
    fields = [c for c in table.c if c.name not in _SKIP]
    json_names = {c.name for c in fields if isinstance(c.type, sa.JSON)}
    head = [table.c[name] for name in _HEAD]
    body = [_raw_json(c, dialect) if c.name in json_names else c for c in fields]
    return _Layout(head + body, [c.name for c in fields], json_names)


def _local_between(table: sa.Table, after: int, upto: int) -> sa.ColumnElement[bool]:
    """Local rows whose place in the sequence lies in (after, upto]."""
    return sa.and_(table.c.origin.is_(None), table.c.change_seq > after, table.c.change_seq <= upto)


def changes(
    session: Session,
    settings: Settings,
    principal: Principal | None,
    *,
    after: int,
    limit: int,
) -> dict[str, Any]:
    """One page of the feed, ready for ``encode``."""
    limit = max(1, min(limit, MAX_LIMIT))
    dialect = session.get_bind().dialect
    # Every row at or below the counter's committed value is committed (writers take
    # the counter inside their transaction), so each per-table query below sees all of
    # them, whatever the isolation level; a row above it waits for the next call.
    high = session.exec(select(ChangeCounter.value).where(ChangeCounter.id == 1)).one()
    last, has_more = _page_end(session, after, high, limit)
    layouts = {kind: _layout(model.__table__, dialect) for kind, model in KINDS.items()}
    rows = _read_rows(session, layouts, after, last)
    # The feed serves what a peer node may see; any other caller reads it anonymously.
    reader: Viewer = viewer(session, principal) if _is_node(principal) else ANONYMOUS
    decided = _decide(session, reader, rows)
    entries = _entries(session, settings.issuer, layouts, rows, decided, reader, after)
    if not has_more:
        entries += _lapsed(session, settings.issuer, reader, after)
    return {
        "origin": settings.issuer,
        "entries": entries,
        "next_cursor": str(last),
        "has_more": has_more,
        "remaining": _remaining(session, last, high) if has_more else 0,
    }


def _page_end(session: Session, after: int, high: int, limit: int) -> tuple[int, bool]:
    """The sequence value the page ends at (``after`` when there is nothing new), and
    whether more follow it."""
    # Sequence values are unique across the tables (one counter), so the page is
    # every local row whose value lies in (after, last]; find `last` from the heads.
    heads = []
    for model in KINDS.values():
        table = model.__table__
        heads.append(
            session.execute(
                sa.select(table.c.change_seq)
                .where(_local_between(table, after, high))
                .order_by(table.c.change_seq)
                .limit(limit + 1)
            )
            .scalars()
            .all()
        )
    merged = list(heapq.merge(*heads))
    if not merged:
        return after, False
    return merged[min(limit, len(merged)) - 1], len(merged) > limit


def _read_rows(
    session: Session, layouts: dict[str, _Layout], after: int, last: int
) -> dict[str, list[Any]]:
    """The page's rows of each kind, in sequence order."""
    rows: dict[str, list[Any]] = {kind: [] for kind in KINDS}
    if last == after:
        return rows
    for kind, model in KINDS.items():
        table = model.__table__
        rows[kind] = list(
            session.execute(
                sa.select(*layouts[kind].columns)
                .where(_local_between(table, after, last))
                .order_by(table.c.change_seq)
            )
        )
    return rows


def _decide(
    session: Session, reader: Viewer, rows: dict[str, list[Any]]
) -> list[tuple[str, Any, bool, list[str] | None]]:
    """Every row of the page in feed order, with whether the reader may see it and,
    for a partners item, with which audience."""
    # What decides visibility: the app or dataset of each child, and who owns them.
    apps = _load(session, App, _VERDICT, (r.app_id for r in rows["release"]))
    apps.update(_load(session, App, _VERDICT, (r.app_id for r in rows["adoption"])))
    apps.update({r.id: r for r in rows["app"]})
    datasets = _load(session, Dataset, _VERDICT, (r.dataset_id for r in rows["distribution"]))
    datasets.update({r.id: r for r in rows["dataset"]})

    def verdict(item: Any) -> tuple[bool, list[str] | None]:
        """May the reader see this app or dataset, and with which audience?"""
        if item is None or item.deleted_at is not None or item.origin is not None:
            return False, None
        if not reader.sees(item):
            return False, None
        return True, reader.audience(item)

    ordered = sorted(
        ((row.change_seq, rank, row) for rank, kind in enumerate(KINDS) for row in rows[kind]),
        key=lambda item: (item[0], item[1]),
    )
    kinds = list(KINDS)
    decided: list[tuple[str, Any, bool, list[str] | None]] = []
    for _seq, rank, row in ordered:
        kind = kinds[rank]
        visible, audience = True, None
        if kind in ("app", "dataset"):
            visible, audience = verdict(row)
        elif kind in ("release", "adoption"):
            app = apps.get(row.app_id)
            if kind == "adoption" and app is not None and app.origin is not None:
                continue  # adoptions of mirrored apps are fed by the app's origin
            visible, audience = verdict(app)
        elif kind == "distribution":
            visible, audience = verdict(datasets.get(row.dataset_id))
        if row.deleted_at is not None:
            visible = False
        decided.append((kind, row, visible, audience))
    return decided


def _entries(
    session: Session,
    origin: str,
    layouts: dict[str, _Layout],
    rows: dict[str, list[Any]],
    decided: list[tuple[str, Any, bool, list[str] | None]],
    reader: Viewer,
    after: int,
) -> list[dict[str, Any]]:
    """The page's entries: an upsert for what the reader may see, a tombstone for
    what it could once see and no longer may."""
    base = f"{origin}/api/v1"
    sent_publishers: set[uuid.UUID] = {r.id for r in rows["publisher"]}
    owners = {r.publisher_id for r in rows["app"]} | {r.publisher_id for r in rows["dataset"]}
    publishers = _later_publishers(session, layouts["publisher"], owners - sent_publishers, after)
    # A reader hears of an item it may not see only if it could see it once: then it
    # may hold a copy, which the tombstone withdraws. Of any other item it learns
    # nothing, not even that it exists.
    retractable = _exposed(
        session,
        [row.id for kind, row, visible, _ in decided if not visible and kind != "publisher"],
        reader,
    )
    entries: list[dict[str, Any]] = []
    for kind, row, visible, audience in decided:
        if kind in ("app", "dataset") and visible and row.publisher_id not in sent_publishers:
            # A publisher changed after its items sits later in the feed; send it
            # first so a mirror never holds an item whose publisher it lacks.
            publisher = publishers.get(row.publisher_id)
            if publisher is not None:
                entries.append(
                    _entry(base, origin, "publisher", publisher, layouts["publisher"], None)
                )
                sent_publishers.add(publisher.id)
        if visible:
            entries.append(_entry(base, origin, kind, row, layouts[kind], audience))
        elif kind == "publisher" or row.id in retractable:
            entries.append(_tombstone(base, origin, kind, row))
    return entries


def _lapsed(session: Session, origin: str, reader: Viewer, after: int) -> list[dict[str, Any]]:
    """Tombstones for what a partnership past its end date showed ``reader``, while no
    job has marked it ``expired`` yet.

    The visibility rule already counts such a partnership as ended, but nothing has
    re-stamped the items it showed (the expiry will), so they lie at or before the
    cursor. A read writes nothing, so the page that ends the feed withdraws them itself,
    again on each read until the expiry re-stamps them; a tombstone served twice
    changes nothing on the mirror.
    """
    if reader.node_id is None:
        return []
    owners = sa.select(col(Partnership.publisher_id)).where(
        col(Partnership.peer_node_id) == reader.node_id, overdue_partnership_clause()
    )
    hidden: list[tuple[str, Any]] = []
    parents: dict[str, list[uuid.UUID]] = {}
    for kind in ("app", "dataset"):
        table = KINDS[kind].__table__
        rows = session.execute(
            sa.select(*(table.c[name] for name in (*_VERDICT, "change_seq"))).where(
                table.c.publisher_id.in_(owners),
                table.c.origin.is_(None),
                table.c.deleted_at.is_(None),
                table.c.visibility == Visibility.partners.value,
            )
        ).all()
        gone = [row for row in rows if not reader.sees(row)]
        parents[kind] = [row.id for row in gone]
        hidden += [(kind, row) for row in gone if row.change_seq <= after]
    for kind, parent_column, parent in _CHILDREN:
        if not parents[parent]:
            continue
        table = KINDS[kind].__table__
        hidden += [
            (kind, row)
            for row in session.execute(
                sa.select(table.c.id, table.c.change_seq, table.c[parent_column]).where(
                    table.c[parent_column].in_(parents[parent]),
                    table.c.origin.is_(None),
                    table.c.deleted_at.is_(None),
                    table.c.change_seq <= after,
                )
            )
        ]
    exposed = _exposed(session, [row.id for _, row in hidden], reader)
    base = f"{origin}/api/v1"
    return [_tombstone(base, origin, kind, row) for kind, row in hidden if row.id in exposed]


def _exposed(session: Session, ids: list[uuid.UUID], reader: Viewer) -> set[uuid.UUID]:
    """Those of ``ids`` that were ever exposed to ``reader`` (see ``Exposure``)."""
    readers = [EVERYONE] if reader.node_id is None else [EVERYONE, reader.node_id]
    found: set[uuid.UUID] = set()
    table = table_of(Exposure)
    for start in range(0, len(ids), 500):
        found.update(
            session.execute(
                sa.select(table.c.item_id).where(
                    table.c.item_id.in_(ids[start : start + 500]), table.c.reader.in_(readers)
                )
            ).scalars()
        )
    return found


def _is_node(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.node_id is not None
        and principal.has_scope("federation:read")
    )


def _global_id(base: str, kind: str, row: Any) -> str:
    if kind == "release":
        return f"{base}/apps/{row.app_id}/releases/{row.id}"
    if kind == "distribution":
        return f"{base}/datasets/{row.dataset_id}/distributions/{row.id}"
    return f"{base}/{kind}s/{row.id}"


def _entry(
    base: str,
    origin: str,
    kind: str,
    row: Any,
    layout: _Layout,
    audience: list[str] | None,
) -> dict[str, Any]:
    raw = layout.json_names
    data = {
        name: orjson.Fragment(value) if name in raw and value is not None else value
        for name, value in zip(layout.names, row[len(_HEAD) :], strict=True)
    }
    entry: dict[str, Any] = {
        "kind": kind,
        "op": "upsert",
        "id": row.id,
        "global_id": _global_id(base, kind, row),
        "origin": origin,
        "seq": row.change_seq,
        "data": data,
    }
    if kind != "publisher" and audience is not None:
        entry["audience"] = audience
    return entry


def _tombstone(base: str, origin: str, kind: str, row: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "op": "delete",
        "id": row.id,
        "global_id": _global_id(base, kind, row),
        "origin": origin,
        "seq": row.change_seq,
    }


def _load(
    session: Session, model: Any, columns: tuple[str, ...], ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    """Some columns of the rows with these ids."""
    unique = list(set(ids))
    found: dict[uuid.UUID, Any] = {}
    table = model.__table__
    selected = [table.c[name] for name in columns]
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        for row in session.execute(sa.select(*selected).where(table.c.id.in_(chunk))):
            found[row.id] = row
    return found


def _later_publishers(
    session: Session, layout: _Layout, ids: set[uuid.UUID], after: int
) -> dict[uuid.UUID, Any]:
    """Owners that changed after the cursor but lie later in the feed than this page."""
    if not ids:
        return {}
    table = table_of(Publisher)
    columns = layout.columns
    found: dict[uuid.UUID, Any] = {}
    unique = list(ids)
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        for row in session.execute(
            sa.select(*columns).where(
                table.c.id.in_(chunk), table.c.origin.is_(None), table.c.change_seq > after
            )
        ):
            found[row.id] = row
    return found


def _remaining(session: Session, after: int, high: int) -> int:
    """About how many entries are left (before compaction and visibility)."""
    total = 0
    for model in KINDS.values():
        table = model.__table__
        total += session.execute(
            sa.select(sa.func.count()).select_from(table).where(_local_between(table, after, high))
        ).scalar_one()
    return int(total)
