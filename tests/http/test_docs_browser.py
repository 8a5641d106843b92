"""/docs and /redoc in a real browser (Debian's Chromium via Playwright) against a real
node: both render under their Content-Security-Policy, with every request going to
the node itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nodes import Node, running_node

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running_node("docs", tmp_path_factory.mktemp("docs")) as node:
        yield node


@pytest.mark.parametrize(
    ("path", "rendered"),
    [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1:has-text('Lumbung')")],
)
def test_api_docs_render_from_the_node_alone(node: Node, path: str, rendered: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            requested: list[str] = []
            refused: list[str] = []
            # Requests that went out and got an answer (one the policy blocked does not).
            page.on("requestfinished", lambda request: requested.append(request.url))
            page.on(
                "console",
                lambda message: (
                    refused.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            page.goto(node.url + path)
            page.wait_for_selector(rendered, timeout=30_000)
        finally:
            browser.close()
    # ReDoc's bundle shows its maker's logo from their CDN; the policy blocks it, and
    # nothing else may be refused.
    assert [text for text in refused if "cdn.redoc.ly/redoc/logo-mini.svg" not in text] == []
    outside = [url for url in requested if not url.startswith((node.url, "blob:", "data:"))]
    assert outside == []
