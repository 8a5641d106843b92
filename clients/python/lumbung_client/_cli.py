"""The ``lumbung-client`` command, for release pipelines and deployments.

::

    lumbung-client app create --slug S --name N [--visibility V] [--data FILE] …
    lumbung-client app update APP [--name N] [--visibility V] [--data FILE] …
    lumbung-client app list [--publisher CODE] [--category C] [--q TEXT] [--json]
    lumbung-client dataset create --slug S --title LANG=TEXT [--distribution URL] …
    lumbung-client search [TEXT] [--kind app|dataset] [--json]
    lumbung-client import PATH_OR_URL [--strict] [--visibility V]
    lumbung-client release create APP --version V [--notes FILE] [--artifact PATH ...]
    lumbung-client pull APP [--version V] [--dest DIR] [--adopt]

APP is an app id or ``publisher/slug``. The node and credentials come from
``LUMBUNG_URL``, ``LUMBUNG_CLIENT_ID`` and ``LUMBUNG_CLIENT_SECRET`` (or ``--url``).
Progress bars go to stderr; with ``--json`` (before or after the command) a
machine-readable result goes to stdout. Lists print a table, or one block per item when
the table would not fit the terminal, so an id is never broken across lines.

Exit codes, so a pipeline can tell failures apart:

==  ===========================================================================
0   success
1   unexpected error (a bug, or an error the codes below do not cover)
2   wrong usage or configuration (bad arguments, LUMBUNG_URL not set, no such file)
3   authentication or permission refused (401, 403)
4   not found: no such app, dataset, release or version visible to these credentials
5   conflict: the slug or version already exists, or the object changed meanwhile
6   the node refused the content (422), e.g. a malformed version
7   a downloaded artifact did not match its declared size or sha256
8   the node could not be reached or kept failing (network, 429, 5xx) after retries
==  ===========================================================================
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pydantic
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Table

from lumbung_client import _exceptions as errors
from lumbung_client._models import Release
from lumbung_client._sync._client import Client
from lumbung_client._sync._search import search
from lumbung_client._transfer import sha256_of
from lumbung_client._version import __version__

__all__ = ["EXIT_CODES", "main"]

M = TypeVar("M")

OK, ERROR, USAGE, AUTH, NOT_FOUND, CONFLICT, INVALID, MISMATCH, UNAVAILABLE = range(9)

#: Exit code per outcome, as documented in the module docstring.
EXIT_CODES: dict[str, int] = {
    "ok": OK,
    "error": ERROR,
    "usage": USAGE,
    "auth": AUTH,
    "not_found": NOT_FOUND,
    "conflict": CONFLICT,
    "invalid": INVALID,
    "mismatch": MISMATCH,
    "unavailable": UNAVAILABLE,
}


class _Bars:
    """Rich progress bars on stderr, one per file, fed by the SDK's progress calls."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self._progress = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _Bars:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def start(self, name: str, total: int | None) -> None:
        task = self._tasks.get(name)
        if task is None:
            self._tasks[name] = self._progress.add_task(name, total=total)
        else:  # a restarted transfer begins again from zero
            self._progress.reset(task, total=total)

    def advance(self, name: str, amount: int) -> None:
        self._progress.advance(self._tasks[name], amount)

    def finish(self, name: str) -> None:
        task = self._tasks.get(name)
        if task is not None:
            total = self._progress.tasks[task].total
            if total is None:
                self._progress.update(task, total=self._progress.tasks[task].completed)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lumbung-client",
        description="Register apps and datasets (or import an app's publiccode.yml), "
        "publish releases, search, and pull releases from a Lumbung node.",
        epilog="Exit codes: 0 ok, 1 error, 2 usage, 3 auth, 4 not found, 5 conflict, "
        "6 invalid, 7 checksum mismatch, 8 node unavailable.",
    )
    parser.add_argument("--version", action="version", version=f"lumbung-client {__version__}")
    parser.add_argument("--url", help="node URL (default: $LUMBUNG_URL)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _catalog_parsers(commands)

    release = commands.add_parser("release", help="manage releases")
    release_commands = release.add_subparsers(dest="release_command", required=True)
    create = release_commands.add_parser(
        "create", help="publish a release of an app, uploading its artifacts"
    )
    create.add_argument("app", metavar="APP", help="app id or publisher/slug")
    create.add_argument("--version", required=True, dest="release_version", metavar="V")
    create.add_argument("--notes", type=Path, metavar="FILE", help="release notes (text file)")
    _repeatable(create, "--artifact", "PATH", "file to upload; repeat for several", type=Path)
    create.add_argument(
        "--released-at", metavar="ISO8601", help="release date (default: now, in UTC)"
    )
    create.add_argument(
        "--exist-ok",
        action="store_true",
        help="if the version exists, reuse it and upload only missing artifacts",
    )
    create.set_defaults(handler=_release_create)

    pull = commands.add_parser("pull", help="download a release's artifacts and verify them")
    pull.add_argument("app", metavar="APP", help="app id or publisher/slug")
    pull.add_argument("--version", dest="release_version", metavar="V", help="default: newest")
    pull.add_argument("--dest", type=Path, default=Path("."), metavar="DIR")
    pull.add_argument(
        "--adopt", action="store_true", help="record that your publisher adopts this release"
    )
    pull.add_argument(
        "--publisher", metavar="CODE", help="the adopting publisher (only for admin accounts)"
    )
    pull.set_defaults(handler=_pull)
    imported = commands.add_parser(
        "import",
        help="create or update an app from its publiccode.yml (a file, or a URL the node fetches)",
    )
    imported.add_argument("source", metavar="PATH_OR_URL", help="publiccode.yml file or URL")
    imported.add_argument(
        "--publisher", metavar="CODE", help="the owning publisher (only for admin accounts)"
    )
    imported.add_argument(
        "--strict", action="store_true", help="refuse on any error, as the official parser does"
    )
    imported.add_argument("--visibility", choices=("public", "partners", "private"))
    imported.set_defaults(handler=_import)
    return parser


def _import(client: Client, args: argparse.Namespace, bars: _Bars) -> Outcome:
    options = {"publisher": args.publisher, "strict": args.strict, "visibility": args.visibility}
    if args.source.startswith(("http://", "https://")):
        report = client.apps.import_publiccode(url=args.source, **options)
    else:
        report = client.apps.import_publiccode(Path(args.source), **options)
    result = report.model_dump(mode="json")
    issues = result["issues"]
    summary = (
        f"app {result['app']['publisher']}/{result['app']['slug']} "
        f"{'created' if result['created'] else 'updated'}; {len(issues)} issue(s)"
        + "".join(
            f"\n  {i['path'] or '(file)'}: {i['level']}: {i['rule']}: {i['message']}"
            for i in issues
        )
    )
    return result, summary


# Accepted after the command too (``app list --json``); the value given before it stays
# when this one is absent.
_JSON = argparse.ArgumentParser(add_help=False)
_JSON.add_argument(
    "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON on stdout"
)
_LIST_JSON = argparse.ArgumentParser(add_help=False)
_LIST_JSON.add_argument(
    "--json",
    action="store_true",
    default=argparse.SUPPRESS,
    help="print the items as a JSON array instead of a table, for scripts",
)


def _catalog_parsers(commands: Any) -> None:
    """``app create|update|list``, ``dataset create`` and ``search``."""
    app = commands.add_parser("app", help="register, change and list apps")
    app_commands = app.add_subparsers(dest="app_command", required=True, metavar="ACTION")
    create = app_commands.add_parser("create", parents=[_JSON], help="register an app")
    create.add_argument("--slug", required=True, help="lowercase letters, digits and hyphens")
    create.add_argument("--name", required=True)
    _app_fields(create)
    create.set_defaults(handler=_app_create)
    update = app_commands.add_parser(
        "update", parents=[_JSON], help="change an app (refused if it changed meanwhile)"
    )
    update.add_argument("app", metavar="APP", help="app id or publisher/slug")
    update.add_argument("--name")
    update.add_argument("--slug", help="a new slug")
    _app_fields(update)
    update.set_defaults(handler=_app_update)
    listing = app_commands.add_parser("list", parents=[_LIST_JSON], help="list apps")
    for name in ("publisher", "category", "visibility", "q", "origin"):
        listing.add_argument(f"--{name}", help=f"only apps with this {name}")
    _limit(listing)
    listing.set_defaults(handler=_app_list)

    dataset = commands.add_parser("dataset", help="register datasets")
    dataset_commands = dataset.add_subparsers(
        dest="dataset_command", required=True, metavar="ACTION"
    )
    create = dataset_commands.add_parser("create", parents=[_JSON], help="register a dataset")
    create.add_argument("--slug", required=True, help="lowercase letters, digits and hyphens")
    create.add_argument(
        "--title",
        action="append",
        required=True,
        metavar="LANG=TEXT",
        help="the title in one language, e.g. id='Jumlah Penduduk'; repeat for others",
    )
    _repeatable(create, "--description", "LANG=TEXT", "the description in one language")
    create.add_argument("--keyword", action="append", dest="keywords", metavar="WORD")
    create.add_argument("--theme", action="append", dest="themes", metavar="CODE")
    _repeatable(
        create, "--distribution", "URL", "where the data can be downloaded; repeat for several"
    )
    _common_fields(create)
    create.set_defaults(handler=_dataset_create)

    search = commands.add_parser(
        "search", parents=[_LIST_JSON], help="search apps and datasets, local and mirrored"
    )
    search.add_argument("q", nargs="?", metavar="TEXT", help="words to look for")
    search.add_argument("--kind", choices=["app", "dataset"])
    _repeatable(
        search,
        "--filter",
        "FIELD=VALUE",
        "e.g. publisher=kab-banyuwangi or category=health; repeat for several",
    )
    _limit(search)
    search.set_defaults(handler=_search)


def _repeatable(
    parser: argparse.ArgumentParser, flag: str, metavar: str, help: str, **kwargs: Any
) -> None:
    """An option that may be given several times; the values arrive as a list."""
    parser.add_argument(flag, action="append", default=[], metavar=metavar, help=help, **kwargs)


def _common_fields(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--visibility", choices=["public", "partners", "private"], help="who may see it"
    )
    parser.add_argument("--license", help="SPDX expression, e.g. EUPL-1.2")
    parser.add_argument(
        "--publisher", metavar="CODE", help="the owner (default: your account's publisher)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="FILE",
        help="a JSON object with any other fields, as the API names them; "
        "options given on the command line win",
    )


def _app_fields(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--category", action="append", dest="categories", metavar="CATEGORY")
    parser.add_argument(
        "--development-status",
        choices=["concept", "development", "beta", "stable", "obsolete"],
    )
    parser.add_argument("--url", help="the source code repository")
    parser.add_argument("--landing-url", help="the app's home page")
    _repeatable(
        parser,
        "--summary",
        "LANG=TEXT",
        "a short description in one language, e.g. id='Antrean puskesmas'",
    )
    _common_fields(parser)


def _limit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, metavar="N", help="at most N items (default: all)")


def _release_create(client: Client, args: argparse.Namespace, bars: _Bars) -> Outcome:
    files: list[Path] = args.artifact
    for file in files:
        if not file.is_file():
            raise _UsageError(f"no such file: {file}")
    notes = args.notes.read_text(encoding="utf-8") if args.notes else None
    try:
        released_at = (
            datetime.fromisoformat(args.released_at) if args.released_at else datetime.now(UTC)
        )
    except ValueError:
        raise _UsageError(f"--released-at {args.released_at!r} is not an ISO 8601 time") from None
    if released_at.tzinfo is None:
        raise _UsageError("--released-at needs a time zone, e.g. 2026-01-31T10:00:00+07:00")
    app = client.apps.get(args.app)
    fields: dict[str, Any] = {"version": args.release_version, "released_at": released_at}
    if notes is not None:
        fields["notes"] = notes
    created = True
    try:
        release = client.releases.create(app, **fields)
    except errors.Conflict:
        if not args.exist_ok:
            raise
        release = client.releases.get(app, args.release_version)
        created = False
    uploaded: list[str] = []
    for file in files:
        existing = next((a for a in release.artifacts if a.name == file.name), None)
        if existing is not None and existing.sha256 == sha256_of(file):
            continue  # already uploaded by an earlier run
        release = client.releases.upload(release, file, progress=bars)
        uploaded.append(file.name)
    result = {
        "created": created,
        "app": app.ref,
        "release": _release_json(release),
        "uploaded": uploaded,
    }
    summary = (
        f"release {release.version} of {app.ref} "
        f"{'created' if created else 'already existed'}; {len(uploaded)} artifact(s) uploaded"
    )
    return result, summary


def _release_json(release: Release) -> dict[str, Any]:
    return {
        "id": str(release.id),
        "version": release.version,
        "artifacts": [a.model_dump(mode="json") for a in release.artifacts],
    }


def _pull(client: Client, args: argparse.Namespace, bars: _Bars) -> Outcome:
    result = client.apps.pull(
        args.app,
        version=args.release_version,
        dest=args.dest,
        adopt=args.adopt,
        publisher=args.publisher,
        progress=bars,
    )
    output = {
        "release": _release_json(result.release),
        "files": [
            {
                "name": f.name,
                "path": str(f.path),
                "size": f.size,
                "sha256": f.sha256,
                "verified": f.verified,
                "reused": f.reused,
            }
            for f in result.files
        ],
        "adoption": str(result.adoption.id) if result.adoption else None,
    }
    summary = (
        f"pulled {len(result.files)} artifact(s) of release {result.release.version} "
        f"into {args.dest}"
    )
    return output, summary


# --- catalog commands ----------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """A list for people: a header per column, the id first."""

    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


#: What a command prints: a machine-readable result (for --json) and a line or rows.
Outcome = tuple[Any, "str | _Rows"]


def _texts(values: list[str], option: str) -> dict[str, str]:
    """``{"id": "…"}`` from ``["id=…"]``: texts are given per language."""
    texts: dict[str, str] = {}
    for value in values:
        lang, sep, text = value.partition("=")
        if not sep or not lang.strip() or not text.strip():
            raise _UsageError(f"{option} takes LANG=TEXT, e.g. {option} id='…', not {value!r}")
        texts[lang.strip()] = text.strip()
    return texts


def _fields(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    """The request body: ``--data``'s JSON object, then the options that were given."""
    fields: dict[str, Any] = {}
    if args.data is not None:
        try:
            loaded = json.loads(args.data.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise _UsageError(f"{args.data} is not JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise _UsageError(f"{args.data} must hold a JSON object of fields")
        fields.update(loaded)
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            fields[name] = value
    return fields


APP_OPTIONS = (
    "slug",
    "name",
    "categories",
    "development_status",
    "url",
    "landing_url",
    "visibility",
    "license",
    "publisher",
)


def _app_body(args: argparse.Namespace) -> dict[str, Any]:
    fields = _fields(args, APP_OPTIONS)
    for lang, text in _texts(args.summary, "--summary").items():
        description = fields.setdefault("description", {})
        description.setdefault(lang, {})["short_description"] = text
    return fields


def _app_create(client: Client, args: argparse.Namespace, bars: _Bars) -> Outcome:
    app = client.apps.create(**_app_body(args))
    return app.model_dump(mode="json"), f"app {app.ref} created (id {app.id})"


def _app_update(client: Client, args: argparse.Namespace, bars: _Bars) -> Outcome:
    fields = _app_body(args)
    if not fields:
        raise _UsageError("nothing to change: give at least one field option or --data")
    # The object read carries its ETag: a change made meanwhile is refused, not lost.
    app = client.apps.update(client.apps.get(args.app), **fields)
    return app.model_dump(mode="json"), f"app {app.ref} updated"


def _first(items: Iterable[M], limit: int | None) -> list[M]:
    if limit is not None and limit < 1:
        raise _UsageError("--limit must be at least 1")
    return list(itertools.islice(items, limit))


def _app_list(client: Client, args: argparse.Namespace, bars: _Bars) -> Outcome:
    filters = {k: getattr(args, k) for k in ("publisher", "category", "visibility", "q", "origin")}
    apps = _first(client.apps.list(**filters), args.limit)
    rows = [(str(a.id), a.ref, a.name, a.visibility, a.development_status or "") for a in apps]
    headers = ("id", "app", "name", "visibility", "status")
    return [a.model_dump(mode="json") for a in apps], _Rows(headers, rows)


def _dataset_create(client: Client, args: argparse.Namespace, bars: _Bars) -> Outcome:
    fields = _fields(args, ("slug", "keywords", "themes", "visibility", "license", "publisher"))
    fields["title"] = _texts(args.title, "--title")
    if args.description:
        fields["description"] = _texts(args.description, "--description")
    dataset = client.datasets.create(**fields)
    for url in args.distribution:
        client.distributions.create(dataset, access_url=url)
    result = {**dataset.model_dump(mode="json"), "distributions": args.distribution}
    extra = f", {len(args.distribution)} distribution(s)" if args.distribution else ""
    return result, f"dataset {dataset.ref} created (id {dataset.id}){extra}"


def _search(client: Client, args: argparse.Namespace, bars: _Bars) -> Outcome:
    filters: dict[str, str | None] = {}
    for item in args.filter:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise _UsageError(f"--filter takes FIELD=VALUE, not {item!r}")
        filters[name] = value
    pager = search(client, args.q, kind=args.kind, limit=None, cursor=None, filters=filters)
    hits = _first(pager, args.limit)
    rows = [(str(h.id), h.kind, h.ref, h.title, h.origin) for h in hits]
    headers = ("id", "kind", "item", "title", "origin")
    return [h.model_dump(mode="json") for h in hits], _Rows(headers, rows)


def _print_rows(console: Console, listing: _Rows) -> None:
    """A table when it fits the terminal; otherwise one block per item, its id on a line
    of its own, so an id is never broken across lines."""
    if not listing.rows:
        console.print("(none)")
        return
    grid = Table(*listing.headers)
    for row in listing.rows:
        grid.add_row(*row)
    # The width the table wants with room to spare, not squeezed to the terminal.
    natural = grid.__rich_measure__(console, console.options.update_width(10_000)).maximum
    if natural <= console.width:
        console.print(grid, highlight=False)
        return
    label = max(map(len, listing.headers[1:]))
    for number, (key, *values) in enumerate(listing.rows):
        lines = [key] + [
            f"  {h:<{label}}  {v}".rstrip()
            for h, v in zip(listing.headers[1:], values, strict=True)
        ]
        console.print(("\n" if number else "") + "\n".join(lines), highlight=False, markup=False)


class _UsageError(Exception):
    pass


def exit_code(exc: BaseException) -> int:
    """The documented exit code for an exception raised while running a command."""
    for kinds, code in _EXIT_CODE_OF:
        if isinstance(exc, kinds):
            return code
    return ERROR


# The exit code of each kind of failure, in the order they are checked.
_EXIT_CODE_OF: tuple[tuple[tuple[type[BaseException], ...], int], ...] = (
    ((_UsageError, FileNotFoundError, IsADirectoryError), USAGE),
    ((errors.Unauthorized, errors.Forbidden), AUTH),
    ((errors.NotFound,), NOT_FOUND),
    ((errors.Conflict, errors.PreconditionFailed), CONFLICT),
    ((errors.ValidationFailed, pydantic.ValidationError), INVALID),
    ((errors.ArtifactMismatch,), MISMATCH),
    ((errors.TransportError, errors.RateLimited, errors.ServerError), UNAVAILABLE),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns (and, as a script, exits with) the exit code."""
    args = _parser().parse_args(argv)
    # soft_wrap: an error stays one line the terminal wraps, never broken inside a word.
    err = Console(stderr=True, soft_wrap=True)
    environ = dict(os.environ)
    if args.url:
        environ["LUMBUNG_URL"] = args.url
    try:
        client = Client.from_env(environ)
    except (errors.LumbungError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        return USAGE
    show_bars = not args.quiet and err.is_terminal
    try:
        with client, _Bars(err, show_bars) as bars:
            result, human = args.handler(client, args, bars)
    except (errors.LumbungError, _UsageError, OSError, ValueError) as exc:
        code = exit_code(exc)
        err.print(f"[red]error:[/red] {_explain(exc)}", highlight=False)
        return code
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    elif isinstance(human, _Rows):
        _print_rows(Console(), human)
    else:
        print(human)
    return OK


def _explain(exc: BaseException) -> str:
    if isinstance(exc, errors.APIError) and exc.errors:
        return str(exc)
    return str(exc) or type(exc).__name__


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
