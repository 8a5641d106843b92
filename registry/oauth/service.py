"""OAuth clients: creating, listing and revoking them, and checking their secrets.

Services flush and never commit: the caller's unit of work decides.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from registry.db import utcnow
from registry.errors import NotFound, invalid
from registry.oauth.models import OAuthClient, RevokedToken
from registry.principal import SCOPES
from registry.settings import Settings

# Methods a client may be registered with (RFC 7591 names).
AUTH_METHODS = ("client_secret_basic", "private_key_jwt")

ADMIN_SCOPE = "admin"

# Client secrets are 256 random bits, so nobody guesses them and a slow hash would
# only make every token request (and every wrong guess) expensive for the node. They
# are stored as HMAC-SHA256 under a key kept in the data dir beside the signing keys,
# so the database alone does not even let anyone test a candidate secret. scrypt
# hashes from earlier versions are still verified, and replaced on their next use.
_HMAC = "hmac-sha256"
_KEY_FILE = "client-secret.key"
_KEY_BYTES = 32
_SCRYPT_MAXMEM = 64 * 1024 * 1024


def parse_scopes(scopes: str | Iterable[str], *, field: str = "scope") -> list[str]:
    """Split and check a scope list; every scope must be one this node grants."""
    items = scopes.split() if isinstance(scopes, str) else [s for v in scopes for s in v.split()]
    if not items:
        raise invalid([field], "at least one scope is required")
    unknown = [s for s in items if s not in SCOPES]
    if unknown:
        raise invalid(
            [field],
            f"unknown scope {', '.join(unknown)}; known scopes: {', '.join(SCOPES)}",
        )
    # Keep the caller's order, drop repeats.
    return list(dict.fromkeys(items))


def secret_hashing_key(settings: Settings) -> bytes:
    """The node's key for client secret hashes, made (0600) on first use."""
    return _hashing_key(settings.data_dir.resolve() / _KEY_FILE)


