"""Release files uploaded to this node: streamed to disk, hashed on the way in, and
kept by content.

A file is stored once, however many releases list it, at
``artifacts_dir/sha256/ab/cdef…`` (the first two hex digits of its sha256, then the
other 62). An upload in progress lives in ``artifacts_dir/tmp`` (the same file system,
so the final rename is atomic) and is removed whenever it is refused or fails.

A release lists an uploaded file like any other artifact, with this node's download
URL. Only entries whose URL is that exact download path are served from the store;
:func:`registry.catalog.service.update_release` refuses to make such an entry up, so
a file is only ever reachable through a release its uploader could write to.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any
from urllib.parse import quote, urlsplit

import anyio.to_thread
from pydantic import AfterValidator, TypeAdapter, ValidationError
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlmodel import Session, col, select
from starlette.requests import ClientDisconnect, Request

from registry.catalog import schemas
from registry.catalog.models import App, Release
from registry.errors import BadRequest, PayloadTooLarge, ValidationFailed, field_error, invalid
from registry.querying import live
from registry.settings import Settings

# Bytes gathered before one write (and hash update) in a worker thread: few thread
# hops, and memory stays at about this much per upload whatever the file's size.
WRITE_BATCH = 1024 * 1024
# A multipart body carries boundaries and part headers besides the file.
FORM_OVERHEAD = 64 * 1024
DEFAULT_MEDIA_TYPE = "application/octet-stream"
# What a release file may be served as: archives, packages, documents and data that no
# browser runs as a page or a script. A file declared as anything else (HTML, SVG, XML,
# JavaScript, or a type not listed) is sent as application/octet-stream, so a file a
# publisher uploaded never runs in this node's origin, whatever it claims to be.
SAFE_MEDIA_TYPES = frozenset(
    {
        DEFAULT_MEDIA_TYPE,
        # archives and compressed files
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar",
        "application/x-gtar",
        "application/x-bzip2",
        "application/x-xz",
        "application/zstd",
        "application/x-7z-compressed",
        "application/vnd.rar",
        "application/x-rar-compressed",
        # packages and installers
        "application/java-archive",
        "application/vnd.android.package-archive",
        "application/vnd.debian.binary-package",
        "application/x-debian-package",
        "application/x-rpm",
        "application/x-msi",
        "application/x-msdownload",
        "application/vnd.microsoft.portable-executable",
        "application/x-apple-diskimage",
        "application/wasm",
        # documents and data
        "application/pdf",
        "application/json",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/plain",
        "text/csv",
        "text/markdown",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
    }
)
# Sent with every stored file: never guess a type (nosniff), and should a browser
# render it anyway, with no scripts, no plugins, no same-origin access and nothing
# loaded from anywhere.
FILE_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
}

# The upload's request body, for the OpenAPI document (the route reads the raw stream,
# so FastAPI cannot describe it by itself).
REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "description": "The file's bytes, with the file's media type as `Content-Type` "
    "(any type; `application/octet-stream` when unknown); or `multipart/form-data` with "
    "the file as its one part, named `file`.",
    "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
    },
}
DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, as a download (`Content-Disposition: attachment`), with "
        "`ETag` (its sha256) and `Repr-Digest`. Its declared media type is kept only for "
        "archives, packages, PDF, JSON, plain text and the like; anything else (HTML, "
        "SVG, XML, JavaScript…) is sent as `application/octet-stream`, always with "
        "`X-Content-Type-Options: nosniff` and a sandboxing `Content-Security-Policy`. "
        "`Range` requests are answered with 206.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    302: {"description": "The artifact is not stored on this node: its URL, to fetch it from."},
    304: {"description": "`If-None-Match` named this file's ETag."},
}


def _not_only_dots(value: str) -> str:
    if not value.strip(". "):
        raise ValueError("must not be only dots and spaces")
    return value


UploadName = Annotated[schemas.FileName, AfterValidator(_not_only_dots)]
_media_types: TypeAdapter[str] = TypeAdapter(schemas.MediaType)


# --- where files live ----------------------------------------------------------------


def blob_path(settings: Settings, sha256: str) -> Path:
    return settings.artifacts_dir / "sha256" / sha256[:2] / sha256[2:]


def tmp_dir(settings: Settings) -> Path:
    return settings.artifacts_dir / "tmp"


def download_path(app_id: object, release_id: object, name: str) -> str:
    return f"/api/v1/apps/{app_id}/releases/{release_id}/artifacts/{quote(name)}"


def download_url(settings: Settings, app_id: object, release_id: object, name: str) -> str:
    return settings.issuer + download_path(app_id, release_id, name)


def uploads_prefix(app_id: object, release_id: object) -> str:
    """The path every file uploaded to this release is served under."""
    return download_path(app_id, release_id, "")


def is_upload_of(artifact: Mapping[str, Any], app_id: object, release_id: object) -> bool:
    """Whether a release's artifact entry is a file uploaded to that very release (as
    opposed to a link to a file elsewhere, which may be anywhere)."""
    path = urlsplit(str(artifact.get("url", ""))).path
    return bool(artifact.get("sha256")) and path == download_path(
        app_id, release_id, str(artifact.get("name", ""))
    )


def find(artifacts: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((a for a in artifacts if a.get("name") == name), None)


def served_media_type(declared: str | None) -> str:
    """The ``Content-Type`` a stored file is served with: its declared type if that
    is on :data:`SAFE_MEDIA_TYPES` (without parameters), else
    ``application/octet-stream``."""
    essence = (declared or "").split(";", 1)[0].strip().lower()
    return essence if essence in SAFE_MEDIA_TYPES else DEFAULT_MEDIA_TYPE


def content_disposition(name: str) -> str:
    """``attachment``, so a browser saves the file instead of showing it, under a
    plain ASCII name (and the exact name as RFC 6266 ``filename*``)."""
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._+-") else "_" for c in name)
    plain = plain.lstrip(".") or "download"
    if plain == name:
        return f'attachment; filename="{plain}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def repr_digest(sha256: str) -> str:
    """RFC 9530 ``Repr-Digest`` value of a file with this sha256."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256)).decode()}:"


