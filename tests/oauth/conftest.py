"""Fixtures for the authorization server's tests."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from sqlmodel import Session

from registry.oauth.models import OAuthClient
from registry.oauth.service import create_client
from registry.settings import Settings


def basic(client_id: str, secret: str) -> dict[str, str]:
    """HTTP Basic client authentication headers (RFC 6749 §2.3.1)."""
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


@pytest.fixture
def make_client(session: Session, settings: Settings) -> Callable[..., tuple[OAuthClient, str]]:
    """``make_client("catalog:write sharing:write")`` → a committed client and its secret."""

    def make(scope: str = "catalog:write", **fields: object) -> tuple[OAuthClient, str]:
        fields.setdefault("name", "test client")
        fields.setdefault("publisher_id", None)
        fields.setdefault("settings", settings)
        client, secret = create_client(session, scopes=scope, **fields)  # type: ignore[arg-type]
        session.commit()
        assert secret is not None
        return client, secret

    return make
