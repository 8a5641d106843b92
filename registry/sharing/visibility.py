"""Who may see what: the one place read paths ask.

Local items: anonymous callers see ``public`` ones; a publisher's client also sees its
own publisher's ``partners`` and ``private`` items; a peer node's token sees the
``partners`` items of publishers that hold an active partnership with one of that
node's publishers; the node's admin sees everything.

Mirrors (rows whose ``origin`` is a peer): ``public`` ones are seen by anyone,
``partners`` ones only by the local publishers in their ``audience`` (and the admin),
so partner-only data never becomes public on the partner's node.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from registry.catalog.models import App, Dataset, Visibility
from registry.oauth.principal import Principal
from registry.sharing import restamp  # noqa: F401  (registers the feed re-stamping)
from registry.sharing.models import Partnership, PartnershipStatus

Owned = type[App] | type[Dataset]


def today() -> date:
    return date.today()


def active_partnership_clause() -> ColumnElement[bool]:
    """Partnerships in force now: active and not past their end date. (A job also
    marks overdue ones ``expired``; this keeps reads right until it has run.)"""
    return sa.and_(
        Partnership.status == PartnershipStatus.active,  # type: ignore[arg-type]
        Partnership.deleted_at.is_(None),  # type: ignore[union-attr]
        sa.or_(
            Partnership.valid_until.is_(None),  # type: ignore[union-attr]
            col(Partnership.valid_until) >= today(),
        ),
    )


def partnered_publishers(node_id: str) -> Any:
    """Ids of local publishers with an active partnership with a publisher of ``node_id``."""
    return (
        sa.select(col(Partnership.publisher_id))
        .where(col(Partnership.peer_node_id) == node_id, active_partnership_clause())
        .scalar_subquery()
    )


def partner_codes(session: Session, node_id: str) -> dict[uuid.UUID, list[str]]:
    """For each local publisher, the codes of ``node_id``'s publishers it is actively
    partnered with: the ``audience`` of its ``partners`` items on that node."""
    rows = session.exec(
        select(Partnership.publisher_id, Partnership.partner_code).where(
            Partnership.peer_node_id == node_id, active_partnership_clause()
        )
    ).all()
    audience: dict[uuid.UUID, list[str]] = {}
    for publisher_id, code in rows:
        codes = audience.setdefault(publisher_id, [])
        if code not in codes:
            codes.append(code)
    for codes in audience.values():
        codes.sort()
    return audience


def in_audience(column: Any, publisher_id: uuid.UUID) -> ColumnElement[bool]:
    # The audience is a JSON array of UUID strings; as text, each appears in quotes on
    # both SQLite and PostgreSQL, and a UUID has no character LIKE treats specially.
    return sa.cast(column, sa.Text).contains(f'"{publisher_id}"')


def visible_clause(model: Owned, principal: Principal | None) -> ColumnElement[bool]:
    """A WHERE clause selecting the rows of ``model`` that ``principal`` may see."""
    public: ColumnElement[bool] = model.visibility == Visibility.public  # type: ignore[assignment]
    if principal is None:
        return public
    if principal.is_admin:
        return sa.true()
    local = model.origin.is_(None)  # type: ignore[union-attr]
    allowed = [public]
    if principal.publisher_id is not None:
        allowed.append(sa.and_(local, model.publisher_id == principal.publisher_id))  # type: ignore[arg-type]
        allowed.append(
            sa.and_(
                model.origin.is_not(None),  # type: ignore[union-attr]
                model.visibility == Visibility.partners,  # type: ignore[arg-type]
                in_audience(model.audience, principal.publisher_id),
            )
        )
    if principal.node_id is not None:
        allowed.append(
            sa.and_(
                local,
                model.visibility == Visibility.partners,  # type: ignore[arg-type]
                model.publisher_id.in_(partnered_publishers(principal.node_id)),  # type: ignore[attr-defined]
            )
        )
    return sa.or_(*allowed)


def can_see(
    item: App | Dataset, principal: Principal | None, session: Session | None = None
) -> bool:
    if item.visibility == Visibility.public:
        return True
    if principal is None:
        return False
    if principal.is_admin:
        return True
    if item.origin is not None:
        return (
            item.visibility == Visibility.partners
            and principal.publisher_id is not None
            and str(principal.publisher_id) in (item.audience or [])
        )
    if item.publisher_id == principal.publisher_id:
        return True
    if principal.node_id is not None and item.visibility == Visibility.partners:
        if session is None:
            return False
        found = session.exec(
            select(Partnership.id).where(
                Partnership.peer_node_id == principal.node_id,
                Partnership.publisher_id == item.publisher_id,
                active_partnership_clause(),
            )
        ).first()
        return found is not None
    return False
