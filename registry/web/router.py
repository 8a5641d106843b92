"""The catalog pages: server-rendered HTML for people, beside the API for programs.

Routes are thin, as the API's are: read the query, ask :mod:`registry.web.service`
(which reads through the catalog's services and visibility rule), render a template.

Pages of the anonymous view are kept once rendered (:data:`service.page_cache`) and
served again while the catalog's version is the same. Checking that version is two
small reads, done on the event loop over a connection kept for it, so a page that has
not changed costs no thread hop and no new database connection; a page that has to be
built is built in the thread pool in a read-only unit of work of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from registry.db import session_scope
from registry.errors import NotFound
from registry.principal import Principal
from registry.search.service import SearchQuery
from registry.web import i18n, service
from registry.web.render import STATIC_FILES, language_of, render, static_file

router = APIRouter(include_in_schema=False)

RESULTS_PER_PAGE = 20


async def page_principal(request: Request) -> Principal | None:
    """Who is reading a page. Pages have no sign-in yet, so every reader is anonymous
    and sees what ``/api/v1`` shows without a token. A bearer token is deliberately not
    read here: a browser never sends one, and sign-in for people (OIDC with a session
    cookie) will be resolved by this dependency alone, leaving every page unchanged."""
    return None


PagePrincipal = Annotated[Principal | None, Depends(page_principal)]
Build = Callable[[Session], Response]


def page_version(request: Request) -> Hashable:
    """The catalog's version (:func:`service.read_version`), read on a connection kept
    for it. In tests the app's bind is the test's own connection, which is used as is."""
    bind = request.app.state.engine
    if isinstance(bind, sa.Connection):
        return service.read_version(bind)
    reader: service.VersionReader | None = getattr(request.app.state, "web_versions", None)
    if reader is None:
        reader = request.app.state.web_versions = service.VersionReader(bind)
    return reader.read()


def _build(request: Request, build: Build) -> Response:
    with session_scope(request.app.state.engine, write=False) as session:
        return build(session)


async def page(request: Request, principal: Principal | None, build: Build) -> Response:
    """The page ``build`` makes, kept for the anonymous view until the catalog changes:
    by address and language, the only other things a page depends on."""
    if principal is not None:
        return await run_in_threadpool(_build, request, build)
    key = (request.url.path, request.url.query, language_of(request))
    version = page_version(request)
    kept = service.page_cache.lookup(key, version)
    if kept is None:
        response = await run_in_threadpool(_build, request, build)
        headers = {k: v for k, v in response.headers.items() if k != "content-length"}
        kept = (bytes(response.body), response.status_code, headers)
        service.page_cache.store(key, version, kept)
    body, status, headers = kept
    return Response(body, status_code=status, headers=headers)


@router.api_route("/", methods=["GET", "HEAD"], name="home")
async def home(request: Request, principal: PagePrincipal) -> Response:
    def build(session: Session) -> Response:
        data = service.home(session, principal)
        peers = service.peers_by_node(session)
        return render(request, "home.html", home=data, params={}, peers=peers)

    return await page(request, principal, build)


async def _search_query(
    q: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[str | None, Query(max_length=16)] = None,
    publisher: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    theme: Annotated[str | None, Query(max_length=8)] = None,
    origin: Annotated[str | None, Query(max_length=2048)] = None,
) -> SearchQuery:
    # A page's query comes from links and a form people may edit by hand: an unknown
    # kind widens the search instead of failing it.
    return SearchQuery(
        q=(q or "").strip() or None,
        kind=kind if kind in ("app", "dataset") else None,  # type: ignore[arg-type]
        publisher=publisher or None,
        category=category or None,
        theme=theme or None,
        origin=origin or None,
    )


@router.api_route("/search", methods=["GET", "HEAD"], name="search")
async def search(
    request: Request,
    principal: PagePrincipal,
    query: Annotated[SearchQuery, Depends(_search_query)],
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    def build(session: Session) -> Response:
        found = service.results(session, principal, query, limit=RESULTS_PER_PAGE, cursor=cursor)
        params: dict[str, Any] = {
            "q": query.q,
            "kind": query.kind,
            "publisher": query.publisher,
            "category": query.category,
            "theme": query.theme,
            "origin": query.origin,
        }
        return render(
            request,
            "search.html",
            results=found,
            query=query,
            params=params,
            active=[k for k in ("kind", "publisher", "category", "theme", "origin") if params[k]],
            cursor=cursor,
            peers=service.peers_by_node(session),
        )

    return await page(request, principal, build)


@router.api_route("/apps/{app_id}", methods=["GET", "HEAD"], name="app")
async def app_page(app_id: str, request: Request, principal: PagePrincipal) -> Response:
    def build(session: Session) -> Response:
        data = service.app_page(session, principal, service.ensure_uuid(app_id, "app"))
        return render(request, "app.html", page=data, app=data.app, params={})

    return await page(request, principal, build)


@router.api_route("/datasets/{dataset_id}", methods=["GET", "HEAD"], name="dataset")
async def dataset_page(dataset_id: str, request: Request, principal: PagePrincipal) -> Response:
    def build(session: Session) -> Response:
        data = service.dataset_page(session, principal, service.ensure_uuid(dataset_id, "dataset"))
        return render(request, "dataset.html", page=data, dataset=data.dataset, params={})

    return await page(request, principal, build)


@router.api_route("/publishers/{ref}", methods=["GET", "HEAD"], name="publisher")
async def publisher_page(ref: str, request: Request, principal: PagePrincipal) -> Response:
    def build(session: Session) -> Response:
        data = service.publisher_page(session, principal, ref)
        return render(request, "publisher.html", page=data, publisher=data.publisher, params={})

    return await page(request, principal, build)


@router.api_route("/node", methods=["GET", "HEAD"], name="node")
async def node_page(request: Request, principal: PagePrincipal) -> Response:
    from registry import __version__

    def build(session: Session) -> Response:
        data = service.node_page(session)
        return render(request, "node.html", page=data, version=__version__, params={})

    return await page(request, principal, build)


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
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
