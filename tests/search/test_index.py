"""The index follows every write in the writer's transaction: catalog writes through
the services, and mirror writes, tombstones and purges during federation sync."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from registry.catalog import schemas
from registry.catalog import service as catalog
from registry.federation.sync import sync_peer
from registry.principal import Principal
from registry.search.index import reindex
from registry.search.models import FTS_TABLES
from registry.search.service import SearchQuery, search
from registry.sharing.models import Direction, Partnership, PartnershipStatus
from tests.federation.test_sync import peer, peer_settings  # noqa: F401  (the scripted peer)

ADMIN = Principal(client_id="test", scopes=frozenset({"admin"}))


def slugs(session: Session, q: str, principal: Principal | None = None, **filters: Any) -> list:
    result = search(session, principal, SearchQuery(q=q, **filters), limit=50)
    return [hit.item.slug for hit in result.hits]


def test_updates_and_deletes_reach_the_index(session, make_publisher, make_app):
    banyuwangi = make_publisher("kab-banyuwangi")
    app = make_app(banyuwangi, "antrean", name="Antrean Puskesmas")
    assert slugs(session, "puskesmas") == ["antrean"]

    catalog.update_app(session, ADMIN, app, schemas.AppUpdate(name="Antrean Rumah Sakit"))
    session.commit()
    assert slugs(session, "puskesmas") == []
    assert slugs(session, "rumah sakit") == ["antrean"]

    catalog.delete_app(session, ADMIN, app)
    session.commit()
    assert slugs(session, "rumah sakit") == []


def test_a_publisher_renamed_is_found_by_its_new_name(session, make_publisher, make_app):
    publisher = make_publisher("kota-pariaman", name="Kota Pariaman")
    make_app(publisher, "suara-warga", name="Suara Warga")
    assert slugs(session, "pariaman") == ["suara-warga"]
    catalog.update_publisher(session, publisher, schemas.PublisherUpdate(name="Kota Tabuik"))
    session.commit()
    assert slugs(session, "tabuik") == ["suara-warga"]


def test_a_distribution_adds_its_format_to_the_dataset(session, make_publisher, make_dataset):
    publisher = make_publisher("kota-surabaya")
    dataset = make_dataset(publisher, "sekolah", title={"id": "Daftar Sekolah"})
    catalog.create_distribution(
        session,
        ADMIN,
        dataset,
        schemas.DistributionCreate(access_url="https://data.example/sekolah.csv", format="CSV"),
    )
    session.commit()
    result = search(session, None, SearchQuery(q="sekolah"), limit=10)
    assert result.facets["format"] == {"CSV": 1}
    assert [h.item.slug for h in search(session, None, SearchQuery(format="CSV")).hits] == [
        "sekolah"
    ]


def test_reindex_rebuilds_the_same_index(session, connection, make_publisher, make_app):
    publisher = make_publisher("kab-banyuwangi")
    make_app(publisher, "bank-sampah", name="Bank Sampah")
    before = slugs(session, "sampah")
    connection.execute(sa.text("DELETE FROM search_documents"))
    if connection.dialect.name == "sqlite":
        for table in FTS_TABLES:
            connection.execute(sa.text(f"DELETE FROM {table}"))
    assert slugs(session, "sampah") == []
    assert reindex(connection) == 1
    assert slugs(session, "sampah") == before == ["bank-sampah"]


def test_sync_indexes_mirrors_for_their_audience_only(
    peer,  # noqa: F811
    connection,
    session,
    peer_settings,  # noqa: F811
    make_publisher,
):
    scripted, keys = peer
    pariaman = make_publisher("kota-pariaman")
    # The reader's publisher holds a partnership in force with the mirror's owner.
    session.add(
        Partnership(
            publisher_id=pariaman.id,
            peer_node_id=scripted.url,
            partner_code="kab-mitra",
            direction=Direction.outgoing,
            status=PartnershipStatus.active,
        )
    )
    session.commit()
    partner = Principal(client_id="c", scopes=frozenset(), publisher_id=pariaman.id)
    pub, shared, public = (str(uuid.uuid4()) for _ in range(3))

    def app(app_id: str, name: str, visibility: str) -> dict[str, Any]:
        entry = scripted.entry(
            "app",
            app_id,
            {"publisher_id": pub, "slug": name.lower().replace(" ", "-"), "name": name,
             "visibility": visibility,
             "description": {"id": {"short_description": "Layanan perizinan daerah"}}},
        )  # fmt: skip
        if visibility == "partners":
            entry["audience"] = ["kota-pariaman"]
        return entry

    publisher = scripted.entry("publisher", pub, {"code": "kab-mitra", "name": "Kabupaten Mitra"})
    scripted.page(
        "0",
        "3",
        [publisher, app(shared, "Izin Mitra", "partners"), app(public, "Izin Umum", "public")],
    )
    scripted.page("3", "4", [scripted.entry("app", shared)])

    assert sync_peer(connection, peer_settings, keys, scripted.url).error is None
    assert slugs(session, "perizinan") == ["izin-umum"]
    assert sorted(slugs(session, "perizinan", partner)) == ["izin-mitra", "izin-umum"]
    anonymous = search(session, None, SearchQuery(q="izin"))
    assert anonymous.total == 1
    assert anonymous.facets["origin"] == {scripted.url: 1}
    assert search(session, partner, SearchQuery(q="izin")).facets["publisher"] == {
        f"kab-mitra@{scripted.url}": 2
    }

    # A tombstone removes the mirror from the index in the same transaction.
    assert sync_peer(connection, peer_settings, keys, scripted.url).error is None
    assert slugs(session, "perizinan", partner) == ["izin-umum"]
