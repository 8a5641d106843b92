"""Who may see an app or a dataset: the node's one visibility rule.

Every read path asks this module and nothing else decides it: lists, search and facets
filter with :func:`visible_clause` (the rule as SQL); single reads, file downloads and
adoption notices ask :func:`can_see`, and the change feed asks :meth:`Viewer.sees` (the
rule in memory). A property test holds the two forms to the same answer on every row.

The rule, for an item owned by publisher X (releases, distributions and adoptions follow
their app or dataset):

- the node's **admin** sees everything;
- a **public** item of this node: everyone, anonymous callers included;
- a **private** item of this node: X's own clients only;
- a **partners** item of this node: X's own clients, and a peer **node** exactly while X
  holds a partnership *in force* (``active`` and not past its end date, whichever side
  asked for it) with a publisher of that node. Each publisher's own agreements decide,
  never another's. For a **local publisher's client** the test is the same — a
  partnership in force between X and that client's publisher — and since partnerships
  join a publisher of this node to one of a peer's, another local publisher never
  qualifies;
- a **mirror** (a peer's item, ``origin`` set) that carries an ``audience`` (the origin's
  list of this node's publishers it shares the item with, refreshed by the feed as its
  partnerships change): only the publishers in that audience, and each only while it
  holds a partnership in force with the item's owner (on the item's origin node) — so
  a partnership ended here hides the item at once, before the next sync. A mirror
  without an audience: everyone if it is public, else no one. Mirrors are never shown
  to another node: partner data is not passed on.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect
from sqlmodel import Session, col, select

from registry.catalog.models import App, Dataset, Publisher, Visibility
from registry.principal import Principal
from registry.sharing.models import Partnership, PartnershipStatus

Owned = type[App] | type[Dataset]


class Terms(Protocol):
    """What :func:`in_force` reads: a partnership, or a row with these columns."""

    @property
    def status(self) -> PartnershipStatus: ...
    @property
    def deleted_at(self) -> datetime | None: ...
    @property
    def valid_until(self) -> date | None: ...


class Item(Protocol):
    """What the rule reads of an item: an app or dataset, or a row with these columns."""

    @property
    def visibility(self) -> Visibility: ...
    @property
    def origin(self) -> str | None: ...
    @property
    def publisher_id(self) -> uuid.UUID: ...
    @property
    def audience(self) -> list[str] | None: ...


def today() -> date:
    return date.today()


# --- partnerships in force -------------------------------------------------------------


def active_partnership_clause() -> ColumnElement[bool]:
    """Partnerships in force now, as SQL: active, live and not past their end date. (A
    job also marks overdue ones ``expired``; this keeps reads right until it has run.)
    :func:`in_force` is the same test in memory."""
    return sa.and_(
        col(Partnership.status) == PartnershipStatus.active,
        col(Partnership.deleted_at).is_(None),
        sa.or_(
            col(Partnership.valid_until).is_(None),
            col(Partnership.valid_until) >= today(),
        ),
    )


def overdue_partnership_clause() -> ColumnElement[bool]:
    """Partnerships past their end date that no job has marked ``expired`` yet, as SQL:
    still ``active`` and live, but no longer in force."""
    return sa.and_(
        col(Partnership.status) == PartnershipStatus.active,
        col(Partnership.deleted_at).is_(None),
        col(Partnership.valid_until) < today(),
    )


def in_force(partnership: Terms, on: date | None = None) -> bool:
    """Whether a partnership (or a row with its ``status``, ``deleted_at`` and
    ``valid_until``) is in force: :func:`active_partnership_clause` in memory."""
    on = on or today()
    return (
        partnership.status == PartnershipStatus.active
        and partnership.deleted_at is None
        and (partnership.valid_until is None or partnership.valid_until >= on)
    )


def partnerships_with(session: Session, node_id: str) -> list[Partnership]:
    """The partnerships in force between this node's publishers and ``node_id``'s."""
    rows = session.exec(select(Partnership).where(Partnership.peer_node_id == node_id)).all()
    return [p for p in rows if in_force(p)]


# --- the rule in memory ----------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """A reader, with the facts the rule needs about it. Build one with :func:`viewer`.

    ``partners`` maps each local publisher whose ``partners`` items this reader may see
    to the codes of the reader's publishers it is partnered with (for a peer node: the
    ``audience`` the feed gives those items). ``partnered_mirrors`` holds the ids of the
    mirrored (peer) publishers that the reader's own publisher holds a partnership in
    force with.
    """

    publisher_id: uuid.UUID | None = None
    node_id: str | None = None
    admin: bool = False
    partners: Mapping[uuid.UUID, tuple[str, ...]] = field(default_factory=dict)
    partnered_mirrors: frozenset[uuid.UUID] = frozenset()

    def sees(self, item: Item) -> bool:
        """May this reader see ``item`` (an app or dataset, or a row with its
        ``visibility``, ``origin``, ``publisher_id`` and ``audience``)? The in-memory
        form of :func:`visible_clause`."""
        if self.admin:
            return True
        if item.origin is not None:
            audience = item.audience
            if audience is not None:
                return (
                    self.publisher_id is not None
                    and str(self.publisher_id) in audience
                    and item.publisher_id in self.partnered_mirrors
                )
            return bool(item.visibility == Visibility.public)
        if item.visibility == Visibility.public:
            return True
        if self.publisher_id is not None and item.publisher_id == self.publisher_id:
            return True
        return bool(item.visibility == Visibility.partners and item.publisher_id in self.partners)

    def audience(self, item: Item) -> list[str] | None:
        """The ``audience`` a peer node's feed gives a local ``partners`` item: the
        node's publishers partnered with its owner (None for other items)."""
        if item.visibility != Visibility.partners:
            return None
        codes = self.partners.get(item.publisher_id)
        return list(codes) if codes is not None else None


