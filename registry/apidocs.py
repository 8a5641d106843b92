"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served with their scripts and styles
from this node: a city intranet without internet access gets working pages, and no
third party learns who reads the API documentation.

The assets come from the ``fastapi-offline`` package (MIT; it ships Swagger UI and
ReDoc under their own Apache-2.0 and MIT licences) and are mounted at
:data:`ASSETS_PATH`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from registry.middleware import html_csp

ASSETS_PATH = "/docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


class _Common(TypedDict):
    """What both pages are given alike."""

    openapi_url: str
    title: str


class _Page:
    """An HTML page built once, with the policy that lets exactly its scripts run."""

    def __init__(self, html: HTMLResponse, **directives: str) -> None:
        self.text = bytes(html.body).decode()
        self.policy = html_csp(self.text, **directives)

    def response(self) -> HTMLResponse:
        return HTMLResponse(self.text, headers={"Content-Security-Policy": self.policy})


def install_api_docs(app: FastAPI) -> None:
    """Serve the two documentation pages and their assets (the app is built with
    ``docs_url=None, redoc_url=None`` so FastAPI's CDN-loading pages are not)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    both = _Common(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} — API")
    swagger = _Page(
        get_swagger_ui_html(
            **both,
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
            # The default sends the document to an online validator for a badge.
            swagger_ui_parameters={"validatorUrl": None},
        )
    )
    redoc = _Page(
        get_redoc_html(
            **both,
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        ),
        # ReDoc injects its styles as <style> elements and searches in a Web Worker
        # started from a blob: URL.
        style_src="'self' 'unsafe-inline'",
        worker_src="'self' blob:",
    )

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return swagger.response()

    @app.get("/redoc", include_in_schema=False)
    def redoc_page() -> HTMLResponse:
        return redoc.response()
