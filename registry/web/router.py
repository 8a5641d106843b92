"""The catalog pages: server-rendered HTML for people, beside the API for programs.

Routes are thin, as the API's are: read the query, ask :mod:`registry.web.service`
(which reads through the catalog's services and visibility rule), render a template.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from registry.deps import SessionDep
from registry.errors import NotFound
from registry.oauth.principal import Principal
from registry.search.service import SearchQuery
from registry.web import i18n, service
from registry.web.render import STATIC_FILES, language_of, render, static_file

router = APIRouter(include_in_schema=False)

RESULTS_PER_PAGE = 20


def page_principal(request: Request) -> Principal | None:
    """Who is reading a page. Pages have no sign-in yet, so every reader is anonymous
    and sees what ``/api/v1`` shows without a token. A bearer token is deliberately not
    read here: a browser never sends one, and sign-in for people (OIDC with a session
    cookie) will be resolved by this dependency alone, leaving every page unchanged."""
    return None


PagePrincipal = Annotated[Principal | None, Depends(page_principal)]


def cached(
    request: Request,
    session: Session,
    principal: Principal | None,
    build: Callable[[], Response],
) -> Response:
    """The page ``build`` makes, kept for the anonymous view until the catalog changes
    (see :class:`registry.web.service.ViewCache`): by address and language, the only
    other things a page depends on."""
    if principal is not None:
        return build()

    def freeze() -> tuple[bytes, int, dict[str, str]]:
        response = build()
        return bytes(response.body), response.status_code, dict(response.headers)

    key = ("page", request.url.path, request.url.query, language_of(request))
    body, status, headers = service.page_cache.get(session, principal, key, freeze)
    headers.pop("content-length", None)
    return Response(body, status_code=status, headers=headers)


@router.api_route("/", methods=["GET", "HEAD"], name="home")
def home(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    def build() -> Response:
        data = service.home(session, principal)
        peers = service.peers_by_node(session)
        return render(request, "home.html", home=data, params={}, peers=peers)

    return cached(request, session, principal, build)


def _search_query(
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
def search(
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    query: Annotated[SearchQuery, Depends(_search_query)],
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    return cached(
        request,
        session,
        principal,
        lambda: _search_page(request, session, principal, query, cursor),
    )


def _search_page(
    request: Request,
    session: Session,
    principal: Principal | None,
    query: SearchQuery,
    cursor: str | None,
) -> Response:
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
        active=[key for key in ("kind", "publisher", "category", "theme", "origin") if params[key]],
        cursor=cursor,
        peers=service.peers_by_node(session),
    )


@router.api_route("/apps/{app_id}", methods=["GET", "HEAD"], name="app")
def app_page(
    app_id: str, request: Request, session: SessionDep, principal: PagePrincipal
) -> Response:
    def build() -> Response:
        data = service.app_page(session, principal, service.ensure_uuid(app_id, "app"))
        return render(request, "app.html", page=data, app=data.app, params={})

    return cached(request, session, principal, build)


@router.api_route("/datasets/{dataset_id}", methods=["GET", "HEAD"], name="dataset")
def dataset_page(
    dataset_id: str, request: Request, session: SessionDep, principal: PagePrincipal
) -> Response:
    def build() -> Response:
        data = service.dataset_page(session, principal, service.ensure_uuid(dataset_id, "dataset"))
        return render(request, "dataset.html", page=data, dataset=data.dataset, params={})

    return cached(request, session, principal, build)


@router.api_route("/publishers/{ref}", methods=["GET", "HEAD"], name="publisher")
def publisher_page(
    ref: str, request: Request, session: SessionDep, principal: PagePrincipal
) -> Response:
    def build() -> Response:
        data = service.publisher_page(session, principal, ref)
        return render(request, "publisher.html", page=data, publisher=data.publisher, params={})

    return cached(request, session, principal, build)


@router.api_route("/node", methods=["GET", "HEAD"], name="node")
def node_page(request: Request, session: SessionDep) -> Response:
    from registry import __version__

    data = service.node_page(session)
    return render(request, "node.html", page=data, version=__version__, params={})


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
