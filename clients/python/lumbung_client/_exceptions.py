"""Exceptions raised by the Lumbung client.

Every exception the client raises on purpose derives from :class:`LumbungError`, so one
``except LumbungError`` catches them all::

    LumbungError
    ├── TransportError            the node could not be reached, or the connection broke
    ├── ArtifactMismatch          a downloaded file's size or sha256 is not what the release says
    └── APIError                  the node answered with an RFC 9457 problem (status >= 400)
        ├── Unauthorized          401: no, expired or refused credentials
        ├── Forbidden             403: the credentials lack a scope or the object is not yours
        ├── NotFound              404: no such object, or not visible to you
        ├── Conflict              409: the object already exists (same slug, same version)
        ├── PreconditionFailed    412/428: the object changed since you read it (If-Match)
        ├── ValidationFailed      422 (and 400): the request body or query is invalid;
        │                         ``.errors`` lists each field's problem
        ├── RateLimited           429: too many requests; ``.retry_after`` in seconds
        └── ServerError           5xx: the node failed; retried before you see it

The client retries connection errors, 429 and 503 itself (see :class:`Retry`), so when one
of those reaches you, the retries are used up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "APIError",
    "ArtifactMismatch",
    "Conflict",
    "FieldError",
    "Forbidden",
    "LumbungError",
    "NotFound",
    "PreconditionFailed",
    "RateLimited",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "ValidationFailed",
]


class LumbungError(Exception):
    """Base class of every error the client raises."""


class TransportError(LumbungError):
    """The request did not get an HTTP answer: DNS, refused or dropped connection, timeout.

    ``__cause__`` holds the underlying ``httpx2`` exception.
    """

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None):
        super().__init__(message)
        #: HTTP method of the request that failed.
        self.method = method
        #: URL of the request that failed.
        self.url = url


class ArtifactMismatch(LumbungError):
    """A downloaded artifact does not match the size or sha256 its release declares.

    Nothing is left on disk: the partial file is removed before this is raised.
    """

    def __init__(self, name: str, what: str, expected: object, actual: object) -> None:
        super().__init__(f"artifact {name!r}: {what} is {actual}, the release says {expected}")
        #: The artifact's name.
        self.name = name
        #: ``"size"`` or ``"sha256"``.
        self.what = what
        #: What the release declares.
        self.expected = expected
        #: What was received.
        self.actual = actual


class FieldError:
    """One field's problem inside a :class:`ValidationFailed`.

    ``loc`` is the path to the field, e.g. ``["body", "description", "en", "short_description"]``.
    """

    __slots__ = ("loc", "msg")

    def __init__(self, loc: Sequence[str | int], msg: str) -> None:
        #: Path to the field, outermost first.
        self.loc: list[str | int] = list(loc)
        #: What is wrong with it.
        self.msg = msg

    @property
    def field(self) -> str:
        """The path as a dotted string, without the leading ``body``/``query`` part."""
        parts = self.loc[1:] if self.loc and self.loc[0] in {"body", "query", "path"} else self.loc
        return ".".join(str(p) for p in parts)

    def __repr__(self) -> str:
        return f"FieldError(loc={self.loc!r}, msg={self.msg!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldError):
            return NotImplemented
        return (self.loc, self.msg) == (other.loc, other.msg)

    def __hash__(self) -> int:
        return hash((tuple(self.loc), self.msg))


class APIError(LumbungError):
    """The node answered with an error status and (normally) a problem+json body."""

    def __init__(
        self,
        status: int,
        *,
        title: str | None = None,
        detail: str | None = None,
        type: str | None = None,
        errors: Sequence[FieldError] = (),
        method: str | None = None,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        #: HTTP status code.
        self.status = status
        #: Short summary, the same for every problem of this type.
        self.title = title
        #: Explanation specific to this occurrence.
        self.detail = detail
        #: Problem type URI, e.g. ``https://lumbung.id/problems/conflict``.
        self.type = type
        #: Field errors (mostly on :class:`ValidationFailed`).
        self.errors: list[FieldError] = list(errors)
        #: HTTP method of the request.
        self.method = method
        #: URL of the request.
        self.url = url
        #: Response headers.
        self.headers: dict[str, str] = dict(headers or {})
        #: The decoded response body (a dict for problem+json), or its text.
        self.body = body
        super().__init__(self._message())

    def _message(self) -> str:
        text = self.detail or self.title or "HTTP error"
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        return f"{self.status} {text}{where}"


class Unauthorized(APIError):
    """401: credentials are missing, expired, revoked or wrong."""


class Forbidden(APIError):
    """403: the caller is known but may not do this (scope or ownership)."""


class NotFound(APIError):
    """404: no such object, or the caller may not see it."""


class Conflict(APIError):
    """409: the request conflicts with existing state (a duplicate slug or version)."""


class PreconditionFailed(APIError):
    """412 or 428: the object changed since it was read, or ``If-Match`` is required."""


class ValidationFailed(APIError):
    """422 (or 400): the node refused the request's content.

    :attr:`errors` lists every field's problem at once.
    """

    def _message(self) -> str:
        base = super()._message()
        if not self.errors:
            return base
        fields = "; ".join(f"{e.field or '.'.join(map(str, e.loc))}: {e.msg}" for e in self.errors)
        return f"{base}: {fields}"


class RateLimited(APIError):
    """429: too many requests. :attr:`retry_after` says how long the node asked to wait."""

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait before trying again, from the ``Retry-After`` header."""
        from lumbung_client._transport import parse_retry_after

        return parse_retry_after(self.headers.get("retry-after"))


class ServerError(APIError):
    """5xx: the node failed to handle the request."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationFailed,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: NotFound,
    412: PreconditionFailed,
    422: ValidationFailed,
    428: PreconditionFailed,
    429: RateLimited,
}


def error_class(status: int) -> type[APIError]:
    """The exception class the client raises for an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIError)
