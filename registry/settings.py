"""Node configuration, read once from ``LUMBUNG_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AnyHttpUrl, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


class Settings(BaseSettings):
    """Everything a node can be told from the outside.

    Each field is read from the environment variable ``LUMBUNG_<NAME>``; see
    ``docs/configuration.md`` for the operator's view of the same list.
    """

    model_config = SettingsConfigDict(env_prefix="LUMBUNG_", extra="ignore", frozen=True)

    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Where the SQLite database, signing keys, uploads and admin credentials live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to a SQLite file in the data dir. "
        "For PostgreSQL: postgresql+psycopg://user@host/dbname",
    )
    base_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("http://127.0.0.1:8000"),
        description="The public URL of this node: its identity, the OAuth issuer and the "
        "prefix of every global id.",
    )
    node_name: str = Field(default="Lumbung node", min_length=1, max_length=200)
    access_token_lifetime: Annotated[int, Field(ge=30, le=300)] = Field(
        default=300, description="Seconds an access token stays valid (30 to 300)."
    )
    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = Field(
        default=1024 * 1024, description="Largest JSON request body accepted, in bytes."
    )
    max_upload_bytes: Annotated[int, Field(ge=1024)] = Field(
        default=512 * 1024 * 1024, description="Largest uploaded artifact, in bytes."
    )
    token_rate_per_client: Annotated[int, Field(ge=0)] = Field(
        default=60,
        description="Token requests a client id may make per minute (0: no limit); more "
        "get 429 with Retry-After.",
    )
    token_rate_per_address: Annotated[int, Field(ge=0)] = Field(
        default=600,
        description="Token requests one network address may make per minute (0: no limit).",
    )
    header_timeout: Annotated[float, Field(gt=0, le=300)] = Field(
        default=10.0,
        description="Seconds a client has to send a request's line and headers; a slower "
        "connection is closed.",
    )
    body_timeout: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=30.0,
        description="Seconds the node waits for each next piece of a request body; a "
        "client that stalls longer gets 408.",
    )
    keep_alive_timeout: Annotated[int, Field(ge=1, le=300)] = Field(
        default=5, description="Seconds an idle keep-alive connection stays open."
    )
    api_cache_bytes: Annotated[int, Field(ge=0, le=4 * 1024 * 1024 * 1024)] = Field(
        default=64 * 1024 * 1024,
        description="Memory for /api/v1 answers and catalog pages of the anonymous view kept "
        "until the catalog changes, in bytes; 0 turns the cache off.",
    )
    default_page_size: Annotated[int, Field(ge=1, le=200)] = 50
    max_page_size: Annotated[int, Field(ge=1, le=200)] = 200
    sync_interval: Annotated[int, Field(ge=0)] = Field(
        default=0, description="Seconds between background pulls from peers; 0 turns it off."
    )
    demo: bool = Field(default=False, description="Load the demo catalog on first start.")
    fetch_allow: list[str] = Field(
        default_factory=list,
        description="Hosts or networks (CIDR) that imports and harvests may reach although "
        'they are not public, as JSON: ["10.1.2.0/24", "ckan.internal"]. Empty: public only.',
    )
    fetch_max_bytes: Annotated[int, Field(ge=1024)] = Field(
        default=1024 * 1024, description="Largest publiccode.yml fetched by URL, in bytes."
    )
    harvest_tick: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="Seconds between checks for CKAN sources due a harvest (each source has "
        "its own interval); 0 turns the background harvester off.",
    )
    fetch_timeout: Annotated[float, Field(gt=0, le=120)] = Field(
        default=10.0, description="Seconds a fetch of a remote document may take in all."
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        return value

    @property
    def issuer(self) -> str:
        """The node id: its base URL without a trailing slash."""
        return str(self.base_url).rstrip("/")

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'lumbung.db').resolve()}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def admin_client_file(self) -> Path:
        return self.data_dir / "admin-client.json"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"


class SettingsError(Exception):
    """A ``LUMBUNG_*`` variable holds a value the node cannot run with."""


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "LUMBUNG_" + str(error["loc"][0]).upper() if error["loc"] else "LUMBUNG_*"
            lines.append(f"{name}: {error['msg']} (got {error.get('input')!r})")
        raise SettingsError("; ".join(lines)) from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
