"""``private_key_jwt`` (RFC 7523) client authentication for peer nodes at the token
endpoint. The authorization server calls ``authenticate_assertion``; everything it
checks is in ``registry.federation.signing.verify``."""

from __future__ import annotations

from collections.abc import Mapping

from authlib.oauth2.rfc6749 import InvalidClientError
from sqlmodel import Session, select

from registry.db import Bind, session_scope
from registry.errors import Unauthorized
from registry.federation.signing import ASSERTION_TYPE, refresh_keys, unverified_parts, verify
from registry.oauth.models import OAuthClient
from registry.oauth.service import get_active_client
from registry.peers import Peer
from registry.settings import Settings


def _refuse(description: str) -> InvalidClientError:
    # RFC 6749 §5.2 allows 401 for invalid_client; every refused assertion gets it.
    # Descriptions hold printable ASCII only, without quotes.
    clean = "".join(c if 0x20 <= ord(c) <= 0x7E and c not in "\"\\'" else "?" for c in description)
    return InvalidClientError(status_code=401, description=clean[:200])


def authenticate_assertion(
    session: Session, settings: Settings, form: Mapping[str, str]
) -> OAuthClient | None:
    """The peer client a valid client assertion stands for; None if the request
    carries no assertion; ``InvalidClientError`` (401) for any bad one."""
    assertion = form.get("client_assertion")
    if not assertion:
        return None
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise _refuse(f"client_assertion_type must be {ASSERTION_TYPE}")
    try:
        _, claims = unverified_parts(assertion)
        client_id = claims.get("sub")
        if not isinstance(client_id, str) or claims.get("iss") != client_id:
            raise Unauthorized("iss and sub must both be the client id")
        if form.get("client_id") not in (None, client_id):
            raise Unauthorized("client_id does not match the assertion")
        client = get_active_client(session, client_id)
        if client is None or client.auth_method != "private_key_jwt" or not client.node_id:
            raise Unauthorized("no peer client with this id")
        peer = session.exec(select(Peer).where(Peer.node_id == client.node_id)).first()
        if peer is None or peer.jwks_uri != client.jwks_uri:
            raise Unauthorized("the client's node is not a peer with this key set")
        verify(session, assertion, settings=settings, peer=peer, issuer=client_id)
    except Unauthorized as exc:
        raise _refuse(exc.detail or "invalid client assertion") from None
    return client


def refresh_assertion_keys(bind: Bind, settings: Settings, form: Mapping[str, str]) -> None:
    """Before the token request's transaction begins, fetch the keys of the peer whose
    client the assertion names, if its ``kid`` needs it (see ``refresh_keys``). Anything
    wrong with the assertion is left for ``authenticate_assertion`` to refuse."""
    assertion = form.get("client_assertion")
    if not assertion:
        return
    try:
        header, claims = unverified_parts(assertion)
    except Unauthorized:
        return
    client_id, kid = claims.get("sub"), header.get("kid")
    if not isinstance(client_id, str) or not isinstance(kid, str) or not kid:
        return
    with session_scope(bind, write=False) as session:
        client = get_active_client(session, client_id)
        node_id = client.node_id if client is not None else None
    if node_id:
        refresh_keys(bind, node_id, kid, settings.fetch_allow)
