"""Languages of the catalog pages: which one a reader gets, the message catalogs,
and dates, numbers and sizes written the way that language writes them.

Labels are written in English in the templates and translated through gettext
catalogs (``locale/<lang>/LC_MESSAGES/messages.po``, extracted with Babel). The ``.po``
files are the source of truth and are compiled in memory when the node starts, so a
fresh checkout, an editable install and a wheel all serve the same translations and
no compiled ``.mo`` can go stale beside its ``.po``.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from registry.web.headers import weighted

# Bahasa Indonesia first: it is the language of the people the registry serves, and
# the fallback when a browser asks for neither.
LANGUAGES: tuple[str, ...] = ("id", "en")
DEFAULT_LANGUAGE = "id"
COOKIE = "lang"
# "in" is Indonesian's withdrawn ISO 639 code, still sent by some older Android browsers.
_ALIASES = {"in": "id"}


def negotiate(accept_language: str | None, cookie: str | None = None) -> str:
    """The reader's language: the one they chose (the cookie), else the best of
    ``Accept-Language`` (region tags such as ``id-ID`` or ``en-US`` count for their
    language), else Indonesian."""
    if cookie in LANGUAGES:
        return cookie
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for position, (tag, q) in enumerate(weighted(accept_language)):
        primary = tag.split("-")[0]
        primary = _ALIASES.get(primary, primary)
        if primary not in LANGUAGES:
            continue
        # Equal weights keep the browser's order (earlier wins).
        q -= position * 1e-6
        if q > best_q:
            best, best_q = primary, q
    return best


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language`` (English is the templates' own text)."""
    if language == "en":
        return gettext.NullTranslations()
    source = resources.files(__package__).joinpath(f"locale/{language}/LC_MESSAGES/messages.po")
    with source.open("rb") as po:
        catalog = read_po(po, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def pick(texts: Mapping[str, Any] | None, language: str) -> tuple[Any, str | None]:
    """An item's text in the reader's language when it has it, else in Indonesian,
    else English, else whatever language it has; with the language actually given
    (for the ``lang`` attribute, so screen readers pronounce it right)."""
    if not texts:
        return None, None
    for candidate in (language, "id", "en", *texts):
        if candidate in texts and texts[candidate]:
            return texts[candidate], candidate
    return None, None


@dataclass(frozen=True)
class Formats:
    """Dates, numbers and sizes in one language."""

    language: str

    @property
    def locale(self) -> Locale:
        return _locale(self.language)

    def date(self, value: date | datetime | str | None, style: str = "medium") -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            try:
                day = date.fromisoformat(value[:10])
            except ValueError:
                return value
        elif isinstance(value, datetime):
            day = value.date()
        else:
            day = value
        return format_date(day, format=style, locale=self.locale)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return format_datetime(value, format="medium", tzinfo=value.tzinfo, locale=self.locale)

    def number(self, value: int | float | None) -> str:
        if value is None:
            return ""
        return format_decimal(value, locale=self.locale)

    def size(self, value: int | None) -> str:
        """Bytes as B, KB, MB or GB (powers of 1000, as file managers now show them),
        with the language's decimal separator."""
        if value is None:
            return ""
        amount = float(value)
        for unit in ("B", "KB", "MB", "GB"):
            if amount < 1000 or unit == "GB":
                pattern = "#,##0" if unit == "B" else "#,##0.#"
                return f"{format_decimal(amount, format=pattern, locale=self.locale)} {unit}"
            amount /= 1000
        raise AssertionError("unreachable")


@cache
def _locale(language: str) -> Locale:
    return Locale.parse({"id": "id_ID", "en": "en_GB"}.get(language, language))
