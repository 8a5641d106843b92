"""From what a person typed to what the index is asked.

A query is a list of groups that must all match. A group is one query word, or a
phrase the glossary knows ("akta kelahiran"); it matches through any of its
alternatives: the words as typed, or a translation ("birth certificate"). An
alternative matches when all its terms do, and a term when any of its variants (the
word and its stems) is in the item, or, for the last word typed, any of the indexed
words that begin with it (search as you type; the most common ``MAX_COMPLETIONS``
of them, see ``spelling.completions``).

The same structure is written as an FTS5 MATCH expression for SQLite and as a
``tsquery`` for PostgreSQL; every term is a run of letters and digits (see
``analysis.words``), so quoting it is enough to keep the syntax of either intact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from registry.search.analysis import STOP_WORDS, query_variants, words

MIN_PREFIX = 3  # shorter prefixes match too much to be worth the time
MAX_WORDS = 12


@dataclass(frozen=True)
class Term:
    variants: frozenset[str]
    prefix: str | None = None  # also match indexed words that begin with this
    # The indexed words that begin with ``prefix``, the most common first, once the
    # vocabulary was asked (``ParsedQuery.completed``): the index is asked for them as
    # words, which it finds by seeking in each word's list of items, where a prefix
    # makes it merge the lists of every word that begins with it first.
    completions: tuple[str, ...] = ()

    @classmethod
    def of(cls, word: str, *, prefix: bool = False) -> Term:
        return cls(
            frozenset(query_variants(word)),
            word if prefix and len(word) >= MIN_PREFIX else None,
        )


Alternative = tuple[Term, ...]


@dataclass(frozen=True)
class Group:
    alternatives: tuple[Alternative, ...]


@dataclass(frozen=True)
class ParsedQuery:
    groups: tuple[Group, ...]
    words: tuple[str, ...]  # the words searched for (after corrections)

    def fts5(self, tier: int | None = None) -> str:
        """As an FTS5 MATCH expression: every match, or (``tier``) only the matches of
        that tier: 2, the query matches in the name; 1, in the name and short
        description but not in the name alone; 0, only with the rest of the text."""
        whole = " AND ".join(_fts5_group(g) for g in self.groups)
        if tier is None:
            return whole
        name, head = f"({{name}} : ({whole}))", f"({{name summary}} : ({whole}))"
        return {2: name, 1: f"{head} NOT {name}", 0: f"({whole}) NOT {head}"}[tier]

    def tsquery(self, tier: int | None = None) -> str:
        """As a PostgreSQL ``tsquery``; ``tier`` as for :meth:`fts5` (the name is
        weight A, the short description B)."""
        whole = " & ".join(_ts_group(g) for g in self.groups)
        if tier is None:
            return whole
        name = " & ".join(_ts_group(g, "A") for g in self.groups)
        head = " & ".join(_ts_group(g, "AB") for g in self.groups)
        return {2: name, 1: f"({head}) & !({name})", 0: f"({whole}) & !({head})"}[tier]

    def completed(self, lookup: Callable[[str], Sequence[str]]) -> ParsedQuery:
        """This query with each prefix's completions, as ``lookup`` gives them."""
        groups = tuple(
            Group(
                tuple(
                    tuple(
                        replace(t, completions=tuple(lookup(t.prefix))) if t.prefix else t
                        for t in alternative
                    )
                    for alternative in group.alternatives
                )
            )
            for group in self.groups
        )
        return replace(self, groups=groups)

    def highlight_terms(self) -> tuple[frozenset[str], tuple[str, ...], frozenset[str]]:
        """Every variant and every prefix in the query, for marking snippets; and the
        variants of the words as typed (not their translations)."""
        variants: set[str] = set()
        prefixes: list[str] = []
        typed: set[str] = set()
        for group in self.groups:
            for n, alternative in enumerate(group.alternatives):
                for term in alternative:
                    variants |= term.variants
                    if n == 0:
                        typed |= term.variants
                    if term.prefix:
                        prefixes.append(term.prefix)
        return frozenset(variants), tuple(prefixes), frozenset(typed)


