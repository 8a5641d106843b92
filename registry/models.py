"""Imports every table module so that ``SQLModel.metadata`` knows all tables
(Alembic's autogenerate and ``alembic check`` read it)."""

from registry.catalog.models import App, Dataset, Distribution, Publisher, Release
from registry.db import ChangeCounter
from registry.idempotency import IdempotencyRecord
from registry.oauth.models import OAuthClient, RevokedToken

__all__ = [
    "App",
    "ChangeCounter",
    "Dataset",
    "Distribution",
    "IdempotencyRecord",
    "OAuthClient",
    "Publisher",
    "Release",
    "RevokedToken",
]
