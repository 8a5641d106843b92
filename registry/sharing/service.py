"""The rules of partnerships and adoptions.

A partnership is asked for by a publisher of one node (``outgoing`` there) and
decided on the partner's node (``incoming``). Both nodes keep a record under the
same id; the decision travels back as a signed notice. Approval registers the
requesting node as an OAuth client (``private_key_jwt`` with its pinned JWKS) that may
read the feed with ``federation:read``; the feed then serves it the owner's
``partners`` items with an ``audience`` naming the partner publishers.

Adoptions of a mirrored app are sent to the app's origin, which is the authority on
who uses its apps and feeds them back out to every node.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.catalog import service as catalog
from registry.catalog.models import App, Publisher
from registry.db import Bind, session_scope, utcnow, uuid7
from registry.errors import Conflict, Forbidden, LumbungError, NotFound, invalid
from registry.oauth.keys import KeyStore
from registry.oauth.models import OAuthClient
from registry.outbox import enqueue
from registry.peers import Peer
from registry.principal import Principal
from registry.querying import PageOf, first_live, live, paginate
from registry.settings import Settings
from registry.sharing import delivery, lifecycle, schemas
from registry.sharing.models import (
    Adoption,
    AdoptionStatus,
    Direction,
    Partnership,
    PartnershipStatus,
)
from registry.sharing.visibility import (
    can_see,
    overdue_partnership_clause,
    partnerships_with,
    visible_clause,
)

PEER_SCOPE = "federation:read federation:write"
PARTNERSHIPS_PATH = "/federation/v1/partnerships"
ADOPTIONS_PATH = "/federation/v1/adoptions"

log = logging.getLogger(__name__)


def peer_client_id(node_id: str) -> str:
    """The OAuth client id a peer node gets on this node: derived from its node id, so
    a partnership approved again finds the same client."""
    return "node-" + hashlib.sha256(node_id.encode()).hexdigest()[:40]


# --- partnerships --------------------------------------------------------------------


def local_publisher(session: Session, code: str, loc: list[str | int]) -> Publisher:
    publisher = catalog.own_publisher(session, code)
    if publisher is None:
        raise invalid(loc, f"no publisher {code!r} on this node")
    return publisher


def get_peer(session: Session, node_id: str, loc: list[str | int] | None = None) -> Peer:
    peer = session.exec(select(Peer).where(Peer.node_id == node_id.rstrip("/"))).first()
    if peer is None:
        if loc is not None:
            raise invalid(loc, f"{node_id} is not a peer of this node; add it first")
        raise NotFound(f"{node_id} is not a peer of this node")
    return peer


def new_outgoing(
    session: Session, principal: Principal, request_in: schemas.PartnershipRequest
) -> tuple[Partnership, Peer, dict[str, Any]]:
    """Record a request of a local publisher; return it with the message to send."""
    publisher = local_publisher(session, request_in.publisher, ["body", "publisher"])
    catalog.ensure_owner(principal, publisher.id)
    peer = get_peer(session, request_in.peer, ["body", "peer"])
    known = {p.get("code") for p in peer.publishers}
    if known and request_in.partner not in known:
        raise invalid(
            ["body", "partner"], f"{peer.node_id} hosts no publisher {request_in.partner!r}"
        )
    if request_in.until is not None and request_in.until < date.today():
        raise invalid(["body", "until"], "must not be in the past")
    notice = schemas.PartnershipRequestNotice(
        id=uuid7(),
        publisher=publisher.code,
        publisher_name=publisher.name,
        partner=request_in.partner,
        reference=request_in.reference,
        until=request_in.until,
    )
    partner_name = next(
        (p.get("name") for p in peer.publishers if p.get("code") == request_in.partner), None
    )
    partnership = _record_request(
        session, notice, publisher, peer, Direction.outgoing, request_in.partner, partner_name
    )
    return partnership, peer, notice.model_dump(mode="json")


def receive_request(
    session: Session, peer: Peer, notice: schemas.PartnershipRequestNotice
) -> Partnership:
    """A peer's publisher asks one of ours; recorded as ``requested``."""
    existing = session.get(Partnership, notice.id)
    if existing is not None:
        if existing.peer_node_id != peer.node_id or existing.direction != Direction.incoming:
            raise Conflict("a partnership with this id already exists")
        return existing  # the same request sent again
    publisher = local_publisher(session, notice.partner, ["body", "partner"])
    return _record_request(
        session,
        notice,
        publisher,
        peer,
        Direction.incoming,
        notice.publisher,
        notice.publisher_name,
    )


