"""Shared material for the standards tests: the real files in ``../shared/data`` (from
the repository root). The static HTTP server on loopback (``file_server``) is the
suite's own (``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"


def shared(*parts: str) -> Path:
    """A path in the shared material; the test is skipped when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test material not found at {path} (../shared is absent)")
    return path
