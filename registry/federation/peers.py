"""This node's metadata, and the peers its admin chose to trust."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, col, select

from registry import __version__
from registry.catalog.fields import HttpUrl
from registry.catalog.models import Publisher
from registry.db import rows_matched, table_of, utcnow
from registry.errors import Conflict, NotFound, invalid
from registry.federation.models import MIRROR_MODELS
from registry.federation.signing import fetch_jwks, public_keys, thumbprints
from registry.federation.transport import PeerError, new_client, request_json
from registry.netguard import check_url
from registry.outbox import OutboxMessage
from registry.peers import Peer
from registry.querying import live
from registry.settings import Settings
from registry.sharing.models import Partnership, PartnershipStatus

PROTOCOL = "lumbung-federation/1"
WELL_KNOWN = "/.well-known/lumbung-node"


def node_metadata(session: Session, settings: Settings) -> dict[str, Any]:
    issuer = settings.issuer
    publishers = session.exec(
        select(Publisher)
        .where(live(Publisher), col(Publisher.origin).is_(None))
        .order_by(col(Publisher.code))
    ).all()
    return {
        "node_id": issuer,
        "name": settings.node_name,
        "software": {"name": "lumbung", "version": __version__},
        "protocol": PROTOCOL,
        "api_base": f"{issuer}/api/v1",
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "feed_url": f"{issuer}/federation/v1/changes",
        "publishers": [
            {
                "id": str(p.id),
                "code": p.code,
                "name": p.name,
                "kind": p.kind.value,
                "region_code": p.region_code,
            }
            for p in publishers
        ],
    }


class _PublisherInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(max_length=64)
    code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    kind: str | None = Field(default=None, max_length=16)
    region_code: str | None = Field(default=None, max_length=13)


class NodeMetadata(BaseModel):
    model_config = ConfigDict(extra="ignore")
    node_id: HttpUrl
    name: str = Field(min_length=1, max_length=200)
    software: dict[str, str] = Field(default_factory=dict)
    api_base: HttpUrl
    issuer: HttpUrl
    token_endpoint: HttpUrl
    jwks_uri: HttpUrl
    feed_url: HttpUrl
    publishers: list[_PublisherInfo] = Field(default_factory=list, max_length=1000)


def normalize_node_id(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise invalid(["url"], "a node is named by its http(s) base URL")
    if parts.query or parts.fragment:
        raise invalid(["url"], "a node's base URL has no query or fragment")
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def discover(url: str, settings: Settings) -> tuple[NodeMetadata, dict[str, Any]]:
    """Fetch and check a node's metadata and JWKS. The URL must be one the node may
    fetch from (``netguard``), and every URL the metadata gives must lie on its own
    origin: a node that points its keys elsewhere is refused."""
    check_url(url, settings.fetch_allow)
    node_id = normalize_node_id(url)
    try:
        with new_client(settings.fetch_allow) as client:
            _, payload = request_json(client, "GET", node_id + WELL_KNOWN)
        metadata = NodeMetadata.model_validate(payload)
    except PeerError as exc:
        raise invalid(["url"], f"cannot read the node's metadata: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise invalid(
            ["url"], f"the node's metadata is not valid ({where}: {first['msg']})"
        ) from None
    if (
        normalize_node_id(metadata.node_id) != node_id
        or normalize_node_id(metadata.issuer) != node_id
    ):
        raise invalid(
            ["url"], f"the node at {node_id} calls itself {metadata.node_id}; use that URL"
        )
    for name in ("jwks_uri", "feed_url", "token_endpoint", "api_base"):
        if _origin(getattr(metadata, name)) != _origin(node_id):
            raise invalid(["url"], f"the node's {name} lies on another origin; refused")
    try:
        jwks = fetch_jwks(metadata.jwks_uri, settings.fetch_allow)
    except PeerError as exc:
        raise invalid(["url"], f"cannot read the node's keys: {exc}") from None
    if not public_keys(jwks):
        raise invalid(["url"], "the node publishes no usable ES256 (P-256) key")
    return metadata, jwks


def add_peer(session: Session, metadata: NodeMetadata, jwks: dict[str, Any]) -> Peer:
    node_id = normalize_node_id(metadata.node_id)
    existing = session.exec(select(Peer).where(Peer.node_id == node_id)).first()
    peer = existing or Peer(
        node_id=node_id,
        name=metadata.name,
        api_base=metadata.api_base,
        issuer=metadata.issuer,
        jwks_uri=metadata.jwks_uri,
        feed_url=metadata.feed_url,
        token_endpoint=metadata.token_endpoint,
    )
    peer.name = metadata.name
    peer.software_version = (metadata.software.get("version") or "")[:64] or None
    peer.api_base = metadata.api_base
    peer.jwks_uri = metadata.jwks_uri
    peer.feed_url = metadata.feed_url
    peer.token_endpoint = metadata.token_endpoint
    peer.publishers = [p.model_dump() for p in metadata.publishers]
    peer.jwks = jwks
    peer.jwks_fetched_at = utcnow()
    session.add(peer)
    session.flush()
    return peer


def list_peers(session: Session) -> list[Peer]:
    return list(session.exec(select(Peer).order_by(col(Peer.node_id))).all())


def get_peer(session: Session, node_id: str) -> Peer:
    peer = session.exec(select(Peer).where(Peer.node_id == normalize_node_id(node_id))).first()
    if peer is None:
        raise NotFound(f"{node_id} is not a peer of this node")
    return peer


def remove_peer(session: Session, peer: Peer) -> int:
    """Forget a peer and withdraw its mirrors; return how many mirrored items went."""
    active = session.exec(
        select(Partnership.id).where(
            Partnership.peer_node_id == peer.node_id,
            Partnership.status == PartnershipStatus.active,
        )
    ).first()
    if active is not None:
        raise Conflict("an active partnership with this peer exists; revoke it first")
    now = utcnow()
    removed = 0
    for model in MIRROR_MODELS:
        table = table_of(model)
        result = session.execute(
            sa.update(table)
            .where(table.c.origin == peer.node_id, table.c.deleted_at.is_(None))
            .values(deleted_at=now)
        )
        removed += rows_matched(result)
    session.delete(peer)
    session.flush()
    return removed


def refused_notices(session: Session) -> dict[str, int]:
    """Per peer, the notices it kept refusing until they were given up
    (``registry.federation.outbox``): something its operator and ours must look at."""
    rows = session.execute(
        sa.select(col(OutboxMessage.node_id), sa.func.count())
        .where(col(OutboxMessage.refused_at).is_not(None))
        .group_by(col(OutboxMessage.node_id))
    ).all()
    return {node_id: count for node_id, count in rows}  # noqa: C416 (rows, not pairs, to mypy)


def peer_status(peer: Peer, refused: int = 0) -> dict[str, Any]:
    lag = None
    if peer.last_success_at is not None:
        lag = round((utcnow() - peer.last_success_at).total_seconds(), 1)
    return {
        "node_id": peer.node_id,
        "name": peer.name,
        "software_version": peer.software_version,
        "api_base": peer.api_base,
        "jwks_uri": peer.jwks_uri,
        "feed_url": peer.feed_url,
        "publishers": [p.get("code") for p in peer.publishers],
        "key_thumbprints": thumbprints(peer.jwks),
        "cursor": peer.cursor,
        "feed_mode": peer.feed_mode,
        "items": peer.items,
        "remaining": peer.remaining,
        "last_attempt_at": peer.last_attempt_at,
        "last_success_at": peer.last_success_at,
        "last_error": peer.last_error,
        "last_error_at": peer.last_error_at,
        "lag_seconds": lag,
        "refused_notices": refused,
        "created_at": peer.created_at,
    }