@cache
def _hashing_key(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(_KEY_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # link() never replaces: of two processes starting together, one key wins
            # and both read it.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_bytes()
    if len(key) != _KEY_BYTES:
        raise RuntimeError(f"{path} is not a client secret key ({len(key)} bytes)")
    return key


def hash_secret(secret: str, key: bytes) -> str:
    digest = hmac.new(key, secret.encode("utf-8"), hashlib.sha256).digest()
    return f"{_HMAC}${_b64(digest)}"


def check_secret(secret_hash: str | None, secret: str, key: bytes) -> bool:
    """Does ``secret`` match the stored hash? Compared in constant time."""
    if not secret_hash:
        return False
    scheme, _, rest = secret_hash.partition("$")
    try:
        if scheme == _HMAC:
            return hmac.compare_digest(
                _unb64(hash_secret(secret, key).partition("$")[2]), _unb64(rest)
            )
        if scheme == "scrypt":
            n, r, p, salt, expected = rest.split("$")
            digest = _scrypt(secret, _unb64(salt), int(n), int(r), int(p))
            return hmac.compare_digest(digest, _unb64(expected))
    except ValueError:
        return False
    return False


def needs_rehash(secret_hash: str | None) -> bool:
    return secret_hash is not None and not secret_hash.startswith(_HMAC + "$")


def create_client(
    session: Session,
    *,
    name: str,
    scopes: str | list[str],
    publisher_id: uuid.UUID | None,
    auth_method: str = "client_secret_basic",
    jwks_uri: str | None = None,
    node_id: str | None = None,
    settings: Settings | None = None,
) -> tuple[OAuthClient, str | None]:
    """Register a client. Returns it with its plaintext secret, which is shown
    this once and never stored (None for ``private_key_jwt`` clients, the only ones
    that may be made without ``settings``, which locate the secret hashing key)."""
    scope = " ".join(parse_scopes(scopes))
    name = name.strip()
    if not name:
        raise invalid(["name"], "must not be empty")
    if len(name) > 200:
        raise invalid(["name"], "at most 200 characters")
    if auth_method not in AUTH_METHODS:
        raise invalid(["auth_method"], f"must be one of {', '.join(AUTH_METHODS)}")
    if auth_method == "private_key_jwt" and not jwks_uri:
        raise invalid(["jwks_uri"], "private_key_jwt clients need the URL of their JWKS")
    if jwks_uri is not None and not jwks_uri.startswith(("https://", "http://")):
        raise invalid(["jwks_uri"], "must be an http(s) URL")

    secret: str | None = None
    client = OAuthClient(
        client_id=new_client_id(),
        name=name,
        publisher_id=publisher_id,
        scope=scope,
        auth_method=auth_method,
        jwks_uri=jwks_uri,
        node_id=node_id,
    )
    if auth_method == "client_secret_basic":
        if settings is None:
            raise TypeError("a client_secret_basic client needs the node's settings")
        secret = secrets.token_urlsafe(32)
        client.secret_hash = hash_secret(secret, secret_hashing_key(settings))
    session.add(client)
    session.flush()
    return client, secret


def new_client_id() -> str:
    """144 random bits, URL-safe, never starting with "-": a command line would read
    such an id as an option (``lumbung client revoke -xyz``)."""
    while (client_id := secrets.token_urlsafe(18)).startswith("-"):
        pass
    return client_id


def list_clients(session: Session) -> list[OAuthClient]:
    return list(session.exec(select(OAuthClient).order_by(col(OAuthClient.created_at))).all())


def get_client(session: Session, client_id: str) -> OAuthClient | None:
    return session.exec(select(OAuthClient).where(OAuthClient.client_id == client_id)).first()


def get_active_client(session: Session, client_id: str) -> OAuthClient | None:
    client = get_client(session, client_id)
    return client if client is not None and client.revoked_at is None else None


def revoke_client(session: Session, client_id: str) -> OAuthClient:
    """Revoke a client: it gets no new tokens, and the tokens it holds stop working.
    Revoking a revoked client changes nothing."""
    client = get_client(session, client_id)
    if client is None:
        raise NotFound(f"no OAuth client {client_id!r}")
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        session.add(client)
        session.flush()
    return client


def authenticate_secret(
    session: Session, settings: Settings, client_id: str, secret: str
) -> OAuthClient | None:
    """The active ``client_secret_basic`` client with these credentials, or None. A
    secret still stored under the old scrypt scheme is rehashed once it matched."""
    key = secret_hashing_key(settings)
    client = get_active_client(session, client_id)
    if client is None or client.auth_method != "client_secret_basic":
        # Spend the same time as a real check, so a response's timing does not
        # tell which client ids exist.
        check_secret(_DUMMY_HASH, secret, key)
        return None
    if not check_secret(client.secret_hash, secret, key):
        return None
    if needs_rehash(client.secret_hash):
        client.secret_hash = hash_secret(secret, key)
        session.add(client)
        session.flush()
    return client


def is_admin_client(client: OAuthClient) -> bool:
    return ADMIN_SCOPE in client.scope.split()


def ensure_admin_client(session: Session, settings: Settings) -> tuple[str, str] | None:
    """Create the node's admin client on first start.

    When no active client holds the ``admin`` scope, one is made and its credentials
    are written to ``settings.admin_client_file`` (mode 0600) for the operator.
    Returns ``(client_id, client_secret)`` when it made one, else None.
    """
    active = session.exec(select(OAuthClient).where(col(OAuthClient.revoked_at).is_(None))).all()
    if any(is_admin_client(c) for c in active):
        return None
    client, secret = create_client(
        session,
        name="Node administrator",
        scopes=[ADMIN_SCOPE],
        publisher_id=None,
        settings=settings,
    )
    assert secret is not None
    _write_owner_only(
        settings.admin_client_file,
        {
            "client_id": client.client_id,
            "client_secret": secret,
            "token_url": f"{settings.issuer}/oauth/token",
            "issuer": settings.issuer,
        },
    )
    return client.client_id, secret


def record_revoked_token(session: Session, jti: str, expires_at: float) -> None:
    """Remember a revoked access token until it would have expired anyway."""
    # Forget tokens that have expired since: they fail verification on their own.
    session.execute(sa.delete(RevokedToken).where(col(RevokedToken.expires_at) < utcnow()))
    values = {"jti": jti, "expires_at": datetime.fromtimestamp(expires_at, UTC)}
    # Two revocations of one token may race; the second simply finds it done.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(RevokedToken).values(values).on_conflict_do_nothing())
    session.flush()


def is_token_revoked(session: Session, jti: str) -> bool:
    return session.get(RevokedToken, jti) is not None


def _write_owner_only(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# Compared against for unknown client ids; no secret hashes to it.
_DUMMY_HASH = f"{_HMAC}${_b64(bytes(32))}"
