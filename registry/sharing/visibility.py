"""Who may see what: the one place read paths ask.

Anonymous callers see ``public`` items only; a publisher's client also sees its own
publisher's ``partners`` and ``private`` items; the node's admin sees everything.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from registry.catalog.models import App, Dataset, Visibility
from registry.oauth.principal import Principal

Owned = type[App] | type[Dataset]


def visible_clause(model: Owned, principal: Principal | None) -> ColumnElement[bool]:
    """A WHERE clause selecting the rows of ``model`` that ``principal`` may see."""
    public: ColumnElement[bool] = model.visibility == Visibility.public  # type: ignore[assignment]
    if principal is None:
        return public
    if principal.is_admin:
        return sa.true()
    if principal.publisher_id is not None:
        return sa.or_(public, model.publisher_id == principal.publisher_id)  # type: ignore[arg-type]
    return public


def can_see(item: App | Dataset, principal: Principal | None) -> bool:
    if item.visibility == Visibility.public:
        return True
    if principal is None:
        return False
    return principal.is_admin or item.publisher_id == principal.publisher_id