def _record_request(
    session: Session,
    notice: schemas.PartnershipRequestNotice,
    publisher: Publisher,
    peer: Peer,
    direction: Direction,
    partner_code: str,
    partner_name: str | None,
) -> Partnership:
    """A request as each side records it: under the id its notice carries, with the
    other side's publisher as the partner, ``requested``."""
    partnership = Partnership(
        id=notice.id,
        publisher_id=publisher.id,
        peer_node_id=peer.node_id,
        partner_code=partner_code,
        partner_name=partner_name,
        direction=direction,
        reference=notice.reference,
        valid_until=notice.until,
        status=PartnershipStatus.requested,
    )
    session.add(partnership)
    session.flush()
    return partnership


def get_partnership(
    session: Session, principal: Principal, partnership_id: uuid.UUID
) -> Partnership:
    partnership = first_live(session, Partnership, Partnership.id == partnership_id)
    if partnership is None or not principal.acts_for(partnership.publisher_id):
        raise NotFound(f"no partnership {partnership_id}")
    return partnership


def list_partnerships(
    session: Session,
    principal: Principal,
    *,
    status: PartnershipStatus | None = None,
    limit: int,
    cursor: str | None,
) -> PageOf[Partnership]:
    stmt = select(Partnership).where(live(Partnership))
    if not principal.is_admin:
        stmt = stmt.where(Partnership.publisher_id == principal.publisher_id)
    if status is not None:
        stmt = stmt.where(Partnership.status == status)
    return paginate(session, stmt, Partnership.id, limit, cursor)


def decide(
    session: Session, principal: Principal, partnership: Partnership, action: lifecycle.Action
) -> Partnership:
    """Approve, reject, withdraw or revoke (see ``lifecycle``); the other side hears of
    it by a signed notice."""
    catalog.ensure_owner(principal, partnership.publisher_id)
    target = lifecycle.ACTIONS[action]
    move(session, partnership, target, lifecycle.side_of(partnership.direction, local=True))
    set_status(session, partnership, target)
    return partnership


def move(
    session: Session,
    partnership: Partnership,
    target: PartnershipStatus,
    side: lifecycle.Side,
    *,
    by: str = "this node",
) -> None:
    """Check a change of status against the table of ``lifecycle``; a refused one is
    logged (a peer trying its luck is something an operator wants to see) and raised."""
    try:
        lifecycle.check(partnership.status, target, side)
    except (Forbidden, Conflict) as exc:
        log.warning(
            "partnership change refused: peer=%s partnership=%s from=%s to=%s side=%s by=%s: %s",
            partnership.peer_node_id,
            partnership.id,
            partnership.status.value,
            target.value,
            side.value,
            by,
            exc.detail,
        )
        raise


def set_status(session: Session, partnership: Partnership, status: PartnershipStatus) -> None:
    """Apply a checked change made on this node and queue the notice that tells the
    other node."""
    partnership.status = status
    partnership.decided_at = utcnow()
    session.add(partnership)
    session.flush()
    sync_peer_client(session, partnership.peer_node_id)
    client_id = peer_client_id(partnership.peer_node_id)
    enqueue(
        session,
        node_id=partnership.peer_node_id,
        path=f"{PARTNERSHIPS_PATH}/{partnership.id}/status",
        payload={
            "status": status.value,
            "client_id": client_id if status == PartnershipStatus.active else None,
        },
        dedupe_key=f"partnership:{partnership.id}",
    )


