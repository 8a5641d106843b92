"""Keeping the search index in step with the catalog, in the writer's transaction.

Every write of an app, a dataset, a dataset's distribution or a publisher refreshes
the index rows of the items it touches before the transaction commits, so a search
never shows an item that is gone, nor misses one that was just written:

- writes through a session are caught by a flush hook (no service can forget it);
- federation sync's bulk writes report the ids they wrote through
  ``registry.indexing`` (tombstones and purges included);
- ``lumbung search reindex`` rebuilds everything, e.g. after an upgrade of the
  analysis.

A refresh deletes the items' index rows and writes them again from the rows as they
now are; an item deleted or soft-deleted simply gets none.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as OrmSession

from registry import indexing
from registry.catalog.models import App, Dataset, Distribution, Publisher
from registry.db import table_of
from registry.search.analysis import LANGUAGES, languages_of, terms_of, words
from registry.search.models import (
    FTS_COLUMNS,
    FTS_TABLES,
    SearchDocument,
    SearchLabel,
    SearchTerm,
    fts_definition,
)

DOCS = table_of(SearchDocument)
TERMS = table_of(SearchTerm)
LABELS = table_of(SearchLabel)
APPS = table_of(App)
DATASETS = table_of(Dataset)
PUBLISHERS = table_of(Publisher)
DISTRIBUTIONS = table_of(Distribution)

# The four weighted fields, most telling first: PostgreSQL's weights A to D, and the
# columns of the FTS5 table in this order.
FIELDS = ("name", "summary", "body", "extra")
WEIGHT_LETTERS = dict(zip(FIELDS, "ABCD", strict=True))
# The name and the short description: on PostgreSQL also a small ``tsvector`` of their
# own (``head``), which decides a match's tier and is stored in the row itself, where
# the whole document's is compressed out of line and costly to read for every match.
HEAD = FIELDS[:2]
BOTH = tuple(LANGUAGES.values())
CHUNK = 500
# tsvector positions stop at 16383; later words are still indexed at that position.
MAX_POSITION = 16383
# Docids are drawn at random (see ``new_docids``) from [0, 2**62): within a signed
# 64-bit integer on both databases.
DOCID_BITS = 62
DOCID_SPACE = 1 << DOCID_BITS
_DRAW = random.SystemRandom().getrandbits


@dataclass
class Document:
    """What one item is indexed as: its filter and facet columns and its analysed
    text, per weighted field."""

    columns: dict[str, Any]
    fields: dict[str, list[str]] = field(default_factory=lambda: {f: [] for f in FIELDS})
    vocabulary: set[str] = field(default_factory=set)

    def add(self, name: str, text: Any, languages: tuple[str, ...] = BOTH) -> None:
        if not text:
            return
        if isinstance(text, list | tuple):
            for part in text:
                self.add(name, part, languages)
            return
        found = words(str(text))
        self.fields[name].extend(terms_of(found, languages))
        self.vocabulary.update(found)

    def spelling_words(self) -> set[str]:
        """The words of the item worth suggesting as a correction."""
        return {w for w in self.vocabulary if 3 <= len(w) <= 64 and not w.isdigit()}

    def tsvector_text(self, fields: tuple[str, ...] = FIELDS) -> str:
        """The document as a ``tsvector`` literal: each term with its positions and
        the weight of the field it is in; ``fields``: only the terms of the first of
        them (``HEAD``), at the same positions as in the whole document."""
        positions: dict[str, list[str]] = {}
        position = 0
        for name in fields:
            letter = WEIGHT_LETTERS[name]
            for term in self.fields[name]:
                position = min(position + 1, MAX_POSITION)
                slots = positions.setdefault(term, [])
                if len(slots) < 256:  # PostgreSQL keeps at most 256 positions per term
                    slots.append(f"{position}{letter}")
        return " ".join(f"'{term}':{','.join(slots)}" for term, slots in positions.items())


def _labels(**values: Iterable[str]) -> str:
    """Multi-valued facets as a JSON array of "dimension:value" strings."""
    found = {f"{dimension}:{item}" for dimension, items in values.items() for item in items if item}
    return orjson.dumps(sorted(found)).decode()


def _localised(texts: Any) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(stemmers, value) for each language of a ``{language: value}`` document."""
    if isinstance(texts, dict):
        for tag, value in texts.items():
            yield languages_of(tag), value
    elif texts:
        yield BOTH, texts


def _json(value: Any) -> Any:
    # SQLite hands JSON columns back as text when read through Core without types.
    if isinstance(value, str | bytes):
        return orjson.loads(value)
    return value


