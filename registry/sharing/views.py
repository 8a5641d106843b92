"""Shaping partnerships and adoptions into their public response models, for the
API and the command line alike."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from registry.catalog.models import Publisher
from registry.catalog.views import tracked
from registry.querying import by_ids
from registry.settings import Settings
from registry.sharing import schemas
from registry.sharing.models import Adoption, Partnership


def partnerships_public(
    session: Session, items: Sequence[Partnership]
) -> list[schemas.PartnershipPublic]:
    publishers = by_ids(session, Publisher, [p.publisher_id for p in items])
    return [
        schemas.PartnershipPublic.model_validate(
            {**p.model_dump(), "publisher": publishers[p.publisher_id].code}
        )
        for p in items
    ]


def partnership_public(session: Session, partnership: Partnership) -> schemas.PartnershipPublic:
    return partnerships_public(session, [partnership])[0]


def adoptions_public(settings: Settings, items: Sequence[Adoption]) -> list[schemas.AdoptionPublic]:
    return [adoption_public(settings, a) for a in items]


def adoption_public(settings: Settings, adoption: Adoption) -> schemas.AdoptionPublic:
    return schemas.AdoptionPublic.model_validate(
        {
            **adoption.model_dump(),
            **tracked(settings, adoption, "adoption"),
            "adopter_node": adoption.adopter_node or settings.issuer,
        }
    )
