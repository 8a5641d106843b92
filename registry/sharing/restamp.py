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
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import attributes
from sqlalchemy.orm.util import identity_key

from registry.catalog.models import App, Dataset, Distribution, Release, Visibility
from registry.db import ChangeCounter
from registry.sharing.models import Adoption, Partnership

_RESTAMP_FIELDS = ("status", "valid_until", "deleted_at")


def _changed(obj: Any, names: tuple[str, ...]) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


@event.listens_for(OrmSession, "after_flush")
def _restamp_dependents(session: OrmSession, flush_context: Any) -> None:
    apps: list[uuid.UUID] = []
    datasets: list[uuid.UUID] = []
    owners: set[uuid.UUID] = set()
    for obj in list(session.dirty) + list(session.new):
        if isinstance(obj, App) and obj.origin is None and obj not in session.new:
            if session.is_modified(obj, include_collections=False):
                apps.append(obj.id)
        elif isinstance(obj, Dataset) and obj.origin is None and obj not in session.new:
            if session.is_modified(obj, include_collections=False):
                datasets.append(obj.id)
        elif isinstance(obj, Partnership) and (
            obj in session.new or _changed(obj, _RESTAMP_FIELDS)
        ):
            owners.add(obj.publisher_id)
    if not (apps or datasets or owners):
        return
    connection = session.connection()
    parents: list[tuple[Any, list[uuid.UUID]]] = []
    if owners:
        for owned in (App, Dataset):
            table = _table(owned)
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
    children: list[tuple[Any, list[uuid.UUID]]] = []
    for child, parent_column, parent_ids in (
        (Release, "app_id", apps),
        (Adoption, "app_id", apps),
        (Distribution, "dataset_id", datasets),
    ):
        if not parent_ids:
            continue
        table = _table(child)
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


def _table(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


def _restamp(session: OrmSession, connection: sa.Connection, model: Any, ids: list[Any]) -> None:
    if not ids:
        return
    counter = _table(ChangeCounter)
    last = connection.execute(
        sa.update(counter)
        .where(counter.c.id == 1)
        .values(value=counter.c.value + len(ids))
        .returning(counter.c.value)
    ).scalar_one()
    first = last - len(ids) + 1
    table = _table(model)
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
