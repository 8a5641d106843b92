"""Turning a template and its data into a page: one Jinja2 environment per language,
the reader's language, the stylesheet's address, and the helpers templates use."""

from __future__ import annotations

import hashlib
import re
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.datastructures import Headers
from starlette.requests import cookie_parser

from registry.web import i18n

# The files under ``static/`` a page may load, with their media types.
STATIC_FILES = {
    "style.css": "text/css; charset=utf-8",
    "search.js": "text/javascript; charset=utf-8",
}
# Headers every page carries: the language and the choice cookie pick the body.
VARY = "Accept-Language, Cookie"


@cache
def static_file(name: str) -> tuple[bytes, str]:
    """A static file's bytes and a fingerprint for its URL, so browsers keep it for a
    year and a new release is fetched at once."""
    data = resources.files(__package__).joinpath(f"static/{name}").read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/static/{name}?v={static_file(name)[1]}"


@cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=PackageLoader("registry.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    translations = i18n.translations(language)
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    formats = i18n.Formats(language)
    env.globals.update(
        lang=language,
        languages=i18n.LANGUAGES,
        fmt=formats,
        static_url=static_url,
        pick=lambda texts: i18n.pick(texts, language),
        query_url=query_url,
        highlight=highlight,
        snippet=snippet,
        paragraphs=paragraphs,
    )
    return env


def compile_templates() -> None:
    """Compile every template in every language now (Jinja compiles one the first
    time it is asked for, some tens of ms for the search page)."""
    for language in i18n.LANGUAGES:
        env = environment(language)
        for name in env.list_templates(extensions=["html"]):
            env.get_template(name)


def language_of(request: Request) -> str:
    return language_of_headers(request.headers)


def language_of_headers(headers: Headers) -> str:
    """The reader's language (:func:`i18n.negotiate`) from a request's headers, read
    the way ``Request.cookies`` reads them: the read cache keys pages on it before
    there is a ``Request``, so both must come to the same language."""
    cookie = headers.get("cookie")
    chosen = cookie_parser(cookie).get(i18n.COOKIE) if cookie else None
    return i18n.negotiate(headers.get("accept-language"), chosen)


def render(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    language = language_of(request)
    page = environment(language).get_template(template)
    settings = request.app.state.settings
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = page.render(node_name=settings.node_name, issuer=settings.issuer, here=here, **context)
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={"Vary": VARY, "Content-Language": language, "Cache-Control": "no-cache"},
    )


def query_url(path: str, params: dict[str, Any], **changes: Any) -> str:
    """``path`` with ``params`` changed by ``changes`` (``None`` removes one), for facet
    links that narrow or widen a search. Paging restarts whenever the query changes."""
    merged = {k: v for k, v in params.items() if v not in (None, "")}
    merged.pop("cursor", None)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return f"{path}?{urlencode(merged)}" if merged else path


_WORD = re.compile(r"\w+", re.UNICODE)


def highlight(text: str | None, q: str | None, width: int = 220) -> Markup:
    """An excerpt of ``text`` around the first word of ``q`` it contains, with every
    occurrence of the query's words marked. The text is escaped; only ``<mark>`` is added."""
    if not text:
        return Markup("")
    words = [w for w in _WORD.findall((q or "").lower()) if len(w) > 1]
    start = 0
    if words:
        lowered = text.lower()
        hits = [lowered.find(w) for w in words if w in lowered]
        if hits:
            start = max(0, min(hits) - width // 3)
    excerpt = text[start : start + width]
    prefix = "… " if start > 0 else ""
    suffix = " …" if start + width < len(text) else ""
    if not words:
        return Markup(escape(prefix + excerpt + suffix))
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.I)
    out: list[str] = [str(escape(prefix))]
    last = 0
    for match in pattern.finditer(excerpt):
        out.append(str(escape(excerpt[last : match.start()])))
        out.append(f"<mark>{escape(match.group())}</mark>")
        last = match.end()
    out.append(str(escape(excerpt[last:])))
    out.append(str(escape(suffix)))
    return Markup("".join(out))


_NOT_MARK = re.compile(r"<(?!/?mark>)[^>]*>")


def snippet(html: str) -> Markup:
    """A search snippet from the search service: item text already escaped, matches
    in ``<mark>``. Any other tag is dropped, so the page trusts no more than that."""
    return Markup(_NOT_MARK.sub("", html))


def paragraphs(text: str | None) -> list[str]:
    """Long descriptions are plain text; blank lines separate paragraphs."""
    if not text:
        return []
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
