"""NUL characters in text: PostgreSQL cannot store them in text or jsonb, so a value
holding one is refused as invalid input (422) before it reaches the database."""

from __future__ import annotations

import re
from collections.abc import Iterator

import orjson

MESSAGE = "may not contain a NUL character"

# A JSON ``\u0000`` escape that is not itself escaped: an even run of backslashes
# (escaped backslashes) before the one that starts the escape.
JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def nul_locations(value: object, loc: list[str | int]) -> Iterator[list[str | int]]:
    """Where in a parsed JSON-like value a string (or a key) holds a NUL."""
    if isinstance(value, str):
        if "\x00" in value:
            yield loc
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from nul_locations(item, [*loc, index])
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                yield [*loc, key]
            else:
                yield from nul_locations(item, [*loc, key])


def has_nul(value: object) -> bool:
    """Whether a string, or any string in a JSON-like value, holds a NUL (checked on
    its JSON encoding, at C speed, for large documents)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | dict):
        try:
            encoded = orjson.dumps(value, default=str)
        except TypeError:
            return any(True for _ in nul_locations(value, []))
        return JSON_NUL.search(encoded) is not None
    return False
