"""DCAT-AP 3 out: the catalog and each dataset as Turtle and JSON-LD.

Datasets are turned into a small graph of :class:`Node` objects, and the graph is
written by the two writers here, one dataset at a time: a catalog of any size is
streamed in constant memory, with no RDF library in the request path. Every node a
dataset links to is typed (agents, licences, themes, frequencies, media types as
the EU vocabularies' IRIs), which is what the official DCAT-AP 3.0.0 SHACL shapes
check with ``sh:class``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

PREFIXES = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "spdx": "http://spdx.org/rdf/terms#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "locn": "http://www.w3.org/ns/locn#",
    "hydra": "http://www.w3.org/ns/hydra/core#",
}
EU = "http://publications.europa.eu/resource/authority/"
SPDX_LICENSES = "http://spdx.org/licenses/"
IANA_MEDIA = "https://www.iana.org/assignments/media-types/"
TURTLE = "text/turtle"
JSONLD = "application/ld+json"
# Checksum algorithms DCAT-AP accepts, by the prefix Lumbung stores them with.
CHECKSUM_ALGORITHMS = {
    name: f"http://spdx.org/rdf/terms#checksumAlgorithm_{name}"
    for name in ("sha256", "sha1", "sha512")
}
# Titles of the EU vocabularies' concept schemes, which DCAT-AP requires.
SCHEME_TITLES = {"data-theme": "Data Themes"}


@dataclass(frozen=True)
class IRI:
    value: str


@dataclass(frozen=True)
class Literal:
    value: str
    language: str | None = None
    datatype: str | None = None  # a prefixed name, e.g. "xsd:dateTime"


@dataclass
class Node:
    """A subject with its type(s) and properties; ``id`` None makes it a blank node."""

    id: str | None
    types: list[str]
    properties: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, predicate: str, *values: Any) -> Node:
        for value in values:
            if value is not None:
                self.properties.setdefault(predicate, []).append(value)
        return self


def text(value: str, language: str | None = None) -> Literal:
    return Literal(value, language=language)


def typed(value: Any) -> Literal:
    if isinstance(value, datetime):
        return Literal(value.isoformat(), datatype="xsd:dateTime")
    if isinstance(value, date):
        return Literal(value.isoformat(), datatype="xsd:date")
    if isinstance(value, bool):
        return Literal("true" if value else "false", datatype="xsd:boolean")
    if isinstance(value, int):
        return Literal(str(value), datatype="xsd:nonNegativeInteger")
    return Literal(str(value))


# --- building ----------------------------------------------------------------------


@dataclass(frozen=True)
class PublisherView:
    iri: str
    name: str
    region_code: str | None
    website: str | None
    email: str | None


def agent(publisher: PublisherView, region_base: str) -> Node:
    """A publisher as a ``foaf:Agent`` with its region."""
    node = Node(publisher.iri, ["foaf:Agent"]).add("foaf:name", text(publisher.name))
    node.add("dct:identifier", text(publisher.iri))
    if publisher.region_code:
        node.add("dct:spatial", location(publisher.region_code, region_base))
    if publisher.website:
        node.add("foaf:homepage", Node(publisher.website, ["foaf:Document"]))
    if publisher.email:
        node.add("foaf:mbox", IRI(f"mailto:{publisher.email}"))
    return node


def location(region_code: str, region_base: str) -> Node:
    # Kemendagri region codes have no public linked-data IRIs; the node names them.
    return Node(f"{region_base}/{region_code}", ["dct:Location"]).add(
        "dct:identifier", text(region_code)
    )


def concept(scheme: str, code: str, label: str | None = None) -> Node:
    node = Node(f"{EU}{scheme}/{code}", ["skos:Concept"])
    node.add("skos:prefLabel", text(label or code))
    node.add("skos:inScheme", concept_scheme(scheme))
    return node


def concept_scheme(scheme: str) -> Node:
    return Node(f"{EU}{scheme}", ["skos:ConceptScheme"]).add(
        "dct:title", text(SCHEME_TITLES.get(scheme, scheme), "en")
    )


def resource(url: str) -> Node:
    # DCAT-AP's shapes check access and download URLs with sh:class rdfs:Resource.
    return Node(url, ["rdfs:Resource"])


def license_node(expression: str) -> Node:
    """A licence: the SPDX licence's IRI for a single licence, else a described one."""
    simple = all(ch.isalnum() or ch in ".-+" for ch in expression)
    iri = f"{SPDX_LICENSES}{quote(expression)}" if simple else None
    return Node(iri, ["dct:LicenseDocument"]).add("rdfs:label", text(expression))


