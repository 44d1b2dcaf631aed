"""Signed supports (応援): a participant's EIP-712 signature in, the relayer's transaction out.

``POST`` validates and queues (202); the relayer (``tsunagari relay``) submits ``supportBySig`` and
``GET`` shows where it stands: ``accepted`` → ``submitted`` → ``confirmed`` or ``rejected``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from eth_utils.address import is_address, to_checksum_address
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from web3.exceptions import Web3RPCError

from api.deps import ChainDep, EngineDep
from api.errors import ApiError, problems
from ledger.chain.signing import SupportRequest, support_typed_data
from ledger.relay.support_intake import MAX_UINT64, accept_support, next_support_nonce, support_status

router = APIRouter(prefix="/api/v1/supports", tags=["supports"])


class SupportBody(BaseModel):
    """A signed ``Support(supporter, projectId, amount, nonce, deadline)`` (see docs/contracts.md 3.5)."""

    supporter: str = Field(description="the address that signed (0x hex)")
    project_id: int = Field(description="the project to support")
    amount: int = Field(description="coins of the project's region to spend")
    nonce: int = Field(description="the supporter's next ledger nonce (`nonces(supporter)`)")
    deadline: int = Field(description="unix seconds after which the signature is void")
    signature: str = Field(description="65-byte EIP-712 signature, 0x hex")


@router.post(
    "",
    status_code=202,
    summary="Queue a signed support for the relayer",
    responses=problems(404),  # unknown_project
)
def create_support(body: SupportBody, engine: EngineDep, chain: ChainDep) -> dict[str, Any]:
    queued = accept_support(
        engine,
        chain.client,
        supporter=body.supporter,
        project_id=body.project_id,
        amount=body.amount,
        nonce=body.nonce,
        deadline=body.deadline,
        signature=body.signature,
    )
    return {"support_id": queued.id, "status": queued.status}


@router.get("/typed-data", summary="The EIP-712 Support to sign: domain, next nonce, deadline")
def support_typed_data_for(
    supporter: Annotated[str, Query(description="the address that will sign (0x hex)")],
    project_id: Annotated[int, Query(ge=1, le=MAX_UINT64, description="the project to support")],
    amount: Annotated[int, Query(ge=1, le=MAX_UINT64, description="coins to spend")],
    engine: EngineDep,
    chain: ChainDep,
    valid_s: Annotated[int, Query(ge=60, le=86_400, description="how long the signature stays valid")] = 1800,
) -> dict[str, Any]:
    """What a browser signs with ``eth_signTypedData_v4`` (or ethers' ``signTypedData``) and then
    POSTs here: the supporter's next nonce counts the supports already queued for the relayer."""
    if not is_address(supporter):
        raise ApiError(422, "invalid_address", f"{supporter!r} is not an Ethereum address")
    try:
        nonce = next_support_nonce(engine, chain.client, supporter)
    except (OSError, Web3RPCError) as exc:
        raise ApiError(503, "chain_unavailable", f"the chain node did not answer: {exc}") from None
    request = SupportRequest(to_checksum_address(supporter), project_id, amount, nonce, int(time.time()) + valid_s)
    return support_typed_data(request, chain.chain_id, chain.client.address)


@router.get("/{support_id}", summary="Where a support stands: status, transaction, error", responses=problems(404))
def get_support(support_id: Annotated[int, Path(ge=1, lt=2**63)], engine: EngineDep) -> dict[str, Any]:
    found = support_status(engine, support_id)
    if found is None:
        raise ApiError(404, "not_found", f"no support {support_id}")
    error = None if found.error_code is None else {"code": found.error_code, "message": found.error_message}
    return {
        "support_id": found.id,
        "status": found.status,
        "supporter": found.supporter,
        "project_id": found.project_id,
        "amount": found.amount,
        "tx_hash": found.tx_hash,
        "block_number": found.block_number,
        "error": error,
    }
