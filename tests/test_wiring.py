"""The one-way arrows between domains: every module is placed in the import-linter
contract, the slots a lower domain declares are all filled at start-up, and an empty
one says who should have filled it."""

from __future__ import annotations

import importlib
import pkgutil
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import registry
from registry.catalog.access import READ_RULE
from registry.settings import Settings
from registry.slots import Slot
from registry.startup import start


def _every_slot() -> list[Slot[Any]]:
    # Import every module first, so that a slot declared anywhere is known.
    for module in pkgutil.walk_packages(registry.__path__, "registry."):
        importlib.import_module(module.name)
    return list(Slot.every)


def test_every_slot_is_filled_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    slots = _every_slot()
    assert len(slots) >= 3
    for slot in slots:
        monkeypatch.setattr(slot, "_value", None)
    start()
    assert [s for s in slots if not s.filled] == []


def test_create_app_fills_the_slots(
    settings: Settings, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry.app import create_app

    slots = _every_slot()
    for slot in slots:
        monkeypatch.setattr(slot, "_value", None)
    create_app(settings, engine=engine)
    assert [s for s in slots if not s.filled] == []


def test_an_empty_slot_names_its_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(READ_RULE, "_value", None)
    with pytest.raises(RuntimeError, match=r"sharing\.visibility.*registry\.startup\.start"):
        READ_RULE.get()


def test_every_module_has_a_layer() -> None:
    # A new module of the core (or a new domain) left out of the layers would not be
    # checked at all: import-linter only compares the modules it is told about.
    root = Path(registry.__file__).parent
    config = tomllib.loads((root.parent / "pyproject.toml").read_text())
    (domains,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "domains"]
    named = {name for layer in domains["layers"] for name in re.split(r"[\s:|]+", layer) if name}
    present = {f"registry.{p.stem}" for p in root.glob("*.py") if p.stem != "__init__"}
    present |= {f"registry.{p.name}" for p in root.iterdir() if (p / "__init__.py").exists()}
    assert present - named == set()
    assert named - present == set()