def dataset_node(
    dataset: Any,
    distributions: Iterable[Any],
    publisher: Node,
    *,
    iri: str,
    distribution_iri: Any,
    region_base: str,
) -> Node:
    """One dataset with its distributions, as DCAT-AP 3."""
    node = Node(iri, ["dcat:Dataset"])
    node.add("dct:identifier", text(iri))
    for language, title in sorted(dataset.title.items()):
        node.add("dct:title", text(title, language))
    descriptions = dataset.description or dataset.title  # DCAT-AP requires one
    for language, description in sorted(descriptions.items()):
        node.add("dct:description", text(description, language))
    node.add("dct:publisher", publisher)
    node.add("dct:issued", typed(dataset.created_at))
    node.add("dct:modified", typed(dataset.updated_at))
    for keyword in dataset.keywords:
        node.add("dcat:keyword", text(keyword))
    for theme in dataset.themes:
        node.add("dcat:theme", concept("data-theme", theme))
    if dataset.access_rights:
        node.add(
            "dct:accessRights",
            Node(f"{EU}access-right/{dataset.access_rights}", ["dct:RightsStatement"]),
        )
    if dataset.update_frequency:
        node.add(
            "dct:accrualPeriodicity",
            Node(f"{EU}frequency/{dataset.update_frequency}", ["dct:Frequency"]),
        )
    if dataset.landing_page:
        node.add("dcat:landingPage", Node(dataset.landing_page, ["foaf:Document"]))
    contact = dataset.contact
    if contact:
        kind = Node(None, ["vcard:Kind"]).add("vcard:fn", text(contact["name"]))
        if contact.get("email"):
            kind.add("vcard:hasEmail", IRI(f"mailto:{contact['email']}"))
        if contact.get("url"):
            kind.add("vcard:hasURL", IRI(contact["url"]))
        node.add("dcat:contactPoint", kind)
    temporal = dataset.temporal
    if temporal and (temporal.get("start") or temporal.get("end")):
        period = Node(None, ["dct:PeriodOfTime"])
        if temporal.get("start"):
            period.add("dcat:startDate", Literal(temporal["start"], datatype="xsd:date"))
        if temporal.get("end"):
            period.add("dcat:endDate", Literal(temporal["end"], datatype="xsd:date"))
        node.add("dct:temporal", period)
    if dataset.spatial and dataset.spatial.get("region_code"):
        node.add("dct:spatial", location(dataset.spatial["region_code"], region_base))
    licence = license_node(dataset.license) if dataset.license else None
    for distribution in distributions:
        node.add(
            "dcat:distribution",
            distribution_node(distribution, distribution_iri(distribution), licence),
        )
    return node


def distribution_node(distribution: Any, iri: str, licence: Node | None) -> Node:
    node = Node(iri, ["dcat:Distribution"])
    node.add("dcat:accessURL", resource(distribution.access_url))
    if distribution.download_url:
        node.add("dcat:downloadURL", resource(distribution.download_url))
    if distribution.title:
        node.add("dct:title", text(distribution.title))
    if distribution.media_type:
        media = distribution.media_type.split(";")[0].strip().lower()
        node.add("dcat:mediaType", Node(f"{IANA_MEDIA}{media}", ["dct:MediaType"]))
    if distribution.format:
        node.add(
            "dct:format",
            Node(f"{EU}file-type/{distribution.format.upper()}", ["dct:MediaTypeOrExtent"]),
        )
    if distribution.byte_size is not None:
        node.add("dcat:byteSize", typed(int(distribution.byte_size)))
    if distribution.checksum:
        algorithm, _, value = distribution.checksum.partition(":")
        checksum = Node(None, ["spdx:Checksum"])
        checksum.add(
            "spdx:algorithm", Node(CHECKSUM_ALGORITHMS[algorithm], ["spdx:ChecksumAlgorithm"])
        )
        checksum.add("spdx:checksumValue", Literal(value, datatype="xsd:hexBinary"))
        node.add("spdx:checksum", checksum)
    if licence is not None:
        node.add("dct:license", licence)
    node.add("dct:modified", typed(distribution.updated_at))
    return node


def catalog_node(
    iri: str, title: str, publisher: Node, dataset_iris: Iterable[str], *, themes: bool
) -> Node:
    node = Node(iri, ["dcat:Catalog"])
    node.add("dct:title", text(title, "en"))
    node.add(
        "dct:description",
        text(f"Applications and datasets registered on the Lumbung node {title}.", "en"),
    )
    node.add("dct:publisher", publisher)
    node.add("foaf:homepage", Node(iri.rsplit("/", 1)[0] + "/", ["foaf:Document"]))
    if themes:
        node.add("dcat:themeTaxonomy", concept_scheme("data-theme"))
    for dataset_iri in dataset_iris:
        node.add("dcat:dataset", IRI(dataset_iri))
    return node


# --- Turtle ------------------------------------------------------------------------


_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f]')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Characters Turtle does not allow in an IRI reference.
_IRI_FORBIDDEN = re.compile(r'[<>"{}|^`\\\x00-\x20]')


def _escape(value: str) -> str:
    if not _NEEDS_ESCAPE.search(value):
        return value  # most text has nothing to escape
    return _NEEDS_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(), f"\\u{ord(m.group()):04X}"), value)


