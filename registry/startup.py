"""What every process of a node sets up before it writes: the app (``create_app``),
each ``lumbung`` command, and anything else that opens sessions on its own.

The change sequence's own hooks live in ``registry.db``, below every domain. The
flush hooks of the domains above it are installed here, by name, rather than as a
side effect of some import: the re-stamping of what a change of visibility affects
(``registry.sharing.restamp``) and the search index (``registry.search.index``).
"""

from __future__ import annotations

from registry.search import index
from registry.sharing import restamp


def install_flush_hooks() -> None:
    """Install the hooks; calling it again changes nothing."""
    restamp.install()
    index.install()
