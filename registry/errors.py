"""Domain errors and their RFC 9457 problem+json rendering.

Services raise these; one set of exception handlers turns each into a
``application/problem+json`` response. Nothing else builds error responses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from registry.responses import JSONResponse

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://lumbung.id/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every 4xx and 5xx of this node returns them."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class LumbungError(Exception):
    """A domain error: its HTTP status, problem ``type`` (``code``) and ``title``.

    A kind of error is declared in one line, with the three as class keywords:
    ``class NotFound(LumbungError, status=404, code="not-found", title="Not found")``;
    a subclass that names none of them keeps its parent's.
    """

    status: int = 500
    code: str = "internal"
    title: str = "Internal error"

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.status = status or cls.status
        cls.code = code or cls.code
        cls.title = title or cls.title

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = list(errors) if errors else None
        self.headers = headers or {}

    def problem(self, instance: str | None = None) -> Problem:
        return Problem(
            type=PROBLEM_BASE + self.code,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
        )


class BadRequest(LumbungError, status=400, code="bad-request", title="Bad request"):
    """A request the node cannot read: a body of the wrong type, an upload cut short."""


class Unauthorized(LumbungError, status=401, code="unauthorized", title="Authentication required"):
    """No credentials, or ones the node does not accept; it answers with a challenge."""

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        super().__init__(detail, **kwargs)


class Forbidden(LumbungError, status=403, code="forbidden", title="Not allowed"):
    """The caller is known but may not do this: a missing scope, another publisher's object."""


class NotFound(LumbungError, status=404, code="not-found", title="Not found"):
    """No such object, or one the caller may not see: the two are not told apart."""


class Conflict(LumbungError, status=409, code="conflict", title="Conflict"):
    """The change clashes with what is stored, such as a slug already taken."""


class PreconditionFailed(
    LumbungError, status=412, code="precondition-failed", title="Precondition failed"
):
    """``If-Match`` names a version that is no longer the current one."""


class RequestTimeout(
    LumbungError, status=408, code="request-timeout", title="Request body too slow"
):
    """The request body stopped arriving for longer than the node waits."""


class PayloadTooLarge(
    LumbungError, status=413, code="payload-too-large", title="Request body too large"
):
    """A request body or an uploaded file larger than the node accepts."""


class TooManyRequests(
    LumbungError, status=429, code="too-many-requests", title="Too many requests"
):
    """Too many requests from one client or address; ``Retry-After`` says how long to wait."""


class ValidationFailed(LumbungError, status=422, code="validation", title="Validation failed"):
    """A value the node refuses; ``errors`` names each field and why."""


def field_error(loc: Sequence[str | int], msg: str) -> FieldError:
    return FieldError(loc=list(loc), msg=msg)


def invalid(loc: Sequence[str | int], msg: str) -> ValidationFailed:
    """A validation error about one field."""
    return ValidationFailed(f"{'.'.join(map(str, loc))}: {msg}", errors=[field_error(loc, msg)])


# What routes declare in ``responses=`` so the OpenAPI document (and the SDK) knows
# the shape of every error.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": "Problem"}
        for status in statuses
    }


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


# A page for people instead of problem+json, for requests that want one. The web
# catalog sits above this module, so it hands the renderer down at start-up
# (``app.state.error_page``); it returns None for every request an API client makes.
ErrorPage = Callable[[Request, Problem], Response | None]


def respond(request: Request, problem: Problem, headers: dict[str, str] | None = None) -> Response:
    """The answer to a failed request: the catalog's error page for a browser that asked
    for one, problem+json for everyone else."""
    error_page: ErrorPage | None = getattr(request.app.state, "error_page", None)
    if error_page is not None:
        page = error_page(request, problem)
        if page is not None:
            # Authentication challenges stay: they describe the resource, not the body.
            for name, value in (headers or {}).items():
                page.headers.setdefault(name, value)
            return page
    return problem_response(problem, headers)


def _loc(loc: Sequence[object]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path, for the ``Allow`` header of a 405
    (RFC 9110 §15.5.6). Starlette names only the methods of the first route whose path
    matched, and FastAPI makes one route per method, so ``Allow`` listed one of several.
    Each method is tried against the router as a request would be."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LumbungError)
    async def _domain(request: Request, exc: LumbungError) -> Response:
        return respond(request, exc.problem(request.url.path), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            FieldError(loc=_loc(err.get("loc", ())), msg=str(err.get("msg", "invalid")))
            for err in exc.errors()
        ]
        fields = ", ".join(".".join(map(str, e.loc)) for e in errors)
        problem = ValidationFailed(f"invalid fields: {fields}", errors=errors).problem(
            request.url.path
        )
        return respond(request, problem)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed", 400: "Bad request"}
        problem = Problem(
            type=PROBLEM_BASE + ("not-found" if exc.status_code == 404 else "http"),
            title=titles.get(exc.status_code, "HTTP error"),
            status=exc.status_code,
            detail=str(exc.detail) if exc.detail else None,
            instance=request.url.path,
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return respond(request, problem, headers)

    @app.exception_handler(sa.exc.IntegrityError)
    async def _integrity(request: Request, exc: sa.exc.IntegrityError) -> Response:
        # Services check uniqueness first and say which field; this catches the race
        # where two requests pass that check together and the database refuses one.
        log.info("integrity error on %s %s: %s", request.method, request.url.path, exc.orig)
        problem = Conflict("the change conflicts with a concurrent one; retry").problem(
            request.url.path
        )
        return respond(request, problem)

    @app.exception_handler(sa.exc.DataError)
    async def _data(request: Request, exc: sa.exc.DataError) -> JSONResponse:
        # A value the database cannot store (out of its range, or a character it
        # refuses) that no check caught first: still the client's input, not a fault.
        log.info("data error on %s %s: %s", request.method, request.url.path, exc.orig)
        problem = ValidationFailed(
            "a value cannot be stored: it is out of range or holds a character that is not allowed"
        ).problem(request.url.path)
        return problem_response(problem)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        problem = Problem(
            type=PROBLEM_BASE + "internal",
            title="Internal error",
            status=500,
            detail="The node could not complete the request; the error has been logged.",
            instance=request.url.path,
        )
        try:
            return respond(request, problem)
        except Exception:
            # The page itself failed (say, a template error): the problem document
            # is built from nothing but this request, so it can always be sent.
            log.exception("error page failed on %s %s", request.method, request.url.path)
            return problem_response(problem)
