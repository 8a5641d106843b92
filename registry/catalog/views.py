"""Shaping catalog rows into their public response models, for every router that
answers with them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from sqlmodel import Session

from registry.catalog import schemas
from registry.catalog.models import App, Dataset, Distribution, Publisher, Release
from registry.catalog.service import publisher_ref
from registry.global_ids import Kind, global_id
from registry.http import etag_of, version_of
from registry.querying import by_ids
from registry.settings import Settings

OwnedPublic = TypeVar("OwnedPublic", bound=schemas.OwnedPublic)


def tracked(
    settings: Settings, item: Any, kind: Kind, parent_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """The fields every entity answers with: its global id, origin and ETag."""
    origin = item.origin or settings.issuer
    return {
        "global_id": global_id(origin, kind, item.id, parent_id),
        "origin": origin,
        "etag": etag_of(version_of(item)),
    }


def publisher_public(settings: Settings, publisher: Publisher) -> schemas.PublisherPublic:
    return schemas.PublisherPublic.model_validate(
        {**publisher.model_dump(), **tracked(settings, publisher, "publisher")}
    )


def apps_public(
    session: Session, settings: Settings, apps: Sequence[App]
) -> list[schemas.AppPublic]:
    # The publiccode.yml document is served on its own (``/apps/{id}/publiccode.yml``).
    return _owned_public(session, settings, apps, "app", schemas.AppPublic, {"publiccode"})


def app_public(session: Session, settings: Settings, app: App) -> schemas.AppPublic:
    return apps_public(session, settings, [app])[0]


def release_public(settings: Settings, release: Release) -> schemas.ReleasePublic:
    return schemas.ReleasePublic.model_validate(
        {**release.model_dump(), **tracked(settings, release, "release", release.app_id)}
    )


def datasets_public(
    session: Session, settings: Settings, datasets: Sequence[Dataset]
) -> list[schemas.DatasetPublic]:
    return _owned_public(session, settings, datasets, "dataset", schemas.DatasetPublic)


def dataset_public(session: Session, settings: Settings, dataset: Dataset) -> schemas.DatasetPublic:
    return datasets_public(session, settings, [dataset])[0]


def distribution_public(
    settings: Settings, distribution: Distribution
) -> schemas.DistributionPublic:
    parent_id = distribution.dataset_id
    return schemas.DistributionPublic.model_validate(
        {**distribution.model_dump(), **tracked(settings, distribution, "distribution", parent_id)}
    )


def _owned_public(
    session: Session,
    settings: Settings,
    items: Sequence[App] | Sequence[Dataset],
    kind: Literal["app", "dataset"],
    model: type[OwnedPublic],
    exclude: set[str] | None = None,
) -> list[OwnedPublic]:
    """Apps or datasets with their publisher's code and ref, its rows read at once."""
    publishers = by_ids(session, Publisher, [item.publisher_id for item in items])
    return [
        model.model_validate(
            {
                **item.model_dump(exclude=exclude),
                "publisher": publishers[item.publisher_id].code,
                "publisher_ref": publisher_ref(publishers[item.publisher_id]),
                **tracked(settings, item, kind),
            }
        )
        for item in items
    ]
