"""``lumbung serve`` runs each kind of search once before it takes requests, so that
no reader pays for a process's first search of that kind."""

from __future__ import annotations

import pytest

from registry.search import service
from registry.search.service import SearchQuery


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[SearchQuery]:
    queries: list[SearchQuery] = []
    real = service.search

    def search(session, principal, query, **options):
        assert principal is None  # as an anonymous reader: nothing private is read
        queries.append(query)
        return real(session, principal, query, **options)

    monkeypatch.setattr(service, "search", search)
    return queries


def test_warming_asks_each_kind_of_search(session, make_publisher, make_app, asked):
    kota = make_publisher("kota-pariaman")
    for n in range(3):
        make_app(kota, f"layanan-{n}", name=f"Layanan Pajak {n}", categories=["it-security"])
    service.warm(session)
    texts = [q.q for q in asked if q.q]
    common = texts[0]
    assert common in {"layanan", "pajak", "kota", "pariaman"}  # a word of every item
    assert common[:3] in texts  # a prefix being typed: completions
    assert any(t != common and t.startswith(common) for t in texts)  # a typo: corrected
    assert SearchQuery() in asked  # no text
    assert SearchQuery(q=common, category="it-security") in asked
    assert SearchQuery(q=common, publisher="kota-pariaman") in asked


def test_warming_an_empty_node_asks_without_failing(session, asked):
    service.warm(session)
    assert SearchQuery() in asked
