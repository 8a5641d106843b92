"""DESIGN §4: commit order equals change_seq order, so a feed reader that pages by
change_seq never skips a row whose transaction commits late."""

from __future__ import annotations

import random
import threading
import time

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.catalog.models import Publisher, PublisherKind
from registry.db import create_db_engine, session_scope

WRITERS = 8
WRITES_EACH = 15


@pytest.fixture
def real_engine(settings, engine):
    """An engine whose transactions really commit (not the per-test rollback)."""
    real = create_db_engine(settings, **({} if settings.sqlalchemy_url.startswith("sqlite")
                                         else {"pool_size": WRITERS + 2}))  # fmt: skip
    yield real
    with session_scope(real) as session:
        session.execute(sa.delete(Publisher).where(col(Publisher.code).like("seq-%")))
    real.dispose()


def test_concurrent_writers_never_make_the_feed_skip(real_engine):
    with Session(real_engine) as session:
        start = session.exec(select(sa.func.coalesce(sa.func.max(Publisher.change_seq), 0))).one()
        counter = session.execute(sa.text("SELECT value FROM change_counter")).scalar_one()
        start = max(start, counter)

    errors: list[BaseException] = []
    done = threading.Event()

    def write(worker: int) -> None:
        rng = random.Random(worker)
        try:
            for n in range(WRITES_EACH):
                with session_scope(real_engine) as session:
                    session.add(
                        Publisher(code=f"seq-{worker}-{n}", name="x", kind=PublisherKind.other)
                    )
                    session.flush()  # takes the sequence value now …
                    time.sleep(rng.uniform(0, 0.01))  # … and commits a little later
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    seen: list[int] = []

    def read() -> None:
        """Poll like a feed reader: everything after the last value seen, in order.
        A gap would mean a later poll could deliver a smaller value: a skipped change."""
        cursor = start
        try:
            while True:
                finished = done.is_set()
                with Session(real_engine) as session:
                    values = list(
                        session.exec(
                            select(Publisher.change_seq)
                            .where(Publisher.change_seq > cursor, col(Publisher.code).like("seq-%"))
                            .order_by(col(Publisher.change_seq))
                        )
                    )
                for value in values:
                    assert value == cursor + 1, f"gap: saw {value} after {cursor}"
                    cursor = value
                    seen.append(value)
                if finished:
                    return
                time.sleep(0.002)
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    writers = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join()

    assert errors == []
    assert seen == list(range(start + 1, start + 1 + WRITERS * WRITES_EACH))