def app_document(row: Any, publisher: Any) -> Document:
    doc = Document(_common_columns(row, "app"))
    doc.columns.update(
        development_status=row.development_status,
        spbe_class=row.spbe_class,
        labels=_labels(category=_json(row.categories) or []),
    )
    doc.add("name", row.name)
    for languages, texts in _localised(_json(row.description) or {}):
        if not isinstance(texts, dict):
            continue
        doc.add("summary", texts.get("short_description"), languages)
        doc.add("body", texts.get("long_description"), languages)
        doc.add("body", texts.get("features"), languages)
        doc.add("body", texts.get("localised_name"), languages)
    doc.add("extra", _json(row.tags) or [])
    doc.add("extra", _json(row.categories) or [])
    doc.add("extra", [publisher.name, publisher.code, row.slug])
    return doc


def dataset_document(row: Any, publisher: Any, distributions: list[Any]) -> Document:
    doc = Document(_common_columns(row, "dataset"))
    formats = [d.format for d in distributions if d.format]
    doc.columns.update(
        development_status=None,
        spbe_class=None,
        labels=_labels(theme=_json(row.themes) or [], format=formats),
    )
    for languages, title in _localised(_json(row.title) or {}):
        doc.add("name", title, languages)
    for languages, text in _localised(_json(row.description) or {}):
        doc.add("summary", text, languages)
    doc.add("body", [d.title for d in distributions])
    doc.add("extra", _json(row.keywords) or [])
    doc.add("extra", formats)
    doc.add("extra", [publisher.name, publisher.code, row.slug])
    return doc


def _common_columns(row: Any, kind: str) -> dict[str, Any]:
    return {
        "item_id": row.id,
        "kind": kind,
        "publisher_id": row.publisher_id,
        "origin": row.origin,
        "visibility": row.visibility,
        "audience": _json(row.audience),
        "license": row.license,
    }


# --- writing -------------------------------------------------------------------------


def refresh(connection: sa.Connection, kind: str, ids: Sequence[uuid.UUID]) -> None:
    """Rewrite the index rows of the ``kind`` items ``ids`` from their current rows."""
    for start in range(0, len(ids), CHUNK):
        chunk = list(dict.fromkeys(ids[start : start + CHUNK]))
        _remove(connection, chunk)
        _write(connection, list(_documents(connection, kind, chunk)))


# The columns an item is indexed from (not, say, an app's whole publiccode.yml).
_COMMON = ("id", "publisher_id", "origin", "visibility", "audience", "license", "slug")
_APP = ("name", "description", "categories", "tags", "development_status", "spbe_class")
_DATASET = ("title", "description", "themes", "keywords")


def _documents(connection: sa.Connection, kind: str, ids: list[uuid.UUID]) -> Iterator[Document]:
    table = APPS if kind == "app" else DATASETS
    columns = [table.c[name] for name in (*_COMMON, *(_APP if kind == "app" else _DATASET))]
    rows = connection.execute(
        sa.select(*columns, PUBLISHERS.c.name.label("p_name"), PUBLISHERS.c.code.label("p_code"))
        .join(PUBLISHERS, PUBLISHERS.c.id == table.c.publisher_id)
        .where(table.c.id.in_(ids), table.c.deleted_at.is_(None))
    ).all()
    distributions: dict[uuid.UUID, list[Any]] = {}
    if kind == "dataset" and rows:
        for dist in connection.execute(
            sa.select(
                DISTRIBUTIONS.c.dataset_id, DISTRIBUTIONS.c.title, DISTRIBUTIONS.c.format
            ).where(
                DISTRIBUTIONS.c.dataset_id.in_([r.id for r in rows]),
                DISTRIBUTIONS.c.deleted_at.is_(None),
            )
        ):
            distributions.setdefault(dist.dataset_id, []).append(dist)
    for row in rows:
        publisher = _Publisher(row.p_name, row.p_code)
        if kind == "app":
            yield app_document(row, publisher)
        else:
            yield dataset_document(row, publisher, distributions.get(row.id, []))


@dataclass
class _Publisher:
    name: str
    code: str


def _remove(connection: sa.Connection, ids: list[uuid.UUID]) -> None:
    if connection.dialect.name == "sqlite":
        for table in FTS_TABLES:
            connection.execute(
                sa.text(
                    f"DELETE FROM {table} WHERE rowid IN "
                    "(SELECT docid FROM search_documents WHERE item_id IN :ids)"
                ).bindparams(sa.bindparam("ids", expanding=True, type_=DOCS.c.item_id.type)),
                {"ids": ids},
            )
    removed = sa.select(DOCS.c.docid).where(DOCS.c.item_id.in_(ids))
    connection.execute(sa.delete(LABELS).where(LABELS.c.docid.in_(removed)))
    connection.execute(sa.delete(DOCS).where(DOCS.c.item_id.in_(ids)))


