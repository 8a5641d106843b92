"""The node's signing keys: ES256 (P-256) JSON Web Keys kept in the data directory.

Layout of ``keys_dir`` (mode 0700)::

    manifest.json      which key signs now, and until when each older key stays published
    <kid>.jwk          one private JWK per key (mode 0600); kid = RFC 7638 thumbprint

Several processes (server workers, the ``lumbung`` command) may open the same directory.
Writers take an exclusive ``flock`` on ``.lock`` and replace files atomically, so a reader
never sees half a file. A running process notices a rotation by the manifest changing on
disk: it re-reads it when its identity (inode, mtime, size) differs, and on an unknown kid.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey

ALGORITHM = "ES256"
CURVE = "P-256"
MANIFEST = "manifest.json"
LOCK = ".lock"
KEY_SUFFIX = ".jwk"


class KeyStoreError(Exception):
    """The keys directory holds something the node cannot use."""


@dataclass(frozen=True)
class PublishedKey:
    """A key listed in the node's JWKS."""

    kid: str
    created_at: datetime
    current: bool
    # When a superseded key stops being published; None for the current key.
    retire_at: datetime | None


@dataclass(frozen=True)
class _Entry:
    kid: str
    created_at: datetime
    retire_at: datetime | None


@dataclass(frozen=True)
class _State:
    current: str
    entries: tuple[_Entry, ...]
    private_keys: dict[str, ECKey]
    public_keys: dict[str, ECKey]
    stamp: tuple[int, int, int]


