"""ASGI middleware that must see the raw request before FastAPI parses it."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.errors import PayloadTooLarge, problem_response


class BodySizeLimit:
    """Refuse bodies over ``limit`` bytes with 413, whether announced by
    Content-Length or streamed without it. Paths under ``exempt`` (file uploads,
    which enforce their own larger limit while streaming) pass through."""

    def __init__(self, app: ASGIApp, limit: int, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].endswith(self.exempt):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        too_large = PayloadTooLarge(f"request bodies are limited to {self.limit} bytes")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await problem_response(too_large.problem(scope["path"]))(scope, receive, send)
            return

        received = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit and not refused:
                    # Answer now and tell the app the client went away, so it stops
                    # reading; whatever it tries to send afterwards is dropped.
                    refused = True
                    await problem_response(too_large.problem(scope["path"]))(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)