def _write(
    connection: sa.Connection,
    documents: list[Document],
    words: Counter[str] | None = None,
    fts_tables: tuple[str, ...] = FTS_TABLES,
    labels: bool = True,
) -> None:
    """Insert the documents' index rows; their words go to the vocabulary now, or,
    given ``words``, are added to it for the caller to write once (a reindex). On
    SQLite the text goes to each of ``fts_tables``; each label to ``search_labels``
    unless ``labels`` is false (a reindex by a migration older than that table)."""
    if not documents:
        return
    postgres = connection.dialect.name == "postgresql"
    rows = []
    for doc in documents:
        values = dict(doc.columns)
        values["vector"] = doc.tsvector_text() if postgres else None
        values["head"] = doc.tsvector_text(HEAD) if postgres else None
        rows.append(values)
    docids = new_docids(len(rows))
    for docid, values in zip(docids, rows, strict=True):
        values["docid"] = docid
    labelled = [
        {"docid": values["docid"], "label": label}
        for values in rows
        for label in orjson.loads(values["labels"])
    ]
    if postgres:
        statement = sa.insert(DOCS).values(
            {
                **{c.name: sa.bindparam(c.name, type_=c.type) for c in DOCS.c},
                "vector": sa.cast(sa.bindparam("vector", type_=sa.Text), postgresql.TSVECTOR),
                "head": sa.cast(sa.bindparam("head", type_=sa.Text), postgresql.TSVECTOR),
            }
        )
        connection.execute(statement, rows)
    else:
        connection.execute(sa.insert(DOCS), rows)
        texts = [
            {"rowid": docid, **{f: " ".join(doc.fields[f]) for f in FIELDS}}
            for docid, doc in zip(docids, documents, strict=True)
        ]
        for fts_table in fts_tables:
            fields = FTS_COLUMNS[fts_table]
            connection.execute(
                sa.text(
                    f"INSERT INTO {fts_table} (rowid, {', '.join(fields)}) "
                    f"VALUES (:rowid, {', '.join(':' + f for f in fields)})"
                ),
                texts,
            )
    if labels and labelled:
        connection.execute(sa.insert(LABELS), labelled)
    counts: Counter[str] = Counter() if words is None else words
    for doc in documents:
        counts.update(doc.spelling_words())
    if words is None:
        _count_words(connection, counts)


def new_docids(n: int) -> list[int]:
    """``n`` docids drawn at random from ``[0, DOCID_SPACE)``.

    Random, not in order of writing, so that the matches whose docids fall in a range
    are a fair sample of all the matches, old and new, apps and datasets alike: a
    search estimates its totals and facets from the smallest such range holding
    enough matches, and the index reads only that range (see
    ``registry.search.service``). Two items drawing the same docid would make the
    write fail; with 2**62 values that is about one chance in 10**8 for a catalog of
    a million items over its whole life."""
    return [_DRAW(DOCID_BITS) for _ in range(n)]


def _count_words(connection: sa.Connection, counts: Counter[str]) -> None:
    """Add words to the vocabulary. Counts only grow (a removed item's words stay
    until the next reindex): they rank spelling suggestions, nothing else."""
    if not counts:
        return
    insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(
        TERMS
    )
    upsert = insert.on_conflict_do_update(
        index_elements=[TERMS.c.term], set_={"docs": TERMS.c.docs + insert.excluded.docs}
    )
    # Sorted, so concurrent writers take the vocabulary's row locks in the same order.
    connection.execute(upsert, [{"term": t, "docs": n} for t, n in sorted(counts.items())])


# --- what a write touches ------------------------------------------------------------


def _items_of_publishers(
    connection: sa.Connection, publisher_ids: Iterable[uuid.UUID]
) -> dict[str, list[uuid.UUID]]:
    wanted = list(publisher_ids)
    found: dict[str, list[uuid.UUID]] = {"app": [], "dataset": []}
    for kind, table in (("app", APPS), ("dataset", DATASETS)):
        for start in range(0, len(wanted), CHUNK):
            found[kind] += connection.execute(
                sa.select(table.c.id).where(table.c.publisher_id.in_(wanted[start : start + CHUNK]))
            ).scalars()
    return found


