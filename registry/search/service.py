"""Search across apps and datasets, local and mirrored: ranked, highlighted, with
facet counts.

``search(session, principal, query)`` is the one entry point: the API, the list
endpoints' ``q`` and the web pages all call it. Matching runs in the database's
full-text index (FTS5 on SQLite, ``tsvector`` + GIN on PostgreSQL) over terms that
``analysis`` computes the same way for both; visibility is a clause of the same
query (sharing's rule applied to the index rows, which carry the item's visibility,
origin, owner and audience), so a hidden item is never fetched and never counted.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import html
import math
import re
import struct
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from registry.catalog import service as catalog_service
from registry.catalog.models import App, Dataset, Publisher
from registry.errors import NotFound, invalid
from registry.principal import Principal
from registry.search import glossary, spelling
from registry.search.analysis import _WORD as WORD
from registry.search.analysis import fold, query_variants
from registry.search.index import DOCID_SPACE, DOCS, LABELS, PUBLISHERS
from registry.search.models import FTS_TABLE, HEAD_FTS_TABLE, NAME_VECTOR, SearchDocument
from registry.search.query import ParsedQuery, parse
from registry.sharing.visibility import visible_clause

Kind = Literal["app", "dataset"]

# Relative weights of the fields (name, short description, long description and
# features, the rest): the same order on both databases. FTS5's bm25 takes one
# weight per column; ts_rank takes {D, C, B, A}.
BM25_WEIGHTS = (10.0, 4.0, 1.0, 1.5)
TS_WEIGHTS = "{0.15, 0.1, 0.4, 1.0}"
# ts_rank's normalisations 1 and 2: divide by 1 + log(length) and by the length, as
# bm25 discounts long items. ts_rank, not ts_rank_cd: the cover density costs about
# 40 µs a match against 5 (a window of 500 matches: 21 ms against 3), and the
# relevance set ranks the same (recall@10 and MRR 0.982 with either; ts_rank with
# normalisation 1 alone ranked one query's app below a dataset: MRR 0.973).
TS_NORMALISATION = 1 | 2

# A match in the name ranks above one only in the short description, which ranks
# above one only in the rest of the text; relevance orders items within a tier.
# Within a tier of more than RANK_WINDOW matches, relevance is computed for the newest
# RANK_WINDOW of them first, and those come first; then the next RANK_WINDOW, and so
# on: computing it costs about a microsecond a match, so a page never ranks more than
# a few windows. A score is tier bonus + window bonus + relevance, each bonus far above
# what the next part can add (a relevance score stays well under WINDOW_BONUS).
TIER_BONUS = 10_000_000.0
WINDOW_BONUS = 1_000.0
MAX_WINDOWS = 1_000
RANK_WINDOW = 500

# The matches are first sampled: docids are drawn at random (``index.new_docids``), so
# the matches with a docid below a bound are a fair sample of them all, which the
# index reads without reading the rest. The sample holds ``SAMPLE`` matches, before
# visibility and filters, or every match: on SQLite the lowest SAMPLE, read in one
# walk; elsewhere the bound starts at 1/FIRST_SAMPLE of the docids and grows (each
# step reading only the new part of the range) until it holds them (see ``sample``).
# Every match read: everything is exact, every match ranked, counted and grouped into
# facets. Otherwise the total and the facets are estimated from the sample
# (``facets_exact`` and ``total_exact`` false), and the best are found tier by tier,
# the top ``limit`` of each tier asked of the index before anything is joined.
SAMPLE = 500  # never more than RANK_WINDOW: see _sampled
# SQLite: the most docids of a tier walked at once to find a window's (see
# ``window_docids``).
MAX_BATCH = 32_768
# SQLite: filters keeping less than this part of the matches are applied as a window
# is walked, not once it is ranked.
NARROW_SHARE = 0.5
FIRST_SAMPLE = 1_024
MAX_GROWTH = 64
# Fewer than this many of the sample left after visibility and filters: count exactly.
MIN_SAMPLE = 30
SNIPPET_WORDS = 30


@dataclass(frozen=True)
class SearchQuery:
    """What to look for: text and filters. Every filter narrows; ``None`` is no filter."""

    q: str | None = None
    kind: Kind | None = None
    publisher: str | None = None  # code, id, or code@origin for a mirrored publisher
    category: str | None = None  # apps
    theme: str | None = None  # datasets
    format: str | None = None  # datasets' distributions
    license: str | None = None
    development_status: str | None = None  # apps
    spbe_class: str | None = None  # apps
    origin: str | None = None  # "local", "peers" or a peer's node id


@dataclass
class Hit:
    kind: Kind
    item: App | Dataset
    publisher: Publisher
    score: float
    snippet: str | None = None  # HTML: item text escaped, matches in <mark>


@dataclass
class SearchResult:
    hits: list[Hit]
    next_cursor: str | None
    total: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    facets_exact: bool = True
    did_you_mean: str | None = None  # the corrected query, when words were corrected
    total_exact: bool = True  # false: ``total`` is estimated from a sample of the matches


# The name the web pages were first written against.
SearchPage = SearchResult


def search(
    session: Session,
    principal: Principal | None,
    query: SearchQuery,
    *,
    limit: int = 20,
    cursor: str | None = None,
    facets: bool = True,
) -> SearchResult:
    """The items ``principal`` may see that match ``query``, best first (ties in id
    order), ``limit`` at a time from ``cursor`` (0: no page, the counts alone); with
    facet counts over all matches when ``facets`` is true. Without text, items come in
    id (creation) order.

    A query word that no item contains is replaced by the nearest indexed word (one or
    two edits away) and the corrected query is returned as ``did_you_mean``.

    The cost is bounded: beyond ``SAMPLE`` matches the total and the facets are
    estimated from a sample, and the page is taken from the best of each tier as the
    index ranks them, before any other table is read."""
    dialect = session.get_bind().dialect.name
    parsed, did_you_mean = _parse(session, query.q)
    if query.q and parsed is None:
        return SearchResult([], None, 0, _empty_facets() if facets else {})
    conditions = _conditions(session, principal, query)
    after = _decode_cursor(cursor) if cursor else None
    source = _Source.of(dialect, parsed, _narrowing(query))

    sample = source.sample(session)
    estimate = _sampled(session, source, conditions, sample, facets)
    if limit <= 0:  # the counts alone
        rows = []
    elif estimate.exact:  # every match read, or the filters keep few of them: rank them all
        rows = _page_exact(session, source, conditions, after, limit + 1)
    else:
        rows = _page_bounded(session, source, conditions, after, limit + 1, estimate)
    more = len(rows) > limit
    rows = rows[:limit]
    hits = _hits(session, rows, parsed)
    next_cursor = _encode_cursor(rows[-1].score, rows[-1].item_id) if more and rows else None
    exact = estimate.exact
    return SearchResult(
        hits, next_cursor, estimate.total, estimate.facets, exact, did_you_mean, exact
    )


def warm(session: Session) -> None:
    """Search once in each of the ways whose first run in a process costs the most:
    with a word, a prefix, a mistyped word, no text, and a word among one category's,
    theme's and publisher's items. The first run of each compiles its statements,
    fills the stemmers' and the vocabulary's caches and reads the index's first pages:
    40–70 ms more than the same search again, at 200,000 items. ``lumbung serve``
    calls it before it takes requests, so that no reader pays for it."""
    common = session.execute(
        sa.select(spelling.TERMS.c.term).order_by(spelling.TERMS.c.docs.desc()).limit(1)
    ).scalar()
    word = common or "layanan"
    found = search(session, None, SearchQuery(q=word))
    for query in (SearchQuery(q=word[:3]), SearchQuery(q=word + "x"), SearchQuery()):
        search(session, None, query)

    def top(dimension: str) -> str | None:
        return next(iter(found.facets.get(dimension, {})), None)

    narrowed = (
        SearchQuery(q=word, category=top("category")),
        SearchQuery(q=word, theme=top("theme")),
        SearchQuery(q=word, publisher=top("publisher")),
    )
    for query in narrowed:
        if query != SearchQuery(q=word):
            search(session, None, query)


def matching_ids(session: Session, principal: Principal | None, q: str, kind: Kind) -> Any:
    """A subquery of the ids of ``kind`` items matching ``q`` that ``principal`` may
    see: what the list endpoints filter on, so their ``q`` finds what search finds."""
    parsed, _ = _parse(session, q)
    if parsed is None:
        return sa.select(DOCS.c.item_id).where(sa.false())
    matches = _Source(session.get_bind().dialect.name, parsed).matches()
    assert matches is not None
    conditions = _conditions(session, principal, SearchQuery(kind=kind))
    return (
        sa.select(DOCS.c.item_id)
        .select_from(matches.join(DOCS, DOCS.c.docid == matches.c.docid))
        .where(*conditions)
    )


# --- matching ------------------------------------------------------------------------


def _parse(session: Session, text: str | None) -> tuple[ParsedQuery | None, str | None]:
    if not text or not text.strip():
        return None, None
    terms = glossary.for_node(session)
    # Words of glossary phrases are never "corrected": they find their translations.
    corrected, changed = spelling.correct(session, text, known=terms.words)
    parsed = parse(corrected, terms.expand)
    if parsed is not None:
        parsed = parsed.completed(lambda prefix: spelling.completions(session, prefix))
    return parsed, (corrected if changed else None)


class _Row(NamedTuple):
    item_id: uuid.UUID
    kind: Kind
    score: float


@dataclass(frozen=True)
class _Source:
    """Where the matches of a query are read: the full-text index (FTS5 on SQLite,
    the ``tsvector`` column on PostgreSQL), or every index row when there is no text.

    A match's score is its tier's bonus plus its relevance to the whole query (bm25,
    ``ts_rank``), higher is better; without text every score is 0."""

    dialect: str
    parsed: ParsedQuery | None
    # The docids of the rows having a label the filters ask for (``_narrowing``).
    narrowing: Any = None
    # SQLite: the windows are of these matches only (the exact matches of a narrow
    # filter, see ``_page_by_docids``); None: of every match.
    among: tuple[int, ...] | None = None
    # SQLite: every match a search's caller may see and its filters keep, once counted
    # (``keep_exact``).
    _exact: list[list[int]] = field(default_factory=list, compare=False)

    @classmethod
    def of(cls, dialect: str, parsed: ParsedQuery | None, narrowing: Any = None) -> _Source:
        return cls(dialect, parsed, narrowing)

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"

    # --- building blocks

    def _tsquery(self, tier: int | None = None) -> Any:
        assert self.parsed is not None
        return sa.cast(sa.literal(self.parsed.tsquery(tier), sa.Text), postgresql.TSQUERY)

    @staticmethod
    def _fts_table(tier: int | None = None) -> str:
        """SQLite: the FTS5 table holding the matches of ``tier`` (None: of any): the
        name and short description's own (``search_fts_head``) for tiers 2 and 1."""
        return HEAD_FTS_TABLE if tier else FTS_TABLE

    def _fts_match(self, tier: int | None = None, table: str = FTS_TABLE) -> Any:
        """SQLite: ``table`` MATCH the expression of ``tier`` (None: of the whole query)."""
        assert self.parsed is not None
        text = sa.literal(self.parsed.fts5(tier), sa.Text)
        return sa.literal_column(table).op("MATCH")(text)

    def _tier_docids(self, tier: int) -> Any:
        """SQLite: the docids of the matches of ``tier``, from the tier's table: only
        the docids, so FTS5 walks the lists without ranking anything."""
        table = self._fts_table(tier)
        return (
            sa.select(sa.literal_column(f"{table}.rowid").label("docid"))
            .select_from(sa.table(table))
            .where(self._fts_match(tier, table))
        )

    def _relevance(self, tier: int) -> Any:
        """The relevance of a match of ``tier``, in the statement reading that tier.

        A match in the name or short description (tiers 2 and 1) is ranked on those
        fields alone: on SQLite by bm25 in ``search_fts_head``, over the hits of the
        tier's own expression (in tier 2, the name's); on PostgreSQL on ``head``,
        stored in the row, not on the whole document, stored out of line, which costs
        about 20 µs a match to read."""
        if self.postgres:
            # As double precision: the rank is a float4, whose text form (the way it
            # would reach Python) is rounded, and a cursor must hold the exact value.
            return sa.cast(
                sa.func.ts_rank(
                    sa.cast(sa.literal(TS_WEIGHTS), postgresql.ARRAY(sa.REAL)),
                    DOCS.c.head if tier else DOCS.c.vector,
                    self._tsquery(),
                    TS_NORMALISATION,
                ),
                sa.Double,
            )
        table = self._fts_table(tier)
        weights = ", ".join(str(w) for w in BM25_WEIGHTS[: 2 if tier else None])
        return sa.literal_column(f"-bm25({table}, {weights})")

    def _docid(self, tier: int | None = None) -> Any:
        """The docid of a match, in the statement reading the matches of ``tier``."""
        if self.postgres:
            return DOCS.c.docid
        return sa.literal_column(f"{self._fts_table(tier)}.rowid")

    def _in_tier(self, tier: int, row_by_row: bool = False) -> Any:
        """PostgreSQL: whether the match (a row of the index) is in ``tier``.

        The name and short description are tested in ``head``, stored in the row,
        which holds the same terms at the same positions as ``vector``'s weights A and
        B: the whole document is read only to find the matches of the last tier. A
        match of tier 2 or 1 needs no test of ``vector``; those of tier 2 are found
        through the index of the name alone (``NAME_VECTOR``). ``row_by_row``: ``head`` is
        tested by ``ts_match_vq``, the function behind ``@@``, which no index serves,
        so the planner reads the rows of the docid range and tests each (see
        ``_row_by_row``)."""
        name = self._tsquery(2)

        def head(query: Any) -> Any:
            if row_by_row:
                return sa.func.ts_match_vq(DOCS.c.head, query)
            return DOCS.c.head.op("@@", is_comparison=True)(query)

        assert tier > 0 or not row_by_row
        if tier == 2:
            if row_by_row:
                return head(name)
            # Through the GIN index of the name alone, whose lists hold only the
            # names' matches (``head``'s would each be read and tested for its
            # weight: "every app"'s first window 115 → 24 ms).
            return NAME_VECTOR.op("@@", is_comparison=True)(self._tsquery())
        if tier == 1:
            return sa.and_(head(self._tsquery()), sa.not_(head(name)))
        return sa.and_(DOCS.c.vector.op("@@")(self._tsquery()), sa.not_(head(self._tsquery())))

    def _select(self, *columns: Any) -> Any:
        if self.postgres:
            return sa.select(*columns).where(DOCS.c.vector.op("@@")(self._tsquery()))
        return sa.select(*columns).select_from(sa.table(FTS_TABLE)).where(self._fts_match())

    def _select_tier(
        self, tier: int, *columns: Any, docids: Any = None, row_by_row: bool = False
    ) -> Any:
        """The matches of ``tier``; on SQLite, of them the ``docids`` (a statement).

        On SQLite a statement that ranks must MATCH the whole query, so that bm25
        weighs the hits of every word and translation (and only once: a tier's own
        expression repeats the query after NOT); the tier's docids, read before, say
        which of those matches to keep. Tiers 2 and 1 are read from
        ``search_fts_head``, whose lists hold only the name and short description."""
        if self.postgres:
            return sa.select(*columns).select_from(DOCS).where(self._in_tier(tier, row_by_row))
        assert docids is not None
        table = self._fts_table(tier)
        # "+rowid": a test on each match as the index yields it, not a list of rowids
        # for the index to look up one by one (each a full-text query of its own).
        keep = sa.literal_column(f"+{table}.rowid").in_(docids)
        return (
            sa.select(*columns)
            .select_from(sa.table(table))
            .where(self._fts_match(table=table), keep)
        )

    # --- what the search asks

    def _between(self, low: int, high: int, row_by_row: bool = False) -> Any:
        """The matches with a docid in ``[low, high)``: their docids, or without text
        the number of index rows. The index reads that range only; ``row_by_row``
        (PostgreSQL): by testing each of its rows, not through the GIN index, whose
        lists it would walk whole, however small the range."""
        if self.parsed is None:
            stmt, docid = sa.select(sa.func.count()).select_from(DOCS), DOCS.c.docid
        elif row_by_row:
            docid = DOCS.c.docid
            stmt = sa.select(docid).where(sa.func.ts_match_vq(DOCS.c.vector, self._tsquery()))
        else:
            docid = self._docid()
            stmt = self._select(docid)
        return stmt.where(docid >= low, docid < high)

    def sample(self, session: Session) -> _Sample:
        """The sample of the matches: the bound below which their docids make it, how
        many matches (before visibility and filters) it holds, and (with text) their
        docids, which the sample's facets read by key: a join would test each match
        against the query again (on PostgreSQL reading its document from out of line
        storage), and on SQLite let the planner start from a filter's index and run a
        full-text query for each of its rows. The bound is ``DOCID_SPACE`` when the
        sample is every match.

        On SQLite the sample is the SAMPLE matches with the lowest docids, read in one
        walk: FTS5 yields matches in docid order and stops at the limit, and the bound
        is the next match's docid. PostgreSQL's planner would test each row in docid
        order until the limit (245 ms for a phrase in 3 % of the items), so there the
        lowest are found in a range that grows (see ``_grown_sample``). Without text,
        the range below the bound grows from 1/FIRST_SAMPLE of the docids by the
        factor the rows counted so far say is needed, with some to spare (at most
        MAX_GROWTH at a time), each step reading only the new part of the range."""
        if self.parsed is not None:
            return self._grown_sample(session) if self.postgres else self._lowest_matches(session)
        low, high, seen = 0, DOCID_SPACE // FIRST_SAMPLE, 0
        while True:
            seen += int(session.execute(self._between(low, high)).scalar_one())
            if seen >= SAMPLE or high >= DOCID_SPACE:
                return _Sample(high, seen, None)
            growth = MAX_GROWTH if seen == 0 else min(MAX_GROWTH, 1.25 * SAMPLE / seen)
            low, high = high, min(DOCID_SPACE, int(high * max(2.0, growth)))

    def _grown_sample(self, session: Session) -> _Sample:
        """PostgreSQL: the SAMPLE matches with the lowest docids, and the next one's
        as the bound (``DOCID_SPACE`` when there is none: the sample is every match).

        The first 1/FIRST_SAMPLE of the docids is read by testing each of its rows
        (about 200 at 200,000 items, 2 ms): through the GIN index, a range of any size
        costs a walk of the query words' whole lists (26 ms for "warga office"). What
        it finds says how far the range must grow to hold the rest of the sample;
        grown twice that far (to every docid when nothing matched yet), the rest is
        read through the index, once, only its lowest kept: one walk of the lists
        where a range grown step by step took one for each step."""
        high = DOCID_SPACE // FIRST_SAMPLE
        found = session.execute(self._between(0, high, row_by_row=True))
        docids = sorted(found.scalars().all())
        while len(docids) <= SAMPLE and high < DOCID_SPACE:
            rest = SAMPLE + 1 - len(docids)
            grown = 2 * rest * high / len(docids) if docids else DOCID_SPACE
            low, high = high, min(DOCID_SPACE, int(high + grown))
            # "+ 0": not in the primary key's order, which the planner would walk
            # testing each row until the limit.
            lowest = self._between(low, high).order_by(DOCS.c.docid + 0).limit(rest)
            docids += session.execute(lowest).scalars().all()
        return _Sample.lowest(docids)

    def _lowest_matches(self, session: Session) -> _Sample:
        """SQLite: the SAMPLE matches with the lowest docids, and the docid of the
        next as the bound, every match below it being among them (``DOCID_SPACE``
        when there is no next: the sample is every match). p50 0.9 → 0.2 ms, against
        growing a range (200 queries at 200,000 items)."""
        docid = self._docid()
        stmt = self._select(docid).order_by(docid).limit(SAMPLE + 1)
        return _Sample.lowest(list(session.execute(stmt).scalars().all()))

    def matches(self, *, ranked: bool = False) -> Any:
        """(docid, score) of every match as a subquery, None without text (every row
        is a match, and the caller takes its sample of the index's rows itself).
        ``ranked`` (PostgreSQL; SQLite ranks every match by docid, see
        ``ranked_exactly``): with its score (tier and relevance), else 0.

        A match is scored as in the first window (see RANK_WINDOW), as ``best`` scores
        it, so both give the very same floating-point score."""
        if self.parsed is None:
            return None
        score: Any = sa.literal(0.0)
        if ranked:
            assert self.postgres
            # Added in the order ``best`` adds them: the same floating-point score.
            tier = sa.case(
                (self._in_tier(2), 2 * TIER_BONUS), (self._in_tier(1), TIER_BONUS), else_=0.0
            )
            in_head = DOCS.c.head.op("@@", is_comparison=True)(self._tsquery())
            relevance = sa.case((in_head, self._relevance(1)), else_=self._relevance(0))
            score = (tier + sa.literal(_window_bonus(0))) + relevance
        stmt = self._select(self._docid().label("docid"), score.label("score"))
        return stmt.subquery("matches")

    def kept(self, conditions: list[ColumnElement[bool]]) -> list[ColumnElement[bool]]:
        """SQLite: the conditions an index row meets when it is a match and meets
        ``conditions``, the matches found in one walk of the lists.

        With a label to narrow by (a category, theme or format), the walk keeps the
        matches having the label, read by ``search_labels``' key, and only those
        rows are then read and tested: "pajak" in one category, 16 → 8 ms. Otherwise
        the rows that meet the conditions are read once, by their own indexes (a
        publisher's items, say), and each match tested against them as FTS5 yields
        it: a narrow filter costs a walk of the lists, not a join of every match."""
        keep: Any = sa.literal_column(f"+{FTS_TABLE}.rowid")
        if self.narrowing is not None:
            walk = self._select(self._docid()).where(keep.in_(self.narrowing))
            return [DOCS.c.docid.in_(walk), *conditions]
        rows = sa.select(DOCS.c.docid).where(*conditions)
        return [DOCS.c.docid.in_(self._select(self._docid()).where(keep.in_(rows)))]

    def tier_of(self) -> Any:
        """PostgreSQL: the tier (2, 1 or 0) of each match, as a column of a statement
        that reads the matches' index rows (from ``head``, in the row);
        None on SQLite, which does not need it (see ``windows``)."""
        if not self.postgres:
            return None
        head = DOCS.c.head.op("@@", is_comparison=True)
        return sa.case((head(self._tsquery(2)), 2), (head(self._tsquery()), 1), else_=0)

    def _score(self, tier: int, window: int) -> Any:
        base = tier * TIER_BONUS + _window_bonus(window)
        return (sa.literal(base) + self._relevance(tier)).label("score")

    def windows(
        self,
        session: Session,
        tier: int,
        size: float,
        row_by_row: bool = False,
        conditions: Sequence[ColumnElement[bool]] = (),
        share: float = 1.0,
    ) -> Iterator[_Window]:
        """The windows of ``tier`` (see RANK_WINDOW), from the highest docids down.

        On SQLite a window is the RANK_WINDOW highest docids of the tier's matches
        below the last window whose index rows meet ``conditions`` (about ``share``
        of the matches do), found by walking the index from the top without ranking
        (see ``window_docids``), then ranked in one statement bounded by them (a
        window skipped for a cursor is only walked). On PostgreSQL that walk tests
        each row in docid order (up to seconds for a small tier), so the tier's
        ``size`` the sample gives cuts the docids into equal ranges instead (see
        ``_windows``); ``row_by_row``: their matches are found by testing each row of
        the range (see ``_row_by_row``)."""
        if self.postgres:
            for number, bounds in enumerate(_windows(size)):
                yield _RangeWindow(self, session, tier, number, *bounds, row_by_row)
            return
        below: int | None = None
        for number in range(MAX_WINDOWS):
            window = _TopWindow(self, session, tier, number, below, conditions, share)
            yield window
            lowest = window.low()
            if lowest is None:
                return
            below = lowest - 1

    def window_docids(
        self,
        session: Session,
        tier: int,
        window: int,
        high: int | None,
        conditions: Sequence[ColumnElement[bool]] = (),
        share: float = 1.0,
    ) -> list[int]:
        """SQLite: the docids of a window of ``tier``: the RANK_WINDOW highest at most
        ``high`` whose index rows meet ``conditions`` (every one left, in the last
        window there may be), highest first.

        FTS5 walks the tier's lists from the top and stops at a batch's end; each
        batch's rows are then tested against the conditions by key. The first batch
        is as large as ``share`` (the part of the sample the conditions kept) says a
        window needs, each next one four times larger: the conditions may keep far
        fewer of a tier's matches than of the sample's ("data" among apps, where the
        names that hold "data" are datasets'), and a window of matches that no
        condition was tested on took a ranking per window to find none of them (200
        windows, 2 s), where a walk of the tier finds them all. With a label to narrow
        by (a category, theme or format), the walk keeps only the rows having it
        (``search_labels``' key), so a batch is mostly rows the conditions keep
        ("desa" among one category's apps, 26 → 17 ms)."""
        table = self._fts_table(tier)
        docid: Any = sa.literal_column(f"{table}.rowid")
        last = window >= MAX_WINDOWS - 1
        batch = RANK_WINDOW
        if conditions:
            batch = min(MAX_BATCH, math.ceil(1.25 * RANK_WINDOW / max(share, 1 / MAX_BATCH)))
        walk = self._tier_docids(tier).order_by(docid.desc())
        keep: Any = sa.literal_column(f"+{table}.rowid")
        if self.among is not None:
            walk = walk.where(keep.in_(_listed(self.among)))
        elif conditions and self.narrowing is not None:
            walk = walk.where(keep.in_(self.narrowing))
        found: list[int] = []
        while True:
            stmt = walk if high is None else walk.where(docid <= high)
            walked = list(session.execute(stmt if last else stmt.limit(batch)).scalars().all())
            if conditions and walked:
                meet = sa.select(DOCS.c.docid).where(_docid_in(walked), *conditions)
                kept = set(session.execute(meet).scalars().all())
                found += (d for d in walked if d in kept)
            else:
                found += walked
            if len(found) >= RANK_WINDOW and not last:
                return found[:RANK_WINDOW]
            if last or len(walked) < batch:
                return found  # the tier's last window
            high = walked[-1] - 1
            batch = min(MAX_BATCH, 4 * batch)

    def ranked(self, session: Session, tier: int, window: int, docids: list[int]) -> list[Any]:
        """SQLite: (docid, score) of the matches of ``tier`` among ``docids``. Bounded
        by the lowest and highest, the index walks no further than the window."""
        docid = self._docid(tier)
        stmt = self._select_tier(
            tier, docid.label("docid"), self._score(tier, window), docids=_listed(docids)
        )
        stmt = stmt.where(docid >= min(docids), docid <= max(docids))
        return list(session.execute(stmt).all())

    def keep_exact(self, docids: list[int]) -> None:
        """SQLite, with text: remember the docids of every match the caller may see
        and the filters keep, as the exact counts read them (see ``_sampled``), for
        the exact page to rank without reading them again."""
        if not self.postgres and self.parsed is not None:
            self._exact[:] = [docids]

    def exact_matches(self) -> list[int]:
        """SQLite: the docids ``keep_exact`` remembered, not yet ranked (see
        ``ranked_exactly``)."""
        assert self._exact, "every match is counted before the exact page is read"
        return self._exact[0]

    def ranked_exactly(self, session: Session, matches: list[int]) -> dict[int, float]:
        """SQLite: the scores of those of ``exact_matches`` that match in the name and
        short description (tiers 2 and 1), as a window scores them; the others, of
        the last tier, are ranked by ``ranked`` only when a page reaches them.

        They are ranked once in ``search_fts_head``, where a window of either tier
        ranks them too (the same statement over the same table: the same relevance),
        and those of tier 2 found among them. A tier's bonus is added in Python,
        which adds doubles as SQLite does."""
        if not matches:
            return {}
        head = HEAD_FTS_TABLE
        docid: Any = sa.literal_column(f"{head}.rowid")
        in_head = sa.select(docid.label("docid"), self._relevance(1).label("relevance"))
        in_head = in_head.select_from(sa.table(head)).where(
            self._fts_match(table=head),
            sa.literal_column(f"+{head}.rowid").in_(_listed(matches)),
            docid >= min(matches),
            docid <= max(matches),
        )
        relevance = {int(r.docid): float(r.relevance) for r in session.execute(in_head)}
        named: set[int] = set()
        if relevance:
            in_name = self._tier_docids(2).where(
                sa.literal_column(f"+{head}.rowid").in_(_listed(relevance))
            )
            named = set(session.execute(in_name).scalars().all())
        return {
            found: ((2 if found in named else 1) * TIER_BONUS + _window_bonus(0)) + score
            for found, score in relevance.items()
        }

    def best(
        self,
        session: Session,
        tier: int,
        window: int,
        bounds: tuple[int | None, int | None],
        k: int,
        upto: float | None,
        row_by_row: bool = False,
    ) -> list[Any]:
        """PostgreSQL: the ``k`` best matches of a window of ``tier`` (between the
        docids ``bounds``, scoring at most ``upto``), best first, as (docid, score):
        ranked by the index, before anything else is read."""
        score = self._score(tier, window)
        low, high = bounds
        docid = self._docid().label("docid")
        stmt = self._select_tier(tier, docid, score, row_by_row=row_by_row)
        if low is not None:
            stmt = stmt.where(self._docid() >= low)
        if high is not None:
            stmt = stmt.where(self._docid() <= high)
        if upto is not None:
            stmt = stmt.where(score <= upto)
        return list(session.execute(stmt.order_by(score.desc()).limit(k)).all())


