"""``lumbung peer``, ``lumbung partnership``, ``lumbung adoption`` and ``lumbung sync``."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.progress import TaskID

from registry.console import (
    JsonFlag,
    commands,
    err,
    fail,
    node_engine,
    out,
    print_rows,
    progress_bar,
    settings_or_exit,
)
from registry.db import session_scope
from registry.errors import LumbungError
from registry.federation import outbox, peers
from registry.federation.signing import thumbprints
from registry.oauth.keys import KeyStore
from registry.principal import Principal
from registry.sharing import schemas, service
from registry.sharing.lifecycle import Action
from registry.sharing.models import AdoptionStatus

peer_app = commands("Peer nodes this node trusts.")
partnership_app = commands("Partnerships between local publishers and publishers on peer nodes.")
adoption_app = commands("Apps your publishers use.")

# The CLI runs as the node's operator.
OPERATOR = Principal(client_id="lumbung-cli", scopes=frozenset({"admin"}))


# --- peers ---------------------------------------------------------------------------


@peer_app.command("add")
def peer_add(
    url: Annotated[str, typer.Argument(help="The peer's base URL, e.g. https://lumbung.example")],
    yes: Annotated[bool, typer.Option("--yes", help="Trust the keys without asking.")] = False,
) -> None:
    """Fetch a node's metadata and keys, show the key thumbprints to confirm with the
    peer's operator, and trust it."""
    settings = settings_or_exit()
    try:
        metadata, jwks = peers.discover(url, settings)
    except LumbungError as exc:
        fail(str(exc.detail or exc))
    out.print(f"Node      [bold]{metadata.node_id}[/bold] — {metadata.name}")
    out.print(
        f"Software  {metadata.software.get('name', '?')} {metadata.software.get('version', '')}"
    )
    out.print(f"Publishers {', '.join(p.code for p in metadata.publishers) or '(none)'}")
    out.print(f"JWKS      {metadata.jwks_uri}")
    out.print("Key thumbprints (RFC 7638) — confirm them with the peer's operator:")
    for thumb in thumbprints(jwks):
        out.print(f"  [bold]{thumb}[/bold]")
    if not yes and not typer.confirm("Trust this node?", default=False):
        fail("not added")
    with session_scope(node_engine(settings)) as session:
        peer = peers.add_peer(session, metadata, jwks)
        out.print(f"peer {peer.node_id} added")


@peer_app.command("list")
def peer_list(as_json: JsonFlag = False) -> None:
    """Peers and how their sync stands."""
    settings = settings_or_exit()
    with session_scope(node_engine(settings), write=False) as session:
        refused = peers.refused_notices(session)
        rows = [peers.peer_status(p, refused.get(p.node_id, 0)) for p in peers.list_peers(session)]
    print_rows(
        rows,
        as_json,
        {
            "node": "node_id",
            "name": "name",
            "items": lambda row: str(row["items"]),
            "last success": lambda row: str(row["last_success_at"] or "never"),
            "lag (s)": lambda row: str(
                row["lag_seconds"] if row["lag_seconds"] is not None else ""
            ),
            "last error": lambda row: (row["last_error"] or "")[:80],
            "refused notices": lambda row: str(row["refused_notices"] or ""),
        },
    )


@peer_app.command("remove")
def peer_remove(url: Annotated[str, typer.Argument()]) -> None:
    """Forget a peer and withdraw its mirrors."""
    settings = settings_or_exit()
    try:
        with session_scope(node_engine(settings)) as session:
            removed = peers.remove_peer(session, peers.get_peer(session, url))
    except LumbungError as exc:
        fail(str(exc.detail or exc))
    out.print(f"peer removed; {removed} mirrored items withdrawn")


# --- partnerships ----------------------------------------------------------------------


