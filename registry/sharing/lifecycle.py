"""The life of a partnership, as one table (DESIGN §8).

::

    requested ──approve──▶ active ──revoke──▶ revoked
        │                    └────expire───▶ expired
        ├──reject──▶ rejected
        └──withdraw─▶ withdrawn

Who may make a move is said by *side*, not by node: the **requester** is the side
whose publisher asked, the **receiver** the side whose publisher was asked. Only the
receiver approves or rejects; only the requester withdraws; either side revokes, and
either side's clock expires it. ``rejected``, ``withdrawn``, ``revoked`` and
``expired`` are final: a new agreement is a new request, under a new id.

Every change goes through ``check``: one made on this node (API, CLI, the expiry of a
due partnership) and one told by the other node in a signed notice. A notice is
checked as a move of the *other* side, so a requester that tells the receiver "I
approve" is refused exactly as it would be on its own node. The one exception is a
withdrawal and an approval that crossed on the way (``CROSSED``).
"""

from __future__ import annotations

import enum
from typing import Literal

from registry.errors import Conflict, Forbidden
from registry.sharing.models import Direction, PartnershipStatus

S = PartnershipStatus


class Side(enum.StrEnum):
    requester = "requester"
    receiver = "receiver"


BOTH = frozenset(Side)

# (from, to) → the sides that may make that move. Nothing else is a move.
TRANSITIONS: dict[tuple[PartnershipStatus, PartnershipStatus], frozenset[Side]] = {
    (S.requested, S.active): frozenset({Side.receiver}),
    (S.requested, S.rejected): frozenset({Side.receiver}),
    (S.requested, S.withdrawn): frozenset({Side.requester}),
    (S.active, S.revoked): BOTH,
    (S.active, S.expired): BOTH,
}

FINAL = frozenset({S.rejected, S.withdrawn, S.revoked, S.expired})

# A withdrawal and an approval that crossed on the way: each side moved a requested
# partnership without knowing of the other's move, and each then hears of a move the
# table does not have. The requester wanted out, so the partnership ends on both
# nodes: the receiver, which approved, takes the withdrawal as a revocation; the
# requester, which withdrew, takes the approval as news of what it already left.
# (this node's status, the status told, the side that told it) → this node's status.
CROSSED: dict[tuple[PartnershipStatus, PartnershipStatus, Side], PartnershipStatus] = {
    (S.active, S.withdrawn, Side.requester): S.revoked,
    (S.withdrawn, S.active, Side.receiver): S.withdrawn,
}

# The verbs of the API and CLI, and the status each one asks for.
Action = Literal["approve", "reject", "withdraw", "revoke"]
ACTIONS: dict[Action, PartnershipStatus] = {
    "approve": S.active,
    "reject": S.rejected,
    "withdraw": S.withdrawn,
    "revoke": S.revoked,
}

_VERBS = {status: verb for verb, status in ACTIONS.items()} | {S.expired: "expire"}


def side_of(direction: Direction, *, local: bool) -> Side:
    """The side of a partnership that acts: this node's (``local``) or the other
    node's, given the direction of this node's record."""
    ours = Side.requester if direction == Direction.outgoing else Side.receiver
    if local:
        return ours
    return Side.receiver if ours == Side.requester else Side.requester


def may_reach(side: Side, target: PartnershipStatus) -> bool:
    """Whether ``side`` can ever move a partnership into ``target``; a notice that
    repeats such a move (a retried delivery) changes nothing and is not an error."""
    return any(side in sides for (_, to), sides in TRANSITIONS.items() if to == target)


def check(current: PartnershipStatus, target: PartnershipStatus, side: Side) -> None:
    """Raise unless ``side`` may move a partnership from ``current`` to ``target``:
    ``Conflict`` (409) when no one may make that move from this status, ``Forbidden``
    (403) when the move exists but belongs to the other side."""
    sides = TRANSITIONS.get((current, target))
    verb = _VERBS.get(target, f"move to {target.value}")
    if sides is None:
        if current in FINAL:
            raise Conflict(
                f"the partnership is {current.value}, which is final; "
                "a new agreement needs a new request"
            )
        raise Conflict(f"a partnership that is {current.value} cannot be {target.value}")
    if side not in sides:
        (allowed,) = sides  # every one-sided move belongs to exactly one side
        raise Forbidden(f"only the {allowed.value} of a partnership may {verb} it")
