"""The partnership state machine (DESIGN §8), tried for every (side, from, to): each
change made on this node (service, API) and each told by the peer in a status notice.

The expected outcomes are written out here, not read from ``registry.sharing.lifecycle``,
so that a change to the table shows up as a failing test."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
from sqlmodel import Session, select

from registry.errors import Conflict, Forbidden, NotFound
from registry.oauth.models import OAuthClient
from registry.peers import Peer
from registry.sharing import schemas, service
from registry.sharing.models import Direction, Partnership, PartnershipStatus
from tests.conftest import ADMIN

PEER = "https://pariaman.example"
OTHER_PEER = "https://surabaya.example"
STATUSES = [s.value for s in PartnershipStatus]

# Who may move a partnership from where to where: (from, to) -> sides.
ALLOWED = {
    ("requested", "active"): {"receiver"},
    ("requested", "rejected"): {"receiver"},
    ("requested", "withdrawn"): {"requester"},
    ("active", "revoked"): {"requester", "receiver"},
    ("active", "expired"): {"requester", "receiver"},
}
FINAL = {"rejected", "withdrawn", "revoked", "expired"}
VERBS = {"approve": "active", "reject": "rejected", "withdraw": "withdrawn", "revoke": "revoked"}


def expected(side: str, current: str, target: str) -> int:
    """The answer a move deserves: 200, 403 (the other side's move) or 409."""
    sides = ALLOWED.get((current, target))
    if sides is None:
        return 409
    return 200 if side in sides else 403


# A withdrawal and an approval that crossed on the way: (the side that tells, this
# node's status, the status told) → this node's status after. The partnership ends on
# both nodes, since the requester wanted out.
CROSSED = {
    ("requester", "active", "withdrawn"): "revoked",
    ("receiver", "withdrawn", "active"): "withdrawn",
}


def expected_notice(sender_side: str, current: str, target: str) -> int:
    """The answer to the other side's notice: as ``expected``, except that the same
    notice delivered again (after its answer got lost) is accepted and changes nothing,
    as long as the sender may make that move at all, and so is a move that crossed."""
    may_reach = set().union(*(sides for (_, to), sides in ALLOWED.items() if to == target))
    if current == target and sender_side in may_reach:
        return 200
    if (sender_side, current, target) in CROSSED:
        return 200
    return expected(sender_side, current, target)


def status_after_notice(sender_side: str, current: str, target: str) -> str:
    if expected_notice(sender_side, current, target) != 200:
        return current
    return CROSSED.get((sender_side, current, target), target)


def direction_of(local_side: str) -> Direction:
    # This node's record is outgoing when this node's publisher asked.
    return Direction.outgoing if local_side == "requester" else Direction.incoming


def other(side: str) -> str:
    return "receiver" if side == "requester" else "requester"


@pytest.fixture
def peers(session: Session) -> tuple[Peer, Peer]:
    made = []
    for node_id in (PEER, OTHER_PEER):
        peer = Peer(
            node_id=node_id,
            name=node_id,
            api_base=f"{node_id}/api/v1",
            issuer=node_id,
            jwks_uri=f"{node_id}/.well-known/jwks.json",
            feed_url=f"{node_id}/federation/v1/changes",
            token_endpoint=f"{node_id}/oauth/token",
        )
        session.add(peer)
        made.append(peer)
    session.commit()
    return made[0], made[1]


@pytest.fixture
def partnership_in(session, make_publisher, peers):
    publisher = make_publisher("kab-banyuwangi")

    def make(local_side: str, status: str, *, peer_node_id: str = PEER) -> Partnership:
        partnership = Partnership(
            publisher_id=publisher.id,
            peer_node_id=peer_node_id,
            partner_code="kota-pariaman",
            direction=direction_of(local_side),
            status=PartnershipStatus(status),
            valid_until=date.today() - timedelta(days=1) if status == "active" else None,
        )
        session.add(partnership)
        session.commit()
        return partnership

    return make


def _status(session: Session, partnership: Partnership) -> str:
    session.expire(partnership)
    return session.get(Partnership, partnership.id).status.value  # type: ignore[union-attr]


def _outcome(call) -> int:
    try:
        call()
    except Forbidden:
        return 403
    except Conflict:
        return 409
    return 200


@pytest.mark.parametrize("side", ["requester", "receiver"])
@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("verb", [*VERBS, "expire"])
def test_local_change_follows_the_table(session, partnership_in, caplog, side, current, verb):
    target = VERBS.get(verb, "expired")
    partnership = partnership_in(side, current)
    with caplog.at_level(logging.WARNING, logger="registry.sharing.service"):
        if verb == "expire":
            # The node's own clock: a due partnership expires; anything else is left.
            code = _outcome(lambda: service.expire_due(session))
        else:
            code = _outcome(lambda: service.decide(session, ADMIN, partnership, verb))
    want = expected(side, current, target)
    if verb == "expire":
        # Only active partnerships fall due; expiry is never refused, only not taken.
        assert code == 200
        assert _status(session, partnership) == ("expired" if current == "active" else current)
        return
    assert code == want, f"{side} {verb} on {current}"
    assert _status(session, partnership) == (target if want == 200 else current)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    if want == 200:
        assert refusals == []
    else:
        (record,) = refusals
        assert record.levelno == logging.WARNING
        message = record.getMessage()
        for part in (PEER, str(partnership.id), f"from={current}", f"to={target}"):
            assert part in message


@pytest.mark.parametrize("sender_side", ["requester", "receiver"])
@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_notice_from_the_peer_follows_the_table(
    session, peers, partnership_in, caplog, sender_side, current, target
):
    # The peer's side is the other one of this node's record.
    partnership = partnership_in(other(sender_side), current)
    notice = schemas.PartnershipStatusNotice(status=target, client_id="node-abc")
    with caplog.at_level(logging.WARNING, logger="registry.sharing.service"):
        code = _outcome(lambda: service.receive_status(session, peers[0], partnership.id, notice))
    want = expected_notice(sender_side, current, target)
    assert code == want, f"{sender_side} says {target} on {current}"
    after = status_after_notice(sender_side, current, target)
    assert _status(session, partnership) == after
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == (0 if want == 200 else 1)
    for record in refusals:
        message = record.getMessage()
        for part in (PEER, str(partnership.id), f"from={current}", f"to={target}"):
            assert part in message
    # Only the receiver's approval names the client this node is to use on the peer.
    session.refresh(peers[0])
    approved = want == 200 and after == target == "active"
    assert peers[0].client_id == ("node-abc" if approved else None)


def test_self_approval_by_the_requester_registers_no_client(session, peers, partnership_in):
    partnership = partnership_in("receiver", "requested")
    notice = schemas.PartnershipStatusNotice(status="active", client_id="node-abc")
    with pytest.raises(Forbidden):
        service.receive_status(session, peers[0], partnership.id, notice)
    clients = session.exec(select(OAuthClient).where(OAuthClient.node_id == PEER)).all()
    assert [c for c in clients if c.revoked_at is None] == []


def test_a_revoked_partnership_cannot_be_revived_by_either_side(session, peers, partnership_in):
    for local_side in ("requester", "receiver"):
        partnership = partnership_in(local_side, "revoked")
        for status in ("active", "requested"):
            notice = schemas.PartnershipStatusNotice(status=status)
            with pytest.raises(Conflict, match="final"):
                service.receive_status(session, peers[0], partnership.id, notice)
        with pytest.raises(Conflict, match="final"):
            service.decide(session, ADMIN, partnership, "approve")
        assert _status(session, partnership) == "revoked"


def test_a_notice_from_another_peer_is_refused_and_logged(session, peers, partnership_in, caplog):
    # Held with Pariaman; Surabaya, a peer too, tries to approve and to revoke it.
    for current, target in (("requested", "active"), ("active", "revoked")):
        partnership = partnership_in("requester", current)
        notice = schemas.PartnershipStatusNotice(status=target)
        with (
            caplog.at_level(logging.WARNING, logger="registry.sharing.service"),
            pytest.raises(NotFound),
        ):
            service.receive_status(session, peers[1], partnership.id, notice)
        assert _status(session, partnership) == current
        message = caplog.records[-1].getMessage()
        assert OTHER_PEER in message
        assert str(partnership.id) in message
    # The control: the partnership's own peer may.
    partnership = partnership_in("requester", "requested")
    notice = schemas.PartnershipStatusNotice(status="active")
    service.receive_status(session, peers[0], partnership.id, notice)
    assert _status(session, partnership) == "active"


async def test_api_answers_refused_moves_with_problem_json(
    client, session, partnership_in, token_for
):
    admin = await token_for(None, "admin")
    cases = [
        ("requester", "requested", "approve", 403),
        ("receiver", "requested", "withdraw", 403),
        ("receiver", "revoked", "approve", 409),
        ("requester", "withdrawn", "withdraw", 409),
        ("requester", "requested", "withdraw", 200),
        ("receiver", "active", "revoke", 200),
    ]
    for side, current, verb, status in cases:
        partnership = partnership_in(side, current)
        response = await client.post(f"/api/v1/partnerships/{partnership.id}/{verb}", headers=admin)
        assert response.status_code == status, (side, current, verb, response.text)
        if status != 200:
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["status"] == status
        else:
            assert response.json()["status"] == VERBS[verb]
