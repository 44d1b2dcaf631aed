"""Liveness and the indexer's state."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from api.deps import ConnDep, CredentialDep
from ledger import queries
from ledger.municipalities import jis_code

router = APIRouter(tags=["health"])


@router.get("/health", summary="The API answers")
def health() -> dict[str, bool]:
    return {"ok": True}


@router.get("/api/v1/index/status", summary="Indexer checkpoint, lag and backlog")
def index_status(conn: ConnDep) -> dict[str, Any]:
    status = queries.index_status(conn)
    return {**asdict(status), "caught_up": status.caught_up}


@router.get("/api/v1/whoami", summary="The credential the request carries")
def whoami(credential: CredentialDep) -> dict[str, Any]:
    return {
        "key_id": credential.key_id,
        "label": credential.label,
        "role": credential.role,
        "region": credential.region,
        "code": jis_code(credential.region) if credential.region is not None else None,
    }
