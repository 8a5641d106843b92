"""CKAN in: reading ``package_search`` pages and mapping packages and resources to
datasets and distributions. Nothing here touches the database or the network.

A record that cannot become a dataset raises :class:`RecordError` naming the record
and the reason; the harvester reports it and goes on with the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, get_args

from pydantic import ValidationError

from registry.catalog import schemas
from registry.catalog.fields import LANGUAGE_TAG, check_http_url, check_spdx

MAX_ROWS = 1000
# CKAN's licence ids (the core list and the common extensions) and their SPDX ids.
LICENSES = {
    "cc-by": "CC-BY-4.0",
    "cc-by-4.0": "CC-BY-4.0",
    "cc-by-sa": "CC-BY-SA-4.0",
    "cc-by-sa-4.0": "CC-BY-SA-4.0",
    "cc-zero": "CC0-1.0",
    "cc0-1.0": "CC0-1.0",
    "cc-nc": "CC-BY-NC-4.0",
    "odc-by": "ODC-By-1.0",
    "odc-odbl": "ODbL-1.0",
    "odc-pddl": "PDDL-1.0",
    "gfdl": "GFDL-1.3-or-later",
    "uk-ogl": "OGL-UK-3.0",
    "ogl-uk-3.0": "OGL-UK-3.0",
}
FREQUENCIES: set[str] = set(get_args(schemas.Frequency))
THEMES: set[str] = set(get_args(schemas.Theme))
FORMAT = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")
SHA256 = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SLUG_CLEAN = re.compile(r"[^a-z0-9]+")


class RecordError(Exception):
    def __init__(self, record: str, message: str) -> None:
        super().__init__(f"{record}: {message}")
        self.record = record
        self.message = message


@dataclass
class Package:
    """A CKAN package as the harvester needs it."""

    ckan_id: str
    name: str
    metadata_modified: str | None
    active: bool  # public and not deleted at the source
    dataset: dict[str, Any] = field(default_factory=dict)  # DatasetCreate fields
    resources: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # resources left out, and why


def label(record: Any) -> str:
    """How a report names a record: its id, else its name, else its position."""
    if isinstance(record, dict):
        return str(record.get("id") or record.get("name") or "(a record without id)")[:200]
    return "(not a JSON object)"


def search_page(payload: Any) -> tuple[int, list[Any]]:
    """``(count, results)`` of a package_search answer; raises ValueError if it is not one."""
    if not isinstance(payload, dict) or payload.get("success") is not True:
        raise ValueError("not a successful CKAN API answer")
    result = payload.get("result")
    if not isinstance(result, dict) or not isinstance(result.get("results"), list):
        raise ValueError("package_search answered without result.results")
    count = result.get("count")
    if not isinstance(count, int) or count < 0:
        raise ValueError("package_search answered without a count")
    return count, result["results"]


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _extras(record: dict[str, Any]) -> dict[str, Any]:
    extras = record.get("extras")
    if isinstance(extras, list):
        return {
            e["key"]: e.get("value")
            for e in extras
            if isinstance(e, dict) and isinstance(e.get("key"), str)
        }
    return {}


def _field(record: dict[str, Any], extras: dict[str, Any], *names: str) -> Any:
    for name in names:
        if record.get(name) not in (None, "", []):
            return record[name]
        if extras.get(name) not in (None, "", []):
            return extras[name]
    return None


def _translated(
    record: dict[str, Any], name: str, language: str, fallback: str | None
) -> dict[str, str]:
    """ckanext-fluent's ``<name>_translated`` maps, else the plain field in ``language``."""
    translated = record.get(f"{name}_translated")
    out: dict[str, str] = {}
    if isinstance(translated, dict):
        for tag, value in translated.items():
            if isinstance(tag, str) and LANGUAGE_TAG.match(tag) and _text(value):
                out[tag] = str(value).strip()
    if not out and fallback:
        out[language] = fallback
    return out


def slug(name: str) -> str:
    cleaned = SLUG_CLEAN.sub("-", name.lower()).strip("-")[:100].strip("-")
    return cleaned or "dataset"


