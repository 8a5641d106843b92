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
import html
import re
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

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
from registry.search.analysis import LANGUAGES, fold, stem
from registry.search.index import DOCS
from registry.search.models import FTS_TABLE, SearchDocument
from registry.search.query import ParsedQuery, parse
from registry.sharing.visibility import visible_clause

Kind = Literal["app", "dataset"]

# Relative weights of the fields (name, short description, long description and
# features, the rest): the same order on both databases. FTS5's bm25 takes one
# weight per column; ts_rank_cd takes {D, C, B, A}.
BM25_WEIGHTS = (10.0, 4.0, 1.0, 1.5)
TS_WEIGHTS = "{0.15, 0.1, 0.4, 1.0}"
# ts_rank_cd's normalisation 1: divide by 1 + log(length), as bm25 discounts long items.
TS_NORMALISATION = 1

# Facets are counted from at most this many matching rows; beyond it, counts are
# scaled from that sample and ``facets_exact`` is false. This bounds the cost of a
# one-letter prefix over 200,000 items.
FACET_SCAN = 20_000
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
    order), ``limit`` at a time from ``cursor``; with facet counts over all matches
    when ``facets`` is true. Without text, items come in id (creation) order.

    A query word that no item contains is replaced by the nearest indexed word (one or
    two edits away) and the corrected query is returned as ``did_you_mean``."""
    dialect = session.get_bind().dialect.name
    parsed, did_you_mean = _parse(session, query.q)
    if query.q and parsed is None:
        return SearchResult([], None, 0, _empty_facets() if facets else {})
    matches = _matches(dialect, parsed)
    conditions = _conditions(session, principal, query)
    after = _decode_cursor(cursor) if cursor else None

    score = matches.c.score if matches is not None else sa.literal(0.0)
    stmt = sa.select(DOCS.c.item_id, DOCS.c.kind, score.label("score"))
    if matches is not None:
        stmt = stmt.select_from(matches.join(DOCS, DOCS.c.docid == matches.c.docid))
    stmt = stmt.where(*conditions)
    if after is not None:
        last_score, last_id = after
        stmt = stmt.where(
            sa.or_(score < last_score, sa.and_(score == last_score, DOCS.c.item_id > last_id))
        )
    rows = session.execute(stmt.order_by(score.desc(), DOCS.c.item_id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    hits = _hits(session, rows, parsed)
    next_cursor = _encode_cursor(rows[-1].score, rows[-1].item_id) if more and rows else None

    if facets:
        counts, total, exact = _facets(session, matches, conditions)
    else:
        counts, total, exact = {}, _count(session, matches, conditions), True
    return SearchResult(hits, next_cursor, total, counts, exact, did_you_mean)


def matching_ids(session: Session, principal: Principal | None, q: str, kind: Kind) -> Any:
    """A subquery of the ids of ``kind`` items matching ``q`` that ``principal`` may
    see: what the list endpoints filter on, so their ``q`` finds what search finds."""
    parsed, _ = _parse(session, q)
    if parsed is None:
        return sa.select(DOCS.c.item_id).where(sa.false())
    matches = _matches(session.get_bind().dialect.name, parsed)
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
    return parsed, (corrected if changed else None)


def _matches(dialect: str, parsed: ParsedQuery | None) -> Any:
    """(docid, score) of every index row matching ``parsed``, higher score better."""
    if parsed is None:
        return None
    if dialect == "postgresql":
        tsquery = sa.cast(sa.literal(parsed.tsquery(), sa.Text), postgresql.TSQUERY)
        # As double precision: the rank is a float4, whose text form (the way it
        # would reach Python) is rounded, and a cursor must hold the exact value.
        rank = sa.cast(
            sa.func.ts_rank_cd(
                sa.cast(sa.literal(TS_WEIGHTS), postgresql.ARRAY(sa.REAL)),
                DOCS.c.vector,
                tsquery,
                TS_NORMALISATION,
            ),
            sa.Double,
        )
        return (
            sa.select(DOCS.c.docid.label("docid"), rank.label("score"))
            .where(DOCS.c.vector.op("@@")(tsquery))
            .subquery("matches")
        )
    weights = ", ".join(str(w) for w in BM25_WEIGHTS)
    return (
        sa.select(
            sa.literal_column("rowid").label("docid"),
            sa.literal_column(f"-bm25({FTS_TABLE}, {weights})").label("score"),
        )
        .select_from(sa.table(FTS_TABLE))
        .where(sa.literal_column(FTS_TABLE).op("MATCH")(sa.literal(parsed.fts5(), sa.Text)))
        .subquery("matches")
    )


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
            # The label as it is written inside the JSON array, quotes included.
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


class _Marker:
    """Marks the query's words in item text: each word is compared as the index
    compared it (folded, and stemmed in the text's language)."""

    def __init__(self, parsed: ParsedQuery) -> None:
        self.variants, self.prefixes, self.typed = parsed.highlight_terms()
        self.seen: dict[str, bool] = {}

    def matches(self, word: str, tag: str) -> bool:
        found = self.seen.get(word)
        if found is None:
            found = self.seen[word] = self._matches(fold(word))
        return found

    def _matches(self, folded: str) -> bool:
        if folded in self.variants or any(folded.startswith(p) for p in self.prefixes):
            return True
        return any(stem(folded, language) in self.variants for language in LANGUAGES.values())

    def snippet(self, texts: list[tuple[str, str]]) -> str | None:
        """A passage of the text with the most matches, the words as typed counting
        more than their translations (so a query in English shows the English text);
        on a tie, the most telling text (they come in that order)."""
        best: tuple[int, str, str, list[re.Match[str]]] | None = None
        for tag, text in texts:
            spans = list(WORD.finditer(text))
            score = sum(self._weight(m.group()) for m in spans)
            if score and (best is None or score > best[0]):
                best = (score, tag, text, spans)
        return self._passage(best[2], best[1], best[3]) if best is not None else None

    def _weight(self, word: str) -> int:
        if not self.matches(word, ""):
            return 0
        folded = fold(word)
        typed = folded in self.typed or any(
            stem(folded, language) in self.typed for language in LANGUAGES.values()
        )
        return 3 if typed or any(folded.startswith(p) for p in self.prefixes) else 1

    def _passage(self, text: str, tag: str, spans: list[re.Match[str]]) -> str:
        first = next(i for i, m in enumerate(spans) if self.matches(m.group(), tag))
        start_word = max(0, first - 8)
        end_word = min(len(spans), start_word + SNIPPET_WORDS)
        begin = spans[start_word].start() if start_word else 0
        end = spans[end_word - 1].end() if end_word < len(spans) else len(text)
        out = ["…" if begin else ""]
        position = begin
        for m in spans[start_word:end_word]:
            out.append(html.escape(text[position : m.start()]))
            word = html.escape(m.group())
            out.append(f"<mark>{word}</mark>" if self.matches(m.group(), tag) else word)
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


def _count(session: Session, matches: Any, conditions: list[ColumnElement[bool]]) -> int:
    return int(session.execute(_filtered(matches, conditions, sa.func.count())).scalar_one())


def _facets(
    session: Session, matches: Any, conditions: list[ColumnElement[bool]]
) -> tuple[dict[str, dict[str, int]], int, bool]:
    """Counts per facet over every match the caller may see: (counts, total, exact).

    The matches (at most ``FACET_SCAN`` + 1 of them) are read once into a
    materialised CTE and every dimension is grouped in the database, so only the
    counts travel to Python."""
    postgres = session.get_bind().dialect.name == "postgresql"
    m = (
        _filtered(
            matches,
            conditions,
            DOCS.c.kind,
            DOCS.c.publisher_id,
            DOCS.c.origin,
            DOCS.c.license,
            DOCS.c.development_status,
            DOCS.c.spbe_class,
            DOCS.c.labels,
        )
        .limit(FACET_SCAN + 1)
        .cte("m")
        .prefix_with("MATERIALIZED")
    )

    def grouped(name: str, column: Any) -> Any:
        value = sa.cast(column, sa.String)
        return (
            sa.select(sa.literal(name).label("facet"), value.label("value"), sa.func.count())
            .where(column.is_not(None))
            .group_by(value)
        )

    if postgres:
        labels = sa.func.jsonb_array_elements_text(
            sa.cast(m.c.labels, postgresql.JSONB)
        ).table_valued("value")
    else:
        labels = sa.func.json_each(m.c.labels).table_valued("value")
    parts = [
        grouped("kind", m.c.kind),
        grouped("publisher", m.c.publisher_id),
        grouped("origin", sa.func.coalesce(m.c.origin, "local")),
        grouped("license", m.c.license),
        grouped("development_status", m.c.development_status),
        grouped("spbe_class", m.c.spbe_class),
        sa.select(sa.literal("label"), sa.cast(labels.c.value, sa.String), sa.func.count())
        .select_from(m.join(labels, sa.true()))
        .group_by(labels.c.value),
        sa.select(sa.literal("total"), sa.null(), sa.func.count()).select_from(m),
    ]
    counters: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    by_publisher: dict[uuid.UUID, int] = {}
    scanned = 0
    for facet, value, n in session.execute(sa.union_all(*parts)):
        if facet == "total":
            scanned = int(n)
        elif facet == "publisher":
            by_publisher[uuid.UUID(value)] = int(n)
        elif facet == "label":
            dimension, _, label = value.partition(":")
            counters[dimension][label] = int(n)
        else:
            counters[facet][value] = int(n)
    exact = scanned <= FACET_SCAN
    total = scanned if exact else _count(session, matches, conditions)
    if by_publisher:
        # Keyed by identity (``code@node-id`` for a mirror), not by code: a peer's
        # publisher may share a code with ours, and must neither merge with it nor hide it.
        for publisher in session.exec(
            select(Publisher).where(col(Publisher.id).in_(list(by_publisher)))
        ):
            key = catalog_service.publisher_ref(publisher)
            publisher_id = publisher.id
            counted = counters["publisher"].get(key, 0)
            counters["publisher"][key] = counted + by_publisher[publisher_id]
    scale = 1.0 if exact else total / scanned
    facets = {
        name: {
            value: max(1, round(n * scale))
            for value, n in sorted(counter.items(), key=lambda pair: (-pair[1], pair[0]))
        }
        for name, counter in counters.items()
    }
    kinds = facets["kind"]
    facets["kind"] = {"app": kinds.get("app", 0), "dataset": kinds.get("dataset", 0)}
    return facets, total, exact


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
