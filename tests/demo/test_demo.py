"""The demo catalog: it passes the API's schemas, loads once into an empty node, and
every item in it says that it is demo data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry import migrate
from registry.catalog import schemas
from registry.catalog.models import App, Dataset, Distribution, Publisher, Release, Visibility
from registry.db import create_db_engine, session_scope
from registry.demo import demo_summary, load_demo, read_catalog
from registry.settings import load_settings

DEMO_MARK = "(data contoh / demo data)"


@pytest.fixture
def loaded(session: Session) -> Session:
    assert load_demo(session) is True
    return session


def rows(session: Session, model):
    return list(session.exec(select(model)).all())


def test_loading_creates_the_four_publishers(loaded: Session) -> None:
    publishers = {p.code: p for p in rows(loaded, Publisher)}
    assert {code: (p.kind, p.region_code) for code, p in publishers.items()} == {
        "kab-banyuwangi": ("regency", "35.10"),
        "kota-pariaman": ("city", "13.77"),
        "kota-surabaya": ("city", "35.78"),
        "kota-bandung": ("city", "32.73"),
    }


def test_loading_creates_apps_releases_datasets_and_distributions(loaded: Session) -> None:
    apps = rows(loaded, App)
    datasets = rows(loaded, Dataset)
    assert len(apps) >= 12
    assert len(datasets) >= 8
    assert len(rows(loaded, Release)) >= len(apps)
    assert len(rows(loaded, Distribution)) >= len(datasets)
    # Spread across every publisher, not piled on one.
    owners = {app.publisher_id for app in apps} | {d.publisher_id for d in datasets}
    assert owners == {p.id for p in rows(loaded, Publisher)}


def test_demo_has_public_partners_and_private_items(loaded: Session) -> None:
    app_visibility = [app.visibility for app in rows(loaded, App)]
    assert set(app_visibility) == set(Visibility)
    assert {d.visibility for d in rows(loaded, Dataset)} == set(Visibility)
    assert app_visibility.count(Visibility.private) >= 2
    assert app_visibility.count(Visibility.public) > len(app_visibility) / 2


def test_every_app_is_described_in_indonesian_and_english(loaded: Session) -> None:
    for app in rows(loaded, App):
        assert {"id", "en"} <= set(app.description), app.slug
        for text in app.description.values():
            assert 1 <= len(text["short_description"]) <= 150, app.slug
            assert 2 <= len(text["features"]) <= 5, app.slug


def test_every_item_is_marked_as_demo(loaded: Session) -> None:
    assert all(p.demo for p in rows(loaded, Publisher))
    for app in rows(loaded, App):
        assert app.demo, app.slug
        assert "demo" in app.tags, app.slug
        for text in app.description.values():
            assert DEMO_MARK in text["long_description"], app.slug
    for dataset in rows(loaded, Dataset):
        assert dataset.demo, dataset.slug
        assert {"id", "en"} <= set(dataset.title), dataset.slug
        assert {"id", "en"} <= set(dataset.description), dataset.slug
        for text in dataset.description.values():
            assert DEMO_MARK in text, dataset.slug


def test_health_apps_carry_the_health_category(loaded: Session) -> None:
    health = {app.slug for app in rows(loaded, App) if "health" in app.categories}
    assert {"antrean-puskesmas", "posyandu-digital"} <= health


def test_loading_twice_adds_nothing(loaded: Session) -> None:
    before = demo_summary(loaded)
    assert load_demo(loaded) is False
    assert demo_summary(loaded) == before


def test_demo_is_not_loaded_beside_a_real_publisher(session: Session, make_publisher) -> None:
    make_publisher("kota-padang")
    assert load_demo(session) is False
    assert [p.code for p in rows(session, Publisher)] == ["kota-padang"]
    assert rows(session, App) == []
    assert rows(session, Dataset) == []


def test_summary_counts_what_was_loaded(loaded: Session) -> None:
    catalog = read_catalog()
    assert demo_summary(loaded) == {
        "publishers": len(catalog.publishers),
        "apps": len(catalog.apps),
        "releases": sum(len(entry.releases) for entry in catalog.apps),
        "datasets": len(catalog.datasets),
        "distributions": sum(len(entry.distributions) for entry in catalog.datasets),
    }


def test_first_start_loads_the_demo_once_into_a_fresh_node(tmp_path) -> None:
    # The path `lumbung serve` takes: its own SQLite data dir, migrations, committed units
    # of work. The second start finds the committed publishers and leaves them alone.
    settings = load_settings(data_dir=tmp_path)
    migrate.upgrade(settings)
    engine = create_db_engine(settings)
    try:
        with session_scope(engine) as session:
            assert load_demo(session) is True
        with session_scope(engine) as session:
            first = demo_summary(session)
            assert load_demo(session) is False
        with session_scope(engine, write=False) as session:
            assert demo_summary(session) == first
            assert session.exec(select(sa.func.count()).select_from(Publisher)).one() == 4
    finally:
        engine.dispose()
    assert first["publishers"] == 4
    assert first["apps"] >= 12
    assert first["datasets"] >= 8


def test_releases_are_complete_and_dated_with_a_time_zone() -> None:
    for entry in read_catalog().apps:
        # What the loader sends is what the API takes, field for field.
        schemas.AppCreate.model_validate(entry.app.model_dump())
        for release in entry.releases:
            assert release.released_at is not None
            assert release.released_at.utcoffset() is not None
            for artifact in release.artifacts or []:
                assert artifact.sha256 is not None
                assert artifact.size is not None
                assert artifact.media_type is not None


def test_links_point_only_at_example_hosts() -> None:
    # Nothing in the demo may send a visitor to a real government system.
    text = resources.files("registry.demo").joinpath("catalog.json").read_text(encoding="utf-8")

    def urls(node) -> Iterator[str]:
        if isinstance(node, dict):
            for value in node.values():
                yield from urls(value)
        elif isinstance(node, list):
            for value in node:
                yield from urls(value)
        elif isinstance(node, str) and node.startswith(("http://", "https://")):
            yield node

    found = list(urls(json.loads(text)))
    assert found
    for url in found:
        assert url.startswith("https://"), url
        assert url.split("/")[2].endswith(".example"), url


def test_demo_apps_are_used_by_other_demo_publishers(loaded: Session) -> None:
    """An app's page shows who uses it from the first start: the demo records adoptions
    of public apps by publishers other than their owners."""
    from registry.sharing.models import Adoption

    apps = {app.id: app for app in rows(loaded, App)}
    adoptions = loaded.exec(select(Adoption)).all()
    assert len(adoptions) == len(read_catalog().adoptions) >= 3
    for adoption in adoptions:
        app = apps[adoption.app_id]
        assert app.visibility == Visibility.public, app.slug
        owner = loaded.get(Publisher, app.publisher_id)
        assert owner is not None
        assert adoption.adopter_code != owner.code
    used = {apps[a.app_id].slug for a in adoptions}
    assert "smart-kampung" in used
