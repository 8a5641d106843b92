"""Text analysis shared by indexing and querying, the same on SQLite and PostgreSQL.

Words are folded (lower case, diacritics removed) and each is indexed as itself and
as its Snowball stem in the languages its text is written in: Indonesian text with
the Indonesian stemmer ("perizinan" → "izin", "kelahiran" → "lahir"), English text
with the English one ("permits" → "permit"), language-neutral fields (names, tags,
keywords) with both. A query word is looked up as itself and as both stems, since
a city officer's query does not say its language.

Analysis happens here in Python for both databases, so both index exactly the same
terms: SQLite's FTS5 and PostgreSQL's ``tsvector`` then only store and rank them.
PostgreSQL's own ``indonesian`` and ``english`` configurations use the same Snowball
algorithms but different stop words and a different word splitter, which would make
the two databases disagree on what matches.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import Stemmer

# Letters and digits; "_" and "-" split words (tags such as "layanan-desa").
_WORD = re.compile(r"[^\W_]+")

# Words too common to tell items apart, in both languages. Kept short on purpose:
# bm25 already weighs common words down; these only keep the index smaller.
STOP_WORDS = frozenset(
    (
        *("a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is"),
        *("it", "of", "on", "or", "the", "to", "with"),
        *("dan", "di", "ke", "dari", "yang", "untuk", "dengan", "atau", "pada", "dalam"),
        *("ini", "itu", "oleh", "per", "serta"),
    )
)

MAX_WORD = 40  # longer "words" are hashes, URLs or base64: nothing anyone types


@lru_cache(maxsize=4)
def _stemmer(language: str) -> Stemmer.Stemmer:
    # Without PyStemmer's own cache: ``stem`` keeps the words already stemmed, as
    # strings, where PyStemmer keeps a list per word, each of which a full collection
    # of the garbage collector walks.
    return Stemmer.Stemmer(language, 0)


LANGUAGES = {"id": "indonesian", "en": "english"}


def fold(text: str) -> str:
    """Lower case without diacritics, so "Kecamatan", "kecamatan" and "kécamatan"
    are one word."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def words(text: str) -> list[str]:
    """The folded words of ``text``, stop words included (snippets need them)."""
    return [w for w in _WORD.findall(fold(text)) if len(w) <= MAX_WORD]


def languages_of(tag: str | None) -> tuple[str, ...]:
    """The stemmers for text tagged with the BCP 47 language ``tag``: its own when we
    have one, else both."""
    if tag is not None:
        base = tag.split("-", 1)[0].lower()
        if base in LANGUAGES:
            return (LANGUAGES[base],)
    return tuple(LANGUAGES.values())


@lru_cache(maxsize=65536)
def stem(word: str, language: str) -> str:
    return str(_stemmer(language).stemWord(word))


def index_terms(text: str, languages: Iterable[str]) -> list[str]:
    """The terms one piece of text is indexed under, in order: each word, followed
    by its stems where they differ from it."""
    return terms_of(words(text), tuple(languages))


def terms_of(found: list[str], languages: tuple[str, ...]) -> list[str]:
    """``index_terms`` for words already split and folded."""
    terms: list[str] = []
    for word in found:
        terms.extend(_word_terms(word, languages))
    return terms


@lru_cache(maxsize=262144)
def _word_terms(word: str, languages: tuple[str, ...]) -> tuple[str, ...]:
    if word in STOP_WORDS:
        return ()
    terms = [word]
    for language in languages:
        stemmed = stem(word, language)
        if stemmed not in terms:
            terms.append(stemmed)
    return tuple(terms)


def query_variants(word: str) -> set[str]:
    """The index terms a query word may match: itself and its stem in each language."""
    return {word, *(stem(word, language) for language in LANGUAGES.values())}
