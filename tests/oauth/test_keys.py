from __future__ import annotations

import json
import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from joserfc import jwk

from registry.oauth import keys as keys_module
from registry.oauth.keys import KeyStore, KeyStoreError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_open_creates_private_dir_and_es256_key(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    store = KeyStore.open(keys_dir)

    assert mode(keys_dir) == 0o700
    files = [p for p in keys_dir.iterdir() if not p.name.startswith(".")]
    assert {p.name for p in files} == {"manifest.json", f"{store.current_kid}.jwk"}
    assert all(mode(p) == 0o600 for p in keys_dir.iterdir())

    key = store.signing_key
    assert key.is_private
    assert key.curve_name == "P-256"
    assert key.kid == key.thumbprint() == store.current_kid


def test_public_jwks_lists_public_parts_only(tmp_path: Path) -> None:
    store = KeyStore.open(tmp_path / "keys")
    [published] = store.public_jwks()["keys"]
    assert published["kid"] == store.current_kid
    assert published["alg"] == "ES256"
    assert published["use"] == "sig"
    assert "d" not in published
    assert jwk.thumbprint({k: published[k] for k in ("crv", "kty", "x", "y")}) == published["kid"]


def test_open_again_keeps_the_same_key(tmp_path: Path) -> None:
    first = KeyStore.open(tmp_path / "keys")
    second = KeyStore.open(tmp_path / "keys")
    assert first.current_kid == second.current_kid


def test_open_tightens_a_too_open_directory(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir(mode=0o755)
    keys_dir.chmod(0o755)
    KeyStore.open(keys_dir)
    assert mode(keys_dir) == 0o700


def test_concurrent_first_opens_agree_on_one_key(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    kids: list[str] = []

    def open_store() -> None:
        kids.append(KeyStore.open(keys_dir).current_kid)

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(kids)) == 1
    assert len(list(keys_dir.glob("*.jwk"))) == 1


def test_rotation_publishes_old_and_new_key(tmp_path: Path) -> None:
    store = KeyStore.open(tmp_path / "keys")
    old = store.current_kid

    new = store.rotate(keep_old_for_seconds=600)

    assert new != old
    assert store.current_kid == new
    assert store.signing_key.kid == new
    assert {k["kid"] for k in store.public_jwks()["keys"]} == {old, new}
    assert store.find(old) is not None
    assert store.find(new) is not None
    published = {k.kid: k for k in store.published()}
    assert published[new].current
    assert published[new].retire_at is None
    assert published[old].retire_at is not None


def test_found_keys_are_public(tmp_path: Path) -> None:
    store = KeyStore.open(tmp_path / "keys")
    key = store.find(store.current_kid)
    assert key is not None
    assert not key.is_private


def test_rotation_by_another_process_is_seen(tmp_path: Path) -> None:
    server = KeyStore.open(tmp_path / "keys")
    old = server.current_kid
    cli = KeyStore.open(tmp_path / "keys")

    new = cli.rotate(keep_old_for_seconds=600)

    # The running server signs with the new key and publishes both.
    assert server.signing_key.kid == new
    assert {k["kid"] for k in server.public_jwks()["keys"]} == {old, new}
    assert server.find(new) is not None


def test_unknown_kid_is_not_found(tmp_path: Path) -> None:
    store = KeyStore.open(tmp_path / "keys")
    assert store.find("no-such-kid") is None
    assert store.find("../manifest") is None


def test_retired_key_is_unpublished_then_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys_dir = tmp_path / "keys"
    store = KeyStore.open(keys_dir)
    old = store.current_kid
    new = store.rotate(keep_old_for_seconds=300)
    real_now = keys_module._now

    monkeypatch.setattr(keys_module, "_now", lambda: real_now() + timedelta(seconds=301))

    assert store.find(old) is None
    assert [k["kid"] for k in store.public_jwks()["keys"]] == [new]
    assert (keys_dir / f"{old}.jwk").exists()

    KeyStore.open(keys_dir)

    assert not (keys_dir / f"{old}.jwk").exists()
    manifest = json.loads((keys_dir / "manifest.json").read_text())
    assert [k["kid"] for k in manifest["keys"]] == [new]


def test_rotation_with_no_grace_drops_the_old_key_at_once(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    store = KeyStore.open(keys_dir)
    old = store.current_kid
    store.rotate(keep_old_for_seconds=0)
    assert store.find(old) is None
    assert not (keys_dir / f"{old}.jwk").exists()


def test_negative_grace_is_refused(tmp_path: Path) -> None:
    store = KeyStore.open(tmp_path / "keys")
    with pytest.raises(ValueError, match="negative"):
        store.rotate(keep_old_for_seconds=-1)


def test_corrupt_manifest_is_reported(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    KeyStore.open(keys_dir)
    (keys_dir / "manifest.json").write_text("{not json")
    with pytest.raises(KeyStoreError, match="manifest.json"):
        KeyStore.open(keys_dir)


def test_key_file_swapped_for_another_key_is_refused(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    store = KeyStore.open(keys_dir)
    other = jwk.ECKey.generate_key("P-256", private=True)
    (keys_dir / f"{store.current_kid}.jwk").write_text(json.dumps(other.as_dict(private=True)))
    with pytest.raises(KeyStoreError, match="thumbprint"):
        KeyStore.open(keys_dir)
