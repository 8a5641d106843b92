"""A hostile requester, as an attacker would be: a second real node on the same
machine, holding its own signing key, sends correctly signed status notices that the
partnership's state machine does not allow. Each is refused, answered with
problem+json, logged by the receiving node, and changes nothing."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator

import httpx2
import pytest
import sqlalchemy as sa
from joserfc import jwt
from sqlmodel import Session, select

from registry.catalog.models import Publisher
from registry.sharing.models import Partnership, PartnershipStatus
from tests.nodes import Node, signed_post, signing_key, start_nodes, stop_nodes
from tests.sharing.test_lifecycle import (
    STATUSES,
    direction_of,
    expected_notice,
    other,
    status_after_notice,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Node, Node]]:
    """Banyuwangi, Pariaman and Surabaya, each a peer of the others."""
    nodes = start_nodes(tmp_path_factory.mktemp("attack"), ["banyuwangi", "pariaman", "surabaya"])
    a, b, c = nodes
    try:
        a.cli("publisher", "add", "kab-banyuwangi", "--name", "Kabupaten Banyuwangi",
              "--kind", "regency")  # fmt: skip
        b.cli("publisher", "add", "kota-pariaman", "--name", "Kota Pariaman")
        c.cli("publisher", "add", "kota-surabaya", "--name", "Kota Surabaya")
        for node in nodes:
            for other_node in nodes:
                if other_node is not node:
                    node.cli("peer", "add", other_node.url, "--yes")
        yield a, b, c
    finally:
        stop_nodes(nodes)


@pytest.fixture
def pair(trio: tuple[Node, Node, Node]) -> tuple[Node, Node]:
    return trio[0], trio[1]


def _status_on(node: Node, partnership_id: str) -> str:
    rows = json.loads(node.cli("partnership", "list", "--json").stdout)
    return str({r["id"]: r["status"] for r in rows}[partnership_id])


def _token_status(asker: Node, grantor: Node) -> int:
    """What the grantor's token endpoint answers the asker's node, signing as itself."""
    client_id = "node-" + hashlib.sha256(asker.url.encode()).hexdigest()[:40]
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": grantor.url, "iat": now,
              "exp": now + 60, "jti": uuid.uuid4().hex}  # fmt: skip
    key = signing_key(asker)
    assertion = jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"])
    return httpx2.post(
        f"{grantor.url}/oauth/token",
        data={"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
              "client_assertion": assertion},
    ).status_code  # fmt: skip


def _refusal_logged(node: Node, peer: Node, partnership_id: str, current: str, target: str) -> bool:
    log = (node.data_dir / "serve.log").read_text()
    return f"peer={peer.url} partnership={partnership_id} from={current} to={target}" in log


def test_self_approval_and_revival_are_refused_and_logged(pair: tuple[Node, Node]) -> None:
    a, b = pair
    partnership_id = b.cli(
        "partnership", "request", "--publisher", "kota-pariaman", "--peer", a.url,
        "--partner", "kab-banyuwangi",
    ).stdout.strip()  # fmt: skip
    path = f"/federation/v1/partnerships/{partnership_id}/status"

    # Pariaman, the requester, approves its own request on Banyuwangi's node.
    response = signed_post(b, a, path, {"status": "active", "client_id": None})
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert _status_on(a, partnership_id) == "requested"
    assert _token_status(b, a) == 401
    assert _refusal_logged(a, b, partnership_id, "requested", "active")
    # Nor can it approve on its own node, where its record says it asked.
    refused = httpx2.post(
        f"{b.url}/api/v1/partnerships/{partnership_id}/approve", headers=b.admin_headers()
    )
    assert refused.status_code == 403, refused.text

    # Banyuwangi approves, then revokes; Pariaman tries to bring it back.
    a.cli("partnership", "approve", partnership_id)
    assert _status_on(b, partnership_id) == "active"
    assert _token_status(b, a) == 200
    a.cli("partnership", "revoke", partnership_id)
    assert _status_on(b, partnership_id) == "revoked"
    for revival in ("active", "requested"):
        response = signed_post(b, a, path, {"status": revival, "client_id": None})
        assert response.status_code == 409, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert _refusal_logged(a, b, partnership_id, "revoked", revival)
    assert _status_on(a, partnership_id) == "revoked"
    assert _token_status(b, a) == 401


def test_a_third_node_cannot_change_a_partnership_it_is_not_party_to(
    trio: tuple[Node, Node, Node],
) -> None:
    a, b, c = trio
    partnership_id = b.cli(
        "partnership", "request", "--publisher", "kota-pariaman", "--peer", a.url,
        "--partner", "kab-banyuwangi",
    ).stdout.strip()  # fmt: skip
    path = f"/federation/v1/partnerships/{partnership_id}/status"
    # Surabaya, a peer of both, signs with its own key: as the requester, then as the
    # receiver, on each side of the partnership.
    for target, receiver in (("withdrawn", a), ("active", b)):
        response = signed_post(c, receiver, path, {"status": target})
        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert _refusal_logged(receiver, c, partnership_id, "requested", target)
    assert _status_on(a, partnership_id) == "requested"
    assert _status_on(b, partnership_id) == "requested"
    assert _token_status(c, a) == 401

    a.cli("partnership", "approve", partnership_id)
    for receiver in (a, b):
        response = signed_post(c, receiver, path, {"status": "revoked"})
        assert response.status_code == 404, response.text
        assert _refusal_logged(receiver, c, partnership_id, "active", "revoked")
        assert _status_on(receiver, partnership_id) == "active"
    # The control: the partnership's own peer may revoke it.
    assert signed_post(b, a, path, {"status": "revoked"}).status_code == 200
    assert _status_on(a, partnership_id) == "revoked"


def test_the_requester_withdraws_and_the_receiver_can_no_longer_approve(
    pair: tuple[Node, Node],
) -> None:
    a, b = pair
    partnership_id = b.cli(
        "partnership", "request", "--publisher", "kota-pariaman", "--peer", a.url,
        "--partner", "kab-banyuwangi",
    ).stdout.strip()  # fmt: skip
    # Only the requester withdraws: Banyuwangi's CLI refuses, Pariaman's does it.
    refused = a.cli("partnership", "withdraw", partnership_id, check=False)
    assert refused.returncode != 0
    assert "requester" in refused.stdout + refused.stderr
    done = b.cli("partnership", "withdraw", partnership_id)
    assert "withdrawn" in done.stdout
    assert _status_on(a, partnership_id) == "withdrawn"
    # Final: approving it now is refused, and nothing reaches Pariaman.
    late = a.cli("partnership", "approve", partnership_id, check=False)
    assert late.returncode != 0
    assert "final" in late.stdout + late.stderr
    assert _status_on(b, partnership_id) == "withdrawn"
    assert _token_status(b, a) == 401


def test_a_withdrawal_that_crossed_an_approval_ends_the_partnership_on_both_nodes(
    pair: tuple[Node, Node],
) -> None:
    a, b = pair
    partnership_id = b.cli(
        "partnership", "request", "--publisher", "kota-pariaman", "--peer", a.url,
        "--partner", "kab-banyuwangi",
    ).stdout.strip()  # fmt: skip
    a.cli("partnership", "approve", partnership_id)
    assert _status_on(b, partnership_id) == "active"
    assert _token_status(b, a) == 200
    # Pariaman had withdrawn before Banyuwangi's approval reached it: its record says
    # so, and its withdrawal is on the way to Banyuwangi, which has approved.
    with b.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE partnerships SET status = 'withdrawn' WHERE id = :id"),
            {"id": uuid.UUID(partnership_id).hex if b.database_url is None else partnership_id},
        )
    path = f"/federation/v1/partnerships/{partnership_id}/status"
    told = signed_post(b, a, path, {"status": "withdrawn"})
    assert told.status_code == 200, told.text
    again = signed_post(a, b, path, {"status": "active", "client_id": None})
    assert again.status_code == 200, again.text
    # Ended on both: Banyuwangi revoked it (the requester wanted out), Pariaman stays
    # withdrawn, and Pariaman's node no longer gets a token from Banyuwangi's.
    assert _status_on(a, partnership_id) == "revoked"
    assert _status_on(b, partnership_id) == "withdrawn"
    assert _token_status(b, a) == 401


# Last in the module on purpose: it leaves partnerships active between Banyuwangi and
# Pariaman (and so Pariaman's node a client on Banyuwangi's), which the tests above,
# sharing the same nodes, must not start from.
def test_every_notice_over_the_wire_follows_the_table(pair: tuple[Node, Node]) -> None:
    a, b = pair
    with Session(a.engine) as session:
        publisher_id = session.exec(
            select(Publisher.id).where(Publisher.code == "kab-banyuwangi")
        ).one()
    wrong = []
    for sender_side in ("requester", "receiver"):
        for current in STATUSES:
            for target in STATUSES:
                # A fresh partnership held by Banyuwangi with Pariaman, in ``current``.
                with Session(a.engine) as session:
                    row = Partnership(
                        publisher_id=publisher_id,
                        peer_node_id=b.url,
                        partner_code="kota-pariaman",
                        direction=direction_of(other(sender_side)),
                        status=PartnershipStatus(current),
                    )
                    session.add(row)
                    session.commit()
                    partnership_id = str(row.id)
                want = expected_notice(sender_side, current, target)
                path = f"/federation/v1/partnerships/{partnership_id}/status"
                response = signed_post(b, a, path, {"status": target})
                with a.engine.connect() as connection:
                    now = connection.execute(
                        sa.text("SELECT status FROM partnerships WHERE id = :id"),
                        {"id": row.id.hex if a.database_url is None else row.id},
                    ).scalar_one()
                should_be = status_after_notice(sender_side, current, target)
                if response.status_code != want or now != should_be:
                    wrong.append((sender_side, current, target, response.status_code, now))
    assert wrong == []