def receive_status(
    session: Session, peer: Peer, partnership_id: uuid.UUID, notice: schemas.PartnershipStatusNotice
) -> Partnership:
    """The other side decided; check its move against the table, as a move of *its*
    side, and mirror it in our record. Only the partnership's own peer may tell."""
    partnership = first_live(session, Partnership, Partnership.id == partnership_id)
    if partnership is None or partnership.peer_node_id != peer.node_id:
        if partnership is not None:
            log.warning(
                "partnership change refused: peer=%s partnership=%s from=%s to=%s: "
                "the partnership is held with %s",
                peer.node_id,
                partnership.id,
                partnership.status.value,
                notice.status.value,
                partnership.peer_node_id,
            )
        raise NotFound(f"no partnership {partnership_id} with {peer.node_id}")
    side = lifecycle.side_of(partnership.direction, local=False)
    crossed = lifecycle.CROSSED.get((partnership.status, notice.status, side))
    target = notice.status if crossed is None else crossed
    if crossed is not None:
        log.info(
            "partnership %s with %s: %s crossed our %s; now %s",
            partnership.id,
            peer.node_id,
            notice.status.value,
            partnership.status.value,
            target.value,
        )
    # The same notice again (a delivery retried after its answer got lost) changes
    # nothing; it is no error as long as that side could have made the move.
    repeated = partnership.status == target and (
        crossed is not None or lifecycle.may_reach(side, target)
    )
    if not repeated:
        move(session, partnership, target, side, by=peer.node_id)
        partnership.status = target
        partnership.decided_at = utcnow()
        session.add(partnership)
    if notice.client_id is not None and partnership.status == PartnershipStatus.active:
        # The receiver's approval names the OAuth client it registered for this node
        # (only the receiver can have approved: ``move`` saw to that).
        peer.client_id = notice.client_id
        session.add(peer)
    session.flush()
    sync_peer_client(session, peer.node_id)
    return partnership


def sync_peer_client(session: Session, node_id: str) -> None:
    """Let a peer node fetch tokens exactly while one of its publishers holds a
    partnership in force with one of ours, whichever side asked for it: what the token
    then reads is decided per publisher by ``registry.sharing.visibility``."""
    active = partnerships_with(session, node_id) or None
    client_id = peer_client_id(node_id)
    client = session.exec(select(OAuthClient).where(OAuthClient.client_id == client_id)).first()
    if active is None:
        if client is not None and client.revoked_at is None:
            client.revoked_at = utcnow()
            session.add(client)
        session.flush()
        return
    peer = get_peer(session, node_id)
    if client is None:
        client = OAuthClient(
            client_id=client_id,
            name=f"Peer node {peer.name}"[:200],
            scope=PEER_SCOPE,
            auth_method="private_key_jwt",
            jwks_uri=peer.jwks_uri,
            node_id=node_id,
        )
    client.revoked_at = None
    client.jwks_uri = peer.jwks_uri
    session.add(client)
    session.flush()


def expire_due(session: Session) -> int:
    """Mark partnerships past their end date ``expired``; return how many."""
    due = session.exec(select(Partnership).where(overdue_partnership_clause())).all()
    for partnership in due:
        side = lifecycle.side_of(partnership.direction, local=True)
        move(session, partnership, PartnershipStatus.expired, side)
        partnership.status = PartnershipStatus.expired
        partnership.decided_at = utcnow()
        session.add(partnership)
    session.flush()
    for node_id in {p.peer_node_id for p in due}:
        sync_peer_client(session, node_id)
    return len(due)


def expire_overdue(bind: Bind) -> int:
    """Expire the partnerships past their end date, in a unit of work of its own, and
    return how many; when none is due (nearly always) it only reads. Run by the
    background worker. Reads do not wait for it: the visibility rule already counts a
    partnership past its end date as ended, and the change feed sends the tombstones
    it owes (``registry.federation.feed``)."""
    with session_scope(bind, write=False) as session:
        if not any_due(session):
            return 0
    with session_scope(bind) as session:
        return expire_due(session)


def any_due(session: Session) -> bool:
    return (
        session.exec(select(Partnership.id).where(overdue_partnership_clause())).first() is not None
    )


# --- adoptions -----------------------------------------------------------------------


def _visible_apps(principal: Principal | None) -> Any:
    return select(App.id).where(live(App), visible_clause(App, principal))


def list_adoptions(
    session: Session,
    principal: Principal | None,
    *,
    app_id: uuid.UUID | None = None,
    publisher: str | None = None,
    status: AdoptionStatus | None = None,
    limit: int,
    cursor: str | None,
) -> PageOf[Adoption]:
    """Adoptions of apps the caller may see; an adoption reported by this node's own
    publisher and also fed back by the app's origin is listed once (the local row)."""
    stmt = select(Adoption).where(
        live(Adoption), col(Adoption.app_id).in_(_visible_apps(principal))
    )
    if app_id is not None:
        stmt = stmt.where(Adoption.app_id == app_id)
    if publisher is not None:
        stmt = stmt.where(_adopter_is(session, publisher))
    if status is not None:
        stmt = stmt.where(Adoption.status == status)
    return paginate(session, stmt, Adoption.id, limit, cursor)


