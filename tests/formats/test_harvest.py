"""CKAN harvesting against a fake CKAN on loopback serving the real responses."""

from __future__ import annotations

import json

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from registry.catalog.models import Dataset, Distribution
from registry.formats import harvest
from registry.formats.models import HarvestRecord, HarvestRun
from tests.formats.conftest import shared
from tests.formats.fake_ckan import FakeCkan, real_packages


@pytest.fixture
def packages():
    return real_packages(shared("ckan"))


@pytest.fixture
def portal(packages):
    with FakeCkan(packages) as fake:
        yield fake


@pytest.fixture
def allowed(settings):
    return settings.model_copy(update={"fetch_allow": ["127.0.0.0/8"]})


@pytest.fixture
def source(session, make_publisher, portal):
    make_publisher("kota-bandung", region_code="32.73")
    created = harvest.add_source(session, publisher="kota-bandung", ckan_url=portal.url)
    session.commit()
    return created


def datasets_of(session, source):
    rows = session.exec(
        select(HarvestRecord, Dataset)
        .join(Dataset, col(Dataset.id) == HarvestRecord.dataset_id)
        .where(HarvestRecord.source_id == source.id)
    ).all()
    return {record.ckan_id: dataset for record, dataset in rows}


def test_first_run_pages_through_everything(connection, session, allowed, source, portal, packages):
    report = harvest.run(connection, allowed, source.id, rows=2)
    assert report.status == "ok", report.message
    assert report.full
    assert report.created == len(packages)
    assert report.errors == []
    assert len(portal.requests) == (len(packages) + 1) // 2  # pages of two rows
    assert all(q["sort"] == ["metadata_modified asc, id asc"] for q in portal.requests)
    found = datasets_of(session, source)
    assert set(found) == {p["id"] for p in packages}
    species = found["62513382-3b26-4bc8-9096-40b6ce8383c0"]
    assert species.title == {"id": "100 Validated Species of Plants"}
    assert species.keywords == ["flower", "image recognition", "machine learning"]
    distributions = session.exec(
        select(Distribution).where(Distribution.dataset_id == species.id)
    ).all()
    assert [d.format for d in distributions] == ["CSV"]
    run_row = session.get(HarvestRun, report.run_id)
    assert (run_row.status, run_row.created, run_row.finished_at is not None) == (
        "ok",
        len(packages),
        True,
    )


def test_rerun_updates_in_place_with_stable_ids(connection, session, allowed, source, portal):
    harvest.run(connection, allowed, source.id)
    before = datasets_of(session, source)
    species_id = "62513382-3b26-4bc8-9096-40b6ce8383c0"
    distribution_ids = {
        d.id for d in session.exec(
            select(Distribution).where(Distribution.dataset_id == before[species_id].id)
        )
    }  # fmt: skip
    package = portal.packages[species_id]
    package["title"] = "100 Validated Species (revised)"
    package["metadata_modified"] = "2030-01-01T00:00:00.000000"
    package["resources"][0]["format"] = "XLSX"

    report = harvest.run(connection, allowed, source.id)
    assert report.status == "ok", report.message
    assert not report.full  # incremental: only what changed since the last good run
    assert "metadata_modified:[" in portal.requests[-1]["fq"][0]
    assert report.updated == 1
    assert report.created == 0
    after = datasets_of(session, source)
    session.refresh(after[species_id])
    assert after[species_id].id == before[species_id].id
    assert after[species_id].title == {"id": "100 Validated Species (revised)"}
    live = session.exec(
        select(Distribution).where(
            Distribution.dataset_id == after[species_id].id, col(Distribution.deleted_at).is_(None)
        )
    ).all()
    assert {d.id for d in live} == distribution_ids
    assert [d.format for d in live] == ["XLSX"]

    again = harvest.run(connection, allowed, source.id)
    assert (again.updated, again.created) == (0, 0)


