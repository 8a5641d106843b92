"""Liveness and readiness probes for process managers and load balancers."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from registry.deps import SessionDep, SettingsDep
from registry.errors import PROBLEM_BASE, Problem, problem_response
from registry.migrate import head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz", response_model=None)
def readyz(session: SessionDep, settings: SettingsDep) -> dict[str, str] | JSONResponse:
    """The database answers and its schema is at the newest migration."""
    try:
        current = MigrationContext.configure(session.connection()).get_current_revision()
    except sa.exc.SQLAlchemyError:
        return _not_ready("the database cannot be reached")
    head = head_revision(settings)
    if current != head:
        return _not_ready(
            f"the database is at migration {current}, not {head}; run `lumbung db upgrade`"
        )
    return {"status": "ready", "migration": current or ""}


def _not_ready(detail: str) -> JSONResponse:
    return problem_response(
        Problem(type=PROBLEM_BASE + "not-ready", title="Not ready", status=503, detail=detail)
    )
