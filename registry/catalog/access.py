"""Who may read a catalog item: asked here, decided in ``registry.sharing.visibility``.

The rule needs partnerships, which belong to the sharing domain above the catalog, so
the catalog declares what it asks (:class:`ReadRule`) and the sharing domain's rule is
registered at start-up (``registry.startup.start``). There is no other copy.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from registry.catalog.models import App, Dataset
from registry.principal import Principal
from registry.slots import Slot


class ReadRule(Protocol):
    def visible_clause(
        self, model: type[App] | type[Dataset], principal: Principal | None
    ) -> ColumnElement[bool]: ...

    def can_see(
        self, item: App | Dataset, principal: Principal | None, session: Session
    ) -> bool: ...


READ_RULE: Slot[ReadRule] = Slot("the catalog's read rule", "registry.sharing.visibility")


def visible_clause(
    model: type[App] | type[Dataset], principal: Principal | None
) -> ColumnElement[bool]:
    """The rows of ``model`` that ``principal`` may see, as a WHERE clause."""
    return READ_RULE.get().visible_clause(model, principal)


def can_see(item: App | Dataset, principal: Principal | None, session: Session) -> bool:
    """May ``principal`` see this app or dataset?"""
    return READ_RULE.get().can_see(item, principal, session)
