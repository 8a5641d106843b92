"""Routes that several kinds of catalog item share, written once.

An app and a dataset are created, changed and deleted alike, by their publisher's
clients (:class:`OwnedRoutes`, :func:`owned_router`). A release under its app and a distribution
under its dataset are listed, created, read, changed and deleted alike, the parent
deciding who sees and who may change them (:class:`ChildRoutes`, :func:`child_router`).
Only their names, schemas and service functions differ, and those are handed in.
Routes only one kind has (an app's list filters, a dataset's DCAT-AP documents, a
release's files) stay in ``registry.catalog.router``.
"""

# No ``from __future__ import annotations`` here: FastAPI reads each route's parameters
# from its annotations when the route is added, and these name the loaders handed in.

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Protocol, TypeVar

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel
from sqlmodel import Session

from registry.catalog.schemas import Page
from registry.db import Tracked
from registry.deps import CreationDep, PagingDep, SessionDep, SettingsDep
from registry.http import IfMatch, lock_for_write, with_etag
from registry.oauth.deps import CatalogWriter
from registry.principal import Principal
from registry.querying import PageOf
from registry.responses import JSONResponse
from registry.settings import Settings

# A route: its method, path, operation id, endpoint and what add_api_route is told besides.
Route = tuple[str, str, str, Callable[..., Any], dict[str, Any]]
# The error responses a route declares (registry.errors.problem_responses).
Responses = dict[int | str, dict[str, Any]]
# How the routes that create and delete answer, besides their schemas.
CREATED: dict[str, Any] = {"status_code": status.HTTP_201_CREATED}
DELETED: dict[str, Any] = {"status_code": status.HTTP_204_NO_CONTENT, "response_model": None}


