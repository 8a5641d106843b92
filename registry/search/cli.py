"""``lumbung search``: rebuild the index, query it, and manage this node's glossary."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from sqlmodel import Session, select

from registry.console import (
    fail,
    node_engine,
    operator_session,
    out,
    progress_bar,
    settings_or_exit,
)
from registry.console import table as console_table
from registry.db import take_change_seqs
from registry.search import index, service
from registry.search.glossary import GlossaryTerm, shipped

search_app = typer.Typer(help="The search index and its glossary.", no_args_is_help=True)
glossary_app = typer.Typer(help="Terms that translate queries.", no_args_is_help=True)
search_app.add_typer(glossary_app, name="glossary")


@search_app.command("reindex")
def reindex(
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Rebuild the search index from the catalog (searches keep using the old index
    until the new one is complete)."""
    settings = settings_or_exit()
    engine = node_engine(settings)
    began = time.perf_counter()
    try:
        with progress_bar("indexing", quiet=quiet) as bar:
            task = bar.add_task("indexing", total=None)
            count = index.reindex(
                engine,
                start=lambda total: bar.update(task, total=total),
                advance=lambda n: bar.advance(task, n),
            )
    finally:
        engine.dispose()
    out.print(f"indexed {count} items in {time.perf_counter() - began:.1f} s")


@search_app.command("query")
def query(
    text: Annotated[str, typer.Argument(help="What to look for.")],
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Search the catalog as an anonymous reader would (to check the index)."""
    settings = settings_or_exit()
    with operator_session(settings, write=False) as session:
        result = service.search(session, None, service.SearchQuery(q=text), limit=limit)
        rows = [
            {
                "kind": hit.kind,
                "publisher": hit.publisher.code,
                "slug": hit.item.slug,
                "score": round(hit.score, 6),
            }
            for hit in result.hits
        ]
    if as_json:
        out.print_json(
            json.dumps({"items": rows, "total": result.total, "did_you_mean": result.did_you_mean})
        )
        return
    if result.did_you_mean:
        out.print(f"results for: {result.did_you_mean}", highlight=False)
    listing = console_table("kind", "publisher", "slug", "score")
    for row in rows:
        listing.add_row(*(str(row[k]) for k in ("kind", "publisher", "slug", "score")))
    out.print(listing)
    out.print(f"{result.total} matches")


def answers_changed(session: Session) -> None:
    """Move the catalog's version: the glossary changes what searches find without
    changing a catalog row, and answers kept for the anonymous view
    (``registry.viewcache``) are given again only while the version stays the same."""
    take_change_seqs(session, 1)


@glossary_app.command("add")
def glossary_add(
    indonesian: Annotated[str, typer.Option("--id", help="Indonesian terms, ';' between")],
    english: Annotated[str, typer.Option("--en", help="English terms, ';' between")],
    source: Annotated[str, typer.Option(help="Where the pairing comes from")],
) -> None:
    """Add a pairing of terms that queries are expanded with, on this node."""
    for name, value in (("--id", indonesian), ("--en", english), ("--source", source)):
        if not value.strip() or len(value) > 500:
            fail(f"{name} must be 1 to 500 characters")
    settings = settings_or_exit()
    with operator_session(settings) as session:
        term = GlossaryTerm(indonesian=indonesian, english=english, source=source)
        session.add(term)
        session.flush()
        answers_changed(session)
        out.print(f"added {term.id}")


@glossary_app.command("remove")
def glossary_remove(term_id: Annotated[str, typer.Argument(help="The id `list` shows")]) -> None:
    """Remove a pairing this node added."""
    settings = settings_or_exit()
    with operator_session(settings) as session:
        found = session.exec(select(GlossaryTerm).where(GlossaryTerm.id == _uuid(term_id))).first()
        if found is None:
            fail(f"no glossary term {term_id} on this node")
        session.delete(found)
        answers_changed(session)
    out.print(f"removed {term_id}")


@glossary_app.command("list")
def glossary_list(
    shipped_too: Annotated[bool, typer.Option("--all", help="Also the shipped terms")] = False,
) -> None:
    """This node's own pairings (and with --all, the shipped glossary)."""
    settings = settings_or_exit()
    with operator_session(settings, write=False) as session:
        own = list(session.exec(select(GlossaryTerm)).all())
    listing = console_table("id", "indonesian", "english", "source")
    for term in own:
        listing.add_row(str(term.id), term.indonesian, term.english, term.source)
    if shipped_too:
        for entry in shipped():
            listing.add_row(
                "(shipped)", "; ".join(entry.indonesian), "; ".join(entry.english), entry.source
            )
    out.print(listing)


def _uuid(value: str) -> object:
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{value} is not an id")
