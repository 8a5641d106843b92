"""Federation endpoints: node metadata, the change feed, signed notices from peers,
and the admin's ``/api/v1/peers``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from registry.catalog.fields import HttpUrl
from registry.db import utcnow
from registry.deps import SessionDep, SettingsDep
from registry.errors import Conflict, NotFound, Unauthorized, problem_responses
from registry.federation import feed, peers
from registry.federation.schemas import FeedPage
from registry.federation.signing import refresh_signer_keys, verify_federation_request
from registry.oauth.deps import Admin, PrincipalDep
from registry.peers import Peer
from registry.responses import JSONResponse
from registry.sharing import schemas as sharing_schemas
from registry.sharing import service as sharing

router = APIRouter()
Handler = TypeVar("Handler", bound=Callable[..., Any])
SIGNED_ERRORS = problem_responses(401, 403, 404, 409, 422)


def _notice(
    path: str, operation_id: str, *, status_code: int | None = None
) -> Callable[[Handler], Handler]:
    """A route by which a peer delivers a signed notice."""
    return router.post(
        path,
        tags=["federation"],
        operation_id=operation_id,
        status_code=status_code,
        responses=SIGNED_ERRORS,
    )


# --- metadata ------------------------------------------------------------------------


@router.get("/.well-known/lumbung-node", tags=["federation"], operation_id="node_metadata")
def node_metadata(session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """Who this node is: its id, name, version, publishers, and where its API, OAuth
    issuer, keys and change feed are."""
    return peers.node_metadata(session, settings)


# --- the feed ------------------------------------------------------------------------


@router.get(
    "/federation/v1/changes",
    tags=["federation"],
    operation_id="list_changes",
    responses={200: {"model": FeedPage}, **problem_responses(401, 422)},
)
def list_changes(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    after: Annotated[str | None, Query(max_length=200, description="`next_cursor`")] = None,
    limit: Annotated[int, Query(ge=1, le=feed.MAX_LIMIT)] = feed.DEFAULT_LIMIT,
) -> Response:
    """Changes after a cursor, compacted: public items to anyone; ``partners`` items
    also to peer nodes (token with ``federation:read``) whose publishers hold an
    active partnership with the owner."""
    cursor = feed.parse_cursor(after)
    body = feed.changes(session, settings, principal, after=cursor, limit=limit)
    return JSONResponse(feed.encode(body))


# --- signed notices from peers ---------------------------------------------------------


async def raw_body(request: Request) -> bytes:
    return await request.body()


def _bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("federation requests carry a signed JWT as a Bearer token")
    return token.strip()


def fresh_signer_keys(request: Request) -> None:
    """Fetch the sending peer's keys again when its request names a key not cached.
    This runs before the request's own transaction begins (the session does not touch
    the database until ``signed_peer`` reads with it): nothing talks to another node
    while a write transaction is open (DESIGN §7)."""
    allow = request.app.state.settings.fetch_allow
    refresh_signer_keys(request.app.state.engine, _bearer_token(request), allow)


def signed_peer(
    request: Request,
    _keys: Annotated[None, Depends(fresh_signer_keys)],
    session: SessionDep,
    settings: SettingsDep,
    body: Annotated[bytes, Depends(raw_body)],
) -> Peer:
    """The peer that signed this request (see ``registry.federation.signing``)."""
    token = _bearer_token(request)
    return verify_federation_request(
        session,
        token,
        settings=settings,
        method=request.method,
        path=request.url.path,
        body=body,
    )


SignedPeer = Annotated[Peer, Depends(signed_peer)]
M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], body: bytes) -> M:
    from pydantic import ValidationError

    from registry.errors import FieldError, ValidationFailed

    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = [
            FieldError(loc=["body", *map(str, e["loc"])], msg=str(e["msg"])) for e in exc.errors()
        ]
        raise ValidationFailed(
            "invalid fields: " + ", ".join(".".join(map(str, e.loc)) for e in errors),
            errors=errors,
        ) from None


@_notice(
    "/federation/v1/partnerships",
    "receive_partnership_request",
    status_code=status.HTTP_201_CREATED,
)
def receive_partnership_request(
    session: SessionDep, peer: SignedPeer, body: Annotated[bytes, Depends(raw_body)]
) -> dict[str, Any]:
    """A peer's publisher asks one of this node's publishers for a partnership."""
    notice = _parse(sharing_schemas.PartnershipRequestNotice, body)
    partnership = sharing.receive_request(session, peer, notice)
    return {"id": str(partnership.id), "status": partnership.status.value}


@_notice("/federation/v1/partnerships/{partnership_id}/status", "receive_partnership_status")
def receive_partnership_status(
    partnership_id: uuid.UUID,
    session: SessionDep,
    peer: SignedPeer,
    body: Annotated[bytes, Depends(raw_body)],
) -> dict[str, Any]:
    """The other side of a partnership decided (approved, rejected, withdrew, revoked,
    expired). Checked against the partnership's state machine as a move of the sending
    side: 403 when the move belongs to this side, 409 when the status does not allow it."""
    notice = _parse(sharing_schemas.PartnershipStatusNotice, body)
    partnership = sharing.receive_status(session, peer, partnership_id, notice)
    return {"id": str(partnership.id), "status": partnership.status.value}


@_notice("/federation/v1/adoptions", "receive_adoption")
def receive_adoption(
    session: SessionDep, peer: SignedPeer, body: Annotated[bytes, Depends(raw_body)]
) -> dict[str, Any]:
    """A peer's publisher reports that it uses (or stopped recording) one of this
    node's apps. 403 when the adopter is not a publisher of the sending node."""
    notice = _parse(sharing_schemas.AdoptionNotice, body)
    adoption = sharing.receive_adoption(session, peer, notice)
    return {"id": str(adoption.id), "deleted": adoption.deleted_at is not None}


