"""The catalog pages: server-rendered HTML for people, beside the API for programs.

Routes are thin, as the API's are: read the query, ask :mod:`registry.web.service`
(which reads through the catalog's services and visibility rule), render a template.

Pages of the anonymous view are kept once rendered and served again, before routing,
while the catalog's version is the same: by the read cache that keeps the API's
anonymous answers (:class:`registry.viewcache.AnonymousReadCache`, keyed as
:mod:`registry.web.cache` says). A page that has to be built is built once however
many readers ask for it meanwhile, in the thread pool, in a read-only unit of work of
its own over the node's pooled connections.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable, Hashable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from registry.db import Bind, session_scope
from registry.errors import NotFound, invalid
from registry.principal import Principal
from registry.search.service import SearchQuery
from registry.viewcache import current_version
from registry.web import i18n, service
from registry.web.render import STATIC_FILES, language_of, render, static_file

router = APIRouter(include_in_schema=False)

RESULTS_PER_PAGE = 20


async def page_principal(request: Request) -> Principal | None:
    """Who is reading a page. Pages have no sign-in yet, so every reader is anonymous
    and sees what ``/api/v1`` shows without a token. A bearer token is deliberately not
    read here: a browser never sends one, and sign-in for people (OIDC with a session
    cookie) will be resolved by this dependency alone, leaving every page unchanged —
    except the read cache's key (:mod:`registry.web.cache`), which must then refuse
    requests carrying that cookie."""
    return None


PagePrincipal = Annotated[Principal | None, Depends(page_principal)]
Build = Callable[[Session], Response]


def page_version(request: Request) -> Hashable:
    """The catalog's version (:func:`registry.viewcache.read_version`), read on a
    connection kept for it, the same one the read cache reads it on."""
    return current_version(request.app.state)


def page_bind(request: Request) -> Bind:
    """Where pages are built from: the node's own engine, whose pool keeps connections
    open (for a file SQLite database too, where opening one anew costs more than
    building an app page), or a test's connection."""
    return request.app.state.engine  # type: ignore[no-any-return]


def _build(bind: Bind, build: Build) -> Response:
    with session_scope(bind, write=False) as session:
        return build(session)


Built = tuple[bytes, int, dict[str, str]]
# Pages being built, by address, language and catalog version.
_building: dict[Hashable, asyncio.Task[Built]] = {}


async def _build_once(request: Request, build: Build, key: Hashable, version: Hashable) -> Built:
    """Build a page of the anonymous view. Readers who ask for a page while it is being
    built wait for that build rather than start their own: after a change, a crowd of
    readers of the home page costs one build, not one each (the read cache keeps the
    page once it is sent)."""
    flight = (key, version)
    task = _building.get(flight)
    if task is None:
        bind = page_bind(request)

        async def run() -> Built:
            try:
                response = await run_in_threadpool(_build, bind, build)
                headers = {k: v for k, v in response.headers.items() if k != "content-length"}
                return (bytes(response.body), response.status_code, headers)
            finally:
                del _building[flight]

        task = _building[flight] = asyncio.create_task(run())
        # Retrieved even when every reader went away before the build ended.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
    # Shielded: a reader who leaves does not cancel the build the others wait for.
    return await asyncio.shield(task)


async def page(request: Request, principal: Principal | None, build: Build) -> Response:
    """The page ``build`` makes; for the anonymous view, built once for every reader
    who asks for it at the same address, in the same language and catalog version."""
    if principal is not None:
        return await run_in_threadpool(_build, page_bind(request), build)
    key = (request.url.path, request.url.query, language_of(request))
    version = page_version(request)
    body, status, headers = await _build_once(request, build, key, version)
    return Response(body, status_code=status, headers=headers)


async def view(
    request: Request,
    principal: Principal | None,
    template: str,
    read: Callable[[Session], Any],
    **context: Any,
) -> Response:
    """The page of ``template`` showing what ``read`` returns (as ``page``)."""

    def build(session: Session) -> Response:
        return render(request, template, page=read(session), params={}, **context)

    return await page(request, principal, build)


@router.api_route("/", methods=["GET", "HEAD"], name="home")
async def home(request: Request, principal: PagePrincipal) -> Response:
    return await view(request, principal, "home.html", lambda s: service.home(s, principal))


