"""Keeping the change feed right when what a reader may see changes without the
row itself changing.

The feed serves rows by ``change_seq`` and evaluates visibility when it serves them.
Three things decide whether a reader may see a row without being stored on it:

- a release's or adoption's app, and a distribution's dataset (children follow
  their parent's visibility and deletion);
- a partnership's status or end date (it decides who sees ``partners`` items).

So when an app or dataset changes, its children take new places in the sequence
after it; when a partnership changes, the owner's ``partners`` apps and datasets (and
their children) do. A reader whose cursor lies before the change then gets each
affected item again: an ``upsert`` if it may now see it, a ``delete`` if not. This
also keeps a child after its parent in the feed, so a mirror never meets a release
before the app it belongs to.

Re-stamping moves ``change_seq`` only; ``updated_at`` keeps telling when the item's
content last changed.

The same hook records each item's exposures (``registry.sharing.models.Exposure``):
after every flush, each item written, re-stamped or whose parent or owner's
partnerships changed is checked against the visibility rule, and the readers that may
see it now are added to the readers that ever could. The feed tombstones an item only
to those.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import UOWTransaction, attributes
from sqlalchemy.orm.util import identity_key
from sqlmodel import SQLModel

from registry.catalog.models import App, Dataset, Distribution, Release, Visibility
from registry.db import ChangeCounter, table_of
from registry.sharing.models import EVERYONE, Adoption, Exposure, Partnership
from registry.sharing.visibility import ANONYMOUS, Viewer, in_force

_RESTAMP_FIELDS = ("status", "valid_until", "deleted_at")


def _changed(obj: object, names: tuple[str, ...]) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


# Children and the column naming their parent, by parent.
_CHILDREN: tuple[tuple[type[SQLModel], str, type[App] | type[Dataset]], ...] = (
    (Release, "app_id", App),
    (Adoption, "app_id", App),
    (Distribution, "dataset_id", Dataset),
)


def install() -> None:
    """Re-stamp and record exposures after every flush of this process. Start-up
    calls it (``registry.startup.start``); calling it again changes nothing."""
    if not event.contains(OrmSession, "after_flush", _restamp_dependents):
        event.listen(OrmSession, "after_flush", _restamp_dependents)


def _restamp_dependents(session: OrmSession, flush_context: UOWTransaction) -> None:
    apps: list[uuid.UUID] = []
    datasets: list[uuid.UUID] = []
    owners: set[uuid.UUID] = set()
    # Everything whose exposure may have grown: written rows, and (below) re-stamped ones.
    exposed: dict[type[SQLModel], set[uuid.UUID]] = {}
    # session.new builds a new set on each access: take it once, not once per row.
    new = session.new
    for obj in list(session.dirty) + list(new):
        fed = isinstance(obj, App | Dataset | Release | Distribution | Adoption)
        if fed and obj.origin is None and obj.deleted_at is None:
            exposed.setdefault(type(obj), set()).add(obj.id)
        if isinstance(obj, App) and obj.origin is None and obj not in new:
            if session.is_modified(obj, include_collections=False):
                apps.append(obj.id)
        elif isinstance(obj, Dataset) and obj.origin is None and obj not in new:
            if session.is_modified(obj, include_collections=False):
                datasets.append(obj.id)
        elif isinstance(obj, Partnership) and (obj in new or _changed(obj, _RESTAMP_FIELDS)):
            owners.add(obj.publisher_id)
    if not (apps or datasets or owners or exposed):
        return
    connection = session.connection()
    parents: list[tuple[type[SQLModel], list[uuid.UUID]]] = []
    if owners:
        for owned in (App, Dataset):
            table = table_of(owned)
            found = connection.execute(
                sa.select(table.c.id)
                .where(
                    table.c.publisher_id.in_(owners),
                    table.c.origin.is_(None),
                    table.c.deleted_at.is_(None),
                    table.c.visibility == Visibility.partners.value,
                )
                .order_by(table.c.change_seq)
            ).scalars()
            known = apps if owned is App else datasets
            fresh = [i for i in found if i not in known]
            parents.append((owned, fresh))
            known.extend(fresh)
    children: list[tuple[type[SQLModel], list[uuid.UUID]]] = []
    for child, parent_column, parent in _CHILDREN:
        parent_ids = apps if parent is App else datasets
        if not parent_ids:
            continue
        table = table_of(child)
        ids = list(
            connection.execute(
                sa.select(table.c.id)
                .where(table.c[parent_column].in_(parent_ids), table.c.origin.is_(None))
                .order_by(table.c.change_seq)
            ).scalars()
        )
        children.append((child, ids))
    for model, ids in parents + children:
        _restamp(session, connection, model, ids)
        exposed.setdefault(model, set()).update(ids)
    _record_exposures(connection, exposed)


def _record_exposures(
    connection: sa.Connection, exposed: dict[type[SQLModel], set[uuid.UUID]]
) -> None:
    """Add the readers that may see these items now (by the visibility rule) to their
    exposures."""
    if not exposed:
        return
    # The app or dataset that decides each item's visibility, and the item's own state.
    decides: dict[uuid.UUID, tuple[uuid.UUID, bool]] = {}  # item -> (root, item live)
    roots: dict[type[App] | type[Dataset], set[uuid.UUID]] = {App: set(), Dataset: set()}
    for model in (App, Dataset):
        for item_id in exposed.get(model, ()):
            decides[item_id] = (item_id, True)
            roots[model].add(item_id)
    for child, parent_column, parent in _CHILDREN:
        ids = list(exposed.get(child, ()))
        table = table_of(child)
        for start in range(0, len(ids), 500):
            for item_id, parent_id, deleted_at in connection.execute(
                sa.select(table.c.id, table.c[parent_column], table.c.deleted_at).where(
                    table.c.id.in_(ids[start : start + 500])
                )
            ):
                decides[item_id] = (parent_id, deleted_at is None)
                roots[parent].add(parent_id)
    root_rows: dict[uuid.UUID, Any] = {}
    for model, ids_set in roots.items():
        ids = list(ids_set)
        table = table_of(model)
        for start in range(0, len(ids), 500):
            for row in connection.execute(
                sa.select(
                    table.c.id,
                    table.c.visibility,
                    table.c.publisher_id,
                    table.c.origin,
                    table.c.audience,
                    table.c.deleted_at,
                ).where(table.c.id.in_(ids[start : start + 500]))
            ):
                root_rows[row.id] = row
    # The nodes each owner is partnered with now, as the rule sees them.
    owners = {row.publisher_id for row in root_rows.values() if row.origin is None}
    nodes: dict[uuid.UUID, dict[str, Viewer]] = {}
    if owners:
        partnerships = table_of(Partnership)
        for partnership in connection.execute(
            sa.select(partnerships).where(partnerships.c.publisher_id.in_(owners))
        ):
            if in_force(partnership):
                owner, node = partnership.publisher_id, partnership.peer_node_id
                nodes.setdefault(owner, {})[node] = Viewer(
                    node_id=node, partners={owner: (partnership.partner_code,)}
                )
    readers_of: dict[uuid.UUID, list[str]] = {}
    for root_id, row in root_rows.items():
        if row.origin is not None or row.deleted_at is not None:
            readers_of[root_id] = []
        elif ANONYMOUS.sees(row):
            readers_of[root_id] = [EVERYONE]
        else:
            viewers = nodes.get(row.publisher_id, {})
            readers_of[root_id] = [node for node, reader in viewers.items() if reader.sees(row)]
    values = [
        {"item_id": item_id, "reader": reader}
        for item_id, (root_id, alive) in decides.items()
        if alive
        for reader in readers_of.get(root_id, [])
    ]
    if not values:
        return
    table = table_of(Exposure)
    insert = (postgresql if connection.dialect.name == "postgresql" else sqlite).insert(table)
    connection.execute(insert.on_conflict_do_nothing(), values)


def _restamp(
    session: OrmSession, connection: sa.Connection, model: type[SQLModel], ids: list[uuid.UUID]
) -> None:
    if not ids:
        return
    counter = table_of(ChangeCounter)
    last = connection.execute(
        sa.update(counter)
        .where(counter.c.id == 1)
        .values(value=counter.c.value + len(ids))
        .returning(counter.c.value)
    ).scalar_one()
    first = last - len(ids) + 1
    table = table_of(model)
    connection.execute(
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"))
        .values(change_seq=sa.bindparam("seq")),
        [{"row_id": row_id, "seq": first + n} for n, row_id in enumerate(ids)],
    )
    # Objects of this session keep their new place too (their ETag is the sequence).
    for n, row_id in enumerate(ids):
        obj = session.identity_map.get(identity_key(model, row_id))
        if obj is not None:
            attributes.set_committed_value(obj, "change_seq", first + n)
