"""Past ``SAMPLE`` matches, search reads the best of each tier from the index and
estimates the total and facets from a sample (the matches whose random docids fall
below a bound). Here the limits are lowered so a small catalog takes that path: it
must give the very pages the exact path gives, never show or count what the reader
may not see, and say that its counts are estimates."""

from __future__ import annotations

import random
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from registry.catalog.models import App, Dataset
from registry.principal import Principal
from registry.search import index, service
from registry.search.service import SearchQuery, search
from tests.conftest import on_postgres

ADMIN = Principal(client_id="test", scopes=frozenset({"admin"}))


@pytest.fixture(autouse=True)
def docids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Docids drawn from a seeded generator: the same sample on every run."""
    monkeypatch.setattr(index, "_DRAW", random.Random(20261129).getrandbits)


@pytest.fixture
def catalog(make_publisher, make_app, make_dataset) -> None:
    kota = make_publisher("kota-pariaman")
    kab = make_publisher("kab-banyuwangi")
    for n in range(24):
        owner = kota if n % 3 else kab
        visibility = "private" if n % 5 == 0 else "public"
        long = " ".join(["layanan"] * (n % 4 + 1) + ["warga", f"nomor{n}"])
        description = {"id": {"short_description": f"Aplikasi ke-{n}", "long_description": long}}
        name = f"Layanan {n}" if n % 2 else f"Aplikasi {n}"
        categories = ["village-services"] if n % 4 == 0 else ["document-management"]
        make_app(
            owner,
            f"app-{n}",
            name=name,
            description=description,
            visibility=visibility,
            categories=categories,
        )
    for n in range(6):
        title = {"id": f"Data layanan {n}"} if n % 2 else {"id": f"Data {n}"}
        make_dataset(kota, f"data-{n}", title=title, description={"id": "layanan publik"})


def pages(session: Session, q: str, principal: Principal | None, limit: int, **filters: Any):
    seen, cursor, first = [], None, None
    while True:
        page = search(session, principal, SearchQuery(q=q, **filters), limit=limit, cursor=cursor)
        first = first or page
        seen += [(hit.item.slug, hit.score) for hit in page.hits]
        cursor = page.next_cursor
        if cursor is None:
            return seen, first


def bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bounded path for anything over 4 matches, a sample of at least 4 of them."""
    monkeypatch.setattr(service, "SAMPLE", 4)
    monkeypatch.setattr(service, "FIRST_SAMPLE", 64)
    monkeypatch.setattr(service, "MAX_GROWTH", 2)
    monkeypatch.setattr(service, "MIN_SAMPLE", 1)


@pytest.fixture
def bounded(monkeypatch):
    bound(monkeypatch)


@pytest.mark.parametrize("principal", [None, ADMIN])
@pytest.mark.parametrize("q", ["layanan", "layan", "warga layanan", "aplikasi"])
def test_the_bounded_path_pages_as_the_exact_one(session, catalog, monkeypatch, q, principal):
    exact, first = pages(session, q, principal, limit=3)
    assert first.facets_exact
    assert first.total_exact
    assert len(exact) == first.total
    bound(monkeypatch)
    for limit in (1, 3, 50):
        assert pages(session, q, principal, limit=limit)[0] == exact, limit


@pytest.mark.parametrize("q", ["layanan", "layan", "warga layanan", "aplikasi"])
def test_windows_tested_row_by_row_page_as_through_the_index(session, catalog, monkeypatch, q):
    # PostgreSQL chooses, by cost, to find a window's name and short-description
    # matches by testing each row of its range: the same pages either way.
    monkeypatch.setattr(service, "RANK_WINDOW", 4)
    bound(monkeypatch)
    monkeypatch.setattr(service, "_row_by_row", lambda *args: False)
    through_index = pages(session, q, ADMIN, limit=3)[0]
    monkeypatch.setattr(service, "_row_by_row", lambda *args: True)
    assert pages(session, q, ADMIN, limit=3)[0] == through_index


