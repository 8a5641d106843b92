"""The catalog in a real browser: Debian's Chromium driven by Playwright against a
real ``lumbung serve`` process with the demo catalog.

Screenshots of the main pages at phone (360 px) and desktop widths are written to
``$LUMBUNG_TEST_ARTIFACTS`` (default: the test's temporary directory); with
``LUMBUNG_UPDATE_SCREENSHOTS=1`` they also replace the ones in ``docs/screenshots``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.nodes import Node, running_node

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
DOCS_SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
WIDTHS = {"phone": 360, "desktop": 1280}

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    # The demo catalog records who uses which app (Kota Pariaman runs Smart Kampung).
    with running_node("web", tmp_path_factory.mktemp("web"), "--demo") as node:
        yield node


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="module")
def ids(node: Node) -> dict[str, str]:
    def first(path: str, slug: str, **params: Any) -> str:
        items = node.get(path, limit=200, **params)["items"]
        return str(next(i["id"] for i in items if i["slug"] == slug))

    return {
        "app": first("/api/v1/apps", "smart-kampung", publisher="kab-banyuwangi"),
        "dataset": first("/api/v1/datasets", "penduduk-per-kecamatan", publisher="kab-banyuwangi"),
    }


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("LUMBUNG_TEST_ARTIFACTS")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def main_pages(ids: dict[str, str]) -> dict[str, str]:
    return {
        "home": "/",
        "search": "/search?q=kampung",
        "app": f"/apps/{ids['app']}",
        "dataset": f"/datasets/{ids['dataset']}",
        "publisher": "/publishers/kab-banyuwangi",
        "node": "/node",
        "not-found": "/no-such-page",
    }


def test_search_and_a_facet_click(node: Node, page: Page) -> None:
    page.goto(node.url + "/")
    page.get_by_label("Search apps and datasets").fill("health")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/search\?q=health"))
    results = page.locator("ol.results > li")
    before = results.count()
    assert before >= 2
    expect(page.locator("ol.results mark").first).to_have_text(re.compile("health", re.I))
    page.get_by_role("complementary").get_by_role("link", name="Kota Surabaya").click()
    expect(page).to_have_url(re.compile(r"publisher=kota-surabaya"))
    assert 0 < results.count() < before
    for meta in page.locator("ol.results .meta").all_inner_texts():
        assert "Kota Surabaya" in meta
    expect(page.get_by_role("link", name="Remove filter: Kota Surabaya")).to_be_visible()


def test_results_follow_the_search_box_as_one_types(node: Node, page: Page) -> None:
    page.goto(node.url + "/search?kind=app")
    # Set on this document: still there after the results change, so no page was loaded.
    page.evaluate("window.sameDocument = true")
    box = page.get_by_label("Search apps and datasets")
    box.click()
    box.press_sequentially("perizi", delay=40)  # a word's beginning finds the word
    expect(page.locator("ol.results")).to_contain_text("Perizinan Online")
    expect(page).to_have_url(re.compile(r"/search\?q=perizi&kind=app$"))
    expect(page.locator("#results-status")).to_have_text(re.compile(r"^\d+ results?$"))
    expect(box).to_be_focused()
    expect(box).to_have_value("perizi")
    assert page.evaluate("window.sameDocument") is True
    # The keyboard goes on from the box into the new results.
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent").strip() == "Perizinan Online":
            break
    else:
        pytest.fail("Tab never reached the new result")
    # The address shown is the page shown: loading it again shows the same results.
    page.reload()
    expect(page.get_by_label("Search apps and datasets")).to_have_value("perizi")
    expect(page.locator("ol.results")).to_contain_text("Perizinan Online")


def test_search_works_without_javascript(node: Node, browser: Browser) -> None:
    context = browser.new_context(locale="en-US", java_script_enabled=False)
    page = context.new_page()
    page.goto(node.url + "/search?kind=app")
    box = page.get_by_label("Search apps and datasets")
    box.fill("perizinan")
    page.wait_for_timeout(500)
    expect(page).to_have_url(node.url + "/search?kind=app")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=perizinan&kind=app$"))
    expect(page.locator("ol.results")).to_contain_text("Perizinan Online")
    context.close()


def test_language_follows_the_browser_and_the_switch_is_remembered(
    node: Node, browser: Browser
) -> None:
    context = browser.new_context(locale="id-ID")
    page = context.new_page()
    page.goto(node.url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.get_by_role("heading", level=1)).to_have_text("Aplikasi dan data pemerintah daerah")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(node.url + "/")
    page.get_by_role("link", name="About this node").first.click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Who runs it")).to_be_visible()
    # A new tab of the same browser remembers it too.
    other = context.new_page()
    other.goto(node.url + "/search?q=desa")
    expect(other.locator("html")).to_have_attribute("lang", "en")
    context.close()


def test_app_page(node: Node, page: Page, ids: dict[str, str]) -> None:
    page.goto(f"{node.url}/apps/{ids['app']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Smart Kampung")
    used_by = page.locator("section", has=page.get_by_role("heading", name="Used by"))
    expect(used_by).to_contain_text("Kota Pariaman")
    expect(used_by).to_contain_text("In production")
    expect(page.locator("pre.code").first).to_contain_text(
        f"lumbung-client --url {node.url} pull kab-banyuwangi/smart-kampung"
    )
    expect(page.locator("table").first).to_contain_text("MB")
    expect(page.get_by_role("link", name="API record (JSON)")).to_have_attribute(
        "href", f"/api/v1/apps/{ids['app']}"
    )


def test_dataset_publisher_and_node_pages(node: Node, page: Page, ids: dict[str, str]) -> None:
    page.goto(f"{node.url}/datasets/{ids['dataset']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Population per district (kecamatan) by sex"
    )
    expect(page.get_by_role("region", name="Distributions")).to_contain_text("CSV")
    page.get_by_role("link", name="Kabupaten Banyuwangi").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kabupaten Banyuwangi")
    expect(page.get_by_role("link", name="Smart Kampung")).to_be_visible()
    page.goto(node.url + "/node")
    expect(page.get_by_role("heading", name="Who runs it")).to_be_visible()
    expect(page.get_by_role("link", name="API documentation").first).to_have_attribute(
        "href", "/docs"
    )


def test_anonymous_visitor_does_not_see_private_or_partners_apps(node: Node, page: Page) -> None:
    admin = node.admin_headers()
    restricted = [
        a
        for a in node.get("/api/v1/apps", admin, limit=200)["items"]
        if a["visibility"] in ("private", "partners")
    ]
    assert {a["visibility"] for a in restricted} == {"private", "partners"}
    page.goto(node.url + "/search?kind=app")
    listed = page.locator("ol.results").inner_text()
    for app in restricted:
        assert app["name"] not in listed
        response = page.goto(f"{node.url}/apps/{app['id']}")
        assert response is not None
        assert response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("We could not find that page")
        page.goto(node.url + "/search?q=" + app["name"].split()[0])
        assert app["name"] not in page.locator("main").inner_text()


def test_keyboard_alone_reaches_an_app_page(node: Node, page: Page) -> None:
    page.goto(node.url + "/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    # From the main content, Tab reaches the search box; type and submit.
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "search":
            break
    page.keyboard.type("kampung")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=kampung"))
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent")
        if focused and focused.strip() == "Smart Kampung":
            break
    else:
        pytest.fail("Tab never reached the result's link")
    # The focus is visible: an outline drawn around the link.
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/apps/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Smart Kampung")


@pytest.mark.parametrize("language", ["en-US", "id-ID"])
def test_main_pages_pass_axe_and_are_photographed(
    node: Node, browser: Browser, ids: dict[str, str], artifacts: Path, language: str
) -> None:
    problems: dict[str, list[str]] = {}
    update_docs = os.environ.get("LUMBUNG_UPDATE_SCREENSHOTS") == "1" and language == "en-US"
    for width_name, width in WIDTHS.items():
        # axe is injected as an inline script, which the pages' own policy refuses.
        context = browser.new_context(
            locale=language, viewport={"width": width, "height": 900}, bypass_csp=True
        )
        page = context.new_page()
        for name, path in main_pages(ids).items():
            response = page.goto(node.url + path)
            assert response is not None
            assert len(response.body()) < 100_000, f"{path} weighs over 100 KB"
            # No horizontal scrolling at any width.
            assert page.evaluate("document.documentElement.scrollWidth") <= width, path
            page.add_script_tag(path=str(AXE))
            result = page.evaluate(
                "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',"
                " 'best-practice']})"
            )
            serious = [
                f"{v['id']} ({v['impact']}): {v['help']} — "
                + "; ".join(n["target"][0] for n in v["nodes"][:3])
                for v in result["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            if serious:
                problems[f"{name} at {width}px"] = serious
            shot = f"{name}-{width_name}-{language[:2]}.png"
            page.screenshot(path=str(artifacts / shot), full_page=True)
            if update_docs:
                DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(
                    path=str(DOCS_SCREENSHOTS / f"{name}-{width_name}.png"), full_page=True
                )
        context.close()
    assert problems == {}
