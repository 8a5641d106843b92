"""Applying a checked feed page to the mirrors of a peer.

Every entry is checked before anything is written: its origin must be the peer, its
global id must lie under the peer's API, its fields must pass the catalog's validators
(``registry.federation.schemas``, when the page is parsed), and it may not touch a row
that is local or belongs to another peer. One bad entry refuses the whole page: the
mirror stays as it was. Applying is idempotent (upserts by id, tombstones as soft
deletes), and a page is written together with the cursor that ends it, in one
transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB

from registry import indexing
from registry.catalog.models import Publisher, Visibility
from registry.db import Bind, table_of, transaction, utcnow
from registry.federation.errors import SyncError
from registry.federation.lease import LEASE_FOR
from registry.federation.models import KINDS
from registry.federation.schemas import DATA_MODELS, CheckedPage
from registry.peers import Peer

# The parent each kind refers to, which must already be mirrored from the same peer.
PARENTS = {
    "app": ("publisher_id", "publisher"),
    "dataset": ("publisher_id", "publisher"),
    "release": ("app_id", "app"),
    "distribution": ("dataset_id", "dataset"),
    "adoption": ("app_id", "app"),
}
CHILDREN = {"app": [("release", "app_id"), ("adoption", "app_id")],
            "dataset": [("distribution", "dataset_id")]}  # fmt: skip
PEERS = table_of(Peer)
PUBLISHERS = table_of(Publisher)


def expected_global_id(node_id: str, entry: Any) -> str | None:
    base = f"{node_id}/api/v1"
    data = entry.data
    if entry.kind == "release":
        return f"{base}/apps/{data.app_id}/releases/{entry.id}" if data else None
    if entry.kind == "distribution":
        return f"{base}/datasets/{data.dataset_id}/distributions/{entry.id}" if data else None
    return f"{base}/{entry.kind}s/{entry.id}"


def _validated(node_id: str, page: CheckedPage) -> list[Any]:
    """What the schema cannot say: every entry comes from the peer and names itself
    under the peer's API, and every upsert carries its entity."""
    prefix = f"{node_id}/api/v1/"
    for n, entry in enumerate(page.entries):
        where = f"entry {n} ({entry.kind} {entry.id})"
        if entry.origin != node_id:
            raise SyncError(f"{where} claims origin {entry.origin}, not {node_id}; page refused")
        if entry.op == "upsert" and entry.data is None:
            raise SyncError(f"{where}: an upsert without data; page refused")
        expected = expected_global_id(node_id, entry)
        if not entry.global_id.startswith(prefix) or (
            expected is not None and entry.global_id != expected
        ):
            raise SyncError(f"{where}: global id {entry.global_id} is not on {node_id}; refused")
    return list(page.entries)


def apply_page(bind: Bind, node_id: str, page: CheckedPage, holder: str) -> tuple[int, int]:
    """Apply one page and move the cursor, in one transaction. Returns the numbers
    of upserts and of tombstones applied."""
    entries = _validated(node_id, page)
    upserts = deletes = live = 0
    with transaction(bind) as connection:
        # Cursor first: the lease is checked by the same statement that moves it.
        moved = connection.execute(
            sa.update(PEERS)
            .where(PEERS.c.node_id == node_id, PEERS.c.lease_holder == holder)
            .values(
                cursor=page.next_cursor,
                remaining=page.remaining,
                lease_expires_at=utcnow() + LEASE_FOR,
            )
        ).rowcount
        if moved != 1:
            raise SyncError(f"lost the lease on {node_id}")
        publishers = PUBLISHERS
        local_publishers: dict[str, uuid.UUID] = dict(
            connection.execute(
                sa.select(publishers.c.code, publishers.c.id).where(
                    publishers.c.origin.is_(None), publishers.c.deleted_at.is_(None)
                )
            ).all()
        )
        by_kind: dict[str, list[Any]] = {kind: [] for kind in KINDS}
        for entry in entries:
            by_kind[entry.kind].append(entry)
        audiences: dict[tuple[str, ...], str] = {}
        for kind in KINDS:
            if by_kind[kind]:
                u, d, n = _apply_kind(
                    connection, node_id, kind, by_kind[kind], local_publishers, audiences
                )
                upserts += u
                deletes += d
                live += n
        if live:
            connection.execute(
                sa.update(PEERS)
                .where(PEERS.c.node_id == node_id)
                .values(items=PEERS.c["items"] + live)
            )
    return upserts, deletes