Expand = Callable[[Sequence[str]], list[tuple[int, int, list[list[str]]]]]


def parse(text: str, expand: Expand | None = None, *, typing: bool = True) -> ParsedQuery | None:
    """Parse ``text``; ``expand`` finds glossary phrases in the words and gives, for
    each, its span and its translations (as word lists). ``typing``: the last word may
    be unfinished, unless the text ends with a space. None when nothing is left to
    search for (only stop words or punctuation)."""
    found = words(text)[:MAX_WORDS]
    kept = [w for w in found if w not in STOP_WORDS] or found
    if not kept:
        return None
    last_open = typing and not text[-1:].isspace() and found[-1:] == kept[-1:]
    spans = {start: (end, alts) for start, end, alts in (expand(kept) if expand else [])}
    groups: list[Group] = []
    i = 0
    while i < len(kept):
        if i in spans:
            end, translations = spans[i]
            own = tuple(
                Term.of(w, prefix=last_open and j == len(kept) - 1)
                for j, w in enumerate(kept[i:end], start=i)
            )
            alternatives = [own]
            for translation in translations:
                alternative = tuple(Term.of(w) for w in translation if w not in STOP_WORDS)
                if alternative and alternative not in alternatives:
                    alternatives.append(alternative)
            groups.append(Group(tuple(alternatives)))
            i = end
        else:
            prefix = last_open and i == len(kept) - 1
            groups.append(Group(((Term.of(kept[i], prefix=prefix),),)))
            i += 1
    return ParsedQuery(tuple(groups), tuple(kept))


# A word as the index is asked for it: an indexed word, or (True) a prefix of them.
Atom = tuple[str, bool]


def _atoms(term: Term) -> tuple[Atom, ...]:
    """The words any of which matches ``term``: its variants, and its completions or,
    when the vocabulary knew none, its prefix."""
    atoms = [(v, False) for v in sorted(term.variants)]
    if term.completions:
        atoms += [(c, False) for c in term.completions if c not in term.variants]
    elif term.prefix:
        atoms.append((term.prefix, True))
    return tuple(atoms)


def _disjuncts(group: Group) -> list[tuple[tuple[Atom, ...], ...]]:
    """The group's alternatives as the index is asked for them, each a list of terms
    (each the atoms any of which matches it), with no more terms than matching the
    same items takes: an alternative holding every term of another adds no match
    (a OR (a AND b) is a), and the alternatives of one term are one term. Each atom is
    a list the index walks: "archive" and its translations were 17 of them, now 7."""
    alternatives = [tuple(_atoms(t) for t in alternative) for alternative in group.alternatives]
    kept = [a for a in alternatives if not any(set(b) < set(a) for b in alternatives)]
    single = dict.fromkeys(atom for a in kept if len(a) == 1 for atom in a[0])
    found: list[tuple[tuple[Atom, ...], ...]] = [(tuple(single),)] if single else []
    for alternative in kept:
        if len(alternative) > 1 and set(alternative) not in [set(f) for f in found]:
            found.append(alternative)
    return found


def _fts5_term(atoms: tuple[Atom, ...]) -> str:
    parts = [f'"{word}"*' if prefix else f'"{word}"' for word, prefix in atoms]
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _fts5_group(group: Group) -> str:
    alternatives = [" AND ".join(_fts5_term(t) for t in alt) for alt in _disjuncts(group)]
    if len(alternatives) == 1:
        return alternatives[0]
    return "(" + " OR ".join(f"({a})" for a in alternatives) + ")"


def _ts_term(atoms: tuple[Atom, ...], weights: str = "") -> str:
    label = f":{weights}" if weights else ""
    parts = [f"'{word}':*{weights}" if prefix else f"'{word}'{label}" for word, prefix in atoms]
    return parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"


def _ts_group(group: Group, weights: str = "") -> str:
    alternatives = [" & ".join(_ts_term(t, weights) for t in alt) for alt in _disjuncts(group)]
    if len(alternatives) == 1:
        return alternatives[0]
    return "(" + " | ".join(f"({a})" for a in alternatives) + ")"
