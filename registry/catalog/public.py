"""Shaping catalog rows into their public response models, shared by every router
that answers with them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from registry.catalog import schemas
from registry.catalog.models import App, Publisher
from registry.catalog.service import publisher_ref
from registry.http import etag_of, version_of
from registry.querying import by_ids
from registry.settings import Settings


def tracked(settings: Settings, item: Any, path: str) -> dict[str, Any]:
    # A mirror keeps its origin's id, so its global id is its URL on that origin.
    origin = item.origin or settings.issuer
    return {
        "global_id": f"{origin}/api/v1/{path}",
        "origin": origin,
        "etag": etag_of(version_of(item)),
    }


def apps_public(
    session: Session, settings: Settings, apps: Sequence[App]
) -> list[schemas.AppPublic]:
    publishers = by_ids(session, Publisher, [a.publisher_id for a in apps])
    return [
        schemas.AppPublic.model_validate(
            {
                **app.model_dump(exclude={"publiccode"}),
                "publisher": publishers[app.publisher_id].code,
                "publisher_ref": publisher_ref(publishers[app.publisher_id]),
                **tracked(settings, app, f"apps/{app.id}"),
            }
        )
        for app in apps
    ]


def app_public(session: Session, settings: Settings, app: App) -> schemas.AppPublic:
    return apps_public(session, settings, [app])[0]