# --- receiving -----------------------------------------------------------------------


@dataclass
class Received:
    """A file streamed into a temporary file, not yet stored."""

    path: Path
    sha256: str
    size: int
    media_type: str

    def discard(self) -> None:
        """Remove the temporary file, if :func:`store` has not moved it."""
        self.path.unlink(missing_ok=True)


async def receive(request: Request, settings: Settings, *, sha256: str | None) -> Received:
    """Stream the request's file into ``artifacts_dir/tmp``, hashing it on the way.

    The body is the file itself (``Content-Type`` = its media type) or a
    ``multipart/form-data`` body with one part named ``file``. Refuses a file over
    ``max_upload_bytes`` (413) as soon as it grows past it, and a file whose sha256 is
    not the one the client announced (``?sha256=`` or, for a raw body, a
    ``Repr-Digest``, ``Content-Digest`` or ``Digest`` header) with 422. Nothing is left
    behind when it refuses.
    """
    limit = settings.max_upload_bytes
    content_type = request.headers.get("content-type", "").strip()
    kind, params = parse_options_header(content_type)
    form: _FormFile | None = None
    if kind == b"multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise invalid(["header", "Content-Type"], "multipart/form-data needs a boundary")
        form = _FormFile(boundary)
        chunks = form.chunks(request.stream(), limit + FORM_OVERHEAD)
        expected: list[tuple[list[str | int], str]] = (
            [(["query", "sha256"], sha256)] if sha256 else []
        )
        body_limit = limit + FORM_OVERHEAD
        media_type = DEFAULT_MEDIA_TYPE
    else:
        media_type = _media_type(content_type)
        chunks = request.stream()
        expected = _expected_digests(request.headers, sha256)
        body_limit = limit

    too_large = PayloadTooLarge(f"files are limited to {limit} bytes")
    declared = request.headers.get("content-length", "")
    # ASCII digits only: str.isdigit also takes "²", which int() refuses.
    if declared.isascii() and declared.isdigit() and int(declared) > body_limit:
        raise too_large

    directory = tmp_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix="upload-")
    received = Received(Path(name), "", 0, media_type)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as fh:
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in chunks:
                received.size += len(chunk)
                if received.size > limit:
                    raise too_large
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= WRITE_BATCH:
                    await anyio.to_thread.run_sync(_write, fh, digest, b"".join(pending), False)
                    pending, pending_size = [], 0
            await anyio.to_thread.run_sync(_write, fh, digest, b"".join(pending), True)
        received.sha256 = digest.hexdigest()
        if form is not None:
            received.media_type = form.media_type
        for loc, value in expected:
            if value != received.sha256:
                where = " ".join(map(str, loc))
                raise ValidationFailed(
                    f"the file received has sha256 {received.sha256}, not the {value} that "
                    f"{where} announced; nothing was stored",
                    errors=[field_error(loc, "does not match the file received")],
                )
    except ClientDisconnect:
        received.discard()
        raise BadRequest("the upload was interrupted; nothing was stored") from None
    except BaseException:
        received.discard()
        raise
    return received


def _write(fh: IO[bytes], digest: Any, data: bytes, last: bool) -> None:
    digest.update(data)
    fh.write(data)
    if last:
        fh.flush()
        os.fsync(fh.fileno())