def _adopter_is(session: Session, ref: str) -> Any:
    """Adoptions by one publisher, named as in every ``publisher`` filter: ``code@node-id``
    for another node's publisher; a bare code for this node's own publisher, or (when
    this node hosts none by that code) any node's publisher with that code."""
    code, node_id = catalog.parse_publisher_ref(ref)
    if node_id is not None:
        return sa.and_(col(Adoption.adopter_code) == code, col(Adoption.adopter_node) == node_id)
    local = catalog.own_publisher(session, code)
    if local is not None:
        return Adoption.publisher_id == local.id
    return Adoption.adopter_code == code


def unshared_own_adoptions(session: Session, app_id: uuid.UUID | None = None) -> list[Adoption]:
    """This node's publishers' adoptions of apps they no longer see: mirrors withdrawn
    when a partnership ended or the origin made the app private. The adoption is still
    the publisher's own record (the app is still deployed), so operators are shown it;
    :func:`list_adoptions` leaves it out because the app is no longer visible."""
    # Withdrawn mirrors are tombstoned, or gone with their peer: not live either way.
    stmt = select(Adoption).where(
        live(Adoption),
        col(Adoption.publisher_id).is_not(None),
        col(Adoption.app_id).not_in(select(App.id).where(live(App))),
    )
    if app_id is not None:
        stmt = stmt.where(Adoption.app_id == app_id)
    return list(session.exec(stmt.order_by(col(Adoption.id))).all())


def get_adoption(session: Session, principal: Principal | None, adoption_id: uuid.UUID) -> Adoption:
    adoption = first_live(session, Adoption, Adoption.id == adoption_id)
    if adoption is None:
        raise NotFound(f"no adoption {adoption_id}")
    app = session.get(App, adoption.app_id)
    if app is None or app.deleted_at is not None or not can_see(app, principal, session):
        raise NotFound(f"no adoption {adoption_id}")
    return adoption


def create_adoption(
    session: Session, principal: Principal, adoption_in: schemas.AdoptionCreate
) -> Adoption:
    try:
        app = catalog.get_app(session, principal, adoption_in.app_id)
    except NotFound:
        raise invalid(["body", "app_id"], f"no app {adoption_in.app_id} that you may see") from None
    publisher = catalog.publisher_for_create(session, principal, adoption_in.publisher)
    taken = first_live(
        session, Adoption, Adoption.app_id == app.id, Adoption.publisher_id == publisher.id
    )
    if taken is not None:
        raise Conflict(f"{publisher.code} already records an adoption of this app ({taken.id})")
    adoption = Adoption(
        app_id=app.id,
        publisher_id=publisher.id,
        adopter_code=publisher.code,
        adopter_name=publisher.name,
        **adoption_in.model_dump(exclude={"app_id", "publisher"}, exclude_none=True),
    )
    session.add(adoption)
    session.flush()
    _announce(session, app, adoption)
    return adoption


def update_adoption(
    session: Session, principal: Principal, adoption: Adoption, adoption_in: schemas.AdoptionUpdate
) -> Adoption:
    _ensure_own(principal, adoption)
    for name, value in adoption_in.model_dump(exclude_unset=True).items():
        if value is None and name == "status":
            raise invalid(["body", "status"], "may not be null")
        setattr(adoption, name, value)
    if adoption.started_on and adoption.ended_on and adoption.started_on > adoption.ended_on:
        raise invalid(["body", "ended_on"], "must not be before started_on")
    session.add(adoption)
    session.flush()
    app = session.get(App, adoption.app_id)
    if app is not None:
        _announce(session, app, adoption)
    return adoption


def delete_adoption(session: Session, principal: Principal, adoption: Adoption) -> None:
    _ensure_own(principal, adoption)
    adoption.deleted_at = utcnow()
    session.add(adoption)
    session.flush()
    app = session.get(App, adoption.app_id)
    if app is not None:
        _announce(session, app, adoption)