class _Scored(NamedTuple):
    docid: int
    score: float


class _Sample(NamedTuple):
    """The matches with a docid below ``bound``: how many (before visibility and
    filters), and (with text) their docids (see ``_Source.sample``)."""

    bound: int
    seen: int
    docids: list[int] | None

    @classmethod
    def lowest(cls, docids: list[int]) -> _Sample:
        """The sample of the lowest matches, ``docids`` in ascending order: every
        match up to the (SAMPLE + 1)th, whose docid is the bound, or every match."""
        if len(docids) > SAMPLE:
            return cls(docids[SAMPLE], SAMPLE, docids[:SAMPLE])
        return cls(DOCID_SPACE, len(docids), docids)

    @property
    def everything(self) -> bool:
        return self.bound >= DOCID_SPACE


@dataclass
class _RangeWindow:
    """PostgreSQL: a window that is a range of docids; the index ranks its matches."""

    source: _Source
    session: Session
    tier: int
    number: int
    low: int | None
    high: int | None
    row_by_row: bool = False

    def best(self, k: int, upto: float | None) -> list[Any]:
        bounds = (self.low, self.high)
        return self.source.best(
            self.session, self.tier, self.number, bounds, k, upto, self.row_by_row
        )


@dataclass
class _TopWindow:
    """SQLite: a window that is the RANK_WINDOW highest docids of the tier's matches at
    most ``high`` that meet ``conditions``, read the first time they are asked for,
    and ranked in one statement the first time its best are."""

    source: _Source
    session: Session
    tier: int
    number: int
    high: int | None
    conditions: Sequence[ColumnElement[bool]] = ()
    share: float = 1.0
    _docids_read: list[int] | None = None
    _read: list[_Scored] | None = None

    def best(self, k: int, upto: float | None) -> list[_Scored]:
        if self._read is None:
            docids = self._docids()
            rows = (
                self.source.ranked(self.session, self.tier, self.number, docids) if docids else []
            )
            self._read = sorted(
                (_Scored(int(r.docid), float(r.score)) for r in rows), key=lambda r: -r.score
            )
        ranked = self._read if upto is None else [r for r in self._read if r.score <= upto]
        return ranked[:k]

    def low(self) -> int | None:
        """The lowest docid of the window, None when it is the tier's last."""
        docids = self._docids()
        return docids[-1] if len(docids) == RANK_WINDOW else None

    def _docids(self) -> list[int]:
        if self._docids_read is None:
            self._docids_read = self.source.window_docids(
                self.session, self.tier, self.number, self.high, self.conditions, self.share
            )
        return self._docids_read


