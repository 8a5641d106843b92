"""Moving artifact files: streamed downloads checked against the release, and uploads.

A download is written to a hidden temporary file beside its destination, hashed while
it streams, checked against the size and sha256 the release declares, flushed to disk,
and only then renamed into place. A reader never sees half a file, and a file that fails
its check is removed. A connection that breaks mid-download restarts the file
(``_async/_transfer.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

import httpx2

from lumbung_client._exceptions import ArtifactMismatch
from lumbung_client._models import Adoption, Artifact, Release
from lumbung_client._transport import TransportBase

__all__ = ["Progress", "PulledFile", "PullResult"]

CHUNK = 256 * 1024


class Progress(Protocol):
    """Receives transfer progress, e.g. to draw progress bars.

    ``start`` may be called again for the same name when a broken transfer restarts.
    """

    def start(self, name: str, total: int | None) -> None:
        """A transfer of ``total`` bytes (None when unknown) begins."""
        ...

    def advance(self, name: str, amount: int) -> None:
        """``amount`` more bytes were transferred."""
        ...

    def finish(self, name: str) -> None:
        """The transfer is complete."""
        ...


class _NoProgress:
    def start(self, name: str, total: int | None) -> None:
        pass

    def advance(self, name: str, amount: int) -> None:
        pass

    def finish(self, name: str) -> None:
        pass


NO_PROGRESS: Progress = _NoProgress()


@dataclass(frozen=True)
class PulledFile:
    """An artifact written to disk by ``pull``."""

    #: The artifact's name in the release.
    name: str
    #: Where it was written.
    path: Path
    #: Its size in bytes.
    size: int
    #: Its sha256, hex.
    sha256: str
    #: True when the release declared a sha256 and the file matched it.
    verified: bool
    #: True when an identical file was already there and nothing was downloaded.
    reused: bool = False


@dataclass(frozen=True)
class PullResult:
    """What ``apps.pull`` did."""

    #: The release whose artifacts were pulled.
    release: Release
    #: One entry per artifact, in the release's order.
    files: list[PulledFile] = field(default_factory=list)
    #: The adoption recorded when ``adopt=True``.
    adoption: Adoption | None = None


def safe_name(name: str) -> str:
    """``name`` if it is a plain file name; refuses paths that would escape ``dest``."""
    if (
        not name
        or name in {".", ".."}
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name != os.path.basename(name)
    ):
        raise ArtifactMismatch(name, "name", "a plain file name", repr(name))
    return name


def sha256_of(path: Path) -> str:
    """The sha256 of a file on disk, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def already_there(path: Path, artifact: Artifact) -> PulledFile | None:
    """The existing file at ``path`` when it matches the artifact's declared sha256."""
    if artifact.sha256 is None or not path.is_file():
        return None
    size = path.stat().st_size
    if artifact.size is not None and size != artifact.size:
        return None
    digest = sha256_of(path)
    if digest != artifact.sha256.lower():
        return None
    return PulledFile(artifact.name, path, size, digest, verified=True, reused=True)


class Sink:
    """A temporary file in the destination directory that becomes the artifact."""

    def __init__(self, dest: Path, artifact: Artifact) -> None:
        self.artifact = artifact
        self.target = dest / safe_name(artifact.name)
        fd, self.tmp = _create_part_file(dest, artifact.name)
        self._fh: IO[bytes] = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._fh.write(chunk)
        self._digest.update(chunk)
        self.size += len(chunk)
        expected = self.artifact.size
        if expected is not None and self.size > expected:
            # Stop reading a response that is already longer than the release says.
            raise ArtifactMismatch(self.artifact.name, "size", expected, f"more than {expected}")

    def commit(self) -> PulledFile:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        name, digest = self.artifact.name, self._digest.hexdigest()
        if self.artifact.size is not None and self.size != self.artifact.size:
            raise ArtifactMismatch(name, "size", self.artifact.size, self.size)
        declared = self.artifact.sha256.lower() if self.artifact.sha256 else None
        if declared is not None and digest != declared:
            raise ArtifactMismatch(name, "sha256", declared, digest)
        os.replace(self.tmp, self.target)
        _fsync_dir(self.target.parent)
        return PulledFile(name, self.target, self.size, digest, verified=declared is not None)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._fh.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def _create_part_file(dest: Path, name: str) -> tuple[int, Path]:
    """A new hidden file beside the artifact's destination, open for writing.

    Created with mode 0666 so the user's umask decides, as for any file they make: the
    artifact is often served by a web server running as another user. (``mkstemp``
    would make it 0600, and the rename keeps the mode.)
    """
    while True:
        path = dest / f".{name}.{secrets.token_hex(6)}.part"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            return os.open(path, flags, 0o666), path
        except FileExistsError:  # another download picked the same name: draw again
            continue


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on Windows.
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def artifact_url(url: str, transport: TransportBase, node: str | None) -> str:
    """Fetch the node's own artifact URLs through the URL this client was given.

    A node names its files with its public base URL; a client that reaches the node
    by another address (a proxy, an internal name) would otherwise leave it.
    """
    if node and node != transport.base_url and url.startswith(node + "/"):
        return transport.base_url + url[len(node) :]
    return url


def content_length(response: httpx2.Response) -> int | None:
    value = response.headers.get("content-length")
    return int(value) if value and value.isdigit() else None
