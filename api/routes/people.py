"""A person's ties and history (only what they put on chain; addresses are pseudonymous)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import Address, ConnDep
from ledger import queries

router = APIRouter(prefix="/api/v1/people", tags=["people"])


@router.get("/{address}/ties", summary="Every region the person is tied to, with the components")
def person_ties(address: Address, conn: ConnDep) -> list[dict[str, Any]]:
    return [asdict(t) for t in queries.person_ties(conn, address)]


@router.get("/{address}/history", summary="What the person did, newest first")
def person_history(
    address: Address, conn: ConnDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    return [asdict(h) for h in queries.person_history(conn, address, limit=limit)]