ANONYMOUS = Viewer()


def viewer(session: Session, principal: Principal | None) -> Viewer:
    """The reader behind ``principal`` (None: anonymous), with its partnerships."""
    if principal is None:
        return ANONYMOUS
    if principal.is_admin:
        return Viewer(principal.publisher_id, principal.node_id, admin=True)
    partners: dict[uuid.UUID, set[str]] = {}
    if principal.node_id is not None:
        for partnership in partnerships_with(session, principal.node_id):
            partners.setdefault(partnership.publisher_id, set()).add(partnership.partner_code)
    mirrors: frozenset[uuid.UUID] = frozenset()
    if principal.publisher_id is not None:
        held = session.exec(
            select(Partnership).where(Partnership.publisher_id == principal.publisher_id)
        ).all()
        pairs = {(p.peer_node_id, p.partner_code) for p in held if in_force(p)}
        if pairs:
            mirrors = frozenset(
                session.exec(
                    select(Publisher.id).where(
                        sa.tuple_(col(Publisher.origin), col(Publisher.code)).in_(pairs)
                    )
                ).all()
            )
    return Viewer(
        principal.publisher_id,
        principal.node_id,
        partners={owner: tuple(sorted(codes)) for owner, codes in partners.items()},
        partnered_mirrors=mirrors,
    )


def can_see(item: App | Dataset, principal: Principal | None, session: Session) -> bool:
    """May ``principal`` see this app or dataset? For single reads; a list filters with
    :func:`visible_clause` instead."""
    return viewer(session, principal).sees(item)


# --- the rule as SQL -------------------------------------------------------------------


def _partnered_with_node(node_id: str) -> ScalarSelect[uuid.UUID]:
    """Ids of local publishers holding a partnership in force with ``node_id``."""
    return (
        sa.select(col(Partnership.publisher_id))
        .where(col(Partnership.peer_node_id) == node_id, active_partnership_clause())
        .scalar_subquery()
    )


def _partnered_mirrors(publisher_id: uuid.UUID) -> ScalarSelect[uuid.UUID]:
    """Ids of mirrored publishers that local ``publisher_id`` holds a partnership in
    force with: the partnership names the peer node and the partner's code."""
    return (
        sa.select(col(Publisher.id))
        .join(
            Partnership,
            sa.and_(
                col(Partnership.peer_node_id) == col(Publisher.origin),
                col(Partnership.partner_code) == col(Publisher.code),
            ),
        )
        .where(col(Partnership.publisher_id) == publisher_id, active_partnership_clause())
        .scalar_subquery()
    )


def in_audience(column: Mapped[list[str] | None], publisher_id: uuid.UUID) -> ColumnElement[bool]:
    # The audience is a JSON array of UUID strings; as text, each appears in quotes on
    # both SQLite and PostgreSQL, and a UUID has no character LIKE treats specially. A
    # quote inside an element is escaped (\"), so no element can fake a match.
    return sa.cast(column, sa.Text).contains(f'"{publisher_id}"')


def visible_clause(model: Owned, principal: Principal | None) -> ColumnElement[bool]:
    """A WHERE clause selecting the rows of ``model`` that ``principal`` may see: the
    rule as SQL, for lists, search and facets. :meth:`Viewer.sees` is the same rule in
    memory."""
    if principal is not None and principal.is_admin:
        return sa.true()
    visibility = col(model.visibility)
    origin = col(model.origin)
    audience = col(model.audience)
    owner = col(model.publisher_id)
    local = [visibility == Visibility.public]
    mirror = [sa.and_(audience.is_(None), visibility == Visibility.public)]
    if principal is not None and principal.publisher_id is not None:
        local.append(owner == principal.publisher_id)
        mirror.append(
            sa.and_(
                audience.is_not(None),
                in_audience(audience, principal.publisher_id),
                owner.in_(_partnered_mirrors(principal.publisher_id)),
            )
        )
    if principal is not None and principal.node_id is not None:
        local.append(
            sa.and_(
                visibility == Visibility.partners,
                owner.in_(_partnered_with_node(principal.node_id)),
            )
        )
    return sa.or_(
        sa.and_(origin.is_(None), sa.or_(*local)),
        sa.and_(origin.is_not(None), sa.or_(*mirror)),
    )