_Window = _RangeWindow | _TopWindow


def _listed(docids: Iterable[int]) -> Any:
    """SQLite: the docids as a subquery of one parameter (a JSON array), which holds
    any number of them, where an IN list takes one parameter each."""
    values = sa.func.json_each(orjson.dumps(list(docids)).decode()).table_valued("value")
    return sa.select(values.c.value)


def _docid_in(docids: Iterable[int], postgres: bool = False) -> ColumnElement[bool]:
    """Whether an index row is one of ``docids``, each found by its key: on SQLite
    from one JSON parameter (``_listed``), on PostgreSQL from one array parameter."""
    if postgres:
        return DOCS.c.docid == sa.any_(sa.literal(list(docids), postgresql.ARRAY(sa.BigInteger)))
    return DOCS.c.docid.in_(_listed(docids))


def _every_match(
    source: _Source, conditions: list[ColumnElement[bool]]
) -> tuple[Any, list[ColumnElement[bool]]]:
    """Every match, to count exactly, as ``_facets`` takes them (a subquery of their
    docids, and the conditions): on SQLite the conditions ``kept`` gives, so no
    statement joins the index to its rows."""
    if source.postgres or source.parsed is None:
        return source.matches(), conditions
    return None, source.kept(conditions)


def _window_bonus(window: int) -> float:
    return (MAX_WINDOWS - window) * WINDOW_BONUS