def _apply_kind(
    connection: sa.Connection,
    node_id: str,
    kind: str,
    entries: list[Any],
    local_publishers: dict[str, uuid.UUID],
    audiences: dict[tuple[str, ...], str],
) -> tuple[int, int, int]:
    """Upserts in one bulk statement, tombstones in another. Returns the upserts, the
    tombstones, and by how much the number of live mirrored items changed."""
    table: sa.Table = KINDS[kind].__table__
    existing = _existing(connection, kind, table, [entry.id for entry in entries])
    if kind in PARENTS:
        column, parent_kind = PARENTS[kind]
        parents = {getattr(e.data, column) for e in entries if e.data is not None}
        _check_parents(connection, node_id, parent_kind, parents)

    new: list[dict[str, Any]] = []
    known: list[dict[str, Any]] = []
    tombstones: list[uuid.UUID] = []
    live = 0
    for entry in entries:
        found = existing.get(entry.id)
        if found is not None and found[0] != node_id:
            if kind == "adoption" and found[0] is None and found[1] is not None:
                continue  # our own publisher's adoption, fed back by the app's origin
            raise SyncError(
                f"{kind} {entry.id} is held here by {found[0] or 'this node'}; "
                f"{node_id} may not change it; page refused"
            )
        if entry.op == "delete":
            if found is not None:
                tombstones.append(entry.id)
            continue
        values = _row_values(node_id, kind, entry, local_publishers, audiences)
        (new if found is None else known).append(values)
        if found is None or not found[2]:
            live += 1
        existing[entry.id] = (node_id, None, True)
    insert, upsert = _writes(table, connection.dialect)
    if new:
        insert.execute(connection, new)
    if known:
        upsert.execute(connection, known)
    written = [row["id"] for row in new] + [row["id"] for row in known]
    if tombstones:
        live -= _bury(connection, node_id, kind, table, tombstones)
        written += tombstones
    # Derived data (the search index) follows in this same transaction.
    indexing.rows_written(connection, table.name, written)
    return len(new) + len(known), len(tombstones), live


def _existing(
    connection: sa.Connection, kind: str, table: sa.Table, ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[str | None, Any, bool]]:
    """Those of ``ids`` held here: id -> (origin, publisher_id of an adoption, live)."""
    existing: dict[uuid.UUID, tuple[str | None, Any, bool]] = {}
    extra = table.c.publisher_id if kind == "adoption" else sa.null()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row_id, origin, publisher_id, alive in connection.execute(
            sa.select(table.c.id, table.c.origin, extra, table.c.deleted_at.is_(None)).where(
                table.c.id.in_(chunk)
            )
        ):
            existing[row_id] = (origin, publisher_id, bool(alive))
    return existing


def _bury(
    connection: sa.Connection,
    node_id: str,
    kind: str,
    table: sa.Table,
    tombstones: list[uuid.UUID],
) -> int:
    """Soft-delete the mirrors the peer withdrew, and their children; returns how many
    live items went."""
    now = utcnow()
    gone: int = connection.execute(
        sa.update(table)
        .where(
            table.c.id.in_(tombstones),
            table.c.origin == node_id,
            table.c.deleted_at.is_(None),
        )
        .values(deleted_at=now)
    ).rowcount
    # A hidden parent hides its children at once, whatever the feed sends next.
    for child_kind, column in CHILDREN.get(kind, []):
        child = KINDS[child_kind].__table__
        hidden = connection.execute(
            sa.update(child)
            .where(
                child.c[column].in_(tombstones),
                child.c.origin == node_id,
                child.c.deleted_at.is_(None),
            )
            .values(deleted_at=now)
            .returning(child.c.id)
        ).scalars()
        hidden_ids = list(hidden)
        gone += len(hidden_ids)
        indexing.rows_written(connection, child.name, hidden_ids)
    return gone


def _check_parents(
    connection: sa.Connection, node_id: str, parent_kind: str, parent_ids: set[uuid.UUID]
) -> None:
    table = KINDS[parent_kind].__table__
    wanted = list(parent_ids)
    found: set[uuid.UUID] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(
            connection.execute(
                sa.select(table.c.id).where(table.c.id.in_(chunk), table.c.origin == node_id)
            ).scalars()
        )
    missing = [p for p in wanted if p not in found]
    if missing:
        raise SyncError(
            f"{node_id} sent items of a {parent_kind} it never sent ({missing[0]}); page refused"
        )


