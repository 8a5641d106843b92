"""``GET /api/v1/search``: apps and datasets together, with facet counts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from registry.catalog.models import App, Dataset
from registry.deps import Cursor, Limit, SessionDep, SettingsDep
from registry.errors import problem_responses
from registry.global_ids import global_id
from registry.http import set_next_link
from registry.oauth.deps import PrincipalDep
from registry.responses import encoded
from registry.search import service
from registry.settings import Settings

READ_ERRORS = problem_responses(401, 404, 422)

router = APIRouter(tags=["search"])


class SearchHit(BaseModel):
    kind: Literal["app", "dataset"]
    id: str
    slug: str
    title: str
    summary: str | None = Field(description="The short description, in Indonesian if given.")
    publisher: str
    origin: str
    global_id: str
    visibility: str
    snippet: str | None = Field(
        default=None,
        description="HTML: a passage of the item's text with the matching words in "
        "<mark>; everything else in it is escaped text.",
    )


class SearchResults(BaseModel):
    items: list[SearchHit]
    next_cursor: str | None
    total: int = Field(
        description="How many items match, over all pages; an estimate when `total_exact` is false."
    )
    total_exact: bool = Field(
        default=True,
        description="False when the matches were too many to count one by one: `total` "
        "is then estimated from a sample of them (as the facets are).",
    )
    facets: dict[str, dict[str, int]] = Field(
        description="Counts over all matches by kind, publisher (its code, or "
        "code@origin for a mirrored one), category (apps), theme and format (datasets), "
        "license, development_status, spbe_class and origin."
    )
    facets_exact: bool = Field(
        default=True,
        description="False when the matches were too many to count one by one and the "
        "facet counts are estimated from a sample of them.",
    )
    did_you_mean: str | None = Field(
        default=None,
        description="The corrected query, when words that match nothing were replaced by "
        "the nearest indexed words (the results are for it).",
    )


async def search_query(
    q: Annotated[str | None, Query(max_length=200, description="Text to look for")] = None,
    kind: Literal["app", "dataset"] | None = None,
    publisher: Annotated[str | None, Query(description="Publisher code or id")] = None,
    category: Annotated[str | None, Query(max_length=64, description="App category")] = None,
    theme: Annotated[str | None, Query(max_length=8, description="Dataset theme")] = None,
    origin: Annotated[
        str | None, Query(max_length=2048, description="local, peers, or a peer's node id")
    ] = None,
    format: Annotated[
        str | None, Query(max_length=64, description="A dataset distribution's format")
    ] = None,
    license: Annotated[str | None, Query(max_length=500, description="SPDX expression")] = None,
    development_status: Annotated[
        str | None, Query(max_length=32, description="An app's development status")
    ] = None,
    spbe_class: Annotated[
        str | None, Query(max_length=16, description="An app's SPBE class")
    ] = None,
) -> service.SearchQuery:
    return service.SearchQuery(
        q=q,
        kind=kind,
        publisher=publisher,
        category=category,
        theme=theme,
        origin=origin,
        format=format,
        license=license,
        development_status=development_status,
        spbe_class=spbe_class,
    )


def _localised(texts: dict[str, Any], pick: Any = lambda value: value) -> str | None:
    for language in ("id", "en", *texts):
        if language in texts:
            return str(pick(texts[language]))
    return None


def hit_public(settings: Settings, hit: service.Hit) -> SearchHit:
    item = hit.item
    origin = item.origin or settings.issuer
    if isinstance(item, App):
        title = item.name
        summary = _localised(item.description, lambda d: d.get("short_description"))
    else:
        assert isinstance(item, Dataset)
        title = _localised(item.title) or item.slug
        summary = _localised(item.description)
    return SearchHit(
        kind=hit.kind,
        id=str(item.id),
        slug=item.slug,
        title=title,
        summary=summary[:300] if summary else None,
        publisher=hit.publisher.code,
        origin=origin,
        global_id=global_id(origin, hit.kind, item.id),
        visibility=item.visibility.value,
        snippet=hit.snippet,
    )


@router.get("/search", operation_id="search", response_model=SearchResults, responses=READ_ERRORS)
def search(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: Annotated[service.SearchQuery, Depends(search_query)],
    limit: Limit,
    cursor: Cursor = None,
) -> Response:
    """Apps and datasets the caller may see, local and mirrored: with `q`, best match
    first (by relevance, then id); without, oldest first. Words are matched in any
    form (Indonesian and English stems), across languages through the glossary, as a
    prefix for the last word, and corrected when they match nothing."""
    page = service.search(session, principal, query, limit=limit, cursor=cursor)
    results = SearchResults(
        items=[hit_public(settings, hit) for hit in page.hits],
        next_cursor=page.next_cursor,
        total=page.total,
        total_exact=page.total_exact,
        facets=page.facets,
        facets_exact=page.facets_exact,
        did_you_mean=page.did_you_mean,
    )
    response = encoded(results)
    set_next_link(request, response, page.next_cursor)
    return response