class Parent(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


ParentT = TypeVar("ParentT", bound=Parent)
ParentT_contra = TypeVar("ParentT_contra", bound=Parent, contravariant=True)
ItemT = TypeVar("ItemT", bound=Tracked)
CreateT = TypeVar("CreateT", bound=BaseModel)
UpdateT = TypeVar("UpdateT", bound=BaseModel)
PublicT = TypeVar("PublicT", bound=BaseModel)


class Lister(Protocol[ParentT_contra, ItemT]):
    """A service function that lists a parent's children a page at a time."""

    def __call__(
        self, session: Session, parent: ParentT_contra, /, *, limit: int, cursor: str | None
    ) -> PageOf[ItemT]: ...


@dataclass(frozen=True)
class ChildRoutes(Generic[ParentT, ItemT, CreateT, UpdateT, PublicT]):
    """What the routes of one kind of child are made of.

    ``name`` makes the tag and the operation ids (``list_releases``, ``get_release``,
    …); ``path`` is one child's, below its parent's, and its parameters are what the
    two ``loaders`` (parent, then child) read; ``bodies`` are the create and update
    schemas, ``public`` the schemas of one child and of a page, ``view`` shapes a child
    as the first. The service functions take the parent as well as the child because
    the parent decides who may change it.
    """

    name: str
    path: str
    loaders: tuple[Callable[..., ParentT], Callable[..., ItemT]]
    bodies: tuple[type[CreateT], type[UpdateT]]
    public: tuple[type[PublicT], type[Page]]
    view: Callable[[Settings, ItemT], PublicT]
    list: Lister[ParentT, ItemT]
    create: Callable[[Session, Principal, ParentT, CreateT], ItemT]
    update: Callable[[Session, Principal, ParentT, ItemT, UpdateT], ItemT]
    delete: Callable[[Session, Principal, ParentT, ItemT], None]

    @property
    def plural(self) -> str:
        return f"{self.name}s"

    @property
    def collection(self) -> str:
        """The path where the parent's children are listed and created."""
        return self.path.rpartition("/")[0]

    def collection_url(self, parent: ParentT) -> str:
        """The collection's URL for ``parent``, where a new child is found (Location)."""
        before, _, after = self.collection.partition("{")
        return f"/api/v1{before}{parent.id}{after.partition('}')[2]}"


def child_router(
    child: ChildRoutes[ParentT, ItemT, CreateT, UpdateT, PublicT],
    read_errors: Responses,
    write_errors: Responses,
) -> APIRouter:
    """The list, create, get, update and delete routes of ``child``, each declaring
    ``read_errors`` or ``write_errors``."""
    name, plural = child.name, child.plural
    list_children, get_child = _child_reads(child)
    create_child, update_child, delete_child = _child_writes(child)
    page = {"response_model": child.public[1]}
    routes: list[Route] = [
        ("GET", child.collection, f"list_{plural}", list_children, page),
        ("POST", child.collection, f"create_{name}", create_child, CREATED),
        ("GET", child.path, f"get_{name}", get_child, {}),
        ("PATCH", child.path, f"update_{name}", update_child, {}),
        ("DELETE", child.path, f"delete_{name}", delete_child, DELETED),
    ]
    return _router(plural, routes, child.public[0], read_errors, write_errors)


def _child_reads(
    child: ChildRoutes[ParentT, ItemT, CreateT, UpdateT, PublicT],
) -> tuple[Callable[..., Page], Callable[..., PublicT]]:
    parent_of_path, item_of_path = child.loaders
    page_of = child.public[1]

    def list_children(
        parent: Annotated[ParentT, Depends(parent_of_path)],
        session: SessionDep,
        settings: SettingsDep,
        paging: PagingDep,
    ) -> Page:
        page = child.list(session, parent, limit=paging.limit, cursor=paging.cursor)
        return page_of.model_validate(
            {
                "items": [child.view(settings, item) for item in page.items],
                "next_cursor": paging.next(page),
            }
        )

    def get_child(
        item: Annotated[ItemT, Depends(item_of_path)],
        response: Response,
        settings: SettingsDep,
    ) -> PublicT:
        with_etag(response, item)
        return child.view(settings, item)

    return list_children, get_child


def _child_writes(
    child: ChildRoutes[ParentT, ItemT, CreateT, UpdateT, PublicT],
) -> tuple[Callable[..., JSONResponse], Callable[..., PublicT], Callable[..., None]]:
    parent_of_path, item_of_path = child.loaders

    def create_child(
        principal: CatalogWriter,
        parent: Annotated[ParentT, Depends(parent_of_path)],
        item_in: CreateT,
        session: SessionDep,
        settings: SettingsDep,
        creation: CreationDep,
    ) -> JSONResponse:
        def create() -> PublicT:
            return child.view(settings, child.create(session, principal, parent, item_in))

        return creation(principal, item_in, create, child.collection_url(parent))

    def update_child(
        principal: CatalogWriter,
        parent: Annotated[ParentT, Depends(parent_of_path)],
        item: Annotated[ItemT, Depends(item_of_path)],
        item_in: UpdateT,
        response: Response,
        session: SessionDep,
        settings: SettingsDep,
        if_match: IfMatch = None,
    ) -> PublicT:
        item = lock_for_write(session, item, if_match)
        item = child.update(session, principal, parent, item, item_in)
        with_etag(response, item)
        return child.view(settings, item)

    def delete_child(
        principal: CatalogWriter,
        parent: Annotated[ParentT, Depends(parent_of_path)],
        item: Annotated[ItemT, Depends(item_of_path)],
        session: SessionDep,
        if_match: IfMatch = None,
    ) -> None:
        item = lock_for_write(session, item, if_match)
        child.delete(session, principal, parent, item)

    # The request bodies' schemas are read from the annotations, which name them only
    # as type variables until here.
    create_child.__annotations__["item_in"], update_child.__annotations__["item_in"] = child.bodies
    return create_child, update_child, delete_child


@dataclass(frozen=True)
class OwnedRoutes(Generic[ItemT, CreateT, UpdateT, PublicT]):
    """What the create, update and delete routes of an app or a dataset are made of:
    ``name`` makes the operation ids, ``loader`` reads the item named by ``path``,
    ``schemas`` are the bodies' and the answer's (which ``view`` shapes), ``rules`` the
    service's create, update and delete."""

    name: str
    path: str
    loader: Callable[..., ItemT]
    schemas: tuple[type[CreateT], type[UpdateT], type[PublicT]]
    view: Callable[[Session, Settings, ItemT], PublicT]
    rules: tuple[
        Callable[[Session, Principal, CreateT], ItemT],
        Callable[[Session, Principal, ItemT, UpdateT], ItemT],
        Callable[[Session, Principal, ItemT], None],
    ]

    @property
    def collection(self) -> str:
        """The path where items of this kind are listed and created."""
        return self.path.rpartition("/")[0]


def owned_router(
    owned: OwnedRoutes[ItemT, CreateT, UpdateT, PublicT], write_errors: Responses
) -> APIRouter:
    """The create, update and delete routes of ``owned``, each declaring
    ``write_errors``. (Its list and its read differ by kind, and stay in the router.)"""
    name = owned.name
    create_owned, update_owned, delete_owned = _owned_writes(owned)
    routes: list[Route] = [
        ("POST", owned.collection, f"create_{name}", create_owned, CREATED),
        ("PATCH", owned.path, f"update_{name}", update_owned, {}),
        ("DELETE", owned.path, f"delete_{name}", delete_owned, DELETED),
    ]
    return _router(f"{name}s", routes, owned.schemas[2], write_errors, write_errors)


def _owned_writes(
    owned: OwnedRoutes[ItemT, CreateT, UpdateT, PublicT],
) -> tuple[Callable[..., JSONResponse], Callable[..., PublicT], Callable[..., None]]:
    create, update, delete = owned.rules

    def create_owned(
        principal: CatalogWriter,
        item_in: CreateT,
        session: SessionDep,
        settings: SettingsDep,
        creation: CreationDep,
    ) -> JSONResponse:
        def created() -> PublicT:
            return owned.view(session, settings, create(session, principal, item_in))

        return creation(principal, item_in, created, f"/api/v1{owned.collection}")

    def update_owned(
        principal: CatalogWriter,
        item: Annotated[ItemT, Depends(owned.loader)],
        item_in: UpdateT,
        response: Response,
        session: SessionDep,
        settings: SettingsDep,
        if_match: IfMatch = None,
    ) -> PublicT:
        item = update(session, principal, lock_for_write(session, item, if_match), item_in)
        with_etag(response, item)
        return owned.view(session, settings, item)

    def delete_owned(
        principal: CatalogWriter,
        item: Annotated[ItemT, Depends(owned.loader)],
        session: SessionDep,
        if_match: IfMatch = None,
    ) -> None:
        delete(session, principal, lock_for_write(session, item, if_match))

    # As for a child: the bodies' schemas are read from the annotations.
    create_owned.__annotations__["item_in"] = owned.schemas[0]
    update_owned.__annotations__["item_in"] = owned.schemas[1]
    return create_owned, update_owned, delete_owned


def _router(
    tag: str,
    routes: list[Route],
    public: type[BaseModel],
    read_errors: Responses,
    write_errors: Responses,
) -> APIRouter:
    """A router of ``routes`` (method, path, operation id, endpoint, options), tagged
    ``tag``: each answers ``public`` unless its options say otherwise, and declares the
    errors of a read or of a write."""
    router = APIRouter(tags=[tag])
    answer: dict[str, Any] = {"response_model": public}
    for method, path, operation_id, endpoint, options in routes:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            operation_id=operation_id,
            name=operation_id,
            responses=read_errors if method == "GET" else write_errors,
            **(answer | options),
        )
    return router
