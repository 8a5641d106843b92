"""Three real nodes — Banyuwangi, Pariaman, Surabaya — peered with each other.
Pariaman's city partners with Banyuwangi's regency; Surabaya has no partnership.

The nodes start once for the module and the tests run in order, each building on the
state the previous ones left: partner view, token attacks, adoptions, deletes, a
revocation, then a sync killed half-way."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.nodes import Node, bulk_apps, start_nodes, stop_nodes

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class World:
    banyuwangi: Node
    pariaman: Node
    surabaya: Node
    partnership_id: str
    public_app: str
    partners_app: str
    private_app: str
    partners_release: str
    public_dataset: str
    public_distribution: str
    partners_dataset: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    nodes = start_nodes(
        tmp_path_factory.mktemp("federation"), ["banyuwangi", "pariaman", "surabaya"]
    )
    b, p, s = nodes
    try:
        b.cli("publisher", "add", "kab-banyuwangi", "--name", "Kabupaten Banyuwangi",
              "--kind", "regency", "--region-code", "35.10")  # fmt: skip
        p.cli("publisher", "add", "kota-pariaman", "--name", "Kota Pariaman",
              "--region-code", "13.77")  # fmt: skip
        s.cli("publisher", "add", "kota-surabaya", "--name", "Kota Surabaya",
              "--region-code", "35.78")  # fmt: skip
        admin = b.admin_headers()

        def app(slug: str, visibility: str) -> str:
            body = {"publisher": "kab-banyuwangi", "slug": slug, "name": slug.title(),
                    "visibility": visibility, "license": "EUPL-1.2"}  # fmt: skip
            return str(b.post("/api/v1/apps", body, admin)["id"])

        def dataset(slug: str, visibility: str) -> str:
            body = {"publisher": "kab-banyuwangi", "slug": slug,
                    "title": {"id": slug.title()}, "visibility": visibility}  # fmt: skip
            return str(b.post("/api/v1/datasets", body, admin)["id"])

        public_app = app("smart-kampung", "public")
        partners_app = app("e-retribusi", "partners")
        private_app = app("sipkd-internal", "private")
        release = b.post(f"/api/v1/apps/{partners_app}/releases", {"version": "2.1.0"}, admin)
        public_dataset = dataset("penduduk", "public")
        distribution = b.post(
            f"/api/v1/datasets/{public_dataset}/distributions",
            {"access_url": "https://data.banyuwangikab.go.id/penduduk.csv", "format": "CSV"},
            admin,
        )
        partners_dataset = dataset("retribusi-pasar", "partners")
        b.post(
            f"/api/v1/datasets/{partners_dataset}/distributions",
            {"access_url": "https://data.banyuwangikab.go.id/pasar.csv", "format": "CSV"},
            admin,
        )
        for node in nodes:
            for other in nodes:
                if other is not node:
                    node.cli("peer", "add", other.url, "--yes")
        partnership_id = p.cli(
            "partnership", "request", "--publisher", "kota-pariaman", "--peer", b.url,
            "--partner", "kab-banyuwangi", "--reference", "PKS/001/2026",
        ).stdout.strip()  # fmt: skip
        b.cli("partnership", "approve", partnership_id)
        p.cli("sync")
        s.cli("sync")
        yield World(
            b, p, s, partnership_id, public_app, partners_app, private_app,
            release["id"], public_dataset, distribution["id"], partners_dataset,
        )  # fmt: skip
    finally:
        stop_nodes(nodes)


def test_partnership_recorded_on_both_sides(world: World) -> None:
    for node in (world.banyuwangi, world.pariaman):
        rows = json.loads(node.cli("partnership", "list", "--json").stdout)
        (row,) = [r for r in rows if r["id"] == world.partnership_id]
        assert row["status"] == "active"
        assert row["reference"] == "PKS/001/2026"


def test_partner_sees_public_and_partners_items(world: World) -> None:
    b, p = world.banyuwangi, world.pariaman
    admin_view = p.ids("/api/v1/apps", p.admin_headers(), origin=b.url)
    assert admin_view == {world.public_app, world.partners_app}
    city = p.client_headers("kota-pariaman", "catalog:write")
    assert world.partners_app in p.ids("/api/v1/apps", city, origin="peers")
    mirrored = p.get(f"/api/v1/apps/{world.partners_app}", city)
    assert mirrored["origin"] == b.url
    assert mirrored["global_id"] == f"{b.url}/api/v1/apps/{world.partners_app}"
    assert mirrored["publisher"] == "kab-banyuwangi"
    releases = p.get(f"/api/v1/apps/{world.partners_app}/releases", city)["items"]
    assert [r["id"] for r in releases] == [world.partners_release]
    datasets = p.ids("/api/v1/datasets", city, origin=b.url)
    assert datasets == {world.public_dataset, world.partners_dataset}


def test_anonymous_readers_and_non_partners_see_only_public_items(world: World) -> None:
    b, p, s = world.banyuwangi, world.pariaman, world.surabaya
    assert p.ids("/api/v1/apps", origin=b.url) == {world.public_app}
    assert p.ids("/api/v1/datasets", origin="peers") == {world.public_dataset}
    response = httpx2.get(f"{p.url}/api/v1/apps/{world.partners_app}")
    assert response.status_code == 404
    for headers in (None, s.admin_headers()):
        assert s.ids("/api/v1/apps", headers, origin=b.url) == {world.public_app}
        assert s.ids("/api/v1/datasets", headers, origin=b.url) == {world.public_dataset}
    # Partner-only rows never reached Surabaya's database at all.
    with s.engine.connect() as connection:
        count = connection.execute(
            sa.text("SELECT count(*) FROM apps WHERE id = :id"),
            {
                "id": world.partners_app.replace("-", "")
                if s.database_url is None
                else world.partners_app
            },
        ).scalar_one()
    assert count == 0


def test_mirrors_are_read_only(world: World) -> None:
    p = world.pariaman
    response = httpx2.patch(
        f"{p.url}/api/v1/apps/{world.public_app}",
        json={"name": "Changed"},
        headers=p.admin_headers(),
    )
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert world.banyuwangi.url in response.json()["detail"]


# --- token attacks -------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _pariaman_key(world: World) -> ECKey:
    keys_dir = world.pariaman.data_dir / "keys"
    kid = json.loads((keys_dir / "manifest.json").read_text())["current"]
    return ECKey.import_key(json.loads((keys_dir / f"{kid}.jwk").read_text()))


def _client_id(node: Node) -> str:
    return "node-" + hashlib.sha256(node.url.encode()).hexdigest()[:40]


def _claims(world: World, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    client_id = _client_id(world.pariaman)
    jti = _b64(hashlib.sha256(str(time.time_ns()).encode()).digest())
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": world.banyuwangi.url,
        "iat": now,
        "exp": now + 60,
        "jti": jti,
    }
    claims.update(changes)
    return claims


def _signed(key: ECKey, claims: dict[str, Any], **header: Any) -> str:
    header = {"alg": "ES256", "kid": key.kid, **header}
    return jwt.encode(header, claims, key, algorithms=["ES256"])


def _token_request(world: World, assertion: str) -> httpx2.Response:
    return httpx2.post(
        f"{world.banyuwangi.url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


def _attacks(world: World) -> dict[str, str]:
    key = _pariaman_key(world)
    public = key.as_dict(private=False)
    stranger = ECKey.generate_key("P-256", auto_kid=True)

    def unsigned(claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{header}.{_b64(json.dumps(claims).encode())}."

    def hs256_with_public_key(claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "HS256", "kid": key.kid}).encode())
        body = _b64(json.dumps(claims).encode())
        secret = json.dumps(public).encode()
        signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(signature)}"

    now = int(time.time())
    stranger_id = "node-" + "0" * 40
    return {
        "alg none": unsigned(_claims(world)),
        "HS256 signed with the public key": hs256_with_public_key(_claims(world)),
        "unknown kid": _signed(key, _claims(world), kid="no-such-key"),
        "injected kid": _signed(key, _claims(world), kid="../../keys/x' OR '1'='1"),
        "jku header": _signed(key, _claims(world), jku="http://127.0.0.1:1/jwks.json"),
        "aud array naming another server": _signed(
            key, _claims(world, aud=["https://evil.example", world.banyuwangi.url])
        ),
        "expired": _signed(key, _claims(world, iat=now - 900, exp=now - 600)),
        "exp a year away": _signed(key, _claims(world, exp=now + 365 * 86400)),
        "signed by a stranger with the peer's kid": _signed(stranger, _claims(world), kid=key.kid),
        "a node that is not a peer": _signed(
            stranger, _claims(world, iss=stranger_id, sub=stranger_id)
        ),
    }


def test_valid_assertion_gets_a_token(world: World) -> None:
    response = _token_request(world, _signed(_pariaman_key(world), _claims(world)))
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    feed = httpx2.get(f"{world.banyuwangi.url}/federation/v1/changes",
                      headers={"Authorization": f"Bearer {token}"}).json()  # fmt: skip
    assert world.partners_app in {e["id"] for e in feed["entries"] if e["op"] == "upsert"}


def test_token_attacks_get_401(world: World) -> None:
    for name, assertion in _attacks(world).items():
        response = _token_request(world, assertion)
        assert response.status_code == 401, f"{name}: {response.status_code} {response.text}"
        feed = httpx2.get(f"{world.banyuwangi.url}/federation/v1/changes",
                          headers={"Authorization": f"Bearer {assertion}"})  # fmt: skip
        assert feed.status_code == 401, f"{name} on the feed: {feed.status_code}"


def test_replayed_assertion_gets_401(world: World) -> None:
    assertion = _signed(_pariaman_key(world), _claims(world))
    assert _token_request(world, assertion).status_code == 200
    assert _token_request(world, assertion).status_code == 401


# --- adoptions, deletes, revocation ----------------------------------------------------


def test_adoption_made_on_pariaman_shows_everywhere(world: World) -> None:
    b, p, s = world.banyuwangi, world.pariaman, world.surabaya
    adoption_id = p.cli(
        "adoption", "add", "--publisher", "kota-pariaman", "--app", world.public_app,
        "--status", "production", "--version", "1.0.0",
    ).stdout.strip()  # fmt: skip
    used_by = b.get(f"/api/v1/apps/{world.public_app}/adoptions")["items"]
    assert [(a["id"], a["adopter_code"], a["adopter_node"]) for a in used_by] == [
        (adoption_id, "kota-pariaman", p.url)
    ]
    s.cli("sync")
    p.cli("sync")
    for node in (p, s):
        items = node.get(f"/api/v1/apps/{world.public_app}/adoptions")["items"]
        assert [(a["id"], a["status"]) for a in items] == [(adoption_id, "production")]


def test_delete_propagates_as_tombstone(world: World) -> None:
    b, p, s = world.banyuwangi, world.pariaman, world.surabaya
    response = httpx2.delete(
        f"{b.url}/api/v1/datasets/{world.public_dataset}", headers=b.admin_headers()
    )
    assert response.status_code == 204
    p.cli("sync")
    s.cli("sync")
    for node in (p, s):
        assert world.public_dataset not in node.ids("/api/v1/datasets", node.admin_headers())
        gone = httpx2.get(f"{node.url}/api/v1/datasets/{world.public_dataset}/distributions")
        assert gone.status_code == 404


def test_revoke_removes_partner_items_after_next_sync(world: World) -> None:
    b, p = world.banyuwangi, world.pariaman
    b.cli("partnership", "revoke", world.partnership_id)
    p.cli("sync")
    admin_view = p.ids("/api/v1/apps", p.admin_headers(), origin=b.url)
    assert world.partners_app not in admin_view
    assert world.public_app in admin_view
    assert world.partners_dataset not in p.ids("/api/v1/datasets", p.admin_headers())
    with p.engine.connect() as connection:
        kept = connection.execute(
            sa.text("SELECT count(*) FROM apps WHERE origin = :o AND deleted_at IS NULL "
                    "AND visibility = 'partners'"), {"o": b.url},
        ).scalar_one()  # fmt: skip
    assert kept == 0
    rows = json.loads(p.cli("partnership", "list", "--json").stdout)
    assert {r["id"]: r["status"] for r in rows}[world.partnership_id] == "revoked"


def test_a_partnership_either_side_asked_for_opens_the_feed(world: World) -> None:
    """After the revocation, Banyuwangi's regency asks Pariaman's city itself: once
    Pariaman approves, its node reads Banyuwangi's partners items again. Whether a node
    may read them follows the owner's partnerships, whichever side asked."""
    b, p = world.banyuwangi, world.pariaman
    partnership_id = b.cli(
        "partnership", "request", "--publisher", "kab-banyuwangi", "--peer", p.url,
        "--partner", "kota-pariaman", "--reference", "PKS/002/2026",
    ).stdout.strip()  # fmt: skip
    p.cli("partnership", "approve", partnership_id)
    p.cli("sync")
    assert world.partners_app in p.ids("/api/v1/apps", p.admin_headers(), origin=b.url)
    b.cli("partnership", "revoke", partnership_id)
    p.cli("sync")
    assert world.partners_app not in p.ids("/api/v1/apps", p.admin_headers(), origin=b.url)


