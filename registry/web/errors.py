"""Error pages in the catalog's look, for people; problem+json stays for programs."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from registry.errors import Problem
from registry.web.headers import weighted
from registry.web.render import render

# Paths that belong to programs: their errors stay problem+json whatever the Accept
# header says, exactly as before the catalog had pages.
API_PREFIXES = (
    "/api/",
    "/oauth/",
    "/federation/",
    "/.well-known/",
    "/artifacts/",
    "/catalog",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/healthz",
    "/readyz",
)


def wants_html(request: Request) -> bool:
    """A browser asking for a page: a GET or HEAD outside the API paths whose
    ``Accept`` names ``text/html`` at least as strongly as any JSON type. ``*/*`` alone
    (curl, most HTTP libraries) keeps the JSON answer."""
    if request.method not in ("GET", "HEAD"):
        return False
    path = request.url.path
    if path.startswith(API_PREFIXES):
        return False
    return prefers_html(request.headers.get("accept"))


def prefers_html(accept: str | None) -> bool:
    """Whether ``Accept`` names ``text/html`` at least as strongly as any JSON type."""
    html_q, json_q = 0.0, 0.0
    for media, q in weighted(accept):
        if media in ("text/html", "application/xhtml+xml"):
            html_q = max(html_q, q)
        elif media in ("application/json", "application/problem+json"):
            json_q = max(json_q, q)
    return html_q > 0 and html_q >= json_q


def error_page(request: Request, problem: Problem) -> Response | None:
    """The page for ``problem``, or None when the request wants problem+json. Reads
    nothing from the database: the error may be that the database is down."""
    if not wants_html(request):
        return None
    return render(request, "error.html", status_code=problem.status, problem=problem, params={})