def _conditions(
    session: Session, principal: Principal | None, query: SearchQuery
) -> list[ColumnElement[bool]]:
    doc = SearchDocument
    conditions: list[ColumnElement[bool]] = [visible_clause(doc, principal)]  # type: ignore[arg-type]
    kinds = _kinds(query)
    if len(kinds) == 1:
        conditions.append(DOCS.c.kind == kinds[0])
    elif not kinds:
        conditions.append(sa.false())
    if query.publisher is not None:
        conditions.append(DOCS.c.publisher_id.in_(_publisher_ids(session, query.publisher)))
    for dimension, value in (
        ("category", query.category),
        ("theme", query.theme),
        ("format", query.format),
    ):
        if value is not None:
            # The label as it is written inside the JSON array, quotes included: a
            # test of each row read (the few of a sample or a window); where every
            # row meeting the filters is wanted, ``_narrowing`` finds them by label.
            needle = orjson.dumps(f"{dimension}:{value}").decode()
            find = sa.func.instr if session.get_bind().dialect.name == "sqlite" else sa.func.strpos
            conditions.append(find(DOCS.c.labels, needle) > 0)
    for column, value in (
        (DOCS.c.license, query.license),
        (DOCS.c.development_status, query.development_status),
        (DOCS.c.spbe_class, query.spbe_class),
    ):
        if value is not None:
            conditions.append(column == value)
    if query.origin == "local":
        conditions.append(DOCS.c.origin.is_(None))
    elif query.origin == "peers":
        conditions.append(DOCS.c.origin.is_not(None))
    elif query.origin is not None:
        conditions.append(DOCS.c.origin == query.origin.rstrip("/"))
    return conditions


