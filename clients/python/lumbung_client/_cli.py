"""The ``lumbung-client`` command, for release pipelines and deployments.

::

    lumbung-client release create APP --version V [--notes FILE] [--artifact PATH ...]
    lumbung-client pull APP [--version V] [--dest DIR] [--adopt]

APP is an app id or ``publisher/slug``. The node and credentials come from
``LUMBUNG_URL``, ``LUMBUNG_CLIENT_ID`` and ``LUMBUNG_CLIENT_SECRET`` (or ``--url``).
Progress bars go to stderr; with ``--json`` a machine-readable result goes to stdout.

Exit codes, so a pipeline can tell failures apart:

==  ===========================================================================
0   success
1   unexpected error (a bug, or an error the codes below do not cover)
2   wrong usage or configuration (bad arguments, LUMBUNG_URL not set, no such file)
3   authentication or permission refused (401, 403)
4   not found: no such app, release or version visible to these credentials
5   conflict: the version already exists, or the object changed meanwhile (409, 412)
6   the node refused the content (422), e.g. a malformed version
7   a downloaded artifact did not match its declared size or sha256
8   the node could not be reached or kept failing (network, 429, 5xx) after retries
==  ===========================================================================
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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

from lumbung_client import _exceptions as errors
from lumbung_client._models import Release
from lumbung_client._sync._client import Client
from lumbung_client._transfer import sha256_of
from lumbung_client._version import __version__

__all__ = ["EXIT_CODES", "main"]

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
        description="Publish releases and publiccode.yml files to, and pull releases from, "
        "a Lumbung node.",
        epilog="Exit codes: 0 ok, 1 error, 2 usage, 3 auth, 4 not found, 5 conflict, "
        "6 invalid, 7 checksum mismatch, 8 node unavailable.",
    )
    parser.add_argument("--version", action="version", version=f"lumbung-client {__version__}")
    parser.add_argument("--url", help="node URL (default: $LUMBUNG_URL)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    release = commands.add_parser("release", help="manage releases")
    release_commands = release.add_subparsers(dest="release_command", required=True)
    create = release_commands.add_parser(
        "create", help="publish a release of an app, uploading its artifacts"
    )
    create.add_argument("app", metavar="APP", help="app id or publisher/slug")
    create.add_argument("--version", required=True, dest="release_version", metavar="V")
    create.add_argument("--notes", type=Path, metavar="FILE", help="release notes (text file)")
    create.add_argument(
        "--artifact",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="file to upload; repeat for several",
    )
    create.add_argument(
        "--released-at", metavar="ISO8601", help="release date (default: now, in UTC)"
    )
    create.add_argument(
        "--exist-ok",
        action="store_true",
        help="if the version exists, reuse it and upload only missing artifacts",
    )

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
    return parser


def _import(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    options = {"publisher": args.publisher, "strict": args.strict, "visibility": args.visibility}
    if args.source.startswith(("http://", "https://")):
        report = client.apps.import_publiccode(url=args.source, **options)
    else:
        report = client.apps.import_publiccode(Path(args.source), **options)
    return report.model_dump(mode="json")


def _release_create(client: Client, args: argparse.Namespace, bars: _Bars) -> dict[str, Any]:
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
    return {
        "created": created,
        "app": app.ref,
        "release": _release_json(release),
        "uploaded": uploaded,
    }


def _release_json(release: Release) -> dict[str, Any]:
    return {
        "id": str(release.id),
        "version": release.version,
        "artifacts": [a.model_dump(mode="json") for a in release.artifacts],
    }


def _pull(client: Client, args: argparse.Namespace, bars: _Bars) -> dict[str, Any]:
    result = client.apps.pull(
        args.app,
        version=args.release_version,
        dest=args.dest,
        adopt=args.adopt,
        publisher=args.publisher,
        progress=bars,
    )
    return {
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
    err = Console(stderr=True)
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
            if args.command == "import":
                result = _import(client, args)
                issues = result["issues"]
                summary = (
                    f"app {result['app']['publisher']}/{result['app']['slug']} "
                    f"{'created' if result['created'] else 'updated'}; {len(issues)} issue(s)"
                    + "".join(
                        f"\n  {i['path'] or '(file)'}: {i['level']}: {i['rule']}: {i['message']}"
                        for i in issues
                    )
                )
            elif args.command == "release":
                result = _release_create(client, args, bars)
                summary = (
                    f"release {result['release']['version']} of {result['app']} "
                    f"{'created' if result['created'] else 'already existed'}; "
                    f"{len(result['uploaded'])} artifact(s) uploaded"
                )
            else:
                result = _pull(client, args, bars)
                summary = (
                    f"pulled {len(result['files'])} artifact(s) of release "
                    f"{result['release']['version']} into {args.dest}"
                )
    except (errors.LumbungError, _UsageError, OSError, ValueError) as exc:
        code = exit_code(exc)
        err.print(f"[red]error:[/red] {_explain(exc)}", highlight=False)
        return code
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print(summary)
    return OK


def _explain(exc: BaseException) -> str:
    if isinstance(exc, errors.APIError) and exc.errors:
        return str(exc)
    return str(exc) or type(exc).__name__


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