def store(settings: Settings, received: Received) -> None:
    """Move a received file to its place in the store; if that content is already
    there, keep the one copy and drop the new one."""
    target = blob_path(settings, received.sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        received.discard()
        # Fresh again: `prune` leaves recent files alone, and this one is about to be
        # listed by a release that has not committed yet.
        os.utime(target)
        return
    # Atomic: a reader sees the whole file or none. Two identical uploads racing here
    # both succeed, the second replacing the first with the same bytes.
    os.replace(received.path, target)
    if hasattr(os, "O_DIRECTORY"):
        # Make the rename itself durable before the release that lists it commits.
        dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _media_type(content_type: str) -> str:
    if not content_type:
        return DEFAULT_MEDIA_TYPE
    if content_type.lower().startswith("application/x-www-form-urlencoded"):
        # What curl sends with --data-binary unless told otherwise; never a file's type.
        raise invalid(
            ["header", "Content-Type"],
            "send the file's media type (or application/octet-stream) as Content-Type",
        )
    try:
        return _media_types.validate_python(content_type)
    except ValidationError:
        raise invalid(["header", "Content-Type"], "not a media type") from None


def _expected_digests(
    headers: Mapping[str, str], sha256: str | None
) -> list[tuple[list[str | int], str]]:
    """The sha256 values the client announced for a raw body: ``?sha256=`` (hex),
    ``Repr-Digest`` and ``Content-Digest`` (RFC 9530, ``sha-256=:base64:``) and the
    older ``Digest`` (RFC 3230, ``sha-256=base64``). Other algorithms are ignored."""
    expected: list[tuple[list[str | int], str]] = []
    if sha256:
        expected.append((["query", "sha256"], sha256))
    for header in ("Repr-Digest", "Content-Digest", "Digest"):
        value = headers.get(header)
        if value is None:
            continue
        for member in value.split(","):
            algorithm, _, encoded = member.strip().partition("=")
            if algorithm.strip().lower() != "sha-256":
                continue
            encoded = encoded.strip()
            if header != "Digest":
                if len(encoded) < 2 or encoded[0] != ":" or encoded[-1] != ":":
                    raise invalid(["header", header], "sha-256 must be :base64:")
                encoded = encoded[1:-1]
            try:
                raw = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise invalid(["header", header], "sha-256 is not valid base64") from None
            if len(raw) != 32:
                raise invalid(["header", header], "sha-256 must be 32 bytes")
            expected.append((["header", header], raw.hex()))
    return expected


class _FormFile:
    """The one part named ``file`` of a ``multipart/form-data`` body, pulled out of
    the body as it streams (Starlette's form parser would spool it whole first)."""

    def __init__(self, boundary: bytes) -> None:
        self.boundary = boundary
        self.media_type = DEFAULT_MEDIA_TYPE
        self._data: list[bytes] = []
        self._header = (b"", b"")
        self._headers: dict[bytes, bytes] = {}
        self._in_file = self._seen_file = self._ended = False

    async def chunks(self, body: AsyncIterator[bytes], body_limit: int) -> AsyncIterator[bytes]:
        try:
            parser = MultipartParser(
                self.boundary,
                {
                    "on_part_begin": self._headers.clear,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_end": self._on_end,
                },
            )
            received = 0
            async for chunk in body:
                received += len(chunk)
                if received > body_limit:
                    raise PayloadTooLarge(f"request bodies are limited to {body_limit} bytes")
                parser.write(chunk)
                data, self._data = self._data, []
                for piece in data:
                    yield piece
        except FormParserError:
            raise invalid(["body"], "not a valid multipart/form-data body") from None
        if not self._seen_file or not self._ended:
            raise invalid(["body", "file"], "the body must hold one complete part named 'file'")

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header = (self._header[0] + data[start:end], self._header[1])

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header = (self._header[0], self._header[1] + data[start:end])

    def _on_header_end(self) -> None:
        name, value = self._header
        self._headers[name.strip().lower()] = value.strip()
        self._header = (b"", b"")

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        part = options.get(b"name", b"").decode("latin-1")
        if part != "file":
            raise invalid(["body", part], "unexpected part: send only the file, named 'file'")
        if self._seen_file:
            raise invalid(["body", "file"], "send one file per request")
        self._seen_file = self._in_file = True
        self.media_type = _media_type(self._headers.get(b"content-type", b"").decode("latin-1"))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._data.append(data[start:end])

    def _on_part_end(self) -> None:
        self._in_file = False

    def _on_end(self) -> None:
        self._ended = True


def prune(session: Session, settings: Settings, *, older_than: float) -> tuple[int, int]:
    """Delete stored files that no live release of a live app of this node lists, and
    leftovers of interrupted uploads, once they are older than ``older_than`` seconds
    (an upload in flight has stored its file before its release commits). Returns how
    many files and bytes were freed."""
    listed: set[str] = set()
    rows = session.exec(
        select(Release.app_id, Release.id, Release.artifacts)
        .join(App, col(App.id) == col(Release.app_id))
        .where(live(Release), live(App), col(Release.origin).is_(None))
    )
    for app_id, release_id, entries in rows:
        listed.update(
            str(entry["sha256"])
            for entry in entries or []
            if is_upload_of(entry, app_id, release_id)
        )
    cutoff = time.time() - older_than
    files = freed = 0
    store_root = settings.artifacts_dir / "sha256"
    for path in [*store_root.glob("*/*"), *tmp_dir(settings).glob("*")]:
        try:
            stat = path.stat()
        except FileNotFoundError:  # an upload finishing or another prune got there first
            continue
        if not path.is_file() or stat.st_mtime > cutoff:
            continue
        if path.parent.parent == store_root and path.parent.name + path.name in listed:
            continue
        path.unlink(missing_ok=True)
        files += 1
        freed += stat.st_size
    return files, freed