def _narrowing(query: SearchQuery) -> Any:
    """The docids of the rows having the label a filter asks for (a category, theme or
    format), by ``search_labels``' key; None without such a filter."""
    for dimension, value in (
        ("category", query.category),
        ("theme", query.theme),
        ("format", query.format),
    ):
        if value is not None:
            return sa.select(LABELS.c.docid).where(LABELS.c.label == f"{dimension}:{value}")
    return None


def _kinds(query: SearchQuery) -> list[Kind]:
    # Categories, development status and SPBE class belong to apps; themes and formats
    # to datasets: filtering on one leaves the other kind out rather than ignoring it.
    kinds: list[Kind] = [query.kind] if query.kind is not None else ["app", "dataset"]
    if query.theme is not None or query.format is not None:
        kinds = [k for k in kinds if k == "dataset"]
    if (
        query.category is not None
        or query.development_status is not None
        or query.spbe_class is not None
    ):
        kinds = [k for k in kinds if k == "app"]
    return kinds


def _publisher_ids(session: Session, ref: str) -> list[uuid.UUID]:
    """A publisher filter, resolved as every list resolves it (an id, this node's
    code, or ``code@node-id`` for a mirrored one: see ``publisher_ref``); a publisher
    that does not exist matches nothing."""
    try:
        return [catalog_service.get_publisher(session, ref).id]
    except NotFound:
        return []


