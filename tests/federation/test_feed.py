"""The change feed as the serving node builds it: every change once, in order, across
page boundaries; pages a puller accepts as they are; partnerships that ran out ended
before a page is read, which writes nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from registry.catalog import schemas, service
from registry.db import ChangeCounter
from registry.federation.pull import parse_page
from registry.sharing.models import Direction, Exposure, Partnership, PartnershipStatus
from registry.sharing.service import expire_due
from tests.catalog.test_api import FULL_APP
from tests.conftest import ADMIN


def _counter(session) -> int:
    return session.exec(select(ChangeCounter.value).where(ChangeCounter.id == 1)).one()


async def _read_all(client, after: int, limit: int) -> list[dict]:
    pages = []
    cursor = str(after)
    while True:
        response = await client.get(
            "/federation/v1/changes", params={"after": cursor, "limit": limit}
        )
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        assert len(page["entries"]) <= limit
        if not page["has_more"]:
            return pages
        assert int(page["next_cursor"]) > int(cursor)
        cursor = page["next_cursor"]


async def test_pages_serve_every_change_once_in_order(
    client, session, make_publisher, make_app, make_dataset
):
    start = _counter(session)
    publisher = make_publisher("kab-banyuwangi")
    apps = [make_app(publisher, f"aplikasi-{n}") for n in range(7)]
    datasets = [make_dataset(publisher, f"data-{n}") for n in range(4)]
    # Later changes move entities past others: each must come once, at its newest place.
    service.update_app(session, ADMIN, apps[0], schemas.AppUpdate(name="Diubah"))
    service.update_app(session, ADMIN, apps[3], schemas.AppUpdate(visibility="private"))
    session.commit()

    pages = await _read_all(client, start, limit=3)
    entries = [e for page in pages for e in page["entries"]]
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs)
    assert len({e["id"] for e in entries}) == len(entries)
    expected = {str(publisher.id)} | {str(a.id) for a in apps} | {str(d.id) for d in datasets}
    assert {e["id"] for e in entries} == expected
    by_id = {e["id"]: e for e in entries}
    assert by_id[str(apps[0].id)]["data"]["name"] == "Diubah"
    assert by_id[str(apps[3].id)]["op"] == "delete"
    assert entries[0]["kind"] == "publisher"
    assert pages[-1]["remaining"] == 0
    assert all(page["remaining"] > 0 for page in pages[:-1])


async def test_a_publisher_changed_after_its_items_comes_first(
    client, session, make_publisher, make_app
):
    publisher = make_publisher("kab-banyuwangi")
    start = _counter(session)
    app = make_app(publisher)
    service.update_publisher(session, publisher, schemas.PublisherUpdate(name="Kab. Banyuwangi"))
    session.commit()
    response = await client.get("/federation/v1/changes", params={"after": start, "limit": 1})
    entries = response.json()["entries"]
    assert [(e["kind"], e["id"]) for e in entries] == [
        ("publisher", str(publisher.id)),
        ("app", str(app.id)),
    ]


async def test_a_page_passes_the_pullers_checks_as_served(client, session, make_publisher):
    publisher = make_publisher("kab-banyuwangi")
    start = _counter(session)
    app = service.create_app(
        session, ADMIN, schemas.AppCreate(publisher=publisher.code, **FULL_APP)
    )
    session.commit()

    response = await client.get("/federation/v1/changes", params={"after": start})
    assert response.headers["content-type"] == "application/json"
    page = parse_page(response.content, "http://testserver")
    (entry,) = [e for e in page.entries if e.kind == "app"]
    assert entry.id == app.id
    assert entry.data is not None
    assert entry.data.created_at == app.created_at
    # The entity's fields as the REST API gives them, JSON documents included.
    rest = (await client.get(f"/api/v1/apps/{app.id}")).json()
    data = entry.data.model_dump(mode="json")
    assert {key: data[key] for key in FULL_APP} == {key: rest[key] for key in FULL_APP}
    (raw,) = [e["data"] for e in response.json()["entries"] if e["kind"] == "app"]
    assert datetime.fromisoformat(raw["created_at"]) == datetime.fromisoformat(rest["created_at"])


def _overdue_partnership(session, make_publisher, make_app):
    """A partners app shown to pariaman.example by a partnership that is now a day
    past its end, which no job has marked expired yet."""
    publisher = make_publisher("kab-banyuwangi")
    partnership = Partnership(
        publisher_id=publisher.id,
        peer_node_id="https://pariaman.example",
        partner_code="kota-pariaman",
        direction=Direction.incoming,
        status=PartnershipStatus.active,
        valid_until=date.today(),
    )
    session.add(partnership)
    session.commit()
    shared = make_app(publisher, "e-retribusi", visibility="partners")
    # A day passes: the partnership is now past its end, and no job has marked it.
    session.execute(
        sa.update(Partnership.__table__)  # type: ignore[attr-defined]
        .where(Partnership.__table__.c.id == partnership.id)  # type: ignore[attr-defined]
        .values(valid_until=date.today() - timedelta(days=1))
    )
    session.commit()
    return partnership, shared


def _partnership_status(session, partnership):
    return session.execute(
        sa.select(col(Partnership.status)).where(col(Partnership.id) == partnership.id)
    ).scalar_one()


async def test_an_overdue_partnership_ends_before_the_page_is_read(
    client, session, make_publisher, make_app, node_token
):
    partnership, shared = _overdue_partnership(session, make_publisher, make_app)
    start = _counter(session)

    headers = node_token("https://pariaman.example")
    response = await client.get("/federation/v1/changes", params={"after": start}, headers=headers)
    assert response.status_code == 200
    # Nothing has re-stamped the partners app after the cursor, yet this very page
    # already carries it, as a tombstone, to the node that could see it.
    entries = {e["id"]: e for e in response.json()["entries"]}
    assert entries[str(shared.id)]["op"] == "delete"
    # An anonymous reader never could: it hears nothing of it.
    anonymous = await client.get("/federation/v1/changes", params={"after": 0})
    assert str(shared.id) not in {e["id"] for e in anonymous.json()["entries"]}
    # Marking it expired is the job's; once it has, the tombstone follows the cursor.
    assert _partnership_status(session, partnership) == PartnershipStatus.active
    assert expire_due(session) == 1
    session.commit()
    later = await client.get("/federation/v1/changes", params={"after": start}, headers=headers)
    (entry,) = [e for e in later.json()["entries"] if e["id"] == str(shared.id)]
    assert entry["op"] == "delete"
    assert entry["seq"] > start


async def test_reading_a_page_writes_nothing(client, session, make_publisher, make_app, node_token):
    partnership, _shared = _overdue_partnership(session, make_publisher, make_app)
    headers = node_token("https://pariaman.example")
    session.commit()

    def snapshot():
        return [
            session.execute(sa.select(table)).all()
            for table in (ChangeCounter.__table__, Partnership.__table__, Exposure.__table__)  # type: ignore[attr-defined]
        ]

    before = snapshot()
    for after in (0, _counter(session)):
        response = await client.get(
            "/federation/v1/changes", params={"after": after}, headers=headers
        )
        assert response.status_code == 200
    session.expire_all()
    assert snapshot() == before
    assert _partnership_status(session, partnership) == PartnershipStatus.active
