"""``start()``: what every process of a node runs before it serves or writes — the
app (``create_app``), each ``lumbung`` command, and anything else that opens sessions
on its own (the tests, the benchmarks).

It does two things that only a module knowing every domain can do:

- **fills the slots** (``registry.slots``) through which a higher domain hands a lower
  one what it needs, since domains import one way only (``docs/architecture.md``);
- **installs the flush hooks** of the domains above core, by name rather than as a side
  effect of some import: the re-stamping of what a change of visibility affects
  (``registry.sharing.restamp``) and the search index (``registry.search.index``). The
  change sequence's own hooks live in ``registry.db``, below every domain; the commit
  hooks by which this process's readers of the catalog's version see its own writes
  at once, in ``registry.viewcache``.

Besides ``registry.app``, ``registry.cli`` and ``registry.models``, the only module that
knows every domain it joins.
"""

from __future__ import annotations

from registry import viewcache
from registry.catalog.access import READ_RULE
from registry.federation import client_auth, outbox
from registry.oauth.assertions import PEER_ASSERTIONS
from registry.search import index
from registry.sharing import delivery, restamp, visibility


def start() -> None:
    """Fill every slot and install every flush hook; running it again changes nothing."""
    # The catalog's reads ask the one visibility rule, which needs partnerships.
    READ_RULE.fill(visibility)
    # The token endpoint checks a peer's client assertion against its pinned keys.
    PEER_ASSERTIONS.fill(client_auth)
    # A partnership request is sent to the partner's node while its publisher waits.
    delivery.SEND.fill(outbox.send_now)
    restamp.install()
    index.install()
    # Readers of the catalog's version see this process's commits at once.
    viewcache.install()
