"""Query building blocks shared by every list: cursors, JSON array filters, text match,
and applying a partial update."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from registry.db import Tracked, table_of
from registry.errors import invalid

T = TypeVar("T", bound=Tracked)


@dataclass
class PageOf(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (ValueError, binascii.Error):
        raise invalid(["query", "cursor"], "not a cursor this node issued") from None


def paginate(
    session: Session,
    stmt: SelectOfScalar[T],
    id_column: Any,
    limit: int,
    cursor: str | None,
) -> PageOf[T]:
    """Keyset pagination on the primary key. Ids are UUIDv7, so pages come in
    creation order and stay stable while rows are added."""
    if cursor:
        stmt = stmt.where(id_column > decode_cursor(cursor))
    rows = list(session.exec(stmt.order_by(id_column).limit(limit + 1)).all())
    if len(rows) > limit:
        rows = rows[:limit]
        return PageOf(rows, encode_cursor(rows[-1].id))
    return PageOf(rows, None)


def json_array_contains(session: Session, column: Any, value: str) -> ColumnElement[bool]:
    """``value`` is an element of the JSON array in ``column``."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.cast(column, JSONB).op("@>")(sa.cast(sa.literal(json.dumps([value])), JSONB))
    elements = sa.func.json_each(column).table_valued("value")
    return sa.exists(sa.select(1).select_from(elements).where(elements.c.value == value))


def text_match(q: str, *columns: Any) -> ColumnElement[bool]:
    """A case-insensitive substring match over the given columns (JSON ones as text)."""
    needle = q.strip().lower()
    return sa.or_(
        *(
            sa.func.lower(sa.cast(col, sa.String)).contains(needle, autoescape=True)
            for col in columns
        )
    )


def live(model: type[Tracked]) -> ColumnElement[bool]:
    return col(model.deleted_at).is_(None)


def apply_changes(obj: SQLModel, changes: Mapping[str, Any]) -> None:
    """Set the given fields, refusing ``null`` for a column that cannot hold it.

    Changes usually come from ``model_dump(mode="json")``, and a table model does not
    validate on assignment: each value is turned back into the field's own type
    (an enum, a datetime), or a row would hold the string until it is read again."""
    table = table_of(type(obj))
    for name, value in changes.items():
        column = table.columns.get(name)
        if value is None and column is not None and not column.nullable:
            raise invalid(["body", name], "may not be null")
        adapter = _field_adapter(type(obj), name)
        if adapter is not None and value is not None:
            value = adapter.validate_python(value)
        setattr(obj, name, value)


@functools.cache
def _field_adapter(model: type[SQLModel], name: str) -> TypeAdapter[Any] | None:
    field = model.model_fields.get(name)
    if field is None or field.annotation is None:
        return None
    return TypeAdapter(field.annotation)


def first_live(session: Session, model: type[T], *where: ColumnElement[bool] | bool) -> T | None:
    return session.exec(select(model).where(live(model), *where)).first()


def by_ids(session: Session, model: type[T], ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, T]:
    if not ids:
        return {}
    rows = session.exec(select(model).where(col(model.id).in_(set(ids)))).all()
    return {row.id: row for row in rows}


def json_array_elements(session: Session, column: Any) -> TableValuedAlias:
    """The elements of the JSON array in ``column`` as a table with one ``value``
    column, to join against (for counting tags, categories, themes)."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.jsonb_array_elements_text(sa.cast(column, JSONB)).table_valued("value")
    return sa.func.json_each(column).table_valued("value")