def _iri(value: str) -> str:
    if _IRI_FORBIDDEN.search(value):
        value = _IRI_FORBIDDEN.sub(lambda m: quote(m.group(), safe=""), value)
    return f"<{value}>"


def turtle_prefixes() -> str:
    return "".join(f"@prefix {p}: <{iri}> .\n" for p, iri in PREFIXES.items()) + "\n"


def _ttl_value(value: Any, indent: str, pending: list[Node]) -> str:
    if isinstance(value, IRI):
        return _iri(value.value)
    if isinstance(value, Literal):
        lexical = f'"{_escape(value.value)}"'
        if value.language:
            return f"{lexical}@{value.language}"
        if value.datatype:
            return f"{lexical}^^{value.datatype}"
        return lexical
    if isinstance(value, Node):
        if value.id is None:
            return "[\n" + _ttl_body(value, indent + "    ", pending) + f"\n{indent}]"
        pending.append(value)
        return _iri(value.id)
    raise TypeError(f"cannot write {value!r} as Turtle")


def _ttl_body(node: Node, indent: str, pending: list[Node]) -> str:
    lines = [f"{indent}a {', '.join(node.types)}"]
    for predicate, values in node.properties.items():
        written = [_ttl_value(v, indent, pending) for v in values]
        lines.append(f"{indent}{predicate} {', '.join(written)}")
    return " ;\n".join(lines)


_OWN_NODES = frozenset(["dcat:Dataset", "dcat:Distribution", "rdfs:Resource", "foaf:Document"])


def _walk(nodes: Iterable[Node], seen: set[str]) -> Iterator[tuple[Node, list[Node]]]:
    """Each node to write with a list to fill with the named nodes it links to. The
    nodes given are always written; a linked node only the first time ``seen`` meets
    it, so a shared node (a publisher, a theme) is described once in a stream."""
    pending = [(node, True) for node in nodes]
    while pending:
        node, given = pending.pop(0)
        if node.id is not None:
            if node.id in seen and not given:
                continue
            # Only nodes that many datasets share are remembered: a set of every
            # dataset's and distribution's IRI would grow with the catalog. One of
            # those met twice is written twice, which repeats the same triples.
            if node.types[0] not in _OWN_NODES:
                seen.add(node.id)
        found: list[Node] = []
        yield node, found
        pending.extend((linked, False) for linked in found)


def turtle(nodes: Iterable[Node], seen: set[str] | None = None) -> str:
    """Turtle statements (no prefixes) for ``nodes`` and the named nodes they link to."""
    out: list[str] = []
    for node, found in _walk(nodes, set() if seen is None else seen):
        body = _ttl_body(node, "    ", found)
        subject = _iri(node.id) if node.id is not None else "[]"
        out.append(f"{subject}\n{body} .\n")
    return "\n".join(out)


# --- JSON-LD -----------------------------------------------------------------------

CONTEXT = {**PREFIXES}


def _json_value(value: Any, pending: list[Node]) -> Any:
    if isinstance(value, IRI):
        return {"@id": value.value}
    if isinstance(value, Literal):
        item: dict[str, Any] = {"@value": value.value}
        if value.language:
            item["@language"] = value.language
        elif value.datatype:
            item["@type"] = value.datatype
        return item
    if isinstance(value, Node):
        if value.id is None:
            return _json_node(value, pending)
        pending.append(value)
        return {"@id": value.id}
    raise TypeError(f"cannot write {value!r} as JSON-LD")


def _json_node(node: Node, pending: list[Node]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if node.id is not None:
        item["@id"] = node.id
    item["@type"] = node.types
    for predicate, values in node.properties.items():
        item[predicate] = [_json_value(v, pending) for v in values]
    return item


def jsonld_objects(nodes: Iterable[Node], seen: set[str] | None = None) -> list[dict[str, Any]]:
    """The ``@graph`` members for ``nodes`` and the named nodes they link to."""
    return [
        _json_node(node, found) for node, found in _walk(nodes, set() if seen is None else seen)
    ]


def jsonld_document(nodes: Iterable[Node]) -> dict[str, Any]:
    return {"@context": CONTEXT, "@graph": jsonld_objects(nodes)}


def stream_jsonld(head: Iterable[Node], pages: Iterator[list[Node]]) -> Iterator[bytes]:
    """A JSON-LD document written piece by piece: ``head`` first, then each page."""
    seen: set[str] = set()
    yield b'{"@context": ' + json.dumps(CONTEXT).encode() + b', "@graph": ['
    first = True
    for batch in itertools.chain([list(head)], pages):
        for obj in jsonld_objects(batch, seen):
            yield (b"" if first else b",\n") + json.dumps(obj, ensure_ascii=False).encode()
            first = False
    yield b"]}\n"


def stream_turtle(head: Iterable[Node], pages: Iterator[list[Node]]) -> Iterator[bytes]:
    seen: set[str] = set()
    yield turtle_prefixes().encode()
    for batch in itertools.chain([list(head)], pages):
        chunk = turtle(batch, seen)
        if chunk:
            yield chunk.encode() + b"\n"
