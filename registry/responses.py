"""The JSON response every API route answers with.

One class, so every JSON answer ends the same way: with a newline, as text output
should, so that two ``curl`` calls in a terminal do not run together. Content-Length is
counted after the newline is added, and ETags are taken from the item's change
sequence, never from the body's bytes, so neither is affected by it.
"""

from __future__ import annotations

from typing import Any

from fastapi import responses
from pydantic import BaseModel

__all__ = ["JSONResponse", "encoded"]


class JSONResponse(responses.JSONResponse):
    """JSON with a final newline. ``content`` already encoded as JSON (bytes, e.g. by
    orjson for the change feed) is sent as it is, with the newline."""

    def render(self, content: Any) -> bytes:
        body = content if isinstance(content, bytes) else super().render(content)
        return body + b"\n"


def encoded(model: BaseModel, status_code: int = 200) -> JSONResponse:
    """``model`` as a JSON response, encoded once, straight to bytes by pydantic-core.

    A route that returns the model itself has FastAPI validate it again against the
    route's response model (in a trip to the thread pool, for a plain ``def`` route)
    and only then encode it: for a list page, more work than reading it."""
    return JSONResponse(model.__pydantic_serializer__.to_json(model), status_code=status_code)