# --- the page --------------------------------------------------------------------------


def _after(score: Any, item_id: Any, after: tuple[float, uuid.UUID]) -> Any:
    last_score, last_id = after
    return sa.or_(score < last_score, sa.and_(score == last_score, item_id > last_id))


def _rows_after(
    session: Session,
    scores: dict[int, float],
    docids: Any,
    after: tuple[float, uuid.UUID] | None,
    conditions: Sequence[ColumnElement[bool]] = (),
) -> list[_Row]:
    """The rows of the scored matches (``docids``: their docids, for ``IN``) that meet
    ``conditions``, best first (then by item id), that come after the cursor ``after``."""
    found = session.execute(
        sa.select(DOCS.c.docid, DOCS.c.item_id, DOCS.c.kind).where(
            DOCS.c.docid.in_(docids), *conditions
        )
    ).all()
    rows = sorted(
        (_Row(r.item_id, r.kind, scores[r.docid]) for r in found),
        key=lambda row: (-row.score, row.item_id),
    )
    if after is None:
        return rows
    last_score, last_id = after
    return [
        r for r in rows if r.score < last_score or (r.score == last_score and r.item_id > last_id)
    ]


def _page_exact(
    session: Session,
    source: _Source,
    conditions: list[ColumnElement[bool]],
    after: tuple[float, uuid.UUID] | None,
    want: int,
) -> list[Any]:
    """The first ``want`` rows after ``after``, every match ranked (on SQLite, the
    matches the counts read, by docid, then each tier's ranked; elsewhere in one
    statement)."""
    if source.parsed is not None and not source.postgres:
        return _page_by_docids(session, source, after, want)
    matches = source.matches(ranked=True)
    score = matches.c.score if matches is not None else sa.literal(0.0)
    stmt = sa.select(DOCS.c.item_id, DOCS.c.kind, score.label("score"))
    if matches is not None:
        stmt = stmt.select_from(matches.join(DOCS, DOCS.c.docid == matches.c.docid))
    stmt = stmt.where(*conditions)
    if matches is None:
        # Every score is 0: in id order, which the index on item_id gives without
        # sorting every row first.
        if after is not None:
            stmt = stmt.where(DOCS.c.item_id > after[1])
        return list(session.execute(stmt.order_by(DOCS.c.item_id).limit(want)).all())
    if after is not None:
        stmt = stmt.where(_after(score, DOCS.c.item_id, after))
    return list(session.execute(stmt.order_by(score.desc(), DOCS.c.item_id).limit(want)).all())


def _page_by_docids(
    session: Session, source: _Source, after: tuple[float, uuid.UUID] | None, want: int
) -> list[_Row]:
    """SQLite's exact page: every match ranked by docid, and only those that can be on
    the page read from their index rows (ties go by item id, which only the rows hold).

    The matches of the last tier, which score below every match of the first two, are
    ranked only when the page reaches them: bm25 first counts the items holding each
    of the query's words over their whole lists, which a narrow filter's page of
    name matches never needs."""
    matches = source.exact_matches()
    if len(matches) > RANK_WINDOW:
        # More than a window: ranked window by window, as when the total is estimated,
        # but the windows hold only these matches, which all meet the filters. Ranking
        # every one of thousands of matches cost up to tens of milliseconds.
        among = dataclasses.replace(source, among=tuple(matches))
        every = _Estimate({}, len(matches), 1.0, True, {})
        return _page_bounded(session, among, [], after, want, every)
    head = source.ranked_exactly(session, matches)
    last_tier = [d for d in matches if d not in head]

    def in_order(scored: Iterable[tuple[int, float]]) -> list[_Scored]:
        found = sorted((_Scored(d, s) for d, s in scored), key=lambda r: -r.score)
        return found if after is None else [r for r in found if r.score <= after[0]]

    ranked = in_order(head.items())
    take = want
    while True:
        # The first ``take`` and every match tied with the last of them: any other
        # scores less than all of these, so comes after them.
        end = min(take, len(ranked))
        while 0 < end < len(ranked) and ranked[end].score == ranked[end - 1].score:
            end += 1
        scores = {r.docid: r.score for r in ranked[:end]}
        rows = _rows_after(session, scores, _listed(scores), after)
        if len(rows) >= want:
            return rows[:want]
        if end >= len(ranked):
            if not last_tier:
                return rows
            ranked += in_order(
                (int(r.docid), float(r.score)) for r in source.ranked(session, 0, 0, last_tier)
            )
            last_tier = []
            continue
        take *= 2


def _page_bounded(
    session: Session,
    source: _Source,
    conditions: list[ColumnElement[bool]],
    after: tuple[float, uuid.UUID] | None,
    want: int,
    estimate: _Estimate,
) -> list[Any]:
    """The first ``want`` rows after ``after``, read tier by tier and window by window
    (see RANK_WINDOW) from the best of each as the index ranks them: the estimate's
    share (the part of the matches the caller may see and the filters keep) says how
    many to ask for; more are asked until the page is certain."""
    if source.parsed is None:
        return _page_exact(session, source, conditions, after, want)
    share = estimate.share
    rows: list[Any] = []
    index_rows = _index_rows(session) if source.postgres else 0
    for tier in (2, 1, 0):
        if after is not None and after[0] < tier * TIER_BONUS:
            continue  # the cursor is past every match of this tier
        size = estimate.tiers.get(tier, 0)
        row_by_row = tier > 0 and _row_by_row(estimate, tier, size, index_rows)
        # When the filters keep few of the matches, SQLite's windows hold only those
        # they keep (see ``window_docids``); otherwise, and on PostgreSQL, about
        # ``share`` of a window's matches are kept, tested as each window is read.
        narrow = not source.postgres and share < NARROW_SHARE
        tested = conditions if narrow else ()
        windows = source.windows(session, tier, size, row_by_row, tested, share)
        window_share = 1.0 if narrow else share
        for window in windows:
            if after is not None and after[0] < tier * TIER_BONUS + _window_bonus(window.number):
                continue  # ... or of this window
            rows += _window_page(session, window, conditions, after, want - len(rows), window_share)
            if len(rows) >= want:
                return rows[:want]
    return rows


# PostgreSQL's costs of finding the matches of a window of the first two tiers, in µs
# (measured at 200,000 items): through a GIN index (of the name for tier 2, of
# ``head`` for tier 1), about 0.4 for each item its lists hold for the query's words
# (the whole lists, whatever the window) and 7 for each of those in the window's range
# (its row read and tested again); or, testing each row of the range, 3.7 a row.
GIN_PER_ITEM = 0.4
GIN_PER_CANDIDATE = 7.0
ROW_TEST = 3.7


