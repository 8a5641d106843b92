"""Schemathesis against the node's own OpenAPI document, anonymously and as the
node's admin: no request may get a 5xx, and every response must be one the document
declares (status, media type, headers, body schema). Invalid input must be refused.

A bounded run, part of every test run on both databases; ``make fuzz`` runs the same
tests longer. A failure prints the request that reproduces it (a ``curl`` line): turn
it into a plain regression test beside the code it exercises, then fix the node.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz.node import FuzzNode, attach_database, load_schema

schema = load_schema()


@pytest.fixture(scope="module")
def fuzz_node() -> Iterator[FuzzNode]:
    yield from attach_database()


@schema.parametrize()
def test_anonymous(case, fuzz_node):
    case.call_and_validate()


@schema.parametrize()
def test_admin(case, fuzz_node):
    case.call_and_validate(headers=fuzz_node.admin_headers())