def test_an_estimate_says_so_and_never_shows_a_hidden_item(session, catalog, bounded):
    page = search(session, None, SearchQuery(q="layanan"), limit=50)
    assert not page.facets_exact
    assert not page.total_exact
    assert page.total > 0
    assert set(page.facets["kind"]) == {"app", "dataset"}
    hidden = {f"app-{n}" for n in range(24) if n % 5 == 0}
    assert not hidden & {hit.item.slug for hit in page.hits}


def test_few_kept_by_the_filters_are_counted_exactly(session, catalog, monkeypatch, bounded):
    monkeypatch.setattr(service, "MIN_SAMPLE", 30)
    page = search(session, None, SearchQuery(q="layanan", kind="dataset"), limit=50)
    assert page.facets_exact
    assert page.total_exact
    assert page.total == 6 == len(page.hits)
    assert page.facets["kind"] == {"app": 0, "dataset": 6}


@pytest.mark.parametrize(
    "filters",
    [
        {"kind": "dataset"},
        {"publisher": "kab-banyuwangi"},
        {"origin": "local"},
        {"category": "village-services"},
    ],
)
@pytest.mark.parametrize("principal", [None, ADMIN])
def test_a_narrow_filter_counts_and_pages_exactly(
    session, catalog, monkeypatch, filters, principal
):
    """Few of the sample kept by the filters: every match is read once, by docid,
    and counted and ranked as the exact path does (the same pages, scores included)."""
    exact, first = pages(session, "layanan", principal, limit=50, **filters)
    bound(monkeypatch)
    monkeypatch.setattr(service, "MIN_SAMPLE", 30)
    for limit in (1, 4, 50):
        seen, page = pages(session, "layanan", principal, limit=limit, **filters)
        assert seen == exact, limit
        assert page.total_exact
        assert page.facets_exact
        assert (page.total, page.facets) == (first.total, first.facets)


@pytest.mark.skipif(on_postgres(), reason="PostgreSQL ranks them all in one statement")
@pytest.mark.parametrize(
    "filters",
    [{"kind": "app"}, {"publisher": "kota-pariaman"}, {"category": "document-management"}],
)
@pytest.mark.parametrize("principal", [None, ADMIN])
def test_a_narrow_filter_past_a_window_is_ranked_a_window_of_its_matches_at_a_time(
    session, catalog, monkeypatch, filters, principal
):
    """Counted exactly, but more matches than a window: they are ranked a window at a
    time, and each window holds only matches the filters keep (RANK_WINDOW of them,
    but for a tier's last), so no page needs more windows than a wide query's."""
    exact, first = pages(session, "layanan", principal, limit=50, **filters)
    bound(monkeypatch)
    monkeypatch.setattr(service, "MIN_SAMPLE", 30)
    monkeypatch.setattr(service, "RANK_WINDOW", 4)
    for limit in (1, 3, 50):
        seen, page = pages(session, "layanan", principal, limit=limit, **filters)
        assert page.total_exact
        assert (page.total, page.facets) == (first.total, first.facets)
        _assert_in_full_windows(seen, exact)
    windows = _windows_of(seen)
    assert any((tier, window + 1) in windows for tier, window in windows)


@pytest.mark.skipif(on_postgres(), reason="PostgreSQL's windows are ranges of docids")
@pytest.mark.parametrize("principal", [None, ADMIN])
def test_filters_that_keep_few_matches_are_applied_as_each_window_is_walked(
    session, catalog, monkeypatch, principal
):
    """Estimated, and the filters keep few of the matches: each window holds only
    matches they keep, so a tier whose matches they mostly leave out is walked once,
    not ranked window by window to find none."""
    filters = {"publisher": "kab-banyuwangi"}  # a third of the apps, none of the datasets
    exact, _ = pages(session, "layanan", principal, limit=50, **filters)
    bound(monkeypatch)
    monkeypatch.setattr(service, "RANK_WINDOW", 4)
    # However few the sample of 4 says they keep.
    monkeypatch.setattr(service, "NARROW_SHARE", 2.0)
    for limit in (1, 3, 50):
        seen, page = pages(session, "layanan", principal, limit=limit, **filters)
        assert not page.total_exact
        _assert_in_full_windows(seen, exact)