def _row_by_row(estimate: _Estimate, tier: int, size: float, index_rows: float) -> bool:
    """PostgreSQL: whether the windows of ``tier`` (2 or 1, of about ``size``
    matches) are found at less cost by testing each row of their docid ranges
    (``index_rows`` rows in all) than through the GIN index: for words in tens of
    thousands of items' names and short descriptions, where the index merges lists of
    100,000 items to keep a few hundred."""
    if index_rows <= 0 or size <= 0:
        return False
    # What the index's lists hold, whoever may see the items: the name's matches for
    # tier 2; for tier 1, those of the name and short description.
    listed = sum(estimate.tiers.get(t, 0) for t in range(tier, 3)) / max(estimate.share, 1e-9)
    in_range = index_rows / len(_windows(size))
    through_index = GIN_PER_ITEM * listed + GIN_PER_CANDIDATE * listed * in_range / index_rows
    return ROW_TEST * in_range < through_index


def _index_rows(session: Session) -> float:
    """PostgreSQL: about how many rows the index holds, as the planner's statistics
    last counted them (-1 before they ever did)."""
    found = session.execute(
        sa.text(f"SELECT reltuples FROM pg_class WHERE oid = '{DOCS.name}'::regclass")
    ).scalar()
    return float(found or 0)


def _windows(size: float) -> list[tuple[int | None, int | None]]:
    """PostgreSQL: the (lowest, highest) docids of each window of a tier of about
    ``size`` matches the caller may see: ranges of docids, from the highest down, each
    holding about RANK_WINDOW of them (docids are random); None: no bound. The sizes
    come from the sample, so the same catalog always gives the same windows, and a
    cursor's score says which window it is in."""
    parts = min(MAX_WINDOWS, max(1, math.ceil(size / RANK_WINDOW)))
    step = -(-DOCID_SPACE // parts)
    return [
        (
            DOCID_SPACE - (n + 1) * step if n < parts - 1 else None,
            DOCID_SPACE - n * step - 1 if n else None,
        )
        for n in range(parts)
    ]


def _window_page(
    session: Session,
    window: _Window,
    conditions: list[ColumnElement[bool]],
    after: tuple[float, uuid.UUID] | None,
    want: int,
    share: float,
) -> list[_Row]:
    k = max(2 * want, int(2 * want / max(share, 0.01)))
    while True:
        upto = after[0] if after is not None else None
        best = window.best(k, upto)
        if not best:
            return []
        scores = {row.docid: float(row.score) for row in best}
        rows = _rows_after(session, scores, list(scores), after, conditions)
        if len(best) < k:
            return rows[:want]  # every match of the window was read
        # Matches not read score at most the lowest read: rows above it are certain.
        floor = float(best[-1].score)
        certain = [r for r in rows if r.score > floor]
        if len(certain) >= want:
            return certain[:want]
        k *= 4


def _hits(session: Session, rows: Sequence[Any], parsed: ParsedQuery | None) -> list[Hit]:
    apps = [r.item_id for r in rows if r.kind == "app"]
    datasets = [r.item_id for r in rows if r.kind == "dataset"]
    items: dict[uuid.UUID, App | Dataset] = {}
    if apps:
        items.update((a.id, a) for a in session.exec(select(App).where(col(App.id).in_(apps))))
    if datasets:
        items.update(
            (d.id, d) for d in session.exec(select(Dataset).where(col(Dataset.id).in_(datasets)))
        )
    publisher_ids = list({item.publisher_id for item in items.values()})
    publishers = {
        p.id: p for p in session.exec(select(Publisher).where(col(Publisher.id).in_(publisher_ids)))
    }
    marker = _Marker(parsed) if parsed is not None else None
    hits = []
    for row in rows:
        item = items.get(row.item_id)
        if item is None:  # the index row outlived its item in this transaction; skip it
            continue
        snippet = marker.snippet(_texts(item)) if marker is not None else None
        hits.append(Hit(row.kind, item, publishers[item.publisher_id], float(row.score), snippet))
    return hits


def _texts(item: App | Dataset) -> list[tuple[str, str]]:
    """(language tag, text) a snippet may come from, most telling first."""
    texts: list[tuple[str, str]] = []
    if isinstance(item, App):
        for tag, description in item.description.items():
            if isinstance(description, dict):
                for key in ("short_description", "long_description"):
                    if isinstance(description.get(key), str):
                        texts.append((tag, description[key]))
                features = description.get("features")
                if isinstance(features, list):
                    texts.append((tag, " · ".join(str(f) for f in features)))
    else:
        texts += [(tag, text) for tag, text in item.title.items()]
        texts += [(tag, text) for tag, text in item.description.items()]
    return texts


@lru_cache(maxsize=65536)
def _forms(word: str) -> tuple[str, tuple[str, ...]]:
    """A word of item text as the index compares it: folded, and the terms it is
    indexed under (itself and its stem in each language). Tuples of strings, which
    the garbage collector stops tracking: a full collection would otherwise walk every
    entry of this cache (tens of thousands on a busy node) and stop a request for it."""
    folded = fold(word)
    return folded, tuple(query_variants(folded))


class _Marker:
    """Marks the query's words in item text: each word is compared as the index
    compared it (folded, and stemmed in the text's language)."""

    def __init__(self, parsed: ParsedQuery) -> None:
        self.variants, self.prefixes, self.typed = parsed.highlight_terms()
        # Each distinct word is weighed once per query, however often it occurs.
        self.weights: dict[str, int] = {}

    def matches(self, word: str, tag: str) -> bool:
        return self._weight(word) > 0

    def snippet(self, texts: list[tuple[str, str]]) -> str | None:
        """A passage of the text with the most matches, the words as typed counting
        more than their translations (so a query in English shows the English text);
        on a tie, the most telling text (they come in that order)."""
        best: tuple[int, str, str] | None = None
        weights, weight = self.weights, self._weight
        for tag, text in texts:
            score = 0
            for word in WORD.findall(text):
                found = weights.get(word)
                score += weight(word) if found is None else found
            if score and (best is None or score > best[0]):
                best = (score, tag, text)
        if best is None:
            return None
        return self._passage(best[2], best[1], list(WORD.finditer(best[2])))

    def _weight(self, word: str) -> int:
        """3 for a word as typed (or its stem, or one beginning with the word being
        typed), 1 for a translation's, 0 for a word the query does not match."""
        found = self.weights.get(word)
        if found is None:
            folded, forms = _forms(word)
            if (self.prefixes and folded.startswith(self.prefixes)) or not self.typed.isdisjoint(
                forms
            ):
                found = 3
            else:
                found = 0 if self.variants.isdisjoint(forms) else 1
            self.weights[word] = found
        return found

    def _passage(self, text: str, tag: str, spans: list[re.Match[str]]) -> str:
        first = next(i for i, m in enumerate(spans) if self.matches(m.group(), tag))
        start_word = max(0, first - 8)
        end_word = min(len(spans), start_word + SNIPPET_WORDS)
        begin = spans[start_word].start() if start_word else 0
        end = spans[end_word - 1].end() if end_word < len(spans) else len(text)
        out = ["…" if begin else ""]
        position = begin
        # Text is escaped in runs between marked words: escaping is per character,
        # so a run escaped whole reads the same as its words escaped one by one.
        for m in spans[start_word:end_word]:
            if self.matches(m.group(), tag):
                out.append(html.escape(text[position : m.start()]))
                out.append(f"<mark>{html.escape(m.group())}</mark>")
                position = m.end()
        out.append(html.escape(text[position:end]))
        if end < len(text):
            out.append("…")
        return "".join(out)


# --- counts ----------------------------------------------------------------------------

FACETS = (
    "kind",
    "publisher",
    "category",
    "theme",
    "format",
    "license",
    "development_status",
    "spbe_class",
    "origin",
)


def _empty_facets() -> dict[str, dict[str, int]]:
    # Both kinds are always counted, zero included: pages print "0 apps".
    return {name: {} for name in FACETS} | {"kind": {"app": 0, "dataset": 0}}


def _filtered(matches: Any, conditions: list[ColumnElement[bool]], *columns: Any) -> Any:
    stmt = sa.select(*columns)
    if matches is not None:
        stmt = stmt.select_from(matches.join(DOCS, DOCS.c.docid == matches.c.docid))
    else:
        stmt = stmt.select_from(DOCS)
    return stmt.where(*conditions)


@dataclass(frozen=True)
class _Estimate:
    """What the sample says of every match."""

    facets: dict[str, dict[str, int]]
    total: int  # the matches the caller may see and the filters keep
    share: float  # their part of every match
    exact: bool  # the sample was every match, or they were counted
    tiers: dict[int, float]  # how many of them in each tier


def _sampled(
    session: Session,
    source: _Source,
    conditions: list[ColumnElement[bool]],
    sample: _Sample,
    facets: bool,
) -> _Estimate:
    """Total, facets and tier sizes from the sample, estimated for every match unless
    the sample is every match. When
    too few of the sample are left after visibility and filters for an estimate to
    mean anything, they are counted exactly instead.

    Every match is in the sample when there are fewer than ``SAMPLE`` (give or take
    the last step of the sample's growth); ranking them all then costs about what
    ranking one window does, which is why SAMPLE is no more than RANK_WINDOW."""
    everything, bound, seen = sample.everything, sample.bound, sample.seen
    matches, tier, sampled = None, None, conditions
    if sample.docids is not None:  # read by key (see ``_Source.sample``)
        sampled = [*conditions, _docid_in(sample.docids, source.postgres)]
        if not everything:
            tier = source.tier_of()
    else:  # no text: the sample of every index row
        stmt = sa.select(DOCS.c.docid.label("docid"))
        if not everything:
            stmt = stmt.where(DOCS.c.docid < bound)
        matches = stmt.subquery("matches")
    counts, kept, tiers, read = _facets(session, matches, sampled, facets, tier)
    if everything:
        source.keep_exact(read)
        return _Estimate(counts, kept, kept / max(seen, 1), True, {})
    # The sample holds about bound / DOCID_SPACE of the matches.
    scale = DOCID_SPACE / bound
    if kept < MIN_SAMPLE:
        every, counted = _every_match(source, conditions)
        counts, total, _, read = _facets(session, every, counted, facets)
        source.keep_exact(read)
        return _Estimate(counts, total, total / (seen * scale), True, {})
    scaled = {
        name: {value: max(1, round(n * scale)) for value, n in counter.items()}
        for name, counter in counts.items()
    }
    if counts:
        scaled["kind"] = {kind: round(n * scale) for kind, n in counts["kind"].items()}
    return _Estimate(
        _ordered(scaled) if counts else {},
        round(kept * scale),
        kept / max(seen, 1),
        False,
        {t: n * scale for t, n in tiers.items()},
    )


def _facets(
    session: Session,
    matches: Any,
    conditions: list[ColumnElement[bool]],
    facets: bool = True,
    tier: Any = None,
) -> tuple[dict[str, dict[str, int]], int, Counter[int], list[int]]:
    """Counts per facet over every match the caller may see (none unless ``facets``),
    their number, given ``tier`` (a column) how many are in each tier, and their
    docids.

    The facet columns of the matches are read once and counted in Python: one pass
    over a few thousand short rows (about ``SAMPLE`` of them when sampled)
    costs less than grouping them by each dimension in turn."""
    # The publisher facet is keyed by identity (``code@node-id`` for a mirror), not by
    # code: a peer's publisher may share a code with ours, and must neither merge with
    # it nor hide it. Its code and node are read with each match (a lookup by key).
    columns = [
        DOCS.c.docid,
        DOCS.c.kind,
        PUBLISHERS.c.code,
        PUBLISHERS.c.origin,
        sa.func.coalesce(DOCS.c.origin, "local"),
        DOCS.c.license,
        DOCS.c.development_status,
        DOCS.c.spbe_class,
        DOCS.c.labels,
    ]
    tier = tier if tier is not None else sa.literal(0)
    if facets:
        stmt = _filtered(matches, conditions, *columns, tier).outerjoin_from(
            DOCS, PUBLISHERS, PUBLISHERS.c.id == DOCS.c.publisher_id
        )
    else:
        stmt = _filtered(matches, conditions, DOCS.c.docid, DOCS.c.kind, tier)
    rows = session.execute(stmt).all()
    tiers = Counter(row[-1] for row in rows)
    docids = [row[0] for row in rows]
    if not facets:
        return {}, len(rows), tiers, docids
    counters: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    if not rows:
        return _ordered(counters), 0, tiers, docids
    _, kinds, codes, nodes, origins, licenses, statuses, classes, labels, _ = zip(
        *rows, strict=True
    )
    for name, column in (
        ("kind", kinds),
        ("origin", origins),
        ("license", licenses),
        ("development_status", statuses),
        ("spbe_class", classes),
    ):
        counters[name] = {value: n for value, n in Counter(column).items() if value is not None}
    # Every row's labels (each a JSON array, as ``index`` writes it) read as one array
    # and counted in C: most rows' sets differ, so grouping them first saves nothing.
    every_label = orjson.loads("[" + ",".join(filter(None, (t[1:-1] for t in labels))) + "]")
    for label, n in Counter(every_label).items():
        dimension, _, value = label.partition(":")
        counters[dimension][value] = n
    counters["publisher"] = {
        catalog_service.ref_of(code, node): n
        for (code, node), n in Counter(zip(codes, nodes, strict=True)).items()
        if code is not None
    }
    return _ordered(counters), len(rows), tiers, docids


def _ordered(counters: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Each facet's values by count, largest first (then by value); both kinds always."""
    facets = {
        name: dict(sorted(counter.items(), key=lambda pair: (-pair[1], pair[0])))
        for name, counter in counters.items()
    }
    kinds = facets.get("kind", {})
    facets["kind"] = {"app": kinds.get("app", 0), "dataset": kinds.get("dataset", 0)}
    return facets


# --- cursors ---------------------------------------------------------------------------


def _encode_cursor(score: float, item_id: uuid.UUID) -> str:
    raw = struct.pack(">d", float(score)) + item_id.bytes
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode_cursor(cursor: str) -> tuple[float, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) != 24:
            raise ValueError(cursor)
        (score,) = struct.unpack(">d", raw[:8])
        return score, uuid.UUID(bytes=raw[8:])
    except (ValueError, binascii.Error, struct.error):
        raise invalid(["query", "cursor"], "not a cursor this node issued") from None


catalog_service.use_text_search(matching_ids)