class _Bulk:
    """A statement compiled once, run with parameters processed here.

    SQLAlchemy's own SQL and its own bind processors (the same values reach the
    database), but without its per-row parameter handling, which for a page of
    mirrors costs more than the database's own work.
    """

    def __init__(self, statement: Any, table: sa.Table, dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        names = compiled.positiontup or [column.name for column in table.c]
        self.positional = compiled.positiontup is not None
        self.columns = [
            (name, None if _is_json(table.c[name]) else _processor(table.c[name], dialect))
            for name in names
        ]

    def execute(self, connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
        columns = self.columns
        params: list[Any]
        if self.positional:
            params = [
                tuple(
                    row[name] if process is None else process(row[name])
                    for name, process in columns
                )
                for row in rows
            ]
        else:
            params = [
                {
                    name: row[name] if process is None else process(row[name])
                    for name, process in columns
                }
                for row in rows
            ]
        connection.exec_driver_sql(self.sql, params)


def _is_json(column: sa.Column[Any]) -> bool:
    return isinstance(column.type, sa.JSON)


def _processor(column: sa.Column[Any], dialect: sa.Dialect) -> Callable[[Any], Any] | None:
    return column.type.dialect_impl(dialect).bind_processor(dialect)


@lru_cache(maxsize=64)
def _writes(table: sa.Table, dialect: sa.Dialect) -> tuple[_Bulk, _Bulk]:
    """For one kind: a plain ``INSERT`` for rows new to this node, and
    ``INSERT … ON CONFLICT (id) DO UPDATE`` of every column for rows already mirrored
    (a plain insert is about twice as fast on SQLite, and the page's existence check
    already tells them apart).

    JSON columns are bound as the text of the document (``_row_values`` encodes it
    once). The update only ever touches a row mirrored from the same peer;
    ``_apply_kind`` has already refused a page that names any other row.
    """
    postgres = dialect.name == "postgresql"
    values: dict[str, Any] = {}
    for column in table.c:
        if _is_json(column):
            param: Any = sa.bindparam(column.name, type_=sa.Text)
            values[column.name] = sa.cast(param, JSONB) if postgres else param
        else:
            values[column.name] = sa.bindparam(column.name, type_=column.type)
    insert = (postgresql.insert if postgres else sqlite.insert)(table).values(values)
    upsert = insert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: insert.excluded[name] for name in values if name != "id"},
        where=table.c.origin == insert.excluded.origin,
    )
    return _Bulk(insert, table, dialect), _Bulk(upsert, table, dialect)


@cache
def _layout(kind: str) -> tuple[frozenset[str], frozenset[str], dict[str, Any]]:
    """For one kind: its JSON columns, those that store None as SQL NULL, and the
    columns the entity's data does not carry, with the value a mirror gets."""
    table: sa.Table = KINDS[kind].__table__
    fields = set(DATA_MODELS[kind].model_fields)
    json_columns = frozenset(c.name for c in table.c if isinstance(c.type, sa.JSON))
    null_as_sql = frozenset(
        c.name for c in table.c if isinstance(c.type, sa.JSON) and c.type.none_as_null
    )
    own = {"id", "origin", "audience", "change_seq", "deleted_at"}
    missing = {c.name: None for c in table.c if c.name not in fields and c.name not in own}
    return json_columns, null_as_sql, missing


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _row_values(
    node_id: str,
    kind: str,
    entry: Any,
    local_publishers: dict[str, uuid.UUID],
    audiences: dict[tuple[str, ...], str],
) -> dict[str, Any]:
    json_columns, null_as_sql, missing = _layout(kind)
    values: dict[str, Any] = entry.data.model_dump()
    values.update(missing)
    for name in json_columns:
        if name in values and not (values[name] is None and name in null_as_sql):
            values[name] = _json_text(values[name])
    if kind == "adoption":
        values["adopter_node"] = values.get("adopter_node") or node_id
    audience: str | None = None
    if entry.audience is not None:
        codes = tuple(entry.audience)
        if codes not in audiences:
            ids = sorted(str(local_publishers[c]) for c in codes if c in local_publishers)
            audiences[codes] = _json_text(ids)
        audience = audiences[codes]
    partners_only = kind in ("app", "dataset") and values["visibility"] == Visibility.partners
    if partners_only and audience is None:
        audience = "[]"  # a partners item no publisher here may see yet
    values.update(id=entry.id, origin=node_id, audience=audience, change_seq=0, deleted_at=None)
    return values
