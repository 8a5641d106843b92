"""The ``lumbung`` command: run a node and administer it.

Every command reads the same ``LUMBUNG_*`` settings as ``serve``, so the CLI always
works on the node's own database.
"""

from __future__ import annotations

import gc
import json
import sys
from typing import Annotated

import sqlalchemy as sa
import typer
from sqlmodel import select

from registry import migrate
from registry.catalog import schemas, service
from registry.catalog.cli import client_app
from registry.catalog.models import Publisher, PublisherKind
from registry.console import (
    JsonFlag,
    NodeCommands,
    commands,
    fail,
    operator_session,
    out,
    settings_or_exit,
)
from registry.console import table as console_table
from registry.db import create_db_engine, session_scope
from registry.federation.cli import adoption_app, partnership_app, peer_app
from registry.federation.cli import sync as sync_command
from registry.formats.cli import export_app, harvest_app, import_app
from registry.oauth.cli import keys_app
from registry.querying import live
from registry.search.cli import search_app
from registry.startup import start

app = typer.Typer(
    cls=NodeCommands,
    help="Lumbung: a federated registry of e-government apps and datasets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
db_app = commands("Database migrations.")
publisher_app = commands("Publishers hosted on this node.")
app.add_typer(db_app, name="db")
app.add_typer(publisher_app, name="publisher")
artifacts_app = commands("Files uploaded to releases.")
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(client_app, name="client")
app.add_typer(keys_app, name="keys")
app.add_typer(peer_app, name="peer")
app.add_typer(partnership_app, name="partnership")
app.add_typer(adoption_app, name="adoption")
app.add_typer(search_app, name="search")
app.command("sync")(sync_command)
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(harvest_app, name="harvest")


def redacted(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool | None,
        typer.Option("--demo/--no-demo", help="Load the demo catalog if the node is empty."),
    ] = None,
) -> None:
    """Migrate the database, prepare keys and the admin client, then serve the node."""
    from registry import serving
    from registry.app import create_app
    from registry.oauth.service import ensure_admin_client
    from registry.search import glossary
    from registry.search import service as search_service
    from registry.web.render import compile_templates

    settings = settings_or_exit()
    if "base_url" not in settings.model_fields_set:
        # Without an explicit LUMBUNG_BASE_URL the node is known by where it listens.
        settings = settings.model_copy(update={"base_url": f"http://{host}:{port}"})
    out.print(f"Lumbung node [bold]{settings.issuer}[/bold]")
    out.print(f"  data dir : {settings.data_dir.resolve()}")
    out.print(f"  database : {redacted(settings.sqlalchemy_url)}")
    try:
        migrate.upgrade(settings)
    except sa.exc.OperationalError as exc:
        fail(f"cannot reach the database: {exc.orig}")
    engine = create_db_engine(settings)
    with session_scope(engine) as session:
        admin = ensure_admin_client(session, settings)
        loaded = False
        if demo if demo is not None else settings.demo:
            from registry.demo import load_demo

            loaded = load_demo(session)
        # Built now, and frozen with the rest by ``serving.settle``, rather than by the
        # first search: stemming every phrase of the glossary takes tens of ms.
        glossary.for_node(session)
    # So are each kind of search's and each template's first run, outside the writing
    # transaction above: SQLite's write lock is not held while they run.
    with session_scope(engine, write=False) as session:
        search_service.warm(session)
    compile_templates()
    if admin is not None:
        out.print(f"  admin    : new admin client written to {settings.admin_client_file}")
    else:
        out.print(f"  admin    : credentials in {settings.admin_client_file}")
    if loaded:
        out.print("  demo     : demo catalog loaded (marked as demo data)")
    out.print(f"  catalog  : http://{host}:{port}/")
    out.print(f"  API docs : http://{host}:{port}/docs   (OpenAPI: /openapi.json)")
    serving.run(create_app(settings, engine=engine), settings, host=host, port=port)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = settings_or_exit()
    migrate.upgrade(settings, revision)
    out.print(f"database at {migrate.current_revision(create_db_engine(settings))}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="e.g. -1 or base")]) -> None:
    """Revert migrations down to REVISION."""
    settings = settings_or_exit()
    migrate.downgrade(settings, revision)
    out.print(f"database at {migrate.current_revision(create_db_engine(settings)) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's migration and whether it is the newest."""
    settings = settings_or_exit()
    current = migrate.current_revision(create_db_engine(settings))
    head = migrate.head_revision(settings)
    state = "up to date" if current == head else f"behind (newest is {head})"
    out.print(f"{current or 'base'} — {state}")


@publisher_app.command("add")
def publisher_add(
    code: Annotated[str, typer.Argument(help="Stable slug, e.g. kab-banyuwangi")],
    name: Annotated[str, typer.Option(help="Full name, e.g. 'Kabupaten Banyuwangi'")],
    kind: Annotated[PublisherKind, typer.Option(help="What kind of organisation")] = (
        PublisherKind.city
    ),
    region_code: Annotated[
        str | None, typer.Option(help="Kemendagri region code, e.g. 35.10")
    ] = None,
    website: Annotated[str | None, typer.Option()] = None,
    email: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Register a publisher hosted on this node."""
    from pydantic import ValidationError

    settings = settings_or_exit()
    try:
        publisher_in = schemas.PublisherCreate(
            code=code, name=name, kind=kind, region_code=region_code, website=website, email=email
        )
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    with operator_session(settings) as session:
        publisher = service.create_publisher(session, publisher_in)
        out.print(f"publisher {publisher.code} added (id {publisher.id})")


@publisher_app.command("list")
def publisher_list(as_json: JsonFlag = False) -> None:
    """List the publishers hosted on this node."""
    settings = settings_or_exit()
    with operator_session(settings, write=False) as session:
        rows = session.exec(select(Publisher).where(live(Publisher)).order_by(Publisher.code)).all()
    if as_json:
        payload = [
            {"id": str(p.id), "code": p.code, "name": p.name, "kind": p.kind.value,
             "region_code": p.region_code}
            for p in rows
        ]  # fmt: skip
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    table = console_table("code", "name", "kind", "region", "id")
    for p in rows:
        table.add_row(p.code, p.name, p.kind.value, p.region_code or "", str(p.id))
    out.print(table)


@artifacts_app.command("prune")
def artifacts_prune(
    older_than: Annotated[
        int, typer.Option(help="Leave files younger than this many seconds.", min=0)
    ] = 3600,
) -> None:
    """Delete stored files no live release lists any more (and leftovers of interrupted
    uploads). Run it from time to time, e.g. daily from cron."""
    from registry.catalog import artifacts

    settings = settings_or_exit()
    with operator_session(settings, write=False) as session:
        files, freed = artifacts.prune(session, settings, older_than=older_than)
    out.print(f"removed {files} file(s), {freed / 1_000_000:.1f} MB freed")


def main() -> None:
    start()
    tune_gc()
    app()


def tune_gc() -> None:
    """Fit CPython's cycle collector to a node's work.

    A feed page or a synced page allocates hundreds of thousands of short-lived
    objects (rows, validated models); at the default threshold of 700 the collector
    runs hundreds of times per page, and each pass walks every object that survived
    so far: on a full sync that cost as much as the work itself. What is imported by
    now lives as long as the process, so it is frozen out of the walks, and the young
    generation is collected every 50,000 allocations (a few MB) instead.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


if __name__ == "__main__":
    main()
