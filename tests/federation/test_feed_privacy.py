"""The feed tells a reader only about items it could see at some point: a tombstone
when one it could see is withdrawn, nothing at all (no id, no parent link, no sign
of an edit) about items it never could."""

from __future__ import annotations

from sqlmodel import select

from registry.catalog import schemas, service
from registry.db import ChangeCounter
from registry.sharing import service as sharing
from registry.sharing.models import Direction, Partnership, PartnershipStatus
from tests.conftest import ADMIN

PARTNER = "https://pariaman.example"
STRANGER = "https://bandung.example"


def _counter(session) -> int:
    return session.exec(select(ChangeCounter.value).where(ChangeCounter.id == 1)).one()


async def _feed(client, after: int, headers: dict[str, str] | None = None) -> str:
    """The raw text of every page after ``after``."""
    text, cursor = "", str(after)
    while True:
        response = await client.get(
            "/federation/v1/changes", params={"after": cursor, "limit": 1000}, headers=headers
        )
        assert response.status_code == 200, response.text
        text += response.text
        page = response.json()
        if not page["has_more"]:
            return text
        cursor = page["next_cursor"]


async def _ops(client, after: int, headers: dict[str, str] | None = None) -> dict[str, str]:
    ops: dict[str, str] = {}
    cursor = str(after)
    while True:
        response = await client.get(
            "/federation/v1/changes", params={"after": cursor}, headers=headers
        )
        page = response.json()
        ops |= {e["id"]: e["op"] for e in page["entries"]}
        if not page["has_more"]:
            return ops
        cursor = page["next_cursor"]


def _release(session, app, version: str):
    release = service.create_release(session, ADMIN, app, schemas.ReleaseCreate(version=version))
    session.commit()
    return release


async def test_anonymous_readers_learn_nothing_of_items_never_public(
    client, session, make_publisher, make_app, make_dataset
):
    publisher = make_publisher("kab-banyuwangi")
    start = _counter(session)
    secret = make_app(publisher, "rahasia", visibility="private")
    shared = make_app(publisher, "bersama", visibility="partners")
    release = _release(session, secret, "1.0.0")
    dataset = make_dataset(publisher, "data-rahasia", visibility="private")
    distribution = service.create_distribution(
        session,
        ADMIN,
        dataset,
        schemas.DistributionCreate(access_url="https://data.example/a.csv"),
    )
    session.commit()
    # Edits and withdrawals of items no anonymous reader could ever see.
    service.update_app(session, ADMIN, secret, schemas.AppUpdate(name="Diubah"))
    service.update_app(session, ADMIN, shared, schemas.AppUpdate(visibility="private"))
    service.delete_release(session, ADMIN, secret, release)
    service.delete_app(session, ADMIN, secret)
    service.delete_dataset(session, ADMIN, dataset)
    session.commit()

    text = await _feed(client, start)
    for item in (secret, shared, release, dataset, distribution):
        assert str(item.id) not in text


async def test_a_withdrawn_public_item_is_retracted_from_anonymous_mirrors(
    client, session, make_publisher, make_app
):
    start = _counter(session)
    publisher = make_publisher("kab-banyuwangi")
    app = make_app(publisher, "layanan", visibility="public")
    release = _release(session, app, "1.0.0")
    assert await _ops(client, start) == {
        str(publisher.id): "upsert",
        str(app.id): "upsert",
        str(release.id): "upsert",
    }
    service.update_app(session, ADMIN, app, schemas.AppUpdate(visibility="private"))
    session.commit()
    # Made private: a reader behind the change gets tombstones for the app and its
    # release, which it could see.
    ops = await _ops(client, start)
    assert ops[str(app.id)] == ops[str(release.id)] == "delete"
    # A release added while the app is private stays unknown to it.
    hidden = _release(session, app, "2.0.0")
    assert str(hidden.id) not in await _feed(client, start)


async def test_a_release_of_a_private_app_made_public_is_fed_then_retracted(
    client, session, make_publisher, make_app
):
    publisher = make_publisher("kab-banyuwangi")
    start = _counter(session)
    app = make_app(publisher, "layanan", visibility="private")
    release = _release(session, app, "1.0.0")
    assert str(release.id) not in await _feed(client, start)
    service.update_app(session, ADMIN, app, schemas.AppUpdate(visibility="public"))
    session.commit()
    assert (await _ops(client, start))[str(release.id)] == "upsert"
    service.delete_release(session, ADMIN, app, release)
    session.commit()
    assert (await _ops(client, start))[str(release.id)] == "delete"


async def test_partners_items_are_retracted_only_from_the_nodes_that_could_see_them(
    client, session, make_publisher, make_app, node_token
):
    publisher = make_publisher("kab-banyuwangi")
    partnership = Partnership(
        publisher_id=publisher.id,
        peer_node_id=PARTNER,
        partner_code="kota-pariaman",
        direction=Direction.incoming,
        status=PartnershipStatus.active,
    )
    session.add(partnership)
    session.commit()
    start = _counter(session)
    shared = make_app(publisher, "bersama", visibility="partners")
    release = _release(session, shared, "1.0.0")
    partner, stranger = node_token(PARTNER), node_token(STRANGER)
    ops = await _ops(client, start, partner)
    assert ops[str(shared.id)] == ops[str(release.id)] == "upsert"

    sharing.set_status(session, partnership, PartnershipStatus.revoked)
    session.commit()
    ops = await _ops(client, start, partner)
    assert ops[str(shared.id)] == ops[str(release.id)] == "delete"
    for headers in (stranger, None):
        text = await _feed(client, start, headers)
        assert str(shared.id) not in text
        assert str(release.id) not in text


async def test_an_item_seen_through_a_partnership_later_ended_is_still_retracted(
    client, session, make_publisher, make_app, node_token
):
    """The exposure outlives the partnership: the node that held the item when the
    partnership ended is told when the item is deleted later."""
    publisher = make_publisher("kab-banyuwangi")
    partnership = Partnership(
        publisher_id=publisher.id,
        peer_node_id=PARTNER,
        partner_code="kota-pariaman",
        direction=Direction.incoming,
        status=PartnershipStatus.active,
    )
    session.add(partnership)
    session.commit()
    shared = make_app(publisher, "bersama", visibility="partners")
    sharing.set_status(session, partnership, PartnershipStatus.revoked)
    session.commit()
    start = _counter(session)
    service.delete_app(session, ADMIN, shared)
    session.commit()
    assert (await _ops(client, start, node_token(PARTNER)))[str(shared.id)] == "delete"
    assert str(shared.id) not in await _feed(client, start)
