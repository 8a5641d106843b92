"""The bilingual glossary of public-service terms that lets a query in one language
find items described in the other.

The node ships one (``data/glossary.tsv``: Indonesian terms, English terms, and the
source each pairing comes from); a node adds its own terms to the table
``search_glossary`` (``lumbung search glossary add``). An entry is a set of phrases
that mean the same thing ("akta kelahiran", "birth certificate"); a query phrase that
matches one of them (word by word, by stem) also searches for the others.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col

from registry.search.analysis import STOP_WORDS, query_variants, words


class GlossaryTerm(SQLModel, table=True):
    """A pairing this node adds to the shipped glossary."""

    __tablename__ = "search_glossary"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    indonesian: str = Field(max_length=500, description="Terms separated by ';'")
    english: str = Field(max_length=500, description="Terms separated by ';'")
    source: str = Field(max_length=500)


@dataclass(frozen=True)
class Entry:
    indonesian: tuple[str, ...]
    english: tuple[str, ...]
    source: str

    def phrases(self) -> list[tuple[str, ...]]:
        found = []
        for phrase in (*self.indonesian, *self.english):
            kept = tuple(w for w in words(phrase) if w not in STOP_WORDS)
            if kept and kept not in found:
                found.append(kept)
        return found


def _split(terms: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in terms.split(";") if t.strip())


@cache
def shipped() -> tuple[Entry, ...]:
    """The glossary that ships with the node."""
    text = resources.files("registry.search").joinpath("data/glossary.tsv").read_text("utf-8")
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or not all(p.strip() for p in parts):
            raise ValueError(f"glossary.tsv line {number}: expected three tab-separated fields")
        entries.append(Entry(_split(parts[0]), _split(parts[1]), parts[2].strip()))
    return tuple(entries)


def node_entries(session: Session) -> list[Entry]:
    rows = session.execute(
        sa.select(col(GlossaryTerm.indonesian), col(GlossaryTerm.english), col(GlossaryTerm.source))
    ).all()
    return [Entry(_split(i), _split(e), s) for i, e, s in rows]


@dataclass(frozen=True)
class _Phrase:
    words: tuple[frozenset[str], ...]  # each word's variants
    entry: int


class Index:
    """Phrases by their first word's variants, for finding them in a query."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = [e.phrases() for e in entries]
        self.by_first: dict[str, list[_Phrase]] = {}
        self.words: set[str] = set()  # every variant of every word in a phrase
        for number, phrases in enumerate(self.entries):
            for phrase in phrases:
                item = _Phrase(tuple(frozenset(query_variants(w)) for w in phrase), number)
                self.words.update(*item.words)
                for variant in item.words[0]:
                    self.by_first.setdefault(variant, []).append(item)

    def expand(self, query: Sequence[str]) -> list[tuple[int, int, list[list[str]]]]:
        """Spans of ``query`` that are glossary phrases, longest first, left to right,
        not overlapping: (start, end, the other phrases of the entry as word lists)."""
        variants = [query_variants(w) for w in query]
        spans: list[tuple[int, int, list[list[str]]]] = []
        i = 0
        while i < len(query):
            best: tuple[int, set[int]] | None = None
            candidates = {p for v in variants[i] for p in self.by_first.get(v, [])}
            for phrase in candidates:
                end = i + len(phrase.words)
                if end > len(query):
                    continue
                if all(phrase.words[k] & variants[i + k] for k in range(len(phrase.words))):
                    if best is None or end > best[0]:
                        best = (end, {phrase.entry})
                    elif end == best[0]:
                        best[1].add(phrase.entry)
            if best is None:
                i += 1
                continue
            end, entry_numbers = best
            own = {frozenset(query[i:end])}
            others: list[list[str]] = []
            for number in sorted(entry_numbers):
                for other in self.entries[number]:
                    if frozenset(other) not in own and list(other) not in others:
                        others.append(list(other))
            spans.append((i, end, others))
            i = end
        return spans


@lru_cache(maxsize=4)
def _index(own: tuple[Entry, ...]) -> Index:
    # Built once for each set of the node's own terms: stemming every phrase of the
    # glossary takes tens of milliseconds, which a search must not pay.
    return Index((*shipped(), *own))


def for_node(session: Session) -> Index:
    """The shipped glossary plus this node's own terms."""
    return _index(tuple(node_entries(session)))
