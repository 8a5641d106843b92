"""How a parsed query is written for the index: as few lists to walk as match the
same items."""

import random

import pytest

from registry.search import glossary
from registry.search.glossary import GlossaryTerm, Index, shipped
from registry.search.query import Group, ParsedQuery, Term, _atoms, _disjuncts, parse

QUERIES = ["archive", "akta kelahiran", "birth certificate", "perizinan", "izin usaha", "puskes"]


def _matches_as_parsed(group: Group, words: set[str]) -> bool:
    """The group's meaning, alternative by alternative, term by term."""
    return any(
        all(any(w in words for w, _ in _atoms(term)) for term in alternative)
        for alternative in group.alternatives
    )


def _matches_as_written(group: Group, words: set[str]) -> bool:
    return any(
        all(any(w in words for w, _ in term) for term in alternative)
        for alternative in _disjuncts(group)
    )


@pytest.mark.parametrize("text", QUERIES)
def test_written_query_matches_what_the_parsed_one_does(text):
    parsed = parse(text, Index(shipped()).expand)
    assert parsed is not None
    rng = random.Random(text)
    for group in parsed.groups:
        universe = sorted({w for alt in group.alternatives for t in alt for w, _ in _atoms(t)})
        for _ in range(300):
            words = {w for w in universe if rng.random() < 0.3}
            assert _matches_as_written(group, words) == _matches_as_parsed(group, words)


def test_alternatives_that_add_no_match_are_not_written():
    a, b, c = Term(frozenset({"arsip"})), Term(frozenset({"dinamis"})), Term(frozenset({"archive"}))
    query = ParsedQuery((Group(((a,), (a, b), (c,), (c,))),), ("arsip",))
    # a OR (a AND b) OR c OR c: one list of words, each once.
    assert query.fts5() == '("arsip" OR "archive")'
    assert query.tsquery() == "('arsip' | 'archive')"


def test_a_glossary_word_asks_each_of_its_words_once():
    parsed = parse("archive ", Index(shipped()).expand)
    assert parsed is not None
    written = parsed.fts5()
    words = [w.strip('()"* ') for w in written.replace(" OR ", " ").split()]
    assert len(words) == len(set(words)), written
    assert "AND" not in written  # "records management" is already in "records"


def test_the_glossary_is_indexed_once_for_each_set_of_own_terms(session):
    shipped_only = glossary.for_node(session)
    assert glossary.for_node(session) is shipped_only
    session.add(GlossaryTerm(indonesian="lumbung padi", english="rice barn", source="a city"))
    session.flush()
    with_own = glossary.for_node(session)
    assert with_own is not shipped_only
    assert glossary.for_node(session) is with_own
    assert with_own.expand(["rice", "barn"]) == [(0, 2, [["lumbung", "padi"]])]