def _windows_of(seen: list[tuple[str, float]]) -> dict[tuple[int, int], int]:
    """How many of the hits ``seen`` each (tier, window) holds, as their scores say."""
    windows: dict[tuple[int, int], int] = {}
    for _, score in seen:
        tier, rest = divmod(score, service.TIER_BONUS)
        key = (int(tier), service.MAX_WINDOWS - int(rest // service.WINDOW_BONUS))
        windows[key] = windows.get(key, 0) + 1
    return windows


def _assert_in_full_windows(seen: list[tuple[str, float]], exact: list[tuple[str, float]]):
    """``seen`` holds the items ``exact`` does, best first, in windows of RANK_WINDOW
    (4) hits each but for a tier's last: windows of the matches the filters keep."""
    assert sorted(slug for slug, _ in seen) == sorted(slug for slug, _ in exact)
    assert [score for _, score in seen] == sorted((score for _, score in seen), reverse=True)
    windows = _windows_of(seen)
    for (tier, window), n in windows.items():
        if (tier, window + 1) in windows:  # not the tier's last window: a full one
            assert n == 4, (tier, window)


def test_a_match_in_the_name_ranks_above_one_in_the_text(session, catalog):
    found = search(session, ADMIN, SearchQuery(q="layanan"), limit=50).hits
    ranked = [hit.item.slug for hit in found]
    in_name = {f"app-{n}" for n in range(24) if n % 2} | {f"data-{n}" for n in range(6) if n % 2}
    assert set(ranked[: len(in_name)]) == in_name
    assert len(ranked) == 30


@pytest.mark.parametrize("q", ["layanan", "aplikasi warga"])
def test_a_large_tier_is_ranked_a_window_at_a_time(session, catalog, monkeypatch, bounded, q):
    everything, _ = pages(session, q, ADMIN, limit=50)
    monkeypatch.setattr(service, "RANK_WINDOW", 4)
    for limit in (1, 3, 50):
        seen, _ = pages(session, q, ADMIN, limit=limit)
        assert sorted(seen) == sorted(seen, key=lambda pair: pair[0])  # no slug twice
        assert {slug for slug, _ in seen} == {slug for slug, _ in everything}
        assert [score for _, score in seen] == sorted((score for _, score in seen), reverse=True)
    # Windows are ranges of docids, from the highest down, each ranked by relevance:
    # within a tier, every match of an earlier window has a higher docid than every
    # match of a later one.
    docids = _docids(session)
    windows: dict[tuple[int, int], list[int]] = {}
    for slug, score in pages(session, q, ADMIN, limit=50)[0]:
        tier, rest = divmod(score, service.TIER_BONUS)
        windows.setdefault((int(tier), int(rest // service.WINDOW_BONUS)), []).append(docids[slug])
    assert len(windows) > 2
    ordered = sorted(windows.items(), reverse=True)  # best tier, then first window, first
    for n, ((tier, window), earlier) in enumerate(ordered):
        for (other_tier, _), later in ordered[n + 1 :]:
            if other_tier == tier:
                assert min(earlier) > max(later), (tier, window)


def _docids(session: Session) -> dict[str, int]:
    """Each item's docid, by slug."""
    found: dict[str, int] = {}
    for model in (App, Dataset):
        rows = session.execute(
            sa.select(model.slug, index.DOCS.c.docid).join(  # type: ignore[call-overload]
                index.DOCS, index.DOCS.c.item_id == model.id
            )
        )
        found.update((slug, docid) for slug, docid in rows)
    return found


@pytest.mark.skipif(not on_postgres(), reason="the index of names is PostgreSQL's")
def test_a_name_window_is_read_through_the_index_of_names(session, catalog):
    # The expression a tier-2 window tests must be the one the migration indexed, word
    # for word, or every window of names would test the rows one by one.
    parsed, _ = service._parse(session, "layanan")
    stmt = service._Source.of("postgresql", parsed)._select_tier(2, index.DOCS.c.docid)
    sql = stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(session.execute(sa.text(f"EXPLAIN {sql}")).scalars())
    assert "ix_search_documents_name" in plan, plan
