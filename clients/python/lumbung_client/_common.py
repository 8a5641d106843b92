"""Pieces every resource shares: references, bodies, headers, parsing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx2
import pydantic
from pydantic import BaseModel

from lumbung_client._exceptions import FieldError, ValidationFailed
from lumbung_client._models import (
    App,
    Dataset,
    Distribution,
    Page,
    Peer,
    Publisher,
    Release,
    Resource,
)

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)

#: An app: the object, its id (UUID or text), or ``"publisher/slug"``.
AppRef = App | uuid.UUID | str
#: A dataset: the object, its id (UUID or text), or ``"publisher/slug"``.
DatasetRef = Dataset | uuid.UUID | str
#: A publisher: the object, its id, or its code.
PublisherRef = Publisher | uuid.UUID | str
#: A release: the object, its id, or (where an app is given too) its version.
ReleaseRef = Release | uuid.UUID | str
#: A distribution: the object or its id.
DistributionRef = Distribution | uuid.UUID | str


def as_uuid(value: object) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return None
    return None


def split_ref(ref: str, what: str) -> tuple[str, str]:
    """``("publisher", "slug")`` from ``"publisher/slug"``."""
    publisher, sep, slug = ref.partition("/")
    if not sep or not publisher or not slug or "/" in slug:
        raise ValueError(f"{what} must be an id or 'publisher/slug', not {ref!r}")
    return publisher, slug


def payload(model: type[BaseModel], data: BaseModel | Mapping[str, Any] | None, fields: Any) -> Any:
    """The JSON body for a create or update: ``data`` and keyword ``fields`` merged,
    validated by ``model``, and only the fields that were set.

    A field set to ``None`` on purpose is sent as ``null`` (to clear it). Invalid fields
    raise :class:`ValidationFailed` naming each one, as the node would, before anything
    is sent.
    """
    merged: dict[str, Any] = {}
    if isinstance(data, BaseModel):
        merged.update(data.model_dump(exclude_unset=True))
    elif data is not None:
        merged.update(data)
    merged.update(fields)
    try:
        checked = model.model_validate(merged)
    except pydantic.ValidationError as exc:
        raise ValidationFailed(
            422,
            title="Invalid request",
            detail=f"not sent: the {model.__name__} fields are invalid",
            errors=[_field_error(error) for error in exc.errors()],
        ) from exc
    return checked.model_dump(mode="json", exclude_unset=True)


def _field_error(error: Any) -> FieldError:
    """A pydantic error as the node would word it, under ``body``."""
    loc = ["body", *error["loc"]]
    message = str(error["msg"])
    if error["type"] == "dict_type" and isinstance(error.get("input"), str):
        # The usual slip: a plain string where a text is given per language.
        message += ', e.g. {"id": "Teks dalam bahasa Indonesia", "en": "English text"}'
    return FieldError(loc, message)


def if_match_header(obj: object, if_match: str | None) -> dict[str, str]:
    """``If-Match`` from an explicit tag, or from an object's ``etag``."""
    tag = if_match
    if tag is None and isinstance(obj, Resource):
        tag = obj.etag
    return {"If-Match": tag} if tag else {}


def create_headers(idempotency_key: str | None) -> dict[str, str]:
    """A fresh ``Idempotency-Key`` per create, so retrying it cannot create twice."""
    return {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}


def parse(model: type[M], response: httpx2.Response) -> M:
    """The response body as ``model``, with its ETag header filled in when the body lacks it."""
    item = model.model_validate(response.json())
    etag = response.headers.get("etag")
    if isinstance(item, Resource) and item.etag is None and etag:
        item.etag = etag
    return item


def parse_page(model: type[M], response: httpx2.Response) -> Page[M]:
    """A list response as a :class:`Page` of ``model``."""
    return Page[model].model_validate(response.json())  # type: ignore[valid-type]


def page_params(
    filters: Mapping[str, Any], limit: int | None, cursor: str | None
) -> dict[str, Any]:
    """Query parameters for one page: the filters that are set, ``limit`` and ``cursor``."""
    params = {k: v for k, v in filters.items() if v is not None}
    if limit is not None:
        params["limit"] = limit
    if cursor is not None:
        params["cursor"] = cursor
    return params


def object_id(obj: BaseModel | uuid.UUID | str, what: str) -> uuid.UUID:
    """The id of an object given as the object itself (anything the node returned with
    an ``id``) or its id."""
    found = getattr(obj, "id", None) if isinstance(obj, BaseModel) else as_uuid(obj)
    if not isinstance(found, uuid.UUID):
        raise ValueError(f"{what} must be an object or its id, not {obj!r}")
    return found


def parse_peers(response: httpx2.Response) -> Page[Peer]:
    """The peer list as one :class:`Page`: the node returns every peer at once."""
    return Page[Peer](items=[Peer.model_validate(p) for p in response.json()], next_cursor=None)


def newest(releases: list[Release]) -> Release | None:
    """The newest release by ``released_at`` (or creation time when it has none)."""
    if not releases:
        return None

    def key(r: Release) -> tuple[float, str]:
        when = r.released_at or r.created_at
        # Ids are time-ordered (UUIDv7), so they break ties in creation order.
        return (when.timestamp() if when else float("-inf"), str(r.id))

    return max(releases, key=key)
