"""Imports every table module so that ``SQLModel.metadata`` knows all tables
(Alembic's autogenerate and ``alembic check`` read it)."""

from registry.catalog.models import App, Dataset, Distribution, Publisher, Release
from registry.db import ChangeCounter
from registry.federation.models import SeenAssertion
from registry.formats.models import HarvestRecord, HarvestRun, HarvestSource
from registry.idempotency import IdempotencyRecord
from registry.oauth.models import OAuthClient, RevokedToken
from registry.outbox import OutboxMessage
from registry.peers import Peer
from registry.search.glossary import GlossaryTerm
from registry.search.models import SearchDocument, SearchTerm
from registry.sharing.models import Adoption, Partnership

__all__ = [
    "Adoption",
    "App",
    "ChangeCounter",
    "Dataset",
    "GlossaryTerm",
    "Distribution",
    "HarvestRecord",
    "HarvestRun",
    "HarvestSource",
    "IdempotencyRecord",
    "OAuthClient",
    "OutboxMessage",
    "Partnership",
    "Peer",
    "Publisher",
    "Release",
    "RevokedToken",
    "SearchDocument",
    "SearchTerm",
    "SeenAssertion",
]
