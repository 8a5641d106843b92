"""``lumbung client …``: the OAuth clients of the node, shown and created by the code of
the publisher they act for. Above ``registry.oauth`` (which keeps the clients) because
it reads the catalog's publishers."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import typer
from sqlmodel import Session, col, select

from registry.catalog.models import Publisher
from registry.console import (
    JSON_HELP,
    commands,
    fail,
    iso_seconds,
    operator_session,
    out,
    settings_or_exit,
    to_minute,
)
from registry.console import table as console_table
from registry.errors import LumbungError
from registry.oauth import service
from registry.oauth.models import OAuthClient

client_app = commands("OAuth clients: the service accounts publishers and CI pipelines use.")

# Scopes that act on behalf of one publisher, so a client holding them needs one.
PUBLISHER_SCOPES = frozenset({"catalog:write", "sharing:write"})


def _client_json(client: OAuthClient, publisher_code: str | None) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "publisher": publisher_code,
        "scope": client.scope,
        "auth_method": client.auth_method,
        "node_id": client.node_id,
        "created_at": iso_seconds(client.created_at),
        "revoked_at": iso_seconds(client.revoked_at) or None,
    }


@client_app.command("add")
def add_client(
    scope: Annotated[
        str, typer.Option("--scope", help='Space-separated scopes, e.g. "catalog:write".')
    ],
    publisher: Annotated[
        str | None,
        typer.Option("--publisher", help="Code of the publisher the client acts for."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label for people.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a client and print its id and secret (shown this once only)."""
    settings = settings_or_exit()
    try:
        scopes = service.parse_scopes(scope)
    except LumbungError as exc:
        fail(str(exc))
    if publisher is None and PUBLISHER_SCOPES.intersection(scopes):
        fail(
            f"the scopes {' '.join(sorted(PUBLISHER_SCOPES.intersection(scopes)))} act for a "
            "publisher: give --publisher CODE"
        )
    with operator_session(settings) as session:
        publisher_id: uuid.UUID | None = None
        if publisher is not None:
            publisher_id = _publisher_id(session, publisher)
        label = name or (f"{publisher} service account" if publisher else "service account")
        client, secret = service.create_client(
            session, name=label, scopes=scopes, publisher_id=publisher_id, settings=settings
        )
    token_url = f"{settings.issuer}/oauth/token"
    if as_json:
        typer.echo(
            json.dumps(
                {
                    **_client_json(client, publisher),
                    "client_secret": secret,
                    "token_url": token_url,
                },
                indent=2,
            )
        )
        return
    out.print(f"Created client [bold]{client.name}[/bold] with scope {client.scope}")
    out.print(f"client_id:     {client.client_id}", highlight=False)
    out.print(f"client_secret: {secret}", highlight=False)
    out.print(f"token URL:     {token_url}", highlight=False)
    out.print("[yellow]Store the secret now: it is not shown again.[/yellow]")


@client_app.command("list")
def list_clients(
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """List every client, active and revoked."""
    settings = settings_or_exit()
    with operator_session(settings) as session:
        clients = service.list_clients(session)
        ids = {c.publisher_id for c in clients if c.publisher_id is not None}
        codes = {
            p.id: p.code
            for p in session.exec(select(Publisher).where(col(Publisher.id).in_(ids))).all()
        }
    rows = [_client_json(c, codes.get(c.publisher_id) if c.publisher_id else None) for c in clients]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        out.print("No clients yet. Create one with `lumbung client add`.")
        return
    table = console_table(
        "client_id", "name", "publisher / peer", "scope", "auth", "created", "status"
    )
    for client, row in zip(clients, rows, strict=True):
        status = f"revoked {to_minute(client.revoked_at)}" if client.revoked_at else "active"
        table.add_row(
            client.client_id,
            client.name,
            row["publisher"] or client.node_id or "",
            client.scope,
            client.auth_method,
            to_minute(client.created_at),
            status,
        )
    out.print(table)


@client_app.command("revoke")
def revoke_client(
    client_id: Annotated[str, typer.Argument(help="The client_id to revoke.")],
) -> None:
    """Revoke a client: it gets no new tokens and its current tokens stop working."""
    settings = settings_or_exit()
    with operator_session(settings) as session:
        already = (found := service.get_client(session, client_id)) is not None and (
            found.revoked_at is not None
        )
        client = service.revoke_client(session, client_id)
    if already:
        out.print(
            f"Client {client.client_id} was already revoked on {iso_seconds(client.revoked_at)}."
        )
    else:
        out.print(
            f"Revoked client {client.client_id} ({client.name}); its tokens stop working now."
        )


def _publisher_id(session: Session, code: str) -> uuid.UUID:
    publisher = session.exec(
        select(Publisher).where(Publisher.code == code, col(Publisher.deleted_at).is_(None))
    ).first()
    if publisher is None:
        fail(f"no publisher with code {code!r} on this node")
    return publisher.id
