"""The token endpoint answers 429 with Retry-After to a client id, or an address,
that asks too often; and checking a secret no longer costs a slow hash."""

from __future__ import annotations

import time

import httpx2
import pytest

from registry.app import create_app
from registry.oauth import service
from registry.ratelimit import RateLimiter
from tests.oauth.conftest import basic

FORM = {"grant_type": "client_credentials"}


@pytest.fixture
def limited(settings, connection):
    def build(per_client: int = 0, per_address: int = 0) -> httpx2.AsyncClient:
        limits = {"token_rate_per_client": per_client, "token_rate_per_address": per_address}
        app = create_app(settings.model_copy(update=limits), engine=connection)
        return httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app, client=("203.0.113.7", 4000)),
            base_url="http://testserver",
        )

    return build


async def test_a_client_id_that_asks_too_often_gets_429(limited, make_client):
    client, secret = make_client("catalog:write")
    other, other_secret = make_client("catalog:write")
    async with limited(per_client=3) as http:
        statuses = [
            (
                await http.post("/oauth/token", data=FORM, headers=basic(client.client_id, s))
            ).status_code
            for s in [secret, "salah", "salah-lagi", secret]
        ]
        assert statuses == [200, 401, 401, 429]
        refused = await http.post(
            "/oauth/token", data=FORM, headers=basic(client.client_id, secret)
        )
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # Another client is not held back by it.
        fine = await http.post(
            "/oauth/token", data=FORM, headers=basic(other.client_id, other_secret)
        )
        assert fine.status_code == 200


async def test_an_address_that_asks_too_often_gets_429(limited, make_client):
    clients = [make_client("catalog:write") for _ in range(3)]
    async with limited(per_address=2) as http:
        statuses = [
            (await http.post("/oauth/token", data=FORM, headers=basic(c.client_id, s))).status_code
            for c, s in clients
        ]
    assert statuses == [200, 200, 429]


def test_the_limiter_lets_a_key_go_again_after_retry_after():
    now = [1000.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.hit("a") is None
    assert limiter.hit("a") is None
    wait = limiter.hit("a")
    assert wait is not None
    assert limiter.hit("b") is None
    now[0] += wait
    assert limiter.hit("a") is None


def test_checking_a_secret_is_cheap(settings, make_client):
    """Wrong secrets must not make the node spend: a thousand checks of a stored
    hash take well under a second (one scrypt check took tens of milliseconds)."""
    client, _ = make_client("catalog:write")
    key = service.secret_hashing_key(settings)
    started = time.perf_counter()
    for n in range(1000):
        assert not service.check_secret(client.secret_hash, f"x{n}", key)
    assert time.perf_counter() - started < 1.0
