"""``Idempotency-Key`` values belong to the client that sent them: one client's key is
no evidence that another client's request is a retry."""

from __future__ import annotations

from sqlmodel import Session

from registry import idempotency

KEY = "upload-2026-11-29-0001"


def test_a_key_used_by_one_client_is_not_used_for_another(session: Session) -> None:
    print_ = idempotency.fingerprint("PUT", "/api/v1/apps/x/releases/y/artifacts/a.zip", b"")
    assert not idempotency.exists(session, "client-a", KEY)
    claimed = idempotency.claim(
        session, client_id="client-a", key=KEY, method="PUT", path="/p", print_=print_
    )
    assert claimed is None
    assert idempotency.exists(session, "client-a", KEY)
    assert not idempotency.exists(session, "client-b", KEY)
    # And client B may take the same key for a request of its own.
    assert (
        idempotency.claim(
            session, client_id="client-b", key=KEY, method="PUT", path="/p", print_="other"
        )
        is None
    )
    assert idempotency.exists(session, "client-b", KEY)