class KeyStore:
    """The signing keys of this node, current and recently superseded."""

    # An unknown kid makes the manifest be read again, but at most this often, so
    # tokens with made-up kids cannot turn every request into disk reads.
    RELOAD_INTERVAL = 1.0

    def __init__(self, keys_dir: Path, state: _State) -> None:
        self.keys_dir = keys_dir
        self._state = state
        self._lock = threading.Lock()
        self._last_forced = 0.0

    @classmethod
    def open(cls, keys_dir: Path) -> KeyStore:
        """Open the keys directory, creating it and a first key when there is none,
        and dropping superseded keys whose tokens have all expired."""
        _make_private_dir(keys_dir)
        with _exclusive(keys_dir):
            state = _read_state(keys_dir)
            if state is None:
                key = _new_key()
                _write_key(keys_dir, key)
                entry = _Entry(kid=_kid(key), created_at=_now(), retire_at=None)
                _write_manifest(keys_dir, entry.kid, [entry])
            else:
                _prune(keys_dir, state)
            state = _read_state(keys_dir)
        if state is None:  # pragma: no cover - we just wrote it under the lock
            raise KeyStoreError(f"{keys_dir / MANIFEST} could not be written")
        return cls(keys_dir, state)

    @property
    def signing_key(self) -> ECKey:
        """The private key new tokens are signed with (the newest one)."""
        state = self._fresh()
        return state.private_keys[state.current]

    @property
    def current_kid(self) -> str:
        return self._fresh().current

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS to publish: the current key and superseded keys not yet retired."""
        state = self._fresh()
        return {"keys": [_public_jwk(state.public_keys[e.kid]) for e in _live(state)]}

    def find(self, kid: str) -> ECKey | None:
        """The public key with this kid, if it is still published.

        A kid this process has not seen may come from a rotation done by another
        process, so the manifest is read again before giving up.
        """
        state = self._fresh()
        if kid not in state.public_keys and time.monotonic() - self._last_forced > (
            self.RELOAD_INTERVAL
        ):
            self._last_forced = time.monotonic()
            state = self._fresh(force=True)
        if any(e.kid == kid for e in _live(state)):
            return state.public_keys[kid]
        return None

    def published(self) -> list[PublishedKey]:
        """The published keys, newest first."""
        state = self._fresh()
        return [
            PublishedKey(e.kid, e.created_at, e.kid == state.current, e.retire_at)
            for e in sorted(_live(state), key=lambda e: e.created_at, reverse=True)
        ]

    def rotate(self, keep_old_for_seconds: int) -> str:
        """Make a new signing key and return its kid.

        The keys it supersedes stay published for ``keep_old_for_seconds`` (at least
        the access token lifetime, so tokens they signed still verify) and are
        deleted by the first ``open`` or ``rotate`` after that.
        """
        if keep_old_for_seconds < 0:
            raise ValueError("keep_old_for_seconds must not be negative")
        with _exclusive(self.keys_dir):
            state = _read_state(self.keys_dir)
            if state is None:
                raise KeyStoreError(f"{self.keys_dir / MANIFEST} is missing")
            now = _now()
            retire_at = now + timedelta(seconds=keep_old_for_seconds)
            key = _new_key()
            _write_key(self.keys_dir, key)
            new = _Entry(kid=_kid(key), created_at=now, retire_at=None)
            entries = [
                # A key already on its way out keeps the earlier of its two deadlines.
                _Entry(e.kid, e.created_at, min(e.retire_at or retire_at, retire_at))
                for e in state.entries
            ]
            _write_manifest(self.keys_dir, new.kid, [new, *entries])
            state = _read_state(self.keys_dir)
            if state is None:  # pragma: no cover - we just wrote it under the lock
                raise KeyStoreError(f"{self.keys_dir / MANIFEST} could not be written")
            _prune(self.keys_dir, state)
            state = _read_state(self.keys_dir)
        assert state is not None
        with self._lock:
            self._state = state
        return new.kid

    def _fresh(self, *, force: bool = False) -> _State:
        """The state on disk, re-read only when the manifest has changed."""
        try:
            stamp = _stamp(self.keys_dir / MANIFEST)
        except FileNotFoundError:
            # The directory was removed under a running node: keep signing with the
            # keys in memory rather than failing every request.
            return self._state
        if stamp == self._state.stamp and not force:
            return self._state
        with self._lock:
            if stamp != self._state.stamp or force:
                state = _read_state(self.keys_dir)
                if state is not None:
                    self._state = state
            return self._state


def _now() -> datetime:
    return datetime.now(UTC)


def _live(state: _State) -> list[_Entry]:
    now = _now()
    return [e for e in state.entries if e.retire_at is None or e.retire_at > now]


def _new_key() -> ECKey:
    return ECKey.generate_key(CURVE, parameters={"alg": ALGORITHM, "use": "sig"}, auto_kid=True)


def _kid(key: ECKey) -> str:
    kid = key.kid
    if kid is None:  # pragma: no cover - generated with auto_kid
        raise KeyStoreError("key without kid")
    return kid


def _public_jwk(key: ECKey) -> dict[str, Any]:
    return dict(key.as_dict(private=False))


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _make_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Private keys live here; nobody but the node's own user may list or read them.
        path.chmod(0o700)


@contextlib.contextmanager
def _exclusive(keys_dir: Path) -> Iterator[None]:
    fd = os.open(keys_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON readable by the owner only, replacing ``path`` atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # in case the file existed with other permissions
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_key(keys_dir: Path, key: ECKey) -> None:
    _write_private(keys_dir / f"{_kid(key)}{KEY_SUFFIX}", dict(key.as_dict(private=True)))


def _write_manifest(keys_dir: Path, current: str, entries: list[_Entry]) -> None:
    _write_private(
        keys_dir / MANIFEST,
        {
            "current": current,
            "keys": [
                {
                    "kid": e.kid,
                    "created_at": e.created_at.isoformat(),
                    "retire_at": e.retire_at.isoformat() if e.retire_at else None,
                }
                for e in entries
            ],
        },
    )


def _read_state(keys_dir: Path) -> _State | None:
    """Read the manifest and every key it names; None when there is no manifest yet."""
    path = keys_dir / MANIFEST
    try:
        stamp = _stamp(path)
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise KeyStoreError(f"{path} cannot be read: {exc}") from exc
    try:
        current = str(raw["current"])
        entries = tuple(
            _Entry(
                kid=str(item["kid"]),
                created_at=datetime.fromisoformat(item["created_at"]),
                retire_at=datetime.fromisoformat(item["retire_at"])
                if item.get("retire_at")
                else None,
            )
            for item in raw["keys"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyStoreError(f"{path} is not a valid key manifest: {exc}") from exc
    if current not in {e.kid for e in entries}:
        raise KeyStoreError(f"{path} names a current key it does not list")
    keys = {e.kid: _read_key(keys_dir, e.kid) for e in entries}
    public = {kid: ECKey.import_key(_public_jwk(key)) for kid, key in keys.items()}
    return _State(
        current=current, entries=entries, private_keys=keys, public_keys=public, stamp=stamp
    )


def _read_key(keys_dir: Path, kid: str) -> ECKey:
    path = keys_dir / f"{kid}{KEY_SUFFIX}"
    try:
        key = ECKey.import_key(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, JoseError) as exc:
        raise KeyStoreError(f"{path} cannot be read as a JWK: {exc}") from exc
    # The file name, the manifest and the key must agree, so a key swapped on disk
    # cannot be published under another key's name.
    if not key.is_private or key.curve_name != CURVE or key.kid != kid or key.thumbprint() != kid:
        raise KeyStoreError(f"{path} is not the {CURVE} private key with thumbprint {kid}")
    return key


def _prune(keys_dir: Path, state: _State) -> None:
    """Drop superseded keys whose retirement time has passed (caller holds the lock)."""
    live = _live(state)
    if len(live) == len(state.entries):
        return
    _write_manifest(keys_dir, state.current, live)
    keep = {e.kid for e in live}
    for entry in state.entries:
        if entry.kid not in keep:
            (keys_dir / f"{entry.kid}{KEY_SUFFIX}").unlink(missing_ok=True)
