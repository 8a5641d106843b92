"""The visibility rule: its SQL clause and its in-memory check always agree, and each
publisher's own partnerships decide what a reader sees of its items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from registry.catalog.models import App, Dataset, Publisher, PublisherKind, Visibility
from registry.db import utcnow
from registry.principal import Principal
from registry.sharing.models import Direction, Partnership, PartnershipStatus
from registry.sharing.visibility import (
    Viewer,
    active_partnership_clause,
    can_see,
    in_force,
    viewer,
    visible_clause,
)

NODES = ["https://n1.example", "https://n2.example"]
CODES = ["kota-a", "kota-b"]
LOCAL = 2  # local publishers, by index
MIRRORED = 2  # publishers mirrored from NODES[0] and NODES[1]
DATES = [None, -1, 0, 1]  # valid_until relative to today

partnerships_st = st.lists(
    st.tuples(
        st.integers(0, LOCAL - 1),
        st.integers(0, len(NODES) - 1),
        st.sampled_from(CODES),
        # Weighted towards partnerships in force, where the interesting cases are.
        st.sampled_from([PartnershipStatus.active] * 4 + list(PartnershipStatus)),
        st.sampled_from(DATES),
        st.sampled_from([False, False, True]),  # soft-deleted
        st.sampled_from(list(Direction)),
    ),
    max_size=6,
)
# An audience: None, or a list drawn from the local publishers' ids (by index) and
# strings that only look like one.
audience_st = st.one_of(
    st.none(),
    st.lists(
        st.one_of(
            st.integers(0, LOCAL - 1),
            st.sampled_from(["", "x", '"', 'a", "b', "00000000-0000-0000-0000-000000000000"]),
        ),
        max_size=3,
    ),
)
items_st = st.lists(
    st.tuples(
        st.sampled_from(list(Visibility)),
        st.sampled_from([None, None, *range(MIRRORED)]),  # origin: None or a peer
        st.integers(0, LOCAL - 1),  # owner, when local
        audience_st,
    ),
    min_size=1,
    max_size=8,
)


@dataclass
class World:
    local: list[Publisher]
    mirrored: list[Publisher]


@pytest.fixture
def world(session: Session) -> World:
    local = [
        Publisher(code=f"pub-{n}", name=f"Pub {n}", kind=PublisherKind.city) for n in range(LOCAL)
    ]
    # Mirrored publishers carry the codes partnerships name, so that some of the drawn
    # partnerships join a local publisher to one of them.
    mirrored = [
        Publisher(code=CODES[n], name=f"Peer {n}", kind=PublisherKind.city, origin=NODES[n])
        for n in range(MIRRORED)
    ]
    session.add_all(local + mirrored)
    session.flush()
    return World(local, mirrored)


def _principals(world: World) -> list[Principal | None]:
    """Every kind of reader: anonymous, the admin, each local publisher's client, each
    peer node, and clients that name both a publisher and a node."""
    readers: list[Principal | None] = [
        None,
        Principal(client_id="admin", scopes=frozenset({"admin"})),
    ]
    for publisher in [None, *world.local]:
        for node in [None, *NODES]:
            if publisher is None and node is None:
                continue
            readers.append(
                Principal(
                    client_id="reader",
                    scopes=frozenset({"federation:read"}),
                    publisher_id=publisher.id if publisher is not None else None,
                    node_id=node,
                )
            )
    return readers


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(partnerships=partnerships_st, items=items_st)
def test_sql_clause_and_in_memory_check_agree(
    session: Session, world: World, partnerships: list, items: list
) -> None:
    savepoint = session.begin_nested()
    try:
        today = date.today()
        for owner, node, code, status, until, deleted, direction in partnerships:
            session.add(
                Partnership(
                    publisher_id=world.local[owner].id,
                    peer_node_id=NODES[node],
                    partner_code=code,
                    direction=direction,
                    status=status,
                    valid_until=None if until is None else today + timedelta(days=until),
                    deleted_at=utcnow() if deleted else None,
                )
            )
        for model in (App, Dataset):
            for n, (visibility, origin, owner, audience) in enumerate(items):
                fields = {
                    "slug": f"item-{n}",
                    "visibility": visibility,
                    "publisher_id": (
                        world.mirrored[origin].id if origin is not None else world.local[owner].id
                    ),
                    "origin": NODES[origin] if origin is not None else None,
                    "audience": None
                    if audience is None
                    else [str(world.local[a].id) if isinstance(a, int) else a for a in audience],
                }
                if model is App:
                    session.add(App(name=f"Item {n}", **fields))
                else:
                    session.add(Dataset(title={"en": f"Item {n}"}, **fields))
        session.flush()

        tables: dict[type[App] | type[Dataset], Sequence[App | Dataset]] = {
            App: session.exec(select(App)).all(),
            Dataset: session.exec(select(Dataset)).all(),
        }
        for principal in _principals(world):
            reader = viewer(session, principal)
            for model, rows in tables.items():
                where = visible_clause(model, principal)
                by_sql = set(session.exec(select(model.id).where(where)))
                in_memory = {row.id for row in rows if reader.sees(row)}
                assert by_sql == in_memory, principal
                # can_see builds the same Viewer; one row is enough to hold it to it.
                assert can_see(rows[0], principal, session) == (rows[0].id in by_sql)
    finally:
        savepoint.rollback()


@pytest.mark.parametrize(
    ("status", "until", "deleted", "expected"),
    [
        (PartnershipStatus.active, None, False, True),
        (PartnershipStatus.active, 0, False, True),
        (PartnershipStatus.active, -1, False, False),
        (PartnershipStatus.active, None, True, False),
        (PartnershipStatus.requested, None, False, False),
        (PartnershipStatus.revoked, None, False, False),
        (PartnershipStatus.rejected, None, False, False),
        (PartnershipStatus.expired, 1, False, False),
    ],
)
def test_a_partnership_is_in_force_while_active_and_not_past_its_end(
    session: Session,
    world: World,
    status: PartnershipStatus,
    until: int | None,
    deleted: bool,
    expected: bool,
) -> None:
    partnership = Partnership(
        publisher_id=world.local[0].id,
        peer_node_id=NODES[0],
        partner_code="kota-a",
        direction=Direction.incoming,
        status=status,
        valid_until=None if until is None else date.today() + timedelta(days=until),
        deleted_at=utcnow() if deleted else None,
    )
    assert in_force(partnership) is expected
    # The SQL form gives the same answer on the stored row.
    session.add(partnership)
    session.flush()
    found = session.exec(
        select(Partnership.id).where(Partnership.id == partnership.id, active_partnership_clause())
    ).first()
    assert (found is not None) is expected


def test_each_publisher_s_own_partnership_decides(session: Session, world: World) -> None:
    """Two local publishers, one node: only the publisher partnered with the node
    shows it its partners items, whatever the other's partnerships are."""
    first, second = world.local
    session.add(
        Partnership(
            publisher_id=first.id,
            peer_node_id=NODES[0],
            partner_code="kota-a",
            direction=Direction.outgoing,
            status=PartnershipStatus.active,
        )
    )
    session.add(
        Partnership(
            publisher_id=second.id,
            peer_node_id=NODES[1],
            partner_code="kota-a",
            direction=Direction.incoming,
            status=PartnershipStatus.active,
        )
    )
    shared = App(slug="a", name="A", visibility=Visibility.partners, publisher_id=first.id)
    other = App(slug="b", name="B", visibility=Visibility.partners, publisher_id=second.id)
    session.add_all([shared, other])
    session.flush()
    node = Principal(client_id="n", scopes=frozenset({"federation:read"}), node_id=NODES[0])
    assert can_see(shared, node, session)
    assert not can_see(other, node, session)
    assert viewer(session, node).audience(shared) == ["kota-a"]
    assert viewer(session, node).audience(other) is None
    # A publisher of this node is never a partner of another one of this node.
    neighbour = Principal(client_id="p", scopes=frozenset(), publisher_id=second.id)
    assert not can_see(shared, neighbour, session)
    assert Viewer(admin=True).sees(shared)


def test_a_mirror_is_seen_by_its_audience_only_while_their_partnership_is_in_force(
    session: Session, world: World
) -> None:
    """The origin's audience names the local publisher, but a partnership ended here
    hides the item at once, before the next sync brings the origin's tombstone."""
    local, _ = world.local
    owner = world.mirrored[0]  # kota-a on NODES[0]
    item = App(
        slug="m",
        name="M",
        visibility=Visibility.partners,
        publisher_id=owner.id,
        origin=NODES[0],
        audience=[str(local.id)],
    )
    partnership = Partnership(
        publisher_id=local.id,
        peer_node_id=NODES[0],
        partner_code=owner.code,
        direction=Direction.outgoing,
        status=PartnershipStatus.active,
    )
    session.add_all([item, partnership])
    session.flush()
    reader = Principal(client_id="p", scopes=frozenset(), publisher_id=local.id)
    listed = select(App.id).where(visible_clause(App, reader))
    assert can_see(item, reader, session)
    assert item.id in set(session.exec(listed))
    partnership.status = PartnershipStatus.revoked
    session.flush()
    assert not can_see(item, reader, session)
    assert item.id not in set(session.exec(listed))
