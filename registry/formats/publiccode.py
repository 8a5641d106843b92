"""publiccode.yml in and out: read any published version (0.1 … 0.7, and ``"0"``),
bring it to the current spec, check it against the official parser's rules, and
write an app back out as a current ``publiccode.yml``.

Nothing here touches the database: :func:`parse` turns bytes into a
:class:`Parsed` (the normalised document, the app's fields and every issue found),
:func:`export` turns an app's fields and its stored document back into YAML.

Every issue carries the key path, the rule and the value found. Its ``level`` is
what the official parser (publiccode-parser-go) would say: ``error`` makes it reject
the file, ``warning`` does not. A lenient import accepts the file whenever a name, a
URL and one description survive, and fixes or drops what it can (each fix is an
issue); a strict import rejects on any error.
"""

from __future__ import annotations

import copy
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import regex
from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import LiteralScalarString

from registry.catalog.fields import LANGUAGE_TAG, check_spdx

Level = Literal["error", "warning"]
LATEST = "0"
# What the official parser accepts; every other value is an error there.
PARSER_VERSIONS = frozenset(
    ["0", "0.2", "0.2.0", "0.2.1", "0.2.2", "0.3", "0.3.0", "0.4", "0.4.0", "0.5", "0.5.0",
     "0.7", "0.7.0"]
)  # fmt: skip
# Published versions the parser no longer accepts, but files in the wild declare.
KNOWN_OLD_VERSIONS = frozenset(["0.1", "0.1.0", "0.6", "0.6.0"])
MAX_BYTES = 1024 * 1024

CATEGORIES = frozenset(
    [
        "accounting",
        "agile-project-management",
        "applicant-tracking",
        "application-development",
        "appointment-scheduling",
        "backup",
        "billing-and-invoicing",
        "blog",
        "budgeting",
        "business-intelligence",
        "business-process-management",
        "cad",
        "call-center-management",
        "cloud-management",
        "collaboration",
        "communications",
        "compliance-management",
        "contact-management",
        "content-management",
        "crm",
        "customer-service-and-support",
        "data-analytics",
        "data-collection",
        "data-visualization",
        "design",
        "design-system",
        "digital-asset-management",
        "digital-citizenship",
        "document-management",
        "donor-management",
        "e-commerce",
        "e-signature",
        "educational-content",
        "email-management",
        "email-marketing",
        "employee-management",
        "enterprise-project-management",
        "enterprise-social-networking",
        "erp",
        "event-management",
        "facility-management",
        "feedback-and-reviews-management",
        "financial-reporting",
        "fleet-management",
        "fundraising",
        "gamification",
        "geographic-information-systems",
        "grant-management",
        "graphic-design",
        "help-desk",
        "hr",
        "ide",
        "identity-management",
        "instant-messaging",
        "integrated-library-system",
        "inventory-management",
        "it-asset-management",
        "it-development",
        "it-management",
        "it-security",
        "it-service-management",
        "knowledge-management",
        "learning-management-system",
        "marketing",
        "mind-mapping",
        "mobile-marketing",
        "mobile-payment",
        "network-management",
        "office",
        "online-booking",
        "online-community",
        "payment-gateway",
        "payroll",
        "predictive-analysis",
        "procurement",
        "productivity-suite",
        "project-collaboration",
        "project-management",
        "property-management",
        "real-estate-management",
        "regulations-and-directives",
        "remote-support",
        "resource-management",
        "sales-management",
        "seo",
        "service-desk",
        "social-media-management",
        "survey",
        "talent-management",
        "task-management",
        "taxes-management",
        "test-management",
        "time-management",
        "time-tracking",
        "translation",
        "video-conferencing",
        "video-editing",
        "visitor-management",
        "voip",
        "warehouse-management",
        "web-collaboration",
        "web-conferencing",
        "website-builder",
        "whistleblowing",
        "workflow-management",
        "other",
    ]
)
SCOPES = frozenset(
    [
        "agriculture",
        "culture",
        "defence",
        "education",
        "emergency-services",
        "employment",
        "energy",
        "environment",
        "finance-and-economic-development",
        "foreign-affairs",
        "government",
        "healthcare",
        "infrastructures",
        "justice",
        "local-authorities",
        "manufacturing",
        "research",
        "science-and-technology",
        "security",
        "society",
        "sport",
        "tourism",
        "transportation",
        "welfare",
    ]
)
SUPPORT_ALIASES = frozenset(["gdpr", "eidas", "nis2", "cra", "spid", "cie", "anpr", "pagopa", "io"])
SOFTWARE_TYPES = frozenset(
    ["standalone/mobile", "standalone/iot", "standalone/desktop", "standalone/web",
     "standalone/backend", "standalone/other", "addon", "library", "configurationFiles"]
)  # fmt: skip
# Values older files use, and what they mean today.
LEGACY_SOFTWARE_TYPES = {
    "standalone": "standalone/other",
    "softwareaddon": "addon",
    "configurationfiles": "configurationFiles",
}
DEVELOPMENT_STATUSES = frozenset(["concept", "development", "beta", "stable", "obsolete"])
MAINTENANCE_TYPES = frozenset(["internal", "contract", "community", "none"])
# 0.1 used ISO 639-2 language keys.
ISO639_2 = {
    "eng": "en", "ita": "it", "nld": "nl", "dut": "nl", "deu": "de", "ger": "de", "fra": "fr",
    "fre": "fr", "spa": "es", "swe": "sv", "ind": "id", "por": "pt", "pol": "pl", "lit": "lt",
}  # fmt: skip
# Licence names seen in the wild instead of SPDX identifiers.
LICENSE_ALIASES = {
    "apache license, version 2.0": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache 2.0": "Apache-2.0",
    "mit license": "MIT",
    "gnu affero general public license v3.0": "AGPL-3.0-only",
    "gnu general public license v3.0": "GPL-3.0-only",
    "european union public licence 1.2": "EUPL-1.2",
}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COUNTRY = re.compile(r"^[A-Za-z]{2}$")
MIME = re.compile(r"^[\w.+-]+/[\w.+-]+(?:\s*;.*)?$")
# The spec's key order, so an exported file reads like the examples.
TOP_ORDER = [
    "publiccodeYmlVersion",
    "name",
    "applicationSuite",
    "url",
    "landingURL",
    "isBasedOn",
    "softwareVersion",
    "releaseDate",
    "logo",
    "monochromeLogo",
    "platforms",
    "categories",
    "usedBy",
    "fundedBy",
    "roadmap",
    "developmentStatus",
    "softwareType",
    "supports",
    "organisation",
    "intendedAudience",
    "description",
    "legal",
    "maintenance",
    "localisation",
    "dependsOn",
    "inputTypes",
    "outputTypes",
    "IT",
]
DESCRIPTION_ORDER = [
    "localisedName",
    "genericName",
    "shortDescription",
    "longDescription",
    "documentation",
    "apiDocumentation",
    "features",
    "screenshots",
    "videos",
    "awards",
]


