"""Which page requests the read cache (:class:`registry.viewcache.AnonymousReadCache`)
answers before routing, and by what key.

A page of the anonymous view depends on its address, on the language it is rendered
in, and on nothing else a request carries: pages have no sign-in yet
(``router.page_principal``), and the only cookie they read is the language the reader
chose. So a page is kept by method, path, query string, what ``Accept`` asks for (a
page or problem+json, decided as the error pages decide it) and the reader's language
resolved exactly as the page resolves it (``Accept-Language`` and the language
cookie). An answer naming ``Accept-Language`` or ``Cookie`` in ``Vary`` may be kept;
one naming ``Accept`` may not (it would negotiate on more than the key holds). When
pages learn who their reader is (a session cookie), this key must refuse requests that
carry it, as the cache refuses ``Authorization``.
"""

from __future__ import annotations

import re
from collections.abc import Hashable

from starlette.datastructures import Headers
from starlette.types import Scope

from registry.viewcache import KeptReads
from registry.web.errors import prefers_html
from registry.web.render import language_of_headers

# The pages' addresses (router.py). Not ``/lang/...``, which sets a cookie and
# redirects, nor ``/static/...``. An address that is no page answers 404, never kept.
PAGE_PATHS = re.compile(r"/|/search|/node|/(?:apps|datasets|publishers)/[^/]+")


def page_key(scope: Scope) -> Hashable | None:
    path: str = scope["path"]
    if not PAGE_PATHS.fullmatch(path):
        return None
    headers = Headers(scope=scope)
    language = language_of_headers(headers)
    # What ``Accept`` decides (a page or problem+json), not its exact text: browsers
    # each send their own, and a page kept per text would be built once per browser.
    html = prefers_html(headers.get("accept"))
    return ("page", scope["method"], path, scope["query_string"], html, language)


PAGES = KeptReads(page_key, frozenset({b"accept-encoding", b"accept-language", b"cookie"}))
