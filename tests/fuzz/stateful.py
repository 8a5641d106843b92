"""Stateful fuzzing, for ``make fuzz`` only: schemathesis follows the OpenAPI links
(each create to the reads, updates and deletes of what it made) as the node's admin,
so sequences such as create → patch → delete → read run against real items, and the
checks that need them (a deleted item must be gone, a created one must be readable)
run too.

Not named ``test_*.py``: too long for every test run; ``make fuzz`` names it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest

from tests.fuzz.node import FuzzNode, attach_database, load_schema

STEPS = int(os.environ.get("LUMBUNG_FUZZ_STEPS", "20"))

schema = load_schema()


@pytest.fixture(scope="module")
def fuzz_node() -> Iterator[FuzzNode]:
    yield from attach_database()


def test_linked_sequences_keep_the_contract(fuzz_node: FuzzNode) -> None:
    class AsAdmin(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": fuzz_node.admin_headers()}

    AsAdmin.run(
        settings=hypothesis.settings(
            max_examples=int(os.environ.get("LUMBUNG_FUZZ_EXAMPLES", "50")),
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
