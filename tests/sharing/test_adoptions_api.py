"""Who may read an app's "used by" list: whoever may see the app."""

from __future__ import annotations

from registry.sharing import schemas, service
from tests.conftest import ADMIN


async def test_adopters_are_listed_to_whoever_sees_the_app(
    client, session, make_publisher, make_app, token_for
):
    owner = make_publisher("kab-banyuwangi", kind="regency")
    user = make_publisher("kota-pariaman")
    public = make_app(owner, "smart-kampung", visibility="public")
    partners = make_app(owner, "sipandu", visibility="partners")
    for app in (public, partners):
        service.create_adoption(
            session, ADMIN, schemas.AdoptionCreate(app_id=app.id, publisher=user.code)
        )
    session.commit()

    anonymous = await client.get(f"/api/v1/apps/{public.id}/adoptions")
    assert anonymous.status_code == 200, anonymous.text
    assert [a["adopter_code"] for a in anonymous.json()["items"]] == ["kota-pariaman"]

    hidden = await client.get(f"/api/v1/apps/{partners.id}/adoptions")
    assert hidden.status_code == 404
    own = await token_for(owner, "catalog:write")
    shown = await client.get(f"/api/v1/apps/{partners.id}/adoptions", headers=own)
    assert [a["adopter_code"] for a in shown.json()["items"]] == ["kota-pariaman"]


async def test_adoption_lists_take_the_nodes_page_size(
    app, client, session, make_publisher, make_app
):
    owner = make_publisher("kab-banyuwangi", kind="regency")
    used = make_app(owner, "smart-kampung", visibility="public")
    for code in ("kota-pariaman", "kota-solok", "kab-agam"):
        service.create_adoption(
            session,
            ADMIN,
            schemas.AdoptionCreate(app_id=used.id, publisher=make_publisher(code).code),
        )
    session.commit()
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"default_page_size": 2, "max_page_size": 2})
    try:
        first = await client.get("/api/v1/adoptions")
        assert first.status_code == 200, first.text
        assert len(first.json()["items"]) == 2
        rest = await client.get(f"/api/v1/adoptions?cursor={first.json()['next_cursor']}")
        assert len(rest.json()["items"]) == 1
        # A limit over the node's maximum is cut to it, as on every catalog list.
        capped = await client.get(f"/api/v1/apps/{used.id}/adoptions?limit=3")
        assert capped.status_code == 200, capped.text
        assert len(capped.json()["items"]) == 2
    finally:
        app.state.settings = settings
