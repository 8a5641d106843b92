"""Conformance over the real publiccode.yml files in ``../shared/data/publiccode``.

``SOURCES.md`` lists, for every corpus file, the faults found in it. This test reads
that table and checks that a lenient import refuses exactly the files with no
recoverable description, that the import names every listed fault, and that
export → import → export is a fixed point that keeps every language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import select

from registry.catalog.models import App
from registry.formats import publiccode, service
from tests.conftest import ADMIN
from tests.formats.conftest import SHARED, shared

Issue = publiccode.Issue
Match = Callable[[list[Issue]], bool]


def _has(path: str | None = None, *rules: str, value: object = None) -> Match:
    def match(issues: list[Issue]) -> bool:
        return any(
            (path is None or i.path == path or re.fullmatch(path, i.path))
            and (not rules or i.rule in rules)
            and (value is None or i.value == value)
            for i in issues
        )

    return match


def _all(*matches: Match) -> Match:
    return lambda issues: all(m(issues) for m in matches)


def _keys(listed: str) -> list[str]:
    return [k.strip() for k in listed.split(",") if k.strip()]


# Each phrase SOURCES.md uses for a fault, and the issue the import must report for it.
FAULTS: list[tuple[str, Callable[[re.Match[str]], Match]]] = [
    (r"unknown top-level keys: (.+)",
     lambda m: _all(*(_has(re.escape(k), "unknown-key", "extension-key") for k in _keys(m[1])))),
    (r"deprecated keys: (.+)",
     lambda m: _all(*(_has(re.escape(k), "deprecated") for k in _keys(m[1])))),
    (r"(description\.[\w-]+\.shortDescription) \d+ chars >150",
     lambda m: _has(re.escape(m[1]), "max-length")),
    (r"(description\.[\w-]+) missing longDescription",
     lambda m: _has(re.escape(m[1] + ".longDescription"), "required")),
    (r"(description\.[\w-]+) missing/empty features",
     lambda m: _has(re.escape(m[1] + ".features"), "required")),
    (r"lowercase it: section \(deprecated\)", lambda m: _has("it", "lowercase-country")),
    (r"IT\.conforme \(deprecated\)", lambda m: _has(r"(it|IT)\.conforme", "deprecated")),
    (r"lowercase country '(\w+)' \(deprecated\)",
     lambda m: _has(r"intendedAudience\.countries\[\d+\]", "lowercase-country", value=m[1])),
    (r"([\w.-]+\.(?:genericName|repoOwner|authorsFile)) \(deprecated\)",
     lambda m: _has(re.escape(m[1]), "deprecated")),
    (r"type (internal|community) without contacts",
     lambda m: _has("maintenance.contacts", "required")),
    (r"unknown category '([\w-]+)'", lambda m: _has(None, "category", value=m[1])),
    (r"contractors present with type internal",
     lambda m: _has("maintenance.contractors", "excluded")),
    (r"contractors present with type (\w+)", lambda m: _has("maintenance.type", "enum")),
    (r"contractor missing until",
     lambda m: _has(r"maintenance\.contractors\[\d+\]\.until", "required")),
    (r"non-BCP47 availableLanguages \[(.+)\]",
     lambda m: _all(*(_has(None, "language", value=v.strip(" '"))
                      for v in m[1].split(",")))),  # fmt: skip
    (r"url has surrounding whitespace", lambda m: _has("url", "whitespace")),
    (r"license not SPDX-like '.+'", lambda m: _has("legal.license", "spdx")),
    (r"missing legal\.license", lambda m: _has(r"legal(\.license)?", "required")),
    (r"missing (\w+)", lambda m: _has(re.escape(m[1]), "required")),
    (r"bad softwareType '.+'", lambda m: _has("softwareType", "legacy-value", "enum")),
    (r"bad maintenance\.type '.+'", lambda m: _has("maintenance.type", "enum")),
    (r"YAML1\.1 yes/no boolean", lambda m: _has(None, "yaml-1.1-boolean")),
    (r"bad releaseDate '.+'", lambda m: _has("releaseDate", "date")),
    (r"url uses http://", lambda m: _has("url", "insecure-url")),
]  # fmt: skip
# Notes in the table that describe the file, not a fault in it.
NOT_FAULTS = re.compile(r"^(machine-generated file|file is named publiccode\.yaml)")
# What leaves a lenient import nothing to build an app from.
BEYOND_RECOVERY = re.compile(r"^missing (name|url|description)$")


def corpus_table() -> dict[str, list[str]]:
    """``{file name: [fault, …]}`` from the table in SOURCES.md."""
    table: dict[str, list[str]] = {}
    text = shared("publiccode", "SOURCES.md").read_text(encoding="utf-8")
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 11 or not cells[1].startswith("`") or not cells[0].isdigit():
            continue
        name = cells[1].strip("`")
        faults = []
        for part in re.split(r";\s*|\s*\d+:\s*", cells[10]):
            part = part.strip()
            if part and not NOT_FAULTS.match(part):
                faults.append(part)
        table[name] = faults
    return table


def _matcher(fault: str) -> Match:
    for pattern, build in FAULTS:
        found = re.fullmatch(pattern, fault)
        if found:
            return build(found)
    raise AssertionError(f"SOURCES.md lists a fault this test does not know: {fault!r}")


CORPUS = SHARED / "publiccode" / "corpus"
EXAMPLES = SHARED / "publiccode" / "examples"


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.yml")) if folder.is_dir() else ["(absent)"]


@pytest.mark.parametrize("name", _files(CORPUS))
def test_corpus_file_imports_as_sources_says(name, session, make_publisher):
    faults = corpus_table()[name] if name != "(absent)" else []
    data = shared("publiccode", "corpus", name).read_bytes()
    parsed = publiccode.parse(data)
    for fault in faults:
        assert _matcher(fault)(parsed.issues), f"{name}: fault not reported: {fault}"
    beyond = any(BEYOND_RECOVERY.match(f) for f in faults)
    assert parsed.accepted(strict=False) is not beyond, [str(i) for i in parsed.fatal]
    if not beyond:
        _round_trip(session, make_publisher, data)


@pytest.mark.parametrize("name", _files(EXAMPLES))
def test_official_example_imports_and_round_trips(name, session, make_publisher):
    data = shared("publiccode", "examples", name).read_bytes()
    assert publiccode.parse(data).accepted(strict=False)
    _round_trip(session, make_publisher, data)


def test_every_corpus_file_is_listed_in_sources():
    assert set(_files(CORPUS)) == set(corpus_table())


def _round_trip(session, make_publisher, data: bytes) -> None:
    make_publisher("kota-pariaman", region_code="13.77")
    settings = _settings()
    first = service.import_publiccode(session, ADMIN, data, publisher="kota-pariaman")
    languages = set(publiccode.parse(data).document.get("description", {}))
    _, doc1 = service.export_document(session, settings, ADMIN, first.app.id)
    assert set(doc1["description"]) == languages  # every language kept
    text1 = publiccode.dump(doc1)
    again = service.import_publiccode(session, ADMIN, text1, publisher="kota-pariaman")
    assert again.app.id == first.app.id
    assert not again.created
    _, doc2 = service.export_document(session, settings, ADMIN, first.app.id)
    assert publiccode.dump(doc2) == text1  # a fixed point
    owned = session.exec(select(App).where(App.publisher_id == first.app.publisher_id)).all()
    assert len(owned) == 1


def _settings():
    from registry.settings import load_settings

    return load_settings(base_url="http://testserver")