# --- issues ------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    path: str
    rule: str
    message: str
    level: Level
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "rule": self.rule,
            "level": self.level,
            "message": self.message,
            "value": _shown(self.value),
        }

    def __str__(self) -> str:
        found = "" if self.value is None else f" (found {_shown(self.value)!r})"
        return f"{self.path or '(file)'}: {self.level}: {self.rule}: {self.message}{found}"


def _shown(value: Any) -> Any:
    """A value as a report shows it: short, JSON-friendly."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass
class Parsed:
    """The outcome of reading one file."""

    document: dict[str, Any]  # the normalised, current-spec document
    fields: dict[str, Any]  # the app's catalog fields recovered from it
    issues: list[Issue]
    fatal: list[Issue]  # what stops even a lenient import
    version: str | None = None

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.level == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.level == "warning"]

    def accepted(self, *, strict: bool) -> bool:
        if self.fatal:
            return False
        return not (strict and self.errors)


class _Checker:
    """Walks a document once, building the normalised copy and the issue list."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def error(self, path: str, rule: str, message: str, value: Any = None) -> None:
        self.issues.append(Issue(path, rule, message, "error", value))

    def warn(self, path: str, rule: str, message: str, value: Any = None) -> None:
        self.issues.append(Issue(path, rule, message, "warning", value))

    # Scalars ------------------------------------------------------------------------

    def string(self, path: str, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            self.error(path, "type", "must be a string, not a boolean", value)
            return "true" if value else "false"
        if isinstance(value, int | float | date):
            self.error(path, "type", "must be a string (quote it)", value)
            return value.isoformat() if isinstance(value, date) else str(value)
        if not isinstance(value, str):
            self.error(path, "type", "must be a string", value)
            return None
        return value

    def text(self, path: str, value: Any) -> str | None:
        text = self.string(path, value)
        # A folded or literal block ends with a newline; that is YAML, not a fault.
        if text is not None and text.rstrip("\n") != text.rstrip("\n").strip():
            self.warn(path, "whitespace", "has spaces around it; removed", text)
        return text.strip() or None if text is not None else None

    def required_text(self, path: str, value: Any) -> str | None:
        text = self.text(path, value)
        if text is None:
            self.error(path, "required", "is required")
        return text

    def http_url(self, path: str, value: Any) -> str | None:
        url = self.text(path, value)
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc or " " in url:
            self.error(path, "url", "must be an absolute http:// or https:// URL", url)
            return None
        return url

    def day(self, path: str, value: Any) -> str | None:
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, date):
            return value.isoformat()  # YAML 1.2 readers give the same text back
        text = self.text(path, value)
        if text is None:
            return None
        if not DATE.match(text):
            self.error(path, "date", "must be a date YYYY-MM-DD", text)
            return None
        try:
            date.fromisoformat(text)
        except ValueError:
            self.error(path, "date", "is not a real calendar date (YYYY-MM-DD)", text)
            return None
        return text

    def boolean(self, path: str, value: Any) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("yes", "no", "on", "off", "y", "n"):
            self.error(
                path,
                "yaml-1.1-boolean",
                "a YAML 1.1 boolean; in YAML 1.2 this is a string: write true or false",
                value,
            )
            return value.lower() in ("yes", "on", "y")
        if isinstance(value, str) and value.lower() in ("true", "false"):
            self.error(path, "type", "must be a boolean, not a quoted string", value)
            return value.lower() == "true"
        self.error(path, "type", "must be a boolean", value)
        return None

    def string_list(self, path: str, value: Any) -> list[str] | None:
        if value is None:
            return None
        if isinstance(value, str):
            self.error(path, "type", "must be a list of strings, not one string", value)
            value = [value]
        if not isinstance(value, list):
            self.error(path, "type", "must be a list of strings", value)
            return None
        items = [self.text(f"{path}[{n}]", item) for n, item in enumerate(value)]
        return [item for item in items if item]

    def language(self, path: str, tag: Any) -> str | None:
        if not isinstance(tag, str):
            self.error(path, "language", "must be a BCP 47 language tag", tag)
            return None
        if LANGUAGE_TAG.match(tag):
            if tag.lower() in ISO639_2:
                fixed = ISO639_2[tag.lower()]
                self.warn(path, "legacy-language", f"ISO 639-2 code; BCP 47 is {fixed!r}", tag)
                return fixed
            return tag
        fixed = tag.replace("_", "-")
        if LANGUAGE_TAG.match(fixed):
            self.error(path, "language", f"not a BCP 47 tag; it would be {fixed!r}", tag)
            return fixed
        self.error(path, "language", "not a BCP 47 language tag", tag)
        return None

    def country(self, path: str, value: Any) -> str | None:
        code = self.text(path, value)
        if code is None:
            return None
        if not COUNTRY.match(code):
            self.error(path, "country", "must be an ISO 3166-1 alpha-2 code", code)
            return None
        if code != code.upper():
            self.warn(path, "lowercase-country", "country codes are uppercase", code)
        return code.upper()

    def email(self, path: str, value: Any) -> str | None:
        text = self.text(path, value)
        if text is not None and not EMAIL.match(text):
            self.error(path, "email", "not a valid email address", text)
            return None
        return text

    def graphemes(self, path: str, text: str, *, low: int = 0, high: int) -> int:
        if text.isascii():
            # One grapheme per character, but for CR LF, which is one (and far faster
            # than finding the clusters of a long description).
            count = len(text) - text.count("\r\n")
        else:
            count = len(regex.findall(r"\X", text))
        if count > high:
            self.error(path, "max-length", f"{count} characters, over the limit of {high}", text)
        elif count < low:
            self.error(path, "min-length", f"{count} characters, under the minimum of {low}", text)
        return count

    # Maps ---------------------------------------------------------------------------

    def mapping(self, path: str, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.error(path, "type", "must be a map of keys", value)
            return None
        return value

    def entries(self, path: str, items: list[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(path[n], item)`` for each item of a list that is a map; the others are
        reported."""
        for n, item in enumerate(items):
            where = f"{path}[{n}]"
            entry = self.mapping(where, item)
            if entry is not None:
                yield where, entry

    def keep_unknown(
        self, path: str, source: dict[str, Any], known: Iterable[str], out: dict[str, Any]
    ) -> None:
        """Keys the spec does not define are kept as they are (round trip), and named:
        the official parser refuses them."""
        known_set = set(known)
        for key, value in source.items():
            if key in known_set:
                continue
            where = _join(path, str(key))
            if isinstance(key, str) and key.startswith("x-"):
                self.error(where, "extension-key", "an extension key; kept as it is", None)
            else:
                self.error(where, "unknown-key", "not a key of the spec; kept as it is", None)
            out[str(key)] = _plain(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _plain(value: Any) -> Any:
    """YAML values as JSON can hold them: dates become ISO strings, and ``.nan`` and
    ``.inf``, which JSON has no number for (PostgreSQL's jsonb refuses them), become
    the YAML words they were written as."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    return value


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != [] and value != {}:
        out[key] = value


# --- reading -----------------------------------------------------------------------


class _Constructor(SafeConstructor):
    """Dates stay the text they were written as, as the official parser reads them:
    ``2021-31-01`` is then a bad date to report, not a crash of the loader."""


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)

try:
    from ruamel.yaml.cyaml import CParser  # type: ignore[attr-defined]
except ImportError:  # without the C extension, the pure-Python loader below does it all
    CParser = None


def _load_all(text: str) -> list[Any]:
    """Every document in ``text``, read with YAML 1.2's rules (``yes`` stays a string,
    as the official parser reads it; PyYAML, a YAML 1.1 reader, would say true)."""
    if CParser is not None:
        # libyaml scans and parses (several times faster than pure Python); the
        # YAML 1.2 resolver and the constructor above decide the types.
        loader = _CLoader(text)
        try:
            documents = []
            while loader.check_node():
                documents.append(_construct(loader.get_node(), 0))
            return documents
        finally:
            loader.dispose()
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = _Constructor
    yaml.allow_duplicate_keys = False
    return list(yaml.load_all(text))


if CParser is not None:

    class _CLoader(CParser, _Constructor, VersionedResolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            self._parser = self._composer = self
            _Constructor.__init__(self, loader=self)
            VersionedResolver.__init__(self, version=(1, 2), loader=self)
            # The resolver looks its table up again for every scalar; it never changes.
            self._table = VersionedResolver.versioned_resolver.fget(self)  # type: ignore[attr-defined]

        @property
        def versioned_resolver(self) -> Any:
            return self._table

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            # Most scalars are plain words; only these first characters can start a
            # YAML 1.2 number, boolean, null or merge key, so the rest are strings
            # without trying every implicit pattern on them.
            if kind is ScalarNode and implicit[0] and value and value[0] not in _MAYBE_TYPED:
                return "tag:yaml.org,2002:str"
            return VersionedResolver.resolve(self, kind, value, implicit)


_MAYBE_TYPED = frozenset("0123456789-+.~nNtTfFyYoO<=")
_TAG = "tag:yaml.org,2002:"


def _construct(node: Any, depth: int) -> Any:
    """Python values from composed nodes, by the tag the YAML 1.2 resolver gave each
    scalar. Faster than ruamel's constructor, which decodes every tag's URI again."""
    if depth > 64:
        raise YAMLError("nested too deeply (or a recursive alias)")
    if isinstance(node, MappingNode):
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(key_node, depth + 1)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise YAMLError(f"a key must be a scalar, at line {key_node.start_mark.line + 1}")
            if key in mapping:
                raise YAMLError(
                    f"found duplicate key {key!r} at line {key_node.start_mark.line + 1}"
                )
            mapping[key] = _construct(value_node, depth + 1)
        return mapping
    if isinstance(node, SequenceNode):
        return [_construct(item, depth + 1) for item in node.value]
    tag, value = node.ctag.suffix, node.value
    if tag == _TAG + "str" or not tag.startswith(_TAG):
        return value
    kind = tag[len(_TAG) :]
    if kind == "null":
        return None
    if kind == "bool":
        return value.lower() == "true"
    if kind == "int":
        digits = value.replace("_", "")
        sign = -1 if digits.startswith("-") else 1
        digits = digits.lstrip("+-").lower()
        for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
            if digits.startswith(prefix):
                return sign * int(digits[2:], base)
        return sign * int(digits)
    if kind == "float":
        lowered = value.replace("_", "").lower()
        if lowered.lstrip("+-") in (".inf", ".nan"):
            return float(lowered.replace(".", ""))
        return float(lowered)
    return value  # timestamps stay text, as the official parser reads them


def load(data: bytes | str) -> tuple[Any, list[Issue]]:
    """The YAML document in ``data``, or None with the reason."""
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            return None, [Issue("", "size", f"over {MAX_BYTES} bytes", "error")]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [Issue("", "encoding", f"not UTF-8: {exc.reason}", "error")]
    else:
        text = data
    text = text.removeprefix("\ufeff")
    try:
        documents = _load_all(text)
    except YAMLError as exc:
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [Issue("", "yaml", f"not valid YAML: {problem}{where}", "error")]
    except Exception as exc:  # the loader raises a few non-YAMLError types on odd input
        return None, [Issue("", "yaml", f"not valid YAML: {exc}", "error")]
    documents = [d for d in documents if d is not None]
    if not documents:
        return None, [Issue("", "empty", "the file holds no YAML document", "error")]
    if len(documents) > 1:
        return None, [Issue("", "documents", "must be a single YAML document", "error")]
    if not isinstance(documents[0], dict):
        return None, [Issue("", "type", "the document must be a map of keys", "error")]
    return documents[0], []


def parse(data: bytes | str) -> Parsed:
    """Read, normalise and check a publiccode.yml; never raises on bad input."""
    raw, issues = load(data)
    if raw is None:
        return Parsed({}, {}, issues, list(issues))
    checker = _Checker()
    document, version = _normalise(checker, raw)
    fields, fatal = _fields(checker, document)
    return Parsed(document, fields, checker.issues, fatal, version)


def _normalise(c: _Checker, raw: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    raw = dict(raw)
    out: dict[str, Any] = {}
    version = _version(c, raw)
    out["publiccodeYmlVersion"] = LATEST

    _put(out, "name", c.required_text("name", raw.get("name")))
    _put(out, "applicationSuite", c.text("applicationSuite", raw.get("applicationSuite")))

    url = c.required_text("url", raw.get("url"))
    if url is not None:
        parts = urlsplit(url)
        if not parts.scheme or not parts.netloc:
            c.error("url", "url", "must be an absolute URL of the source repository", url)
        elif parts.scheme.lower() == "http":
            c.warn("url", "insecure-url", "uses http://; use https:// if the host offers it", url)
        out["url"] = url
    _put(out, "landingURL", c.http_url("landingURL", raw.get("landingURL")))
    based = raw.get("isBasedOn")
    if isinstance(based, list):
        _put(out, "isBasedOn", c.string_list("isBasedOn", based))
    else:
        _put(out, "isBasedOn", c.text("isBasedOn", based))
    _put(out, "softwareVersion", c.text("softwareVersion", raw.get("softwareVersion")))
    _put(out, "releaseDate", c.day("releaseDate", raw.get("releaseDate")))
    for key in ("logo", "monochromeLogo"):
        logo = c.text(key, raw.get(key))
        if key == "monochromeLogo" and key in raw:
            c.warn(key, "deprecated", "deprecated since 0.3", logo)
        if logo is None:
            continue
        extension = urlsplit(logo).path.lower().rsplit(".", 1)[-1]
        if extension not in ("svg", "svgz", "png"):
            c.error(key, "logo-format", "must be an .svg, .svgz or .png file", logo)
        out[key] = logo

    platforms = c.string_list("platforms", raw.get("platforms"))
    if not platforms:
        c.error("platforms", "required", "at least one platform is required")
    _put(out, "platforms", platforms)

    _categories(c, raw, out)
    _put(out, "usedBy", c.string_list("usedBy", raw.get("usedBy")))
    _put(out, "fundedBy", _organisations(c, "fundedBy", raw.get("fundedBy")))
    _put(out, "roadmap", c.http_url("roadmap", raw.get("roadmap")))

    status = c.required_text("developmentStatus", raw.get("developmentStatus"))
    if status is not None and status.lower() in DEVELOPMENT_STATUSES:
        if status != status.lower():
            c.error("developmentStatus", "enum", "must be lowercase", status)
        out["developmentStatus"] = status.lower()
    elif status is not None:
        c.error(
            "developmentStatus",
            "enum",
            "must be one of " + ", ".join(sorted(DEVELOPMENT_STATUSES)),
            status,
        )
    _software_type(c, raw, out)
    _supports(c, raw, out)
    organisation = c.mapping("organisation", raw.get("organisation"))
    if organisation is not None:
        organised = _organisation(c, "organisation", organisation)
        _put(out, "organisation", organised)
    _audience(c, raw, out)
    _descriptions(c, raw, out)
    _legal(c, raw, out)
    _maintenance(c, raw, out)
    _localisation(c, raw, out)
    _depends_on(c, raw, out)
    for key in ("inputTypes", "outputTypes"):
        types = c.string_list(key, raw.get(key))
        if key in raw:
            c.warn(key, "deprecated", "deprecated since 0.3", None)
        if types is None:
            continue
        for n, mime in enumerate(types):
            if not MIME.match(mime):
                c.error(f"{key}[{n}]", "mime-type", "not a MIME type", mime)
        out[key] = types
    _country_sections(c, raw, out)
    known = set(TOP_ORDER) | {"it", "publiccode-yaml-version", "tags", "freeTags"}
    c.keep_unknown("", raw, known, out)
    return _ordered(out, TOP_ORDER), version


def _version(c: _Checker, raw: dict[str, Any]) -> str | None:
    value = raw.get("publiccodeYmlVersion")
    key = "publiccodeYmlVersion"
    if value is None and "publiccode-yaml-version" in raw:
        key = "publiccode-yaml-version"
        value = raw["publiccode-yaml-version"]
        c.warn(key, "legacy-key", "0.1 name of publiccodeYmlVersion", None)
        if isinstance(value, str) and "/" in value:
            value = value.rstrip("/").rsplit("/", 1)[-1]
    if value is None:
        c.error("publiccodeYmlVersion", "required", "is required")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        c.error(key, "type", "must be a string: write it in quotes", value)
        value = str(value)
    if not isinstance(value, str):
        c.error(key, "type", "must be a string", value)
        return None
    if value not in PARSER_VERSIONS:
        if value in KNOWN_OLD_VERSIONS:
            c.error(key, "version", f"version {value} is no longer accepted; use '0'", value)
        else:
            c.error(key, "version", "not a published version of the standard", value)
    elif value not in ("0", "0.7", "0.7.0"):
        c.warn(key, "old-version", f"v{value} is not the latest version, use '0'", value)
    return value


def _categories(c: _Checker, raw: dict[str, Any], out: dict[str, Any]) -> None:
    categories = c.string_list("categories", raw.get("categories")) or []
    tags = c.string_list("tags", raw.get("tags"))
    if tags is not None:
        c.warn("tags", "legacy-key", "0.1 key; replaced by categories", None)
    free = c.string_list("freeTags", raw.get("freeTags"))
    if free is not None:
        c.warn("freeTags", "legacy-key", "0.1 key; kept as Lumbung tags", None)
    kept: list[str] = []
    extra: list[str] = []
    for n, category in enumerate(categories):
        if category in CATEGORIES:
            if category not in kept:
                kept.append(category)
        else:
            c.error(f"categories[{n}]", "category", "not in the list of categories", category)
            extra.append(category)
    for tag in tags or []:
        if tag in CATEGORIES and tag not in kept:
            kept.append(tag)
        else:
            extra.append(tag)
    _put(out, "categories", kept)
    # Values outside the vocabulary are not lost: they become Lumbung tags.
    if extra or free:
        out.setdefault("x-lumbung-tags", []).extend([*extra, *(free or [])])


def _software_type(c: _Checker, raw: dict[str, Any], out: dict[str, Any]) -> None:
    value = c.required_text("softwareType", raw.get("softwareType"))
    if value is None:
        return
    if value in SOFTWARE_TYPES:
        out["softwareType"] = value
        return
    legacy = LEGACY_SOFTWARE_TYPES.get(value.lower())
    if legacy is not None:
        c.error("softwareType", "legacy-value", f"an old value, read as {legacy!r}", value)
        out["softwareType"] = legacy
        return
    lower = {t.lower(): t for t in SOFTWARE_TYPES}
    if value.lower() in lower:
        c.error("softwareType", "enum", f"wrong case; read as {lower[value.lower()]!r}", value)
        out["softwareType"] = lower[value.lower()]
        return
    c.error("softwareType", "enum", "must be one of " + ", ".join(sorted(SOFTWARE_TYPES)), value)


def _supports(c: _Checker, raw: dict[str, Any], out: dict[str, Any]) -> None:
    value = raw.get("supports")
    if value is None:
        return
    if not isinstance(value, list):
        c.error("supports", "type", "must be a list of {id: ...}", value)
        return
    supports: list[dict[str, Any]] = []
    for path, entry in c.entries("supports", value):
        ident = c.required_text(f"{path}.id", entry.get("id"))
        if ident is None:
            continue
        if ident.startswith("alias:") and ident[6:] not in SUPPORT_ALIASES:
            c.error(f"{path}.id", "alias", "unknown alias", ident)
            continue
        if not ident.startswith("alias:") and not urlsplit(ident).scheme:
            c.error(f"{path}.id", "uri", "must be alias:<name> or a URI", ident)
            continue
        kept = {"id": ident}
        c.keep_unknown(path, entry, ("id",), kept)
        supports.append(kept)
    _put(out, "supports", supports)


def _add_support(out: dict[str, Any], alias: str) -> None:
    supports = out.setdefault("supports", [])
    if not any(s.get("id") == f"alias:{alias}" for s in supports):
        supports.append({"id": f"alias:{alias}"})


def _organisation(c: _Checker, path: str, value: dict[str, Any]) -> dict[str, Any] | None:
    uri = c.text(f"{path}.uri", value.get("uri"))
    name = c.text(f"{path}.name", value.get("name"))
    if uri is None:
        c.error(f"{path}.uri", "required", "is required")
    elif not urlsplit(uri).scheme:
        c.error(f"{path}.uri", "uri", "must be a URI (a URL or a URN)", uri)
        uri = None
    out: dict[str, Any] = {}
    _put(out, "uri", uri)
    _put(out, "name", name)
    c.keep_unknown(path, value, ("uri", "name"), out)
    return out or None


def _organisations(c: _Checker, path: str, value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        c.error(path, "type", "must be a list of organisations", value)
        return None
    items = []
    for where, entry in c.entries(path, value):
        organisation = _organisation(c, where, entry)
        if organisation:
            items.append(organisation)
    return items


def _audience(c: _Checker, raw: dict[str, Any], out: dict[str, Any]) -> None:
    audience = c.mapping("intendedAudience", raw.get("intendedAudience"))
    if audience is None:
        return
    result: dict[str, Any] = {}
    for key in ("countries", "unsupportedCountries"):
        codes = c.string_list(f"intendedAudience.{key}", audience.get(key))
        if codes is not None:
            checked = [c.country(f"intendedAudience.{key}[{n}]", v) for n, v in enumerate(codes)]
            _put(result, key, [code for code in checked if code])
    scopes = c.string_list("intendedAudience.scope", audience.get("scope"))
    kept = []
    for n, scope in enumerate(scopes or []):
        if scope in SCOPES:
            kept.append(scope)
        else:
            c.error(f"intendedAudience.scope[{n}]", "scope", "not in the scope list", scope)
    _put(result, "scope", kept)
    c.keep_unknown(
        "intendedAudience", audience, ("countries", "unsupportedCountries", "scope"), result
    )
    _put(out, "intendedAudience", result)


def _descriptions(c: _Checker, raw: dict[str, Any], out: dict[str, Any]) -> None:
    descriptions = c.mapping("description", raw.get("description"))
    if not descriptions:
        c.error("description", "required", "at least one language is required")
        return
    result: dict[str, Any] = {}
    for tag, value in descriptions.items():
        path = f"description.{tag}"
        language = c.language(path, tag)
        entry = c.mapping(path, value)
        if language is None or entry is None:
            continue
        result[language] = _description(c, path, entry)
    _put(out, "description", result)


def _description(c: _Checker, path: str, entry: dict[str, Any]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    _put(d, "localisedName", c.text(f"{path}.localisedName", entry.get("localisedName")))
    generic = c.text(f"{path}.genericName", entry.get("genericName"))
    if "genericName" in entry:
        c.warn(f"{path}.genericName", "deprecated", "deprecated since 0.3", generic)
    if generic is not None:
        c.graphemes(f"{path}.genericName", generic, high=35)
        d["genericName"] = generic
    short = c.text(f"{path}.shortDescription", entry.get("shortDescription"))
    long = c.string(f"{path}.longDescription", entry.get("longDescription"))
    long = long.strip() if long else None
    if short is None:
        c.error(f"{path}.shortDescription", "required", "is required")
    elif "\n" in short:
        c.warn(f"{path}.shortDescription", "single-line", "should be one line; joined", short)
        short = " ".join(short.split())
    if long is None:
        c.error(f"{path}.longDescription", "required", "is required")
    else:
        c.graphemes(f"{path}.longDescription", long, low=150, high=10000)
    if short is not None and c.graphemes(f"{path}.shortDescription", short, high=150) > 150:
        # Nothing is lost: the full text becomes the long description if there is none.
        if long is None:
            long = short
        short = _shorten(short, 150)
    _put(d, "shortDescription", short)
    _put(d, "longDescription", long)
    for key in ("documentation", "apiDocumentation"):
        _put(d, key, c.http_url(f"{path}.{key}", entry.get(key)))
    features = c.string_list(f"{path}.features", entry.get("features"))
    if not features:
        c.error(f"{path}.features", "required", "at least one feature is required")
    _put(d, "features", features)
    screenshots = c.string_list(f"{path}.screenshots", entry.get("screenshots"))
    for n, shot in enumerate(screenshots or []):
        if urlsplit(shot).path.lower().rsplit(".", 1)[-1] not in ("png", "jpg", "jpeg"):
            c.error(f"{path}.screenshots[{n}]", "image-format", "must be .png or .jpg", shot)
    _put(d, "screenshots", screenshots)
    videos = c.string_list(f"{path}.videos", entry.get("videos"))
    _put(
        d, "videos", [v for n, v in enumerate(videos or []) if c.http_url(f"{path}.videos[{n}]", v)]
    )
    _put(d, "awards", c.string_list(f"{path}.awards", entry.get("awards")))
    c.keep_unknown(path, entry, DESCRIPTION_ORDER, d)
    return _ordered(d, DESCRIPTION_ORDER)


def _shorten(text: str, limit: int) -> str:
    clusters = regex.findall(r"\X", text)
    cut = "".join(clusters[: limit - 1])
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.") + "…"


def _license(c: _Checker, value: str | None) -> str | None:
    if value is None:
        c.error("legal.license", "required", "is required")
        return None
    try:
        return check_spdx(value)
    except ValueError:
        pass
    candidates = [LICENSE_ALIASES.get(value.lower().strip())]
    if value.endswith("-or-later"):
        candidates.append(value.removesuffix("-or-later") + "+")
    for candidate in candidates:
        if candidate is None:
            continue
        try:
            fixed = check_spdx(candidate)
        except ValueError:
            continue
        c.error("legal.license", "spdx", f"not an SPDX expression; read as {fixed!r}", value)
        return fixed
    c.error("legal.license", "spdx", "not a valid SPDX license expression", value)
    return None


def _legal(c: _Checker, raw: dict[str, Any], out: dict[str, Any]) -> None:
    legal = c.mapping("legal", raw.get("legal"))
    if legal is None:
        c.error("legal", "required", "is required (with legal.license)")
        return
    result: dict[str, Any] = {}
    _put(result, "license", _license(c, c.text("legal.license", legal.get("license"))))
    _put(
        result,
        "mainCopyrightOwner",
        c.text("legal.mainCopyrightOwner", legal.get("mainCopyrightOwner")),
    )
    owner = c.text("legal.repoOwner", legal.get("repoOwner"))
    if "repoOwner" in legal:
        c.warn("legal.repoOwner", "deprecated", "deprecated since 0.5; moved to organisation.name")
    if owner is not None:
        organisation = out.setdefault("organisation", {})
        organisation.setdefault("name", owner)
    authors = c.text("legal.authorsFile", legal.get("authorsFile"))
    if "authorsFile" in legal:
        c.warn("legal.authorsFile", "deprecated", "deprecated since 0.4", authors)
    _put(result, "authorsFile", authors)
    c.keep_unknown(
        "legal", legal, ("license", "mainCopyrightOwner", "repoOwner", "authorsFile"), result
    )
    _put(out, "legal", result)


def _maintenance(c: _Checker, raw: dict[str, Any], out: dict[str, Any]) -> None:
    maintenance = c.mapping("maintenance", raw.get("maintenance"))
    if maintenance is None:
        c.error("maintenance", "required", "is required")
        return
    result: dict[str, Any] = {}
    kind = c.text("maintenance.type", maintenance.get("type"))
    contractors = _people(c, "maintenance.contractors", maintenance.get("contractors"), True)
    contacts = _people(c, "maintenance.contacts", maintenance.get("contacts"), False)
    if kind is None:
        c.error("maintenance.type", "required", "is required")
    elif kind not in MAINTENANCE_TYPES:
        guess = "contract" if contractors else None
        note = f"; read as {guess!r} (it lists contractors)" if guess else ""
        c.error(
            "maintenance.type",
            "enum",
            "must be one of " + ", ".join(sorted(MAINTENANCE_TYPES)) + note,
            kind,
        )
        kind = guess
    if kind is not None:
        result["type"] = kind
        if kind == "contract" and not contractors:
            c.error("maintenance.contractors", "required", "required when type is contract")
        if kind != "contract" and contractors:
            c.error(
                "maintenance.contractors",
                "excluded",
                f"only allowed when type is contract, not {kind}; kept as it is",
            )
        if kind in ("internal", "community") and not contacts:
            c.error("maintenance.contacts", "required", f"required when type is {kind}")
    _put(result, "contractors", contractors)
    _put(result, "contacts", contacts)
    c.keep_unknown("maintenance", maintenance, ("type", "contractors", "contacts"), result)
    _put(out, "maintenance", result)


def _people(c: _Checker, path: str, value: Any, contractor: bool) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        c.error(path, "type", "must be a list", value)
        return []
    known = ("name", "until", "email", "website") if contractor else (
        "name", "email", "phone", "affiliation")  # fmt: skip
    people = []
    for where, entry in c.entries(path, value):
        name = c.required_text(f"{where}.name", entry.get("name"))
        if name is None:
            continue
        person: dict[str, Any] = {"name": name}
        if contractor:
            until = c.day(f"{where}.until", entry.get("until"))
            if until is None and entry.get("until") is None:
                c.error(f"{where}.until", "required", "is required (YYYY-MM-DD)")
            _put(person, "until", until)
        _put(person, "email", c.email(f"{where}.email", entry.get("email")))
        if contractor:
            _put(person, "website", c.http_url(f"{where}.website", entry.get("website")))
        else:
            _put(person, "phone", c.text(f"{where}.phone", entry.get("phone")))
            _put(person, "affiliation", c.text(f"{where}.affiliation", entry.get("affiliation")))
        c.keep_unknown(where, entry, known, person)
        people.append(person)
    return people


def _localisation(c: _Checker, raw: dict[str, Any], out: dict[str, Any]) -> None:
    localisation = c.mapping("localisation", raw.get("localisation"))
    if localisation is None:
        c.error("localisation", "required", "is required")
        return
    result: dict[str, Any] = {}
    ready = c.boolean("localisation.localisationReady", localisation.get("localisationReady"))
    if ready is None:
        c.error("localisation.localisationReady", "required", "is required (true or false)")
    else:
        result["localisationReady"] = ready
    languages = c.string_list(
        "localisation.availableLanguages", localisation.get("availableLanguages")
    )
    checked = [
        c.language(f"localisation.availableLanguages[{n}]", tag)
        for n, tag in enumerate(languages or [])
    ]
    kept = list(dict.fromkeys(tag for tag in checked if tag))
    if not kept:
        c.error("localisation.availableLanguages", "required", "at least one language")
    _put(result, "availableLanguages", kept)
    c.keep_unknown(
        "localisation", localisation, ("localisationReady", "availableLanguages"), result
    )
    _put(out, "localisation", result)


def _depends_on(c: _Checker, raw: dict[str, Any], out: dict[str, Any]) -> None:
    depends = c.mapping("dependsOn", raw.get("dependsOn"))
    if depends is None:
        return
    result: dict[str, Any] = {}
    for kind in ("open", "proprietary", "hardware"):
        items = depends.get(kind)
        if items is None:
            continue
        if not isinstance(items, list):
            c.error(f"dependsOn.{kind}", "type", "must be a list", items)
            continue
        kept = []
        for where, entry in c.entries(f"dependsOn.{kind}", items):
            name = c.required_text(f"{where}.name", entry.get("name"))
            if name is None:
                continue
            dep: dict[str, Any] = {"name": name}
            for key in ("versionMin", "versionMax", "version"):
                _put(dep, key, c.text(f"{where}.{key}", entry.get(key)))
            optional = c.boolean(f"{where}.optional", entry.get("optional"))
            if optional is not None:
                dep["optional"] = optional
            c.keep_unknown(
                where, entry, ("name", "versionMin", "versionMax", "version", "optional"), dep
            )
            kept.append(dep)
        _put(result, kind, kept)
    c.keep_unknown("dependsOn", depends, ("open", "proprietary", "hardware"), result)
    _put(out, "dependsOn", result)


def _country_sections(c: _Checker, raw: dict[str, Any], out: dict[str, Any]) -> None:
    lower, upper = raw.get("it"), raw.get("IT")
    if lower is not None and upper is not None:
        c.error("it", "duplicate", "both it and IT are present; only IT is read")
    path = "IT"
    if upper is None and lower is not None:
        c.warn("it", "lowercase-country", "country sections are uppercase: IT, not it")
        upper, path = lower, "it"
    section = c.mapping(path, upper)
    if section is None:
        return
    c.warn(path, "deprecated", "country sections are deprecated since 0.7")
    result: dict[str, Any] = {}
    version = c.text(f"{path}.countryExtensionVersion", section.get("countryExtensionVersion"))
    if version is not None and version not in ("0.2", "1.0"):
        c.error(f"{path}.countryExtensionVersion", "version", "must be 0.2 or 1.0", version)
    _put(result, "countryExtensionVersion", version)
    conforme = c.mapping(f"{path}.conforme", section.get("conforme"))
    if conforme is not None:
        c.warn(f"{path}.conforme", "deprecated", "deprecated since 0.5; kept as it is")
        result["conforme"] = {
            str(k): c.boolean(f"{path}.conforme.{k}", v) for k, v in conforme.items()
        }
    riuso = c.mapping(f"{path}.riuso", section.get("riuso"))
    if riuso is not None:
        code = c.text(f"{path}.riuso.codiceIPA", riuso.get("codiceIPA"))
        if code is not None:
            c.warn(
                f"{path}.riuso.codiceIPA",
                "deprecated",
                "deprecated since 0.5; moved to organisation.uri",
                code,
            )
            organisation = out.setdefault("organisation", {})
            organisation.setdefault("uri", f"urn:x-italian-pa:{code}")
        rest = {k: _plain(v) for k, v in riuso.items() if k != "codiceIPA"}
        _put(result, "riuso", rest)
    platforms = c.mapping(f"{path}.piattaforme", section.get("piattaforme"))
    if platforms is not None:
        kept = {}
        for key, value in platforms.items():
            flag = c.boolean(f"{path}.piattaforme.{key}", value)
            if flag and key in SUPPORT_ALIASES:
                c.warn(
                    f"{path}.piattaforme.{key}",
                    "deprecated",
                    f"deprecated since 0.7; moved to supports: alias:{key}",
                )
                _add_support(out, str(key))
            elif flag is not None and key not in SUPPORT_ALIASES:
                kept[str(key)] = flag
        _put(result, "piattaforme", kept)
    c.keep_unknown(
        path, section, ("countryExtensionVersion", "conforme", "riuso", "piattaforme"), result
    )
    if result:
        out["IT"] = result
    if "organisation" in out:
        out["organisation"] = _ordered(out["organisation"], ("uri", "name"))


def _ordered(d: dict[str, Any], order: Iterable[str]) -> dict[str, Any]:
    order = list(order)
    result = {key: d[key] for key in order if key in d}
    result.update((key, value) for key, value in d.items() if key not in result)
    return result


# --- to catalog fields -------------------------------------------------------------

SLUG_CLEAN = re.compile(r"[^a-z0-9]+")
TERM = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def term(value: str) -> str | None:
    """A free value as a catalog term (lowercase letters, digits, hyphens)."""
    cleaned = SLUG_CLEAN.sub("-", value.lower()).strip("-")[:64].strip("-")
    return cleaned if TERM.match(cleaned) else None


def slugify(name: str) -> str:
    slug = SLUG_CLEAN.sub("-", name.lower()).strip("-")[:100].strip("-")
    return slug or "app"


def _fields(c: _Checker, doc: dict[str, Any]) -> tuple[dict[str, Any], list[Issue]]:
    """The app's catalog fields (as ``AppCreate`` takes them) and what is fatal."""
    fatal: list[Issue] = []
    f: dict[str, Any] = {}
    name = doc.get("name")
    if not name:
        fatal.append(Issue("name", "required", "the software needs a name", "error"))
    else:
        f["name"] = name[:200]
    url = doc.get("url")
    if not url or urlsplit(url).scheme.lower() not in ("http", "https"):
        fatal.append(
            Issue("url", "required", "an http(s) URL of the source code is needed", "error", url)
        )
    else:
        f["url"] = url
    if doc.get("landingURL"):
        f["landing_url"] = doc["landingURL"]
    logo = doc.get("logo")
    if logo and urlsplit(logo).scheme in ("http", "https"):
        f["logo"] = logo
    descriptions = {}
    for language, entry in (doc.get("description") or {}).items():
        projected = _project_description(entry)
        if projected is not None:
            descriptions[language] = projected
    if not descriptions:
        fatal.append(
            Issue("description", "required", "no language has a short description", "error")
        )
    f["description"] = descriptions
    f["categories"] = list(doc.get("categories") or [])
    if doc.get("softwareType"):
        f["software_type"] = doc["softwareType"]
    if doc.get("developmentStatus"):
        f["development_status"] = doc["developmentStatus"]
    license_ = (doc.get("legal") or {}).get("license")
    if license_:
        f["license"] = license_
    f["platforms"] = _terms(doc.get("platforms") or [])
    maintenance = _project_maintenance(doc.get("maintenance"))
    if maintenance is not None:
        f["maintenance"] = maintenance
    localisation = _project_localisation(doc.get("localisation"))
    if localisation is not None:
        f["localisation"] = localisation
    f["tags"] = _terms(doc.get("x-lumbung-tags") or [])
    return f, fatal


def _terms(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(t for t in (term(v) for v in values) if t))[:50]


def _project_description(entry: dict[str, Any]) -> dict[str, Any] | None:
    short = entry.get("shortDescription")
    long = entry.get("longDescription")
    if not short and long:
        short = _shorten(" ".join(long.split()), 150)
    if not short:
        return None
    projected: dict[str, Any] = {"short_description": short}
    if long:
        projected["long_description"] = long[:20000]
    projected["features"] = [f[:1000] for f in entry.get("features") or []][:50]
    return projected


def _project_maintenance(m: dict[str, Any] | None) -> dict[str, Any] | None:
    if not m or m.get("type") not in MAINTENANCE_TYPES:
        return None
    contacts = []
    for person in m.get("contacts") or []:
        contact = {"name": person["name"][:200]}
        if person.get("email"):
            contact["email"] = person["email"]
        phone = person.get("phone")
        if phone and re.match(r"^\+?[0-9 ()./-]{3,32}$", phone):
            contact["phone"] = phone
        contacts.append(contact)
    return {"type": m["type"], "contacts": contacts[:20]}


def _project_localisation(loc: dict[str, Any] | None) -> dict[str, Any] | None:
    if not loc or "localisationReady" not in loc:
        return None
    return {
        "localisation_ready": loc["localisationReady"],
        "available_languages": list(loc.get("availableLanguages") or [])[:100],
    }


# --- writing -----------------------------------------------------------------------


@dataclass
class AppView:
    """What :func:`export` reads from an app (a row or a mirror, whatever its origin)."""

    name: str
    url: str | None
    landing_url: str | None
    logo: str | None
    description: dict[str, Any]
    categories: list[str]
    software_type: str | None
    development_status: str | None
    license: str | None
    platforms: list[str]
    maintenance: dict[str, Any] | None
    localisation: dict[str, Any] | None
    document: dict[str, Any] | None
    organisation_uri: str
    organisation_name: str
    extra: dict[str, Any] = field(default_factory=dict)


def _agree(
    stored: Any, current: Any, project: Callable[[Any], Any], build: Callable[[], Any]
) -> Any:
    """The stored (richer) value while it still says what the catalog says; else the
    value built from the catalog, which wins after an edit through the API."""
    if stored is not None and project(stored) == current:
        return stored
    return build()


def document_of(view: AppView) -> dict[str, Any]:
    """The app as a current-spec publiccode.yml document."""
    doc: dict[str, Any] = copy.deepcopy(view.document or {})
    doc.pop("x-lumbung-tags", None)
    doc["publiccodeYmlVersion"] = LATEST
    doc["name"] = view.name
    if view.url:
        doc["url"] = view.url
    if view.landing_url:
        doc["landingURL"] = view.landing_url
    else:
        doc.pop("landingURL", None)
    if view.logo:
        doc["logo"] = view.logo
    elif doc.get("logo") and urlsplit(doc["logo"]).scheme in ("http", "https"):
        doc.pop("logo")
    doc["platforms"] = _agree(
        doc.get("platforms"), view.platforms, _terms, lambda: list(view.platforms)
    )
    _set(doc, "categories", list(view.categories))
    _set(doc, "developmentStatus", view.development_status)
    _set(doc, "softwareType", view.software_type)
    if not doc.get("organisation", {}).get("uri"):
        organisation = {"uri": view.organisation_uri, "name": view.organisation_name}
        organisation.update(doc.get("organisation") or {})
        organisation["uri"] = view.organisation_uri
        doc["organisation"] = _ordered(organisation, ("uri", "name"))
    stored_descriptions = doc.get("description") or {}
    descriptions = {}
    for language, projected in view.description.items():
        stored = stored_descriptions.get(language)
        if stored is not None and _project_description(stored) == projected:
            descriptions[language] = stored
        else:
            descriptions[language] = _describe(projected, stored)
    doc["description"] = descriptions
    legal = dict(doc.get("legal") or {})
    if view.license:
        legal["license"] = view.license
    else:
        legal.pop("license", None)
    if legal:
        doc["legal"] = _ordered(legal, ("license", "mainCopyrightOwner", "authorsFile"))
    if view.maintenance is not None:
        doc["maintenance"] = _agree(
            doc.get("maintenance"),
            view.maintenance,
            _project_maintenance,
            lambda: _maintain(view.maintenance or {}, doc.get("maintenance") or {}),
        )
    else:
        doc.pop("maintenance", None)
    if view.localisation is not None:
        loc = view.localisation
        doc["localisation"] = _agree(
            doc.get("localisation"),
            loc,
            _project_localisation,
            lambda: {
                "localisationReady": loc["localisation_ready"],
                "availableLanguages": list(loc.get("available_languages") or []),
            },
        )
    else:
        doc.pop("localisation", None)
    doc.update(view.extra)
    return _ordered(doc, TOP_ORDER)


def _set(doc: dict[str, Any], key: str, value: Any) -> None:
    if value in (None, [], {}):
        doc.pop(key, None)
    else:
        doc[key] = value


def _describe(projected: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    d = dict(stored or {})
    d["shortDescription"] = projected["short_description"]
    _set(d, "longDescription", projected.get("long_description"))
    _set(d, "features", list(projected.get("features") or []))
    return _ordered(d, DESCRIPTION_ORDER)


def _maintain(current: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    m = {k: v for k, v in stored.items() if k not in ("type", "contacts")}
    m["type"] = current["type"]
    by_name = {p["name"]: p for p in stored.get("contacts") or []}
    contacts = []
    for contact in current.get("contacts") or []:
        person = dict(by_name.get(contact["name"], {}))
        person.update({k: v for k, v in contact.items() if v is not None})
        contacts.append(person)
    _set(m, "contacts", contacts)
    if m["type"] != "contract":
        m.pop("contractors", None)
    return _ordered(m, ("type", "contractors", "contacts"))


def _literal(value: Any) -> Any:
    """Multi-line text as YAML literal blocks, so descriptions stay readable."""
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    # Trailing spaces on a line cannot be written as a literal block.
    if (
        isinstance(value, str)
        and "\n" in value.strip()
        and not any(line != line.rstrip() for line in value.splitlines())
    ):
        return LiteralScalarString(value)
    return value


def dump(doc: dict[str, Any]) -> str:
    yaml = YAML(typ="rt", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    stream = io.StringIO()
    yaml.dump(_literal(doc), stream)
    return stream.getvalue()


def check(doc: dict[str, Any]) -> list[Issue]:
    """The official rules applied to a document (an export, say)."""
    return parse(dump(doc)).issues
