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