def _ensure_own(principal: Principal, adoption: Adoption) -> None:
    if adoption.origin is not None or adoption.publisher_id is None:
        raise Forbidden(
            "this adoption was reported by another node's publisher; only it can change it"
        )
    catalog.ensure_owner(principal, adoption.publisher_id)


def _announce(session: Session, app: App, adoption: Adoption) -> None:
    """Queue the adoption for the app's origin, when the app is a mirror."""
    if app.origin is None:
        return
    notice = schemas.AdoptionNotice(
        id=adoption.id,
        app_id=app.id,
        adopter_code=adoption.adopter_code,
        adopter_name=adoption.adopter_name,
        version=adoption.version,
        status=adoption.status,
        deployment_url=adoption.deployment_url,
        started_on=adoption.started_on,
        ended_on=adoption.ended_on,
        deleted=adoption.deleted_at is not None,
    )
    enqueue(
        session,
        node_id=app.origin,
        path=ADOPTIONS_PATH,
        payload=notice.model_dump(mode="json"),
        dedupe_key=f"adoption:{adoption.id}",
    )


def receive_adoption(session: Session, peer: Peer, notice: schemas.AdoptionNotice) -> Adoption:
    """A peer's publisher reports using one of our apps. A node speaks for its own
    publishers only: an adoption naming a publisher it does not host is refused."""
    if not hosts_publisher(session, peer, notice.adopter_code):
        log.warning(
            "adoption refused: peer=%s adoption=%s names publisher %r, which it does not host",
            peer.node_id,
            notice.id,
            notice.adopter_code,
        )
        raise Forbidden(
            f"{peer.node_id} hosts no publisher {notice.adopter_code!r}; "
            "a node reports the adoptions of its own publishers only"
        )
    node = Principal(
        client_id=peer_client_id(peer.node_id), scopes=frozenset(), node_id=peer.node_id
    )
    app = first_live(session, App, App.id == notice.app_id, col(App.origin).is_(None))
    if app is None or not can_see(app, node, session):
        raise invalid(["body", "app_id"], f"no app {notice.app_id} that your node may see")
    adoption = session.get(Adoption, notice.id)
    fields = notice.model_dump(exclude={"id", "deleted"})
    if adoption is None:
        if notice.deleted:
            raise NotFound(f"no adoption {notice.id}")
        adoption = Adoption(id=notice.id, adopter_node=peer.node_id, **fields)
    elif adoption.adopter_node != peer.node_id or adoption.origin is not None:
        raise Forbidden("this adoption was reported by another node")
    else:
        for name, value in fields.items():
            setattr(adoption, name, value)
    adoption.deleted_at = utcnow() if notice.deleted else None
    session.add(adoption)
    session.flush()
    return adoption


def hosts_publisher(session: Session, peer: Peer, code: str) -> bool:
    """Whether the peer's node hosts a publisher ``code``, as this node knows it: from
    the node's metadata (read when it was added as a peer) or its mirrored publishers
    (kept up to date by every sync)."""
    if any(p.get("code") == code for p in peer.publishers):
        return True
    mirrored = first_live(
        session, Publisher, Publisher.code == code, Publisher.origin == peer.node_id
    )
    return mirrored is not None


class PeerUnavailable(LumbungError):
    status, code, title = 502, "peer-unavailable", "The peer node did not accept the request"


def request_partnership(
    bind: Bind,
    settings: Settings,
    keys: KeyStore,
    principal: Principal,
    request_in: schemas.PartnershipRequest,
) -> uuid.UUID:
    """Record the request and deliver it, signed, to the partner's node; return its id.

    Three units of work, so that no transaction is open while the partner's node takes
    its time to answer (DESIGN §7): the request is recorded and committed, then sent;
    when the partner's node does not take it, the record is removed again and
    ``PeerUnavailable`` raised. The caller must hold no transaction of its own.
    """
    with session_scope(bind) as session:
        partnership, peer, message = new_outgoing(session, principal, request_in)
        partnership_id, node_id = partnership.id, peer.node_id
    try:
        delivery.send(settings, keys, node_id=node_id, path=PARTNERSHIPS_PATH, payload=message)
    except delivery.NotDelivered as exc:
        with session_scope(bind) as session:
            session.execute(sa.delete(Partnership).where(col(Partnership.id) == partnership_id))
        raise PeerUnavailable(str(exc)) from exc
    return partnership_id
