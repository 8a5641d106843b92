"""Request dependencies shared by every router, as ``Annotated`` aliases: the settings,
the request's unit of work, the paging of lists and the answer of creates. Who is
calling is checked by ``registry.oauth.deps``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel
from sqlmodel import Session

from registry.db import Bind, session_scope
from registry.http import IdempotencyKey, created, set_next_link
from registry.principal import Principal
from registry.querying import PageOf
from registry.responses import JSONResponse
from registry.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` one in a
# worker thread, and the trip to the thread pool costs more than the work itself.
async def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Bind:
    engine: Bind = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed before the response is sent, rolled
    back if the handler raises."""
    with session_scope(request.app.state.engine, write=request.method not in SAFE_METHODS) as s:
        yield s


SettingsDep = Annotated[Settings, Depends(app_settings)]
# scope="function": the session commits when the handler returns, before the response
# leaves, so a failed commit is reported instead of a success that did not happen.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def page_size(
    settings: SettingsDep, limit: Annotated[int | None, Query(ge=1, le=200)] = None
) -> int:
    """How many items a list page holds: the ``limit`` asked for, else the node's
    default, and never more than its maximum."""
    return min(limit or settings.default_page_size, settings.max_page_size)


# Every paged list takes these two: ``limit`` and the ``cursor`` of the previous page.
Limit = Annotated[int, Depends(page_size)]
Cursor = Annotated[str | None, Query(max_length=200, description="From `next_cursor`.")]


@dataclass(frozen=True)
class Paging:
    """The page of a list a request asks for: ``limit`` items after ``cursor``."""

    limit: int
    cursor: str | None
    request: Request
    response: Response

    def next(self, page: PageOf[Any]) -> str | None:
        """The cursor of the page after ``page``, which the response's ``Link`` header
        then points at too."""
        set_next_link(self.request, self.response, page.next_cursor)
        return page.next_cursor


async def paging(
    request: Request, response: Response, limit: Limit, cursor: Cursor = None
) -> Paging:
    return Paging(limit, cursor, request, response)


PagingDep = Annotated[Paging, Depends(paging)]


@dataclass(frozen=True)
class Creation:
    """How a create route answers (see ``registry.http.created``): ``create`` runs once
    per ``Idempotency-Key``, and the answer is 201 with the new item's ETag and its
    Location in ``collection``."""

    request: Request
    session: Session
    idempotency_key: str | None

    def __call__(
        self,
        principal: Principal,
        payload: BaseModel,
        create: Callable[[], BaseModel],
        collection: str,
    ) -> JSONResponse:
        return created(
            self.request,
            self.session,
            principal,
            self.idempotency_key,
            payload,
            create,
            lambda body: f"{collection}/{body['id']}",
        )


def creation(
    request: Request, session: SessionDep, idempotency_key: IdempotencyKey = None
) -> Creation:
    return Creation(request, session, idempotency_key)


CreationDep = Annotated[Creation, Depends(creation)]
Handler = TypeVar("Handler", bound=Callable[..., Any])


def creates(
    router: APIRouter,
    path: str,
    operation_id: str,
    public: type[BaseModel],
    responses: dict[int | str, dict[str, Any]],
) -> Callable[[Handler], Handler]:
    """The decorator of a route that creates an item in the collection at ``path`` and
    answers with a ``Creation``: 201, the item as ``public``."""
    return router.post(
        path,
        operation_id=operation_id,
        status_code=status.HTTP_201_CREATED,
        response_model=public,
        responses=responses,
    )


EngineDep = Annotated[Bind, Depends(get_engine)]
