"""``lumbung import publiccode`` and ``lumbung export publiccode``."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from registry.catalog.models import Visibility
from registry.console import err, fail, operator_session, out, settings_or_exit
from registry.errors import LumbungError
from registry.formats import publiccode, service
from registry.formats.fetch import fetch
from registry.principal import Principal

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
    sources: Annotated[
        list[str],
        typer.Argument(
            help="publiccode.yml (or .yaml) files, folders holding them (searched below), or URLs",
            metavar="PATH_OR_URL...",
        ),
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
    """Create or update an app from its publiccode.yml, listing every problem found.
    Several files (or a folder of them) are imported in one go, each on its own."""
    settings = settings_or_exit()
    files = [item for source in sources for item in _gather(source)]
    if len(files) != 1:
        _import_many(settings, files, publisher, strict, visibility, as_json)
        return
    data = files[0][1]
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


def _gather(source: str) -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of each file a source names: a folder without a publiccode.yml
    of its own gives every one found below it."""
    path = Path(source)
    if path.is_dir() and not any(
        (path / n).is_file() for n in ("publiccode.yml", "publiccode.yaml")
    ):
        found = sorted([*path.rglob("publiccode.yml"), *path.rglob("publiccode.yaml")])
        if not found:
            fail(f"no publiccode.yml below {source}")
        return [(str(p), p.read_bytes()) for p in found]
    return [(source, _read(source))]


def _import_many(
    settings: Any,
    files: list[tuple[str, bytes]],
    publisher: str,
    strict: bool,
    visibility: Visibility | None,
    as_json: bool,
) -> None:
    with operator_session(settings) as session:
        outcomes = service.import_many(
            session, OPERATOR, files, publisher=publisher, strict=strict, visibility=visibility
        )
        report: list[dict[str, Any]] = []
        for name, outcome in outcomes:
            if isinstance(outcome, service.ImportResult):
                report.append({
                    "source": name, "app_id": str(outcome.app.id), "slug": outcome.app.slug,
                    "created": outcome.created, "issues": [i.as_dict() for i in outcome.issues],
                })  # fmt: skip
            else:
                errors = [e.model_dump() for e in outcome.errors or []]
                report.append({"source": name, "rejected": str(outcome.detail), "errors": errors})
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    else:
        for entry in report:
            if "rejected" in entry:
                err.print(f"{entry['source']}: not imported: {entry['rejected']}", highlight=False)
            else:
                verb = "created" if entry["created"] else "updated"
                out.print(f"{entry['source']}: app {entry['slug']} {verb}, "
                          f"{len(entry['issues'])} issue(s)", highlight=False)  # fmt: skip
    rejected = sum("rejected" in e for e in report)
    if rejected:
        fail(f"{rejected} of {len(report)} file(s) not imported")


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


# --- harvest -----------------------------------------------------------------------

harvest_app = typer.Typer(help="Datasets harvested from CKAN portals.", no_args_is_help=True)


@harvest_app.command("add")
def harvest_add(
    publisher: Annotated[str, typer.Option(help="Code of the publisher the datasets go to")],
    ckan_url: Annotated[str, typer.Option("--ckan", help="The portal's base URL")],
    organization: Annotated[
        str | None, typer.Option(help="Only this CKAN organization's datasets (its name)")
    ] = None,
    language: Annotated[str, typer.Option(help="Language of the portal's texts")] = "id",
    interval: Annotated[int, typer.Option(help="Seconds between scheduled runs")] = 3600,
) -> None:
    """Attach a CKAN portal to a publisher; `lumbung harvest run` fetches it."""
    from registry.formats import harvest

    settings = settings_or_exit()
    try:
        harvest.check_portal(settings, ckan_url)
    except LumbungError as exc:
        fail(str(exc.detail or exc))
    with operator_session(settings) as session:
        source = harvest.add_source(
            session,
            publisher=publisher,
            ckan_url=ckan_url,
            organization=organization,
            language=language,
            interval=interval,
        )
        out.print(f"harvest source {source.id} added: {source.ckan_url} → {publisher}")


@harvest_app.command("list")
def harvest_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The CKAN portals harvested, with the outcome of their last run."""
    from registry.console import table
    from registry.formats import harvest

    settings = settings_or_exit()
    with operator_session(settings, write=False) as session:
        rows: list[dict[str, Any]] = [
            {
                "id": str(s.id),
                "publisher": code,
                "ckan": s.ckan_url,
                "organization": s.organization,
                "interval": s.interval,
                "last_success_at": s.last_success_at.isoformat() if s.last_success_at else None,
                "last_error": s.last_error,
            }
            for s, code in harvest.list_sources(session)
        ]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    grid = table("id", "publisher", "ckan", "organization", "last success", "last error")
    for r in rows:
        grid.add_row(
            str(r["id"]), str(r["publisher"]), str(r["ckan"]), str(r["organization"] or ""),
            str(r["last_success_at"] or "never"), str(r["last_error"] or ""),
        )  # fmt: skip
    out.print(grid)


@harvest_app.command("run")
def harvest_run(
    source_id: Annotated[
        uuid.UUID | None, typer.Argument(help="One source; every source when left out")
    ] = None,
    full: Annotated[
        bool | None,
        typer.Option("--full/--incremental", help="List everything (finds deletions)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Harvest now and print each run's report."""
    from registry.console import node_engine
    from registry.formats import harvest

    settings = settings_or_exit()
    engine = node_engine(settings)
    with operator_session(settings, write=False) as session:
        ids = [source_id] if source_id else [s.id for s, _ in harvest.list_sources(session)]
    reports = []
    failed = False
    for one in ids:
        try:
            report = harvest.run(engine, settings, one, full=full)
        except LumbungError as exc:
            fail(str(exc.detail or exc))
        reports.append(report.as_dict())
        failed = failed or report.status != "ok"
        if not as_json:
            out.print(
                f"{one}: {report.status}{' (full)' if report.full else ''} — seen {report.seen}, "
                f"created {report.created}, updated {report.updated}, "
                f"unchanged {report.unchanged}, deleted {report.deleted}, "
                f"errors {len(report.errors)}"
            )
            for error in report.errors:
                err.print(f"  {error['record']}: {error['error']}", highlight=False, markup=False)
            if report.message:
                err.print(f"  {report.message}", highlight=False, markup=False)
    engine.dispose()
    if as_json:
        sys.stdout.write(json.dumps(reports, indent=2) + "\n")
    if failed:
        raise typer.Exit(1)
