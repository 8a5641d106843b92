"""Ids are UUIDv7 and strictly increasing, so lists can page on the primary key."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from registry import db


def test_ids_made_in_one_millisecond_still_increase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: 1_764_000_000_000_000_000)
    ids = [db.uuid7() for _ in range(5_000)]
    assert ids == sorted(ids, key=lambda value: value.int)
    assert len(set(ids)) == len(ids)


def test_ids_increase_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([2_000_000_000_000_000, 1_000_000_000_000_000])
    monkeypatch.setattr(time, "time_ns", lambda: next(clock))
    first, second = db.uuid7(), db.uuid7()
    assert second.int > first.int


def test_ids_are_version_7_with_the_rfc_variant() -> None:
    value = db.uuid7()
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_ids_from_many_threads_are_unique_and_ordered_per_thread() -> None:
    made: list[list[uuid.UUID]] = [[] for _ in range(8)]

    def make(bucket: list[uuid.UUID]) -> None:
        bucket.extend(db.uuid7() for _ in range(2_000))

    threads = [threading.Thread(target=make, args=(bucket,)) for bucket in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [value for bucket in made for value in bucket]
    assert len(set(every)) == len(every)
    for bucket in made:
        assert bucket == sorted(bucket, key=lambda value: value.int)
