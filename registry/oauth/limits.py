"""How often the token endpoint answers one client id and one address."""

from __future__ import annotations

from starlette.requests import Request

from registry.errors import TooManyRequests
from registry.oauth.server import basic_credentials
from registry.ratelimit import RateLimiter
from registry.settings import Settings


class TokenLimits:
    """Per client id and per address limits of ``POST /oauth/token``: a client that
    guesses secrets, or many clients from one place, are slowed down with 429."""

    def __init__(self, settings: Settings) -> None:
        self.per_client = RateLimiter(settings.token_rate_per_client)
        self.per_address = RateLimiter(settings.token_rate_per_address)

    def check(self, request: Request) -> None:
        address = request.client.host if request.client else "unknown"
        wait = self.per_address.hit(address)
        if wait is not None:
            raise TooManyRequests(
                "too many token requests from this address; retry later",
                headers={"Retry-After": str(wait)},
            )
        credentials = basic_credentials(request.headers.get("authorization"))
        if credentials is not None:
            wait = self.per_client.hit(credentials[0][:128])
            if wait is not None:
                raise TooManyRequests(
                    "too many token requests for this client; retry later",
                    headers={"Retry-After": str(wait)},
                )
