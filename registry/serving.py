"""Running the node under uvicorn with limits a public server needs.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive``, but a
client that opens a connection and sends its request line and headers slowly (or
never finishes them) holds it for as long as it likes. The protocol below gives each
request's head ``header_timeout`` seconds; the body has its own per-read timeout in
``registry.middleware.BodySizeLimit``. A production node still sits behind a reverse
proxy (docs/install.md), which buffers slow clients for it.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from registry.settings import Settings


class TimedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request head does not
    arrive whole within ``header_timeout`` seconds of the connection or of its first
    byte after a keep-alive pause."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            # Still waiting for (the rest of) a request head.
            if self._head_timer is None:
                self._arm_head_timer()
        else:
            self._disarm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def settle() -> None:
    """Once a serving process has built its app: what it holds so far (modules, routes,
    schemas, the engine) lives as long as the process, so it is moved out of the
    garbage collector's generations. A full collection otherwise walks all of it, about
    200,000 objects, and stops the request it falls on for some 100 ms. Not for a
    process that builds many apps (the tests): cycles among what was frozen are never
    collected."""
    gc.freeze()


def run(app: Any, settings: Settings, *, host: str, port: int) -> None:
    import uvicorn

    settle()
    protocol = type(
        "NodeH11Protocol", (TimedH11Protocol,), {"header_timeout": settings.header_timeout}
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        http=protocol,
        # Say nothing about the software and its version in every response.
        server_header=False,
        timeout_keep_alive=settings.keep_alive_timeout,
    )
