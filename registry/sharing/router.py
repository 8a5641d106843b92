"""``/api/v1/partnerships`` and ``/api/v1/adoptions``."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse

from registry.catalog.dependencies import AppDep
from registry.deps import CreationDep, PagingDep, SessionDep, SettingsDep, creates
from registry.errors import problem_responses
from registry.http import IfMatch, lock_for_write, with_etag
from registry.oauth.deps import PrincipalDep, SharingWriter, SharingWriterOutside
from registry.sharing import schemas, service, views
from registry.sharing.models import AdoptionStatus, PartnershipStatus

READ_ERRORS = problem_responses(401, 403, 404, 422)
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 502)

partnerships = APIRouter(tags=["partnerships"])
adoptions = APIRouter(tags=["adoptions"])


@partnerships.get("/partnerships", operation_id="list_partnerships", responses=READ_ERRORS)
def list_partnerships(
    session: SessionDep,
    principal: SharingWriter,
    paging: PagingDep,
    status_: Annotated[PartnershipStatus | None, Query(alias="status")] = None,
) -> schemas.PartnershipsPublic:
    """Partnerships of the caller's publisher (all of them for the admin)."""
    page = service.list_partnerships(
        session, principal, status=status_, limit=paging.limit, cursor=paging.cursor
    )
    return schemas.PartnershipsPublic(
        items=views.partnerships_public(session, page.items), next_cursor=paging.next(page)
    )


@partnerships.post(
    "/partnerships",
    operation_id="request_partnership",
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
)
def request_partnership(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: SharingWriterOutside,
    request_in: schemas.PartnershipRequest,
) -> schemas.PartnershipPublic:
    """Ask a publisher on a peer node for a partnership; the request is signed with
    this node's key and delivered at once."""
    # The partner's node is asked with no transaction open: the caller's token was
    # checked in a unit of work of its own, the service records and sends in units
    # of its own, and the request's session is first used once the partner answered.
    partnership_id = service.request_partnership(
        request.app.state.engine, settings, request.app.state.keys, principal, request_in
    )
    partnership = service.get_partnership(session, principal, partnership_id)
    return views.partnership_public(session, partnership)


@partnerships.get(
    "/partnerships/{partnership_id}", operation_id="get_partnership", responses=READ_ERRORS
)
def get_partnership(
    partnership_id: uuid.UUID, session: SessionDep, principal: SharingWriter
) -> schemas.PartnershipPublic:
    return views.partnership_public(
        session, service.get_partnership(session, principal, partnership_id)
    )


@partnerships.post(
    "/partnerships/{partnership_id}/{action}",
    operation_id="decide_partnership",
    responses=WRITE_ERRORS,
)
def decide_partnership(
    partnership_id: uuid.UUID,
    action: Literal["approve", "reject", "withdraw", "revoke"],
    session: SessionDep,
    principal: SharingWriter,
) -> schemas.PartnershipPublic:
    """Approve or reject a request made to your publisher, withdraw one your publisher
    made, or revoke an active partnership (either side). Refused with 403 when the
    move belongs to the other side, 409 when the partnership's status does not allow
    it (rejected, withdrawn, revoked and expired are final). The other node is told by
    a signed notice."""
    partnership = service.get_partnership(session, principal, partnership_id)
    service.decide(session, principal, partnership, action)
    return views.partnership_public(session, partnership)


# --- adoptions -----------------------------------------------------------------------


@adoptions.get("/adoptions", operation_id="list_adoptions", responses=READ_ERRORS)
def list_adoptions(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    paging: PagingDep,
    app_id: uuid.UUID | None = None,
    publisher: Annotated[
        str | None,
        Query(
            max_length=2200,
            description="The adopter: `code@node-id`, or a bare code for this node's own "
            "publisher (any node's, when this node hosts none by that code).",
        ),
    ] = None,
    status_: Annotated[AdoptionStatus | None, Query(alias="status")] = None,
) -> schemas.AdoptionsPublic:
    """Who uses which app, on this node and (through the feed) on its peers."""
    page = service.list_adoptions(
        session,
        principal,
        app_id=app_id,
        publisher=publisher,
        status=status_,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    return schemas.AdoptionsPublic(
        items=views.adoptions_public(settings, page.items), next_cursor=paging.next(page)
    )


@adoptions.get("/apps/{app_id}/adoptions", operation_id="list_app_adoptions", responses=READ_ERRORS)
def list_app_adoptions(
    app: AppDep,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    paging: PagingDep,
) -> schemas.AdoptionsPublic:
    """The app's "used by" list, shown to whoever may see the app: anyone for a public
    app, the owner and its partners for a partners one. To others the app does not
    exist, so neither does its list (404)."""
    page = service.list_adoptions(
        session, principal, app_id=app.id, limit=paging.limit, cursor=paging.cursor
    )
    return schemas.AdoptionsPublic(
        items=views.adoptions_public(settings, page.items), next_cursor=paging.next(page)
    )


@creates(adoptions, "/adoptions", "create_adoption", schemas.AdoptionPublic, WRITE_ERRORS)
def create_adoption(
    principal: SharingWriter,
    adoption_in: schemas.AdoptionCreate,
    session: SessionDep,
    settings: SettingsDep,
    creation: CreationDep,
) -> JSONResponse:
    """Record that your publisher uses an app. For a mirrored app the adoption is also
    sent to the app's origin node."""

    def create() -> schemas.AdoptionPublic:
        adoption = service.create_adoption(session, principal, adoption_in)
        return views.adoption_public(settings, adoption)

    return creation(principal, adoption_in, create, "/api/v1/adoptions")


@adoptions.get("/adoptions/{adoption_id}", operation_id="get_adoption", responses=READ_ERRORS)
def get_adoption(
    adoption_id: uuid.UUID,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> schemas.AdoptionPublic:
    adoption = service.get_adoption(session, principal, adoption_id)
    with_etag(response, adoption)
    return views.adoption_public(settings, adoption)


@adoptions.patch("/adoptions/{adoption_id}", operation_id="update_adoption", responses=WRITE_ERRORS)
def update_adoption(
    adoption_id: uuid.UUID,
    adoption_in: schemas.AdoptionUpdate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: SharingWriter,
    if_match: IfMatch = None,
) -> schemas.AdoptionPublic:
    adoption = service.get_adoption(session, principal, adoption_id)
    adoption = lock_for_write(session, adoption, if_match)
    adoption = service.update_adoption(session, principal, adoption, adoption_in)
    with_etag(response, adoption)
    return views.adoption_public(settings, adoption)


@adoptions.delete(
    "/adoptions/{adoption_id}",
    operation_id="delete_adoption",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
)
def delete_adoption(
    adoption_id: uuid.UUID,
    session: SessionDep,
    principal: SharingWriter,
    if_match: IfMatch = None,
) -> None:
    adoption = service.get_adoption(session, principal, adoption_id)
    adoption = lock_for_write(session, adoption, if_match)
    service.delete_adoption(session, principal, adoption)


router = APIRouter()
for part in (partnerships, adoptions):
    router.include_router(part)
