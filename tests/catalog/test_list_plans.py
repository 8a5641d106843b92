"""A page of a filtered list reads its rows in id order from an index, never sorting
every row that meets the filter: checked on SQLite's plans, which (without
statistics) follow the indexes there are. PostgreSQL plans by its statistics."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from registry.catalog import schemas, service
from tests.conftest import ADMIN, on_postgres

pytestmark = pytest.mark.skipif(on_postgres(), reason="SQLite's query plans")


def plan_of_page(session: Session, read: Any) -> str:
    """The plan of the statement that reads a page's rows."""
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and " LIMIT " in statement:
            statements.append((statement, parameters))

    bind = session.connection()
    sa.event.listen(bind, "before_cursor_execute", record)
    try:
        read()
    finally:
        sa.event.remove(bind, "before_cursor_execute", record)
    assert len(statements) == 1, statements
    statement, parameters = statements[0]
    rows = bind.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    return " | ".join(row[-1] for row in rows)


# Each list and filter with the index its page is read from: the primary key's without
# a filter.
APPS = (service.list_apps, schemas.AppFilters)
DATASETS = (service.list_datasets, schemas.DatasetFilters)
PAGES = [
    (APPS, {}, "sqlite_autoindex_apps_1"),
    (APPS, {"publisher": "kab-banyuwangi"}, "ix_apps_publisher_id_id"),
    (APPS, {"origin": "local"}, "ix_apps_origin_id"),
    (APPS, {"development_status": "stable"}, "ix_apps_development_status_id"),
    (APPS, {"license": "EUPL-1.2"}, "ix_apps_license_id"),
    (APPS, {"spbe_class": "umum"}, "ix_apps_spbe_class_id"),
    (DATASETS, {}, "sqlite_autoindex_datasets_1"),
    (DATASETS, {"publisher": "kab-banyuwangi"}, "ix_datasets_publisher_id_id"),
    (DATASETS, {"origin": "local"}, "ix_datasets_origin_id"),
    (DATASETS, {"license": "CC-BY-4.0"}, "ix_datasets_license_id"),
]


@pytest.mark.parametrize(("listing", "filters", "index"), PAGES)
@pytest.mark.parametrize("principal", [None, ADMIN], ids=["anonymous", "admin"])
def test_a_page_is_read_in_id_order(session, make_publisher, listing, filters, index, principal):
    make_publisher("kab-banyuwangi")
    list_page, filters_of = listing
    read = lambda: list_page(  # noqa: E731
        session, principal, filters_of(**filters), limit=20, cursor=None
    )
    plan = plan_of_page(session, read)
    assert f"INDEX {index}" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
