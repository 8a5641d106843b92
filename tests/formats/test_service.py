"""Importing publiccode.yml files into the catalog: one file, and a batch of them in
one unit of work, find the same app to update and the same free slug."""

from __future__ import annotations

import pytest
from sqlmodel import select

from registry.catalog.models import App
from registry.db import ChangeCounter
from registry.formats import service
from tests.conftest import ADMIN
from tests.formats.test_publiccode import GOOD

URL = "https://git.example/banyuwangi/smart-kampung"


def _file(url: str = URL, name: str = "Smart Kampung", status: str = "stable") -> bytes:
    text = GOOD.replace(URL, url).replace("name: Smart Kampung", f"name: {name}")
    return text.replace("developmentStatus: stable", f"developmentStatus: {status}").encode()


def _counter(session) -> int:
    return session.get(ChangeCounter, 1).value


@pytest.fixture
def banyuwangi(make_publisher):
    return make_publisher("kab-banyuwangi")


def test_an_import_writes_the_app_once(session, banyuwangi):
    before = _counter(session)
    created = service.import_publiccode(session, ADMIN, _file(), publisher=banyuwangi.code)
    # One change in the feed per import: the row is written with its document at once.
    assert _counter(session) == before + 1
    assert created.app.change_seq == before + 1
    assert created.app.publiccode is not None
    assert created.app.publiccode["name"] == "Smart Kampung"
    updated = service.import_publiccode(
        session, ADMIN, _file(status="beta"), publisher=banyuwangi.code
    )
    assert updated.app.id == created.app.id
    assert _counter(session) == before + 2
    assert updated.app.publiccode is not None
    assert updated.app.publiccode["developmentStatus"] == "beta"


def test_same_file_again_changes_nothing(session, banyuwangi):
    first = service.import_publiccode(session, ADMIN, _file(), publisher=banyuwangi.code)
    before = _counter(session)
    again = service.import_publiccode(session, ADMIN, _file(), publisher=banyuwangi.code)
    assert again.app.id == first.app.id
    assert not again.created
    assert _counter(session) == before


def test_a_batch_updates_an_app_it_created_itself(session, banyuwangi):
    outcomes = service.import_many(
        session,
        ADMIN,
        [("a", _file()), ("b", _file(status="beta"))],
        publisher=banyuwangi.code,
    )
    (_, first), (_, second) = outcomes
    assert isinstance(first, service.ImportResult)
    assert isinstance(second, service.ImportResult)
    assert first.created
    assert not second.created
    assert second.app.id == first.app.id
    apps = session.exec(select(App).where(App.publisher_id == banyuwangi.id)).all()
    assert [(a.slug, a.development_status) for a in apps] == [("smart-kampung", "beta")]


def test_a_batch_finds_apps_from_before_it_and_takes_free_slugs(session, banyuwangi, make_app):
    earlier = make_app(banyuwangi, "smart-kampung", url=URL, name="Smart Kampung")
    make_app(banyuwangi, "smart-kampung-2", url="https://git.example/other", name="Other")
    outcomes = service.import_many(
        session,
        ADMIN,
        [
            ("same-url", _file(status="beta")),
            ("same-name", _file(url="https://git.example/desa/smart-kampung")),
            ("same-name-again", _file(url="https://git.example/kota/smart-kampung")),
            ("refused", b"name: no url\n"),
            ("same-name-after-refusal", _file(url="https://git.example/kab/smart-kampung")),
        ],
        publisher=banyuwangi.code,
    )
    results = dict(outcomes)
    assert isinstance(results["refused"], service.PubliccodeRejected)
    imported = {n: r for n, r in results.items() if isinstance(r, service.ImportResult)}
    assert imported["same-url"].app.id == earlier.id
    assert not imported["same-url"].created
    assert [imported[n].app.slug for n in ("same-name", "same-name-again")] == [
        "smart-kampung-3",
        "smart-kampung-4",
    ]
    assert imported["same-name-after-refusal"].app.slug == "smart-kampung-5"
    # One at a time, the same files find the same apps and the same slugs.
    alone = service.import_publiccode(
        session,
        ADMIN,
        _file(url="https://git.example/kota/smart-kampung"),
        publisher="kab-banyuwangi",
    )
    assert alone.app.id == imported["same-name-again"].app.id
    fresh = service.import_publiccode(
        session,
        ADMIN,
        _file(url="https://git.example/new/smart-kampung"),
        publisher="kab-banyuwangi",
    )
    assert fresh.app.slug == "smart-kampung-6"
