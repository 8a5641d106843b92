"""``create_app(settings)``: the only place where routers are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI

from registry import __version__, openapi
from registry.apidocs import install_api_docs
from registry.catalog.router import router as catalog_router
from registry.db import Bind, create_db_engine
from registry.errors import install_error_handlers
from registry.federation.router import router as federation_router
from registry.formats.router import catalog_router as dcat_catalog_router
from registry.formats.router import router as formats_router
from registry.health import router as health_router
from registry.middleware import BodySizeLimit, RefuseNul, SecurityHeaders, is_upload
from registry.oauth.keys import KeyStore
from registry.oauth.limits import TokenLimits
from registry.oauth.router import router as oauth_router
from registry.responses import JSONResponse
from registry.search.router import router as search_router
from registry.settings import Settings, get_settings
from registry.sharing.router import router as sharing_router
from registry.startup import start
from registry.viewcache import API_READS, AnonymousReadCache, ViewCache, close_versions
from registry.web.cache import PAGES
from registry.web.errors import error_page
from registry.web.router import router as web_router

API_DESCRIPTION = """\
Lumbung is a federated registry in which local governments register, describe and
share their e-government applications (publiccode.yml) and datasets (DCAT-AP 3).

Conventions: cursor pagination (`limit`, `cursor`, `next_cursor` and a `Link` header),
`ETag` on reads and `If-Match` on updates and deletes, `Idempotency-Key` on creates,
and RFC 9457 `application/problem+json` for every error. Writes need an OAuth 2.0
access token from `POST /oauth/token` (client credentials).
"""

# Bounds of the anonymous API answers and catalog pages kept per process (see
# registry/viewcache.py): the bytes are LUMBUNG_API_CACHE_BYTES; a list page of 200
# items is about 400 KB, a catalog page under 100 KB.
API_CACHE_ENTRIES = 2048
API_CACHE_ENTRY_BYTES = 1024 * 1024


def create_app(settings: Settings | None = None, *, engine: Bind | None = None) -> FastAPI:
    """Build the node's ASGI app. ``engine`` may be given to share one (the CLI does)
    or, in tests, a connection whose transaction every request nests in."""
    settings = settings or get_settings()
    start()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if settings.sync_interval > 0 and not isinstance(app.state.engine, sa.Connection):
            from registry.federation.worker import SyncWorker

            worker = SyncWorker(app.state.engine, settings, app.state.keys)
            worker.start()
        harvester = None
        if settings.harvest_tick > 0 and not isinstance(app.state.engine, sa.Connection):
            from registry.formats.harvest import HarvestWorker

            harvester = HarvestWorker(app.state.engine, settings)
            harvester.start()
        yield
        if harvester is not None:
            harvester.stop()
        if worker is not None:
            worker.stop()
        close_versions(app.state)
        if engine is None:
            app.state.engine.dispose()

    app = FastAPI(
        title="Lumbung",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        separate_input_output_schemas=True,
        # Served by install_api_docs from the node's own assets, not from a CDN.
        docs_url=None,
        redoc_url=None,
        # Starlette's trailing-slash redirect builds its Location from the Host header.
        redirect_slashes=False,
        default_response_class=JSONResponse,
    )
    app.state.settings = settings
    app.state.engine = engine or create_db_engine(settings)
    app.state.keys = KeyStore.open(settings.keys_dir)
    app.state.token_limits = TokenLimits(settings)

    install_error_handlers(app)
    app.state.error_page = error_page
    app.state.api_cache = (
        ViewCache(size=API_CACHE_ENTRIES, max_bytes=settings.api_cache_bytes)
        if settings.api_cache_bytes
        else None
    )
    # Starlette runs the last added middleware first. The cache is innermost, so
    # every request it answers has passed the checks below; the size limit bounds
    # what the NUL check buffers.
    app.add_middleware(
        AnonymousReadCache,
        cache=lambda: app.state.api_cache,
        max_entry_bytes=min(API_CACHE_ENTRY_BYTES, settings.api_cache_bytes),
        kinds=(API_READS, PAGES),
    )
    app.add_middleware(RefuseNul, exempt=is_upload)
    app.add_middleware(
        BodySizeLimit,
        limit=settings.max_body_bytes,
        exempt=is_upload,
        body_timeout=settings.body_timeout,
    )
    # Outermost, so even the size limit's and the NUL check's answers carry them.
    app.add_middleware(SecurityHeaders)

    # The catalog pages first: the router tries routes in order, and a page request
    # is the most common kind; no page path can match an API route or the reverse.
    app.include_router(web_router)
    app.include_router(health_router)
    app.include_router(oauth_router)
    # Before the catalog's routes, which also take their ids only as UUIDs: /apps/import
    # must not be read as an app id.
    app.include_router(formats_router, prefix="/api/v1")
    app.include_router(catalog_router, prefix="/api/v1")
    app.include_router(dcat_catalog_router)
    app.include_router(sharing_router, prefix="/api/v1")
    app.include_router(search_router, prefix="/api/v1")
    app.include_router(federation_router)
    openapi.install(app)
    install_api_docs(app)
    return app