# --- crash safety --------------------------------------------------------------------


def _cursor(node: Node, peer: Node) -> str:
    with node.engine.connect() as connection:
        return str(
            connection.execute(
                sa.text("SELECT cursor FROM peers WHERE node_id = :n"), {"n": peer.url}
            ).scalar_one()
        )


def _live_ids(node: Node, where: str, **params: Any) -> list[str]:
    with node.engine.connect() as connection:
        rows = connection.execute(
            sa.text(f"SELECT id FROM apps WHERE deleted_at IS NULL AND {where}"), params
        )
        return sorted(str(r[0]).replace("-", "") for r in rows)


def test_sync_killed_midway_resumes_without_loss_or_doubles(world: World) -> None:
    b, s = world.banyuwangi, world.surabaya
    bulk_apps(b, "kab-banyuwangi", 30_000)
    before = _cursor(s, b)
    process = s.cli_popen("sync", b.url, "--quiet")
    deadline = time.monotonic() + 120
    while _cursor(s, b) == before:
        assert process.poll() is None, "the sync finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # The lease of the killed process expires; a restarted sync takes over after it.
    with s.engine.begin() as connection:
        connection.execute(sa.text("UPDATE peers SET lease_expires_at = NULL, lease_holder = NULL"))
    s.cli("sync", b.url)
    source = _live_ids(b, "origin IS NULL AND visibility = 'public'")
    mirror = _live_ids(s, "origin = :o", o=b.url)
    assert len(source) > 30_000
    assert mirror == source
