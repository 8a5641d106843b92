"""ASGI middleware that must see the raw request before FastAPI parses it."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl

import anyio
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.errors import (
    FieldError,
    LumbungError,
    PayloadTooLarge,
    RequestTimeout,
    Unauthorized,
    ValidationFailed,
    field_error,
    problem_response,
    respond,
)
from registry.nul import JSON_NUL, MESSAGE, nul_locations

# The one route whose body may exceed ``max_body_bytes``: a release file upload, which
# enforces its own (larger) limit while streaming the file to disk.
_UPLOAD_PATH = re.compile(r"/api/v1/apps/[^/]+/releases/[^/]+/artifacts")


def is_upload(scope: Scope) -> bool:
    return scope.get("method") == "POST" and _UPLOAD_PATH.fullmatch(scope["path"]) is not None


class BodySizeLimit:
    """Refuse bodies over ``limit`` bytes with 413, whether announced by
    Content-Length or streamed without it, and bodies that stall for more than
    ``body_timeout`` seconds between two pieces with 408 (a client announcing 100 MB
    and sending 3 bytes would otherwise hold a worker for ever). Requests for which
    ``exempt`` is true (file uploads, which enforce their own larger limit while
    streaming) skip the size limit, not the timeout, and must carry credentials."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        exempt: Callable[[Scope], bool] = lambda _: False,
        body_timeout: float = 30.0,
    ) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        limit: int | None = self.limit
        if self.exempt(scope):
            if b"authorization" not in headers:
                # Only a caller with a token may send a large body; say so before
                # reading a byte of it (the route would refuse it too, but only once
                # FastAPI has started on the request).
                anonymous = Unauthorized("this operation needs an access token")
                await problem_response(anonymous.problem(scope["path"]), anonymous.headers)(
                    scope, receive, send
                )
                return
            limit = None
        declared = headers.get(b"content-length")
        too_large = PayloadTooLarge(f"request bodies are limited to {self.limit} bytes")
        announced = int(declared) if declared is not None and declared.isdigit() else None
        if limit is not None and announced is not None and announced > limit:
            await problem_response(too_large.problem(scope["path"]))(scope, receive, send)
            return

        received = 0
        body_done = False
        answered = False  # this middleware sent the response; the app's is dropped
        started = False

        async def answer(error: LumbungError) -> Message:
            nonlocal answered
            if not started:
                answered = True
                await problem_response(error.problem(scope["path"]))(scope, receive, send)
            # Tell the app the client went away, so it stops reading.
            return {"type": "http.disconnect"}

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done or answered:
                # After the body, receive() waits for a disconnect for as long as the
                # response takes: no timeout there.
                return await receive()
            try:
                with anyio.fail_after(self.body_timeout):
                    message = await receive()
            except TimeoutError:
                return await answer(
                    RequestTimeout(f"no part of the body arrived for {self.body_timeout:g} s")
                )
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if limit is not None and received > limit:
                    return await answer(too_large)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


_FORM = b"application/x-www-form-urlencoded"


def _is_json(content_type: bytes) -> bool:
    kind = content_type.split(b";", 1)[0].strip().lower()
    return kind == b"application/json" or kind.endswith(b"+json")


class RefuseNul:
    """Answer 422 to any request whose path, query, headers or (JSON or form) body
    holds a NUL character.

    No text this node stores or searches may contain one: PostgreSQL refuses NUL in
    text and jsonb, so without this a ``?q=%00`` or a ``"\\u0000"`` in any field would
    reach the database and fail there as a 500. Checking here, once for every route,
    means no field can be forgotten. Bodies are buffered to be checked, so this sits
    inside the size limit; raw uploads (``exempt``) are files and pass unread.
    """

    def __init__(self, app: ASGIApp, exempt: Callable[[Scope], bool] = lambda _: False) -> None:
        self.app = app
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        errors = list(self._head_errors(scope))
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        wants_body = not errors and not self.exempt(scope)
        wants_body = wants_body and (_is_json(content_type) or content_type.startswith(_FORM))
        if not wants_body:
            if errors:
                await _refuse(scope, receive, send, errors)
            else:
                await self.app(scope, receive, send)
            return

        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away, or the size limit or body timeout answered it:
                # there is no request left to serve.
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _is_json(content_type):
            if JSON_NUL.search(body):
                try:
                    document = json.loads(body)
                except ValueError:
                    document = None  # malformed: the route's own parser says why
                errors = [field_error(["body", *loc], _MSG) for loc in nul_locations(document, [])]
        elif b"%00" in body:
            errors = [
                field_error(["body", name], _MSG)
                for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True)
                if "\x00" in name or "\x00" in value
            ]
        if errors:
            await _refuse(scope, receive, send, errors)
            return
        await self.app(scope, _replay(chunks, receive), send)

    @staticmethod
    def _head_errors(scope: Scope) -> Iterator[FieldError]:
        if "\x00" in scope["path"]:
            yield field_error(["path"], _MSG)
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if "\x00" in name or "\x00" in value:
                    yield field_error(["query", name.replace("\x00", "")], _MSG)
        for name, value in scope["headers"]:
            if b"\x00" in value:
                yield field_error(["header", name.decode("latin-1")], _MSG)


_MSG = MESSAGE


def _replay(chunks: list[bytes], receive: Receive) -> Receive:
    """A ``receive`` that hands out the buffered body, then the original stream."""
    pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks)}]

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _refuse(scope: Scope, receive: Receive, send: Send, errors: list[FieldError]) -> None:
    fields = ", ".join(".".join(map(str, e.loc)) for e in errors)
    problem = ValidationFailed(f"invalid fields: {fields}", errors=errors).problem(scope["path"])
    # A browser that asked for a page gets the catalog's error page, as for any error.
    await respond(Request(scope), problem)(scope, receive, send)


# --- security headers --------------------------------------------------------------

# What an HTML page of this node may load: only from the node itself. Pages that need
# more (an inline script, injected styles) say so with :func:`html_csp`.
_HTML_POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# Anything else (JSON, files) is never a document to render or frame.
_OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def html_csp(html: str = "", **directives: str) -> str:
    """The Content-Security-Policy of an HTML page of this node.

    Inline ``<script>`` blocks of ``html`` are allowed by their hash (and nothing
    else inline is); ``directives`` replace the default of a directive, named with
    underscores (``style_src="'self' 'unsafe-inline'"``).
    """
    policy = dict(_HTML_POLICY)
    for name, value in directives.items():
        policy[name.replace("_", "-")] = value
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    ]
    if hashes:
        policy["script-src"] = " ".join([policy["script-src"], *hashes])
    return "; ".join(f"{name} {value}" for name, value in policy.items())


_DEFAULT_HTML_CSP = html_csp()


class SecurityHeaders:
    """Headers every response carries: no MIME sniffing, no referrer leaking ids or
    cursors to other sites, no framing, and a Content-Security-Policy (the page's own
    if the route set one; the strict default for HTML; nothing-loads otherwise)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                if "content-security-policy" not in headers:
                    html = headers.get("content-type", "").startswith("text/html")
                    policy = _DEFAULT_HTML_CSP if html else _OTHER_POLICY
                    headers["Content-Security-Policy"] = policy
                if "server" in headers:
                    del headers["server"]
            await send(message)

        await self.app(scope, receive, send_with_headers)