def _url(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return check_http_url(text)
    except ValueError:
        return None


def _license(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    candidate = LICENSES.get(text.lower(), text)
    try:
        return check_spdx(candidate)
    except ValueError:
        return None


def _code(value: Any, allowed: set[str]) -> str | None:
    """An EU vocabulary code from a code or its IRI (``…/frequency/MONTHLY``)."""
    text = _text(value)
    if text is None:
        return None
    code = text.rstrip("/").rsplit("/", 1)[-1].upper()
    return code if code in allowed else None


def _date(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        return None


def package(record: Any, *, language: str, portal: str) -> Package:
    """Map one package_search result; raises RecordError when it cannot be a dataset."""
    name = label(record)
    if not isinstance(record, dict):
        raise RecordError(name, "not a JSON object")
    ckan_id = _text(record.get("id"))
    if ckan_id is None or len(ckan_id) > 100:
        raise RecordError(name, "has no id")
    ckan_name = _text(record.get("name")) or ckan_id
    active = record.get("private") is not True and record.get("state", "active") == "active"
    modified = _text(record.get("metadata_modified"))
    result = Package(ckan_id, ckan_name, modified[:40] if modified else None, active)
    if not active:
        return result
    extras = _extras(record)
    title = _text(record.get("title")) or ckan_name
    titles = _translated(record, "title", language, title[:300])
    descriptions = _translated(record, "notes", language, _text(record.get("notes")))
    tags: list[Any] = record["tags"] if isinstance(record.get("tags"), list) else []
    keywords = []
    for tag in tags:
        word = _text(tag.get("display_name") or tag.get("name")) if isinstance(tag, dict) else None
        if word and len(word) <= 100 and word not in keywords:
            keywords.append(word)
    dataset: dict[str, Any] = {
        "slug": slug(ckan_name),
        "title": {k: v[:300] for k, v in titles.items()},
        "description": {k: v[:20000] for k, v in descriptions.items()},
        "keywords": keywords[:100],
        "access_rights": "PUBLIC",
        "landing_page": _url(f"{portal.rstrip('/')}/dataset/{ckan_name}"),
        "visibility": "public",
    }
    licence = _license(record.get("license_id"))
    if licence:
        dataset["license"] = licence
    frequency = _code(_field(record, extras, "frequency", "accrual_periodicity"), FREQUENCIES)
    if frequency:
        dataset["update_frequency"] = frequency
    themes = _field(record, extras, "theme")
    if isinstance(themes, str):
        themes = [t for t in re.split(r"[\s,\[\]\"]+", themes) if t]
    codes = [_code(t, THEMES) for t in themes] if isinstance(themes, list) else []
    if any(codes):
        dataset["themes"] = list(dict.fromkeys(c for c in codes if c))
    start = _date(_field(record, extras, "temporal_start"))
    end = _date(_field(record, extras, "temporal_end"))
    if start or end:
        dataset["temporal"] = {"start": start, "end": end}
    contact_name = _text(record.get("maintainer")) or _text(record.get("author"))
    contact_email = _text(record.get("maintainer_email")) or _text(record.get("author_email"))
    if contact_name or contact_email:
        contact: dict[str, Any] = {"name": (contact_name or contact_email or "")[:200]}
        if contact_email and EMAIL.match(contact_email):
            contact["email"] = contact_email
        dataset["contact"] = contact
    try:
        checked = schemas.DatasetCreate.model_validate(dataset)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise RecordError(name, f"cannot be a dataset: {reasons}") from None
    result.dataset = checked.model_dump(exclude_unset=True, mode="json")
    resources: list[Any] = record["resources"] if isinstance(record.get("resources"), list) else []
    for n, resource in enumerate(resources):
        mapped = _resource(resource)
        if isinstance(mapped, str):
            result.problems.append(f"resource {n} ({label(resource)}): {mapped}")
        else:
            result.resources.append(mapped)
    return result


def _resource(resource: Any) -> tuple[str, dict[str, Any]] | str:
    """``(resource id, DistributionCreate fields)``, or why the resource is left out."""
    if not isinstance(resource, dict):
        return "not a JSON object"
    resource_id = _text(resource.get("id"))
    if resource_id is None or len(resource_id) > 100:
        return "has no id"
    if resource.get("state", "active") != "active":
        return "deleted at the source"
    url = _url(resource.get("url"))
    if url is None:
        return "has no http(s) URL, which a distribution needs as its access URL"
    fields: dict[str, Any] = {"access_url": url}
    fmt = _text(resource.get("format"))
    if fmt and "/" in fmt and not resource.get("mimetype"):
        resource = {**resource, "mimetype": fmt}
        fmt = fmt.rsplit("/", 1)[-1]
    if fmt and FORMAT.match(fmt):
        fields["format"] = fmt.upper()
        if fmt.upper() not in ("API", "WMS", "WFS", "HTML"):
            fields["download_url"] = url
    name = _text(resource.get("name"))
    if name:
        fields["title"] = name[:300]
    mimetype = _text(resource.get("mimetype"))
    if mimetype and re.match(r"^[\w.+-]+/[\w.+-]+$", mimetype):
        fields["media_type"] = mimetype
    size = resource.get("size")
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        fields["byte_size"] = size
    digest = SHA256.match(_text(resource.get("hash")) or "")
    if digest:
        fields["checksum"] = f"sha256:{digest[1].lower()}"
    try:
        checked = schemas.DistributionCreate.model_validate(fields)
    except ValidationError as exc:
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
    return resource_id, checked.model_dump(exclude_unset=True, mode="json")