@_notice("/federation/v1/notify", "receive_notify", status_code=status.HTTP_202_ACCEPTED)
def receive_notify(session: SessionDep, peer: SignedPeer) -> dict[str, Any]:
    """The calling peer has news: pull its feed early."""
    peer.sync_requested_at = utcnow()
    session.add(peer)
    session.flush()
    return {"accepted": True}


# --- /api/v1/peers -------------------------------------------------------------------


class PeerCreate(BaseModel):
    url: HttpUrl = Field(description="The peer's base URL (its node id).")
    key_thumbprints: list[str] | None = Field(
        default=None,
        max_length=20,
        description="RFC 7638 thumbprints confirmed out of band; each must be published.",
    )


class PeerPublic(BaseModel):
    id: uuid.UUID
    node_id: str
    name: str
    software_version: str | None
    api_base: str
    jwks_uri: str
    feed_url: str
    publishers: list[str | None]
    key_thumbprints: list[str]
    cursor: str
    feed_mode: str
    items: int
    remaining: int
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    lag_seconds: float | None
    refused_notices: int = Field(
        description="Notices to this peer that it kept refusing until they were given up."
    )
    created_at: datetime


def peer_public(peer: Peer, refused: int = 0) -> PeerPublic:
    return PeerPublic.model_validate({"id": peer.id, **peers.peer_status(peer, refused)})


def _peer_by_id(session: Session, peer_id: uuid.UUID) -> Peer:
    peer = session.get(Peer, peer_id)
    if peer is None:
        raise NotFound(f"no peer {peer_id}")
    return peer


@router.get(
    "/api/v1/peers",
    tags=["peers"],
    operation_id="list_peers",
    response_model=list[PeerPublic],
    responses=problem_responses(401, 403),
)
def list_peers(session: SessionDep, principal: Admin) -> list[PeerPublic]:
    refused = peers.refused_notices(session)
    return [peer_public(p, refused.get(p.node_id, 0)) for p in peers.list_peers(session)]


@router.post(
    "/api/v1/peers",
    tags=["peers"],
    operation_id="add_peer",
    status_code=status.HTTP_201_CREATED,
    response_model=PeerPublic,
    responses=problem_responses(401, 403, 409, 422),
)
def add_peer(
    session: SessionDep, settings: SettingsDep, principal: Admin, peer_in: PeerCreate
) -> PeerPublic:
    """Fetch a node's metadata and keys and trust it. Give ``key_thumbprints`` you
    confirmed with the peer's operator to refuse a node that publishes other keys."""
    # The node is asked with no transaction open (checking the caller's token began
    # one): nothing talks to another node while a write transaction is open.
    session.commit()
    metadata, jwks = peers.discover(peer_in.url, settings)
    if peer_in.key_thumbprints is not None:
        from registry.federation.signing import thumbprints

        published = set(thumbprints(jwks))
        missing = [t for t in peer_in.key_thumbprints if t not in published]
        if missing:
            raise Conflict(f"the node does not publish the key {missing[0]}")
    return peer_public(peers.add_peer(session, metadata, jwks))


@router.get(
    "/api/v1/peers/{peer_id}",
    tags=["peers"],
    operation_id="get_peer",
    response_model=PeerPublic,
    responses=problem_responses(401, 403, 404),
)
def get_peer(peer_id: uuid.UUID, session: SessionDep, principal: Admin) -> PeerPublic:
    peer = _peer_by_id(session, peer_id)
    return peer_public(peer, peers.refused_notices(session).get(peer.node_id, 0))


@router.delete(
    "/api/v1/peers/{peer_id}",
    tags=["peers"],
    operation_id="remove_peer",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 409),
)
def remove_peer(peer_id: uuid.UUID, session: SessionDep, principal: Admin) -> None:
    """Forget a peer and withdraw its mirrors."""
    peers.remove_peer(session, _peer_by_id(session, peer_id))


@router.post(
    "/api/v1/peers/{peer_id}/sync",
    tags=["peers"],
    operation_id="request_peer_sync",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(401, 403, 404),
)
def request_peer_sync(peer_id: uuid.UUID, session: SessionDep, principal: Admin) -> dict[str, Any]:
    """Ask the background worker to pull this peer soon."""
    peer = _peer_by_id(session, peer_id)
    peer.sync_requested_at = utcnow()
    session.add(peer)
    session.flush()
    return {"accepted": True}
