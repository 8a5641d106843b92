"""HTTP conventions every router shares (DESIGN §6): ETag and If-Match, the ``Link``
header of paged lists, and ``Idempotency-Key`` on creates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Header, Request, Response
from pydantic import BaseModel
from sqlmodel import Session
from starlette.datastructures import URL

from registry import idempotency
from registry.db import Tracked
from registry.errors import NotFound, PreconditionFailed
from registry.principal import Principal
from registry.responses import JSONResponse

T = TypeVar("T", bound=Tracked)

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag of the version you read; the change is refused (412) if it "
        "has changed since.",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Repeat a create safely: the same key and body return the first "
        "response and create nothing more.",
    ),
]


def etag_of(change_seq: int) -> str:
    # change_seq is unique across the node and moves on every write: a strong
    # validator without hashing the body.
    return f'"{change_seq}"'


def version_of(item: Tracked) -> int:
    """The number in an item's ETag: its change_seq, or for a mirror (which is not in
    this node's sequence) its origin's last update, in microseconds."""
    if getattr(item, "origin", None) is not None:
        return int(item.updated_at.timestamp() * 1e6)
    return item.change_seq


def check_if_match(if_match: str | None, change_seq: int) -> None:
    if if_match is None:
        return
    current = etag_of(change_seq)
    offered = [tag.strip() for tag in if_match.split(",")]
    if "*" not in offered and current not in offered:
        raise PreconditionFailed(
            f"the item has changed: its ETag is now {current}; read it again and retry"
        )


def lock_for_write(session: Session, item: T, if_match: str | None) -> T:
    """Re-read ``item`` holding its row until the transaction ends, then test If-Match.

    The precondition and the write must be one step: with a plain read, concurrent
    requests carrying the same ETag all pass the test before any of them writes, and
    all but one lose their update without knowing (on PostgreSQL; SQLite serialises
    writers at BEGIN). With the row lock the second request waits for the first to
    commit, re-reads the row, sees the new change_seq and gets its 412. Every PATCH
    and DELETE calls this, with or without If-Match, so each change applies to the
    latest version of the row.
    """
    session.refresh(item, with_for_update=True)
    check_if_match(if_match, version_of(item))
    if item.deleted_at is not None:
        raise NotFound("the item was deleted by a concurrent request")
    return item


def with_etag(response: Response, item: Tracked) -> None:
    # The same version as the body's ``etag`` (see ``version_of``), mirrors included.
    response.headers["ETag"] = etag_of(version_of(item))


def set_next_link(request: Request, response: Response, next_cursor: str | None) -> None:
    if next_cursor is not None:
        # From the configured base URL, never from the request's Host header, which
        # the client (or anyone in front of the node) chooses.
        issuer: str = request.app.state.settings.issuer
        query = f"?{request.url.query}" if request.url.query else ""
        url = URL(f"{issuer}{request.url.path}{query}").include_query_params(cursor=next_cursor)
        response.headers["Link"] = f'<{url}>; rel="next"'


def created(
    request: Request,
    session: Session,
    principal: Principal,
    key: str | None,
    payload: BaseModel,
    create: Callable[[], BaseModel],
    location: Callable[[dict[str, Any]], str],
) -> JSONResponse:
    """Run ``create`` once per Idempotency-Key and answer 201 with Location and ETag.

    ``create`` returns the public model of the new item. A repeat of the same key and
    body replays the first response without calling ``create``.
    """
    body_print = idempotency.fingerprint(
        request.method, request.url.path, payload.model_dump_json(exclude_unset=True).encode()
    )
    if key is not None:
        earlier = idempotency.claim(
            session,
            client_id=principal.client_id,
            key=key,
            method=request.method,
            path=request.url.path,
            print_=body_print,
        )
        if earlier is not None:
            return _created_response(earlier.body, earlier.status_code, location, replayed=True)
    body = create().model_dump(mode="json")
    if key is not None:
        idempotency.complete(
            session, client_id=principal.client_id, key=key, status_code=201, body=body
        )
    return _created_response(body, 201, location, replayed=False)


def _created_response(
    body: dict[str, Any],
    status: int,
    location: Callable[[dict[str, Any]], str],
    *,
    replayed: bool,
) -> JSONResponse:
    headers = {"Location": location(body), "ETag": body["etag"]}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=status, headers=headers)


def preferred_media(accept: str | None, offered: Sequence[str]) -> str | None:
    """The media type of ``offered`` the ``Accept`` header prefers (the first offered on
    a tie, or when there is no header), or None when it accepts none of them."""
    if not accept:
        return offered[0]
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        for rank, candidate in enumerate(offered):
            kind = candidate.split("/")[0]
            if media in (candidate, f"{kind}/*", "*/*") and quality > 0:
                # Exact types beat wildcards at the same quality.
                key = (quality, -rank if media == candidate else -rank - len(offered), candidate)
                if best is None or key[:2] > best[:2]:
                    best = key
    return best[2] if best else None