def test_deleted_or_private_packages_are_deleted(connection, session, allowed, source, portal):
    harvest.run(connection, allowed, source.id)
    gone, hidden = "9c3036b8-f6ac-4a4e-9036-5a3cc90c3900", "17be64bb-da74-4195-9bb8-565c39846af2"
    del portal.packages[gone]
    portal.packages[hidden]["private"] = True

    report = harvest.run(connection, allowed, source.id, full=True)
    assert report.status == "ok", report.message
    assert report.deleted == 2
    found = datasets_of(session, source)
    for ckan_id in (gone, hidden):
        session.refresh(found[ckan_id])
        assert found[ckan_id].deleted_at is not None
        distributions = session.exec(
            select(Distribution).where(Distribution.dataset_id == found[ckan_id].id)
        ).all()
        assert all(d.deleted_at is not None for d in distributions)
    live = [d for d in found.values() if d.deleted_at is None]
    assert len(live) == len(found) - 2


def test_malformed_records_are_reported_and_skipped(
    connection, session, allowed, source, portal, packages
):
    portal.raw = [
        {"name": "no-id-here", "title": "No id"},
        "not an object",
        {"id": "bad-resource", "name": "bad-resource", "title": "Kept, one resource left out",
         "metadata_modified": "2025-01-01T00:00:00", "resources": [{"id": "r1", "url": "ftp://x"}]},
    ]  # fmt: skip
    report = harvest.run(connection, allowed, source.id)
    assert report.status == "ok"
    assert report.created == len(packages) + 1
    records = {e["record"] for e in report.errors}
    assert records == {"no-id-here", "(not a JSON object)", "bad-resource"}
    assert any("access URL" in e["error"] for e in report.errors if e["record"] == "bad-resource")


def test_duplicates_across_pages_are_dropped(
    connection, session, allowed, source, portal, packages
):
    portal.repeat_on_next_page = True
    report = harvest.run(connection, allowed, source.id, rows=3)
    assert report.status == "ok"
    assert report.created == len(packages)
    assert report.seen > len(packages)
    assert len(datasets_of(session, source)) == len(packages)


def test_loopback_portal_is_refused_unless_allowed(connection, settings, source):
    report = harvest.run(connection, settings, source.id)
    assert report.status == "failed"
    assert report.message is not None
    assert "non-public address" in report.message


def test_a_held_lease_keeps_a_second_runner_out(connection, session, allowed, source):
    from datetime import timedelta

    from registry.db import utcnow

    source.lease_holder, source.lease_until = "other-process", utcnow() + timedelta(minutes=5)
    session.add(source)
    session.commit()
    with pytest.raises(harvest.SourceBusy):
        harvest.run(connection, allowed, source.id)


def test_harvest_commands(tmp_path, monkeypatch, portal, packages):
    from registry.cli import app
    from registry.settings import get_settings

    monkeypatch.setenv("LUMBUNG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LUMBUNG_DATABASE_URL", raising=False)
    monkeypatch.setenv("LUMBUNG_FETCH_ALLOW", '["127.0.0.0/8"]')
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        runner.invoke(app, ["db", "upgrade"])
        runner.invoke(app, ["publisher", "add", "kota-bandung", "--name", "Kota Bandung"])
        added = runner.invoke(
            app, ["harvest", "add", "--publisher", "kota-bandung", "--ckan", portal.url]
        )
        assert added.exit_code == 0, added.output
        ran = runner.invoke(app, ["harvest", "run", "--json"])
        assert ran.exit_code == 0, ran.output
        assert json.loads(ran.stdout)[0]["created"] == len(packages)
        listed = json.loads(runner.invoke(app, ["harvest", "list", "--json"]).stdout)
        assert listed[0]["last_success_at"] is not None
    finally:
        get_settings.cache_clear()


def test_worker_runs_due_sources_only(connection, session, allowed, source, packages):
    reports: list[harvest.RunReport] = []
    worker = harvest.HarvestWorker(connection, allowed)
    worker.tick(on_report=reports.append)
    assert [(r.source_id, r.created) for r in reports] == [(source.id, len(packages))]
    worker.tick(on_report=reports.append)  # not due again before its interval
    assert len(reports) == 1


def test_a_page_the_database_refuses_is_applied_package_by_package(
    connection, session, allowed, source, packages, monkeypatch
):
    import sqlalchemy as sa

    def refuse(*args, **kwargs):
        raise sa.exc.IntegrityError("INSERT", {}, Exception("duplicate"))

    monkeypatch.setattr(harvest, "_apply_bulk", refuse)
    report = harvest.run(connection, allowed, source.id)
    assert report.status == "ok", report.message
    assert report.created == len(packages)
    assert len(datasets_of(session, source)) == len(packages)
