"""Request and response shapes of partnerships and adoptions."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import Field, model_validator

from registry.catalog.fields import HttpUrl, PublisherCode, ShortText
from registry.catalog.schemas import Input, Output, Page, Version
from registry.sharing.models import AdoptionStatus, Direction, PartnershipStatus


class PartnershipRequest(Input):
    publisher: PublisherCode = Field(description="Code of the local publisher that asks.")
    peer: HttpUrl = Field(description="Node id (base URL) of the partner's node.")
    partner: PublisherCode = Field(description="Code of the publisher on the peer node.")
    reference: str | None = Field(
        default=None, max_length=500, description="e.g. the number of the perjanjian kerja sama"
    )
    until: date | None = Field(default=None, description="The partnership ends by itself after.")


class PartnershipPublic(Output):
    id: uuid.UUID
    publisher: str
    publisher_id: uuid.UUID
    peer_node_id: str
    partner_code: str
    partner_name: str | None
    direction: Direction
    reference: str | None
    valid_until: date | None
    status: PartnershipStatus
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None


class PartnershipsPublic(Page):
    items: list[PartnershipPublic]


class AdoptionFields(Input):
    version: Version | None = None
    status: AdoptionStatus | None = None
    deployment_url: HttpUrl | None = None
    started_on: date | None = None
    ended_on: date | None = None


def _ordered(started: date | None, ended: date | None) -> None:
    if started and ended and started > ended:
        raise ValueError("started_on must not be after ended_on")


class AdoptionCreate(AdoptionFields):
    app_id: uuid.UUID = Field(description="The app (local or mirrored) the publisher uses.")
    publisher: PublisherCode | None = Field(
        default=None, description="Adopter's code; defaults to the caller's publisher."
    )
    status: AdoptionStatus = AdoptionStatus.evaluating

    @model_validator(mode="after")
    def _dates(self) -> AdoptionCreate:
        _ordered(self.started_on, self.ended_on)
        return self


class AdoptionUpdate(AdoptionFields):
    @model_validator(mode="after")
    def _dates(self) -> AdoptionUpdate:
        _ordered(self.started_on, self.ended_on)
        return self


class AdoptionPublic(Output):
    id: uuid.UUID
    global_id: str
    origin: str
    app_id: uuid.UUID
    publisher_id: uuid.UUID | None
    adopter_node: str = Field(description="Node id of the adopting publisher's node.")
    adopter_code: str
    adopter_name: str
    version: str | None
    status: AdoptionStatus
    deployment_url: str | None
    started_on: date | None
    ended_on: date | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    etag: str


class AdoptionsPublic(Page):
    items: list[AdoptionPublic]


# --- federation messages -------------------------------------------------------------


class AdoptionNotice(Input):
    """An adoption of one of the receiver's apps, sent by the adopter's node."""

    id: uuid.UUID
    app_id: uuid.UUID
    adopter_code: PublisherCode
    adopter_name: ShortText
    version: Version | None = None
    status: AdoptionStatus
    deployment_url: HttpUrl | None = None
    started_on: date | None = None
    ended_on: date | None = None
    deleted: bool = False


class PartnershipRequestNotice(Input):
    id: uuid.UUID
    publisher: PublisherCode = Field(description="The requesting publisher (sender's node).")
    publisher_name: ShortText
    partner: PublisherCode = Field(description="The publisher asked (receiver's node).")
    reference: str | None = Field(default=None, max_length=500)
    until: date | None = None


class PartnershipStatusNotice(Input):
    status: PartnershipStatus
    client_id: str | None = Field(default=None, max_length=64)
