"""Request dependencies shared by every router, as ``Annotated`` aliases: the settings,
the request's unit of work and the paging of lists. Who is calling is checked by
``registry.oauth.deps``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlmodel import Session

from registry.db import Bind, session_scope
from registry.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Bind:
    engine: Bind = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed before the response is sent, rolled
    back if the handler raises."""
    with session_scope(request.app.state.engine, write=request.method not in SAFE_METHODS) as s:
        yield s


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": the session commits when the handler returns, before the response
# leaves, so a failed commit is reported instead of a success that did not happen.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def page_size(
    settings: SettingsDep, limit: Annotated[int | None, Query(ge=1, le=200)] = None
) -> int:
    """How many items a list page holds: the ``limit`` asked for, else the node's
    default, and never more than its maximum."""
    return min(limit or settings.default_page_size, settings.max_page_size)


# Every paged list takes these two: ``limit`` and the ``cursor`` of the previous page.
Limit = Annotated[int, Depends(page_size)]
Cursor = Annotated[str | None, Query(max_length=200, description="From `next_cursor`.")]
EngineDep = Annotated[Bind, Depends(get_engine)]