# The search filters a page's address may carry: every filter of the search service,
# in the order active filters are listed.
FILTERS = tuple(f.name for f in dataclasses.fields(SearchQuery) if f.name != "q")


# The longest value each parameter of a search page's address may have.
LONGEST = {
    "q": 200,
    "kind": 16,
    "publisher": 64,
    "category": 64,
    "theme": 8,
    "format": 64,
    "license": 255,
    "development_status": 32,
    "spbe_class": 16,
    "origin": 2048,
    "cursor": 64,
}


def search_query(request: Request) -> tuple[SearchQuery, str | None]:
    """The search a page's address asks for, and the cursor of the page of results.

    Read here rather than declared as the route's parameters, so that a page served
    from the cache costs no validation of its parameters (which would cost more than
    serving it). A page's query comes from links and a form people may edit by hand:
    an unknown kind widens the search instead of failing it."""
    values: dict[str, str | None] = {}
    for name in ("q", "cursor", *FILTERS):
        value = request.query_params.get(name)
        longest = LONGEST.get(name, 255)
        if value is not None and len(value) > longest:
            raise invalid(["query", name], f"String should have at most {longest} characters")
        values[name] = value or None
    kind = values["kind"]
    query = SearchQuery(
        q=(values["q"] or "").strip() or None,
        kind=kind if kind in ("app", "dataset") else None,  # type: ignore[arg-type]
        **{key: values[key] for key in FILTERS if key != "kind"},
    )
    return query, values["cursor"]


@router.api_route("/search", methods=["GET", "HEAD"], name="search")
async def search(request: Request, principal: PagePrincipal) -> Response:
    def build(session: Session) -> Response:
        query, cursor = search_query(request)
        params: dict[str, Any] = {"q": query.q} | {key: getattr(query, key) for key in FILTERS}
        found = service.results(session, principal, query, limit=RESULTS_PER_PAGE, cursor=cursor)
        return render(
            request,
            "search.html",
            results=found,
            query=query,
            params=params,
            active=[key for key in FILTERS if params[key]],
            cursor=cursor,
        )

    return await page(request, principal, build)


# Ids are UUIDs in the route itself: any other text is no page, so it is the 404 page
# like every unknown address, never a 422 about the id.
@router.api_route("/apps/{app_id:uuid}", methods=["GET", "HEAD"], name="app")
async def app_page(app_id: uuid.UUID, request: Request, principal: PagePrincipal) -> Response:
    return await view(
        request, principal, "app.html", lambda s: service.app_page(s, principal, app_id)
    )


@router.api_route("/datasets/{dataset_id:uuid}", methods=["GET", "HEAD"], name="dataset")
async def dataset_page(
    dataset_id: uuid.UUID, request: Request, principal: PagePrincipal
) -> Response:
    return await view(
        request, principal, "dataset.html", lambda s: service.dataset_page(s, principal, dataset_id)
    )


@router.api_route("/publishers/{ref}", methods=["GET", "HEAD"], name="publisher")
async def publisher_page(ref: str, request: Request, principal: PagePrincipal) -> Response:
    return await view(
        request, principal, "publisher.html", lambda s: service.publisher_page(s, principal, ref)
    )


@router.api_route("/node", methods=["GET", "HEAD"], name="node")
async def node_page(request: Request, principal: PagePrincipal) -> Response:
    from registry import __version__

    return await view(request, principal, "node.html", service.node_page, version=__version__)


@router.get("/lang/{language}", name="language")
def choose_language(language: str, next: str = "/") -> Response:
    """Remember the reader's language for a year and go back to the page they were on.
    A plain link, so the switch works without JavaScript and from the keyboard."""
    if language not in i18n.LANGUAGES:
        raise NotFound(f"no language {language!r}; this node speaks {', '.join(i18n.LANGUAGES)}")
    # Only a path on this node: never an open redirect to another site.
    if not next.startswith("/") or next.startswith("//") or "\\" in next:
        next = "/"
    response = RedirectResponse(next, status_code=303)
    response.set_cookie(
        i18n.COOKIE, language, max_age=365 * 24 * 3600, httponly=True, samesite="lax"
    )
    return response


@router.api_route("/static/{name}", methods=["GET", "HEAD"], name="static")
def static(name: str) -> Response:
    if name not in STATIC_FILES:
        raise NotFound(f"no file {name!r}")
    data, _fingerprint = static_file(name)
    return Response(
        data,
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
