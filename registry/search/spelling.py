"""Correcting a mistyped query word against the index's vocabulary.

A query word that matches nothing indexed (not as typed, not by its stems, and, for
the word still being typed, not as a prefix) is replaced by the indexed word that is
fewest edits away (at most two; insertions, deletions, substitutions and swaps of
neighbours), the more common one on a tie. "kependudkan" becomes "kependudukan".

Candidates are read from ``search_terms`` by their first letter and their length, a
range of the primary key, so a correction reads a few thousand short rows at most.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from rapidfuzz import process
from rapidfuzz.distance import OSA
from sqlmodel import Session

from registry.db import table_of
from registry.search.analysis import STOP_WORDS, query_variants, words
from registry.search.models import SearchTerm

TERMS = table_of(SearchTerm)
MIN_LENGTH = 4  # shorter words have too many neighbours to correct safely
MAX_EDITS = 2
# A word being typed matches at most this many of the indexed words that begin with
# it, the most common first (as Elasticsearch's ``max_expansions``).
MAX_COMPLETIONS = 20


def correct(session: Session, text: str, known: Collection[str] = frozenset()) -> tuple[str, bool]:
    """``text`` with each unknown word replaced by its nearest indexed word; and
    whether anything was replaced. Words in ``known`` are left as they are."""
    found = words(text)
    checkable = [
        w for w in found if len(w) >= MIN_LENGTH and w not in STOP_WORDS and w not in known
    ]
    if not checkable:
        return text, False
    typing = not text[-1:].isspace()
    known = _known(session, checkable, prefix=found[-1] if typing else None)
    replaced: dict[str, str] = {}
    for word in checkable:
        if word in known:
            continue
        suggestion = nearest(session, word)
        if suggestion is not None:
            replaced[word] = suggestion
    if not replaced:
        return text, False
    return " ".join(replaced.get(w, w) for w in found), True


def _known(session: Session, checkable: list[str], *, prefix: str | None) -> set[str]:
    """The words of ``checkable`` that match something indexed."""
    variants = {w: query_variants(w) for w in checkable}
    everything = sorted(set().union(*variants.values()))
    present = set(
        session.execute(sa.select(TERMS.c.term).where(TERMS.c.term.in_(everything))).scalars()
    )
    known = {w for w, v in variants.items() if v & present}
    if prefix is not None and prefix in variants and prefix not in known:
        hit = session.execute(
            sa.select(TERMS.c.term)
            .where(TERMS.c.term >= prefix, TERMS.c.term < prefix + "\uffff")
            .limit(1)
        ).first()
        if hit is not None:
            known.add(prefix)
    # A word the vocabulary lacks may still be indexed as a stem of other words
    # ("lahir" in an item that only says "kelahiran"): the stems are not in the
    # vocabulary, so those words are checked against the index itself.
    return known | _in_index(session, [w for w in checkable if w not in known])


def _in_index(session: Session, candidates: list[str]) -> set[str]:
    from registry.search.index import DOCS
    from registry.search.models import FTS_TABLE

    found = set()
    postgres = session.get_bind().dialect.name == "postgresql"
    for word in candidates:
        terms = sorted(query_variants(word))
        if postgres:
            tsquery = " | ".join(f"'{t}'" for t in terms)
            stmt = sa.select(DOCS.c.docid).where(
                DOCS.c.vector.op("@@")(sa.func.to_tsquery("simple", tsquery))
            )
        else:
            expression = " OR ".join(f'"{t}"' for t in terms)
            stmt = (
                sa.select(sa.literal_column("rowid"))
                .select_from(sa.table(FTS_TABLE))
                .where(sa.literal_column(FTS_TABLE).op("MATCH")(expression))
            )
        with _index_scans_only(session, postgres):
            if session.execute(stmt.limit(1)).first() is not None:
                found.add(word)
    return found


@contextmanager
def _index_scans_only(session: Session, postgres: bool) -> Iterator[None]:
    """PostgreSQL: plan the statements run inside without sequential scans (for this
    transaction, then as it was). Asked for one match of a word, the planner would
    read the documents in turn, expecting to meet one soon; for a word no item holds
    that reads every document from TOAST (2.8 s at 200,000 items), where the GIN
    index answers in a fraction of a millisecond."""
    if not postgres:
        yield
        return
    before = session.execute(
        sa.select(
            sa.func.current_setting("enable_seqscan"),
            sa.func.set_config("enable_seqscan", "off", True),
        )
    ).scalar_one()
    try:
        yield
    finally:
        session.execute(sa.select(sa.func.set_config("enable_seqscan", before, True)))


def nearest(session: Session, word: str) -> str | None:
    rows = session.execute(
        sa.select(TERMS.c.term, TERMS.c.docs).where(
            TERMS.c.term >= word[0],
            TERMS.c.term < word[0] + "\uffff",
            sa.func.length(TERMS.c.term).between(len(word) - MAX_EDITS, len(word) + MAX_EDITS),
        )
    ).all()
    terms = [term for term, _ in rows]
    close = process.extract(word, terms, scorer=OSA.distance, score_cutoff=MAX_EDITS, limit=None)
    best = min(((distance, -rows[i][1], terms[i]) for _, distance, i in close), default=None)
    return best[2] if best is not None else None


def completions(session: Session, prefix: str) -> list[str]:
    """The indexed words that begin with ``prefix``, at most ``MAX_COMPLETIONS`` of
    them, the most common first; none when the vocabulary has none (the index is then
    asked for the prefix itself: a word it holds only as a stem)."""
    return list(
        session.execute(
            sa.select(TERMS.c.term)
            .where(TERMS.c.term >= prefix, TERMS.c.term < prefix + "\uffff")
            .order_by(TERMS.c.docs.desc(), TERMS.c.term)
            .limit(MAX_COMPLETIONS)
        ).scalars()
    )
