"""``/api/v1/partnerships`` and ``/api/v1/adoptions``."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse

from registry.catalog.dependencies import AppDep
from registry.deps import Cursor, Limit, SessionDep, SettingsDep
from registry.errors import problem_responses
from registry.http import IdempotencyKey, IfMatch, created, lock_for_write, set_next_link, with_etag
from registry.oauth.deps import PrincipalDep, SharingWriter, SharingWriterOutside
from registry.sharing import schemas, service, views
from registry.sharing.models import AdoptionStatus, PartnershipStatus

READ_ERRORS = problem_responses(401, 403, 404, 422)
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 502)

router = APIRouter()


@router.get(
    "/partnerships",
    tags=["partnerships"],
    operation_id="list_partnerships",
    response_model=schemas.PartnershipsPublic,
    responses=READ_ERRORS,
)
def list_partnerships(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: SharingWriter,
    limit: Limit,
    status_: Annotated[PartnershipStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
) -> schemas.PartnershipsPublic:
    """Partnerships of the caller's publisher (all of them for the admin)."""
    page = service.list_partnerships(session, principal, status=status_, limit=limit, cursor=cursor)
    set_next_link(request, response, page.next_cursor)
    return schemas.PartnershipsPublic(
        items=views.partnerships_public(session, page.items), next_cursor=page.next_cursor
    )


@router.post(
    "/partnerships",
    tags=["partnerships"],
    operation_id="request_partnership",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.PartnershipPublic,
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


@router.get(
    "/partnerships/{partnership_id}",
    tags=["partnerships"],
    operation_id="get_partnership",
    response_model=schemas.PartnershipPublic,
    responses=READ_ERRORS,
)
def get_partnership(
    partnership_id: uuid.UUID, session: SessionDep, principal: SharingWriter
) -> schemas.PartnershipPublic:
    return views.partnership_public(
        session, service.get_partnership(session, principal, partnership_id)
    )


@router.post(
    "/partnerships/{partnership_id}/{action}",
    tags=["partnerships"],
    operation_id="decide_partnership",
    response_model=schemas.PartnershipPublic,
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


@router.get(
    "/adoptions",
    tags=["adoptions"],
    operation_id="list_adoptions",
    response_model=schemas.AdoptionsPublic,
    responses=READ_ERRORS,
)
def list_adoptions(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    limit: Limit,
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
    cursor: Cursor = None,
) -> schemas.AdoptionsPublic:
    """Who uses which app, on this node and (through the feed) on its peers."""
    page = service.list_adoptions(
        session,
        principal,
        app_id=app_id,
        publisher=publisher,
        status=status_,
        limit=limit,
        cursor=cursor,
    )
    set_next_link(request, response, page.next_cursor)
    return schemas.AdoptionsPublic(
        items=views.adoptions_public(settings, page.items), next_cursor=page.next_cursor
    )


@router.get(
    "/apps/{app_id}/adoptions",
    tags=["adoptions"],
    operation_id="list_app_adoptions",
    response_model=schemas.AdoptionsPublic,
    responses=READ_ERRORS,
)
def list_app_adoptions(
    app: AppDep,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    limit: Limit,
    cursor: Cursor = None,
) -> schemas.AdoptionsPublic:
    """The app's "used by" list, shown to whoever may see the app: anyone for a public
    app, the owner and its partners for a partners one. To others the app does not
    exist, so neither does its list (404)."""
    page = service.list_adoptions(session, principal, app_id=app.id, limit=limit, cursor=cursor)
    set_next_link(request, response, page.next_cursor)
    return schemas.AdoptionsPublic(
        items=views.adoptions_public(settings, page.items), next_cursor=page.next_cursor
    )


@router.post(
    "/adoptions",
    tags=["adoptions"],
    operation_id="create_adoption",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.AdoptionPublic,
    responses=WRITE_ERRORS,
)
def create_adoption(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: SharingWriter,
    adoption_in: schemas.AdoptionCreate,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Record that your publisher uses an app. For a mirrored app the adoption is also
    sent to the app's origin node."""
    return created(
        request,
        session,
        principal,
        idempotency_key,
        adoption_in,
        lambda: views.adoption_public(
            settings, service.create_adoption(session, principal, adoption_in)
        ),
        lambda body: f"/api/v1/adoptions/{body['id']}",
    )


@router.get(
    "/adoptions/{adoption_id}",
    tags=["adoptions"],
    operation_id="get_adoption",
    response_model=schemas.AdoptionPublic,
    responses=READ_ERRORS,
)
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


@router.patch(
    "/adoptions/{adoption_id}",
    tags=["adoptions"],
    operation_id="update_adoption",
    response_model=schemas.AdoptionPublic,
    responses=WRITE_ERRORS,
)
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


@router.delete(
    "/adoptions/{adoption_id}",
    tags=["adoptions"],
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
