"""Field types shared by the catalog's request schemas.

Each type carries its own validation, so a bad value is refused at the edge with a
message that names the field, before any service or database sees it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

if TYPE_CHECKING:
    from license_expression import Licensing

_SPDX_LICENSING: Licensing | None = None


def _spdx() -> Licensing:
    # Loading the SPDX list takes a moment; do it on first use, not at import.
    global _SPDX_LICENSING
    if _SPDX_LICENSING is None:
        from license_expression import get_spdx_licensing

        _SPDX_LICENSING = get_spdx_licensing()
    return _SPDX_LICENSING


def check_spdx(value: str) -> str:
    """An SPDX license expression such as ``EUPL-1.2`` or ``MIT OR Apache-2.0``."""
    licensing = _spdx()
    try:
        info = licensing.validate(value, strict=True)
    except Exception as exc:  # the library raises several unrelated types on bad syntax
        raise ValueError(f"not a valid SPDX license expression: {exc}") from None
    if info.errors:
        raise ValueError("not a valid SPDX license expression: " + "; ".join(info.errors))
    return str(info.normalized_expression)


_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f]")


def check_http_url(value: str) -> str:
    """Only absolute http(s) URLs: a ``javascript:`` or ``data:`` link in a catalog is
    an attack on whoever clicks it."""
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http:// or https:// URL")
    if _SPACE_OR_CONTROL.search(value):
        raise ValueError("must not contain spaces or control characters")
    return value


# What check_http_url enforces, said in the OpenAPI document so clients (and the
# fuzzer) know it: http or https, a host, no whitespace or control characters.
HTTP_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\s\x00-\x1f]+[^\s\x00-\x1f]*$"
HttpUrl = Annotated[
    str,
    StringConstraints(max_length=2048),
    AfterValidator(check_http_url),
    Field(json_schema_extra={"pattern": HTTP_URL_PATTERN}),
]
Spdx = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(check_spdx)]
Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$"),
    Field(description="Lowercase letters, digits and hyphens; unique per publisher."),
]
PublisherCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]
Term = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
# BCP 47 language tags: "id", "en", "jv", "en-GB", "zh-Hant".
LANGUAGE_TAG = re.compile(r"^[a-zA-Z]{2,3}(?:-[a-zA-Z0-9]{1,8})*$")
Language = Annotated[str, StringConstraints(pattern=LANGUAGE_TAG.pattern, max_length=35)]
# Kemendagri region codes: province "35", regency/city "35.10", district, village.
RegionCode = Annotated[
    str, StringConstraints(pattern=r"^\d{2}(?:\.\d{2}(?:\.\d{2}(?:\.\d{4})?)?)?$")
]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
# A size in bytes: stored as a signed 64-bit integer on both databases, so larger
# numbers are refused at the edge instead of overflowing the column.
ByteCount = Annotated[int, Field(ge=0, le=2**63 - 1)]
