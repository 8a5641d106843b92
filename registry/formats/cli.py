"""``lumbung import publiccode`` and ``lumbung export publiccode``."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer

from registry.catalog.models import Visibility
from registry.console import err, fail, operator_session, out, settings_or_exit
from registry.errors import LumbungError
from registry.formats import publiccode, service
from registry.formats.fetch import fetch
from registry.oauth.principal import Principal

import_app = typer.Typer(help="Bring descriptions from other standards in.", no_args_is_help=True)
export_app = typer.Typer(help="Write catalog entries out in other standards.", no_args_is_help=True)

# The CLI runs as the node's operator.
OPERATOR = Principal(client_id="lumbung-cli", scopes=frozenset({"admin"}))


def _read(source: str) -> bytes:
    if source.startswith(("http://", "https://")):
        settings = settings_or_exit()
        try:
            return fetch(settings, source)
        except LumbungError as exc:
            fail(str(exc.detail or exc))
    path = Path(source)
    if path.is_dir():
        for name in ("publiccode.yml", "publiccode.yaml"):
            if (path / name).is_file():
                path = path / name
                break
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {source}: {exc.strerror}")


@import_app.command("publiccode")
def import_publiccode(
    source: Annotated[
        str, typer.Argument(help="A publiccode.yml (or .yaml) file, a folder holding one, or URL")
    ],
    publisher: Annotated[str, typer.Option(help="Code of the owning publisher")],
    strict: Annotated[
        bool, typer.Option("--strict", help="Reject on any error, as the official parser does")
    ] = False,
    visibility: Annotated[
        Visibility | None, typer.Option(help="For a new app (default private)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Create or update an app from its publiccode.yml, listing every problem found."""
    settings = settings_or_exit()
    data = _read(source)
    parsed = publiccode.parse(data)
    if not parsed.accepted(strict=strict):
        _print_issues(parsed.issues, as_json, rejected=True)
        blocking = parsed.fatal or parsed.errors
        fail(f"not imported: {len(blocking)} blocking problem(s), {len(parsed.issues)} in all")
    with operator_session(settings) as session:
        result = service.import_publiccode(
            session, OPERATOR, data, publisher=publisher, strict=strict, visibility=visibility
        )
        app_id, slug, created = str(result.app.id), result.app.slug, result.created
    if as_json:
        report = {
            "app_id": app_id,
            "slug": slug,
            "created": created,
            "issues": [i.as_dict() for i in result.issues],
        }
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        return
    out.print(f"app {slug} {'created' if created else 'updated'} (id {app_id})")
    _print_issues(result.issues, as_json=False, rejected=False)


def _print_issues(issues: list[publiccode.Issue], as_json: bool, *, rejected: bool) -> None:
    if as_json:
        payload = {"rejected": rejected, "issues": [i.as_dict() for i in issues]}
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        return
    for issue in issues:
        err.print(f"  {issue}", highlight=False, markup=False)


@export_app.command("publiccode")
def export_publiccode(
    app_id: Annotated[uuid.UUID, typer.Argument(help="The app's id")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead")
    ] = None,
) -> None:
    """Print an app as a current publiccode.yml."""
    settings = settings_or_exit()
    with operator_session(settings, write=False) as session:
        _, document = service.export_document(session, settings, OPERATOR, app_id)
    text = publiccode.dump(document)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        out.print(f"written to {output}")
