"""``lumbung keys …``: the node's signing keys."""

from __future__ import annotations

from typing import Annotated

import typer

from registry.console import (
    JsonFlag,
    commands,
    fail,
    iso_seconds,
    out,
    print_json,
    settings_or_exit,
    to_minute,
)
from registry.console import table as console_table
from registry.oauth.keys import KeyStore, KeyStoreError

keys_app = commands("The node's signing keys.")


# Superseded keys stay published this long by default: well past the access token
# lifetime, so peers that cache the JWKS for a while still find the old key.
DEFAULT_KEEP_OLD_FOR = 3600


@keys_app.command("rotate")
def rotate_keys(
    keep_old_for: Annotated[
        int,
        typer.Option(
            "--keep-old-for",
            help="Seconds the previous key stays published (at least the token lifetime).",
        ),
    ] = DEFAULT_KEEP_OLD_FOR,
) -> None:
    """Make a new signing key. The previous one stays published, so tokens it signed
    keep working until they expire."""
    settings = settings_or_exit()
    if keep_old_for < settings.access_token_lifetime:
        fail(
            f"--keep-old-for must be at least the access token lifetime "
            f"({settings.access_token_lifetime} s), or tokens already issued would fail"
        )
    try:
        store = KeyStore.open(settings.keys_dir)
        previous = store.current_kid
        kid = store.rotate(keep_old_for)
    except (KeyStoreError, OSError) as exc:
        fail(f"cannot rotate the keys in {settings.keys_dir}: {exc}")
    retiring = {k.kid: k.retire_at for k in store.published()}
    out.print(f"New signing key: {kid}", highlight=False)
    until = retiring.get(previous)
    if until is not None:
        out.print(
            f"Previous key {previous} stays published until {iso_seconds(until)}.", highlight=False
        )
    out.print("Running servers pick up the new key on their next request.")


@keys_app.command("list")
def list_keys(as_json: JsonFlag = False) -> None:
    """List the published keys and their RFC 7638 thumbprints (the kid), to confirm
    with a peer's administrator out of band."""
    settings = settings_or_exit()
    try:
        keys = KeyStore.open(settings.keys_dir).published()
    except (KeyStoreError, OSError) as exc:
        fail(f"cannot read the keys in {settings.keys_dir}: {exc}")
    if as_json:
        rows = [
            {
                "kid": k.kid,
                "created_at": iso_seconds(k.created_at),
                "current": k.current,
                "retire_at": iso_seconds(k.retire_at) or None,
            }
            for k in keys
        ]
        print_json(rows)
        return
    table = console_table("kid (RFC 7638 thumbprint)", "created", "status")
    for key in keys:
        status = "signing" if key.current else f"published until {to_minute(key.retire_at)}"
        table.add_row(key.kid, to_minute(key.created_at), status)
    out.print(table)