def _on_rows_written(connection: sa.Connection, table: str, ids: Sequence[uuid.UUID]) -> None:
    if table == "apps":
        refresh(connection, "app", ids)
    elif table == "datasets":
        refresh(connection, "dataset", ids)
    elif table == "distributions":
        parents = connection.execute(
            sa.select(DISTRIBUTIONS.c.dataset_id.distinct()).where(DISTRIBUTIONS.c.id.in_(ids))
        ).scalars()
        refresh(connection, "dataset", list(parents))
    elif table == "publishers":
        for kind, items in _items_of_publishers(connection, ids).items():
            refresh(connection, kind, items)


_PUBLISHER_FIELDS = ("name", "code", "deleted_at")


def _refresh_flushed(session: OrmSession, flush_context: Any) -> None:
    """Index what this flush wrote, in its transaction."""
    touched: dict[str, set[uuid.UUID]] = {"app": set(), "dataset": set()}
    publishers: set[uuid.UUID] = set()
    for obj in [*session.new, *session.dirty, *session.deleted]:
        if isinstance(obj, App):
            touched["app"].add(obj.id)
        elif isinstance(obj, Dataset):
            touched["dataset"].add(obj.id)
        elif isinstance(obj, Distribution):
            touched["dataset"].add(obj.dataset_id)
        elif isinstance(obj, Publisher) and obj not in session.new:
            state = sa.inspect(obj)
            if any(state.attrs[name].history.has_changes() for name in _PUBLISHER_FIELDS):
                publishers.add(obj.id)
    if not (touched["app"] or touched["dataset"] or publishers):
        return
    connection = session.connection()
    for kind, items in _items_of_publishers(connection, publishers).items():
        touched[kind].update(items)
    for kind, ids in touched.items():
        if ids:
            refresh(connection, kind, sorted(ids))


def install() -> None:
    """Keep the index in step with every write of this process: the flush hook for
    sessions, the listener for federation sync's bulk writes. Start-up calls it
    (``registry.startup.start``); calling it again changes nothing."""
    if not event.contains(OrmSession, "after_flush", _refresh_flushed):
        event.listen(OrmSession, "after_flush", _refresh_flushed)
    indexing.on_rows_written(_on_rows_written)


# --- rebuilding ----------------------------------------------------------------------


def reindex(
    bind: sa.Engine | sa.Connection,
    *,
    batch: int = 1000,
    start: Callable[[int], None] = lambda total: None,
    advance: Callable[[int], None] = lambda n: None,
) -> int:
    """Rebuild the whole index (and vocabulary) from the catalog, in one transaction,
    so searches see the old index until the new one is complete. Returns the number
    of items indexed."""
    from registry.db import transaction

    with transaction(bind) as connection:
        total = sum(
            connection.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.deleted_at.is_(None))
            ).scalar_one()
            for table in (APPS, DATASETS)
        )
        start(total)
        # The migrations that reindex run before those that add search_fts_head and
        # search_labels.
        inspector = sa.inspect(connection)
        fts_tables = tuple(t for t in FTS_TABLES if inspector.has_table(t))
        labels = inspector.has_table(LABELS.name)
        for fts_table in fts_tables:
            # Created again empty: deleting its rows one by one costs a minute at
            # 200,000 items (every row's terms read back to remove them), this seconds.
            connection.execute(sa.text(f"DROP TABLE {fts_table}"))
            connection.execute(sa.text(fts_definition(fts_table)))
        if labels:
            connection.execute(sa.delete(LABELS))
        connection.execute(sa.delete(DOCS))
        connection.execute(sa.delete(TERMS))
        indexed = 0
        vocabulary: Counter[str] = Counter()
        for kind, table in (("app", APPS), ("dataset", DATASETS)):
            after: uuid.UUID | None = None
            while True:
                stmt = sa.select(table.c.id).where(table.c.deleted_at.is_(None))
                if after is not None:
                    stmt = stmt.where(table.c.id > after)
                ids = list(connection.execute(stmt.order_by(table.c.id).limit(batch)).scalars())
                if not ids:
                    break
                documents = list(_documents(connection, kind, ids))
                _write(connection, documents, vocabulary, fts_tables, labels)
                indexed += len(ids)
                advance(len(ids))
                after = ids[-1]
        terms = sorted(vocabulary.items())
        for first in range(0, len(terms), 5000):
            connection.execute(
                sa.insert(TERMS), [{"term": t, "docs": n} for t, n in terms[first : first + 5000]]
            )
        # Merge the index's segments now, so the first searches do not pay for it.
        for fts_table in fts_tables:
            connection.execute(sa.text(f"INSERT INTO {fts_table}({fts_table}) VALUES ('optimize')"))
    return indexed
