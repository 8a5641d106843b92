"""Streaming artifact files to and from the node for :class:`~lumbung_client.AsyncClient`;
what is checked, and how, is in :mod:`lumbung_client._transfer`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx2

from lumbung_client._async._transport import AsyncTransport
from lumbung_client._backends import AsyncBackend
from lumbung_client._exceptions import TransportError
from lumbung_client._models import Artifact
from lumbung_client._transfer import (
    CHUNK,
    Progress,
    PulledFile,
    Sink,
    artifact_url,
    content_length,
)

__all__ = ["download", "file_chunks"]


async def download(
    transport: AsyncTransport,
    artifact: Artifact,
    dest: Path,
    *,
    node: str | None,
    progress: Progress,
) -> PulledFile:
    """Stream one artifact into ``dest``; restart it if the connection breaks."""
    url = artifact_url(artifact.url, transport, node)
    attempt = 1
    while True:
        sink = Sink(dest, artifact)
        try:
            response = await transport.request("GET", url, stream=True, follow_redirects=True)
            try:
                progress.start(artifact.name, artifact.size or content_length(response))
                async for chunk in response.aiter_bytes(CHUNK):
                    sink.write(chunk)
                    progress.advance(artifact.name, len(chunk))
            finally:
                await response.aclose()
            pulled = await AsyncBackend.run_blocking(sink.commit)
        except httpx2.TransportError as exc:
            sink.abort()
            if attempt >= transport.retry.attempts:
                raise TransportError(
                    f"downloading {artifact.name} failed: {exc}", method="GET", url=url
                ) from exc
            await transport.sleep(transport.retry.delay(attempt))
            attempt += 1
            continue
        except BaseException:
            sink.abort()
            raise
        progress.finish(artifact.name)
        return pulled


def file_chunks(path: Path, name: str, progress: Progress) -> Callable[[], AsyncIterator[bytes]]:
    """A body factory that reads ``path`` afresh for each try, reporting progress."""

    async def chunks() -> AsyncIterator[bytes]:
        progress.start(name, path.stat().st_size)
        with path.open("rb") as fh:
            while chunk := await AsyncBackend.run_blocking(fh.read, CHUNK):
                progress.advance(name, len(chunk))
                yield chunk

    return chunks