@partnership_app.command("request")
def partnership_request(
    publisher: Annotated[str, typer.Option(help="Code of the local publisher that asks.")],
    peer: Annotated[str, typer.Option(help="Base URL of the partner's node.")],
    partner: Annotated[str, typer.Option(help="Code of the publisher on that node.")],
    reference: Annotated[str | None, typer.Option(help="e.g. the agreement's number")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD")] = None,
) -> None:
    """Ask a publisher on a peer node for a partnership; prints its id."""
    settings = settings_or_exit()
    try:
        request_in = schemas.PartnershipRequest(
            publisher=publisher,
            peer=peer.rstrip("/"),
            partner=partner,
            reference=reference,
            until=date.fromisoformat(until) if until else None,
        )
    except (ValidationError, ValueError) as exc:
        fail(str(exc))
    keys = KeyStore.open(settings.keys_dir)
    try:
        partnership_id = service.request_partnership(
            node_engine(settings), settings, keys, OPERATOR, request_in
        )
    except LumbungError as exc:
        fail(str(exc.detail or exc))
    out.print(str(partnership_id))


@partnership_app.command("list")
def partnership_list(as_json: JsonFlag = False) -> None:
    """Every partnership of this node's publishers."""
    from registry.sharing.views import partnerships_public

    settings = settings_or_exit()
    engine = node_engine(settings)
    with session_scope(engine) as session:
        service.expire_due(session)
    with session_scope(engine, write=False) as session:
        page = service.list_partnerships(session, OPERATOR, limit=10_000, cursor=None)
        rows = [p.model_dump(mode="json") for p in partnerships_public(session, page.items)]
    print_rows(
        rows,
        as_json,
        {
            "id": "id",
            "publisher": "publisher",
            "partner": "partner_code",
            "node": "peer_node_id",
            "direction": "direction",
            "status": "status",
            "until": lambda row: row["valid_until"] or "",
        },
    )


def _decide(partnership_id: str, action: Action) -> None:
    settings = settings_or_exit()
    engine = node_engine(settings)
    try:
        ident = uuid.UUID(partnership_id)
    except ValueError:
        fail(f"{partnership_id!r} is not a partnership id")
    try:
        with session_scope(engine) as session:
            partnership = service.get_partnership(session, OPERATOR, ident)
            service.decide(session, OPERATOR, partnership, action)
            node_id, new_status = partnership.peer_node_id, partnership.status.value
    except LumbungError as exc:
        fail(str(exc.detail or exc))
    out.print(f"partnership {ident} is now {new_status}")
    # Tell the other node now; if it is unreachable the notice waits in the outbox.
    keys = KeyStore.open(settings.keys_dir)
    if not outbox.drain(engine, settings, keys, node_id):
        out.print(f"{node_id} will be told on the next sync")


@partnership_app.command("approve")
def partnership_approve(partnership_id: Annotated[str, typer.Argument()]) -> None:
    """Approve a request made to one of this node's publishers."""
    _decide(partnership_id, "approve")


@partnership_app.command("reject")
def partnership_reject(partnership_id: Annotated[str, typer.Argument()]) -> None:
    """Reject a request made to one of this node's publishers."""
    _decide(partnership_id, "reject")


@partnership_app.command("withdraw")
def partnership_withdraw(partnership_id: Annotated[str, typer.Argument()]) -> None:
    """Withdraw a request one of this node's publishers made, before it is decided."""
    _decide(partnership_id, "withdraw")


@partnership_app.command("revoke")
def partnership_revoke(partnership_id: Annotated[str, typer.Argument()]) -> None:
    """End an active partnership (either side); the partner's node drops the items it
    showed on its next sync."""
    _decide(partnership_id, "revoke")


# --- adoptions -----------------------------------------------------------------------


@adoption_app.command("add")
def adoption_add(
    publisher: Annotated[str, typer.Option(help="Code of the local publisher that uses it.")],
    app: Annotated[str, typer.Option(help="Id of the app (local or mirrored).")],
    status: Annotated[AdoptionStatus, typer.Option()] = AdoptionStatus.evaluating,
    version: Annotated[str | None, typer.Option()] = None,
    url: Annotated[str | None, typer.Option(help="Where it is deployed")] = None,
    since: Annotated[str | None, typer.Option(help="Start date, YYYY-MM-DD")] = None,
) -> None:
    """Record that a publisher uses an app; prints the adoption's id."""
    settings = settings_or_exit()
    try:
        adoption_in = schemas.AdoptionCreate(
            app_id=uuid.UUID(app),
            publisher=publisher,
            status=status,
            version=version,
            deployment_url=url,
            started_on=date.fromisoformat(since) if since else None,
        )
    except (ValidationError, ValueError) as exc:
        fail(str(exc))
    engine = node_engine(settings)
    try:
        with session_scope(engine) as session:
            adoption = service.create_adoption(session, OPERATOR, adoption_in)
            adoption_id = adoption.id
    except LumbungError as exc:
        fail(str(exc.detail or exc))
    out.print(str(adoption_id))
    outbox.drain(engine, settings, KeyStore.open(settings.keys_dir))


@adoption_app.command("list")
def adoption_list(
    app: Annotated[str | None, typer.Option(help="Only this app's")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Adoptions on this node and its peers. Your publishers' adoptions of apps no
    longer shared with them (the partnership ended) are listed too, marked so."""
    from registry.sharing.views import adoptions_public

    settings = settings_or_exit()
    app_id = uuid.UUID(app) if app else None
    with session_scope(node_engine(settings), write=False) as session:
        page = service.list_adoptions(session, OPERATOR, app_id=app_id, limit=10_000, cursor=None)
        unshared = service.unshared_own_adoptions(session, app_id)
        rows = [
            {**a.model_dump(mode="json"), "shared": shared}
            for items, shared in ((page.items, True), (unshared, False))
            for a in adoptions_public(settings, items)
        ]
    print_rows(
        rows,
        as_json,
        {
            "id": "id",
            "app": "app_id",
            "adopter": "adopter_code",
            "node": "adopter_node",
            "status": lambda row: (
                row["status"] if row["shared"] else f"{row['status']} (app no longer shared)"
            ),
            "version": lambda row: row["version"] or "",
        },
    )


# --- sync ----------------------------------------------------------------------------


def sync(
    peer: Annotated[str | None, typer.Argument(help="Only this peer (its base URL).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Pull the change feed of every peer (or one) into this node's mirrors, and send
    the notices waiting in the outbox."""
    from registry.federation.errors import LeaseBusy
    from registry.federation.pull import Progress as SyncProgress
    from registry.federation.sync import sync_peer

    settings = settings_or_exit()
    engine = node_engine(settings)
    keys = KeyStore.open(settings.keys_dir)
    with session_scope(engine, write=False) as session:
        if peer is not None:
            try:
                targets = [peers.get_peer(session, peer).node_id]
            except LumbungError as exc:
                fail(str(exc.detail or exc))
        else:
            targets = [p.node_id for p in peers.list_peers(session)]
    failed = False
    with progress_bar("{task.description}", quiet=quiet) as bar:
        for node_id in targets:
            task = bar.add_task(node_id, total=None)

            def start(_node: str, total: int, task: TaskID = task) -> None:
                bar.update(task, total=total)

            def advance(done: int, remaining: int, task: TaskID = task) -> None:
                bar.update(task, completed=done, total=done + remaining)

            progress = SyncProgress(start=start, advance=advance)
            try:
                result = sync_peer(engine, settings, keys, node_id, progress=progress)
            except LeaseBusy as exc:
                err.print(f"[yellow]skipped:[/yellow] {exc}")
                continue
            if result.error:
                failed = True
                err.print(f"[red]{node_id}:[/red] {result.error}", highlight=False)
            else:
                out.print(
                    f"{node_id}: {result.upserts} upserts, {result.deletes} deletes, "
                    f"{result.items} items mirrored ({result.mode})"
                )
    outbox.drain(engine, settings, keys)
    if failed:
        raise typer.Exit(1)
