"""Which addresses this node may send a request to on someone else's say-so.

A URL given by a caller (a publiccode.yml to import, a CKAN portal to harvest, a peer
node's base URL) must not make the node reach into its own network: loopback,
link-local (cloud metadata at 169.254.169.254), private, shared, multicast and
reserved addresses are refused, unless the operator's allow-list
(``LUMBUNG_FETCH_ALLOW``) names the host or a network that holds the address.

A URL carrying a user name or password is refused as well, and no message here ever
repeats a URL with them: errors name the host only.

The check is made again when a connection is opened (:func:`guarded_transport`), on
the addresses the connection then goes to: a name resolved once for the check and
again to connect could answer the second time with an internal address (DNS
rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore2
import httpx2

from registry.errors import ValidationFailed

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeAddress(ValidationFailed):
    code, title = "unsafe-address", "Address not allowed"


def _allowed(host: str, address: Address, allow: Iterable[str]) -> bool:
    for entry in allow:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeAddress(f"cannot resolve {host!r}: {exc}") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def redact(url: str) -> str:
    """The URL without any user name or password, for messages and logs."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def check_url(url: str, allow: Iterable[str] = ()) -> None:
    """Refuse ``url`` unless it is http(s), carries no credentials, and every address
    its host resolves to is public or allowed (see :func:`checked_addresses`)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UnsafeAddress(f"only http:// and https:// URLs can be fetched, not {redact(url)!r}")
    if "@" in parts.netloc:
        raise UnsafeAddress(
            "the URL carries a user name or password; give it without them (they are never sent)"
        )
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise UnsafeAddress(f"{redact(url)!r} has an invalid port") from None
    checked_addresses(host, port, allow)


def checked_addresses(host: str, port: int, allow: Iterable[str]) -> list[Address]:
    """The addresses ``host`` resolves to, once every one of them is public or allowed.
    Resolving every address (not only the first) closes the trick of a name that
    answers with one public and one private address."""
    allow = list(allow)
    addresses = resolve(host, port)
    for address in addresses:
        if not is_public(address) and not _allowed(host, address, allow):
            raise UnsafeAddress(
                f"{host} resolves to {address}, a non-public address; the operator may "
                "allow it with LUMBUNG_FETCH_ALLOW"
            )
    return addresses


class _CheckedConnections(httpcore2.SyncBackend):
    """Opens a connection to the addresses the check approved, each in turn, the name
    resolved once for both."""

    def __init__(self, allow: Iterable[str]) -> None:
        self.allow = list(allow)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        failed: httpcore2.ConnectError | None = None
        for address in checked_addresses(host, port, self.allow):
            try:
                return super().connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore2.ConnectError as exc:
                failed = exc
        assert failed is not None  # a name resolves to one address at least
        raise failed


def guarded_transport(allow: Iterable[str], **options: Any) -> httpx2.HTTPTransport:
    """An HTTP transport (``options`` as ``httpx2.HTTPTransport`` takes them) whose
    connections go only to addresses :func:`check_url` allows. TLS still names and
    verifies the host. Through a proxy (from the environment, which the client
    mounts a transport of its own for) the proxy resolves the name."""
    transport = httpx2.HTTPTransport(**options)
    # httpx2 takes no network backend; the connection pool it builds does.
    transport._pool._network_backend = _CheckedConnections(allow)
    return transport
